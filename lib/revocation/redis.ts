import { setImmediate as nextTurn } from 'node:timers/promises'
import { CLOCK_SKEW } from '../clock.js'
import { RevocationUnavailableError, safeCause } from '../errors.js'
import { Known, PAGE, RECONCILE_INTERVAL, revocationsOf, type Entry, type RedisLike, type RevocationOptions, type Revocations } from './store.js'
import { LATE, UNINDEX, canShareSlot, ignore, redisIndex, sameSlotKey } from './devices-redis.js'

/**
 * Stores a revocation, drops expired ones (and the session entries a user entry now covers) and
 * publishes it, atomically: a script that fails at its first step (another key of that name, say)
 * publishes nothing, so no instance applies what Redis did not keep. It stores before it publishes.
 * ARGV[3] is the time to trim until (CLOCK_SKEW before now: an instance whose clock is behind
 * still takes a token as live that long). A one-time token's (ARGV[6] '1') carries a deadline
 * (ARGV[10], Redis's clock): past it the script does nothing and returns -1, so a redeem answered
 * 503 is not redeemed later by its queued script.
 */
const STORE = `${UNINDEX}
${LATE}
if ARGV[6] == '1' and late(ARGV[10]) then return -1 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if ARGV[6] == '1' and redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
for i = 11, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
unindex(KEYS[2], ARGV[7], ARGV[8], ARGV[9])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`

export interface RedisRevocationOptions extends RevocationOptions {
  redis: RedisLike
  /** Key and channel prefix. */
  prefix: string
  /** ms: how long one Redis call may take before it is a failure. */
  timeout: number
  /** ms: how long loading the whole set at start may take. Default 60 s or 12 timeouts, whichever is longer. */
  loadTimeout?: number
  /** ms: Fastify's `pluginTimeout` (0 for none): a load that would outlast it fails first, and says so. */
  pluginTimeout?: number
  /** Members a page of a catch-up reads (PAGE; smaller in tests). */
  page?: number
}

/** ms: how long past `timeout` a call with a deadline is waited for: its answer, sent by the deadline, arrives meanwhile. */
export const DEADLINE_GRACE = 1000
/** ms: what registration keeps of Fastify's `pluginTimeout` for what follows the load (routes, hooks). */
const PLUGIN_MARGIN = 500

export class RedisTimeout extends Error {}

