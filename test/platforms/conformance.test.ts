// The conformance suite: every row of the platform table runs the same login, authenticate,
// decrypt, error mapping (messages that name the platform and its login call), used-code and
// cross-platform tests, against one mock serving every kind of app. A platform's quirks live in
// its own test file (wechat, component, wecom, qq, douyin).
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp, { type WeappAppConfig } from '../../lib/index.js'
import { PLATFORMS } from '../../lib/platforms/index.js'
import { MockWechat, type MockApp, type MockFault } from '../../lib/testing.js'
import { isError, KEY } from '../fixtures/app.js'

interface Row {
  kind: string
  appId: string
  /** Serves the row's app on the mock (the mock's default app is the first row's). */
  serve: (mock: MockWechat) => unknown
  config: (mock: MockWechat) => WeappAppConfig
  /** The mock's view of the app (its codes and, where its users have a session_key, encrypted data). */
  app: (mock: MockWechat) => Pick<MockApp, 'login'> & Partial<Pick<MockApp, 'encrypt'>>
  /** The path of the row's login call, for faults. */
  path: string
  /** What the session and the login answer say of the user logged in as `user`. */
  who: (user: string) => Record<string, string>
  title: string
  loginCall: string
  invalid: MockFault
  throttled: MockFault
}

const CORP = 'wwcorp0000000001'
const TENANT = 'tenant-conformance'
const json = (body: unknown): MockFault => ({ body: JSON.stringify(body), contentType: 'application/json' })
const tt = (errNo: number): MockFault => json({ err_no: errNo, err_tips: 'x', data: {} })

