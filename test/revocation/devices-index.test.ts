// The index of sessions per user, below the routes: the eviction rule in JavaScript (the memory
// store's) and in Lua (Redis's) agree on every index, and each store's edges hold.
import fc from 'fast-check'
import t from 'tap'
import { MAX_PENDING_TOUCHES, MemoryIndex, decodeTracked, encodeTracked, evicted, newestFirst, type SessionLimits, type TrackedSession } from '../../lib/revocation/devices.js'
import { canShareSlot, redisIndex, sameSlotKey } from '../../lib/revocation/devices-redis.js'
import { redisRevocations, withTimeout } from '../../lib/revocation/redis.js'
import { memoryRevocations, userKey, type RedisLike, type Revocations, type TrackedLogin } from '../../lib/revocation/index.js'
import { eventually, redisServer } from '../fixtures/redis.js'

const quiet = { warn () {}, info () {} }
const MAX_AGE = 30 * 86400_000
const jtiOf = (i: number): string => `j${String(i).padStart(21, '0')}`

const session = (jti: string, fields: Partial<TrackedSession> = {}): TrackedSession =>
  ({ jti, appId: 'wxa', platform: 'wechat', device: undefined, loginAt: 1000, expiresAt: 2_000_000_000_000, renewedAt: undefined, ...fields })

t.test('the Lua rule is the JavaScript rule, on any index', async (t) => {
  const redis = await redisServer(t)
  const raw = redis.client()
  await raw.ping()
  const client = raw as unknown as RedisLike
  const key = 'parity:revoked'
  let round = 0
  const arb = fc.record({
    live: fc.array(fc.record({ app: fc.constantFrom('wxa', 'wxb'), device: fc.constantFrom(undefined, 'ios', 'android'), loginAt: fc.integer({ min: 1, max: 20 }) }), { maxLength: 8 }),
    login: fc.record({ app: fc.constantFrom('wxa', 'wxb'), device: fc.constantFrom(undefined, 'ios', 'android') }),
    maxSessions: fc.integer({ min: 1, max: 6 }),
    per: fc.constantFrom(undefined, 'device', 'app', 'user')
  })
  await fc.assert(fc.asyncProperty(arb, async ({ live, login, maxSessions, per }) => {
    const limits: SessionLimits = { maxSessions, oneSessionPer: per as SessionLimits['oneSessionPer'] }
    const user = JSON.stringify(['*', `o-${round++}`])
    const sessions = live.map((s, i) => session(jtiOf(i), { appId: s.app, device: s.device, loginAt: s.loginAt }))
    const index = redisIndex({ redis: client, key, channel: 'parity:revocations', indexKey: (u) => sameSlotKey(key, `:sessions:${u}`), limits, maxAge: MAX_AGE, timeout: 2000, log: quiet, withTimeout })
    for (const s of sessions) await client.eval("return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])", 1, sameSlotKey(key, `:sessions:${user}`), s.jti, encodeTracked(s))
    const fresh = session('zzzzzzzzzzzzzzzzzzzzzz', { appId: login.app, device: login.device, loginAt: 21 })
    const inRedis = await index.track(user, fresh, 10)
    await index.flush()
    const inMemory = new MemoryIndex(MAX_AGE)
    for (const s of sessions) inMemory.track(user, s, { maxSessions: 100, oneSessionPer: undefined }, 10, () => false)
    const inJs = inMemory.track(user, fresh, limits, 10, () => false)
    t.same(inRedis, evicted(sessions, fresh, limits), 'Lua evicts what evicted() does')
    t.same(inJs, evicted(sessions, fresh, limits), 'and so does the memory index')
    return true
  }), { numRuns: 150 })
})