export function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
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
  const { redis, prefix, timeout, maxAge, log, now = Date.now, page = PAGE } = options
  const begun = now()
  const loadTimeout = options.loadTimeout ?? Math.max(60_000, 12 * timeout)
  // Fastify ends a registration that outlasts pluginTimeout with a generic message: a load ends first and says why.
  const pluginTimeout = options.pluginTimeout ?? 0
  const pluginBudget = pluginTimeout > 0 ? Math.max(0, pluginTimeout - PLUGIN_MARGIN) : Infinity
  const key = `${prefix}revoked`
  if (options.limits !== undefined && !canShareSlot(key)) {
    throw new Error(`fastify-weapp: revocation.prefix '${prefix}' has a brace but no Redis hash tag ({tag}): the index of each user's sessions (listSessions, maxSessions, oneSessionPer) is kept in the revocation set's slot; use a prefix without braces, or with a whole tag such as '{weapp}:'`)
  }
  const channel = `${prefix}revocations`
  const known = new Known(maxAge, (message) => { log.warn(message) })
  /** A user's index, in the set's slot (a Cluster runs one script over both). */
  const indexKey = (user: string): string => sameSlotKey(key, `:sessions:${user}`)

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
      if (now() - begun > pluginBudget) {
        throw new RedisTimeout(`loading the revocations would outlast Fastify's pluginTimeout of ${pluginTimeout} ms (${read} entries read in ${now() - begun} ms, more to read): raise pluginTimeout (Fastify({ pluginTimeout: 60_000 })) for a revocation set this large`)
      }
      await nextTurn()
    } while (cursor !== '0')
  }

  // Entries are scored when they were made + maxAge: what was made since `since` scores from since + maxAge.
  let since = now()
  let reconciling: Promise<void> | undefined
  /**
   * Applies the entries made since the last successful look (less the clock skew), page by page,
   * by a cursor: each page starts at the last score read, past the members of that score already
   * read (Redis orders equal scores by member), so a page costs what it reads, wherever it is.
   */
  async function reconcile (): Promise<void> {
    const started = now()
    let min = since + maxAge - CLOCK_SKEW
    let skip = 0 // members scored `min` already read
    for (;;) {
      const members = await withTimeout(redis.zrangebyscore(key, min, '+inf', 'WITHSCORES', 'LIMIT', skip, page), timeout, 'reading the latest revocations from Redis')
      const time = now()
      for (let i = 0; i + 1 < members.length; i += 2) known.apply(members[i] as string, Number(members[i + 1]), time)
      if (members.length < 2 * page) break
      const last = Number(members[members.length - 1])
      let atLast = 0
      for (let i = members.length - 1; i > 0 && Number(members[i]) === last; i -= 2) atLast++
      skip = last === min ? skip + atLast : atLast
      min = last
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
  /** Whether a replica holds what this connection wrote (true where none is waited for): the rule of every write. */
  async function replicated (): Promise<boolean> {
    if (replicas === 0) return true
    const acked = await withTimeout((redis.call as NonNullable<RedisLike['call']>)('WAIT', 1, timeout), timeout + DEADLINE_GRACE, 'waiting for a replica').catch(() => 0)
    return Number(acked) >= 1
  }
  // Redis's clock less this one's (ms), read with TIME: a deadline is given in Redis's clock, which
  // the scripts read, so a script Redis runs after this instance stopped waiting does nothing.
  let offset: number | undefined
  async function readClock (): Promise<void> {
    if (typeof redis.call !== 'function') return
    const before = now()
    const time = await withTimeout(redis.call('TIME'), timeout, 'reading Redis\'s clock') as [string, string]
    const ms = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000) - Math.round((before + now()) / 2)
    offset = Number.isSafeInteger(ms) ? ms : undefined
  }
  /** The deadline of a call made now, in Redis's clock ('' where its clock is not known: no deadline). */
  const deadline = (): number | '' => offset === undefined ? '' : now() + offset + timeout
  await countReplicas().catch(() => {}) // INFO may be disabled (managed Redis): then no replica is waited for
  await readClock().catch((err: unknown) => {
    log.warn({ err: safeCause(err, []) }, 'fastify-weapp: could not read Redis\'s clock (TIME): logins and link redeems Redis runs after their 503 may still apply; retrying every interval')
  })
  started = true
  const interval = setInterval(() => {
    catchUp('interval')
    countReplicas().catch(() => {})
    readClock().catch(ignore)
  }, RECONCILE_INTERVAL)
  interval.unref()

  async function store ({ member, expiresAt, replaces, once, unindex }: Entry, time: number): Promise<boolean> {
    if (redis.status !== 'ready') {
      throw new RevocationUnavailableError(`Redis is not connected (${redis.status}): nothing was revoked; retry when it is back`)
    }
    let stored: unknown
    try {
      const drop = unindex === undefined ? ['', '', 0] : 'jti' in unindex ? ['j', unindex.jti, 0] : ['u', unindex.appId ?? '', unindex.before]
      stored = await withTimeout(redis.eval(STORE, 2, key, unindex === undefined ? key : indexKey(unindex.index), expiresAt, member, time - CLOCK_SKEW, channel,
        JSON.stringify([member, expiresAt]), once === undefined ? '0' : '1', ...drop, once === undefined ? '' : deadline(), ...replaces),
      once === undefined ? timeout : timeout + DEADLINE_GRACE, 'storing a revocation in Redis')
    } catch (err) {
      if (once !== undefined) throw notRedeemed(err instanceof RedisTimeout ? `Redis did not confirm the redeem within ${timeout} ms` : 'Redis refused the redeem', err)
      if (err instanceof RedisTimeout) {
        throw new RevocationUnavailableError(`Redis did not confirm the revocation within ${timeout} ms: it may still apply (Redis may run it late); retry, revoking twice is harmless`, { cause: safeCause(err, []) })
      }
      throw new RevocationUnavailableError('Redis refused to store the revocation: nothing was revoked; retry in a moment', { cause: safeCause(err, []) })
    }
    // A one-time token another call ended first: nothing stored, nothing published.
    if (Number(stored) === 0) return false
    if (Number(stored) === -1) throw notRedeemed('Redis ran the redeem after its deadline, and did nothing')
    // Stored and published: it applies everywhere from now on, whatever a replica says.
    known.apply(member, expiresAt, time)
    if (await replicated()) return true
    if (once !== undefined) {
      // Not answered as redeemed: the token is not burnt either (a failover could lose the write, and redeem it twice).
      await withTimeout(redis.eval(UNCONSUME, 1, key, member), timeout, 'undoing a redeem').catch(ignore)
      throw notRedeemed(`No Redis replica confirmed the redeem within ${timeout} ms`)
    }
    throw new RevocationUnavailableError(`No Redis replica confirmed the revocation within ${timeout} ms: it applies now, but a failover before a replica has it would lose it; retry, revoking twice is harmless`)
  }

  /** SET NX PX: one holder fleet-wide until it expires. */
  async function claim (name: string, ms: number): Promise<boolean> {
    const taken = await withTimeout(redis.eval(CLAIM, 1, `${prefix}claim:${name}`, ms), timeout, 'claiming in Redis')
    return Number(taken) === 1
  }

  const index = options.limits === undefined
    ? undefined
    : redisIndex({ redis, key, channel, indexKey, limits: options.limits, maxAge, timeout, log, withTimeout, deadline, replicated, skew: CLOCK_SKEW })
  return revocationsOf(known, options, store, async () => {
    started = false
    closed = true
    clearInterval(interval)
    subscriber.disconnect()
    await index?.flush()
    await reconciling
  }, claim, index)
}

const CLAIM = "if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return 1 end return 0"
/** Drops a one-time token's entry a replica did not confirm (its redeem was answered 503). */
const UNCONSUME = "return redis.call('ZREM', KEYS[1], ARGV[1])"

/**
 * A link redeem answered 503 did not redeem: Redis runs it by its deadline or not at all, and one no
 * replica confirmed is undone, so the same token redeems on a retry.
 */
function notRedeemed (why: string, cause?: unknown): Error {
  return new RevocationUnavailableError(`${why}: the link token was not redeemed; retry`, cause === undefined ? undefined : { cause: safeCause(cause, []) })
}
