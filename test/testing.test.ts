import t from 'tap'
import { createMockWechat, encryptUserData, MockWechat } from '../lib/testing.js'

async function get (url: string): Promise<{ status: number, type: string | null, text: string }> {
  const res = await fetch(url)
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

t.test('answers like WeChat: text/plain JSON, errors as HTTP 200 with errcode', async (t) => {
  const mock = await createMockWechat({ appId: 'wxmock', appSecret: 's3cret' })
  t.teardown(() => mock.close())
  t.match(mock.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const code = mock.login('o-1', { unionid: 'u-1' })
  const q = (c: string, secret = 's3cret', appid = 'wxmock', grant = 'authorization_code'): string =>
    `${mock.url}/sns/jscode2session?appid=${appid}&secret=${secret}&js_code=${c}&grant_type=${grant}`
  const ok = await get(q(code))
  t.equal(ok.status, 200)
  t.equal(ok.type, 'text/plain')
  t.same(JSON.parse(ok.text), { session_key: mock.user('o-1').sessionKey, openid: 'o-1', unionid: 'u-1' })
  const errcodeOf = async (url: string): Promise<number> => JSON.parse((await get(url)).text).errcode
  t.equal(await errcodeOf(q(code)), 40163, 'single use')
  t.equal(await errcodeOf(q('unknown')), 40029)
  t.equal(await errcodeOf(q(mock.login('o-1'), 'wrong')), 40125)
  t.equal(await errcodeOf(q(mock.login('o-1'), 's3cret', 'wxother')), 40013)
  t.equal(await errcodeOf(q(mock.login('o-1'), 's3cret', 'wxmock', 'other')), 40002)
  t.equal(await errcodeOf(q('')), 41008)
  const err = JSON.parse((await get(q('unknown'))).text)
  t.match(err.errmsg, /^invalid code, rid: /)
  t.equal((await get(`${mock.url}/nowhere`)).status, 404)
})

t.test('a user keeps the session_key across logins until it lapses', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const first = mock.user('o-1').sessionKey
  mock.login('o-1')
  t.equal(mock.user('o-1').sessionKey, first)
  mock.login('o-1', { rotate: true })
  t.not(mock.user('o-1').sessionKey, first)
  const third = mock.rotateSessionKey('o-1')
  t.equal(mock.user('o-1').sessionKey, third)
  t.match(third, /^[A-Za-z0-9+/]{22}==$/)
  t.ok(mock.secrets().includes(first) && mock.secrets().includes(third) && mock.secrets().includes(mock.appSecret))
})

t.test('faults are taken in order by matching requests', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.fail({ errcode: 45011 }, { errcode: 12345, errmsg: 'custom' }, { path: '/b', body: 'for b' }, { status: 503, body: 'down', contentType: 'text/html' })
  t.match(JSON.parse((await get(`${mock.url}/a`)).text), { errcode: 45011, errmsg: /minute-quota/ })
  t.match(JSON.parse((await get(`${mock.url}/a`)).text), { errcode: 12345, errmsg: /^custom, rid/ })
  t.same(await get(`${mock.url}/a`), { status: 503, type: 'text/html', text: 'down' }, '/a skips the fault meant for /b')
  t.equal((await get(`${mock.url}/b`)).text, 'for b')
  t.equal((await get(`${mock.url}/b`)).status, 404, 'then back to normal')
  mock.fail({ destroy: true })
  await t.rejects(fetch(`${mock.url}/a`))
  t.equal(mock.calls.length, 6)
  t.same(mock.callsTo('/b').map((c) => c.method), ['GET', 'GET'])
})

t.test('until holds an answer back until the promise settles, whichever way', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  let release!: () => void
  let refuse!: (err: Error) => void
  mock.fail({ until: new Promise<void>((resolve) => { release = resolve }) }, { until: new Promise<void>((_resolve, reject) => { refuse = reject }), errcode: 45011 })
  let answered = false
  const held = get(`${mock.url}/x`).then((res) => { answered = true; return res })
  const refused = get(`${mock.url}/x`)
  while (mock.calls.length < 2) await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.notOk(answered, 'held while the promise is pending')
  release()
  t.equal((await held).status, 404, 'then the normal answer')
  refuse(new Error('a rejected gate still lets the answer through'))
  t.match(JSON.parse((await refused).text), { errcode: 45011 }, 'then the rest of the fault')
})

