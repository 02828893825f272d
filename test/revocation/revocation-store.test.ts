// The revocation store on its own clock: how long entries live (a login's lineage, never the
// presented token's exp), where "logins until T" stops, the bound per user, keys that cannot alias.
import { EventEmitter } from 'node:events'
import t from 'tap'
import { CLOCK_SKEW } from '../../lib/clock.js'
import { memoryRevocations, redisRevocations, userKey, type SessionRef } from '../../lib/revocation/index.js'
import { MAX_REVOKED_PER_USER } from '../../lib/revocation/store.js'
import { eventually } from '../fixtures/redis.js'
import { harness } from '../fixtures/app.js'

const APP = 'wx0123456789abcdef'
const MAX_AGE = 30 * 86400_000
const quiet = { warn () {}, info () {} }

function store (clock: { now: number }): ReturnType<typeof memoryRevocations> {
  return memoryRevocations({ maxAge: MAX_AGE, log: quiet, now: () => clock.now })
}

const jti = (i: number | string): string => `j-${String(i).padStart(20, '0')}`
function session (i: number | string, loginAt: number, openid = `o-${i}`): SessionRef {
  return { appId: APP, openid, jti: jti(i), loginAt }
}

t.test('a session entry lives maxAge from its revocation, whatever the token revoked said', async (t) => {
  const clock = { now: 10_000_000 }
  const s = store(clock)
  const login = clock.now - 60_000
  await s.revokeSession(session(1, login))
  clock.now += 7 * 86400_000 // the revoked token (and the default expiresIn) long gone; a renewal is not
  for (let i = 0; i < 600; i++) await s.revokeSession(session(`x${i}`, clock.now)) // sweeps run
  t.ok(s.isRevoked(session(1, login)), 'its renewal, same jti, is still refused')
  clock.now = login + 60_000 + MAX_AGE + CLOCK_SKEW - 1
  t.ok(s.isRevoked(session(1, login)), 'still kept within the tolerated clock skew past its expiry')
  clock.now += 2
  for (let i = 0; i < 1000; i++) await s.revokeSession(session(`y${i}`, clock.now))
  t.notOk(s.isRevoked(session(1, login)), 'past maxAge (and the skew) no token of that login can live: forgotten')
  t.ok(s.size() <= 1000 + 600, 'and swept')
})

t.test('"logins until T": T included, later logins not; kept maxAge, past any renewal of those logins', async (t) => {
  const clock = { now: 10_000_000 }
  const s = store(clock)
  const T = clock.now
  await s.revokeUser(userKey(APP, { openid: 'o-alice' }))
  t.ok(s.isRevoked(session('a', T, 'o-alice')), 'a login in the same millisecond is ended')
  t.ok(s.isRevoked(session('b', T - 1, 'o-alice')))
  t.notOk(s.isRevoked(session('c', T + 1, 'o-alice')), 'a later login is not')
  t.notOk(s.isRevoked(session('d', T - 1, 'o-bob')), 'nor another user')
  clock.now = T + 29 * 86400_000
  for (let i = 0; i < 600; i++) await s.revokeSession(session(`x${i}`, clock.now))
  t.ok(s.isRevoked(session('b', T - 1, 'o-alice')), 'a login renewed for 29 days is still ended')
  await s.revokeUser(userKey(undefined, { openid: 'o-carol' }))
  t.ok(s.isRevoked({ ...session('e', T, 'o-carol'), appId: 'wxanotherapp000000' }), 'without an app: in every app')
})

t.test(`past ${MAX_REVOKED_PER_USER} revoked sessions, a user's entries collapse into one "logins until now"`, async (t) => {
  const clock = { now: 10_000_000 }
  const s = store(clock)
  const ended: SessionRef[] = []
  for (let i = 0; i < 40; i++) {
    const one = session(`m${i}`, clock.now - 1000, 'o-many')
    await s.revokeSession(one)
    ended.push(one)
    clock.now += 1000
  }
  await s.revokeSession(session('other', clock.now, 'o-other'))
  t.ok(s.size() <= MAX_REVOKED_PER_USER + 2, `entries held: ${s.size()} for 41 revocations of 2 users`)
  for (const one of ended) t.ok(s.isRevoked(one), `${one.jti} stays ended`)
  t.notOk(s.isRevoked(session('fresh', clock.now + 1, 'o-many')), 'a login after the last revocation works')
  t.ok(s.isRevoked(session('other', clock.now, 'o-other')))
  t.notOk(s.isRevoked(session('else', clock.now - 5000, 'o-else')), 'other users are untouched')
})

t.test('user keys cannot alias: an openid holding a newline is not a WeCom member', async (t) => {
  const clock = { now: 10_000_000 }
  const s = store(clock)
  await s.revokeUser(userKey(APP, { openid: 'wwcorp\nzhangsan' }))
  t.notOk(s.isRevoked({ appId: APP, corpId: 'wwcorp', userId: 'zhangsan', jti: jti('w'), loginAt: clock.now - 1 }))
  await s.revokeUser(userKey(APP, { corpId: 'wwcorp', userId: 'lisi' }))
  t.ok(s.isRevoked({ appId: APP, corpId: 'wwcorp', userId: 'lisi', jti: jti('l'), loginAt: clock.now - 1 }))
  t.notOk(s.isRevoked(session('o', clock.now - 1, 'lisi')), 'nor is a member an openid')
})

