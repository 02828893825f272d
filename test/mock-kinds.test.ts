// The mock's third-party platform and WeCom APIs answer as the real services do, errors included,
// so that users' own tests of a multi-app backend mean something.
import t, { type Test } from 'tap'
import { MockWechat, createWx } from '../lib/testing.js'

async function start (t: Test): Promise<MockWechat> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  return mock
}

async function get (mock: MockWechat, path: string, query: Record<string, string>): Promise<{ type: string | null, body: Record<string, unknown> }> {
  const res = await fetch(`${mock.url}${path}?${new URLSearchParams(query).toString()}`)
  return { type: res.headers.get('content-type'), body: await res.json() as Record<string, unknown> }
}

async function post (mock: MockWechat, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${mock.url}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) })
  return await res.json() as Record<string, unknown>
}

t.test('component: api_component_token and component/jscode2session', async (t) => {
  const mock = await start(t)
  const comp = mock.addComponent('wxcomp', 'comp-secret')
  const hosted = comp.host('wxhosted')
  const ask = async (fields: Record<string, unknown>): Promise<Record<string, unknown>> => await post(mock, '/cgi-bin/component/api_component_token',
    { component_appid: 'wxcomp', component_appsecret: 'comp-secret', component_verify_ticket: comp.verifyTicket(), ...fields })
  t.match(await ask({ component_appid: 'wxnope' }), { errcode: 61011 }, 'unknown platform')
  t.match(await ask({ component_appsecret: 'wrong' }), { errcode: 40125 }, 'wrong secret')
  t.match(await ask({ component_verify_ticket: 'ticket@@@made-up' }), { errcode: 61006 }, 'a ticket never pushed')
  t.match(await post(mock, '/cgi-bin/component/api_component_token', 'not json'), { errcode: 47001 })
  t.match(await ask({ component_appid: 7 }), { errcode: 61011 }, 'a platform AppID that is not a string')
  t.match(await ask({ component_verify_ticket: undefined }), { errcode: 61006 }, 'no ticket')
  const first = comp.verifyTicket()
  const second = comp.pushTicket()
  t.not(first, second)
  t.equal(comp.verifyTicket(), second, 'the latest ticket')
  const ok = await ask({ component_verify_ticket: first })
  t.same(Object.keys(ok).sort(), ['component_access_token', 'expires_in'], 'success: the token and its lifetime, no errcode')
  t.equal(ok.expires_in, 7200)
  comp.expireTickets()
  t.match(await ask({}), { errcode: 61005 }, 'expired tickets')
  const token = ok.component_access_token as string

  const login = async (fields: Record<string, string>): Promise<{ type: string | null, body: Record<string, unknown> }> => await get(mock, '/sns/component/jscode2session',
    { appid: 'wxhosted', js_code: hosted.login('o-1', { unionid: 'u-1' }), grant_type: 'authorization_code', component_appid: 'wxcomp', component_access_token: token, ...fields })
  const answer = await login({})
  t.equal(answer.type, 'text/plain', 'JSON labelled text/plain, as WeChat does')
  t.same(answer.body, { session_key: hosted.user('o-1').sessionKey, openid: 'o-1', unionid: 'u-1' })
  t.match((await login({ component_access_token: 'made-up' })).body, { errcode: 40001 })
  t.match((await login({ component_appid: 'wxother' })).body, { errcode: 40001 }, 'another platform\'s name with this token')
  t.match((await login({ appid: 'wx0123456789abcdef' })).body, { errcode: 61003 }, 'an app this platform does not host')
  t.match((await login({ grant_type: 'client_credential' })).body, { errcode: 40002 })
  const noCode = await get(mock, '/sns/component/jscode2session', { appid: 'wxhosted', grant_type: 'authorization_code', component_appid: 'wxcomp', component_access_token: token })
  t.match(noCode.body, { errcode: 40029 }, 'no code')
  const noPlatform = await get(mock, '/sns/component/jscode2session', { appid: 'wxhosted', js_code: hosted.login('o-1'), grant_type: 'authorization_code', component_access_token: token })
  t.match(noPlatform.body, { errcode: 40001 }, 'no component_appid')
  t.match((await login({ js_code: mock.login('o-1') })).body, { errcode: 40029 }, 'a code of another app')
  const code = hosted.login('o-1')
  t.notOk('errcode' in (await login({ js_code: code })).body)
  t.match((await login({ js_code: code })).body, { errcode: 40163 }, 'used')
  comp.expireTokens()
  t.match((await login({})).body, { errcode: 42001 })
  comp.revokeTokens()
  t.match((await login({})).body, { errcode: 40001 })
  t.ok(mock.secrets().includes('comp-secret') && mock.secrets().includes(second) && mock.secrets().includes(token), 'secrets() lists the platform\'s secret, tickets and tokens')

  // Authorizer tokens are the hosted app's own access token (phone numbers, checksession).
  const authorizer = comp.authorizerAccessToken('wxhosted')
  t.equal(comp.authorizerAccessToken('wxhosted'), authorizer, 'current until it expires')
  const phone = await post(mock, `/wxa/business/getuserphonenumber?access_token=${authorizer}`, { code: hosted.phoneCode('o-1') })
  t.match(phone, { errcode: 0, phone_info: { watermark: { appid: 'wxhosted' } } })
  t.throws(() => comp.authorizerAccessToken('wx0123456789abcdef'), /not hosted/)
})

