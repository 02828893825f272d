import { setImmediate as nextTurn } from 'node:timers/promises'
import { RevocationUnavailableError, safeCause } from './errors.js'
import type { AnySession } from './session.js'

/**
 * The part of an ioredis client (`fastify.redis` from @fastify/redis) revocation uses. A second
 * connection (`duplicate()`) subscribes; the given one reads and writes.
 */
export interface RedisLike {
  readonly status: string
  zscan (key: string, cursor: string, countToken: 'COUNT', count: number): Promise<[string, string[]]>
  zrangebyscore (key: string, min: number | string, max: number | string, withScores: 'WITHSCORES', limit: 'LIMIT', offset: number, count: number): Promise<string[]>
  eval (script: string, keys: number, ...args: Array<string | number>): Promise<unknown>
  duplicate (): RedisLike
  subscribe (channel: string): Promise<unknown>
  on (event: string, listener: (...args: any[]) => void): unknown
  quit (): Promise<unknown>
  disconnect (): void
  /** `INFO replication`: how many replicas the master has (a revocation waits for one of them). */
  info? (section: 'replication'): Promise<string>
  /** For `WAIT`. */
  call? (command: string, ...args: Array<string | number>): Promise<unknown>
  /** An ioredis `Cluster` has it: there `WAIT` cannot be sent to the set's master, and is not. */
  nodes? (...args: never[]): unknown
}

/**
 * Stores a revocation, drops expired ones (and the session entries a user entry now covers) and
 * publishes it, atomically: a script that fails at its first step (another key of that name, say)
 * publishes nothing, so no instance applies what Redis did not keep. It stores before it publishes.
 */
const STORE = `redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
for i = 6, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`

/** Who a user revocation names: an openid (of one app, or of any), or a member of a company (corpId + userId). */
export type RevokedUser = { openid: string, appId?: string } | { corpId: string, userId: string, appId: string }

/** What a revocation check reads of a session (a session, or what a JWS of the jwt bridge says). */
export type SessionRef = Pick<AnySession, 'jti' | 'loginAt' | 'appId'> & ({ corpId: string, userId: string } | { openid: string, corpId?: undefined })

/**
 * Revocations, held in memory and checked without any I/O: one entry per ended session (`jti`,
 * which every renewal keeps) and one per user ("sessions of this user that logged in until T"),
 * each kept for `maxAge` from when it was made: no token of a login revoked then (its renewals
 * included, which never pass `loginAt + maxAge`) can outlive it.
 */
export interface Revocations {
  /** Whether this genuine session was ended. Synchronous: no network on the authenticated path. */
  isRevoked (session: SessionRef): boolean
  /** Ends one session and its renewals. Rejects `WEAPP_REVOCATION_UNAVAILABLE` where it could not be stored. */
  revokeSession (session: SessionRef): Promise<void>
  /** Ends every session of a user (a key from `userKey`) that logged in until now. */
  revokeUser (user: string): Promise<void>
  /** How many revocations are held. */
  size (): number
  close (): Promise<void>
}

/** Session entries of one user kept apart at most; the next revocation ends all their logins until now instead. */
export const MAX_REVOKED_PER_USER = 8
/** ms: how far ahead of this instance's clock another instance's may be. Entries dated later are refused. */
export const CLOCK_SKEW = 60_000
/** ms: how often a Redis-backed instance asks for what it may have missed (a lost pub/sub message). */
export const RECONCILE_INTERVAL = 5_000
/** Members a page of a load or reconcile reads. */
const PAGE = 1000

/**
 * The key of a user: `[appId, openid]`, `['*', openid]` for an openid in every app, or
 * `[appId, corpId, userId]` for a member of a company. JSON, so no id can alias another.
 */
export function userKey (appId: string | undefined, user: { openid: string } | { corpId: string, userId: string }): string {
  return 'corpId' in user ? JSON.stringify([appId, user.corpId, user.userId]) : JSON.stringify([appId ?? '*', user.openid])
}

