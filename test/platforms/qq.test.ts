// QQ's quirks: the app's building blocks, the platform option, the client finding QQ's global.
import Fastify from 'fastify'
import t from 'tap'
import weapp from '../../lib/index.js'
import { MockWechat } from '../../lib/testing.js'
import { isError, KEY } from '../fixtures/app.js'
import { claims, forge, open } from '../fixtures/jwe.js'
import { WX, QQ, TT, backend } from '../fixtures/platforms.js'

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
  const { createWeappClient } = await import('../../client/src/index.js')
  const { createWx } = await import('../../lib/testing.js')
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