t.test('listens on IPv6 loopback too', async (t) => {
  const mock = await MockWechat.start({ host: '::1' })
  t.teardown(() => mock.close())
  t.match(mock.url, /^http:\/\/\[::1\]:\d+$/)
  mock.fail({ status: 204 })
  t.same(await get(`${mock.url}/x`), { status: 204, type: 'text/plain', text: '' })
})

t.test('encrypts like WeChat, with a watermark', async (t) => {
  const mock = await MockWechat.start({ appId: 'wxw' })
  t.teardown(() => mock.close())
  const { encryptedData, iv } = mock.encrypt('o-1', { a: 1 }, { timestamp: 5 })
  t.equal(Buffer.from(iv, 'base64').length, 16)
  t.equal(Buffer.from(encryptedData, 'base64').length % 16, 0)
  const fixedIv = Buffer.alloc(16, 3)
  t.equal(encryptUserData('AAECAwQFBgcICQoLDA0ODw==', { a: 1 }, fixedIv).encryptedData, encryptUserData('AAECAwQFBgcICQoLDA0ODw==', { a: 1 }, fixedIv).encryptedData, 'deterministic for a fixed IV')
  const signed = mock.signedRawData('o-1', { nickName: 'n' })
  t.equal(signed.rawData, '{"nickName":"n"}')
  t.match(signed.signature, /^[0-9a-f]{40}$/)
})

t.test('a request that closes before a delayed answer is left alone', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.fail({ delay: 30 })
  const abort = new AbortController()
  const request = fetch(`${mock.url}/x`, { signal: abort.signal }).catch((e: Error) => e)
  while (mock.calls.length === 0) await new Promise((resolve) => setImmediate(resolve))
  abort.abort()
  t.type(await request, Error, 'the client gave up')
  await new Promise((resolve) => setTimeout(resolve, 60)) // past the delay: the mock must not throw
  t.equal(mock.calls.length, 1)
})