t.test('the memory index: renewals, drops, and a sweep of users whose sessions all expired', async (t) => {
  const index = new MemoryIndex(MAX_AGE)
  const limits = { maxSessions: 100, oneSessionPer: undefined }
  index.track('u1', session(jtiOf(1), { expiresAt: 5000 }), limits, 10, () => false)
  index.touch('u1', jtiOf(1), 9000, 20)
  index.touch('u1', jtiOf(2), 9000, 20) // not indexed: nothing
  index.touch('nobody', jtiOf(2), 9000, 20)
  t.match(index.list('u1', 30, () => false), [{ jti: jtiOf(1), expiresAt: 9000, renewedAt: 20 }])
  index.touch('u1', jtiOf(1), 100, 40)
  t.match(index.list('u1', 50, () => false), [{ expiresAt: 9000, renewedAt: 40 }], 'an expiry never moves back')
  t.match(index.list('u1', 9000, () => false), [{ jti: jtiOf(1) }], 'past the expiry it recorded: listed until its login\'s maxAge')
  t.same(index.list('u1', 1000 + MAX_AGE, () => false), [], 'past loginAt + maxAge no token of it lives: gone')
  index.drop('nobody', { jti: jtiOf(1) })
  index.track('u2', session(jtiOf(3), { appId: 'wxa', loginAt: 5 }), limits, 10, () => false)
  index.track('u2', session(jtiOf(4), { appId: 'wxb', loginAt: 5 }), limits, 10, () => false)
  index.drop('u2', { appId: 'wxa', before: 5 })
  t.same(index.list('u2', 10, () => false).map((s) => s.jti), [jtiOf(4)], 'a user revocation in one app')
  index.drop('u2', { jti: jtiOf(4) })
  t.equal(index.size, 1, 'a user whose last session went is gone (u1 waits for the sweep)')
  for (let i = 0; i < 300; i++) index.track(`short-${i}`, session(jtiOf(i), { loginAt: 0, expiresAt: 100 }), limits, 50, () => false)
  // Logged in at MAX_AGE, its first expiry 100 ms later: past that expiry it may have been renewed, and stays.
  index.track('renewed', session(jtiOf(9), { loginAt: MAX_AGE, expiresAt: MAX_AGE + 100 }), limits, MAX_AGE, () => false)
  for (let i = 0; i < 256; i++) index.track(`late-${i}`, session(jtiOf(i), { loginAt: MAX_AGE + 2000 }), limits, MAX_AGE + 2000, () => false)
  t.equal(index.size, 257, 'within 256 logins a sweep dropped every user whose logins are all past maxAge (u1 and the short ones): the late ones and the renewed one are left')
  t.equal(index.list('renewed', MAX_AGE + 2000, () => false).length, 1, 'a sweep keeps a session past the expiry it recorded')
})

for (const kind of ['memory', 'redis'] as const) {
  t.test(`${kind}: a session counts and is listed until its login's maxAge, whatever expiry its renewals and heals recorded`, async (t) => {
    const clock = { now: 1_700_000_000_000 }
    const options = { maxAge: MAX_AGE, log: quiet, now: () => clock.now, limits: { maxSessions: 2, oneSessionPer: undefined } }
    let dropped = 0
    let store: Revocations
    if (kind === 'memory') {
      store = memoryRevocations(options)
    } else {
      const raw = (await redisServer(t)).client()
      await raw.ping()
      // Every batch of renewals is dropped, as a lost one is: the index keeps the login's expiry.
      const dropping = new Proxy(raw, {
        get (target, name) {
          const value = Reflect.get(target, name) as unknown
          if (name !== 'eval') return typeof value === 'function' ? value.bind(target) : value
          return async (script: string, keys: number, ...args: Array<string | number>) => {
            if (script.includes('e[6] = tonumber(ARGV[3])')) {
              dropped++
              throw new Error('dropped')
            }
            return await (target as unknown as RedisLike).eval(script, keys, ...args)
          }
        }
      })
      store = await redisRevocations({ ...options, redis: dropping as unknown as RedisLike, prefix: 'lost:', timeout: 2000 })
    }
    t.teardown(() => store.close())
    const user = userKey(undefined, { openid: 'o-1' })
    const login = (i: number): TrackedLogin => ({ appId: 'wxa', openid: 'o-1', jti: jtiOf(i), loginAt: clock.now, platform: 'wechat', device: undefined, expiresAt: clock.now + 3600_000 })
    const first = login(1)
    await store.track(first)
    // Two hours on, past its first expiry: renewed or healed meanwhile, and the index never told
    // (memory: no record made; Redis: the batch that carried it dropped).
    clock.now += 2 * 3600_000
    if (kind === 'redis') {
      store.touch(first, clock.now + 3600_000, clock.now)
      await eventually(async () => dropped > 0, 5000)
    }
    const listed = await store.listSessions(user)
    t.same(listed.map((s) => s.jti), [first.jti], 'still listed: a "my devices" page can end it')
    t.equal(listed[0]?.expiresAt, first.expiresAt, 'showing the expiry last recorded')
    const second = login(2)
    await store.track(second)
    t.notOk(store.isKicked(first.jti), 'two fit')
    await store.track(login(3))
    t.ok(store.isKicked(first.jti), 'and it still counts: the third login evicts it')
    t.same((await store.listSessions(user)).map((s) => s.jti).sort(), [jtiOf(2), jtiOf(3)])
    // At its login's maxAge no token of it can live: it counts no more.
    clock.now = second.loginAt + MAX_AGE
    await store.track(login(4))
    t.notOk(store.isKicked(second.jti), 'a login past maxAge is not evicted: it is gone')
    t.same((await store.listSessions(user)).map((s) => s.jti), [jtiOf(4)])
  })
}