function sessionUser (session: SessionRef): string {
  return session.corpId === undefined ? userKey(session.appId, { openid: session.openid }) : userKey(session.appId, session)
}

const isId = (value: unknown): value is string => typeof value === 'string' && value !== ''
const JTI = /^[A-Za-z0-9_-]{22}$/
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** A user key as stored: today's JSON, or (entries of 0.1) `appId\nopenid` / `appId\ncorpId\nuserId`. */
function parseUser (value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  if (value.startsWith('[')) {
    let parts: unknown
    try { parts = JSON.parse(value) } catch { return undefined }
    if (!Array.isArray(parts) || !parts.every(isId)) return undefined
    if (parts.length === 2) return value
    return parts.length === 3 && parts[0] !== '*' ? value : undefined
  }
  const parts = value.split('\n')
  if (!parts.every(isId)) return undefined
  if (parts.length === 2) return userKey(parts[0] === '*' ? undefined : parts[0], { openid: parts[1] as string })
  return parts.length === 3 && parts[0] !== '*' ? userKey(parts[0], { corpId: parts[1] as string, userId: parts[2] as string }) : undefined
}

interface Revoked { expiresAt: number, user: string | undefined, loginAt: number }

/** The in-memory state, shared by both stores. */
class Known {
  readonly sessions = new Map<string, Revoked>() // jti -> entry
  readonly byUser = new Map<string, string[]>() // user -> the jtis of their session entries (a few: arrays cost far less than sets)
  readonly users = new Map<string, { before: number, expiresAt: number }>() // user -> logins until `before` are ended
  readonly #maxAge: number
  readonly #warn: (message: string) => void
  #writes = 0
  #ignored = 0

  constructor (maxAge: number, warn: (message: string) => void) {
    this.#maxAge = maxAge
    this.#warn = warn
  }

  /**
   * Applies a stored or published entry. What the API cannot have made (dated past this clock's
   * skew, kept longer than maxAge, a malformed id) is ignored: whoever can write to Redis could
   * otherwise end every later login of a user. Logged once.
   */
  apply (member: string, expiresAt: number, now: number): void {
    if (!(expiresAt > now)) return
    let entry: unknown
    try {
      entry = JSON.parse(member)
    } catch {}
    const [kind, id, third, fourth] = Array.isArray(entry) ? entry as unknown[] : []
    const inBounds = typeof expiresAt === 'number' && expiresAt <= now + this.#maxAge + CLOCK_SKEW
    if (inBounds && kind === 's' && typeof id === 'string' && JTI.test(id)) {
      const user = third === undefined ? undefined : parseUser(third)
      if (third === undefined || (user !== undefined && isTime(fourth) && fourth <= now + CLOCK_SKEW)) {
        this.#addSession(id, { expiresAt, user, loginAt: (fourth as number | undefined) ?? 0 })
        this.#written(now)
        return
      }
    }
    const user = kind === 'u' ? parseUser(id) : undefined
    if (inBounds && user !== undefined && isTime(third) && third <= now + CLOCK_SKEW) {
      this.#addUser(user, third, expiresAt)
      this.#written(now)
      return
    }
    this.ignore(member)
  }

  /** Logs the first entry ignored (later ones are only counted: a flood of them must not flood the log). */
  ignore (what: string): void {
    if (this.#ignored++ === 0) this.#warn(`fastify-weapp: ignored a revocation entry this plugin cannot have made (${what.slice(0, 120)}); check who writes to the revocation set and channel`)
  }

  #addSession (jti: string, entry: Revoked): void {
    const known = this.sessions.get(jti)
    if (known !== undefined && known.expiresAt >= entry.expiresAt) return
    this.sessions.set(jti, entry)
    if (entry.user === undefined || known !== undefined) return
    const jtis = this.byUser.get(entry.user)
    if (jtis === undefined) this.byUser.set(entry.user, [jti])
    else jtis.push(jti)
  }

