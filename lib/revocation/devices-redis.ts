import { createHash } from 'node:crypto'
import { RevocationUnavailableError, safeCause } from '../errors.js'
import { MAX_PENDING_TOUCHES, TOUCH_INTERVAL, decodeTracked, encodeTracked, type SessionLimits, type TrackedSession } from './devices.js'
import type { IndexStore, RedisLike } from './store.js'

/**
 * The index of sessions per user in Redis: one hash per user (field jti, value the entry of
 * `encodeTracked`), in the revocation set's slot, expiring `maxAge` after the user's last login
 * (no session outlives its login by more). An entry is live until its login's `loginAt + maxAge` (no
 * renewal or heal of it lives longer) or until it is revoked, whatever expiry renewals recorded (a
 * lost batch of them changes only the expiry shown). A login runs LOGIN: it drops the user's expired and
 * revoked entries, picks what the new login evicts (the rule of `evicted()` in lib/revocation/devices.ts),
 * marks each evicted session in the revocation set, publishes it, and adds the login, all in one
 * script: two logins at once on two instances cannot both keep a place.
 */

/** Lua: an index entry, or nil for anything this plugin cannot have written (dropped, never an error). */
const ENTRY = `local function entry (text)
  local ok, e = pcall(cjson.decode, text)
  if ok and type(e) == 'table' and type(e[1]) == 'string' and type(e[4]) == 'number' and type(e[5]) == 'number' then return e end
  return nil
end`

/** Lua: drops from an index what a revocation ended: one session ('j', jti) or the logins until `before` ('u', appId or '' for all). */
export const UNINDEX = `${ENTRY}
local function unindex (key, mode, which, before)
  if mode == 'j' then redis.call('HDEL', key, which) end
  if mode ~= 'u' then return end
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local e = entry(all[i + 1])
    if e == nil or (e[4] <= tonumber(before) and (which == '' or e[1] == which)) then redis.call('HDEL', key, all[i]) end
  end
end`

/**
 * Lua: whether a call's deadline (ms, Redis's clock; '' for none) has passed. A script Redis runs
 * after its caller stopped waiting (the caller answered 503) must do nothing.
 */
export const LATE = `local function late (deadline)
  if deadline == '' then return false end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(deadline)
end`

/**
 * KEYS: the revocation set, the user's index. ARGV: now, jti, entry, maxSessions, oneSessionPer
 * ('' for none), appId, device ('' for none), the evicted entries' expiry, channel, maxAge, the
 * deadline (Redis's clock, '' for none), CLOCK_SKEW. Returns the evicted ids, or -1 (past its
 * deadline: nothing done).
 */
const LOGIN = `${ENTRY}
${LATE}
if late(ARGV[11]) then return -1 end
local now = tonumber(ARGV[1])
-- Expired revocations go here too, as in STORE (CLOCK_SKEW late): an app that evicts but never revokes keeps the set small.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[12]))
local per = ARGV[5]
local all = redis.call('HGETALL', KEYS[2])
local kept = {}
local out = {}
for i = 1, #all, 2 do
  local jti = all[i]
  local e = entry(all[i + 1])
  if e == nil or e[4] + tonumber(ARGV[10]) <= now or redis.call('ZSCORE', KEYS[1], '["s","' .. jti .. '"]') then
    redis.call('HDEL', KEYS[2], jti)
  else
    local device = e[3]
    if type(device) ~= 'string' then device = '' end
    if per == 'user' or (per ~= '' and e[1] == ARGV[6] and (per == 'app' or device == ARGV[7])) then
      table.insert(out, jti)
    else
      table.insert(kept, { jti, e[4] })
    end
  end
end
table.sort(kept, function (a, b) if a[2] ~= b[2] then return a[2] < b[2] end return a[1] < b[1] end)
local max = tonumber(ARGV[4])
local i = 1
while #kept - i + 2 > max do
  table.insert(out, kept[i][1])
  i = i + 1
end
for _, jti in ipairs(out) do
  local member = '["k","' .. jti .. '"]'
  redis.call('HDEL', KEYS[2], jti)
  redis.call('ZADD', KEYS[1], ARGV[8], member)
  redis.call('PUBLISH', ARGV[9], '[' .. cjson.encode(member) .. ',' .. ARGV[8] .. ']')
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[10]) + tonumber(ARGV[12]))
return out`

/** KEYS: an index. ARGV: jti, expiresAt, renewedAt. A renewal of a session the index no longer holds is dropped. */
const TOUCH = `${ENTRY}
local e = entry(redis.call('HGET', KEYS[1], ARGV[1]) or '')
if e == nil then return 0 end
if tonumber(ARGV[2]) > e[5] then e[5] = tonumber(ARGV[2]) end
e[6] = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
return 1`

const LIST = "return redis.call('HGETALL', KEYS[1])"
const FORGET = "return redis.call('HDEL', KEYS[1], ARGV[1])"

/** For a best-effort call whose failure changes nothing the caller says. */
export const ignore = (): void => {}

/**
 * Runs a script by its SHA-1 where the client can (the text of LOGIN is 1.3 KB a login otherwise),
 * sending the text once more where Redis does not have it (a restart, SCRIPT FLUSH, another node).
 */
export function scriptRunner (redis: RedisLike, script: string): (keys: number, ...args: Array<string | number>) => Promise<unknown> {
  const sha = createHash('sha1').update(script).digest('hex')
  return async (keys, ...args) => {
    if (typeof redis.evalsha !== 'function') return await redis.eval(script, keys, ...args)
    try {
      return await redis.evalsha(sha, keys, ...args)
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
      return await redis.eval(script, keys, ...args)
    }
  }
}

