// Feishu's quirks: the app's app_access_token (cached, refetched once when refused) in a Bearer
// header, a member of a tenant (open_id, tenant_key, employee_id where given), no session_key.
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { MockWechat } from '../../lib/testing.js'
import { isError, KEY } from '../fixtures/app.js'

const APP = 'cli_a1b2c3d4e5f60001'
const TENANT = '2c5914ac018f97'

async function backend (t: Test): Promise<{ app: FastifyInstance, mock: MockWechat, logs: string[] }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.addFeishuApp(APP, { appSecret: 'feishu-secret-0123456789', tenantKey: TENANT })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: APP, appSecret: 'feishu-secret-0123456789', platform: 'feishu' }], key: KEY, apiBaseUrl: mock.url })
  app.get('/whoami', { onRequest: app.weapp.authenticate }, async (request) => {
    const { platform, openid, tenantKey, employeeId, sessionKey } = request.weappSession as unknown as Record<string, unknown>
    return { platform, openid, tenantKey, employeeId, sessionKey }
  })
  await app.ready()
  return { app, mock, logs }
}

const login = async (app: FastifyInstance, code: string) => await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId: APP } })

t.test('a login is a member of the tenant: open_id, tenant_key, employee_id where given; no session_key', async (t) => {
  const { app, mock, logs } = await backend(t)
  const feishu = mock.feishuApp(APP)
  feishu.employee('ou_alice', '6c486g')
  const res = await login(app, feishu.login('ou_alice'))
  t.match(res.json(), { appId: APP, openid: 'ou_alice', tenantKey: TENANT, employeeId: '6c486g' })
  const me = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${res.json().session as string}` } })
  t.same(me.json(), { platform: 'feishu', openid: 'ou_alice', tenantKey: TENANT, employeeId: '6c486g', sessionKey: '' })
  const bob = await login(app, feishu.login('ou_bob'))
  t.notOk('employeeId' in bob.json(), 'no employee_id where the app may not read it')
  const [token, ...rest] = mock.calls.map((c) => c.path)
  t.equal(token, '/open-apis/auth/v3/app_access_token/internal')
  t.same(rest, ['/open-apis/mina/v2/tokenLoginValidate', '/open-apis/mina/v2/tokenLoginValidate'], 'the app token is fetched once and cached')
  t.same(JSON.parse(mock.calls[0]?.body ?? ''), { app_id: APP, app_secret: 'feishu-secret-0123456789' })
  t.match(mock.calls[1]?.headers.authorization, /^Bearer \S+$/)
  const secrets = mock.secrets()
  t.same([...logs, res.body, me.body].filter((line) => secrets.some((s) => line.includes(s))), [], 'no secret (the app secret, the token, the member\'s own tokens and session_key) in a reply or a log')
})

t.test('a refused app token is fetched anew once; a second refusal is a 502', async (t) => {
  const { app, mock } = await backend(t)
  const feishu = mock.feishuApp(APP)
  t.equal((await login(app, feishu.login('ou_a'))).statusCode, 200)
  feishu.revokeTokens()
  t.equal((await login(app, feishu.login('ou_a'))).statusCode, 200, 'refused, refetched, retried with the same code (never used)')
  mock.fail({ path: '/open-apis/mina/v2/tokenLoginValidate', body: JSON.stringify({ code: 10202, msg: 'access token invalid' }) }, { path: '/open-apis/mina/v2/tokenLoginValidate', body: JSON.stringify({ code: 10202, msg: 'access token invalid' }) })
  const twice = await login(app, feishu.login('ou_a'))
  isError(t, twice, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(twice.json().message, /fresh token was refused too/)
})

t.test('Feishu\'s codes map to the contract', async (t) => {
  const { app, mock } = await backend(t)
  const feishu = mock.feishuApp(APP)
  const cases: Array<[string, unknown, number, string, RegExp]> = [
    ['/open-apis/mina/v2/tokenLoginValidate', { code: 10213, msg: 'x' }, 401, 'WEAPP_INVALID_CODE', /tt\.login\(\)/],
    ['/open-apis/mina/v2/tokenLoginValidate', { code: 0, msg: 'ok', data: { open_id: 'x' } }, 502, 'WEAPP_UPSTREAM_ERROR', /without a usable open_id and tenant_key/],
    ['/open-apis/mina/v2/tokenLoginValidate', { code: 0, msg: 'ok', data: null }, 502, 'WEAPP_UPSTREAM_ERROR', /without a usable open_id and tenant_key/],
    ['/open-apis/mina/v2/tokenLoginValidate', { code: 0, msg: 'ok', data: { open_id: 'x', tenant_key: 't', employee_id: 7 } }, 502, 'WEAPP_UPSTREAM_ERROR', /without a usable open_id and tenant_key/],
    ['/open-apis/mina/v2/tokenLoginValidate', { code: 10228, msg: 'user to app has no visibility' }, 502, 'WEAPP_UPSTREAM_ERROR', /Feishu answered code 10228/]
  ]
  for (const [path, body, status, code, message] of cases) {
    mock.fail({ path, body: JSON.stringify(body) })
    const res = await login(app, feishu.login('ou_x'))
    isError(t, res, status, code)
    t.match(res.json().message, message)
  }
})

t.test('a wrong app secret is "misconfigured"; a token answer without a token is a 502', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.addFeishuApp(APP)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: APP, appSecret: 'wrong-secret', platform: 'feishu' }], key: KEY, apiBaseUrl: mock.url })
  const res = await login(app, mock.feishuApp(APP).login('ou_y'))
  isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(res.json().message, /misconfigured; check its appId and appSecret/)
  mock.fail({ path: '/open-apis/auth/v3/app_access_token/internal', body: JSON.stringify({ code: 0, msg: 'ok' }) })
  t.match((await login(app, mock.feishuApp(APP).login('ou_y'))).json(), { statusCode: 502, message: /without a usable app_access_token/ })
})

t.test('a Feishu session has no decrypt or phone route; its app token is a building block', async (t) => {
  const { app, mock } = await backend(t)
  const session = (await login(app, mock.feishuApp(APP).login('ou_z'))).json().session as string
  const auth = { authorization: `Bearer ${session}` }
  const decrypt = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: { encryptedData: 'A'.repeat(24), iv: 'A'.repeat(22) + '==' } })
  isError(t, decrypt, 400, 'WEAPP_UNSUPPORTED')
  const phone = await app.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { code: 'x' } })
  isError(t, phone, 400, 'WEAPP_UNSUPPORTED')
  const feishu = await app.weapp.app(APP)
  t.type(await feishu.accessToken(), 'string')
  await t.rejects(feishu.checkSessionKey('ou_z', ''), { code: 'WEAPP_UNSUPPORTED' })
})
