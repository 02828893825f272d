// One table of platforms whose login has WeChat's shape: each row runs the same login,
// authenticate, decrypt, error-mapping, phone and cross-platform tests. A platform's mock is the
// package's MockWechat on that platform's origin (QQ answers WeChat's shapes).
import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import weapp, { type WeappAppConfig } from '../lib/index.js'
import { MockWechat } from '../lib/testing.js'
import { isError, KEY } from './fixtures/app.js'
import { claims, forge, open } from './fixtures/jwe.js'

const WX = 'wx0123456789abcdef'
const QQ = '1109876543'

interface Platform {
  name: 'wechat' | 'qq'
  appId: string
  config: (secret: string) => WeappAppConfig
  referer: (appId: string) => string
  service: RegExp
}

const platforms: Platform[] = [
  { name: 'wechat', appId: WX, config: (appSecret) => ({ appId: WX, appSecret }), referer: (id) => `https://servicewechat.com/${id}/3/page-frame.html`, service: /WeChat/ },
  { name: 'qq', appId: QQ, config: (appSecret) => ({ appId: QQ, appSecret, platform: 'qq' }), referer: (id) => `https://appservice.qq.com/${id}/1.0.0/page-frame.html`, service: /QQ/ }
]

/** One backend serving a WeChat and a QQ mini program, each platform's API on its own mock origin. */
async function backend (t: Test): Promise<{ app: ReturnType<typeof Fastify>, mocks: Record<Platform['name'], MockWechat>, logs: string[] }> {
  const mocks = { wechat: await MockWechat.start({ appId: WX }), qq: await MockWechat.start({ appId: QQ, appSecret: 'qq-app-secret-0123456789' }) }
  t.teardown(async () => { await mocks.wechat.close(); await mocks.qq.close() })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(fastifyJwt, { secret: 'a-test-secret-for-the-app-jwt-0123456789' })
  await app.register(weapp, {
    apps: platforms.map((p) => p.config(mocks[p.name].appSecret)),
    key: KEY,
    timeout: 300,
    jwt: true,
    apiBaseUrl: { wechat: mocks.wechat.url, qq: mocks.qq.url }
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
    const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1', { unionid: 'u-1' }) }, headers: { referer: p.referer(p.appId) } })
    t.equal(res.statusCode, 200, 'the Referer picks the app')
    const body = res.json()
    t.match(body, { appId: p.appId, openid: 'o-1', unionid: 'u-1' })
    t.equal(mock.callsTo('/sns/jscode2session').length, 1, `${p.name}'s own origin was asked`)
    const other = p.name === 'wechat' ? mocks.qq : mocks.wechat
    t.equal(other.callsTo('/sns/jscode2session').length, 0, 'the other platform\'s never')
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
    for (const [fault, status, code] of [
      [{ errcode: 40029 }, 401, 'WEAPP_INVALID_CODE'],
      [{ errcode: 45011 }, 429, 'WEAPP_RATE_LIMITED'],
      [{ errcode: -1 }, 502, 'WEAPP_UPSTREAM_ERROR'],
      [{ status: 500, body: 'x' }, 502, 'WEAPP_UPSTREAM_ERROR'],
      [{ delay: 1000 }, 504, 'WEAPP_UPSTREAM_TIMEOUT']
    ] as const) {
      mock.fail(fault)
      isError(t, await login() as never, status, code)
    }
    mock.fail({ status: 502, body: 'bad gateway' })
    t.match((await login()).json().message, p.service, 'the message names the platform')
    // A code of one platform's app is refused for the other's.
    const otherId = p.name === 'wechat' ? QQ : WX
    isError(t, await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-1'), appId: otherId } }) as never, 401, 'WEAPP_INVALID_CODE')
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
    [{ appId: QQ, platform: 'douyin', appSecret: 's' }, /platform must be 'wechat' or 'qq'/],
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
