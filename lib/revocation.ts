import { RevocationUnavailableError, safeCause } from './errors.js'
import { userOf, type AnySession } from './session.js'

/**
 * The part of an ioredis client (`fastify.redis` from @fastify/redis) revocation uses. A second
 * connection (`duplicate()`) subscribes; the given one reads and writes.
 */
export interface RedisLike {
  readonly status: string
  zrangebyscore (key: string, min: number | string, max: number | string, withScores: 'WITHSCORES'): Promise<string[]>
  eval (script: string, keys: number, ...args: Array<string | number>): Promise<unknown>
  duplicate (): RedisLike
  subscribe (channel: string): Promise<unknown>
  on (event: string, listener: (...args: any[]) => void): unknown
  quit (): Promise<unknown>
  disconnect (): void
}

/**
 * Stores a revocation, drops expired ones and publishes it, atomically: a script that fails at its
 * first step (another key of that name, say) publishes nothing, so no instance applies what Redis
 * did not keep.
 */
const STORE = `redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`

/** Who a user revocation names: a WeChat user (of one app, or of any), or a WeCom member. */
export type RevokedUser = { openid: string, appId?: string } | { corpId: string, userId: string, appId: string }

/**
 * Revocations, held in memory and checked without any I/O: one entry per ended session (`jti`)
 * and one per user ("sessions of this user that logged in until T"), each kept until every
 * session it covers would have expired anyway.
 */
export interface Revocations {
  /** Whether this genuine session was ended. Synchronous: no network on the authenticated path. */
  isRevoked (session: AnySession): boolean
  /** Ends one session (and its renewals). Rejects `WEAPP_REVOCATION_UNAVAILABLE` where it could not be stored. */
  revokeSession (session: AnySession): Promise<void>
  /** Ends every session of a user that logged in until now. */
  revokeUser (user: string, lifetime: number): Promise<void>
  /** How many revocations are held (expired ones go every 256 writes). */
  size (): number
  close (): Promise<void>
}

/**
 * One revocation as stored (a member of the sorted set, JSON: `["s", jti]` or `["u", user, until]`)
 * and when it expires (its score).
 */
interface Entry { member: string, expiresAt: number }

/** The in-memory state, shared by both stores. */
class Known {
  readonly sessions = new Map<string, number>() // jti -> expires at
  readonly users = new Map<string, { before: number, expiresAt: number }>() // user -> logins until `before` are ended
  #writes = 0

