// Revocation across a fleet with a real redis-server: instances in this process that share the key
// and one Redis (separate processes: test/instances.test.ts). Every fault the issue names: Redis
// unreachable at start, killed while serving, restarted; an instance restarted.
import Fastify from 'fastify'
import t from 'tap'
import weapp from '../../lib/index.js'
import { isError, KEY } from '../fixtures/app.js'
import { instance, login, mockWechat, status } from '../fixtures/fleet.js'
import { eventually, freePort, redisServer } from '../fixtures/redis.js'

t.test('a logout on one instance is refused by the others; a restarted instance still refuses it', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const [a, b, c] = [await instance(t, redis, mock), await instance(t, redis, mock), await instance(t, redis, mock)]
  const alice = await login(a, mock, 'o-alice')
  const bob = await login(b, mock, 'o-bob')
  for (const app of [a, b, c]) t.equal(await status(app, alice), 200, 'every instance accepts it (and memoizes it)')
  t.equal((await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${alice}` } })).statusCode, 204)
  t.equal(await status(a, alice), 401, 'at once on the instance that stored it')
  const took = await eventually(async () => (await status(b, alice)) === 401 && (await status(c, alice)) === 401)
  t.pass(`the others refuse it through pub/sub (${took} ms here)`)
  isError(t, await b.inject({ url: '/me', headers: { authorization: `Bearer ${alice}` } }), 401, 'WEAPP_SESSION_REVOKED')
  t.equal(await status(c, bob), 200, 'other sessions are untouched')
  // revokeUser on another instance.
  await c.weapp.revokeUser({ openid: 'o-bob' })
  await eventually(async () => (await status(a, bob)) === 401 && (await status(b, bob)) === 401)
  // An instance started later (or restarted) loads what was revoked.
  const d = await instance(t, redis, mock)
  t.equal(await status(d, alice), 401, 'a new instance refuses the logged-out session')
  t.equal(await status(d, bob), 401, 'and the revoked user')
  const carol = await login(d, mock, 'o-carol')
  t.equal(await status(a, carol), 200)
})

t.test('Redis unreachable at start: registration fails and says Redis', async (t) => {
  const mock = await mockWechat(t)
  const port = await freePort() // nothing listens here
  const { Redis } = await import('ioredis')
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 100 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(weapp, { appId: mock.appId, appSecret: mock.appSecret, key: KEY, timeout: 300, revocation: { redis: client } })
  await t.rejects(async () => { await app.ready() }, { message: /revocation: Redis is unreachable/ })
})

t.test('Redis killed while serving: known revocations still apply, new ones are refused with 503; after a restart all works again', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const [a, b] = [await instance(t, redis, mock), await instance(t, redis, mock)]
  const [alice, bob, carol] = [await login(a, mock, 'o-alice'), await login(a, mock, 'o-bob'), await login(a, mock, 'o-carol')]
  await a.weapp.revoke(alice)
  await eventually(async () => (await status(b, alice)) === 401)

  await redis.kill()
  await eventually(() => true)
  for (const app of [a, b]) {
    t.equal(await status(app, alice), 401, 'a known revocation still applies: no Redis on the authenticated path')
    t.equal(await status(app, bob), 200, 'and other sessions still work')
  }
  const out = await b.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${bob}` } })
  isError(t, out, 503, 'WEAPP_REVOCATION_UNAVAILABLE')
  t.match(out.json().message, /nothing was revoked/)
  t.equal(await status(b, bob), 200, 'not reported done, and not done: the session still works')
  await t.rejects(a.weapp.revokeUser({ openid: 'o-carol' }), { code: 'WEAPP_REVOCATION_UNAVAILABLE', statusCode: 503 })
  t.equal(await status(a, carol), 200)

  await redis.start() // empty: no persistence, so what was revoked before is only in the instances' memory
  await eventually(async () => (await b.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${bob}` } })).statusCode === 204)
  await eventually(async () => (await status(a, bob)) === 401)
  t.pass('after the restart the instances reconnect and resubscribe by themselves')
  t.equal(await status(a, alice), 401, 'what they knew is still refused')
})

t.test('a revocation published while an instance\'s subscription was down is applied when it reconnects', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const b = await instance(t, redis, mock)
  const alice = await login(b, mock, 'o-alice')
  const admin = redis.client()
  // As if another instance stored it while b's subscription was away: in the set, never published to b.
  const session = await b.weapp.unseal(alice)
  // Scored as the plugin scores an entry: when it was made + maxAge (30 days by default).
  await admin.zadd('test:revoked', Date.now() + 30 * 86400_000, JSON.stringify(['s', session.jti]))
  t.equal(await status(b, alice), 200, 'b has not heard of it')
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await eventually(async () => (await status(b, alice)) === 401)
  t.ok(b.logs.some((l) => l.includes('revocations caught up after Redis reconnected')), 'caught up, and logged')
  // Entries that are not the plugin's are ignored, and so are messages on its channel that are not.
  await admin.zadd('test:revoked', Date.now() + 60_000, 'not json', Date.now() + 60_000, '{"a":1}', Date.now() + 60_000, '["x","y"]')
  await admin.publish('test:revocations', 'not json')
  await admin.publish('test:revocations', '[1,2]')
  const reloaded = (): number => b.logs.filter((l) => l.includes('revocations caught up')).length
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await eventually(() => reloaded() === 2)
  const bob = await login(b, mock, 'o-bob')
  t.equal(await status(b, bob), 200, 'what is not the plugin\'s revokes nothing')
  t.equal(await status(b, alice), 401)
})

t.test('a revocation Redis refuses (another key of the same name) is a 503, never a 204', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock)
  const alice = await login(a, mock, 'o-alice')
  await redis.client().set('test:revoked', 'something of the app\'s own')
  const out = await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${alice}` } })
  isError(t, out, 503, 'WEAPP_REVOCATION_UNAVAILABLE')
  t.equal(await status(a, alice), 200, 'not revoked here either')
  t.ok(a.logs.some((l) => l.includes('WRONGTYPE')), 'Redis\'s reason is logged as the cause')
})