t.test('stable_token, getuserphonenumber and checksession answer WeChat\'s errcodes', async (t) => {
  const mock = await MockWechat.start({ accessTokenTtl: 60 })
  t.teardown(() => mock.close())
  const post = async (path: string, body: string): Promise<Record<string, unknown>> =>
    await (await fetch(`${mock.url}${path}`, { method: 'POST', body })).json() as Record<string, unknown>
  const valid = { grant_type: 'client_credential', appid: mock.appId, secret: mock.appSecret }
  t.match(await post('/cgi-bin/stable_token', 'not json'), { errcode: 47001 })
  t.match(await post('/cgi-bin/stable_token', '[]'), { errcode: 47001 })
  t.match(await post('/cgi-bin/stable_token', JSON.stringify({ ...valid, grant_type: 'x' })), { errcode: 40002 })
  t.match(await post('/cgi-bin/stable_token', JSON.stringify({ ...valid, appid: 'wxother' })), { errcode: 40013 })
  t.match(await post('/cgi-bin/stable_token', JSON.stringify({ ...valid, secret: 'wrong' })), { errcode: 40125 })
  const first = await post('/cgi-bin/stable_token', JSON.stringify(valid))
  t.match(first, { access_token: /\w+/, expires_in: 60 })
  t.equal((await post('/cgi-bin/stable_token', JSON.stringify(valid))).access_token, first.access_token, 'normal mode: the same token while valid')
  const forced = await post('/cgi-bin/stable_token', JSON.stringify({ ...valid, force_refresh: true }))
  t.not(forced.access_token, first.access_token, 'force_refresh: a new one')
  const phone = (token: unknown, body: string): Promise<Record<string, unknown>> => post(`/wxa/business/getuserphonenumber?access_token=${String(token)}`, body)
  t.match(await phone(first.access_token, '{}'), { errcode: 40001 }, 'the old token was invalidated')
  t.match(await post('/wxa/business/getuserphonenumber', '{}'), { errcode: 40001 }, 'no token at all')
  t.match(await phone(forced.access_token, 'nope'), { errcode: 47001 })
  t.match(await phone(forced.access_token, '{"code":5}'), { errcode: 40029 })
  const code = mock.phoneCode('o-1')
  t.match(await phone(forced.access_token, JSON.stringify({ code, openid: 'o-2' })), { errcode: 40029 }, 'another user\'s code')
  t.match(await phone(forced.access_token, JSON.stringify({ code })), { errcode: 0, phone_info: { countryCode: 86, watermark: { appid: mock.appId } } })
  t.match(await phone(forced.access_token, JSON.stringify({ code })), { errcode: 40029 }, 'single use')
  mock.expireAccessTokens()
  t.match(await phone(forced.access_token, '{}'), { errcode: 42001 })
  const fresh = await post('/cgi-bin/stable_token', JSON.stringify(valid))
  t.not(fresh.access_token, forced.access_token, 'an expired token is replaced')
  const check = async (query: string): Promise<Record<string, unknown>> => await (await fetch(`${mock.url}/wxa/checksession?access_token=${String(fresh.access_token)}&${query}`)).json() as Record<string, unknown>
  t.match(await check('openid=o-1&signature=x&sig_method=md5'), { errcode: 40097 })
  t.match(await check('openid=o-1&sig_method=hmac_sha256'), { errcode: 40097 })
  t.match(await check('openid=o-unknown&signature=x&sig_method=hmac_sha256'), { errcode: 40003 })
  t.match(await check('signature=x&sig_method=hmac_sha256'), { errcode: 40003 })
  t.match(await check('openid=o-1&signature=x&sig_method=hmac_sha256'), { errcode: 87009, errmsg: /invalid signature/ })
  t.ok(mock.secrets().includes(String(fresh.access_token)), 'access tokens are among the secrets')
})

t.test('several apps: codes, users, tokens and phone codes are each app\'s own', async (t) => {
  const mock = await createMockWechat({ appId: 'wxone', appSecret: 'secret-one', apps: [{ appId: 'wxtwo', appSecret: 'secret-two' }] })
  t.teardown(() => mock.close())
  const three = mock.addApp('wxthree')
  t.match(three.appSecret, /^mock-secret-wxthree-/, 'a secret is made up')
  t.equal(mock.addApp('wxtwo', 'secret-two').appId, 'wxtwo', 'adding an app again with its secret is harmless')
  t.throws(() => mock.addApp('wxtwo', 'another'), /another secret/)
  t.throws(() => mock.app('wxnone'), /serves no app wxnone/)
  t.ok(mock.secrets().includes('secret-two') && mock.secrets().includes(three.appSecret), 'every app\'s secret is a secret')
  const q = (appid: string, secret: string, code: string): string => `${mock.url}/sns/jscode2session?appid=${appid}&secret=${secret}&js_code=${code}&grant_type=authorization_code`
  const two = mock.app('wxtwo')
  const code = two.login('o-1')
  t.equal(JSON.parse((await get(q('wxone', 'secret-one', code))).text).errcode, 40029, 'a code of another app')
  const ok = JSON.parse((await get(q('wxtwo', 'secret-two', code))).text)
  t.equal(ok.session_key, two.user('o-1').sessionKey)
  t.not(two.user('o-1').sessionKey, mock.user('o-1').sessionKey, 'the same openid in two apps: two users')
  t.equal(two.rotateSessionKey('o-1'), two.user('o-1').sessionKey)

  const token = async (appid: string, secret: string): Promise<string> => {
    const res = await fetch(`${mock.url}/cgi-bin/stable_token`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid, secret }) })
    return (JSON.parse(await res.text()) as { access_token: string }).access_token
  }
  const phone = async (accessToken: string, phoneCode: string): Promise<Record<string, any>> => {
    const res = await fetch(`${mock.url}/wxa/business/getuserphonenumber?access_token=${accessToken}`, { method: 'POST', body: JSON.stringify({ code: phoneCode }) })
    return JSON.parse(await res.text())
  }
  const oneToken = await token('wxone', 'secret-one')
  const twoToken = await token('wxtwo', 'secret-two')
  t.not(oneToken, twoToken)
  t.equal((await phone(oneToken, two.phoneCode('o-1'))).errcode, 40029, 'a phone code of another app than the token\'s')
  t.equal((await phone(twoToken, two.phoneCode('o-1'))).phone_info.watermark.appid, 'wxtwo')
  mock.expireAccessTokens('wxtwo')
  t.equal((await phone(twoToken, two.phoneCode('o-1'))).errcode, 42001, 'expired: that app\'s only')
  t.equal((await phone(oneToken, mock.phoneCode('o-1'))).errcode, 0)
  mock.revokeAccessTokens('wxone')
  t.equal((await phone(oneToken, mock.phoneCode('o-1'))).errcode, 40001, 'revoked')
  t.not(await token('wxone', 'secret-one'), oneToken, 'a new one after a revocation')
  t.equal(two.signedRawData('o-1', { a: 1 }).rawData, '{"a":1}')
  t.equal(JSON.parse((await get(`${mock.url}/sns/jscode2session?secret=x&js_code=y&grant_type=authorization_code`)).text).errcode, 40013, 'no appid')
  const numeric = await fetch(`${mock.url}/cgi-bin/stable_token`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid: 42, secret: 'x' }) })
  t.equal(JSON.parse(await numeric.text()).errcode, 40013, 'an appid that is not a string')
})

