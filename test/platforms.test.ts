// One table of platforms whose login has WeChat's shape: each row runs the same login,
// authenticate, decrypt, error-mapping, phone and cross-platform tests. A platform's mock is the
// package's MockWechat on that platform's origin (QQ answers WeChat's shapes; Douyin's
// jscode2session is served on its own path).
import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import weapp, { type WeappAppConfig } from '../lib/index.js'
import { MockWechat, type MockFault } from '../lib/testing.js'
import { isError, KEY } from './fixtures/app.js'
import { claims, forge, open } from './fixtures/jwe.js'

const WX = 'wx0123456789abcdef'
const QQ = '1109876543'
const TT = 'tt0123456789abcdef01'

interface Platform {
  name: 'wechat' | 'qq' | 'douyin'
  appId: string
  config: (secret: string) => WeappAppConfig
  /** How a login names its app: a Referer where the platform sends one we read, else the body. */
  pick: (appId: string) => { headers?: Record<string, string>, appId?: string }
  loginPath: string
  /** Faults of the platform's own shape, and what they answer. */
  errors: Array<[MockFault, number, string]>
  service: RegExp
}

const douyin = (errNo: number): MockFault => ({ body: JSON.stringify({ err_no: errNo, err_tips: 'x', data: { session_key: '', openid: '', anonymous_openid: '', unionid: '' } }), contentType: 'application/json' })
const wechatErrors: Platform['errors'] = [
  [{ errcode: 40029 }, 401, 'WEAPP_INVALID_CODE'],
  [{ errcode: 45011 }, 429, 'WEAPP_RATE_LIMITED'],
  [{ errcode: -1 }, 502, 'WEAPP_UPSTREAM_ERROR']
]
const common: Platform['errors'] = [
  [{ status: 500, body: 'x' }, 502, 'WEAPP_UPSTREAM_ERROR'],
  [{ status: 429, body: '' }, 429, 'WEAPP_RATE_LIMITED'],
  [{ delay: 1000 }, 504, 'WEAPP_UPSTREAM_TIMEOUT']
]

const platforms: Platform[] = [
  { name: 'wechat', appId: WX, config: (appSecret) => ({ appId: WX, appSecret }), pick: (id) => ({ headers: { referer: `https://servicewechat.com/${id}/3/page-frame.html` } }), loginPath: '/sns/jscode2session', errors: [...wechatErrors, ...common], service: /WeChat/ },
  { name: 'qq', appId: QQ, config: (appSecret) => ({ appId: QQ, appSecret, platform: 'qq' }), pick: (id) => ({ headers: { referer: `https://appservice.qq.com/${id}/1.0.0/page-frame.html` } }), loginPath: '/sns/jscode2session', errors: [...wechatErrors, ...common], service: /QQ/ },
  {
    name: 'douyin',
    appId: TT,
    config: (appSecret) => ({ appId: TT, appSecret, platform: 'douyin' }),
    pick: (id) => ({ appId: id }),
    loginPath: '/api/apps/v2/jscode2session',
    service: /Douyin/,
    errors: [[douyin(40018), 401, 'WEAPP_INVALID_CODE'], [douyin(40019), 401, 'WEAPP_INVALID_CODE'], [douyin(-1), 502, 'WEAPP_UPSTREAM_ERROR'], [douyin(40017), 502, 'WEAPP_UPSTREAM_ERROR'], [douyin(12345), 502, 'WEAPP_UPSTREAM_ERROR'], ...common]
  }
]

/** One backend serving a WeChat and a QQ mini program, each platform's API on its own mock origin. */
async function backend (t: Test): Promise<{ app: ReturnType<typeof Fastify>, mocks: Record<Platform['name'], MockWechat>, logs: string[] }> {
  const mocks = {
    wechat: await MockWechat.start({ appId: WX }),
    qq: await MockWechat.start({ appId: QQ, appSecret: 'qq-app-secret-0123456789' }),
    douyin: await MockWechat.start({ appId: TT, appSecret: 'douyin-app-secret-0123456789' })
  }
  t.teardown(async () => { for (const mock of Object.values(mocks)) await mock.close() })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(fastifyJwt, { secret: 'a-test-secret-for-the-app-jwt-0123456789' })
  await app.register(weapp, {
    apps: platforms.map((p) => p.config(mocks[p.name].appSecret)),
    key: KEY,
    timeout: 300,
    jwt: true,
    apiBaseUrl: { wechat: mocks.wechat.url, qq: mocks.qq.url, douyin: mocks.douyin.url }
  })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => {
    const { platform, appId, openid } = request.weappSession as { platform: string, appId: string, openid: string }
    return { platform, appId, openid }
  })
  await app.ready()
  return { app, mocks, logs }
}

