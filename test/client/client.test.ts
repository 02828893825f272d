import Fastify from 'fastify'
import t, { type Test } from 'tap'
import weapp, { SessionInvalidError } from '../../lib/index.js'
import { createWeappClient, WeappClientError } from '../../client/src/index.js'
import { createWx, MockWechat, type MockWx } from '../../lib/testing.js'
import { KEY } from '../fixtures/app.js'
import { sessionKey } from '../fixtures/client.js'
import { claims, forge } from '../fixtures/jwe.js'

interface Served { url: string, hasCode: boolean, auth: boolean }

/** The real plugin on a loopback port, the mock WeChat API, and a record of every route call. */
async function setup (t: Test): Promise<{ base: string, mock: MockWechat, wx: MockWx, served: Served[] }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const app = Fastify()
  t.teardown(() => app.close())
  const served: Served[] = []
  app.addHook('preHandler', async (request) => {
    served.push({ url: request.url, hasCode: typeof (request.body as { code?: unknown } | undefined)?.code === 'string', auth: request.headers.authorization !== undefined })
  })
  await app.register(weapp, { appId: mock.appId, appSecret: mock.appSecret, key: KEY, apiBaseUrl: mock.url })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => ({ openid: request.weappSession?.openid }))
  app.post('/echo', { onRequest: app.weapp.authenticate }, async (request) => ({ got: request.body, type: request.headers['content-type'] }))
  app.get('/always-invalid', async () => { throw new SessionInvalidError() })
  app.get('/slow-me', { onRequest: async () => { await new Promise((resolve) => setTimeout(resolve, 150)) }, preHandler: app.weapp.authenticate }, async (request) => ({ openid: request.weappSession?.openid }))
  app.post('/raw', async (request) => ({ body: request.body }))
  app.get('/plain-error', async (_request, reply) => await reply.code(503).type('text/plain').send('down'))
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  return { base, mock, wx: createWx(mock, 'o-alice'), served }
}

t.test('login, then requests with the session; the session survives a restart of the client', async (t) => {
  const { base, wx, mock } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  const login = await api.login()
  t.equal(login.openid, 'o-alice')
  t.match(wx.storage.get(sessionKey(base)), { session: login.session, expiresAt: Number })
  t.same(await api.request({ url: '/me' }), { openid: 'o-alice' })
  const again = createWeappClient({ baseUrl: `${base}/`, wx })
  t.equal(again.session(), login.session, 'restored from storage')
  t.same(await again.request({ url: '/me' }), { openid: 'o-alice' })
  t.equal(wx.logins, 1, 'no new login')
  t.equal(mock.callsTo('/sns/jscode2session').length, 1)
})

t.test('concurrent first calls cause one login', async (t) => {
  const { base, wx, mock } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  const results = await Promise.all(Array.from({ length: 8 }, async () => await api.request<{ openid: string }>({ url: '/me' })))
  t.ok(results.every((r) => r.openid === 'o-alice'))
  t.equal(wx.logins, 1)
  t.equal(mock.callsTo('/sns/jscode2session').length, 1)
})

t.test('a refused session is renewed once, transparently; concurrent refusals share the login', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  await api.login()
  wx.setStorageSync(sessionKey(base), { session: 'not-a-session', expiresAt: Date.now() + 3600_000 })
  const stale = createWeappClient({ baseUrl: base, wx })
  const results = await Promise.all([1, 2, 3].map(async () => await stale.request<{ openid: string }>({ url: '/me' })))
  t.ok(results.every((r) => r.openid === 'o-alice'))
  t.equal(wx.logins, 2, 'one more login for all three')
})

t.test('a second session failure surfaces with the server\'s code', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  const err = await api.request({ url: '/always-invalid' }).catch((e: unknown) => e)
  t.ok(err instanceof WeappClientError)
  t.match(err, { code: 'WEAPP_SESSION_INVALID', statusCode: 401, message: /log in again/ })
  t.equal(wx.logins, 2, 'the first login, then exactly one renewal')
})

t.test('an expired stored session is renewed before it is sent', async (t) => {
  const { base, wx, served } = await setup(t)
  wx.setStorageSync(sessionKey(base), { session: 'old', expiresAt: Date.now() - 1 })
  const api = createWeappClient({ baseUrl: base, wx })
  t.equal(api.session(), undefined)
  await api.request({ url: '/me' })
  t.same(served.map((s) => s.url), ['/weapp/login', '/me'])
})

