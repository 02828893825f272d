// WeCom's quirks (mini programs linked to a WeCom app): wx.qy.login() members, gettoken's token
// refetched once, its errcodes, no phone numbers, members named by company in the jwt bridge.
import fastifyJwt from '@fastify/jwt'
import t from 'tap'
import { isError, KEY } from '../fixtures/app.js'
import { claims, forge } from '../fixtures/jwe.js'
import { WX, STAFF, CORP, CORP_SECRET, kinds, whoami } from '../fixtures/kinds.js'

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
  const h = await kinds(t, { plugin: { timeout: 1000 } })
  const staff = h.mock.wecomApp(STAFF)
  const cases: Array<[Record<string, unknown>, number, string, RegExp?]> = [
    [{ errcode: 40029, errmsg: 'invalid code' }, 401, 'WEAPP_INVALID_CODE', /wx\.qy\.login/],
    [{ errcode: 45009, errmsg: 'api freq out of limit' }, 429, 'WEAPP_RATE_LIMITED', /WeCom is rate limiting/],
    [{ errcode: -1, errmsg: 'system busy' }, 502, 'WEAPP_UPSTREAM_ERROR', /WeCom is busy/],
    [{ errcode: 60020, errmsg: 'not allow to access from your ip' }, 502, 'WEAPP_UPSTREAM_ERROR', /misconfigured/],
    [{ errcode: 12345 }, 502, 'WEAPP_UPSTREAM_ERROR', /WeCom answered errcode 12345/],
    [{ status: 502, body: 'bad gateway' }, 502, 'WEAPP_UPSTREAM_ERROR', /WeCom answered HTTP 502/],
    [{ destroy: true }, 502, 'WEAPP_UPSTREAM_ERROR', /Could not reach the WeCom API/],
    [{ delay: 60_000 }, 504, 'WEAPP_UPSTREAM_TIMEOUT']
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

t.test('a WeCom member\'s session never reaches WeChat\'s phone API, whatever its app is now', async (t) => {
  const h = await kinds(t)
  // A member's session for an app that is a WeChat mini program (say a lookup changed its kind).
  const member = forge(KEY, claims(WX, { cid: CORP, sub: 'zhangsan' }))
  t.match(await whoami(h, member), { platform: 'wecom', appId: WX, userId: 'zhangsan' })
  const res = await h.post('/weapp/phone', { code: h.mock.phoneCode('zhangsan') }, member)
  isError(t, res, 400, 'WEAPP_UNSUPPORTED')
  t.equal(h.count('/wxa/business/getuserphonenumber'), 0, 'no phone call, with or without an openid')
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