  #addUser (user: string, before: number, expiresAt: number): void {
    const known = this.users.get(user)
    this.users.set(user, { before: Math.max(before, known?.before ?? 0), expiresAt: Math.max(expiresAt, known?.expiresAt ?? 0) })
    // Session entries this one covers go: their logins end by loginAt + maxAge <= its expiry.
    for (const jti of [...this.byUser.get(user) ?? []]) {
      if ((this.sessions.get(jti) as Revoked).loginAt <= before) this.#dropSession(jti)
    }
  }

  #dropSession (jti: string): void {
    const entry = this.sessions.get(jti) as Revoked
    this.sessions.delete(jti)
    if (entry.user === undefined) return
    const jtis = this.byUser.get(entry.user) as string[]
    jtis.splice(jtis.indexOf(jti), 1)
    if (jtis.length === 0) this.byUser.delete(entry.user)
  }

  /** Expired entries go once the writes since the last sweep reach half the size: amortized O(1) a write. */
  #written (now: number): void {
    if (++this.#writes < Math.max(256, this.size / 2)) return
    this.#writes = 0
    this.sweep(now)
  }

  get size (): number {
    return this.sessions.size + this.users.size
  }

  sweep (now: number): void {
    for (const [jti, entry] of this.sessions) if (entry.expiresAt <= now) this.#dropSession(jti)
    for (const [user, entry] of this.users) if (entry.expiresAt <= now) this.users.delete(user)
  }

  /** The member strings of a user's session entries (to drop from Redis when a user entry replaces them). */
  sessionsOf (user: string): string[] {
    return (this.byUser.get(user) ?? []).map((jti) => {
      const { loginAt } = this.sessions.get(jti) as Revoked
      return JSON.stringify(['s', jti, user, loginAt])
    })
  }

  isRevoked (session: SessionRef): boolean {
    if (this.sessions.size !== 0 && this.sessions.has(session.jti)) return true
    if (this.users.size === 0) return false
    // The user in this app, and (for openids) in every app: either entry may end the session.
    const inApp = this.users.get(sessionUser(session))
    if (inApp !== undefined && session.loginAt <= inApp.before) return true
    if (session.corpId !== undefined) return false
    const inAny = this.users.get(userKey(undefined, { openid: session.openid }))
    return inAny !== undefined && session.loginAt <= inAny.before
  }
}

/** One revocation as stored: a member of the sorted set (JSON) and when it expires (its score). */
interface Entry { member: string, expiresAt: number, replaces: string[] }

/**
 * The entry that ends a session: its own (with its user and login time), or, past
 * MAX_REVOKED_PER_USER of that user's, one "logins until now" entry that replaces them.
 */
function sessionEntry (known: Known, session: SessionRef, now: number, maxAge: number): Entry {
  const user = sessionUser(session)
  if ((known.byUser.get(user)?.length ?? 0) >= MAX_REVOKED_PER_USER) return userEntry(known, user, Math.max(now, session.loginAt), maxAge)
  return { member: JSON.stringify(['s', session.jti, user, session.loginAt]), expiresAt: now + maxAge, replaces: [] }
}

function userEntry (known: Known, user: string, before: number, maxAge: number): Entry {
  // Every session that logged in until `before` is renewed up to its loginAt + maxAge at most.
  return { member: JSON.stringify(['u', user, before]), expiresAt: before + maxAge, replaces: known.sessionsOf(user) }
}

export interface RevocationOptions {
  /** ms: how long one login lives through renewals (the `maxAge` option); every instance must share it. */
  maxAge: number
  /** Logs what happens to the store (never a secret: revocations hold ids, not keys). */
  log: { warn (obj: unknown, msg?: string): void, info (obj: unknown, msg?: string): void }
  /** The clock (ms). */
  now?: () => number
}

/** The revocations of a store: `keep` makes an entry durable (and known here) or rejects. */
function revocationsOf (known: Known, { maxAge, now = Date.now }: RevocationOptions, keep: (entry: Entry, now: number) => Promise<void>, close: () => Promise<void>): Revocations {
  return {
    isRevoked: (session) => known.isRevoked(session),
    revokeSession: async (session) => {
      const time = now()
      await keep(sessionEntry(known, session, time, maxAge), time)
    },
    revokeUser: async (user) => {
      const time = now()
      await keep(userEntry(known, user, time, maxAge), time)
    },
    size: () => known.size,
    close
  }
}