/**
 * A key in the same Cluster slot as `key`: after `key` where it has a hash tag already (everything
 * after the tag is not hashed), else with `key` as the tag.
 */
export function sameSlotKey (key: string, suffix: string): string {
  const open = key.indexOf('{')
  const close = open === -1 ? -1 : key.indexOf('}', open + 1)
  if (close > open + 1) return `${key}${suffix}`
  return `{${key}}${suffix}`
}

/** Whether `sameSlotKey` can place keys beside `key`: it cannot where `key` has a brace but no hash tag. */
export const canShareSlot = (key: string): boolean => {
  const open = key.indexOf('{')
  const close = open === -1 ? -1 : key.indexOf('}', open + 1)
  return close > open + 1 || !key.includes('}')
}

interface RedisIndexOptions {
  redis: RedisLike
  /** The revocation set. */
  key: string
  channel: string
  indexKey: (user: string) => string
  limits: SessionLimits
  /** ms */
  maxAge: number
  /** ms */
  timeout: number
  log: { warn (obj: unknown, msg?: string): void }
  withTimeout: <T>(promise: Promise<T>, ms: number, what: string) => Promise<T>
  /** The deadline of a call made now, in Redis's clock ('' for none). */
  deadline?: () => number | ''
  /** Whether a replica holds what was written (the rule of revocations). */
  replicated?: () => Promise<boolean>
  /** ms: CLOCK_SKEW, which trimming and the index's TTL add. */
  skew?: number
}

/** ms: how long past `timeout` a login is waited for (its script, run by its deadline, answers meanwhile). */
const GRACE = 1000

export function redisIndex ({ redis, key, channel, indexKey, limits, maxAge, timeout, log, withTimeout, deadline = () => '', replicated = async () => true, skew = 0 }: RedisIndexOptions): IndexStore & { flush (): Promise<void> } {
  const runLogin = scriptRunner(redis, LOGIN)
  /** Renewals to write, by index and jti: the latest of each. */
  let pending = new Map<string, { index: string, jti: string, expiresAt: number, renewedAt: number }>()
  let flushing: Promise<void> | undefined
  async function flush (): Promise<void> {
    if (pending.size === 0) return
    const batch = [...pending.values()]
    pending = new Map()
    await Promise.all(batch.map(async ({ index, jti, expiresAt, renewedAt }) => {
      await withTimeout(redis.eval(TOUCH, 1, indexKey(index), jti, expiresAt, renewedAt), timeout, 'recording a renewal in Redis')
    })).catch((err: unknown) => {
      // The index shows an older expiry for these: it never ends or keeps a session.
      log.warn({ err: safeCause(err, []) }, 'fastify-weapp: could not record renewals in the session index; listSessions shows their previous expiry')
    })
  }
  const timer = setInterval(() => {
    if (flushing === undefined) flushing = flush().finally(() => { flushing = undefined })
  }, TOUCH_INTERVAL)
  timer.unref()

  async function unavailable<T> (what: string, run: () => Promise<T>): Promise<T> {
    if (redis.status !== 'ready') throw new RevocationUnavailableError(`Redis is not connected (${redis.status}): ${what}; retry when it is back`)
    try {
      return await run()
    } catch (err) {
      throw new RevocationUnavailableError(`Redis did not answer: ${what}; retry in a moment`, { cause: safeCause(err, []) })
    }
  }

  return {
    async track (index, login, time) {
      const out = await unavailable('the login was not recorded in its user\'s sessions and no session was issued (Redis drops it if it runs later)', async () =>
        await withTimeout(runLogin(2, key, indexKey(index), time, login.jti, encodeTracked(login), limits.maxSessions,
          limits.oneSessionPer ?? '', login.appId, login.device ?? '', time + maxAge, channel, maxAge, deadline(), skew), timeout + GRACE, 'recording a login in Redis'))
      if (!Array.isArray(out)) throw new RevocationUnavailableError('Redis ran the login after its deadline, and did nothing: no session was issued; retry in a moment')
      if (!(await replicated())) {
        // Not answered: its index entry goes (no token has it); what it evicted stays ended.
        await withTimeout(redis.eval(FORGET, 1, indexKey(index), login.jti), timeout, 'dropping an unconfirmed login').catch(ignore)
        throw new RevocationUnavailableError(`No Redis replica confirmed the login within ${timeout} ms: no session was issued (the sessions it evicted stay ended); retry in a moment`)
      }
      // LOGIN returns the evicted ids: an array, empty where it evicted none.
      return out.map(String)
    },
    touch (index, jti, expiresAt, renewedAt) {
      const id = `${index}\n${jti}`
      if (pending.size < MAX_PENDING_TOUCHES || pending.has(id)) pending.set(id, { index, jti, expiresAt, renewedAt })
    },
    list: async (index, time) => await unavailable('the sessions could not be read', async () => {
      const all = await withTimeout(redis.eval(LIST, 1, indexKey(index)), timeout, 'reading a user\'s sessions from Redis') as string[]
      const sessions: TrackedSession[] = []
      for (let i = 0; i + 1 < all.length; i += 2) {
        const s = decodeTracked(all[i] as string, all[i + 1] as string)
        if (s !== undefined && s.loginAt + maxAge > time) sessions.push(s)
      }
      return sessions
    }),
    async flush () {
      clearInterval(timer)
      await flushing
      await flush()
    }
  }
}
