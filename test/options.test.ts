import Fastify from 'fastify'
import t from 'tap'
import weapp from '../lib/index.js'
import { buildSettings, DEFAULT_API_BASE_URL, DEFAULT_EXPIRES_IN, DEFAULT_PREFIX, DEFAULT_TIMEOUT, parseTimeSpan } from '../lib/options.js'
import { KEY } from './fixtures/app.js'
import { everyOrigin } from './fixtures/tables.js'
import { DEFAULT_API_BASE_URLS, ROWS } from '../lib/platforms/index.js'

const valid = { appId: 'wx0123456789abcdef', appSecret: 'secret-that-must-not-leak', key: KEY }
/** The platforms' documented API origins (a platform added since is held to its row's by the checks against the table). */
const DOCUMENTED = { wechat: DEFAULT_API_BASE_URL, wecom: 'https://qyapi.weixin.qq.com', qq: 'https://api.q.qq.com', douyin: 'https://developer.toutiao.com', kuaishou: 'https://open.kuaishou.com', baidu: 'https://spapi.baidu.com', feishu: 'https://open.feishu.cn', alipay: 'https://openapi.alipay.com' }

t.test('defaults', async (t) => {
  const s = buildSettings(valid)
  t.equal(s.expiresIn, DEFAULT_EXPIRES_IN)
  t.equal(s.expiresIn, 604800, 'seven days')
  t.equal(s.prefix, DEFAULT_PREFIX)
  t.same(s.apiBaseUrl, Object.fromEntries(ROWS.map((row) => [row.origin.key, row.origin.url])), 'each origin key of the table, its row\'s origin')
  t.has(s.apiBaseUrl, DOCUMENTED, 'the documented origins')
  t.equal(s.timeout, DEFAULT_TIMEOUT)
  t.equal(s.watermarkMaxAge, 0, 'watermark age not checked')
  t.ok(Object.isFrozen(s))
  t.equal(s.keys.length, 1)
})

t.test('normalises', async (t) => {
  const s = buildSettings({ ...valid, prefix: '/auth/wx/', apiBaseUrl: 'http://127.0.0.1:8080/proxy/', expiresIn: '12h', timeout: 800, watermarkMaxAge: 0 })
  t.equal(s.prefix, '/auth/wx')
  const proxy = 'http://127.0.0.1:8080/proxy'
  t.same(s.apiBaseUrl, everyOrigin(proxy), 'one origin serves every platform')
  const per = buildSettings({ ...valid, apiBaseUrl: { wecom: 'http://127.0.0.1:9/wecom/' } }).apiBaseUrl
  t.same(per, { ...DEFAULT_API_BASE_URLS, wecom: 'http://127.0.0.1:9/wecom' }, 'one per platform, the others their defaults')
  t.has(per, { ...DOCUMENTED, wecom: 'http://127.0.0.1:9/wecom' })
  t.equal(s.expiresIn, 43200)
  t.equal(s.timeout, 800)
  t.equal(s.watermarkMaxAge, 0)
  t.equal(buildSettings({ ...valid, prefix: '' }).prefix, '')
  t.equal(buildSettings({ ...valid, prefix: '/' }).prefix, '')
  t.equal(buildSettings({ ...valid, expiresIn: 3600 }).expiresIn, 3600)
  t.equal(buildSettings({ ...valid, watermarkMaxAge: 600 }).watermarkMaxAge, 600)
})

t.test('time spans', async (t) => {
  t.equal(parseTimeSpan('90s'), 90)
  t.equal(parseTimeSpan('30 minutes'), 1800)
  t.equal(parseTimeSpan('2h'), 7200)
  t.equal(parseTimeSpan('7d'), 604800)
  t.equal(parseTimeSpan('1 week'), 604800)
  t.equal(parseTimeSpan('1y'), undefined)
  t.equal(parseTimeSpan('-5m'), undefined)
  t.equal(parseTimeSpan('soon'), undefined)
})

t.test('does not mutate the caller\'s options', async (t) => {
  const keyBytes = Buffer.from(KEY, 'base64url')
  const options = { ...valid, key: [keyBytes] }
  const copy = structuredClone(options)
  const s = buildSettings(options)
  t.same(options, copy)
  keyBytes.fill(2)
  t.same(Buffer.from(s.keys[0]?.secret ?? []), Buffer.from(KEY, 'base64url'), 'the key is copied, not referenced')
})