const rows: Row[] = [
  {
    kind: 'wechat',
    appId: 'wx0123456789abcdef',
    serve: () => undefined,
    config: (mock) => ({ appId: mock.appId, appSecret: mock.appSecret }),
    app: (mock) => mock,
    path: '/sns/jscode2session',
    who: (openid) => ({ platform: 'wechat', openid }),
    title: 'WeChat',
    loginCall: 'wx.login()',
    invalid: { errcode: 40029 },
    throttled: { errcode: 45011 }
  },
  {
    kind: 'component',
    appId: 'wxhosted0000000001',
    serve: (mock) => mock.addComponent('wxplatform00000001').host('wxhosted0000000001'),
    config: (mock) => ({ appId: 'wxhosted0000000001', component: { appId: 'wxplatform00000001', appSecret: mock.component('wxplatform00000001').appSecret, verifyTicket: () => mock.component('wxplatform00000001').verifyTicket() } }),
    app: (mock) => mock.app('wxhosted0000000001'),
    path: '/sns/component/jscode2session',
    who: (openid) => ({ platform: 'wechat', openid }),
    title: 'WeChat',
    loginCall: 'wx.login()',
    invalid: { errcode: 40029 },
    throttled: { errcode: 45011 }
  },
  {
    kind: 'wecom',
    appId: 'wxstaff00000000001',
    serve: (mock) => mock.addWecomApp('wxstaff00000000001', { corpId: CORP }),
    config: (mock) => ({ appId: 'wxstaff00000000001', wecom: { corpId: CORP, corpSecret: mock.wecomApp('wxstaff00000000001').corpSecret } }),
    app: (mock) => mock.wecomApp('wxstaff00000000001'),
    path: '/cgi-bin/miniprogram/jscode2session',
    who: (userId) => ({ platform: 'wecom', corpId: CORP, userId }),
    title: 'WeCom',
    loginCall: 'wx.qy.login()',
    invalid: { errcode: 40029 },
    throttled: { errcode: 45009 }
  },
  {
    kind: 'qq',
    appId: '1109876543',
    serve: (mock) => mock.addApp('1109876543'),
    config: (mock) => ({ appId: '1109876543', appSecret: mock.app('1109876543').appSecret, platform: 'qq' }),
    app: (mock) => mock.app('1109876543'),
    path: '/sns/jscode2session',
    who: (openid) => ({ platform: 'qq', openid }),
    title: 'QQ',
    loginCall: 'qq.login()',
    invalid: { errcode: 40029 },
    throttled: { errcode: 45011 }
  },
  {
    kind: 'douyin',
    appId: 'tt0123456789abcdef01',
    serve: (mock) => mock.addApp('tt0123456789abcdef01'),
    config: (mock) => ({ appId: 'tt0123456789abcdef01', appSecret: mock.app('tt0123456789abcdef01').appSecret, platform: 'douyin' }),
    app: (mock) => mock.app('tt0123456789abcdef01'),
    path: '/api/apps/v2/jscode2session',
    who: (openid) => ({ platform: 'douyin', openid }),
    title: 'Douyin',
    loginCall: 'tt.login()',
    invalid: tt(40018),
    // Douyin documents no throttling err_no: its rate limit (or a proxy's) is HTTP 429.
    throttled: { status: 429, body: '' }
  },
  {
    kind: 'kuaishou',
    appId: 'ks671234567890123456',
    serve: (mock) => mock.addApp('ks671234567890123456'),
    config: (mock) => ({ appId: 'ks671234567890123456', appSecret: mock.app('ks671234567890123456').appSecret, platform: 'kuaishou' }),
    app: (mock) => mock.app('ks671234567890123456'),
    path: '/oauth2/mp/code2session',
    who: (openid) => ({ platform: 'kuaishou', openid }),
    title: 'Kuaishou',
    loginCall: 'ks.login()',
    invalid: json({ result: 100200105, error: 'invalid_grant', error_msg: 'x' }),
    throttled: json({ result: 100200410, error: 'rate_limit', error_msg: 'x' })
  },
  {
    kind: 'baidu',
    appId: '4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c',
    serve: (mock) => mock.addBaiduApp('4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c'),
    config: (mock) => ({ appId: '4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c', appSecret: mock.baiduApp('4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c').appSecret, platform: 'baidu' }),
    app: (mock) => mock.baiduApp('4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c'),
    path: '/oauth/jscode2sessionkey',
    who: (openid) => ({ platform: 'baidu', openid }),
    title: 'Baidu',
    loginCall: 'swan.getLoginCode()',
    invalid: json({ error: 'invalid_grant', error_description: 'x' }),
    // Baidu documents no throttling error: its rate limit (or a proxy's) is HTTP 429.
    throttled: { status: 429, body: '' }
  },
  {
    kind: 'feishu',
    appId: 'cli_a1b2c3d4e5f60001',
    serve: (mock) => mock.addFeishuApp('cli_a1b2c3d4e5f60001', { tenantKey: TENANT }),
    config: (mock) => ({ appId: 'cli_a1b2c3d4e5f60001', appSecret: mock.feishuApp('cli_a1b2c3d4e5f60001').appSecret, platform: 'feishu' }),
    app: (mock) => mock.feishuApp('cli_a1b2c3d4e5f60001'),
    path: '/open-apis/mina/v2/tokenLoginValidate',
    who: (openid) => ({ platform: 'feishu', openid, tenantKey: TENANT }),
    title: 'Feishu',
    loginCall: 'tt.login()',
    invalid: json({ code: 10213, msg: 'code appid not match' }),
    throttled: json({ code: 99991400, msg: 'request trigger frequency limit' })
  },
  {
    kind: 'alipay',
    appId: '2021000000000001',
    serve: (mock) => mock.addAlipayApp('2021000000000001'),
    config: (mock) => {
      const app = mock.alipayApp('2021000000000001')
      return { appId: app.appId, platform: 'alipay', alipay: { privateKey: app.privateKey, alipayPublicKey: app.alipayPublicKey, contentKey: app.contentKey } }
    },
    app: (mock) => mock.alipayApp('2021000000000001'),
    path: '/gateway.do',
    who: (openid) => ({ platform: 'alipay', openid, idType: 'open_id' }),
    title: 'Alipay',
    loginCall: 'my.getAuthCode()',
    // The gateway leaves some refusals unsigned; one that is signed must verify (alipay.test.ts).
    invalid: { body: '{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"x"}}' },
    throttled: { status: 429, body: '' }
  }
]

t.test('the suite covers every row of the platform table', async (t) => {
  t.same(rows.map((r) => r.kind).sort(), Object.keys(PLATFORMS).sort())
})

