// Sessions per device: the device label, the per-user index (listSessions), maxSessions and
// oneSessionPer, "kicked" told apart from "revoked", in memory and with a real redis-server.
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp, { type FastifyWeappOptions } from '../../lib/index.js'
import type { MockWechat } from '../../lib/testing.js'
import { isError, KEY } from '../fixtures/app.js'
import { forge, open } from '../fixtures/jwe.js'
import { mockWechat } from '../fixtures/fleet.js'
import { CORP, STAFF, kinds } from '../fixtures/kinds.js'
import { eventually, redisServer, type RedisServer } from '../fixtures/redis.js'

type Store = 'memory' | RedisServer

async function app (t: Test, mock: MockWechat, store: Store, extra: Partial<FastifyWeappOptions> = {}): Promise<FastifyInstance> {
  const instance = Fastify()
  t.teardown(() => instance.close())
  const revocation = store === 'memory' ? 'memory' : { redis: store.client(), prefix: 'dev:' }
  await instance.register(weapp, { appId: mock.appId, appSecret: mock.appSecret, key: KEY, apiBaseUrl: mock.url, timeout: 1000, revocation, ...extra } as FastifyWeappOptions)
  instance.get('/me', { onRequest: instance.weapp.authenticate }, async (request) => ({ openid: request.weappSession?.openid, device: request.weappSession?.device ?? null }))
  await instance.ready()
  return instance
}