t.test('ties in login time are broken by id, the same way each time', async (t) => {
  const [a, b] = [session('aaaaaaaaaaaaaaaaaaaaaa', { loginAt: 5 }), session('bbbbbbbbbbbbbbbbbbbbbb', { loginAt: 5 })]
  for (const live of [[a, b], [b, a]]) {
    t.same(evicted(live, session('zzzzzzzzzzzzzzzzzzzzzz', { loginAt: 6 }), { maxSessions: 2, oneSessionPer: undefined }), [a.jti], 'the lower id is the older')
    t.same([...live].sort(newestFirst).map((s) => s.jti), [a.jti, b.jti], 'and listed first among equals')
  }
})

t.test('stored entries: only what this plugin writes is read', async (t) => {
  t.same(decodeTracked(jtiOf(1), encodeTracked(session(jtiOf(1), { device: 'ios', renewedAt: 7 }))), session(jtiOf(1), { device: 'ios', renewedAt: 7 }))
  for (const text of ['nope', '{}', '[1,"wechat",null,1,2,null]', '["wxa",5,null,1,2,null]', '["wxa","wechat","a\\"b",1,2,null]', '["wxa","wechat",null,-1,2,null]', '["wxa","wechat",null,1,2.5,null]', '["wxa","wechat",null,1,2,"x"]']) {
    t.equal(decodeTracked(jtiOf(1), text), undefined, text)
  }
})

