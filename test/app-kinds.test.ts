// The three kinds of app end to end, through the routes and the mock: a WeChat mini program, one
// hosted by a third-party platform (component), and one linked to a WeCom app. Each has its own
// upstream and tokens; sessions say which app and which kind of user they hold.
import fastifyJwt from '@fastify/jwt'
import t, { type Test } from 'tap'
import type { WeappAppConfig } from '../lib/index.js'
import { harness, isError, KEY, type Harness, type HarnessOptions } from './fixtures/app.js'
import { claims, forge } from './fixtures/jwe.js'

const WX = 'wx0123456789abcdef' // the mock's default WeChat mini program
const HOSTED = 'wxhosted0000000001' // hosted by COMP; its platform gives authorizer tokens
const BARE = 'wxhosted0000000002' // hosted by COMP; no authorizer token getter
const STAFF = 'wxstaff00000000001' // linked to a WeCom app of CORP
const COMP = 'wxcomponent0000001'
const COMP_SECRET = 'component-secret-0123456789abcdef'
const CORP = 'ww0123456789abcdef'
const CORP_SECRET = 'corp-app-secret-0123456789abcdef'

interface Kinds extends Harness {
  /** Counts the mock's calls to a path. */
  count (path: string): number
}

/** The plugin with all three kinds (plus extra configs), and the mock serving them. */
async function kinds (t: Test, extra: { plugin?: Record<string, unknown>, apps?: (h: { ticket: () => string }) => WeappAppConfig[], before?: HarnessOptions['before'] } = {}): Promise<Kinds> {
  const ref: { mock?: Harness['mock'] } = {} // the mock, once the harness made it
  const ticket = (): string => ref.mock?.component(COMP).verifyTicket() ?? 'no mock yet'
  const component = { appId: COMP, appSecret: COMP_SECRET, verifyTicket: ticket }
  const apps: WeappAppConfig[] = [
    { appId: WX, appSecret: 'mock-app-secret-0123456789abcdef' },
    { appId: HOSTED, component: { ...component, authorizerAccessToken: (appId) => (ref.mock as Harness['mock']).component(COMP).authorizerAccessToken(appId) } },
    { appId: BARE, component },
    { appId: STAFF, wecom: { corpId: CORP, corpSecret: CORP_SECRET } },
    ...(extra.apps?.({ ticket }) ?? [])
  ]
  const h = await harness(t, {
    plugin: { apps, ...extra.plugin },
    async before (app) {
      app.get('/whoami', { onRequest: async (request, reply) => { await app.weapp.authenticate(request, reply) } }, async (request) => {
        const { sessionKey: _key, expiresAt: _at, jti: _jti, loginAt: _login, ...who } = request.weappSession as unknown as Record<string, unknown>
        return who
      })
      await extra.before?.(app)
    }
  })
  ref.mock = h.mock
  const comp = h.mock.addComponent(COMP, COMP_SECRET)
  comp.host(HOSTED)
  comp.host(BARE)
  h.mock.addWecomApp(STAFF, { corpId: CORP, corpSecret: CORP_SECRET })
  return Object.assign(h, { count: (path: string) => h.mock.callsTo(path).length })
}

async function whoami (h: Harness, session: string): Promise<Record<string, unknown>> {
  const res = await h.app.inject({ url: '/whoami', headers: { authorization: `Bearer ${session}` } })
  return res.json()
}