/** `revocation: 'memory'`: one process (and tests). */
export function memoryRevocations (options: RevocationOptions): Revocations {
  const known = new Known(options.maxAge, (message) => { options.log.warn(message) })
  return revocationsOf(known, options, async ({ member, expiresAt }, time) => { known.apply(member, expiresAt, time) }, async () => {})
}

export interface RedisRevocationOptions extends RevocationOptions {
  redis: RedisLike
  /** Key and channel prefix. */
  prefix: string
  /** ms: how long one Redis call may take before it is a failure. */
  timeout: number
  /** ms: how long loading the whole set at start may take. Default 60 s or 12 timeouts, whichever is longer. */
  loadTimeout?: number
}

class RedisTimeout extends Error {}

function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new RedisTimeout(`${what} took more than ${ms} ms`)) }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => { clearTimeout(timer) })
}

/**
 * `revocation: { redis }`: revocations in one sorted set (member = entry, score = when it expires:
 * when it was made + maxAge), published on a channel as they are made. Every instance loads the
 * set at start (ZSCAN, page by page, yielding between pages), applies what is published, and every
 * RECONCILE_INTERVAL (and whenever its subscriber is ready again) reads the entries made since its
 * last look, so a message lost while the subscription was away (a reconnect, a cluster node that
 * went) is applied all the same. Writes go to Redis first and count only once Redis took them.
 */