async function login (instance: FastifyInstance, mock: MockWechat, openid: string, device?: string): Promise<string> {
  const res = await instance.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login(openid), ...(device === undefined ? {} : { device }) } })
  if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}: ${res.body}`)
  return res.json().session
}

const me = async (instance: FastifyInstance, session: string) => await instance.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })

for (const kind of ['memory', 'redis'] as const) {
  const storeFor = async (t: Test): Promise<Store> => kind === 'memory' ? 'memory' : await redisServer(t)

  t.test(`${kind}: maxSessions ends the oldest; it answers WEAPP_SESSION_KICKED, not REVOKED`, async (t) => {
    const mock = await mockWechat(t)
    const a = await app(t, mock, await storeFor(t), { maxSessions: 2 })
    const first = await login(a, mock, 'o-1', 'wx:ios')
    const second = await login(a, mock, 'o-1', 'wx:android')
    t.equal((await me(a, first)).statusCode, 200, 'two sessions fit')
    const other = await login(a, mock, 'o-2')
    t.equal((await me(a, first)).statusCode, 200, 'another user\'s login counts for that user alone')
    const third = await login(a, mock, 'o-1', 'wx:devtools')
    isError(t, await me(a, first), 401, 'WEAPP_SESSION_KICKED')
    t.match((await me(a, first)).json().message, /later login of the same user/)
    t.equal((await me(a, second)).statusCode, 200)
    t.equal((await me(a, third)).statusCode, 200)
    t.equal((await me(a, other)).statusCode, 200)
    // A logout is a revocation, told apart from an eviction.
    t.equal((await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${second}` } })).statusCode, 204)
    isError(t, await me(a, second), 401, 'WEAPP_SESSION_REVOKED')
    // The logged-out session left the index: the next login evicts nobody (two live: third and the new one).
    const fourth = await login(a, mock, 'o-1')
    t.equal((await me(a, third)).statusCode, 200, 'a logged-out session no longer counts')
    const listed = await a.weapp.listSessions({ openid: 'o-1' })
    t.same(listed.map((s) => s.device), [undefined, 'wx:devtools'], 'newest first')
    t.equal((await me(a, fourth)).statusCode, 200)
  })

  t.test(`${kind}: listSessions gives each live session; revoke(jti) ends one`, async (t) => {
    const mock = await mockWechat(t)
    const a = await app(t, mock, await storeFor(t), { maxSessions: 2 })
    const before = Date.now()
    const phone = await login(a, mock, 'o-1', 'wx:ios')
    const pad = await login(a, mock, 'o-1', 'wx:ipad')
    const listed = await a.weapp.listSessions({ openid: 'o-1', appId: mock.appId })
    t.equal(listed.length, 2)
    const [newest, oldest] = listed as [typeof listed[0], typeof listed[0]]
    t.same(Object.keys(newest).sort(), ['appId', 'device', 'expiresAt', 'jti', 'loginAt', 'platform', 'renewedAt'])
    t.match(newest, { appId: mock.appId, platform: 'wechat', device: 'wx:ipad', renewedAt: undefined })
    t.equal(oldest.device, 'wx:ios')
    t.ok(oldest.loginAt >= before && oldest.loginAt <= newest.loginAt, 'login times, ms')
    t.ok(newest.expiresAt > Date.now() + 3600_000, 'expiry, ms')
    const session = (await a.weapp.unseal(pad))
    t.equal(newest.jti, session.jti, 'the session\'s id')
    t.same(await a.weapp.listSessions({ openid: 'o-1', appId: 'wxanotherapp000000' }), [], 'another app\'s: none')
    await a.weapp.revoke(newest.jti)
    isError(t, await me(a, pad), 401, 'WEAPP_SESSION_REVOKED')
    t.equal((await me(a, phone)).statusCode, 200)
    t.same((await a.weapp.listSessions({ openid: 'o-1' })).map((s) => s.device), ['wx:ios'], 'the revoked one is not listed')
    // A session revoked by its id no longer counts toward the cap: with two allowed, the next login evicts nobody.
    const next = await login(a, mock, 'o-1', 'wx:mac')
    t.equal((await me(a, phone)).statusCode, 200, 'the older session keeps its place')
    t.equal((await me(a, next)).statusCode, 200)
    await a.weapp.revokeUser({ openid: 'o-1' })
    t.same(await a.weapp.listSessions({ openid: 'o-1' }), [], 'nor after revokeUser')
    await t.rejects(a.weapp.listSessions({} as never), { name: 'TypeError', message: /listSessions\(user\) needs/ })
  })

  t.test(`${kind}: oneSessionPer 'device' ends the same device type's session only`, async (t) => {
    const mock = await mockWechat(t)
    const a = await app(t, mock, await storeFor(t), { oneSessionPer: 'device' })
    const ios = await login(a, mock, 'o-1', 'wx:ios')
    const android = await login(a, mock, 'o-1', 'wx:android')
    const bare = await login(a, mock, 'o-1')
    const ios2 = await login(a, mock, 'o-1', 'wx:ios')
    isError(t, await me(a, ios), 401, 'WEAPP_SESSION_KICKED')
    for (const s of [android, bare, ios2]) t.equal((await me(a, s)).statusCode, 200)
    const bare2 = await login(a, mock, 'o-1')
    isError(t, await me(a, bare), 401, 'WEAPP_SESSION_KICKED') // no label is a device type of its own
    t.equal((await me(a, bare2)).statusCode, 200)
  })

  t.test(`${kind}: oneSessionPer 'app' and 'user' across two apps of one openid`, async (t) => {
    const mock = await mockWechat(t)
    const other = 'wxsecondapp0000001'
    const second = mock.addApp(other, 'second-app-secret-0123456789abcd')
    const store = await storeFor(t)
    const apps = [{ appId: mock.appId, appSecret: mock.appSecret }, { appId: other, appSecret: 'second-app-secret-0123456789abcd' }]
    for (const per of ['app', 'user'] as const) {
      const revocation = store === 'memory' ? 'memory' : { redis: store.client(), prefix: `dev-${per}:` }
      const a = await app(t, mock, store, { oneSessionPer: per, apps, appId: undefined, appSecret: undefined, revocation } as never)
      const inFirst = (await a.inject({ method: 'POST', url: '/weapp/login', payload: { appId: mock.appId, code: mock.login(`o-${per}`) } })).json().session
      const inSecond = (await a.inject({ method: 'POST', url: '/weapp/login', payload: { appId: other, code: second.login(`o-${per}`) } })).json().session
      t.equal((await me(a, inSecond)).statusCode, 200)
      t.equal((await me(a, inFirst)).statusCode, per === 'app' ? 200 : 401, `${per}: the first app's session`)
      t.equal((await a.weapp.listSessions({ openid: `o-${per}` })).length, per === 'app' ? 2 : 1)
      t.equal((await a.weapp.listSessions({ openid: `o-${per}`, appId: other })).length, 1)
    }
  })

  t.test(`${kind}: a kicked session's renewals stay kicked; renewals reach the index`, async (t) => {
    const mock = await mockWechat(t)
    const a = await app(t, mock, await storeFor(t), { maxSessions: 1, expiresIn: '1h', renewWithin: '10m' })
    const first = await login(a, mock, 'o-1', 'wx:ios')
    // The same login 5 minutes from its end (as after 55 minutes of use): due for renewal.
    const { payload } = open(first, KEY)
    const now = Math.floor(Date.now() / 1000)
    const near = forge(KEY, { ...payload, iat: now - 3300, exp: now + 300 })
    const res = await me(a, near)
    const renewed = res.headers['x-weapp-session'] as string
    t.type(renewed, 'string', 'renewed')
    t.equal(res.json().device, 'wx:ios', 'the label is in the session')
    t.equal((await me(a, renewed)).json().device, 'wx:ios', 'and in its renewal')
    await eventually(async () => (await a.weapp.listSessions({ openid: 'o-1' }))[0]?.renewedAt !== undefined, 5000)
    const [listed] = await a.weapp.listSessions({ openid: 'o-1' })
    t.ok((listed?.expiresAt ?? 0) >= (now + 3500) * 1000, 'the index has the renewal\'s expiry')
    await login(a, mock, 'o-1', 'wx:android')
    for (const s of [first, near, renewed]) {
      const out = await me(a, s)
      isError(t, out, 401, 'WEAPP_SESSION_KICKED')
      t.notOk(out.headers['x-weapp-session'], 'never renewed')
    }
  })

  t.test(`${kind}: with revocation alone, listSessions lists every session, and only the index's bound caps them`, async (t) => {
    const mock = await mockWechat(t)
    const a = await app(t, mock, await storeFor(t))
    const sessions = [await login(a, mock, 'o-1', 'wx:ios'), await login(a, mock, 'o-1', 'wx:ios'), await login(a, mock, 'o-1', 'wx:android')]
    for (const s of sessions) t.equal((await me(a, s)).statusCode, 200, 'none evicted')
    const listed = await a.weapp.listSessions({ openid: 'o-1', appId: mock.appId })
    t.same(listed.map((s) => s.device).sort(), ['wx:android', 'wx:ios', 'wx:ios'], 'a "my devices" page without a cap')
    await a.weapp.revoke(listed.find((s) => s.device === 'wx:android')?.jti as string)
    isError(t, await me(a, sessions[2] as string), 401, 'WEAPP_SESSION_REVOKED')
    t.same((await a.weapp.listSessions({ openid: 'o-1' })).map((s) => s.device), ['wx:ios', 'wx:ios'])
    // The index's bound: a user holds 100 sessions; the 101st login ends the oldest.
    const identity = await a.weapp.code2Session(mock.login('o-many'))
    const many: string[] = []
    for (let i = 0; i < 101; i++) many.push(await a.weapp.seal(identity))
    const codes = await Promise.all(many.map(async (s) => (await me(a, s)).statusCode))
    t.equal(codes.filter((c) => c === 401).length, 1, 'one of 101 evicted')
    t.equal((await a.weapp.listSessions({ openid: 'o-many' })).length, 100)
  })

  t.test(`${kind}: a heal is a renewal of the same login: no new login, its expiry recorded`, async (t) => {
    const mock = await mockWechat(t)
    const a = await app(t, mock, await storeFor(t), { maxSessions: 1, expiresIn: '1h' })
    const first = await login(a, mock, 'o-1', 'wx:ios')
    const { payload } = open(first, KEY)
    const now = Math.floor(Date.now() / 1000)
    const near = forge(KEY, { ...payload, iat: now - 3000, exp: now + 600 })
    const res = await a.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization: `Bearer ${near}` }, payload: { ...mock.encrypt('o-1', { step: 1 }), code: mock.login('o-1') } })
    t.equal(res.statusCode, 200)
    const healed = open(res.json().session, KEY).payload
    t.equal(healed.jti, payload.jti, 'the same login')
    t.ok((healed.exp as number) >= now + 3600, 'renewed')
    t.equal((await me(a, first)).statusCode, 200, 'which evicts nothing')
    await eventually(async () => (await a.weapp.listSessions({ openid: 'o-1' }))[0]?.renewedAt !== undefined, 5000)
    const listed = await a.weapp.listSessions({ openid: 'o-1' })
    t.same(listed.map((s) => s.jti), [payload.jti], 'listed once')
    t.equal(listed[0]?.expiresAt, (healed.exp as number) * 1000, 'with the heal\'s expiry')
  })

  t.test(`${kind}: seal(identity, { device }) is a login like the route's`, async (t) => {
    const mock = await mockWechat(t)
    const a = await app(t, mock, await storeFor(t), { maxSessions: 1 })
    const first = await login(a, mock, 'o-1')
    const identity = await a.weapp.code2Session(mock.login('o-1'))
    const sealed = await a.weapp.seal(identity, { device: 'web' })
    isError(t, await me(a, first), 401, 'WEAPP_SESSION_KICKED')
    t.equal((await me(a, sealed)).json().device, 'web')
    await t.rejects(a.weapp.seal(identity, { device: 'a"b' }), { name: 'TypeError', message: /device must be a label/ })
  })
}

