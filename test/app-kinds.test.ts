// Every kind of app in one registration: concurrent logins share nothing they should not, and
// sessions and building blocks of one kind are not another's.
import t from 'tap'
import { WX, HOSTED, STAFF, CORP, kinds, whoami } from './fixtures/kinds.js'

t.test('concurrent logins to every kind of app share nothing they should not', async (t) => {
  const h = await kinds(t)
  const users = Array.from({ length: 8 }, (_, i) => i)
  const logins = users.flatMap((i) => [
    { appId: WX, code: h.mock.login(`o-wx-${i}`), who: { platform: 'wechat', openid: `o-wx-${i}` } },
    { appId: HOSTED, code: h.mock.app(HOSTED).login(`o-h-${i}`), who: { platform: 'wechat', openid: `o-h-${i}` } },
    { appId: STAFF, code: h.mock.wecomApp(STAFF).login(`m-${i}`), who: { platform: 'wecom', corpId: CORP, userId: `m-${i}` } }
  ])
  const answers = await Promise.all(logins.map(async ({ appId, code }) => await h.post('/weapp/login', { code, appId })))
  for (const [i, res] of answers.entries()) {
    const { appId, who } = logins[i] as (typeof logins)[number]
    t.equal(res.statusCode, 200)
    t.same(await whoami(h, res.json().session), { appId, ...who }, `${appId}: its own user`)
  }
  // Each kind fetched its own token once, whatever the concurrency.
  t.equal(h.count('/cgi-bin/gettoken'), 1)
  t.equal(h.count('/cgi-bin/component/api_component_token'), 1)
  t.equal(h.count('/cgi-bin/stable_token'), 0, 'a login needs no access token for WeChat apps')
  t.same(h.leaks(), [])
})

t.test('sessions and building blocks of one kind are not another\'s', async (t) => {
  const h = await kinds(t)
  const staff = await h.app.weapp.app(STAFF)
  const wx = await h.app.weapp.app(WX)
  t.equal(staff.kind, 'wecom')
  t.equal(wx.kind, 'wechat')
  t.equal((await h.app.weapp.app(HOSTED)).kind, 'component')
  const key = 'tiihtNczf5v6AKRyjwEUhQ=='
  await t.rejects(staff.seal({ openid: 'o', sessionKey: key } as never), TypeError, 'a WeCom app seals members only')
  await t.rejects(wx.seal({ corpId: CORP, userId: 'u', sessionKey: key } as never), TypeError, 'a WeChat app seals WeChat users only')
  const sealed = await staff.seal({ corpId: CORP, userId: 'u', sessionKey: key } as never)
  t.match(await h.app.weapp.unseal(sealed), { platform: 'wecom', appId: STAFF, userId: 'u' })
  await t.rejects(staff.getPhoneNumber('code'), { code: 'WEAPP_UNSUPPORTED' })
  await t.rejects(staff.checkSessionKey('u', key), { code: 'WEAPP_UNSUPPORTED' })
  t.type(await staff.accessToken(), 'string', 'the WeCom app\'s gettoken token')
  // The same user id in two kinds of app: two users (the decrypt budget is per user of an app).
  const { session } = (await h.post('/weapp/login', { code: h.mock.wecomApp(STAFF).login('same'), appId: STAFF })).json()
  const wxSession = (await h.post('/weapp/login', { code: h.mock.login('same'), appId: WX })).json().session
  t.equal((await whoami(h, session)).platform, 'wecom')
  t.equal((await whoami(h, wxSession)).platform, 'wechat')
})