t.test('WeCom: a member logs in with a wx.qy.login() code and the session holds corpId + userId', async (t) => {
  const h = await kinds(t)
  const staff = h.mock.wecomApp(STAFF)
  const res = await h.post('/weapp/login', { code: staff.login('zhangsan'), appId: STAFF })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['appId', 'corpId', 'expiresIn', 'session', 'userId'], 'corpId and userId instead of openid')
  t.match(body, { appId: STAFF, corpId: CORP, userId: 'zhangsan' })
  t.same(await whoami(h, body.session), { platform: 'wecom', appId: STAFF, corpId: CORP, userId: 'zhangsan' })
  // The WeCom call carried the WeCom app's token, fetched once for the company's app.
  const [gettoken] = h.mock.callsTo('/cgi-bin/gettoken')
  t.match(gettoken?.query, { corpid: CORP, corpsecret: CORP_SECRET })
  await h.post('/weapp/login', { code: staff.login('lisi'), appId: STAFF })
  t.equal(h.count('/cgi-bin/gettoken'), 1, 'one gettoken for two logins')
  t.equal(h.count('/sns/jscode2session'), 0, 'WeChat\'s login API is never asked')

  // Decrypt with the session's key; the watermark is the mini program's.
  const data = staff.encrypt('zhangsan', { stepInfoList: [{ timestamp: 1, step: 9 }] })
  const decrypted = await h.post('/weapp/decrypt', data, body.session)
  t.equal(decrypted.statusCode, 200)
  t.match(decrypted.json().data, { stepInfoList: [{ step: 9 }], watermark: { appid: STAFF } })
  // With a fresh code of the same member: renewed; of another member: refused.
  staff.rotateSessionKey('zhangsan')
  const rotated = staff.encrypt('zhangsan', { n: 1 })
  isError(t, await h.post('/weapp/decrypt', rotated, body.session), 400, 'WEAPP_DECRYPT_FAILED')
  const cured = await h.post('/weapp/decrypt', { ...rotated, code: staff.login('zhangsan') }, body.session)
  t.equal(cured.statusCode, 200, 'a fresh code cures a rotated key')
  t.same(await whoami(h, cured.json().session), { platform: 'wecom', appId: STAFF, corpId: CORP, userId: 'zhangsan' }, 'the renewed session is the same member')
  isError(t, await h.post('/weapp/decrypt', { ...rotated, code: staff.login('lisi') }, body.session), 401, 'WEAPP_INVALID_CODE')

  // No phone numbers by code for WeCom members.
  const phone = await h.post('/weapp/phone', { code: 'any-code' }, body.session)
  isError(t, phone, 400, 'WEAPP_UNSUPPORTED')
  t.match(phone.json().message, /WeCom/)
  t.equal(h.count('/wxa/business/getuserphonenumber'), 0)
  t.same(h.leaks(), [], 'neither the corpSecret, the token, a code nor a session_key in a log or reply')
})