const bad: Array<[string, Record<string, unknown>]> = [
  ['appId', { appId: undefined }],
  ['appId', { appId: '' }],
  ['appId', { appId: ' wx1 ' }],
  ['appId', { appId: 42 }],
  ['appSecret', { appSecret: undefined }],
  ['appSecret', { appSecret: '' }],
  ['key', { key: undefined }],
  ['key', { key: [] }],
  ['key', { key: 'short' }],
  ['key', { key: Buffer.alloc(16) }],
  ['key', { key: 42 }],
  ['key[1]', { key: [KEY, 'nope'] }],
  ['key[1]', { key: [KEY, KEY] }],
  ['expiresIn', { expiresIn: 0 }],
  ['expiresIn', { expiresIn: -1 }],
  ['expiresIn', { expiresIn: 1.5 }],
  ['expiresIn', { expiresIn: 'forever' }],
  ['expiresIn', { expiresIn: '400d' }],
  ['prefix', { prefix: 'weapp' }],
  ['prefix', { prefix: '/has space' }],
  ['prefix', { prefix: 7 }],
  ['apiBaseUrl', { apiBaseUrl: 'not a url' }],
  ['apiBaseUrl', { apiBaseUrl: 'ftp://api.weixin.qq.com' }],
  ['apiBaseUrl', { apiBaseUrl: 'https://api.weixin.qq.com/?x=1' }],
  ['apiBaseUrl', { apiBaseUrl: 'https://user:pw@api.weixin.qq.com' }],
  ['apiBaseUrl', { apiBaseUrl: 42 }],
  ['timeout', { timeout: 0 }],
  ['timeout', { timeout: '5s' }],
  ['timeout', { timeout: Infinity }],
  ['timeout', { timeout: 10 ** 9 }],
  ['watermarkMaxAge', { watermarkMaxAge: -5 }],
  ['watermarkMaxAge', { watermarkMaxAge: '1h' }],
  ['sessionCacheSize', { sessionCacheSize: -1 }],
  // An empty query or fragment is dropped by URL, then swallows every path a call appends.
  ['apiBaseUrl', { apiBaseUrl: 'https://api.weixin.qq.com/?' }],
  ['apiBaseUrl', { apiBaseUrl: 'https://api.weixin.qq.com#' }],
  ['apiBaseUrl', { apiBaseUrl: 'https://api.weixin.qq.com/proxy/#' }],
  // Route syntax in a prefix would fail in the router with no code.
  ['prefix', { prefix: '/*' }],
  ['prefix', { prefix: '/:tenant/weapp' }],
  ['prefix', { prefix: '/weapp(a|b)' }],
  ['prefix', { prefix: '/a//b' }],
  ['prefix', { prefix: '/.well-known/../x' }],
  // Keys that are plainly not random.
  ['key', { key: Buffer.alloc(32) }],
  ['key', { key: Buffer.alloc(32).toString('base64') }],
  ['key', { key: Buffer.alloc(32, 7).toString('base64url') }],
  ['key', { key: Buffer.from('0123456789abcdef0123456789abcdef') }],
  ['key[1]', { key: [KEY, Buffer.alloc(32, 0xff)] }],
  // A session names its app: an AppID is a short ASCII identifier.
  ['appId', { appId: 'wx'.padEnd(65, '0') }],
  ['appId', { appId: '小程序' }],
  // Several apps: a list or a function, never beside appId/appSecret.
  ['apps', { apps: [{ appId: 'wx1', appSecret: 's' }] }],
  ['apps', { appId: undefined, appSecret: undefined, apps: [] }],
  ['apps', { appId: undefined, appSecret: undefined, apps: 'wx1' }],
  ['apps[0]', { appId: undefined, appSecret: undefined, apps: [null] }],
  ['apps[0]', { appId: undefined, appSecret: undefined, apps: [{ appId: 'wx1' }] }],
  ['apps[0]', { appId: undefined, appSecret: undefined, apps: [{ appId: 'wx1', appSecret: ' s ' }] }],
  ['apps[0]', { appId: undefined, appSecret: undefined, apps: [{ appId: 'not an id', appSecret: 's' }] }],
  ['apps[1]', { appId: undefined, appSecret: undefined, apps: [{ appId: 'wx1', appSecret: 's' }, { appId: 'wx1', appSecret: 't' }] }],
  // Exactly one kind per app, each complete.
  ...([
    { appId: 'wx1', appSecret: 's', component: { appId: 'wxc', accessToken: async () => 't' } },
    { appId: 'wx1', appSecret: 's', wecom: { corpId: 'ww1', corpSecret: 's' } },
    { appId: 'wx1', platform: 'weibo', appSecret: 's' },
    { appId: 'wx1', wecom: 'ww1' },
    { appId: 'wx1', wecom: { corpId: 'ww1' } },
    { appId: 'wx1', wecom: { corpId: 'ww 1', corpSecret: 's' } },
    { appId: 'wx1', wecom: { corpId: 'ww1', corpSecret: ' s' } },
    { appId: 'wx1', component: null },
    { appId: 'wx1', component: { appId: 'wx c', accessToken: async () => 't' } },
    { appId: 'wx1', component: { appId: 'wxc', accessToken: 't' } },
    { appId: 'wx1', component: { appId: 'wxc', accessToken: async () => 't', appSecret: 's' } },
    { appId: 'wx1', component: { appId: 'wxc', accessToken: async () => 't', authorizerAccessToken: 't' } },
    { appId: 'wx1', component: { appId: 'wxc', appSecret: 's' } },
    { appId: 'wx1', component: { appId: 'wxc', verifyTicket: () => 'ticket' } },
    { appId: 'wx1', component: { appId: 'wxc', appSecret: 's', verifyTicket: 'ticket' } }
  ].map((config) => ['apps[0]', { appId: undefined, appSecret: undefined, apps: [config] }] as [string, Record<string, unknown>])),
  ['apiBaseUrl', { apiBaseUrl: null }],
  ['apiBaseUrl', { apiBaseUrl: ['https://api.weixin.qq.com'] }],
  ['apiBaseUrl.weixin', { apiBaseUrl: { weixin: 'https://api.weixin.qq.com' } }],
  ['apiBaseUrl.wecom', { apiBaseUrl: { wecom: 'qyapi.weixin.qq.com' } }],
  ['apiBaseUrl.douyin', { apiBaseUrl: { wechat: 'https://api.weixin.qq.com', douyin: 'https://developer.toutiao.com/?' } }]
]