t.test('WeCom: gettoken and miniprogram/jscode2session', async (t) => {
  const mock = await start(t)
  const staff = mock.addWecomApp('wxstaff', { corpId: 'wwcorp', corpSecret: 'corp-secret' })
  const other = mock.addWecomApp('wxstaff2', { corpId: 'wwcorp', corpSecret: 'another-app-secret' })
  t.match(await get(mock, '/cgi-bin/gettoken', { corpid: 'wwnope', corpsecret: 'corp-secret' }), { type: 'application/json; charset=UTF-8', body: { errcode: 40013, errmsg: /^invalid corpid, hint: \[.+\], from ip: .+, more info at https:\/\/open\.work\.weixin\.qq\.com\/devtool\/query\?e=40013$/ } })
  t.match((await get(mock, '/cgi-bin/gettoken', { corpid: 'wwcorp', corpsecret: 'wrong' })).body, { errcode: 40001 })
  const ok = await get(mock, '/cgi-bin/gettoken', { corpid: 'wwcorp', corpsecret: 'corp-secret' })
  t.match(ok, { type: 'application/json; charset=UTF-8', body: { errcode: 0, errmsg: 'ok', expires_in: 7200 } })
  const token = ok.body.access_token as string
  t.equal((await get(mock, '/cgi-bin/gettoken', { corpid: 'wwcorp', corpsecret: 'corp-secret' })).body.access_token, token, 'the same token while it is valid')
  const otherToken = (await get(mock, '/cgi-bin/gettoken', { corpid: 'wwcorp', corpsecret: 'another-app-secret' })).body.access_token as string
  t.not(otherToken, token, 'each WeCom app its own token')

  const login = async (fields: Record<string, string>): Promise<Record<string, unknown>> => (await get(mock, '/cgi-bin/miniprogram/jscode2session',
    { access_token: token, js_code: staff.login('zhangsan'), grant_type: 'authorization_code', ...fields })).body
  t.same(await login({}), { corpid: 'wwcorp', userid: 'zhangsan', session_key: staff.user('zhangsan').sessionKey, errcode: 0, errmsg: 'ok' })
  t.match(await login({ access_token: 'made-up' }), { errcode: 40014 })
  t.match(await login({ grant_type: 'x' }), { errcode: 40002 })
  t.match(await login({ js_code: other.login('zhangsan') }), { errcode: 40029 }, 'a code of a mini program linked to another WeCom app')
  t.match(await login({ js_code: mock.login('o-1') }), { errcode: 40029 }, 'a WeChat code')
  t.match(await login({ js_code: 'made-up' }), { errcode: 40029 })
  t.match((await get(mock, '/cgi-bin/miniprogram/jscode2session', { access_token: token, grant_type: 'authorization_code' })).body, { errcode: 40029 }, 'no code')
  const code = staff.login('zhangsan')
  t.equal((await login({ js_code: code })).errcode, 0)
  t.match(await login({ js_code: code }), { errcode: 40029 }, 'used')
  const wechatToken = (await post(mock, '/cgi-bin/stable_token', { grant_type: 'client_credential', appid: mock.appId, secret: mock.appSecret })).access_token as string
  t.match(await login({ access_token: wechatToken }), { errcode: 40014 }, 'a WeChat access token is no WeCom token')
  staff.expireTokens()
  t.match(await login({}), { errcode: 42001 })
  staff.revokeTokens()
  t.match(await login({}), { errcode: 40014 })
  t.ok(mock.secrets().includes('corp-secret'))
})