t.test('WeCom: a refused or expired token is fetched anew once; the code is used once', async (t) => {
  const h = await kinds(t)
  const staff = h.mock.wecomApp(STAFF)
  t.equal((await h.post('/weapp/login', { code: staff.login('a'), appId: STAFF })).statusCode, 200)
  staff.revokeTokens() // 40014 with the cached token
  const revoked = await h.post('/weapp/login', { code: staff.login('a'), appId: STAFF })
  t.equal(revoked.statusCode, 200, 'after 40014: a new token, one more call')
  staff.expireTokens() // 42001
  t.equal((await h.post('/weapp/login', { code: staff.login('a'), appId: STAFF })).statusCode, 200, 'after 42001 too')
  t.equal(h.count('/cgi-bin/gettoken'), 3)
  t.equal(h.count('/cgi-bin/miniprogram/jscode2session'), 5, 'three logins, two of them retried once')
  // A token refused twice is a 502 that says so, not a loop.
  h.mock.fail({ path: '/cgi-bin/miniprogram/jscode2session', errcode: 40014 }, { path: '/cgi-bin/miniprogram/jscode2session', errcode: 40014 })
  const twice = await h.post('/weapp/login', { code: staff.login('a'), appId: STAFF })
  isError(t, twice, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(twice.json().message, /fresh token was refused too/)
})

t.test('WeCom errors map to the contract\'s codes', async (t) => {
  const h = await kinds(t, { plugin: { timeout: 300 } })
  const staff = h.mock.wecomApp(STAFF)
  const cases: Array<[Record<string, unknown>, number, string, RegExp?]> = [
    [{ errcode: 40029, errmsg: 'invalid code' }, 401, 'WEAPP_INVALID_CODE', /wx\.qy\.login/],
    [{ errcode: 45009, errmsg: 'api freq out of limit' }, 429, 'WEAPP_RATE_LIMITED', /WeCom is rate limiting/],
    [{ errcode: -1, errmsg: 'system busy' }, 502, 'WEAPP_UPSTREAM_ERROR', /WeCom is busy/],
    [{ errcode: 60020, errmsg: 'not allow to access from your ip' }, 502, 'WEAPP_UPSTREAM_ERROR', /misconfigured/],
    [{ errcode: 12345 }, 502, 'WEAPP_UPSTREAM_ERROR', /WeCom answered errcode 12345/],
    [{ status: 502, body: 'bad gateway' }, 502, 'WEAPP_UPSTREAM_ERROR', /WeCom answered HTTP 502/],
    [{ destroy: true }, 502, 'WEAPP_UPSTREAM_ERROR', /Could not reach the WeCom API/],
    [{ delay: 1500 }, 504, 'WEAPP_UPSTREAM_TIMEOUT']
  ]
  await h.post('/weapp/login', { code: staff.login('a'), appId: STAFF }) // the token is cached
  for (const [fault, status, code, message] of cases) {
    h.mock.fail({ path: '/cgi-bin/miniprogram/jscode2session', ...fault })
    const res = await h.post('/weapp/login', { code: staff.login('a'), appId: STAFF })
    isError(t, res, status, code)
    if (message !== undefined) t.match(res.json().message, message, JSON.stringify(fault))
  }
  // A WeChat code is no WeCom code, and back: each upstream refuses the other's.
  isError(t, await h.post('/weapp/login', { code: h.mock.login('o-1'), appId: STAFF }), 401, 'WEAPP_INVALID_CODE')
  isError(t, await h.post('/weapp/login', { code: staff.login('a'), appId: WX }), 401, 'WEAPP_INVALID_CODE')
  t.same(h.leaks(), [])
})

t.test('WeCom: an answer without a usable member is a 502', async (t) => {
  const h = await kinds(t)
  const staff = h.mock.wecomApp(STAFF)
  const key = staff.user('m').sessionKey
  for (const body of [
    { corpid: CORP, userid: '', session_key: key, errcode: 0 },
    { corpid: '', userid: 'm', session_key: key },
    { corpid: CORP, userid: 'm', session_key: 'short' },
    { corpid: CORP, userid: 7, session_key: key }
  ]) {
    h.mock.fail({ path: '/cgi-bin/miniprogram/jscode2session', body: JSON.stringify(body), contentType: 'application/json' })
    const res = await h.post('/weapp/login', { code: staff.login('m'), appId: STAFF })
    isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, /without a usable corpid, userid and session_key/)
  }
  t.same(h.leaks(), [])
})

t.test('WeCom: wrong credentials are the server\'s fault, said without the secret', async (t) => {
  const h = await kinds(t, { apps: () => [{ appId: 'wxstaffwrong000001', wecom: { corpId: CORP, corpSecret: 'not-the-secret' } }, { appId: 'wxstaffwrong000002', wecom: { corpId: 'wwunknown', corpSecret: CORP_SECRET } }] })
  // The company's real token is cached: a config with another secret must not get it.
  t.equal((await h.post('/weapp/login', { code: h.mock.wecomApp(STAFF).login('m'), appId: STAFF })).statusCode, 200)
  for (const appId of ['wxstaffwrong000001', 'wxstaffwrong000002']) {
    const res = await h.post('/weapp/login', { code: 'some-code', appId })
    isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, /misconfigured; check the app's corpId, corpSecret/)
  }
  t.notOk(h.logs.some((l) => l.includes('not-the-secret')), 'the wrong secret is not logged either')
  t.same(h.leaks(), [])
})