t.test('a bad option fails registration with an error naming it', async (t) => {
  for (const [name, change] of bad) {
    const app = Fastify()
    app.register(weapp, { ...valid, ...change } as never)
    const err = await app.ready().then(() => undefined, (e: Error & { code?: string }) => e)
    t.equal(err?.code, 'WEAPP_INVALID_OPTION', `${name}: ${JSON.stringify(change)}`)
    t.ok(err?.message.includes(name), `message names ${name}: ${err?.message}`)
    t.ok(err instanceof TypeError, 'a TypeError')
    t.notOk(err?.message.includes(valid.appSecret), 'the secret is not in the message')
    await app.close()
  }
})

t.test('options must be an object', async (t) => {
  t.throws(() => buildSettings(undefined), { code: 'WEAPP_INVALID_OPTION' })
  t.throws(() => buildSettings('x'), { code: 'WEAPP_INVALID_OPTION' })
})

t.test('options that take 0 say so in their message', async (t) => {
  for (const name of ['watermarkMaxAge', 'sessionCacheSize']) {
    t.throws(() => buildSettings({ ...valid, [name]: -1 }), { message: new RegExp(`${name} must be a whole number from 0 to \\d+ \\(0 turns it off\\)`) })
    t.equal((buildSettings({ ...valid, [name]: 0 }) as unknown as Record<string, number>)[name], 0)
  }
  t.throws(() => buildSettings({ ...valid, timeout: 0 }), { message: /timeout must be a whole number from 1 to/ })
})

t.test('prefixes that are plain paths are kept', async (t) => {
  t.equal(buildSettings({ ...valid, prefix: '/api/v1.2/wx-login_~' }).prefix, '/api/v1.2/wx-login_~')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { ...valid, prefix: '/api/v1.2/wx' })
  await app.ready()
  t.ok(app.hasRoute({ method: 'POST', url: '/api/v1.2/wx/login' }))
})

t.test('plain http to anything but loopback is logged as a warning at registration', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['http://api.example.com', true],
    ['http://10.0.0.8:8080/wx', true],
    ['http://127.0.0.1:3000', false],
    ['http://localhost:3000', false],
    ['http://[::1]:3000', false],
    ['https://api.weixin.qq.com', false]
  ]
  for (const [apiBaseUrl, warns] of cases) {
    const lines: string[] = []
    const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
    await app.register(weapp, { ...valid, apiBaseUrl })
    await app.ready()
    await app.close()
    const warning = lines.map((l) => JSON.parse(l)).find((l) => l.level === 40 && /plain http/.test(l.msg))
    t.equal(warning !== undefined, warns, `${apiBaseUrl}: ${warns ? 'warns' : 'quiet'}`)
    t.notOk(lines.some((l) => l.includes(valid.appSecret)), 'the warning names no secret')
  }
  // One origin per platform: each is checked, each warned about once.
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(weapp, { ...valid, apiBaseUrl: { wechat: 'http://127.0.0.1:3000', wecom: 'http://wecom.example', qq: 'http://wecom.example' } })
  await app.ready()
  await app.close()
  const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40 && /plain http/.test(l.msg))
  t.same(warnings.map((w) => (/apiBaseUrl (\S+)/.exec(w.msg) ?? [])[1]), ['http://wecom.example'], 'the WeCom origin, once')
})

t.test('registering twice in one context says what to do instead', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, valid)
  app.register(weapp, { ...valid, appId: 'wxother' })
  const err = await app.ready().then(() => undefined, (e: Error & { code?: string }) => e)
  t.equal(err?.code, 'WEAPP_INVALID_OPTION')
  t.match(err?.message, /already registered in this context/)
  t.match(err?.message, /encapsulated context/)

  const separate = Fastify()
  t.teardown(() => separate.close())
  await separate.register(async (child) => { await child.register(weapp, { ...valid, prefix: '/a' }) })
  await separate.register(async (child) => { await child.register(weapp, { ...valid, appId: 'wxother', prefix: '/b' }) })
  await separate.ready()
  t.ok(separate.hasRoute({ method: 'POST', url: '/b/login' }), 'separate contexts work')
})