t.test('ensureSession logs in only when needed: no session, expired, or WeChat\'s session lapsed', async (t) => {
  const { base, wx, mock, served } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  await api.ensureSession()
  t.equal(wx.logins, 1, 'no session: logged in')
  await api.ensureSession()
  t.equal(wx.logins, 1, 'fresh session and WeChat session: nothing to do')
  wx.lapse()
  await api.ensureSession()
  t.equal(wx.logins, 2, 'WeChat\'s session lapsed: logged in again, and the server holds the new key')
  // The order that works: the data fetched now opens with the session's key at the first attempt.
  const data = await api.decrypt(await new Promise((resolve, reject) => { wx.getWeRunData({ success: resolve, fail: reject }) }) as { encryptedData: string, iv: string })
  t.match(data, { stepInfoList: [{ step: 6120 }, { step: 10342 }], watermark: { appid: mock.appId } })
  t.same(served.filter((s) => s.url === '/weapp/decrypt').map((s) => s.hasCode), [false], 'one decrypt, no healing needed')
})

t.test('decrypt: never a wx.login before the first attempt; a rotated key healed by one fresh code', async (t) => {
  const { base, wx, served } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  await api.login()
  const before = api.session()
  // The app's mistake: WeChat's session lapsed and something called wx.login() directly.
  wx.lapse()
  await new Promise((resolve) => { wx.login({ success: resolve }) })
  const encrypted = await new Promise((resolve, reject) => { wx.getWeRunData({ success: resolve, fail: reject }) }) as { encryptedData: string, iv: string }
  const loginsBefore = wx.logins
  const data = await api.decrypt(encrypted)
  t.match(data, { stepInfoList: [{ step: 6120 }, { step: 10342 }] })
  t.equal(wx.logins, loginsBefore + 1, 'exactly one fresh code')
  const decrypts = served.filter((s) => s.url === '/weapp/decrypt')
  t.same(decrypts.map((s) => s.hasCode), [false, true], 'first without a code, then once with one')
  t.not(api.session(), before, 'the renewed session is stored')
  t.match(wx.storage.get(sessionKey(base)), { session: api.session(), expiresAt: Number, refreshAt: Number })
  const again = await api.decrypt(await new Promise((resolve, reject) => { wx.getWeRunData({ success: resolve, fail: reject }) }) as { encryptedData: string, iv: string })
  t.ok(again, 'and later data opens at the first attempt')
  t.equal(served.filter((s) => s.url === '/weapp/decrypt').length, 3)
})

t.test('decrypt that cannot be healed surfaces the server\'s code', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  await api.login()
  const err = await api.decrypt({ encryptedData: Buffer.alloc(32).toString('base64'), iv: Buffer.alloc(16).toString('base64') }).catch((e: unknown) => e)
  t.match(err, { code: 'WEAPP_DECRYPT_FAILED', statusCode: 400 })
  const bad = await api.decrypt({ encryptedData: 'not base64', iv: 'x' }).catch((e: unknown) => e)
  t.match(bad, { code: 'FST_ERR_VALIDATION', statusCode: 400 })
})

t.test('phone numbers', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  t.same(await api.phone(wx.phoneButton().detail.code), { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
})

t.test('JSON bodies only, so base64 keeps its +', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  const res = await api.request<{ got: unknown, type: string }>({ url: '/echo', method: 'POST', data: { encryptedData: 'a+b/c==', n: 1 }, header: { 'x-extra': '1' } })
  t.same(res.got, { encryptedData: 'a+b/c==', n: 1 })
  t.equal(res.type, 'application/json')
})

t.test('clear errors: wx.login failures, network failures, non-JSON errors', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  wx.failNextLogin('login:fail system error')
  await t.rejects(api.login(), { code: 'WX_LOGIN_FAILED', message: /wx\.login\(\) failed: login:fail system error/ })
  t.same(await api.request({ url: '/me' }), { openid: 'o-alice' }, 'the next login works')
  wx.failNextRequest()
  await t.rejects(api.request({ url: '/me' }), { code: 'NETWORK_ERROR', message: /GET \S+\/me failed: request:fail timeout/ })
  await t.rejects(api.request({ url: '/plain-error' }), { code: 'HTTP_503', statusCode: 503 })
  const nowhere = createWeappClient({ baseUrl: 'http://127.0.0.1:1', wx: createWx(await MockWechat.start().then((m) => { t.teardown(() => m.close()); return m }), 'o-x') })
  await t.rejects(nowhere.login(), { code: 'NETWORK_ERROR' })
})

