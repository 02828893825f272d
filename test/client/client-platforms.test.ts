// The client in every runtime a uni-app or Taro build targets: each platform's login call (Baidu's
// swan.getLoginCode, Alipay's my.getAuthCode with its authCode and errorMessage, Kuaishou's
// ks.login, Feishu's tt.login told apart from Douyin's by `platform`), the global it finds, and a
// session that platforms without a session_key never call lapsed.
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { createWeappClient, WeappClientError, type WeappPlatform, type WxLike } from '../../client/src/index.js'
import { PLATFORMS } from '../../lib/platforms/index.js'
import { createWx, MockWechat, type MockApp } from '../../lib/testing.js'
import { KEY } from '../fixtures/app.js'
import { RUNTIME_ROWS, SEARCHED } from '../fixtures/tables.js'

const KS = 'ks671234567890123456'
const BD = '4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c'
const FS = 'cli_a1b2c3d4e5f60001'
const AP = '2021000000000001'

async function server (t: Test): Promise<{ base: string, mock: MockWechat }> {
  const mock = await MockWechat.start({ apps: [{ appId: KS }] })
  t.teardown(() => mock.close())
  mock.addBaiduApp(BD)
  mock.addFeishuApp(FS)
  const alipay = mock.addAlipayApp(AP)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, {
    apps: [
      { appId: KS, appSecret: mock.app(KS).appSecret, platform: 'kuaishou' },
      { appId: BD, appSecret: mock.baiduApp(BD).appSecret, platform: 'baidu' },
      { appId: FS, appSecret: mock.feishuApp(FS).appSecret, platform: 'feishu' },
      { appId: AP, platform: 'alipay', alipay: { privateKey: alipay.privateKey, alipayPublicKey: alipay.alipayPublicKey, contentKey: alipay.contentKey } }
    ],
    key: KEY,
    apiBaseUrl: mock.url
  })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => ({ platform: app.weapp.sessionOf(request).platform }))
  return { base: await app.listen({ port: 0, host: '127.0.0.1' }), mock }
}

type Loose = Record<string, any>
/** A runtime's API object for one user of a mock app: WeChat-shaped request and storage, its own login. */
function runtime (app: Pick<MockApp, 'appId' | 'login'>, user: string, own: (wx: WxLike) => Loose): { api: WxLike, wx: ReturnType<typeof createWx> } {
  const wx = createWx({ ...app, encrypt: () => { throw new Error('none') } } as unknown as MockApp, user)
  const api = { request: wx.request, getStorageSync: wx.getStorageSync, setStorageSync: wx.setStorageSync, removeStorageSync: wx.removeStorageSync, ...own(wx) } as unknown as WxLike
  return { api, wx }
}

t.test('Baidu: the code comes from swan.getLoginCode()', async (t) => {
  const { base, mock } = await server(t)
  const { api } = runtime(mock.baiduApp(BD), 'bd-user', (wx) => ({ getLoginCode: wx.login, checkSession: wx.checkSession }))
  const client = createWeappClient({ baseUrl: base, wx: api, appId: BD, platform: 'baidu' })
  t.match(await client.login(), { openid: 'bd-user' })
  t.same(await client.request({ url: '/me' }), { platform: 'baidu' })
  await client.ensureSession()
})

t.test('Alipay: my.getAuthCode({ scopes: "auth_base" }) gives authCode; failures say errorMessage', async (t) => {
  const { base, mock } = await server(t)
  const scopes: unknown[] = []
  const state: { refuse?: string } = {}
  const { api } = runtime(mock.alipayApp(AP), '2088-user', (wx) => ({
    getAuthCode: ({ scopes: asked, success, fail }: Loose) => {
      scopes.push(asked)
      if (state.refuse !== undefined) return fail({ error: 11, errorMessage: state.refuse })
      wx.login({ success: (res) => success({ authCode: res.code }), fail })
    }
  }))
  const client = createWeappClient({ baseUrl: base, wx: api, appId: AP, platform: 'alipay' })
  t.match(await client.login(), { openid: '2088-user', idType: 'open_id' })
  t.same(scopes, ['auth_base'])
  t.same(await client.phone(mock.alipayApp(AP).phoneResponse('13700000000')), { phoneNumber: '13700000000', purePhoneNumber: '13700000000', countryCode: '86' }, 'phone() sends my.getPhoneNumber()\'s response as response')
  const logins = scopes.length
  await client.ensureSession()
  t.equal(scopes.length, logins, 'no checkSession in Alipay: a held session is not lapsed')
  state.refuse = '用户取消授权'
  const fresh = createWeappClient({ baseUrl: base, wx: api, appId: AP, platform: 'alipay', storageKey: 'other' })
  await t.rejects(fresh.login(), new WeappClientError('WX_LOGIN_FAILED', 'my.getAuthCode() failed: 用户取消授权'))
  const bare = createWeappClient({ baseUrl: base, wx: { ...api, getAuthCode: undefined } as unknown as WxLike, appId: AP, platform: 'alipay', storageKey: 'bare' })
  await t.rejects(bare.login(), { code: 'WX_LOGIN_FAILED', message: 'my.getAuthCode() is not available' })
})

