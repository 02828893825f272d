// What the client must never do with the session, and how it lives with Taro, uni-app and short
// lifetimes.
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { createWeappClient, type WxLike } from '../../client/src/index.js'
import { createWx, MockWechat, type MockWx } from '../../lib/testing.js'
import { KEY } from '../fixtures/app.js'
import { sessionKey } from '../fixtures/client.js'

interface Seen { url: string, authorization: string | undefined }

async function setup (t: Test, plugin: Record<string, unknown> = {}): Promise<{ base: string, mock: MockWechat, wx: MockWx, seen: Seen[] }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const app = Fastify()
  t.teardown(() => app.close())
  const seen: Seen[] = []
  app.addHook('onRequest', async (request) => { seen.push({ url: request.url, authorization: request.headers.authorization }) })
  if (plugin.jwt !== undefined) await app.register(fastifyJwt, { secret: 'a-test-secret-for-the-app-jwt-0123456789' })
  await app.register(weapp, { appId: mock.appId, appSecret: mock.appSecret, key: KEY, apiBaseUrl: mock.url, ...plugin })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => ({ openid: request.weappSession?.openid }))
  app.get('/headers', async (request) => ({ authorization: request.headers.authorization ?? null }))
  app.post('/weapp-bad/decrypt', async () => ({ data: { a: 1 } }))
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  return { base, mock, wx: createWx(mock, 'o-alice'), seen }
}