export async function redisRevocations (options: RedisRevocationOptions): Promise<Revocations> {
  const { redis, prefix, timeout, maxAge, log, now = Date.now } = options
  const loadTimeout = options.loadTimeout ?? Math.max(60_000, 12 * timeout)
  const key = `${prefix}revoked`
  const channel = `${prefix}revocations`
  const known = new Known(maxAge, (message) => { log.warn(message) })

  /** Every entry of the set, a page at a time; the event loop runs between pages. */
  async function load (): Promise<void> {
    const started = now()
    let cursor = '0'
    let read = 0
    do {
      const [next, members] = await withTimeout(redis.zscan(key, cursor, 'COUNT', PAGE), timeout, 'reading a page of the revocations from Redis')
      const time = now()
      for (let i = 0; i + 1 < members.length; i += 2) known.apply(members[i] as string, Number(members[i + 1]), time)
      read += members.length / 2
      cursor = next
      if (now() - started > loadTimeout) {
        throw new RedisTimeout(`loading the revocations took more than ${loadTimeout} ms (${read} entries read): the set is larger than that time allows, or Redis is slow`)
      }
      await nextTurn()
    } while (cursor !== '0')
  }

  // Entries are scored when they were made + maxAge: what was made since `since` scores from since + maxAge.
  let since = now()
  let reconciling: Promise<void> | undefined
  /** Applies the entries made since the last successful look (less the clock skew), page by page. */
  async function reconcile (): Promise<void> {
    const started = now()
    const min = since + maxAge - CLOCK_SKEW
    for (let offset = 0; ; offset += PAGE) {
      const members = await withTimeout(redis.zrangebyscore(key, min, '+inf', 'WITHSCORES', 'LIMIT', offset, PAGE), timeout, 'reading the latest revocations from Redis')
      const time = now()
      for (let i = 0; i + 1 < members.length; i += 2) known.apply(members[i] as string, Number(members[i + 1]), time)
      if (members.length < 2 * PAGE) break
      await nextTurn()
    }
    since = started
  }
  function catchUp (why: string): void {
    if (reconciling !== undefined || closed) return
    reconciling = reconcile().then(() => {
      if (why !== 'interval') log.info({ revocations: known.size }, `fastify-weapp: revocations caught up after ${why}`)
    }, (err: unknown) => {
      // Retried at the next interval, from the same point: nothing made meanwhile is skipped.
      log.warn({ err: safeCause(err, []) }, `fastify-weapp: could not read the latest revocations (${why}); retrying in ${RECONCILE_INTERVAL} ms, the known ones still apply`)
    }).finally(() => { reconciling = undefined })
  }

  let closed = false
  const subscriber = redis.duplicate()
  // It subscribes to the revocations channel alone: every message is from it.
  subscriber.on('message', (_channel: string, message: string) => {
    let parsed: unknown
    try { parsed = JSON.parse(message) } catch {}
    const [member, expiresAt] = Array.isArray(parsed) ? parsed as unknown[] : []
    if (typeof member === 'string' && typeof expiresAt === 'number') known.apply(member, expiresAt, now())
    else known.ignore(message)
  })
  let started = false
  // ioredis resubscribes after a reconnect ('ready' on a standalone client); a cluster client may
  // move its subscription to another node with no event at all: the interval catches that.
  subscriber.on('ready', () => { if (started) catchUp('Redis reconnected') })
  subscriber.on('error', () => {}) // ioredis reconnects by itself; failures show as write errors
  let subscribed = false
  try {
    await withTimeout(subscriber.subscribe(channel), timeout, 'subscribing to the revocations channel in Redis')
    subscribed = true
    since = now()
    await load()
  } catch (err) {
    subscriber.disconnect()
    const what = subscribed ? `loading the revocations from Redis failed: ${(err as Error).message}` : `Redis is unreachable (${(err as Error).message})`
    throw new Error(`fastify-weapp: revocation: ${what}; registration needs it to load the revocations`, { cause: safeCause(err, []) })
  }
  // A master with replicas (Sentinel, or plain replication): a revocation counts once one of them
  // has it, so that a failover cannot lose what was reported done. Read at start and every
  // interval, and never lowered: a master that lost its replicas is what a failover leaves behind
  // (the old master, still taking writes while the new one serves), and a write there is lost.
  let replicas = 0
  async function countReplicas (): Promise<void> {
    if (typeof redis.nodes === 'function' || typeof redis.info !== 'function' || typeof redis.call !== 'function') return
    const info = await withTimeout(redis.info('replication'), timeout, 'reading INFO replication')
    replicas = Math.max(replicas, Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0))
  }
  await countReplicas().catch(() => {}) // INFO may be disabled (managed Redis): then no replica is waited for
  started = true
  const interval = setInterval(() => {
    catchUp('interval')
    countReplicas().catch(() => {})
  }, RECONCILE_INTERVAL)
  interval.unref()

  async function store ({ member, expiresAt, replaces }: Entry, time: number): Promise<void> {
    if (redis.status !== 'ready') {
      throw new RevocationUnavailableError(`Redis is not connected (${redis.status}): nothing was revoked; retry when it is back`)
    }
    try {
      await withTimeout(redis.eval(STORE, 1, key, expiresAt, member, time, channel, JSON.stringify([member, expiresAt]), ...replaces), timeout, 'storing a revocation in Redis')
    } catch (err) {
      if (err instanceof RedisTimeout) {
        throw new RevocationUnavailableError(`Redis did not confirm the revocation within ${timeout} ms: it may still apply (Redis may run it late); retry, revoking twice is harmless`, { cause: safeCause(err, []) })
      }
      throw new RevocationUnavailableError('Redis refused to store the revocation: nothing was revoked; retry in a moment', { cause: safeCause(err, []) })
    }
    // Stored and published: it applies everywhere from now on, whatever a replica says.
    known.apply(member, expiresAt, time)
    if (replicas === 0) return
    const acked = await withTimeout((redis.call as NonNullable<RedisLike['call']>)('WAIT', 1, timeout), timeout + 1000, 'waiting for a replica').catch(() => 0)
    if (!(Number(acked) >= 1)) {
      throw new RevocationUnavailableError(`No Redis replica confirmed the revocation within ${timeout} ms: it applies now, but a failover before a replica has it would lose it; retry, revoking twice is harmless`)
    }
  }

  return revocationsOf(known, options, store, async () => {
    started = false
    closed = true
    clearInterval(interval)
    subscriber.disconnect()
    await reconciling
  })
}