for (const p of platforms) {
  t.test(`${p.name}: login, authenticate, decrypt, the jwt bridge`, async (t) => {
    const { app, mocks, logs } = await backend(t)
    const mock = mocks[p.name]
    const { headers, appId } = p.pick(p.appId)
    const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1', { unionid: 'u-1' }), ...(appId === undefined ? {} : { appId }) }, headers })
    t.equal(res.statusCode, 200, 'the Referer (or the body) picks the app')
    const body = res.json()
    t.same(Object.keys(body).sort(), ['appId', 'expiresIn', 'openid', 'session', 'token', 'unionid'])
    t.match(body, { appId: p.appId, openid: 'o-1', unionid: 'u-1' })
    t.equal(mock.callsTo(p.loginPath).length, 1, `${p.name}'s own origin was asked`)
    for (const [name, other] of Object.entries(mocks)) if (name !== p.name) t.equal(other.calls.length, 0, `${name}'s origin never`)
    const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${body.session}` } })
    t.same(me.json(), { platform: p.name, appId: p.appId, openid: 'o-1' })
    const payload = open(body.session, KEY).payload
    t.equal(payload.pf, p.name === 'wechat' ? undefined : p.name, 'the token names a platform other than WeChat')
    t.match(app.jwt.decode(body.token), { sub: 'o-1', aud: p.appId })
    const decrypted = await app.inject({ method: 'POST', url: '/weapp/decrypt', payload: mock.encrypt('o-1', { a: 1 }), headers: { authorization: `Bearer ${body.session}` } })
    t.equal(decrypted.statusCode, 200)
    t.match(decrypted.json().data, { a: 1, watermark: { appid: p.appId } })
    const phone = await app.inject({ method: 'POST', url: '/weapp/phone', payload: { code: mock.phoneCode('o-1') }, headers: { authorization: `Bearer ${body.session}` } })
    if (p.name === 'wechat') t.equal(phone.statusCode, 200)
    else {
      isError(t, phone, 400, 'WEAPP_UNSUPPORTED')
      t.equal(mock.callsTo('/wxa/business/getuserphonenumber').length, 0)
    }
    // Renewed sessions (and renewals of them) keep their platform.
    const api = await app.weapp.app(p.appId)
    const sealed = await api.seal({ openid: 'o-2', sessionKey: mock.user('o-2').sessionKey })
    t.equal((await app.weapp.unseal(sealed)).platform, p.name, `${p.name} app seals ${p.name} sessions`)
    const secrets = [...mocks.wechat.secrets(), ...mocks.qq.secrets()]
    t.notOk(logs.some((l) => secrets.some((s) => l.includes(s))), 'no secret logged')
  })

  t.test(`${p.name}: upstream errors map to the contract's codes`, async (t) => {
    const { app, mocks } = await backend(t)
    const mock = mocks[p.name]
    const login = async (): Promise<ReturnType<typeof app.inject>> => await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1'), appId: p.appId } })
    for (const [fault, status, code] of p.errors) {
      mock.fail(fault)
      isError(t, await login() as never, status, code)
    }
    mock.fail({ status: 502, body: 'bad gateway' })
    t.match((await login()).json().message, p.service, 'the message names the platform')
    // A code of one platform's app is refused for the others', and a used code for its own.
    for (const other of platforms) {
      if (other.name === p.name) continue
      isError(t, await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1'), appId: other.appId } }) as never, 401, 'WEAPP_INVALID_CODE')
    }
    const code = mock.login('o-1')
    t.equal((await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId: p.appId } })).statusCode, 200)
    isError(t, await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId: p.appId } }) as never, 401, 'WEAPP_INVALID_CODE')
  })
}