  apply (member: string, expiresAt: number, now: number): void {
    if (!(expiresAt > now)) return
    let parsed: unknown
    try {
      parsed = JSON.parse(member)
    } catch {
      return // not one of ours
    }
    if (!Array.isArray(parsed)) return
    const [kind, id, before] = parsed as unknown[]
    if (kind === 's' && typeof id === 'string') {
      this.sessions.set(id, Math.max(expiresAt, this.sessions.get(id) ?? 0))
    } else if (kind === 'u' && typeof id === 'string' && typeof before === 'number') {
      const known = this.users.get(id)
      this.users.set(id, { before: Math.max(before, known?.before ?? 0), expiresAt: Math.max(expiresAt, known?.expiresAt ?? 0) })
    }
    // Expired entries go every so often: the state is bounded by recent revocations.
    if (++this.#writes % 256 === 0) this.sweep(now)
  }

  get size (): number {
    return this.sessions.size + this.users.size
  }

  sweep (now: number): void {
    for (const [jti, expiresAt] of this.sessions) if (expiresAt <= now) this.sessions.delete(jti)
    for (const [user, entry] of this.users) if (entry.expiresAt <= now) this.users.delete(user)
  }

  isRevoked (session: AnySession): boolean {
    if (this.sessions.size !== 0 && this.sessions.has(session.jti)) return true
    if (this.users.size === 0) return false
    const user = userOf(session)
    // The user in this app, and (for openids) in every app: either entry may end the session.
    const inApp = this.users.get(userKey(session.appId, user))
    const inAny = this.users.get(userKey(undefined, user))
    return (inApp !== undefined && session.loginAt <= inApp.before) || (inAny !== undefined && session.loginAt <= inAny.before)
  }
}

/** The user-key of a revocation: per app, or `*` for an openid in every app. */
export function userKey (appId: string | undefined, user: string): string {
  return `${appId ?? '*'}\n${user}`
}

function sessionEntry (session: AnySession): Entry {
  return { member: JSON.stringify(['s', session.jti]), expiresAt: session.expiresAt }
}

function userEntry (user: string, lifetime: number, now: number): Entry {
  // Every session that logged in until now expires within a lifetime from now (renewals included:
  // a renewal is sealed before now, for at most a lifetime).
  return { member: JSON.stringify(['u', user, now]), expiresAt: now + lifetime * 1000 }
}

/** The revocations of a store: `keep` makes one durable (and known here) or rejects. */
function revocationsOf (known: Known, keep: (entry: Entry) => Promise<void>, close: () => Promise<void>, now: () => number): Revocations {
  return {
    isRevoked: (session) => known.isRevoked(session),
    revokeSession: async (session) => { await keep(sessionEntry(session)) },
    revokeUser: async (user, lifetime) => { await keep(userEntry(user, lifetime, now())) },
    size: () => known.size,
    close
  }
}

/** `revocation: 'memory'`: one process (and tests). */
export function memoryRevocations (now: () => number = Date.now): Revocations {
  const known = new Known()
  return revocationsOf(known, async ({ member, expiresAt }) => { known.apply(member, expiresAt, now()) }, async () => {}, now)
}

export interface RedisRevocationOptions {
  redis: RedisLike
  /** Key and channel prefix. */
  prefix: string
  /** ms: how long a Redis call may take before it is a failure. */
  timeout: number
  /** Logs what happens to the connection (never a secret: revocations hold ids, not keys). */
  log: { warn (obj: unknown, msg: string): void, info (obj: unknown, msg: string): void }
}

function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what} took more than ${ms} ms`)) }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => { clearTimeout(timer) })
}

/**
 * `revocation: { redis }`: revocations in one sorted set (member = entry, score = when it expires),
 * published on a channel as they are made. Every instance loads the set at start, applies what is
 * published, and loads it again whenever its subscription reconnects (pub/sub drops what is
 * published while it is away). Writes go to Redis first and count only once Redis took them.
 */
export async function redisRevocations ({ redis, prefix, timeout, log }: RedisRevocationOptions, now: () => number = Date.now): Promise<Revocations> {
  const key = `${prefix}revoked`
  const channel = `${prefix}revocations`
  const known = new Known()

  async function load (): Promise<void> {
    const time = now()
    const members = await withTimeout(redis.zrangebyscore(key, time, '+inf', 'WITHSCORES'), timeout, 'loading the revocations from Redis')
    for (let i = 0; i + 1 < members.length; i += 2) known.apply(members[i] as string, Number(members[i + 1]), time)
  }

  const subscriber = redis.duplicate()
  // It subscribes to the revocations channel alone: every message is from it.
  subscriber.on('message', (_channel: string, message: string) => {
    try {
      const [member, expiresAt] = JSON.parse(message) as [unknown, unknown]
      if (typeof member === 'string' && typeof expiresAt === 'number') known.apply(member, expiresAt, now())
    } catch {} // not one of ours
  })
  let started = false
  subscriber.on('ready', () => {
    if (!started) return
    // ioredis resubscribes after a reconnect; what was published meanwhile is only in the set.
    load().then(() => { log.info({ revocations: known.sessions.size + known.users.size }, 'fastify-weapp: revocations reloaded after Redis reconnected') },
      (err: unknown) => { log.warn({ err: safeCause(err, []) }, 'fastify-weapp: could not reload the revocations after Redis reconnected; the known ones still apply') })
  })
  subscriber.on('error', () => {}) // ioredis reconnects by itself; failures show as write errors
  try {
    await withTimeout(subscriber.subscribe(channel), timeout, 'subscribing to the revocations channel in Redis')
    await load()
  } catch (err) {
    subscriber.disconnect()
    throw new Error(`fastify-weapp: revocation: Redis is unreachable (${(err as Error).message}); registration needs it to load the revocations`, { cause: safeCause(err, []) })
  }
  started = true

  async function store ({ member, expiresAt }: Entry): Promise<void> {
    const time = now()
    if (redis.status !== 'ready') {
      throw new RevocationUnavailableError(`Redis is not connected (${redis.status}): nothing was revoked; retry when it is back`)
    }
    try {
      await withTimeout(redis.eval(STORE, 1, key, expiresAt, member, time, channel, JSON.stringify([member, expiresAt])), timeout, 'storing a revocation in Redis')
    } catch (err) {
      throw new RevocationUnavailableError('Redis did not store the revocation: nothing was revoked; retry in a moment', { cause: safeCause(err, []) })
    }
    known.apply(member, expiresAt, time)
  }

  return revocationsOf(known, store, async () => {
    started = false
    subscriber.disconnect()
  }, now)
}