t.test('a device label that is not one is a 400, and sealed nowhere', async (t) => {
  const mock = await mockWechat(t)
  const a = await app(t, mock, 'memory')
  for (const device of ['', 'x'.repeat(65), 'tab\there', 'quote"', 'é', 7]) {
    const res = await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1'), device } })
    t.equal(res.statusCode, 400, JSON.stringify(device))
    t.equal(res.json().code, 'FST_ERR_VALIDATION')
  }
  const labelled = await login(a, mock, 'o-1', 'x'.repeat(64))
  t.equal((await me(a, labelled)).json().device, 'x'.repeat(64), '64 printable characters')
  t.equal((await me(a, await login(a, mock, 'o-1'))).json().device, null, 'none given: none')
  const stateless = await app(t, mock, 'memory', { revocation: false })
  await t.rejects(stateless.weapp.listSessions({ openid: 'o-1' }), { name: 'TypeError', message: /listSessions\(\) needs the revocation option/ })
})

t.test('the options: limits need revocation, and are checked', async (t) => {
  const mock = await mockWechat(t)
  for (const [extra, message] of [
    [{ maxSessions: 2, revocation: false }, /maxSessions needs the revocation option/],
    [{ oneSessionPer: 'device', revocation: false }, /oneSessionPer needs the revocation option/],
    [{ maxSessions: 0 }, /maxSessions must be a whole number from 1 to 100/],
    [{ maxSessions: 101 }, /maxSessions must be a whole number from 1 to 100/],
    [{ maxSessions: 1.5 }, /maxSessions must be a whole number/],
    [{ oneSessionPer: 'tab' }, /oneSessionPer must be 'device'/]
  ] as const) {
    const instance = Fastify()
    t.teardown(() => instance.close())
    instance.register(weapp, { appId: mock.appId, appSecret: mock.appSecret, key: KEY, ...{ revocation: 'memory' }, ...extra } as never)
    await t.rejects(async () => { await instance.ready() }, { code: 'WEAPP_INVALID_OPTION', message })
  }
})

