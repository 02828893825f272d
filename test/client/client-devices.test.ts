// The client's side of sessions per device: a device label with every login (the runtime's tag and
// the system's platform by default), and a session a later login ended as its own error, dropped
// and never replaced by a login behind the user's back (which would end the other one in turn).
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { createWeappClient, WeappClientError, WeappSessionKickedError } from '../../client/src/index.js'
import { createWx, MockWechat } from '../../lib/testing.js'
import { KEY } from '../fixtures/app.js'
import { RUNTIME_ROWS, SEARCHED } from '../fixtures/tables.js'

async function server (t: Test, extra: Record<string, unknown> = {}): Promise<{ base: string, mock: MockWechat }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { appId: mock.appId, appSecret: mock.appSecret, key: KEY, apiBaseUrl: mock.url, revocation: 'memory', ...extra })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => ({ device: request.weappSession?.device ?? null }))
  return { base: await app.listen({ port: 0, host: '127.0.0.1' }), mock }
}

t.test('each login says which device: the runtime and the system by default, or the app\'s label, or none', async (t) => {
  const { base, mock } = await server(t)
  const device = async (extra: Record<string, unknown>, options: Record<string, unknown> = {}): Promise<unknown> => {
    const api = createWeappClient({ baseUrl: base, wx: { ...createWx(mock, 'o-1'), ...extra }, ...options })
    return (await api.request<{ device: unknown }>({ url: '/me' })).device
  }
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ios' }) }), 'wx:ios', 'getDeviceInfo() first')
  t.equal(await device({ getSystemInfoSync: () => ({ platform: 'android' }) }), 'wx:android', 'then getSystemInfoSync()')
  t.equal(await device({ getDeviceInfo: () => { throw new Error('no') } }), 'wx', 'the tag alone where the runtime does not say')
  t.equal(await device({ getDeviceInfo: () => null }), 'wx')
  t.equal(await device({ getDeviceInfo: () => ({ platform: '' }) }), 'wx')
  t.equal(await device({}), 'wx')
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ohos "é"\\' }) }), 'wx:ohos ', 'kept to what the server takes')
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'x'.repeat(80) }) }), `wx:${'x'.repeat(61)}`, '64 characters at most')
  t.equal(await device({}, { device: 'kiosk-7' }), 'kiosk-7', 'the app\'s own label')
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ios' }) }, { device: false }), null, 'false: none')
})

t.test('a uni-app build labels its sessions with its host platform\'s tag, not WeChat\'s', async (t) => {
  const { base, mock } = await server(t)
  const device = async (extra: Record<string, unknown>, options: Record<string, unknown> = {}): Promise<unknown> => {
    // uni's shape: WeChat's calls, callbacks only (nothing returned), and what the build says of itself.
    const api = createWeappClient({ baseUrl: base, wx: { ...createWx(mock, 'o-1'), ...extra }, ...options })
    return (await api.request<{ device: unknown }>({ url: '/me' })).device
  }
  const builds: Array<[string, string]> = [['mp-weixin', 'wx'], ['mp-qq', 'qq'], ['mp-toutiao', 'tt'], ['mp-kuaishou', 'ks'], ['mp-baidu', 'swan'], ['mp-alipay', 'my'], ['mp-lark', 'feishu'], ['mp-jd', 'jd'], ['mp-xhs', 'xhs']]
  for (const [uniPlatform, tag] of builds) {
    t.equal(await device({ getSystemInfoSync: () => ({ platform: 'ios', uniPlatform }) }), `${tag}:ios`, `${uniPlatform} (getSystemInfoSync)`)
    t.equal(await device({ getDeviceInfo: () => ({ platform: 'android' }), getAppBaseInfo: () => ({ uniPlatform }) }), `${tag}:android`, `${uniPlatform} (getAppBaseInfo, uni-app 4.33+)`)
  }
  // Every row of the runtime table: its build is labelled with its tag (its own login's, else its global's).
  for (const row of RUNTIME_ROWS) {
    t.equal(await device({ getSystemInfoSync: () => ({ platform: 'ios', uniPlatform: row.uni }) }), `${row.login !== undefined ? row.login.tag : row.global}:ios`, `${row.platform}: ${row.uni}`)
  }
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ios' }), getAppBaseInfo: () => ({}), getSystemInfoSync: () => ({ uniPlatform: 'mp-toutiao' }) }), 'tt:ios', 'an older uni-app: getSystemInfoSync() says it')
  t.equal(await device({ getAppBaseInfo: () => { throw new Error('no') }, getSystemInfoSync: () => null }), 'wx', 'nothing said: WeChat\'s tag')
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ios' }), getSystemInfoSync: () => ({ uniPlatform: 'mp-toutiao' }) }, { platform: 'qq' }), 'qq:ios', 'the platform option names the host')
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ios' }) }, { platform: 'douyin' }), 'tt:ios')
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ios' }) }, { platform: 'kuaishou' }), 'ks:ios')
  // An older uni-app says it only at build time: process.env.UNI_PLATFORM, replaced by its build.
  const saved = process.env.UNI_PLATFORM
  t.teardown(() => { if (saved === undefined) delete process.env.UNI_PLATFORM; else process.env.UNI_PLATFORM = saved })
  process.env.UNI_PLATFORM = 'mp-toutiao'
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ios' }) }), 'tt:ios', 'the build\'s process.env.UNI_PLATFORM')
  t.equal(await device({ getDeviceInfo: () => ({ platform: 'ios' }), getSystemInfoSync: () => ({ uniPlatform: 'mp-qq' }) }), 'qq:ios', 'what the runtime says first')
  delete process.env.UNI_PLATFORM
  // A mini program has no process: the label is read without one (the client is made synchronously).
  const env = Object.getOwnPropertyDescriptor(process, 'env') as PropertyDescriptor
  Object.defineProperty(process, 'env', { configurable: true, get: () => { throw new ReferenceError('process is not defined') } })
  let bare
  try {
    bare = createWeappClient({ baseUrl: base, wx: { ...createWx(mock, 'o-1'), getDeviceInfo: () => ({ platform: 'ios' }) } })
  } finally {
    Object.defineProperty(process, 'env', env)
  }
  t.same(await bare.request({ url: '/me' }), { device: 'wx:ios' }, 'no process: WeChat\'s tag')
})

