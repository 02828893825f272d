// The mock's four later platforms refuse what their services refuse: wrong credentials, a missing
// or used code, a bad token, a request whose signature does not verify. Raw HTTP, so that each
// refusal is the mock's own and not the plugin's.
import { sign } from 'node:crypto'
import t from 'tap'
import { MockWechat } from '../lib/testing.js'

async function post (url: string, body: string, headers: Record<string, string> = {}): Promise<Record<string, any>> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } })
  return await res.json() as Record<string, any>
}

t.test('Kuaishou and Baidu: credentials, a missing code, a used code', async (t) => {
  const mock = await MockWechat.start({ apps: [{ appId: 'ks1', appSecret: 'ks-secret' }] })
  t.teardown(() => mock.close())
  const baidu = mock.addBaiduApp('bd1')
  const ks = `${mock.url}/oauth2/mp/code2session`
  t.match(await post(ks, 'app_id=ks1&app_secret=wrong&js_code=x'), { result: 100200101 })
  t.match(await post(ks, 'app_secret=ks-secret&js_code=x'), { result: 100200101 })
  t.match(await post(ks, 'app_id=ks1&app_secret=ks-secret'), { result: 100200100 })
  t.match(await post(ks, 'app_id=ks1&app_secret=ks-secret&js_code=nope'), { result: 100200105 })
  t.match(await post(ks, `app_id=ks1&app_secret=ks-secret&js_code=${mock.app('ks1').login('u')}`), { result: 1, open_id: 'u' })
  const bd = `${mock.url}/oauth/jscode2sessionkey`
  t.match(await post(bd, 'client_id=bd1&sk=wrong&code=x'), { error: 'invalid_client' })
  t.match(await post(bd, 'code=x'), { error: 'invalid_client' })
  t.match(await post(bd, `client_id=bd1&sk=${baidu.appSecret}`), { error: 'invalid_request' })
  t.match(await post(bd, `client_id=bd1&sk=${baidu.appSecret}&code=nope`), { error: 'invalid_grant' })
  const answer = await post(bd, `client_id=bd1&sk=${baidu.appSecret}&code=${baidu.login('u')}`)
  t.equal(answer.session_key, baidu.sessionKeyOf('u'))
  t.throws(() => mock.baiduApp('nope'), /addBaiduApp\(\) it first/)
  t.ok(mock.addBaiduApp('bd2').appSecret.startsWith('mock-baidu-secret-'), 'a secret made up')
})

t.test('Feishu: app credentials, the Bearer token, the code', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const feishu = mock.addFeishuApp('cli_1', { appSecret: 'fs-secret' })
  const json = { 'content-type': 'application/json' }
  const token = `${mock.url}/open-apis/auth/v3/app_access_token/internal`
  t.match(await post(token, '{}', json), { code: 10003 })
  t.match(await post(token, 'not json', json), { code: 10003 })
  t.match(await post(token, JSON.stringify({ app_id: 'cli_1', app_secret: 'x' }), json), { code: 10014 })
  const { app_access_token: issued } = await post(token, JSON.stringify({ app_id: 'cli_1', app_secret: 'fs-secret' }), json)
  const login = `${mock.url}/open-apis/mina/v2/tokenLoginValidate`
  t.match(await post(login, JSON.stringify({ code: feishu.login('u') }), json), { code: 10202 }, 'no token')
  t.match(await post(login, JSON.stringify({ code: feishu.login('u') }), { ...json, authorization: 'Bearer nope' }), { code: 10202 })
  t.match(await post(login, JSON.stringify({ code: 42 }), { ...json, authorization: `Bearer ${issued as string}` }), { code: 10213 })
  t.match(await post(login, JSON.stringify({ code: feishu.login('u') }), { ...json, authorization: `Bearer ${issued as string}` }), { code: 0, data: { open_id: 'u' } })
  // A token of another kind of owner (a WeChat app's) is not a Feishu token.
  const wechat = await (await fetch(`${mock.url}/cgi-bin/stable_token`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid: mock.appId, secret: mock.appSecret }) })).json() as { access_token: string }
  t.match(await post(login, JSON.stringify({ code: feishu.login('u') }), { ...json, authorization: `Bearer ${wechat.access_token}` }), { code: 10202 })
  t.throws(() => mock.feishuApp('nope'), /addFeishuApp\(\) it first/)
  t.match(mock.addFeishuApp('cli_2'), { tenantKey: /^tenant-/, appSecret: /^mock-feishu-secret-/ })
})

t.test('Alipay: the gateway checks the request\'s signature and parameters', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const alipay = mock.addAlipayApp('2021000000000009')
  const gateway = `${mock.url}/gateway.do`
  const signed = (params: Record<string, string>): string => {
    const content = Object.keys(params).filter((k) => params[k] !== '').sort().map((k) => `${k}=${params[k] as string}`).join('&')
    return new URLSearchParams({ ...params, sign: sign('sha256', Buffer.from(content), alipay.privateKey).toString('base64') }).toString()
  }
  const base = { app_id: alipay.appId, method: 'alipay.system.oauth.token', format: 'JSON', charset: 'utf-8', sign_type: 'RSA2', timestamp: '2026-12-02 12:00:00', version: '1.0', grant_type: 'authorization_code', code: alipay.login('u') }
  const refusal = async (body: string): Promise<string> => ((await post(gateway, body)).error_response as { sub_code: string }).sub_code
  t.equal(await refusal(new URLSearchParams({ ...base, app_id: 'nope' }).toString()), 'isv.invalid-app-id')
  t.equal(await refusal(''), 'isv.invalid-app-id', 'no app_id at all')
  const { timestamp: _t, ...untimed } = base
  t.equal(await refusal(signed(untimed)), 'isv.invalid-timestamp', 'no timestamp')
  t.equal(await refusal(new URLSearchParams({ ...base, sign: 'AAAA' }).toString()), 'isv.invalid-signature')
  t.equal(await refusal(new URLSearchParams(base).toString()), 'isv.invalid-signature', 'no signature')
  t.equal(await refusal(signed({ ...base, sign_type: 'RSA' })), 'isv.invalid-signature')
  t.equal(await refusal(signed({ ...base, timestamp: '1 Dec 2026' })), 'isv.invalid-timestamp')
  t.equal(await refusal(signed({ ...base, version: '2.0' })), 'isv.invalid-timestamp')
  t.equal(await refusal(signed({ ...base, charset: 'gbk' })), 'isv.invalid-timestamp')
  t.equal(await refusal(signed({ ...base, method: 'alipay.user.info.share' })), 'isv.invalid-method')
  t.equal(await refusal(signed({ ...base, grant_type: 'refresh_token' })), 'isv.grant-type-invalid')
  t.equal(await refusal(signed({ ...base, code: 'nope' })), 'isv.code-invalid')
  t.match(await post(gateway, signed(base)), { alipay_system_oauth_token_response: { open_id: 'u' } })
  t.throws(() => mock.alipayApp('nope'), /addAlipayApp\(\) it first/)
})