t.test('redis: concurrent logins on two instances keep one session when one is allowed', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const [a, b] = [await app(t, mock, redis, { maxSessions: 1 }), await app(t, mock, redis, { maxSessions: 1 })]
  const sessions = await Promise.all(Array.from({ length: 8 }, async (_, i) => await login(i % 2 === 0 ? a : b, mock, 'o-race')))
  await eventually(async () => {
    const codes = await Promise.all(sessions.map(async (s, i) => (await me(i % 2 === 0 ? b : a, s)).statusCode))
    return codes.filter((c) => c === 200).length === 1
  })
  t.pass('exactly one of eight concurrent logins lives, on both instances')
  t.equal((await a.weapp.listSessions({ openid: 'o-race' })).length, 1)
})

t.test('redis: without a cap, a login Redis cannot record is answered all the same (the index only lists)', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await app(t, mock, redis)
  const kept = await login(a, mock, 'o-1')
  await redis.kill()
  const res = await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1') } })
  t.equal(res.statusCode, 200, 'revocation alone: Redis is not needed to log in')
  t.equal((await me(a, res.json().session)).statusCode, 200)
  t.equal((await me(a, kept)).statusCode, 200, 'authentication needs no Redis')
  await t.rejects(a.weapp.listSessions({ openid: 'o-1' }), { code: 'WEAPP_REVOCATION_UNAVAILABLE' })
  await redis.start()
})