/** One backend serving one app of every row, against one mock, with a protected route. */
async function backend (t: Test): Promise<{ app: FastifyInstance, mock: MockWechat, logs: string[] }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  for (const row of rows) row.serve(mock)
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(weapp, { apps: rows.map((r) => r.config(mock)), key: KEY, apiBaseUrl: mock.url, timeout: 1000 })
  app.get('/whoami', { onRequest: app.weapp.authenticate }, async (request) => {
    const { sessionKey: _secret, expiresAt: _e, jti: _j, loginAt: _l, claims: _c, ...who } = request.weappSession as unknown as Record<string, unknown>
    return who
  })
  await app.ready()
  return { app, mock, logs }
}

for (const row of rows) {
  t.test(`${row.kind}: login, authenticate, decrypt`, async (t) => {
    const { app, mock, logs } = await backend(t)
    const code = row.app(mock).login('user-1')
    const login = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId: row.appId } })
    t.equal(login.statusCode, 200)
    const { platform, ...fields } = row.who('user-1')
    t.match(login.json(), { appId: row.appId, expiresIn: 7 * 86400, ...fields })
    const session = login.json().session as string
    const me = await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${session}` } })
    t.same(me.json(), { appId: row.appId, ...row.who('user-1') }, 'the session says its platform and user')
    const target = row.app(mock)
    const encrypt = target.encrypt
    const payload = encrypt === undefined ? { encryptedData: 'A'.repeat(24), iv: 'A'.repeat(22) + '==' } : target.encrypt?.('user-1', { hello: row.kind })
    const decrypt = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization: `Bearer ${session}` }, payload })
    if (encrypt === undefined) {
      isError(t, decrypt, 400, 'WEAPP_UNSUPPORTED')
      t.match(decrypt.json().message, /no session_key/, 'its sessions hold no session_key: the message says so')
    } else {
      t.equal(decrypt.statusCode, 200)
      t.equal(decrypt.json().data.hello, row.kind)
    }
    const again = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId: row.appId } })
    isError(t, again, 401, 'WEAPP_INVALID_CODE')
    t.match(again.json().message, row.loginCall, 'a used code: call the platform\'s login again')
    const secrets = mock.secrets()
    t.same([...logs, login.body, me.body, decrypt.body].filter((line) => secrets.some((s) => line.includes(s))), [], 'no secret in a reply or a log line')
  })

  t.test(`${row.kind}: upstream faults answer the contract's codes, naming ${row.title} and ${row.loginCall}`, async (t) => {
    const { app, mock, logs } = await backend(t)
    const replies: string[] = []
    const cases: Array<[MockFault, number, string]> = [
      [row.invalid, 401, 'WEAPP_INVALID_CODE'],
      [row.throttled, 429, 'WEAPP_RATE_LIMITED'],
      [{ delay: 60_000 }, 504, 'WEAPP_UPSTREAM_TIMEOUT']
    ]
    for (const [fault, status, code] of cases) {
      mock.fail({ ...fault, path: row.path })
      const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: row.app(mock).login('user-2'), appId: row.appId } })
      isError(t, res, status, code)
      replies.push(res.body)
      const { message } = res.json()
      t.ok(message.includes(row.title), `${code}: "${message as string}" names ${row.title}`)
      t.ok(message.includes(row.loginCall), `${code}: "${message as string}" names ${row.loginCall}`)
      for (const other of rows.filter((r) => r.title !== row.title)) t.notOk(message.includes(other.title), `${code}: names no other platform (${other.title})`)
    }
    const secrets = mock.secrets()
    t.same([...logs, ...replies].filter((line) => secrets.some((s) => line.includes(s))), [], 'no secret (AppSecret, private key, content key, token, code) in a fault\'s reply or any log line')
  })

  t.test(`${row.kind}: a code of another app is refused`, async (t) => {
    const { app, mock } = await backend(t)
    for (const other of rows.filter((r) => r !== row)) {
      const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: other.app(mock).login('user-3'), appId: row.appId } })
      t.equal(res.statusCode, 401, `${other.kind}'s code at ${row.kind}`)
      t.equal(res.json().code, 'WEAPP_INVALID_CODE')
    }
  })
}
