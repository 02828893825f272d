// Revocation in Redis, as an attacker and an operator find it: a login's lineage stays ended on an
// instance started later, entries the API cannot make are ignored, the set is read page by page,
// a message lost without any reconnect event is caught up, and a 503 says what is true.
import t from 'tap'
import { MAX_REVOKED_PER_USER, RECONCILE_INTERVAL, userKey } from '../../lib/revocation/store.js'
import { isError, KEY } from '../fixtures/app.js'
import { claims, forge } from '../fixtures/jwe.js'
import { instance, login, mockWechat, status } from '../fixtures/fleet.js'
import { eventually, redisServer } from '../fixtures/redis.js'

const MAX_AGE = 30 * 86400_000

t.test('an instance started after a revocation refuses every token of that login, whatever the revoked token said', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock)
  const alice = await login(a, mock, 'o-alice')
  const session = await a.weapp.unseal(alice)
  // The copy revoked had already expired (its exp was its entry's life until now): its sibling has not.
  await a.weapp.revoke({ ...session, expiresAt: Date.now() - 1000 })
  for (let i = 0; i < 20; i++) await a.weapp.revoke(await a.weapp.unseal(await login(a, mock, `o-${i}`))) // trims run
  const d = await instance(t, redis, mock)
  t.equal(await status(d, alice), 401, 'refused by an instance that loaded the set later')
  t.equal(await status(a, alice), 401)
})

