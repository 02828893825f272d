// What a client is told to do when its session is refused: log in again with ITS platform's login
// call (a Baidu user is told swan.getLoginCode(), not wx.login()), on every session-side refusal
// (expired, revoked, kicked, ended, data that does not decrypt, a blocked user, a spent link), and
// no platform's login call where the token could not be read.
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { MockWechat } from '../../lib/testing.js'
import { isError, KEY } from '../fixtures/app.js'
import { forge, open } from '../fixtures/jwe.js'

const BAIDU = '4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c'
const ALIPAY = '2021000000000001'
const FEISHU = 'cli_a1b2c3d4e5f60001'

/** Each platform under test: its app, a user's code, and what its messages must name. */
interface Case { name: string, appId: string, title: string, call: string, code: (mock: MockWechat, user: string) => string }
const CASES: Case[] = [
  { name: 'baidu', appId: BAIDU, title: 'Baidu', call: 'swan.getLoginCode()', code: (mock, user) => mock.baiduApp(BAIDU).login(user) },
  { name: 'alipay', appId: ALIPAY, title: 'Alipay', call: 'my.getAuthCode()', code: (mock, user) => mock.alipayApp(ALIPAY).login(user) },
  { name: 'feishu', appId: FEISHU, title: 'Feishu', call: 'tt.login()', code: (mock, user) => mock.feishuApp(FEISHU).login(user) }
]
/** Every platform's login call: an unreadable token names none of them. */
const CALLS = ['wx.login()', 'wx.qy.login()', 'qq.login()', 'tt.login()', 'ks.login()', 'swan.getLoginCode()', 'my.getAuthCode()']

interface Backend { app: FastifyInstance, mock: MockWechat, logs: string[] }

async function backend (t: Test, plugin: Record<string, unknown> = {}): Promise<Backend> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.addBaiduApp(BAIDU, 'baidu-secret-0123456789')
  const alipay = mock.addAlipayApp(ALIPAY)
  mock.addFeishuApp(FEISHU, { appSecret: 'feishu-secret-0123456789' })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(weapp, {
    apps: [
      { appId: BAIDU, appSecret: 'baidu-secret-0123456789', platform: 'baidu' },
      { appId: ALIPAY, platform: 'alipay', alipay: { privateKey: alipay.privateKey, alipayPublicKey: alipay.alipayPublicKey, contentKey: alipay.contentKey } },
      { appId: FEISHU, appSecret: 'feishu-secret-0123456789', platform: 'feishu' }
    ],
    key: KEY,
    apiBaseUrl: mock.url,
    revocation: 'memory',
    ...plugin
  })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => ({ platform: (request.weappSession as { platform: string }).platform }))
  await app.ready()
  return { app, mock, logs }
}