t.test('third-party platform: hosted apps log in through the component API with one shared component token', async (t) => {
  const h = await kinds(t)
  const comp = h.mock.component(COMP)
  const hosted = h.mock.app(HOSTED)
  const res = await h.post('/weapp/login', { code: hosted.login('o-h1', { unionid: 'u-h1' }), appId: HOSTED })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.match(body, { appId: HOSTED, openid: 'o-h1', unionid: 'u-h1' })
  t.same(await whoami(h, body.session), { platform: 'wechat', appId: HOSTED, openid: 'o-h1', unionid: 'u-h1' })
  const [login] = h.mock.callsTo('/sns/component/jscode2session')
  t.match(login?.query, { appid: HOSTED, component_appid: COMP, grant_type: 'authorization_code' })
  t.notOk('secret' in (login?.query ?? {}), 'no AppSecret: a hosted app has none here')
  const [tokenCall] = h.mock.callsTo('/cgi-bin/component/api_component_token')
  t.same(JSON.parse(tokenCall?.body ?? '{}'), { component_appid: COMP, component_appsecret: COMP_SECRET, component_verify_ticket: comp.verifyTicket() })
  // Another hosted app of the same platform: the same component token.
  t.equal((await h.post('/weapp/login', { code: h.mock.app(BARE).login('o-b1'), appId: BARE })).statusCode, 200)
  t.equal(h.count('/cgi-bin/component/api_component_token'), 1, 'one component token for every app of the platform')
  t.equal(h.count('/sns/jscode2session'), 0)

  // Decrypt and phone with the hosted app's own data and authorizer token.
  const decrypted = await h.post('/weapp/decrypt', hosted.encrypt('o-h1', { a: 1 }), body.session)
  t.match(decrypted.json(), { data: { a: 1, watermark: { appid: HOSTED } } })
  const phone = await h.post('/weapp/phone', { code: hosted.phoneCode('o-h1', { purePhoneNumber: '13900139000', phoneNumber: '13900139000' }) }, body.session)
  t.equal(phone.statusCode, 200)
  t.equal(phone.json().phone.purePhoneNumber, '13900139000')
  const [phoneCall] = h.mock.callsTo('/wxa/business/getuserphonenumber')
  t.equal(phoneCall?.query.access_token, comp.authorizerAccessToken(HOSTED), 'with the authorizer access token')
  t.equal(h.count('/cgi-bin/stable_token'), 0, 'never stable_token for a hosted app')
  t.same(h.leaks(), [], 'neither the platform secret, a ticket, a token nor a session_key leaked')
})

t.test('a WeCom member\'s session never reaches WeChat\'s phone API, whatever its app is now', async (t) => {
  const h = await kinds(t)
  // A member's session for an app that is a WeChat mini program (say a lookup changed its kind).
  const member = forge(KEY, claims(WX, { cid: CORP, sub: 'zhangsan' }))
  t.match(await whoami(h, member), { platform: 'wecom', appId: WX, userId: 'zhangsan' })
  const res = await h.post('/weapp/phone', { code: h.mock.phoneCode('zhangsan') }, member)
  isError(t, res, 400, 'WEAPP_UNSUPPORTED')
  t.equal(h.count('/wxa/business/getuserphonenumber'), 0, 'no phone call, with or without an openid')
})

t.test('third-party platform: phone numbers without an authorizer token getter are a clear 400', async (t) => {
  const h = await kinds(t)
  const bare = h.mock.app(BARE)
  const { session } = (await h.post('/weapp/login', { code: bare.login('o-b1'), appId: BARE })).json()
  const res = await h.post('/weapp/phone', { code: bare.phoneCode('o-b1') }, session)
  isError(t, res, 400, 'WEAPP_UNSUPPORTED')
  t.match(res.json().message, /component\.authorizerAccessToken\(appId\)/)
  t.equal(h.count('/wxa/business/getuserphonenumber'), 0)
  const api = await h.app.weapp.app(BARE)
  await t.rejects(api.accessToken(), { code: 'WEAPP_UNSUPPORTED' }, 'accessToken() says the same')
  await t.rejects(api.checkSessionKey('o-b1', bare.user('o-b1').sessionKey), { code: 'WEAPP_UNSUPPORTED' })
  const hosted = await h.app.weapp.app(HOSTED)
  t.equal(await hosted.checkSessionKey('o-h1', h.mock.app(HOSTED).user('o-h1').sessionKey), true, 'with a getter, checksession works')
})