t.test('a native build found by its global labels its sessions with that global\'s tag', async (t) => {
  const { base, mock } = await server(t)
  const g = globalThis as Record<string, unknown>
  // The WeChat-shaped runtimes' globals: the first's, then the others from the last searched.
  const shaped = SEARCHED.filter((row) => row.login === undefined).map((row) => row.global)
  const order = [...shaped.slice(0, 1), ...shaped.slice(1).reverse()]
  t.same(order.filter((name) => ['wx', 'qq', 'tt', 'ks'].includes(name)), ['wx', 'ks', 'tt', 'qq'], 'the first platforms\' globals among them')
  t.teardown(() => { for (const name of order) delete g[name] })
  for (const [name, tag] of order.map((name) => [name, name])) {
    // Each newly present global is the host (QQ also answers to wx).
    g[name as string] = { ...createWx(mock, 'o-1'), getDeviceInfo: () => ({ platform: 'ios' }) }
    const api = createWeappClient({ baseUrl: base, storageKey: name })
    t.same(await api.request({ url: '/me' }), { device: `${tag}:ios` }, `${name}`)
  }
})

t.test('a session a later login ended is its own error: dropped, and no login behind the user\'s back', async (t) => {
  const { base, mock } = await server(t, { maxSessions: 1 })
  const phoneWx = createWx(mock, 'o-1')
  const phone = createWeappClient({ baseUrl: base, wx: phoneWx })
  await phone.request({ url: '/me' })
  const pad = createWeappClient({ baseUrl: base, wx: createWx(mock, 'o-1') })
  await pad.request({ url: '/me' })
  const logins = phoneWx.logins
  const err = await phone.request({ url: '/me' }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof WeappSessionKickedError, 'a WeappSessionKickedError')
  t.ok(err instanceof WeappClientError, 'and a WeappClientError')
  t.match(err, { code: 'WEAPP_SESSION_KICKED', statusCode: 401, name: 'WeappSessionKickedError', message: /later login of the same user/ })
  t.equal(phone.session(), undefined, 'the ended session is dropped')
  t.equal(phoneWx.logins, logins, 'no wx.login() behind the user\'s back')
  t.same(await pad.request({ url: '/me' }), { device: 'wx' }, 'the other device keeps its session')
  // The user chooses to continue here: that ends the pad's in turn.
  await phone.login()
  await t.rejects(pad.request({ url: '/me' }), { code: 'WEAPP_SESSION_KICKED' })
})