t.test('resetSessionKey with Redis: at most one reset per user per interval across the fleet', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const extra = { revocation: { redis: redis.client(), prefix: 'reset:', resetSessionKey: { interval: '1h' } } }
  const [a, b] = [await instance(t, redis, mock, extra), await instance(t, redis, mock, extra)]
  const first = await login(a, mock, 'o-alice')
  const second = await login(b, mock, 'o-alice')
  t.equal((await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${first}` } })).statusCode, 204)
  t.equal(mock.app(mock.appId).resets('o-alice'), 1, 'the first logout resets the key')
  t.equal((await b.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${second}` } })).statusCode, 204)
  t.equal(mock.app(mock.appId).resets('o-alice'), 1, 'another instance within the interval does not reset it again')
  t.match(b.logs.join('\n'), /less than resetSessionKey\.interval ago/)
  const bob = await login(b, mock, 'o-bob')
  await b.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${bob}` } })
  t.equal(mock.app(mock.appId).resets('o-bob'), 1, 'another user is counted apart')
})

t.test('resetSessionKey with Redis: at most one reset per user per interval across the fleet', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const extra = { revocation: { redis: redis.client(), prefix: 'reset:', resetSessionKey: { interval: '1h' } } }
  const [a, b] = [await instance(t, redis, mock, extra), await instance(t, redis, mock, extra)]
  const first = await login(a, mock, 'o-alice')
  const second = await login(b, mock, 'o-alice')
  t.equal((await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${first}` } })).statusCode, 204)
  t.equal(mock.app(mock.appId).resets('o-alice'), 1, 'the first logout resets the key')
  t.equal((await b.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${second}` } })).statusCode, 204)
  t.equal(mock.app(mock.appId).resets('o-alice'), 1, 'another instance within the interval does not reset it again')
  t.match(b.logs.join('\n'), /less than resetSessionKey\.interval ago/)
  const bob = await login(b, mock, 'o-bob')
  await b.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${bob}` } })
  t.equal(mock.app(mock.appId).resets('o-bob'), 1, 'another user is counted apart')
})