async function login (b: Backend, c: Case, user = 'user-1'): Promise<string> {
  const res = await b.app.inject({ method: 'POST', url: '/weapp/login', payload: { code: c.code(b.mock, user), appId: c.appId } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`)
  return res.json().session
}

const me = async (b: Backend, session: string): Promise<LightMyRequestResponse> =>
  await b.app.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })

/** The session, genuine (sealed with the key), with these claims changed. */
function resealed (session: string, changes: Record<string, unknown>): string {
  return forge(KEY, { ...open(session, KEY).payload, ...changes })
}

/** The refusal has the contract's shape and tells the user to log in again with this platform's call, and only it. */
function namesPlatform (t: Test, res: LightMyRequestResponse, status: number, code: string, c: Case, b: Backend): void {
  isError(t, res, status, code)
  const { message } = res.json() as { message: string }
  t.ok(message.includes(`log in again (${c.title}: ${c.call} then the login route)`), `${c.name}: names ${c.title} and ${c.call}: ${message}`)
  t.notOk(message.includes('wx.login()'), `${c.name}: not wx.login()`)
  t.same(CALLS.filter((call) => call !== c.call && message.includes(call)), [], `${c.name}: no other platform's login call`)
  const secrets = b.mock.secrets()
  t.same([...b.logs, res.body].filter((line) => secrets.some((s) => line.includes(s))), [], 'no secret in a reply or a log')
}

for (const c of CASES) {
  t.test(`${c.title}: a session that expired names ${c.call}`, async (t) => {
    const b = await backend(t)
    const session = await login(b, c)
    t.same((await me(b, session)).json(), { platform: c.name }, 'the session works')
    const expired = resealed(session, { exp: Math.floor(Date.now() / 1000) - 60 })
    namesPlatform(t, await me(b, expired), 401, 'WEAPP_SESSION_EXPIRED', c, b)

    // A session the memo holds (its second use on), expired since: the memo's check names it too.
    const remembered = await login(b, c, 'user-2')
    for (let i = 0; i < 2; i++) t.equal((await me(b, remembered)).statusCode, 200)
    const now = Date.now
    Date.now = () => now() + 400 * 86_400_000
    t.teardown(() => { Date.now = now })
    const late = await me(b, remembered)
    Date.now = now
    namesPlatform(t, late, 401, 'WEAPP_SESSION_EXPIRED', c, b)
  })

  t.test(`${c.title}: a session logged out names ${c.call}`, async (t) => {
    const b = await backend(t)
    const session = await login(b, c)
    t.equal((await b.app.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${session}` } })).statusCode, 204)
    namesPlatform(t, await me(b, session), 401, 'WEAPP_SESSION_REVOKED', c, b)
  })

  t.test(`${c.title}: a session a later login ended names ${c.call}`, async (t) => {
    const b = await backend(t, { maxSessions: 1 })
    const first = await login(b, c)
    await login(b, c)
    namesPlatform(t, await me(b, first), 401, 'WEAPP_SESSION_KICKED', c, b)
  })

  t.test(`${c.title}: a session onRenew ended names ${c.call}`, async (t) => {
    const b = await backend(t, { expiresIn: '1h', renewWithin: '10m', onRenew: async () => ({ end: true }) })
    const due = resealed(await login(b, c), { exp: Math.floor(Date.now() / 1000) + 60 })
    namesPlatform(t, await me(b, due), 401, 'WEAPP_SESSION_ENDED', c, b)
  })

  t.test(`${c.title}: a link token spent or expired names ${c.call}`, async (t) => {
    const b = await backend(t, { onLogin: async () => ({ link: true }) })
    const res = await b.app.inject({ method: 'POST', url: '/weapp/login', payload: { code: c.code(b.mock, 'new-user'), appId: c.appId } })
    t.equal(res.statusCode, 409)
    const { linkToken } = res.json() as { linkToken: string }
    const expired = resealed(linkToken, { exp: Math.floor(Date.now() / 1000) - 60 })
    await t.rejects(b.app.weapp.redeemLink(expired), { code: 'WEAPP_LINK_EXPIRED', statusCode: 401, message: `The link token expired; log in again (${c.title}: ${c.call} then the login route) for a fresh one` })
    await b.app.weapp.redeemLink(linkToken)
    await t.rejects(b.app.weapp.redeemLink(linkToken), { code: 'WEAPP_LINK_EXPIRED', statusCode: 401, message: `The link token was already redeemed; log in again (${c.title}: ${c.call} then the login route) for a fresh one` })
  })
}

t.test('data that does not decrypt, and then the blocked user, name the session\'s platform', async (t) => {
  const b = await backend(t, { decryptFailureLimit: 1 })
  const baidu = CASES[0] as Case
  const session = await login(b, baidu)
  const bad = { encryptedData: Buffer.alloc(64, 7).toString('base64'), iv: Buffer.alloc(16, 1).toString('base64') }
  const post = async (): Promise<LightMyRequestResponse> => await b.app.inject({ method: 'POST', url: '/weapp/decrypt', payload: bad, headers: { authorization: `Bearer ${session}` } })
  namesPlatform(t, await post(), 400, 'WEAPP_DECRYPT_FAILED', baidu, b)
  const blocked = await post()
  namesPlatform(t, blocked, 429, 'WEAPP_RATE_LIMITED', baidu, b)
  t.match(blocked.json().message, /^Too many failed attempts for this user; wait \d+ s, then log in again/)

  // Alipay's signed phone answer that does not open: the same refusal, naming Alipay.
  const alipay = CASES[1] as Case
  const other = await login(b, alipay)
  const res = await b.app.inject({ method: 'POST', url: '/weapp/phone', payload: { response: JSON.stringify({ response: 'bm90IGEgcGhvbmU=', sign: 'AAAA' }) }, headers: { authorization: `Bearer ${other}` } })
  namesPlatform(t, res, 400, 'WEAPP_DECRYPT_FAILED', alipay, b)
})

t.test('a token that could not be read names no platform\'s login call', async (t) => {
  const b = await backend(t)
  const session = await login(b, CASES[0] as Case)
  for (const token of ['not-a-token', `${session.slice(0, -2)}AA`, forge(KEY, { sub: 'x', aud: BAIDU, iat: 1, exp: Math.floor(Date.now() / 1000) + 60, pf: 'nope' })]) {
    const res = await me(b, token)
    isError(t, res, 401, 'WEAPP_SESSION_INVALID')
    t.equal(res.json().message, 'The session is not valid; log in again (the platform\'s login call, then the login route)')
  }
  // A genuine token that expired but holds no user: expired, naming none.
  const empty = await me(b, forge(KEY, { sub: 'x', aud: BAIDU, iat: 1, exp: Math.floor(Date.now() / 1000) - 60, pf: 'nope' }))
  isError(t, empty, 401, 'WEAPP_SESSION_EXPIRED')
  t.equal(empty.json().message, 'The session has expired; log in again (the platform\'s login call, then the login route)')
})
