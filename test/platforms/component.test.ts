// Third-party platforms' quirks (mini programs hosted by a component): one shared component token,
// the verify ticket, authorizer tokens for phone numbers, getters that fail.
import t from 'tap'
import { isError, type Harness } from '../fixtures/app.js'
import { WX, HOSTED, BARE, COMP, COMP_SECRET, kinds, whoami } from '../fixtures/kinds.js'

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