t.test('one AppID, one kind of app', async (t) => {
  const mock = await start(t)
  mock.addComponent('wxcomp').host('wxhosted')
  mock.addWecomApp('wxstaff', { corpId: 'wwcorp' })
  t.throws(() => mock.addApp('wxhosted'), /another kind of app/)
  t.throws(() => mock.addWecomApp(mock.appId, { corpId: 'wwcorp' }), /another kind of app/)
  t.throws(() => mock.component('wxcomp').host('wxstaff'), /another kind of app/)
  t.throws(() => mock.addComponent('wxcomp'), /already serves the platform/)
  t.throws(() => mock.component('wxnope'), /addComponent/)
  t.throws(() => mock.wecomApp(mock.appId), /addWecomApp/)
  t.throws(() => mock.app('wxnope'), /addApp/)
  t.equal(mock.app('wxhosted').appSecret, '', 'a hosted app has no AppSecret of its own')
  t.equal(mock.wecomApp('wxstaff').corpSecret.startsWith('mock-corp-secret-'), true, 'a made-up corpSecret')
  // WeChat's own login knows neither.
  const answer = await get(mock, '/sns/jscode2session', { appid: 'wxhosted', secret: '', js_code: mock.app('wxhosted').login('o'), grant_type: 'authorization_code' })
  t.match(answer.body, { errcode: 40013 })
})

t.test('createWx for a WeCom app logs in with wx.qy.login()', async (t) => {
  const mock = await start(t)
  const staff = mock.addWecomApp('wxstaff', { corpId: 'wwcorp' })
  const wx = createWx(staff, 'zhangsan')
  const failed = await new Promise<string>((resolve) => { wx.login({ success: () => resolve('succeeded'), fail: (err) => resolve(err.errMsg) }) })
  t.match(failed, /WeCom app: log in with wx\.qy\.login\(\)/)
  const code = await new Promise<string>((resolve, reject) => { wx.qy?.login({ success: (res) => resolve(res.code), fail: reject }) })
  const token = (await get(mock, '/cgi-bin/gettoken', { corpid: 'wwcorp', corpsecret: staff.corpSecret })).body.access_token as string
  t.match((await get(mock, '/cgi-bin/miniprogram/jscode2session', { access_token: token, js_code: code, grant_type: 'authorization_code' })).body, { userid: 'zhangsan' })
  t.equal(wx.logins, 2)
  t.throws(() => wx.phoneButton(), /no getPhoneNumber/)
  // Outside WeCom, wx.qy.login fails.
  const plain = createWx(mock, 'o-1')
  const outside = await new Promise<string>((resolve) => { plain.qy?.login({ success: () => resolve('succeeded'), fail: (err) => resolve(err.errMsg) }) })
  t.match(outside, /not running in WeCom/)
  const check = async (w: typeof wx): Promise<string> => await new Promise<string>((resolve) => { w.qy?.checkSession?.({ success: () => resolve('ok'), fail: (err) => resolve(err.errMsg) }) })
  t.match(await check(plain), /qy\.checkSession:fail not running in WeCom/)
  t.equal(await check(wx), 'ok', 'after wx.qy.login()')
  const wechatCheck = await new Promise<string>((resolve) => { wx.checkSession({ success: () => resolve('ok'), fail: (err) => resolve(err.errMsg) }) })
  t.match(wechatCheck, /wx\.qy\.checkSession/, 'WeChat\'s own session is not the WeCom app\'s')
  wx.lapse()
  t.match(await check(wx), /session time out/)
})