t.test('third-party platform: a refused component token is fetched anew with the latest ticket', async (t) => {
  const h = await kinds(t)
  const comp = h.mock.component(COMP)
  const hosted = h.mock.app(HOSTED)
  t.equal((await h.post('/weapp/login', { code: hosted.login('o'), appId: HOSTED })).statusCode, 200)
  // WeChat pushes a new ticket and the old ones expire; the cached token still works.
  comp.pushTicket()
  comp.expireTickets()
  const latest = comp.pushTicket()
  t.equal((await h.post('/weapp/login', { code: hosted.login('o'), appId: HOSTED })).statusCode, 200, 'cached token')
  t.equal(h.count('/cgi-bin/component/api_component_token'), 1)
  comp.revokeTokens() // 40001
  t.equal((await h.post('/weapp/login', { code: hosted.login('o'), appId: HOSTED })).statusCode, 200, 'refetched after 40001')
  comp.expireTokens() // 42001
  t.equal((await h.post('/weapp/login', { code: hosted.login('o'), appId: HOSTED })).statusCode, 200, 'refetched after 42001')
  const tokenCalls = h.mock.callsTo('/cgi-bin/component/api_component_token')
  t.equal(tokenCalls.length, 3)
  t.equal(JSON.parse(tokenCalls[2]?.body ?? '{}').component_verify_ticket, latest, 'with the latest ticket')
  t.equal(h.count('/sns/component/jscode2session'), 6, 'four logins, two retried once')
  // A ticket that expired with no new one pushed: a 502 that says what to fix.
  comp.expireTickets()
  comp.revokeTokens()
  const stale = await h.post('/weapp/login', { code: hosted.login('o'), appId: HOSTED })
  isError(t, stale, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(stale.json().message, /verify ticket \(errcode 61005.*verifyTicket\(\) must return the latest ticket/)
  t.same(h.leaks(), [])
})

t.test('third-party platform: what api_component_token refuses is the server\'s fault, said without a secret', async (t) => {
  const wrong = 'wxhosted0000000009'
  const stranger = 'wxhosted0000000008'
  const h = await kinds(t, {
    apps: ({ ticket }) => [
      { appId: wrong, component: { appId: COMP, appSecret: 'not-the-platform-secret', verifyTicket: ticket } },
      { appId: stranger, component: { appId: 'wxnotaplatform0001', appSecret: COMP_SECRET, verifyTicket: ticket } }
    ]
  })
  h.mock.component(COMP).host(wrong)
  h.mock.component(COMP).host(stranger)
  const cases: Array<[string, Record<string, unknown> | undefined, number, RegExp]> = [
    [HOSTED, { errcode: 61004 }, 502, /IP allow-list/],
    [HOSTED, { errcode: -1 }, 502, /WeChat is busy/],
    [HOSTED, { errcode: 45009 }, 502, /WeChat answered errcode 45009/],
    [HOSTED, { body: '{"component_access_token":"","expires_in":7200}' }, 502, /without a usable component_access_token/],
    [HOSTED, { errcode: 41004 }, 502, /errcode 41004\): check component\.appId and component\.appSecret/],
    [wrong, undefined, 502, /errcode 40125\): check component\.appId and component\.appSecret/],
    [stranger, undefined, 502, /errcode 61011\): check component\.appId and component\.appSecret/]
  ]
  for (const [appId, fault, status, message] of cases) {
    if (fault !== undefined) h.mock.fail({ path: '/cgi-bin/component/api_component_token', ...fault })
    // Once the faults are spent, the platform's real token is cached: a config with another secret
    // (or another platform) must not get it.
    if (fault === undefined) t.equal((await h.post('/weapp/login', { code: h.mock.app(HOSTED).login('o'), appId: HOSTED })).statusCode, 200)
    const res = await h.post('/weapp/login', { code: h.mock.app(appId).login('o'), appId })
    isError(t, res, status, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, message, JSON.stringify(fault))
  }
  t.notOk(h.logs.some((l) => l.includes('not-the-platform-secret')), 'the wrong secret is not logged either')
  t.same(h.leaks(), [])
})