t.test('revokeUser refuses an openid for a WeCom app, and a member for a WeChat one', async (t) => {
  const STAFF = 'wxstaff00000000001'
  const h = await harness(t, { plugin: { revocation: 'memory', apps: [{ appId: APP, appSecret: 'mock-app-secret-0123456789abcdef' }, { appId: STAFF, wecom: { corpId: 'wwcorp', corpSecret: 'corp-secret-0123456789' } }] } })
  await t.rejects(h.app.weapp.revokeUser({ openid: 'zhangsan', appId: STAFF }), { name: 'TypeError', message: /WeCom app.*\{ corpId, userId, appId \}/ })
  await t.rejects(h.app.weapp.revokeUser({ corpId: 'wwcorp', userId: 'zhangsan', appId: APP }), { name: 'TypeError', message: /is a WeChat app: give \{ openid, appId\? \}/ })
  await h.app.weapp.revokeUser({ openid: 'o-gone', appId: 'wxnolongerserved00' })
  t.pass('an app that is not served (any more) is revoked as asked')
})

/** A stand-in for an ioredis client, to drive the Redis store into what a real one rarely does. */
function fakeRedis (overrides: Record<string, unknown> = {}): { redis: never, subscriber: EventEmitter } {
  const subscriber = Object.assign(new EventEmitter(), { subscribe: async () => 1, disconnect () {}, quit: async () => 'OK' })
  const redis = {
    status: 'ready',
    zscan: async () => ['0', []],
    zrangebyscore: async () => [],
    eval: async () => 1,
    duplicate: () => subscriber,
    on () {},
    quit: async () => 'OK',
    disconnect () {},
    ...overrides
  }
  return { redis: redis as never, subscriber }
}

t.test('a load that outlasts its time limit says it is slow, and how far it got', async (t) => {
  let clock = 0
  // Endless pages, each taking 10 s of the store's clock.
  const { redis } = fakeRedis({ zscan: async () => { clock += 10_000; return ['7', ['["s","j-00000000000000000001"]', String(clock + MAX_AGE)]] } })
  await t.rejects(redisRevocations({ redis, prefix: 'p:', timeout: 1000, loadTimeout: 25_000, maxAge: MAX_AGE, log: quiet, now: () => clock }),
    { message: /loading the revocations from Redis failed: loading the revocations took more than 25000 ms \(3 entries read\): the set is larger than that time allows, or Redis is slow/ })
})

t.test('a catch-up that fails is logged and retried from the same point', async (t) => {
  const warnings: string[] = []
  let fail = true
  const asked: number[] = []
  const { redis, subscriber } = fakeRedis({ zrangebyscore: async (_key: string, min: number) => { asked.push(min); if (fail) throw new Error('down'); return [] } })
  const store = await redisRevocations({ redis, prefix: 'p:', timeout: 1000, maxAge: MAX_AGE, log: { warn: (_o: unknown, msg?: string) => { warnings.push(msg ?? '') }, info () {} } })
  t.teardown(() => store.close())
  subscriber.emit('ready')
  await eventually(() => warnings.length === 1)
  t.match(warnings[0], /could not read the latest revocations \(Redis reconnected\); retrying/)
  fail = false
  await eventually(async () => { subscriber.emit('ready'); return asked.length >= 2 })
  t.equal(asked[1], asked[0], 'the retry starts where the failed one did: nothing made meanwhile is skipped')
})

t.test('user entries stored by 0.1 (keys joined by newlines) still apply', async (t) => {
  const now = Date.now()
  const members = [
    JSON.stringify(['u', `${APP}\no-legacy`, now]), String(now + MAX_AGE),
    JSON.stringify(['u', `${APP}\nwwcorp\nlisi`, now]), String(now + MAX_AGE),
    JSON.stringify(['u', '*\no-anywhere', now]), String(now + MAX_AGE),
    JSON.stringify(['u', 'a\nb\nc\nd', now]), String(now + MAX_AGE)
  ]
  const { redis } = fakeRedis({ zscan: async () => ['0', members] })
  const warned: string[] = []
  const store = await redisRevocations({ redis, prefix: 'p:', timeout: 1000, maxAge: MAX_AGE, log: { warn: (msg: unknown) => { warned.push(String(msg)) }, info () {} } })
  t.teardown(() => store.close())
  t.ok(store.isRevoked(session('l', now - 1, 'o-legacy')))
  t.ok(store.isRevoked({ appId: APP, corpId: 'wwcorp', userId: 'lisi', jti: jti('w'), loginAt: now - 1 }))
  t.ok(store.isRevoked({ ...session('x', now - 1, 'o-anywhere'), appId: 'wxanyapp0000000000' }))
  t.equal(warned.length, 1, 'what no version made (four parts) is ignored, and logged')
})