t.test('a QQ app\'s building blocks: no access token, phone or checksession in this version', async (t) => {
  const { app, mocks } = await backend(t)
  // A QQ user's session never reaches WeChat's phone API, even for an app that is WeChat's now.
  const qqOnWechat = forge(KEY, claims(WX, { pf: 'qq', sub: 'o-1' }))
  isError(t, await app.inject({ method: 'POST', url: '/weapp/phone', payload: { code: mocks.wechat.phoneCode('o-1') }, headers: { authorization: `Bearer ${qqOnWechat}` } }) as never, 400, 'WEAPP_UNSUPPORTED')
  t.equal(mocks.wechat.callsTo('/wxa/business/getuserphonenumber').length, 0)
  const qq = await app.weapp.app(QQ)
  t.equal(qq.kind, 'qq')
  for (const call of [qq.accessToken(), qq.getPhoneNumber('c'), qq.checkSessionKey('o', 'tiihtNczf5v6AKRyjwEUhQ==')]) {
    await t.rejects(call, { code: 'WEAPP_UNSUPPORTED', message: /QQ/ })
  }
})

t.test('platform options', async (t) => {
  for (const [config, message] of [
    [{ appId: QQ, platform: 'qq', component: { appId: 'wxc', accessToken: () => 't' } }, /platform 'qq' takes appSecret/],
    [{ appId: TT, platform: 'douyin', wecom: { corpId: 'ww', corpSecret: 's' } }, /platform 'douyin' takes appSecret/],
    [{ appId: QQ, platform: 'weibo', appSecret: 's' }, /platform must be/]
  ] as const) {
    const app = Fastify()
    app.register(weapp, { apps: [config as never], key: KEY })
    await t.rejects(async () => { await app.ready() }, { code: 'WEAPP_INVALID_OPTION', message })
    await app.close()
  }
})

t.test('the client finds QQ\'s global qq as it finds wx, and sends the QQ app\'s own appId', async (t) => {
  const { createWeappClient } = await import('../client/src/index.js')
  const { createWx } = await import('../lib/testing.js')
  const { app, mocks } = await backend(t)
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const globals = globalThis as { qq?: unknown, wx?: unknown }
  t.equal(globals.wx, undefined, 'no wx in this process')
  globals.qq = createWx(mocks.qq, 'o-qq')
  t.teardown(() => { delete globals.qq })
  const api = createWeappClient({ baseUrl: base })
  const login = await api.login()
  t.match(login, { appId: QQ, openid: 'o-qq' })
  t.same(await api.request({ url: '/me' }), { platform: 'qq', appId: QQ, openid: 'o-qq' })
})