t.test('third-party platform: codes of one app are refused for another, and errors map as for WeChat', async (t) => {
  const h = await kinds(t)
  const hosted = h.mock.app(HOSTED)
  isError(t, await h.post('/weapp/login', { code: hosted.login('o'), appId: BARE }), 401, 'WEAPP_INVALID_CODE')
  isError(t, await h.post('/weapp/login', { code: hosted.login('o'), appId: WX }), 401, 'WEAPP_INVALID_CODE')
  isError(t, await h.post('/weapp/login', { code: h.mock.login('o'), appId: HOSTED }), 401, 'WEAPP_INVALID_CODE')
  const code = hosted.login('o')
  t.equal((await h.post('/weapp/login', { code, appId: HOSTED })).statusCode, 200)
  isError(t, await h.post('/weapp/login', { code, appId: HOSTED }), 401, 'WEAPP_INVALID_CODE')
  for (const [errcode, status, name] of [[45011, 429, 'WEAPP_RATE_LIMITED'], [40226, 403, 'WEAPP_RISKY_USER'], [-1, 502, 'WEAPP_UPSTREAM_ERROR']] as const) {
    h.mock.fail({ path: '/sns/component/jscode2session', errcode })
    isError(t, await h.post('/weapp/login', { code: hosted.login('o'), appId: HOSTED }), status, name)
  }
})

t.test('third-party platform: the platform\'s own token getter, and getters that fail', async (t) => {
  let calls = 0
  let broken: 'throw' | 'empty' | 'stale' | undefined
  const made: { mock?: Harness['mock'] } = {}
  const own = 'wxhosted0000000003'
  const tokenOf = async (): Promise<string> => {
    calls++
    if (broken === 'throw') throw new Error('token store down at redis://:hunter2@10.0.0.1')
    if (broken === 'empty') return ''
    if (broken === 'stale') return 'a-token-wechat-refuses'
    // The platform's own token, fetched as it would fetch it.
    const res = await fetch(`${made.mock?.url ?? ''}/cgi-bin/component/api_component_token`, {
      method: 'POST', body: JSON.stringify({ component_appid: COMP, component_appsecret: COMP_SECRET, component_verify_ticket: made.mock?.component(COMP).verifyTicket() })
    })
    return ((await res.json()) as { component_access_token: string }).component_access_token
  }
  const h = await kinds(t, { apps: () => [{ appId: own, component: { appId: COMP, accessToken: tokenOf } }] })
  made.mock = h.mock
  h.mock.component(COMP).host(own)
  const app = h.mock.app(own)
  t.equal((await h.post('/weapp/login', { code: app.login('o'), appId: own })).statusCode, 200)
  t.equal((await h.post('/weapp/login', { code: app.login('o'), appId: own })).statusCode, 200)
  t.equal(calls, 2, 'the getter is asked on every login (it keeps its own cache)')
  broken = 'throw'
  const thrown = await h.post('/weapp/login', { code: app.login('o'), appId: own })
  isError(t, thrown, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(thrown.json().message, /component\.accessToken\(\) failed/)
  t.ok(h.logs.some((l) => l.includes('token store down')), 'what the getter threw is logged as the cause')
  t.notOk(JSON.stringify(thrown.json()).includes('hunter2'), 'but never answered')
  broken = 'empty'
  t.match((await h.post('/weapp/login', { code: app.login('o'), appId: own })).json(), { statusCode: 502, message: /returned no token/ })
  broken = 'stale'
  const stale = await h.post('/weapp/login', { code: app.login('o'), appId: own })
  isError(t, stale, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(stale.json().message, /refused too.*component\.accessToken\(\) must return/)
})

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

t.test('the jwt bridge names WeCom members by company and UserID, never like an openid', async (t) => {
  const h = await kinds(t, {
    plugin: { jwt: true },
    async before (app) { await app.register(fastifyJwt, { secret: 'a-test-secret-for-the-app-jwt-0123456789' }) }
  })
  const body = (await h.post('/weapp/login', { code: h.mock.wecomApp(STAFF).login('zhangsan'), appId: STAFF })).json()
  const payload = h.app.jwt.decode(body.token) as Record<string, unknown>
  t.same(Object.keys(payload).sort(), ['aud', 'corpId', 'exp', 'iat', 'jti', 'lat', 'platform', 'sub', 'userId'])
  t.match(payload, { sub: `${CORP}:zhangsan`, corpId: CORP, userId: 'zhangsan', platform: 'wecom', aud: STAFF })
})