t.test('what the store reads is judged entry by entry: shapes no version made are ignored, duplicates are one', async (t) => {
  const now = Date.now()
  const good = JSON.stringify(['s', jti('dup'), userKey(APP, { openid: 'o-dup' }), now - 5])
  const bad = [
    ['u', 5, now], ['u', '[not json', now], ['u', '{"a":1}', now], ['u', '["a",""]', now], ['u', '["*","x","y"]', now], ['u', '["a","b","c","d"]', now],
    ['u', 'a\n', now], ['u', '*\nb\nc', now], ['s', jti('x'), 'not a key', now], ['s', jti('y'), userKey(APP, { openid: 'o' }), now + 10 * 60_000],
    ['s', jti('z'), userKey(APP, { openid: 'o' }), 'soon'], ['s', 'short', userKey(APP, { openid: 'o' }), now], ['x'], 'text'
  ].map((entry) => typeof entry === 'string' ? entry : JSON.stringify(entry))
  const members = [good, String(now + MAX_AGE), good, String(now + MAX_AGE - 1000), good, String(now + MAX_AGE + 1000), ...bad.flatMap((m) => [m, String(now + MAX_AGE)])]
  let calls = 0
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const { redis, subscriber } = fakeRedis({ zscan: async () => ['0', members], zrangebyscore: async () => { calls++; await held; return [] } })
  const warned: string[] = []
  const store = await redisRevocations({ redis, prefix: 'p:', timeout: 1000, maxAge: MAX_AGE, log: { warn: (msg: unknown) => { warned.push(String(msg)) }, info () {} } })
  t.equal(store.size(), 1, 'one entry, read three times')
  t.ok(store.isRevoked(session('dup', now - 5, 'o-dup')))
  t.equal(warned.length, 1, `${bad.length} ignored, logged once`)
  // One catch-up at a time; none after close.
  subscriber.emit('ready')
  subscriber.emit('ready')
  t.equal(calls, 1, 'a catch-up under way is not started again')
  release()
  await store.close()
  subscriber.emit('ready')
  t.equal(calls, 1, 'none after close')
})

t.test('entries read already expired are skipped; a legacy entry without its user is swept like the others', async (t) => {
  let clock = 10_000_000
  const members = [JSON.stringify(['s', jti('old')]), String(clock + 1000), JSON.stringify(['s', jti('gone')]), String(clock - CLOCK_SKEW - 1)]
  const { redis } = fakeRedis({ zscan: async () => ['0', members] })
  const store = await redisRevocations({ redis, prefix: 'p:', timeout: 1000, maxAge: MAX_AGE, log: quiet, now: () => clock })
  t.teardown(() => store.close())
  t.equal(store.size(), 1, 'the expired one was not kept')
  t.ok(store.isRevoked(session('old', 0)))
  clock += CLOCK_SKEW + 2000
  for (let i = 0; i < 300; i++) await store.revokeSession(session(`n${i}`, clock - 1))
  t.notOk(store.isRevoked(session('old', 0)), 'swept once expired')
  t.equal(store.size(), 300)
})

t.test('replicas are waited for only where the client can ask for them', async (t) => {
  const waits: unknown[][] = []
  // A client that reports a replica but cannot send WAIT: nothing is waited for.
  const noCall = fakeRedis({ info: async () => 'role:master\r\nconnected_slaves:1\r\n' })
  const plain = await redisRevocations({ redis: noCall.redis, prefix: 'p:', timeout: 1000, maxAge: MAX_AGE, log: quiet })
  t.teardown(() => plain.close())
  await plain.revokeSession(session('a', Date.now()))
  // INFO that names no replicas (a managed Redis that trims it): none waited for.
  const terse = fakeRedis({ info: async () => 'role:master\r\n', call: async (...args: unknown[]) => { waits.push(args); return 0 } })
  const unreplicated = await redisRevocations({ redis: terse.redis, prefix: 'p:', timeout: 1000, maxAge: MAX_AGE, log: quiet })
  t.teardown(() => unreplicated.close())
  await unreplicated.revokeSession(session('t', Date.now()))
  // One that can: every revocation waits for one replica, and a 0 is a 503 that says what is true.
  let acked = 1
  const withCall = fakeRedis({ info: async () => 'role:master\r\nconnected_slaves:1\r\n', call: async (...args: unknown[]) => { waits.push(args); return acked } })
  const replicated = await redisRevocations({ redis: withCall.redis, prefix: 'p:', timeout: 1000, maxAge: MAX_AGE, log: quiet })
  t.teardown(() => replicated.close())
  await replicated.revokeSession(session('b', Date.now()))
  t.same(waits.filter((w) => w[0] === 'WAIT'), [['WAIT', 1, 1000]])
  acked = 0
  await t.rejects(replicated.revokeSession(session('c', Date.now())), { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: /No Redis replica confirmed the revocation within 1000 ms: it applies now/ })
  t.ok(replicated.isRevoked(session('c', Date.now())), 'stored and published: it applies')
})