t.test('Redis: renewals are batched, bounded, and a failed batch is only logged', async (t) => {
  const calls: unknown[][] = []
  let fail = false
  const warnings: string[] = []
  const fake = { status: 'ready', eval: async (...args: unknown[]) => { calls.push(args); if (fail) throw new Error('down'); return 1 } } as unknown as RedisLike
  const index = redisIndex({ redis: fake, key: 'k', channel: 'c', indexKey: (u) => `{k}:${u}`, limits: { maxSessions: 2, oneSessionPer: undefined }, maxAge: MAX_AGE, timeout: 1000, log: { warn: (_o: unknown, msg?: string) => { warnings.push(msg ?? '') } }, withTimeout })
  for (let i = 0; i <= MAX_PENDING_TOUCHES; i++) index.touch('u', jtiOf(i), 5000, 10)
  index.touch('u', jtiOf(0), 6000, 11) // already waiting: its latest renewal replaces it
  fail = true
  await index.flush()
  t.equal(calls.length, MAX_PENDING_TOUCHES, 'the pending renewals are bounded')
  t.same(calls.find((c) => c[3] === jtiOf(0))?.slice(4), [6000, 11], 'the latest renewal of a session')
  t.match(warnings, [/could not record renewals in the session index/])
  await index.flush()
  t.equal(calls.length, MAX_PENDING_TOUCHES, 'nothing left to write')
  await t.rejects(index.track('u', session(jtiOf(1)), 10), { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: /Redis did not answer: the login was not recorded/ })
  await t.rejects(index.list('u', 10), { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: /the sessions could not be read/ })
  // A client with EVALSHA: a script Redis does not hold is sent once more; any other error is the store's.
  const sent: string[] = []
  const withSha = (error: string) => ({ status: 'ready', evalsha: async () => { sent.push('sha'); throw new Error(error) }, eval: async () => { sent.push('text'); return ['x'] } }) as unknown as RedisLike
  const options = { key: 'k', channel: 'c', indexKey: (u: string) => u, limits: { maxSessions: 2, oneSessionPer: undefined }, maxAge: MAX_AGE, timeout: 1000, log: quiet, withTimeout }
  t.same(await redisIndex({ ...options, redis: withSha('NOSCRIPT No matching script') }).track('u', session(jtiOf(1)), 10), ['x'])
  t.same(sent, ['sha', 'text'], 'NOSCRIPT: the script\'s text follows')
  await t.rejects(redisIndex({ ...options, redis: withSha('ERR something else') }).track('u', session(jtiOf(1)), 10), { code: 'WEAPP_REVOCATION_UNAVAILABLE' })
  t.same(sent, ['sha', 'text', 'sha'], 'another error is not retried')
  const closed = redisIndex({ redis: { status: 'end' } as unknown as RedisLike, key: 'k', channel: 'c', indexKey: (u) => u, limits: { maxSessions: 2, oneSessionPer: undefined }, maxAge: MAX_AGE, timeout: 1000, log: quiet, withTimeout })
  await t.rejects(closed.track('u', session(jtiOf(1)), 10), { message: /Redis is not connected \(end\)/ })
  await closed.flush()
  // A login no replica confirmed is a 503, whether or not dropping its entry then works.
  const forgetting: string[] = []
  const unconfirmed = (forget: () => Promise<unknown>) => {
    let calls = 0
    // The first script is the login (it evicts nothing); the next drops its entry.
    return redisIndex({ ...options, redis: { status: 'ready', eval: async () => { if (calls++ === 0) return []; forgetting.push('forget'); return await forget() } } as unknown as RedisLike, replicated: async () => false })
  }
  for (const forget of [async () => 1, async () => { throw new Error('down') }]) {
    await t.rejects(unconfirmed(forget).track('u', session(jtiOf(1)), 10), { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: /No Redis replica confirmed the login/ })
  }
  t.same(forgetting, ['forget', 'forget'], 'the unconfirmed login\'s entry is dropped (or tried)')
})

t.test('an index key shares the revocation set\'s Cluster slot, whatever the prefix', async (t) => {
  t.equal(sameSlotKey('app:revoked', ':s'), '{app:revoked}:s')
  t.equal(sameSlotKey('a:{weapp}:revoked', ':s'), 'a:{weapp}:revoked:s', 'a tag already there decides the slot')
  t.equal(sameSlotKey('a{}:revoked', ':s'), '{a{}:revoked}:s', 'an empty tag is no tag')
  t.ok(canShareSlot('a:{weapp}:revoked'))
  t.ok(canShareSlot('plain'))
  t.notOk(canShareSlot('a}b:revoked'), 'a brace with no tag: no key can be put in its slot')
  const fake = { status: 'ready', zscan: async () => ['0', []], zrangebyscore: async () => [], eval: async () => 1, duplicate: () => ({ subscribe: async () => 1, on () {}, disconnect () {} }), on () {} } as unknown as RedisLike
  await t.rejects(redisRevocations({ redis: fake, prefix: 'a}b:', timeout: 1000, maxAge: MAX_AGE, log: quiet, limits: { maxSessions: 2, oneSessionPer: undefined } }),
    { message: /revocation\.prefix 'a\}b:' has a brace but no Redis hash tag/ })
  const store = await redisRevocations({ redis: fake, prefix: 'a}b:', timeout: 1000, maxAge: MAX_AGE, log: quiet })
  t.teardown(() => store.close())
  t.pass('without limits the prefix is as before')
})