t.test('many logouts of one user are a handful of entries, in Redis and in memory', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const [a, b] = [await instance(t, redis, mock), await instance(t, redis, mock)]
  const sessions: string[] = []
  for (let i = 0; i < 30; i++) {
    const one = await login(i % 2 === 0 ? a : b, mock, 'o-many')
    sessions.push(one)
    const at = i % 2 === 0 ? a : b
    t.equal((await at.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${one}` } })).statusCode, 204)
    await eventually(async () => (await status(i % 2 === 0 ? b : a, one)) === 401) // each instance knows all before the next
  }
  const stored = await redis.client().zcard('test:revoked')
  t.ok(stored <= MAX_REVOKED_PER_USER + 1, `${stored} entries in Redis for 30 logouts`)
  const c = await instance(t, redis, mock)
  for (const one of sessions) t.equal(await status(c, one), 401)
  const later = await login(c, mock, 'o-many')
  t.equal(await status(a, later), 200, 'a login after them works')
})

t.test('entries the API cannot make are ignored and logged once, from the set and from the channel', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const admin = redis.client()
  const now = Date.now()
  const victim = JSON.stringify(['u', userKey(undefined, { openid: 'o-victim' }), now + 10 * 86400_000])
  await admin.zadd('test:revoked',
    now + MAX_AGE, victim, // "logins until" ten days from now: would end every later login
    now + 10 * MAX_AGE, JSON.stringify(['u', userKey(undefined, { openid: 'o-kept' }), now + 30_000]), // kept past maxAge (dated within the skew)
    now + MAX_AGE, JSON.stringify(['s', 'not-a-jti']),
    now + MAX_AGE, JSON.stringify(['u', '["*"]', now]))
  const a = await instance(t, redis, mock)
  const victimSession = await login(a, mock, 'o-victim')
  t.equal(await status(a, victimSession), 200, 'a planted future "logins until" ends nothing')
  t.equal(await status(a, await login(a, mock, 'o-kept')), 200)
  await admin.publish('test:revocations', JSON.stringify([victim, now + MAX_AGE]))
  await admin.publish('test:revocations', 'not json')
  // Ordered after them on the channel: once this one applies, the others were read.
  const bob = await login(a, mock, 'o-bob')
  const marker = await a.weapp.unseal(bob)
  await admin.publish('test:revocations', JSON.stringify([JSON.stringify(['s', marker.jti]), now + MAX_AGE]))
  await eventually(async () => (await status(a, bob)) === 401)
  t.equal(await status(a, victimSession), 200, 'nor one published')
  t.equal(a.logs.filter((l) => l.includes('ignored a revocation entry')).length, 1, 'logged once')
})

t.test('the set is read page by page: thousands of entries load whole', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const admin = redis.client()
  const now = Date.now()
  const args: Array<string | number> = []
  for (let i = 0; i < 5000; i++) args.push(now + MAX_AGE, JSON.stringify(['u', userKey(undefined, { openid: `o-${i}` }), now]))
  await admin.zadd('test:revoked', ...args)
  const a = await instance(t, redis, mock)
  for (const i of [0, 2500, 4999]) {
    const before = forge(KEY, claims(mock.appId, { sub: `o-${i}`, jti: `page-jti-${String(i).padStart(13, '0')}`, lat: now - 1000 }))
    t.equal(await status(a, before), 401, `o-${i}, who logged in before, is refused`)
  }
  const session = await login(a, mock, 'o-4999')
  t.equal(await status(a, session), 200, 'a login after the revocation works')
  // Made while its subscription is away: the catch-up reads them page by page too.
  const later = Date.now()
  const more: Array<string | number> = []
  for (let i = 0; i < 2500; i++) more.push(later + MAX_AGE, JSON.stringify(['u', userKey(undefined, { openid: `o-late-${i}` }), later]))
  await admin.zadd('test:revoked', ...more)
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  const last = forge(KEY, claims(mock.appId, { sub: 'o-late-2499', jti: 'page-jti-late000000000', lat: later - 1 }))
  await eventually(async () => (await status(a, last)) === 401)
  t.pass('the 2,500th entry of the catch-up applies')
  t.ok(a.logs.every((l) => !l.includes('ignored')), 'every entry was the plugin\'s shape')
})

t.test(`a message lost with no reconnect event is caught up within ${RECONCILE_INTERVAL} ms`, async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock)
  const alice = await login(a, mock, 'o-alice')
  const session = await a.weapp.unseal(alice)
  // As another instance stores it, but the message never arrives (a cluster node moved the subscription).
  await redis.client().zadd('test:revoked', Date.now() + MAX_AGE, JSON.stringify(['s', session.jti, userKey(session.appId, session), session.loginAt]))
  t.equal(await status(a, alice), 200, 'not heard of yet')
  await eventually(async () => (await status(a, alice)) === 401, 3 * RECONCILE_INTERVAL)
  t.pass('applied by the periodic catch-up')
})

t.test('a store that times out says the revocation may still apply, and it does', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock, { timeout: 300 })
  const alice = await login(a, mock, 'o-alice')
  await redis.client().call('CLIENT', 'PAUSE', '1500', 'WRITE')
  const out = await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${alice}` } })
  isError(t, out, 503, 'WEAPP_REVOCATION_UNAVAILABLE')
  t.match(out.json().message, /may still apply/)
  t.notMatch(out.json().message, /nothing was revoked/, 'never claims what is not known')
  await eventually(async () => (await status(await instance(t, redis, mock), alice)) === 401)
  t.pass('Redis ran it once unpaused')
})

t.test('a revocation Redis refuses is applied nowhere, not even later', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const [a, b] = [await instance(t, redis, mock), await instance(t, redis, mock)]
  const [alice, bob] = [await login(a, mock, 'o-alice'), await login(a, mock, 'o-bob')]
  const admin = redis.client()
  await admin.set('test:revoked', 'something of the app\'s own')
  isError(t, await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${alice}` } }), 503, 'WEAPP_REVOCATION_UNAVAILABLE')
  await admin.del('test:revoked')
  t.equal((await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${bob}` } })).statusCode, 204)
  // Messages arrive in order: once b has bob's, it would have had alice's had it been published.
  await eventually(async () => (await status(b, bob)) === 401)
  t.equal(await status(b, alice), 200, 'the refused one was never published')
  t.equal(await status(a, alice), 200)
})