t.test('Feishu: tt is told apart from Douyin\'s by platform', async (t) => {
  const { base, mock } = await server(t)
  const { api, wx } = runtime(mock.feishuApp(FS), 'ou_user', (wx) => ({ login: wx.login, checkSession: wx.checkSession }))
  const client = createWeappClient({ baseUrl: base, wx: api, appId: FS, platform: 'feishu' })
  t.match(await client.login(), { openid: 'ou_user' })
  t.same(await client.request({ url: '/me' }), { platform: 'feishu' })
  const before = wx.logins
  await client.ensureSession()
  t.equal(wx.logins, before, 'a Feishu session holds no session_key: never lapsed by tt.checkSession')
})

t.test('Kuaishou: ks.login() has WeChat\'s shape', async (t) => {
  const { base, mock } = await server(t)
  const wx = createWx(mock.app(KS), 'ks-user')
  const client = createWeappClient({ baseUrl: base, wx, appId: KS, platform: 'kuaishou' })
  t.match(await client.login(), { openid: 'ks-user' })
})

/** What a platform's login calls, as the server's table says it: `swan.getLoginCode` of `swan.getLoginCode()`. */
const callOf = (platform: WeappPlatform): string => PLATFORMS[platform].loginCall.replace(/\(\)$/, '')

t.test('the client\'s runtime table: its platforms are the server\'s, each login call the server\'s row\'s', async (t) => {
  t.ok(RUNTIME_ROWS.length >= 7 && RUNTIME_ROWS.every((row) => Object.hasOwn(PLATFORMS, row.platform)), 'every runtime is a platform of the server\'s table')
  for (const { platform, global, login } of RUNTIME_ROWS) {
    t.equal(login !== undefined ? login.loginCall : `${global}.login()`, PLATFORMS[platform].loginCall, `${platform}: the login call the server's messages name`)
  }
})

t.test('the client finds each runtime\'s global, and platform picks among them', async (t) => {
  const g = globalThis as Loose
  const names = SEARCHED.map((row) => row.global)
  t.same(names, ['wx', 'qq', 'tt', 'ks', 'swan', 'my'].concat(names.slice(6)), 'the globals of the first platforms, in their order')
  const saved = Object.fromEntries(names.map((n) => [n, g[n]]))
  t.teardown(() => { for (const n of names) g[n] = saved[n] })
  // Every call a login of the server's table makes (`login`, `getLoginCode`, `getAuthCode`), failing
  // as its runtime fails (Alipay's with `errorMessage`).
  const calls = [...new Set(Object.values(PLATFORMS).map((row) => (/\.(\w+)\(\)$/.exec(row.loginCall) as RegExpExecArray)[1] as string))]
  const seen: string[] = []
  const fake = (name: string): Loose => ({
    name,
    checkSession: () => {},
    request: () => {},
    getStorageSync: () => undefined,
    setStorageSync: () => {},
    removeStorageSync: () => {},
    ...Object.fromEntries(calls.map((call) => [call, ({ fail }: Loose) => { seen.push(`${name}.${call}`); fail(call === 'getAuthCode' ? { errorMessage: 'x' } : { errMsg: 'x' }) }]))
  })
  for (const n of names) delete g[n]
  const none = `createWeappClient: no ${names[0] as string} (or ${names.slice(1).join(', ')}); pass { wx }`
  t.throws(() => createWeappClient({ baseUrl: 'https://api.example.com' }), { message: new RegExp(`^${none.replace(/[()]/g, '\\$&')}`) })
  for (const name of [...names].reverse()) {
    g[name] = fake(name)
    const client = createWeappClient({ baseUrl: 'https://api.example.com', storageKey: name })
    await t.rejects(client.login(), { code: 'WX_LOGIN_FAILED' })
  }
  t.same(seen, [...SEARCHED].reverse().map((row) => callOf(row.platform)), 'each newly present global wins over those searched after it')
  seen.length = 0
  const feishu = createWeappClient({ baseUrl: 'https://api.example.com', platform: 'feishu', storageKey: 'f' })
  await t.rejects(feishu.login(), { message: 'tt.login() failed: x' })
  t.same(seen, ['tt.login'])
  seen.length = 0
  for (const { platform } of RUNTIME_ROWS) {
    await t.rejects(createWeappClient({ baseUrl: 'https://api.example.com', platform, storageKey: platform }).login(), { code: 'WX_LOGIN_FAILED' })
  }
  t.same(seen, RUNTIME_ROWS.map((row) => callOf(row.platform)), 'platform picks the global and the login call')
  for (const { platform, global } of RUNTIME_ROWS) {
    const present = g[global]
    delete g[global]
    t.throws(() => createWeappClient({ baseUrl: 'https://api.example.com', platform }), { message: /no wx/ }, `${platform}: no ${global}, no client`)
    g[global] = present
  }
  // A platform the table does not have (from JavaScript): no client, whatever globals there are or
  // API object is given, and the message lists the table's platforms.
  const listed = new RegExp(`platform must be one of ${RUNTIME_ROWS.map((row) => `'${row.platform}'`).join(', ')}$`)
  for (const platform of ['nope', 'toString', '__proto__', 'WECHAT', '']) {
    t.throws(() => createWeappClient({ baseUrl: 'https://api.example.com', platform: platform as WeappPlatform }), { name: 'TypeError', message: listed }, platform)
    t.throws(() => createWeappClient({ baseUrl: 'https://api.example.com', platform: platform as WeappPlatform, wx: g.wx as WxLike }), { name: 'TypeError', message: listed }, `${platform}, with wx given`)
  }
})