t.test('douyin: a login with only an anonymous code is an anonymous session; a real code later is a normal one', async (t) => {
  const { app, mocks } = await backend(t)
  const tt = mocks.douyin
  const login = async (payload: Record<string, unknown>): Promise<Awaited<ReturnType<typeof app.inject>>> => await app.inject({ method: 'POST', url: '/weapp/login', payload: { appId: TT, ...payload } })
  const anon = await login({ anonymousCode: tt.app(TT).anonymousCode('a-1') })
  t.equal(anon.statusCode, 200)
  const body = anon.json()
  t.match(body, { appId: TT, openid: 'a-1', anonymous: true })
  t.notOk('unionid' in body)
  t.match(app.jwt.decode(body.token), { sub: 'a-1', anonymous: true })
  const session = await app.weapp.unseal(body.session)
  t.match(session, { platform: 'douyin', openid: 'a-1', anonymous: true, sessionKey: '' })
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${body.session}` } })).statusCode, 200, 'it authenticates')
  const decrypt = await app.inject({ method: 'POST', url: '/weapp/decrypt', payload: tt.encrypt('o-1', { a: 1 }), headers: { authorization: `Bearer ${body.session}` } })
  isError(t, decrypt, 400, 'WEAPP_UNSUPPORTED')
  t.match(decrypt.json().message, /anonymous Douyin session has no session_key/)
  // Renewal keeps it anonymous.
  const renewedToken = await (await app.weapp.app(TT)).seal({ openid: 'a-1', sessionKey: '', anonymous: true, platform: 'douyin' } as never)
  t.match(await app.weapp.unseal(renewedToken), { anonymous: true })
  isError(t, await login({ anonymousCode: tt.app(TT).anonymousCode('a-1').replace(/./, 'x') }), 401, 'WEAPP_INVALID_CODE')
  // A code with the anonymous code (the user logged in to Douyin): a normal session.
  const both = await login({ code: tt.login('o-1'), anonymousCode: tt.app(TT).anonymousCode('a-1') })
  t.match(both.json(), { openid: 'o-1' })
  t.notOk('anonymous' in both.json())
  t.match(JSON.parse(tt.callsTo('/api/apps/v2/jscode2session').at(-1)?.body ?? '{}'), { appid: TT, code: String, anonymous_code: String })
  // anonymousCode is Douyin's; and a login needs one of the two.
  isError(t, await app.inject({ method: 'POST', url: '/weapp/login', payload: { anonymousCode: 'x', appId: WX } }), 400, 'FST_ERR_VALIDATION')
  isError(t, await login({}), 400, 'FST_ERR_VALIDATION')
  isError(t, await app.inject({ method: 'POST', url: '/weapp/login', payload: { appId: WX } }), 400, 'FST_ERR_VALIDATION')
  await t.rejects((await app.weapp.app(WX)).seal({ openid: 'a', sessionKey: '', anonymous: true } as never), TypeError, 'anonymous sessions are Douyin\'s')
})

t.test('the client finds Douyin\'s global tt, and sends the anonymous code when tt.login() gives only that', async (t) => {
  const { createWeappClient } = await import('../client/src/index.js')
  const { createWx } = await import('../lib/testing.js')
  const { app, mocks } = await backend(t)
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const globals = globalThis as { tt?: unknown }
  const douyinWx = createWx(mocks.douyin, 'o-tt')
  // tt.login() for a user not logged in to Douyin: an empty code and an anonymous code.
  let loggedIn = false
  const tt = { ...douyinWx, login: ({ success }: { success?: (res: { code: string, anonymousCode?: string }) => void }) => { setTimeout(() => success?.(loggedIn ? { code: mocks.douyin.login('o-tt') } : { code: '', anonymousCode: mocks.douyin.app(TT).anonymousCode('a-tt') })) } }
  globals.tt = tt
  t.teardown(() => { delete globals.tt })
  const api = createWeappClient({ baseUrl: base, appId: TT, storageKey: 'tt' })
  t.match(await api.login(), { appId: TT, openid: 'a-tt', anonymous: true })
  t.same(await api.request({ url: '/me' }), { platform: 'douyin', appId: TT, openid: 'a-tt' })
  // Encrypted data needs a real login: the decrypt fails, and an anonymous fresh code cannot heal it.
  await t.rejects(api.decrypt(mocks.douyin.encrypt('o-tt', { a: 1 })), { code: 'WEAPP_UNSUPPORTED' })
  loggedIn = true
  t.match(await api.login(), { openid: 'o-tt' })
  t.match(await api.decrypt(mocks.douyin.encrypt('o-tt', { a: 1 })), { a: 1 })
  // A rotated key heals only with a real code: an anonymous one leaves the decrypt failure as it is.
  mocks.douyin.rotateSessionKey('o-tt')
  loggedIn = false
  await t.rejects(api.decrypt(mocks.douyin.encrypt('o-tt', { a: 2 })), { code: 'WEAPP_DECRYPT_FAILED' })
  // tt.login() with no code at all is a clear error.
  const none = createWeappClient({ baseUrl: base, appId: TT, storageKey: 'none', wx: { ...douyinWx, login: ({ success }) => { setTimeout(() => success?.({ code: '' })) } } })
  await t.rejects(none.login(), { code: 'WX_LOGIN_FAILED', message: /gave no code/ })
})

t.test('douyin: answers without a usable identity are 502s', async (t) => {
  const { app, mocks } = await backend(t)
  const tt = mocks.douyin
  const ok = (data: Record<string, unknown>): MockFault => ({ body: JSON.stringify({ err_no: 0, err_tips: 'success', data }), contentType: 'application/json' })
  for (const [fault, payload, message] of [
    [ok({ session_key: '', openid: 'o', anonymous_openid: '', unionid: '' }), { code: 'c' }, /without a usable openid and session_key/],
    [ok({ session_key: tt.user('o').sessionKey, openid: '', anonymous_openid: '', unionid: '' }), { code: 'c' }, /without a usable openid/],
    [ok({ session_key: tt.user('o').sessionKey, openid: 'o', anonymous_openid: '', unionid: 7 }), { code: 'c' }, /without a usable openid/],
    [ok({ session_key: '', openid: '', anonymous_openid: '', unionid: '' }), { anonymousCode: 'a' }, /without a usable anonymous_openid/],
    [{ body: JSON.stringify({ err_no: 0 }), contentType: 'application/json' }, { anonymousCode: 'a' }, /without a usable anonymous_openid/],
    [{ body: JSON.stringify({ data: {} }), contentType: 'application/json' }, { code: 'c' }, /without an err_no/]
  ] as const) {
    tt.fail(fault)
    const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { appId: TT, ...payload } })
    isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, message)
  }
})

t.test('douyin: the mock answers Douyin\'s errors', async (t) => {
  const { mocks } = await backend(t)
  const tt = mocks.douyin
  const ask = async (body: unknown): Promise<{ type: string | null, json: Record<string, unknown> }> => {
    const res = await fetch(`${tt.url}/api/apps/v2/jscode2session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
    return { type: res.headers.get('content-type'), json: await res.json() as Record<string, unknown> }
  }
  const base = { appid: TT, secret: tt.appSecret }
  t.match(await ask('not json'), { type: 'application/json; charset=UTF-8', json: { err_no: 40014 } })
  t.match((await ask({ ...base, appid: 'ttnope' })).json, { err_no: 40015, err_tips: 'bad appid', data: { openid: '' } })
  t.match((await ask({ secret: tt.appSecret, code: 'c' })).json, { err_no: 40015 }, 'no appid')
  t.match((await ask({ ...base, secret: 'wrong', code: 'c' })).json, { err_no: 40017 })
  t.match((await ask({ ...base, code: '', anonymous_code: '' })).json, { err_no: 40014 })
  t.match((await ask({ ...base, code: 'made-up' })).json, { err_no: 40018 })
  const anonymous = tt.app(TT).anonymousCode('a-1')
  t.match((await ask({ ...base, anonymous_code: anonymous })).json, { err_no: 0, data: { anonymous_openid: 'a-1', openid: '', session_key: '' } })
  t.match((await ask({ ...base, anonymous_code: anonymous })).json, { err_no: 40019 }, 'an anonymous code is single-use too')
  t.match((await ask({ ...base, anonymous_code: tt.addApp('ttother00000000001').anonymousCode('a-2') })).json, { err_no: 40019 }, 'another app\'s anonymous code')
  t.match((await ask({ ...base, anonymous_code: 'made-up' })).json, { err_no: 40019 })
})