t.test('createWx drives an Alipay app as Alipay\'s my: the client logs in and reads the phone without a shim', async (t) => {
  const { default: Fastify } = await import('fastify')
  const { default: weapp } = await import('../lib/index.js')
  const { createWx } = await import('../lib/testing.js')
  const { createWeappClient } = await import('../lib/client.js')
  const { KEY } = await import('./fixtures/app.js')
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const alipay = mock.addAlipayApp('2021000000000009')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: alipay.appId, platform: 'alipay', alipay: { privateKey: alipay.privateKey, alipayPublicKey: alipay.alipayPublicKey, contentKey: alipay.contentKey } }], key: KEY, apiBaseUrl: mock.url })
  const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' })
  const my = createWx(alipay, '2088000000000001') // typed as Alipay's my: no cast
  const api = createWeappClient({ baseUrl, wx: my, appId: alipay.appId, platform: 'alipay' })
  t.match(await api.login(), { appId: alipay.appId, openid: '2088000000000001', idType: 'open_id' })
  t.equal(my.logins, 1, 'one my.getAuthCode()')
  const { response } = await new Promise<{ response: string }>((resolve, reject) => { my.getPhoneNumber({ success: resolve, fail: reject }) })
  t.equal(response, alipay.phoneResponse(), 'my.getPhoneNumber() gives the signed response, as Alipay does')
  t.same(await api.phone(response), { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
  // Failures as Alipay's runtime gives them; the wx-only calls say they are not Alipay's.
  my.failNextLogin('getAuthCode:fail user cancelled')
  const failed = await new Promise((resolve) => { my.getAuthCode({ success: resolve, fail: resolve }) })
  t.same(failed, { error: 11, errorMessage: 'getAuthCode:fail user cancelled' })
  const fresh = await new Promise<{ authCode: string }>((resolve, reject) => { my.getAuthCode({ scopes: 'auth_base', success: resolve, fail: reject }) })
  t.match(fresh.authCode, /\S/, 'a fresh code')
  t.throws(() => my.phoneButton(), /no phone button code: my\.getPhoneNumber\(\)/)
  const weRun = await new Promise((resolve) => { my.getWeRunData({ success: resolve, fail: resolve }) })
  t.match(weRun, { errMsg: /no WeRun data/ })
  const other = createWx(mock.app(mock.appId), 'o-1')
  t.notOk('getAuthCode' in other, 'a WeChat app\'s wx has no my.getAuthCode()')
})