t.test('redis: down at a login that may evict, the login is a 503; sessions keep working from memory', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await app(t, mock, redis, { maxSessions: 1 })
  const kept = await login(a, mock, 'o-1')
  await login(a, mock, 'o-2')
  await redis.kill()
  const res = await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1') } })
  isError(t, res, 503, 'WEAPP_REVOCATION_UNAVAILABLE')
  t.notOk(res.json().session, 'no session answered')
  t.match(res.json().message, /no session was issued/)
  t.equal((await me(a, kept)).statusCode, 200, 'authentication needs no Redis')
  await t.rejects(a.weapp.listSessions({ openid: 'o-1' }), { code: 'WEAPP_REVOCATION_UNAVAILABLE' })
  // Back, and empty (no persistence here): the index counts from the next login on.
  await redis.start()
  let next = ''
  await eventually(async () => {
    const res = await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1') } })
    next = res.statusCode === 200 ? res.json().session : ''
    return next !== ''
  })
  await login(a, mock, 'o-1')
  isError(t, await me(a, next), 401, 'WEAPP_SESSION_KICKED')
})

t.test('redis: what the index holds that this plugin cannot have written is dropped, never an error', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await app(t, mock, redis, { maxSessions: 2 })
  const first = await login(a, mock, 'o-1')
  const raw = redis.client()
  const key = '{dev:revoked}:sessions:["*","o-1"]'
  await raw.hset(key, 'garbage', 'not json', 'other', '[1,2]', 'AAAAAAAAAAAAAAAAAAAAAA', '["x","wechat",null,"no",1,null]')
  await raw.zadd('dev:revoked', 1, '["k","BBBBBBBBBBBBBBBBBBBBBB"]')
  await login(a, mock, 'o-1')
  t.equal(await raw.zscore('dev:revoked', '["k","BBBBBBBBBBBBBBBBBBBBBB"]'), null, 'a login drops expired revocations too')
  t.equal((await me(a, first)).statusCode, 200, 'garbage did not count toward the cap')
  t.same(await raw.hkeys(key).then((keys) => keys.length), 2, 'and was dropped')
  await a.weapp.revokeUser({ openid: 'o-1' })
  await raw.hset(key, 'garbage', 'not json')
  await a.weapp.revokeUser({ openid: 'o-1' })
  t.same(await raw.hkeys(key), [], 'a revocation drops it too')
})