t.test('renewal keeps a QQ session\'s platform and a Douyin session\'s anonymity', async (t) => {
  const mocks = { qq: await MockWechat.start({ appId: QQ }), douyin: await MockWechat.start({ appId: TT }) }
  t.teardown(async () => { await mocks.qq.close(); await mocks.douyin.close() })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: QQ, appSecret: 's1', platform: 'qq' }, { appId: TT, appSecret: 's2', platform: 'douyin' }], key: KEY, expiresIn: '1h', renewWithin: '10m' })
  app.get('/me', { onRequest: app.weapp.authenticate }, async () => ({}))
  const now = Math.floor(Date.now() / 1000)
  const near = { iat: now - 3000, exp: now + 60, lat: Date.now() - 3000_000 }
  const qq = await app.inject({ url: '/me', headers: { authorization: `Bearer ${forge(KEY, claims(QQ, { ...near, pf: 'qq', jti: 'abcdefghijklmnopqrstuv' }))}` } })
  t.match(open(qq.headers['x-weapp-session'] as string, KEY).payload, { pf: 'qq', aud: QQ })
  const anon = await app.inject({ url: '/me', headers: { authorization: `Bearer ${forge(KEY, claims(TT, { ...near, pf: 'douyin', an: true, sk: undefined, sub: 'a-1', jti: 'bcdefghijklmnopqrstuvw' }))}` } })
  const payload = open(anon.headers['x-weapp-session'] as string, KEY).payload
  t.match(payload, { pf: 'douyin', an: true, sub: 'a-1' })
  t.notOk('sk' in payload, 'still no session_key')
})

t.test('a session of one platform\'s app is refused where that app is not served, whatever the key', async (t) => {
  const { app, mocks } = await backend(t)
  const sessions = await Promise.all(platforms.map(async (p) => (await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mocks[p.name].login('o-1'), appId: p.appId } })).json().session as string))
  for (const [i, p] of platforms.entries()) {
    // The same key, one app: only that app's sessions open.
    const single = Fastify()
    t.teardown(() => single.close())
    await single.register(weapp, { apps: [p.config('s')], key: KEY })
    single.get('/me', { onRequest: single.weapp.authenticate }, async () => ({}))
    for (const [j, session] of sessions.entries()) {
      const res = await single.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })
      if (i === j) t.equal(res.statusCode, 200, `${p.name}'s own session`)
      else isError(t, res as never, 401, 'WEAPP_SESSION_INVALID')
    }
  }
})