t.test('a login route answering without a session is a clear error', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const app = Fastify()
  t.teardown(() => app.close())
  app.post('/weapp/login', async () => ({ ok: true }))
  const api = createWeappClient({ baseUrl: await app.listen({ port: 0, host: '127.0.0.1' }), wx: createWx(mock, 'o-1') })
  await t.rejects(api.login(), { code: 'BAD_RESPONSE' })
})

t.test('prefix, full URLs, logout, and bad options', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx, prefix: '/weapp/', storageKey: 'mine' })
  await api.login()
  t.ok(wx.storage.has('mine'))
  t.same(await api.request({ url: `${base}/me` }), { openid: 'o-alice' })
  await api.logout()
  t.notOk(wx.storage.has('mine'))
  t.equal(api.session(), undefined)
  t.throws(() => createWeappClient({ baseUrl: 'api.example.com', wx }), TypeError)
  t.throws(() => createWeappClient(null as never), TypeError)
  t.throws(() => createWeappClient({ baseUrl: base }), { message: /no wx/ })
  ;(globalThis as { wx?: unknown }).wx = wx
  t.teardown(() => { delete (globalThis as { wx?: unknown }).wx })
  t.ok(createWeappClient({ baseUrl: base }), 'the global wx in a mini program')
})

t.test('the client package: the same client from every entry, ES2017 only, no dependencies', async (t) => {
  const { createRequire } = await import('node:module')
  const { readFile } = await import('node:fs/promises')
  const acorn = await import('acorn')
  const require = createRequire(import.meta.url)
  const cjs = require('fastify-weapp-client') as typeof import('../../client/src/index.js')
  const esm = await import('fastify-weapp-client')
  const reexport = await import('../../lib/client.js')
  t.equal(typeof cjs.createWeappClient, 'function', 'require()')
  t.equal(esm.createWeappClient, reexport.createWeappClient, 'fastify-weapp/client re-exports the package')
  const pkg = JSON.parse(await readFile(new URL('../../client/package.json', import.meta.url), 'utf8')) as Record<string, any>
  t.same(pkg.dependencies ?? {}, {}, 'zero dependencies: "Build npm" packs nothing of the server')
  t.equal(pkg.miniprogram, 'dist', 'a miniprogram field')
  const { base, wx } = await setup(t)
  t.same(await cjs.createWeappClient({ baseUrl: base, wx }).request({ url: '/me' }), { openid: 'o-alice' })
  // Every file of both builds (the client is split by concern: its modules require each other only).
  const { readdirSync } = await import('node:fs')
  const builds = [['../../client/dist/', 'script'], ['../../client/dist/esm/', 'module']] as const
  const files = builds.flatMap(([dir, sourceType]) => readdirSync(new URL(dir, import.meta.url), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.js') && (sourceType === 'module' || !name.startsWith('esm'))).map((name) => [`${dir}${name}`, sourceType] as const))
  t.ok(files.length >= 2 * 5, 'every module of both builds is checked')
  for (const [file, sourceType] of files) {
    const source = await readFile(new URL(file, import.meta.url), 'utf8')
    t.doesNotThrow(() => acorn.parse(source, { ecmaVersion: 2017, sourceType }), `${file} parses as ES2017`)
    t.throws(() => acorn.parse('a ??= 1', { ecmaVersion: 2017 }), 'and the check would catch later syntax')
    t.notMatch(source, /\.finally\(|globalThis|Object\.fromEntries|\.flat\(|\.matchAll\(|\.at\(|structuredClone|\batob\(|\bURL\(|require\((?!"\.\.?\/)|\bfrom "(?!\.\.?\/)/, `${file}: no later built-ins, no dependencies (only its own modules)`)
  }
})

t.test('token(): the app JWT from the login, kept across a healed session; your Authorization header wins', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  await api.login()
  t.equal(api.token(), undefined, 'no jwt option on this server')
  wx.setStorageSync(sessionKey(base), { ...(wx.storage.get(sessionKey(base)) as object), token: 'app-jwt' })
  const withToken = createWeappClient({ baseUrl: base, wx })
  t.equal(withToken.token(), 'app-jwt')
  const logins = wx.logins
  const err = await withToken.request({ url: '/me', header: { Authorization: 'Bearer app-jwt' } }).catch((e: unknown) => e)
  t.match(err, { code: 'WEAPP_SESSION_INVALID' }, 'the header sent was the one given, not the session')
  t.equal(wx.logins, logins, 'a refusal of your own credential is yours: no login, no retry')
  wx.lapse()
  await new Promise((resolve) => { wx.login({ success: resolve }) })
  await withToken.decrypt(await new Promise((resolve, reject) => { wx.getWeRunData({ success: resolve, fail: reject }) }) as { encryptedData: string, iv: string })
  t.equal(withToken.token(), 'app-jwt', 'kept when decrypt renewed the session')
  await withToken.logout()
  t.equal(withToken.token(), undefined)
})

t.test('a refusal that arrives after another call renewed the session reuses the renewed one', async (t) => {
  const { base, wx } = await setup(t)
  await createWeappClient({ baseUrl: base, wx }).login()
  wx.setStorageSync(sessionKey(base), { session: 'stale', expiresAt: Date.now() + 3600_000 })
  const api = createWeappClient({ baseUrl: base, wx })
  const slow = api.request<{ openid: string }>({ url: '/slow-me' }) // refused after 150 ms
  t.same(await api.request({ url: '/me' }), { openid: 'o-alice' }, 'refused at once, renewed')
  t.same(await slow, { openid: 'o-alice' })
  t.equal(wx.logins, 2, 'the first login and one renewal: the slow call reused it')
})

t.test('the wx shim sends string bodies as they are', async (t) => {
  const { base, wx } = await setup(t)
  const res = await new Promise<{ data: unknown }>((resolve, reject) => {
    wx.request({ url: `${base}/raw`, method: 'POST', data: '{"a":1}', header: { 'content-type': 'application/json' }, success: resolve, fail: reject })
  })
  t.same(res.data, { body: { a: 1 } })
})

t.test('a WeCom app\'s client logs its members in with wx.qy.login(), decrypt healing included', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const staff = mock.addWecomApp('wxstaff00000000001', { corpId: 'wwcorp0000000001' })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: staff.appId, wecom: { corpId: staff.corpId, corpSecret: staff.corpSecret } }], key: KEY, apiBaseUrl: mock.url })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => {
    const session = request.weappSession as unknown as { platform: string, userId: string }
    return { platform: session.platform, userId: session.userId }
  })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const wx = createWx(staff, 'zhangsan')
  const api = createWeappClient({ baseUrl: base, wx, wecom: true })
  const login = await api.login()
  t.match(login, { appId: staff.appId, corpId: staff.corpId, userId: 'zhangsan' }, 'the AppID from getAccountInfoSync, a member back')
  const userId: string = login.userId
  t.equal(userId, 'zhangsan')
  t.same(await api.request({ url: '/me' }), { platform: 'wecom', userId: 'zhangsan' })
  // A rotated session_key (someone called wx.qy.login() directly): one fresh code heals the decrypt.
  wx.lapse()
  await new Promise((resolve) => { wx.qy?.login({ success: resolve }) })
  t.match(await api.decrypt(staff.encrypt('zhangsan', { steps: 3 })), { steps: 3 })
  t.equal(wx.logins, 3, 'the app\'s own wx.qy.login() and the client\'s one fresh code')
  // ensureSession asks WeCom's session (wx.qy.checkSession), not WeChat's.
  await api.ensureSession()
  t.equal(wx.logins, 3, 'a valid WeCom session: no login')
  wx.lapse()
  await api.ensureSession()
  t.equal(wx.logins, 4, 'WeCom\'s session lapsed: one login')
  const { checkSession: _check, ...qyLoginOnly } = wx.qy as NonNullable<typeof wx.qy>
  const noCheck = createWeappClient({ baseUrl: base, wx: { ...wx, qy: qyLoginOnly }, wecom: true })
  await noCheck.ensureSession()
  t.equal(wx.logins, 5, 'no way to check WeCom\'s session: log in to be sure')
  // A client without wecom calls wx.login(), which a WeCom app refuses; without wx.qy, a clear error.
  await t.rejects(createWeappClient({ baseUrl: base, wx: createWx(staff, 'lisi'), storageKey: 'other' }).login(), { code: 'WX_LOGIN_FAILED', message: /wx\.login\(\) failed: .*wx\.qy\.login/ })
  const { qy: _qy, ...noQy } = createWx(staff, 'lisi')
  await t.rejects(createWeappClient({ baseUrl: base, wx: noQy, wecom: true, storageKey: 'other' }).login(), { code: 'WX_LOGIN_FAILED', message: /wx\.qy\.login\(\) is not available/ })
})

t.test('renewed sessions are stored; logout() ends the session on the server', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { appId: mock.appId, appSecret: mock.appSecret, key: KEY, apiBaseUrl: mock.url, revocation: 'memory', expiresIn: '1h', renewWithin: '10m' })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => ({ openid: request.weappSession?.openid, jti: request.weappSession?.jti }))
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const wx = createWx(mock, 'o-alice')
  // A stored session 5 minutes from its end (as after 55 minutes of use).
  const now = Math.floor(Date.now() / 1000)
  const near = forge(KEY, claims(mock.appId, { sub: 'o-alice', sk: mock.user('o-alice').sessionKey, iat: now - 3300, exp: now + 300, jti: 'abcdefghijklmnopqrstuv', lat: Date.now() - 3300_000 }))
  wx.setStorageSync(sessionKey(base), { session: near, expiresAt: Date.now() + 300_000, refreshAt: Date.now() + 270_000, token: 'the-app-jwt' })
  const api = createWeappClient({ baseUrl: base, wx })
  t.same(await api.request({ url: '/me' }), { openid: 'o-alice', jti: 'abcdefghijklmnopqrstuv' })
  const renewed = api.session()
  t.not(renewed, near, 'the renewed session is stored')
  t.match(wx.storage.get(sessionKey(base)), { session: renewed })
  t.ok((wx.storage.get(sessionKey(base)) as { expiresAt: number }).expiresAt > Date.now() + 3500_000, 'with its new lifetime')
  t.same(await api.request({ url: '/me' }), { openid: 'o-alice', jti: 'abcdefghijklmnopqrstuv' }, 'and sent from then on')
  t.equal(wx.logins, 0, 'no wx.login() for a renewal')
  t.equal(api.token(), 'the-app-jwt', 'the app JWT is kept')

  await api.logout()
  t.equal(api.session(), undefined)
  for (const token of [renewed, near]) {
    const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token ?? ''}` } })
    t.equal(res.json().code, 'WEAPP_SESSION_REVOKED', 'ended on the server, renewals and all')
  }
  await api.logout()
  t.pass('a second logout has nothing to end')
  // A logout the server cannot store rejects with its code, and the session is kept for a retry.
  await api.login()
  const kept = api.session()
  const broken = createWeappClient({ baseUrl: base, wx: { ...wx, request: (options) => { options.success?.({ statusCode: 503, data: { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: 'down' }, header: {} }) } } })
  await t.rejects(broken.logout(), { code: 'WEAPP_REVOCATION_UNAVAILABLE' })
  t.equal(broken.session(), kept, 'kept: the server still takes it, so logout() can be retried')
  t.match(wx.storage.get(sessionKey(base)), { session: kept }, 'and stored')
  await createWeappClient({ baseUrl: base, wx }).logout()
  t.notOk(wx.storage.has(sessionKey(base)), 'the retry ends it, and it is forgotten')
  // Without an app JWT, a renewal stores none.
  const plainWx = createWx(mock, 'o-alice')
  const nearToo = forge(KEY, claims(mock.appId, { sub: 'o-alice', sk: mock.user('o-alice').sessionKey, iat: now - 3300, exp: now + 300, jti: 'bcdefghijklmnopqrstuvw', lat: Date.now() - 3300_000 }))
  plainWx.setStorageSync(sessionKey(base), { session: nearToo, expiresAt: Date.now() + 300_000, refreshAt: Date.now() + 270_000 })
  const plain = createWeappClient({ baseUrl: base, wx: plainWx })
  await plain.request({ url: '/me' })
  t.not(plain.session(), nearToo, 'renewed')
  t.equal(plain.token(), undefined)
})