t.test('the session goes only to baseUrl\'s origin', async (t) => {
  const { base, wx, seen } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  await api.login()
  const host = base.replace(/^http:\/\//, '')
  for (const url of [
    'https://evil.example/steal',
    `http://${host}.evil.example/x`,
    `http://${host}@evil.example/x`,
    '@evil.example/x', // would make https://api.example.com@evil.example/x
    'evil.example/x',
    '//evil.example/x',
    '/\\evil.example/x',
    `https://${host}/me`, // another scheme is another origin
    '/me x',
    ''
  ]) {
    await t.rejects(api.request({ url }), { code: 'BAD_URL', message: /only sent to baseUrl's origin/ }, JSON.stringify(url))
  }
  t.same(seen.map((s) => s.url), ['/weapp/login'], 'nothing was sent anywhere')
  t.equal(wx.logins, 1, 'and nothing logged in again')
  t.same(await api.request({ url: `${base}/me?x=1` }), { openid: 'o-alice' }, 'a full URL on the same origin is fine')
  t.same(await api.request({ url: `${base.toUpperCase().replace('HTTP://', 'http://')}/me` }), { openid: 'o-alice' }, 'origins compare without case')
  t.same(await api.request({ url: '/me?x=1#y' }), { openid: 'o-alice' })
})

t.test('a 401 from elsewhere cannot start a login: requests elsewhere are never made', async (t) => {
  const { base, wx } = await setup(t)
  const foreign = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  await t.rejects(api.request({ url: `${foreign.base}/me` }), { code: 'BAD_URL' })
  t.equal(wx.logins, 0)
  t.same(foreign.seen, [])
})

t.test('baseUrl with a path: requests and routes live under it', async (t) => {
  const { base, wx, seen } = await setup(t, { prefix: '/api/weapp' })
  const api = createWeappClient({ baseUrl: `${base}/api`, wx })
  await api.login()
  t.same(seen.map((s) => s.url), ['/api/weapp/login'])
  await t.rejects(api.request({ url: '/me' }), { code: 'HTTP_404' }, '/me is under /api now')
  for (const baseUrl of ['ftp://x.example', 'https://x.example?a=1', 'https://x.example#a', 'https://u:p@x.example', 'x.example']) {
    t.throws(() => createWeappClient({ baseUrl, wx }), TypeError, baseUrl)
  }
})

t.test('your own Authorization header, in any case, replaces the session', async (t) => {
  const { base, wx, seen } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx })
  await api.login()
  const session = api.session()
  for (const name of ['authorization', 'Authorization', 'AUTHORIZATION']) {
    t.same(await api.request({ url: '/headers', header: { [name]: 'Bearer mine' } }), { authorization: 'Bearer mine' }, name)
  }
  t.same(await api.request({ url: '/headers' }), { authorization: `Bearer ${session}` }, 'the session otherwise')
  t.notOk(seen.some((s) => s.authorization?.includes('mine') === true && s.authorization.includes(session ?? '?')), 'never both')
})

t.test('a heal reply without a session is an error, and storage keeps the old session', async (t) => {
  const { base, wx } = await setup(t)
  const api = createWeappClient({ baseUrl: base, wx, prefix: '/weapp-bad' })
  // A valid session stored as if from an earlier login; this server's decrypt route answers a
  // fresh code without one (a broken proxy, an old server).
  const good = createWeappClient({ baseUrl: base, wx })
  await good.login()
  const stored = wx.storage.get(sessionKey(base))
  const app = Fastify()
  t.teardown(() => app.close())
  app.post('/weapp/decrypt', async (request, reply) => {
    if ((request.body as { code?: string }).code === undefined) return await reply.code(400).send({ statusCode: 400, code: 'WEAPP_DECRYPT_FAILED', error: 'Bad Request', message: 'x' })
    return { data: { a: 1 } }
  })
  // Given the good session's storage key on purpose: by default a client of another origin restores none.
  const broken = createWeappClient({ baseUrl: await app.listen({ port: 0, host: '127.0.0.1' }), wx, storageKey: sessionKey(base) })
  await t.rejects(broken.decrypt({ encryptedData: 'AAAA', iv: 'BBBB' }), { code: 'BAD_RESPONSE' })
  t.same(wx.storage.get(sessionKey(base)), stored, 'nothing like { expiresAt: NaN } was stored')
  t.ok(api)
})

t.test('the margin before expiry is proportional to the lifetime: a 30 s session is used, not refused', async (t) => {
  const { base, wx, seen } = await setup(t, { expiresIn: 30 })
  const api = createWeappClient({ baseUrl: base, wx })
  const before = Date.now()
  await api.login()
  const stored = wx.storage.get(sessionKey(base)) as { expiresAt: number, refreshAt: number }
  t.ok(stored.expiresAt >= before + 30_000 && stored.expiresAt <= Date.now() + 30_000, 'expiresAt is the server\'s expiresIn from now')
  t.ok(stored.refreshAt < stored.expiresAt, 'a safety margin')
  t.ok(stored.expiresAt - stored.refreshAt <= 3000 + 1, `a tenth of 30 s at most (${stored.expiresAt - stored.refreshAt} ms)`)
  await api.request({ url: '/me' })
  await api.request({ url: '/me' })
  t.equal(wx.logins, 1, 'no login per request')
  t.same(seen.map((s) => s.url), ['/weapp/login', '/me', '/me'])

  const week = await setup(t)
  const long = createWeappClient({ baseUrl: week.base, wx: week.wx })
  await long.login()
  const s7 = week.wx.storage.get(sessionKey(week.base)) as { expiresAt: number, refreshAt: number }
  t.equal(s7.expiresAt - s7.refreshAt, 60_000, 'a minute for a long session')
})

t.test('a session stored with no expiry, or one inside its margin, is not used', async (t) => {
  const { base, wx, seen } = await setup(t)
  const fresh = createWeappClient({ baseUrl: base, wx })
  await fresh.login()
  const genuine = wx.storage.get(sessionKey(base)) as { session: string }
  for (const entry of [
    { session: genuine.session },
    { session: genuine.session, expiresAt: Number.NaN },
    { session: genuine.session, expiresAt: 0 },
    { session: genuine.session, expiresAt: Date.now() + 30_000 }, // an older version's entry: a minute's margin
    { session: genuine.session, expiresAt: Date.now() + 3600_000, refreshAt: Date.now() - 1 }
  ]) {
    wx.setStorageSync(sessionKey(base), entry)
    t.equal(createWeappClient({ baseUrl: base, wx }).session(), undefined, JSON.stringify(entry))
  }
  wx.setStorageSync(sessionKey(base), { session: genuine.session, expiresAt: Date.now() + 3600_000 })
  t.equal(createWeappClient({ baseUrl: base, wx }).session(), genuine.session, 'an older version\'s entry with time left is used')
  t.ok(seen.length === 1)
})

/** A JWS-shaped token with these claims (the signature is not the client's business). */
function jws (claims: Record<string, unknown>): string {
  return ['{"alg":"HS256","typ":"JWT"}', JSON.stringify(claims)].map((p) => Buffer.from(p).toString('base64url')).join('.') + '.c2ln'
}

t.test('with the jwt bridge, the JWS expiry renews like the session\'s', async (t) => {
  const { base, wx } = await setup(t, { jwt: { expiresIn: '1h' } })
  const api = createWeappClient({ baseUrl: base, wx })
  const { token } = await api.login()
  t.type(token, 'string')
  t.equal(api.token(), token)
  const stored = wx.storage.get(sessionKey(base)) as { refreshAt: number, tokenRefreshAt: number }
  t.ok(stored.tokenRefreshAt < stored.refreshAt, 'the JWS (1 h) is renewed before the session (7 d)')

  // The same client state with the JWS at its end: token() gives nothing, and the next request
  // logs in again and gets a fresh one.
  const now = Math.floor(Date.now() / 1000)
  const expired = jws({ sub: 'o-alice', exp: now - 1 })
  wx.setStorageSync(sessionKey(base), { ...stored, token: expired, tokenRefreshAt: Date.now() - 1 })
  const later = createWeappClient({ baseUrl: base, wx })
  t.equal(later.token(), undefined, 'no expired JWS')
  t.same(await later.request({ url: '/me' }), { openid: 'o-alice' })
  t.equal(wx.logins, 2, 'logged in again')
  const renewed = later.token()
  t.type(renewed, 'string')
  t.not(renewed, expired)
})

t.test('the JWS exp is read from the token itself', async (t) => {
  const { base, wx } = await setup(t)
  const login = async (token: string): Promise<ReturnType<typeof createWeappClient>> => {
    const app = Fastify()
    t.teardown(() => app.close())
    app.post('/weapp/login', async () => ({ session: 's', expiresIn: 3600, openid: 'o', token }))
    const api = createWeappClient({ baseUrl: await app.listen({ port: 0, host: '127.0.0.1' }), wx, storageKey: token })
    await api.login()
    return api
  }
  const now = Math.floor(Date.now() / 1000)
  t.equal((await login(jws({ exp: now - 5 }))).token(), undefined, 'expired')
  t.equal((await login(jws({ exp: now - 5 }))).session(), undefined, 'and so the session is renewed with it')
  t.type((await login(jws({ exp: now + 600, name: '微信' }))).token(), 'string', 'valid, with non-ASCII claims')
  for (const odd of ['not-a-jws', 'a.b', 'a.!!.c', jws({ exp: 'soon' }), `${Buffer.from('{').toString('base64url')}.${Buffer.from('{x').toString('base64url')}.s`]) {
    t.equal((await login(odd)).token(), odd, `${odd}: no exp to read, kept with the session`)
  }
  t.ok(base)
})

/** Taro's shape: each API calls success/fail and also returns a promise that settles the same way. */
function taroShaped (wx: MockWx): WxLike {
  const wrap = <O extends { success?: (r: any) => void, fail?: (e: { errMsg: string }) => void }>(call: (o: O) => unknown) => async (options: O): Promise<unknown> =>
    await new Promise((resolve, reject) => {
      call({ ...options, success: (r: unknown) => { options.success?.(r); resolve(r) }, fail: (e: { errMsg: string }) => { options.fail?.(e); reject(e) } })
    })
  return {
    login: wrap((o) => wx.login(o)),
    checkSession: wrap((o) => wx.checkSession(o)),
    request: wrap((o: Parameters<WxLike['request']>[0]) => wx.request(o)),
    getStorageSync: (k) => wx.getStorageSync(k),
    setStorageSync: (k, v) => { wx.setStorageSync(k, v) },
    removeStorageSync: (k) => { wx.removeStorageSync(k) }
  }
}

/** uni-app's shape: with callbacks given, nothing is returned. */
function uniShaped (wx: MockWx): WxLike {
  return {
    login: (o) => { wx.login(o) },
    checkSession: (o) => { wx.checkSession(o) },
    request: (o) => { wx.request(o) },
    getStorageSync: (k) => wx.getStorageSync(k),
    setStorageSync: (k, v) => { wx.setStorageSync(k, v) },
    removeStorageSync: (k) => { wx.removeStorageSync(k) }
  }
}

t.test('Taro- and uni-app-shaped APIs: every failure handled, no unhandled rejection', async (t) => {
  const unhandled: unknown[] = []
  const record = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', record)
  t.teardown(() => { process.off('unhandledRejection', record) })
  for (const [name, shape] of [['Taro', taroShaped], ['uni-app', uniShaped]] as const) {
    const { base, wx } = await setup(t)
    const api = createWeappClient({ baseUrl: base, wx: shape(wx) })
    await api.ensureSession() // no session: a login
    wx.lapse()
    await api.ensureSession() // a routine checkSession:fail, then a login
    t.equal(wx.logins, 2, `${name}: logged in again after checkSession failed`)
    wx.failNextLogin()
    await api.logout()
    await t.rejects(api.login(), { code: 'WX_LOGIN_FAILED' }, `${name}: login failure`)
    t.same(await api.request({ url: '/me' }), { openid: 'o-alice' }, `${name}: works`)
    wx.failNextRequest()
    await t.rejects(api.request({ url: '/me' }), { code: 'NETWORK_ERROR' }, `${name}: request failure`)
    await new Promise((resolve) => setTimeout(resolve, 20))
    t.same(unhandled, [], `${name}: no unhandled rejection`)
  }
})

t.test('the client sends its own appId: from wx.getAccountInfoSync(), or the appId option', async (t) => {
  const A = 'wxaaaaaaaaaaaaaaaa'
  const B = 'wxbbbbbbbbbbbbbbbb'
  const mock = await MockWechat.start({ appId: A, apps: [{ appId: B }] })
  t.teardown(() => mock.close())
  const app = Fastify()
  t.teardown(() => app.close())
  const bodies: unknown[] = []
  app.addHook('preHandler', async (request) => { if (request.url === '/weapp/login') bodies.push(request.body) })
  await app.register(weapp, { apps: [{ appId: A, appSecret: mock.appSecret }, { appId: B, appSecret: mock.app(B).appSecret }], key: KEY, apiBaseUrl: mock.url })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })

  const b = await createWeappClient({ baseUrl: base, wx: createWx(mock.app(B), 'o-bob') }).login()
  t.equal(b.appId, B, 'the runtime\'s own AppID picked the app')
  const wxA = createWx(mock, 'o-alice')
  t.equal((await createWeappClient({ baseUrl: base, wx: wxA, storageKey: 'a' }).login()).appId, A)
  const { getAccountInfoSync: _, ...bare } = createWx(mock.app(B), 'o-carol')
  const withOption = createWeappClient({ baseUrl: base, wx: bare as WxLike, appId: B, storageKey: 'c' })
  t.equal((await withOption.login()).appId, B, 'the option, where the runtime has no getAccountInfoSync')
  const throwing = { ...bare, getAccountInfoSync: () => { throw new Error('not supported') } } as WxLike
  await t.rejects(createWeappClient({ baseUrl: base, wx: throwing, storageKey: 'd' }).login(), { code: 'WEAPP_UNKNOWN_APP', statusCode: 400 }, 'no appId sent: the server says which is missing')
  t.same(bodies.map((body) => (body as { appId?: string }).appId), [B, A, B, undefined])
})
