// One table of platforms whose login has WeChat's shape: each row runs the same login,
// authenticate, decrypt, error-mapping, phone and cross-platform tests. A platform's mock is the
// package's MockWechat on that platform's origin (QQ answers WeChat's shapes; Douyin's
// jscode2session is served on its own path).
import Fastify from 'fastify'
import t from 'tap'
import weapp from '../../lib/index.js'
import { isError, KEY } from '../fixtures/app.js'
import { open } from '../fixtures/jwe.js'
import { platforms, backend } from '../fixtures/platforms.js'

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