t.test('a heal never starts a login: near maxAge it keeps its lineage and index entry; past it, log in again', async (t) => {
  const mock = await mockWechat(t)
  const a = await app(t, mock, 'memory', { maxSessions: 1, maxAge: '30d' })
  const first = await login(a, mock, 'o-1', 'wx:ios')
  const { payload } = open(first, KEY)
  const heal = async (token: string) => await a.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization: `Bearer ${token}` }, payload: { ...mock.encrypt('o-1', { step: 1 }), code: mock.login('o-1') } })
  // The same login 30 s before its maxAge: the heal lasts what is left of it, no more.
  const lat = Date.now() - 30 * 86400_000 + 30_000
  const res = await heal(forge(KEY, { ...payload, lat }))
  t.equal(res.statusCode, 200)
  const healed = open(res.json().session, KEY).payload
  t.same([healed.jti, healed.lat], [payload.jti, lat], 'the same login')
  t.ok((healed.exp as number) <= Math.floor((lat + 30 * 86400_000) / 1000), 'never past loginAt + maxAge')
  t.ok(res.json().expiresIn <= 30, `expiresIn ${res.json().expiresIn as number}: what is left`)
  t.equal((await me(a, res.json().session)).json().device, 'wx:ios', 'the device label is kept')
  t.equal((await me(a, first)).statusCode, 200, 'nothing evicted')
  t.same((await a.weapp.listSessions({ openid: 'o-1' })).map((s) => s.jti), [payload.jti], 'one login indexed')
  // Past maxAge (a token of a login that maxAge, since lowered, has ended): log in again.
  const past = await heal(forge(KEY, { ...payload, lat: Date.now() - 30 * 86400_000 - 60_000 }))
  isError(t, past, 401, 'WEAPP_SESSION_EXPIRED')
  t.match(past.json().message, /^This login is older than maxAge, which no heal renews past; log in again \(WeChat: wx\.login\(\) then the login route\)$/)
  t.notOk(past.json().session, 'no session')
  t.same((await a.weapp.listSessions({ openid: 'o-1' })).map((s) => s.jti), [payload.jti], 'and no login indexed')
})

t.test('a token whose device label is not a string does not open', async (t) => {
  const mock = await mockWechat(t)
  const a = await app(t, mock, 'memory')
  const { payload } = open(await login(a, mock, 'o-1'), KEY)
  isError(t, await me(a, forge(KEY, { ...payload, dv: 5 })), 401, 'WEAPP_SESSION_INVALID')
})

t.test('a WeCom member\'s sessions are listed and capped by company and UserID', async (t) => {
  const h = await kinds(t, { plugin: { revocation: 'memory', oneSessionPer: 'device' } })
  const staff = h.mock.wecomApp(STAFF)
  const login = async (userId: string, device: string): Promise<string> =>
    (await h.post('/weapp/login', { code: staff.login(userId), appId: STAFF, device })).json().session
  const first = await login('zhangsan', 'wx:ios')
  await login('lisi', 'wx:ios')
  const pad = await login('zhangsan', 'wx:ipad')
  t.equal((await h.app.inject({ url: '/whoami', headers: { authorization: `Bearer ${first}` } })).statusCode, 200, 'another member\'s login evicts nothing of this one')
  await login('zhangsan', 'wx:ios')
  isError(t, await h.app.inject({ url: '/whoami', headers: { authorization: `Bearer ${first}` } }), 401, 'WEAPP_SESSION_KICKED')
  const member = { corpId: CORP, userId: 'zhangsan', appId: STAFF }
  t.same((await h.app.weapp.listSessions(member)).map((s) => s.device), ['wx:ios', 'wx:ipad'])
  await h.app.weapp.revoke(pad)
  t.same((await h.app.weapp.listSessions(member)).map((s) => s.device), ['wx:ios'], 'a revoked session is not listed')
  t.same((await h.app.weapp.listSessions({ corpId: CORP, userId: 'lisi', appId: STAFF })).length, 1)
})
