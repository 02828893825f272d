// Several mini programs, one registration: the app is chosen per request (login body, Referer,
// then the session), never switched globally; sessions, codes, tokens and JWSs never cross apps.
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import t from 'tap'
import weapp, { type WeappAppConfig } from '../lib/index.js'
import { APP_CACHE_TTL, createRegistry } from '../lib/apps.js'
import { MockWechat } from '../lib/testing.js'
import { harness, isError, KEY, type HarnessOptions } from './fixtures/app.js'
import { open } from './fixtures/jwe.js'
import { everyOrigin } from './fixtures/tables.js'

const A = 'wxaaaaaaaaaaaaaaaa'
const B = 'wxbbbbbbbbbbbbbbbb'

/** A harness whose mock serves apps A and B, and the plugin both as a list. */
async function twoApps (t: Parameters<typeof harness>[0], plugin: Record<string, unknown> = {}, before?: HarnessOptions['before']): ReturnType<typeof harness> {
  const h = await harness(t, {
    mock: { appId: A, appSecret: 'secret-of-a-0123456789', apps: [{ appId: B, appSecret: 'secret-of-b-0123456789' }] },
    plugin: { apps: [{ appId: A, appSecret: 'secret-of-a-0123456789' }, { appId: B, appSecret: 'secret-of-b-0123456789' }], ...plugin },
    ...(before === undefined ? {} : { before })
  })
  return h
}

t.test('each app logs in with its own code, and its session says which app', async (t) => {
  const h = await twoApps(t)
  for (const appId of [A, B]) {
    const res = await h.post('/weapp/login', { code: h.mock.app(appId).login('o-alice'), appId })
    t.equal(res.statusCode, 200, appId)
    const body = res.json()
    t.equal(body.appId, appId)
    t.equal(open(body.session, KEY).payload.aud, appId, 'the session is bound to its app (aud)')
    t.equal(open(body.session, KEY).payload.sk, h.mock.app(appId).user('o-alice').sessionKey, 'with that app\'s session_key')
    const me = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${body.session}` } })
    t.equal(me.statusCode, 200, 'one authenticate for every app')
  }
  t.same(h.mock.callsTo('/sns/jscode2session').map((c) => [c.query.appid, c.query.secret]), [[A, 'secret-of-a-0123456789'], [B, 'secret-of-b-0123456789']], 'each app\'s own credentials')
  t.same(h.leaks(), [])
})

t.test('the app comes from the body, else the Referer WeChat sends; without either, a clear 400', async (t) => {
  const h = await twoApps(t)
  const viaReferer = await h.app.inject({ method: 'POST', url: '/weapp/login', payload: { code: h.mock.app(B).login('o-bob') }, headers: { referer: `https://servicewechat.com/${B}/12/page-frame.html` } })
  t.equal(viaReferer.json().appId, B)
  const devtools = await h.app.inject({ method: 'POST', url: '/weapp/login', payload: { code: h.mock.app(A).login('o-bob') }, headers: { referer: `https://servicewechat.com/${A}/devtools/page-frame.html` } })
  t.equal(devtools.json().appId, A)
  const neither = await h.post('/weapp/login', { code: h.mock.app(A).login('o-bob') })
  isError(t, neither, 400, 'WEAPP_UNKNOWN_APP')
  t.match(neither.json().message, /send your appId/)
  for (const referer of ['https://evil.example/wxaaaaaaaaaaaaaaaa/1/page-frame.html', 'http://servicewechat.com/wxaaaaaaaaaaaaaaaa/1/', 'https://servicewechatXcom/wxaaaaaaaaaaaaaaaa/1/']) {
    isError(t, await h.app.inject({ method: 'POST', url: '/weapp/login', payload: { code: h.mock.app(A).login('o-bob') }, headers: { referer } }), 400, 'WEAPP_UNKNOWN_APP')
  }
  const unknown = await h.post('/weapp/login', { code: h.mock.app(A).login('o-bob'), appId: 'wxcccccccccccccccc' })
  isError(t, unknown, 400, 'WEAPP_UNKNOWN_APP')
  isError(t, await h.post('/weapp/login', { code: 'x', appId: 42 }), 400, 'FST_ERR_VALIDATION')
  isError(t, await h.post('/weapp/login', { code: 'x', appId: 'wx/../../x' }), 400, 'FST_ERR_VALIDATION')
  t.equal(h.mock.callsTo('/sns/jscode2session').length, 2, 'refused logins never reached WeChat')
})

t.test('a code of app A sent for app B is refused by WeChat, and nothing is shared', async (t) => {
  const h = await twoApps(t)
  const code = h.mock.app(A).login('o-alice')
  isError(t, await h.post('/weapp/login', { code, appId: B }), 401, 'WEAPP_INVALID_CODE')
  t.equal((await h.post('/weapp/login', { code, appId: A })).statusCode, 200, 'the same code still works for its own app: single-flight is per app')
})

t.test('decrypt checks the watermark against the session\'s app; the budget is per app and user', async (t) => {
  const h = await twoApps(t)
  const a = (await h.post('/weapp/login', { code: h.mock.app(A).login('o-alice'), appId: A })).json().session
  const b = (await h.post('/weapp/login', { code: h.mock.app(B).login('o-alice'), appId: B })).json().session
  t.equal((await h.post('/weapp/decrypt', h.mock.app(A).encrypt('o-alice', { n: 1 }), a)).json().data.watermark.appid, A)
  t.equal((await h.post('/weapp/decrypt', h.mock.app(B).encrypt('o-alice', { n: 1 }), b)).json().data.watermark.appid, B)
  // App B's data under app A's session key but with B's watermark: the watermark decides.
  const aKey = h.mock.app(A).user('o-alice').sessionKey
  t.ok(aKey)
  isError(t, await h.post('/weapp/decrypt', h.mock.app(A).encrypt('o-alice', { n: 1 }, { appid: B }), a), 400, 'WEAPP_DECRYPT_FAILED')
  for (let i = 0; i < 9; i++) await h.post('/weapp/decrypt', h.mock.app(B).encrypt('o-alice', { n: 1 }), a)
  isError(t, await h.post('/weapp/decrypt', h.mock.app(A).encrypt('o-alice', { n: 1 }), a), 429, 'WEAPP_RATE_LIMITED')
  t.equal((await h.post('/weapp/decrypt', h.mock.app(B).encrypt('o-alice', { n: 1 }), b)).statusCode, 200, 'the same openid in another app is another user')
})

t.test('phone numbers use the session\'s app and its own access token; tokens never mix', async (t) => {
  const h = await twoApps(t)
  const sessions = await Promise.all([A, B].map(async (appId) => (await h.post('/weapp/login', { code: h.mock.app(appId).login('o-alice'), appId })).json().session as string))
  const phones = await Promise.all([A, B].map(async (appId, i) => await h.post('/weapp/phone', { code: h.mock.app(appId).phoneCode('o-alice', { phoneNumber: `1380000000${i}`, purePhoneNumber: `1380000000${i}` }) }, sessions[i])))
  t.same(phones.map((p) => p.json().phone.phoneNumber), ['13800000000', '13800000001'])
  const tokenCalls = h.mock.callsTo('/cgi-bin/stable_token').map((c) => JSON.parse(c.body).appid)
  t.same(tokenCalls.sort(), [A, B], 'one token per app')
  // A's phone code with B's session: B's token, and WeChat refuses A's code for it.
  isError(t, await h.post('/weapp/phone', { code: h.mock.app(A).phoneCode('o-alice') }, sessions[1]), 401, 'WEAPP_INVALID_CODE')
  // A refused token is refetched for that app alone.
  h.mock.revokeAccessTokens(A)
  t.equal((await h.post('/weapp/phone', { code: h.mock.app(A).phoneCode('o-alice') }, sessions[0])).statusCode, 200)
  t.equal((await h.post('/weapp/phone', { code: h.mock.app(B).phoneCode('o-alice') }, sessions[1])).statusCode, 200)
  t.same(h.mock.callsTo('/cgi-bin/stable_token').map((c) => JSON.parse(c.body).appid).sort(), [A, A, B], 'only A fetched again')
})

t.test('concurrent logins to different apps: every session holds its own app\'s user', async (t) => {
  const h = await twoApps(t)
  const logins = Array.from({ length: 40 }, (_, i) => ({ appId: i % 2 === 0 ? A : B, openid: `o-${i}` }))
  const bodies = await Promise.all(logins.map(async ({ appId, openid }) => (await h.post('/weapp/login', { code: h.mock.app(appId).login(openid), appId })).json()))
  bodies.forEach((body, i) => {
    const { appId, openid } = logins[i] as { appId: string, openid: string }
    const payload = open(body.session, KEY).payload
    t.same([payload.aud, payload.sub, payload.sk], [appId, openid, h.mock.app(appId).user(openid).sessionKey], `${appId} ${openid}`)
  })
})

t.test('with jwt, each app\'s JWS names its own app', async (t) => {
  const h = await twoApps(t, { jwt: true }, async (app: FastifyInstance) => {
    await app.register(fastifyJwt, { secret: 'a-test-secret-for-the-app-jwt-0123456789' })
    app.get('/only-a', async (request) => { await request.jwtVerify({ allowedAud: A }); return { ok: true } })
  })
  const a = (await h.post('/weapp/login', { code: h.mock.app(A).login('o-alice'), appId: A })).json().token
  const b = (await h.post('/weapp/login', { code: h.mock.app(B).login('o-alice'), appId: B })).json().token
  t.equal((h.app.jwt.decode(b) as { aud: string }).aud, B)
  t.equal((await h.app.inject({ url: '/only-a', headers: { authorization: `Bearer ${a as string}` } })).statusCode, 200)
  t.equal((await h.app.inject({ url: '/only-a', headers: { authorization: `Bearer ${b as string}` } })).statusCode, 401, 'B\'s JWS is refused where A\'s is expected')
})

t.test('a session of an app the list no longer has is refused', async (t) => {
  const h = await twoApps(t)
  const b = (await h.post('/weapp/login', { code: h.mock.app(B).login('o-alice'), appId: B })).json().session
  const onlyA = Fastify()
  t.teardown(() => onlyA.close())
  await onlyA.register(weapp, { apps: [{ appId: A, appSecret: 'secret-of-a-0123456789' }], key: KEY, apiBaseUrl: h.mock.url })
  await t.rejects(onlyA.weapp.unseal(b), { code: 'WEAPP_SESSION_INVALID' })
})

t.test('building blocks: app(appId) for each app; the top-level ones say to pick an app', async (t) => {
  const h = await twoApps(t)
  const b = await h.app.weapp.app(B)
  t.equal(b.appId, B)
  t.equal(await h.app.weapp.app(B), b, 'one object per app')
  const identity = await b.code2Session(h.mock.app(B).login('o-bob'))
  const session = await h.app.weapp.unseal(await b.seal(identity))
  t.same([session.appId, session.openid], [B, 'o-bob'])
  const data = h.mock.app(B).encrypt('o-bob', { n: 2 })
  t.equal(b.decrypt(identity.sessionKey, data.encryptedData, data.iv).n, 2)
  const marked = h.mock.app(B).encrypt('o-bob', {}, { appid: A })
  t.throws(() => b.decrypt(identity.sessionKey, marked.encryptedData, marked.iv), { code: 'WEAPP_DECRYPT_FAILED' }, "B's decrypt refuses a watermark of A")
  await t.rejects(h.app.weapp.app('wxnotconfigured'), { code: 'WEAPP_UNKNOWN_APP', statusCode: 400 })
  await t.rejects(h.app.weapp.code2Session('x'), { name: 'TypeError', message: /several apps are configured: use fastify\.weapp\.app\(appId\)/ })
  await t.rejects(h.app.weapp.seal(identity), TypeError)
  await t.rejects(h.app.weapp.accessToken(), TypeError)
  await t.rejects(h.app.weapp.getPhoneNumber('x'), TypeError)
  await t.rejects(h.app.weapp.checkSessionKey('o', 'k'), TypeError)
  t.throws(() => h.app.weapp.decrypt('k', 'd', 'i'), TypeError)
  t.ok(await (await h.app.weapp.app(A)).accessToken(), 'each app has its token')
})

t.test('one app in a list is the single app: the top-level building blocks and login without appId work', async (t) => {
  const h = await harness(t, { plugin: { apps: [{ appId: 'wx0123456789abcdef', appSecret: 'mock-app-secret-0123456789abcdef' }] } })
  t.equal((await h.post('/weapp/login', { code: h.mock.login('o-alice') })).json().appId, h.mock.appId)
  t.equal((await h.app.weapp.code2Session(h.mock.login('o-alice'))).openid, 'o-alice')
})

t.test('a lookup function: cached, single-flight, unknown apps cached, failures clear and retried', async (t) => {
  let calls: string[] = []
  let failing = false
  const table = new Map<string, WeappAppConfig>([[A, { appId: A, appSecret: 'secret-of-a-0123456789' }]])
  const lookup = async (appId: string): Promise<WeappAppConfig | undefined> => {
    calls.push(appId)
    await new Promise((resolve) => setImmediate(resolve))
    if (failing) throw new Error('database down: connect ECONNREFUSED db.internal:5432')
    return table.get(appId)
  }
  const h = await harness(t, { mock: { appId: A, appSecret: 'secret-of-a-0123456789' }, plugin: { apps: lookup } })
  const bodies = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await h.post('/weapp/login', { code: h.mock.login(`o-${i}`), appId: A })).json()))
  t.ok(bodies.every((b) => b.appId === A))
  t.same(calls, [A], 'ten concurrent logins, one lookup')
  calls = []
  const me = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${bodies[0].session as string}` } })
  t.equal(me.statusCode, 200)
  t.same(calls, [], 'authenticate never looks an app up')
  isError(t, await h.post('/weapp/login', { code: 'x', appId: B }), 400, 'WEAPP_UNKNOWN_APP')
  isError(t, await h.post('/weapp/login', { code: 'x', appId: B }), 400, 'WEAPP_UNKNOWN_APP')
  t.same(calls, [B], '"no such app" is cached too')
  isError(t, await h.post('/weapp/login', { code: 'x' }), 400, 'WEAPP_UNKNOWN_APP')

  failing = true
  const failed = await h.post('/weapp/login', { code: 'x', appId: 'wxdddddddddddddddd' })
  isError(t, failed, 503, 'WEAPP_APP_LOOKUP_FAILED')
  t.notMatch(failed.json().message, /ECONNREFUSED/, 'the database error stays in the log')
  t.ok(h.logs.some((l) => l.includes('WEAPP_APP_LOOKUP_FAILED') && l.includes('ECONNREFUSED')), 'logged with its cause')
  failing = false
  calls = []
  t.equal((await h.post('/weapp/login', { code: 'x', appId: 'wxdddddddddddddddd' })).statusCode, 400, 'a failure is not cached: asked again')
  t.same(calls, ['wxdddddddddddddddd'])
  t.same(h.leaks(), [])
})

t.test('a lookup answer that is not the app asked for is a clear 503', async (t) => {
  const configs: Record<string, unknown> = {
    wxwrongappid000000: { appId: A, appSecret: 's' },
    wxnosecret00000000: { appId: 'wxnosecret00000000' },
    wxnotanobject00000: 'secret'
  }
  const h = await harness(t, { plugin: { apps: (appId: string) => configs[appId] as WeappAppConfig } })
  for (const appId of Object.keys(configs)) {
    const res = await h.post('/weapp/login', { code: 'x', appId })
    isError(t, res, 503, 'WEAPP_APP_LOOKUP_FAILED')
    t.match(res.json().message, /unusable config/)
  }
})

t.test('a lookup whose answer changes at runtime: new apps appear, removed ones go, a new secret is used', async (t) => {
  let now = 1_000_000
  const table = new Map<string, WeappAppConfig>()
  let calls = 0
  const registry = createRegistry((appId) => { calls++; return table.get(appId) }, { apiBaseUrl: everyOrigin('http://127.0.0.1:1'), timeout: 100 }, () => now)
  await t.rejects(registry.get(A), { code: 'WEAPP_UNKNOWN_APP' })
  table.set(A, { appId: A, appSecret: 'one' })
  await t.rejects(registry.get(A), { code: 'WEAPP_UNKNOWN_APP' }, 'cached for a while')
  now += APP_CACHE_TTL
  const first = await registry.get(A)
  t.equal(first.appId, A, 'then found')
  t.equal(await registry.get(A), first)
  now += APP_CACHE_TTL
  t.equal(await registry.get(A), first, 'the same secret keeps the same app (and its access token)')
  table.set(A, { appId: A, appSecret: 'two' })
  now += APP_CACHE_TTL
  t.not(await registry.get(A), first, 'a new secret makes a new app')
  table.delete(A)
  now += APP_CACHE_TTL
  await t.rejects(registry.get(A), { code: 'WEAPP_UNKNOWN_APP' }, 'removed')
  t.equal(calls, 5)
  t.equal(registry.single, undefined)
  t.equal(registry.audience, undefined)
})

t.test('a lookup that changes an app\'s kind at runtime; tokens shared by credentials survive new apps', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const comp = mock.addComponent('wxcomp00000000001', 'comp-secret-0123456789')
  comp.host('wxhosted000000001')
  comp.host('wxhosted000000002')
  const staff = mock.addWecomApp('wxstaff0000000001', { corpId: 'wwcorp0000000001', corpSecret: 'corp-secret-0123456789' })
  let now = 1_000_000
  const table = new Map<string, WeappAppConfig>()
  const origin = mock.url
  const registry = createRegistry((appId) => table.get(appId), { apiBaseUrl: everyOrigin(origin), timeout: 2000 }, () => now)
  // Configs as a database would build them: fresh objects (and fresh closures) on every lookup.
  const hosted = (appId: string): WeappAppConfig => ({ appId, component: { appId: comp.appId, appSecret: comp.appSecret, verifyTicket: () => comp.verifyTicket() } })
  table.set('wxhosted000000001', hosted('wxhosted000000001'))
  table.set('wxhosted000000002', hosted('wxhosted000000002'))
  const one = await registry.get('wxhosted000000001')
  const two = await registry.get('wxhosted000000002')
  t.equal(one.kind, 'component')
  t.match(await one.code2Session(mock.app('wxhosted000000001').login('o-1')), { openid: 'o-1' })
  t.match(await two.code2Session(mock.app('wxhosted000000002').login('o-2')), { openid: 'o-2' })
  now += APP_CACHE_TTL
  table.set('wxhosted000000001', hosted('wxhosted000000001'))
  const renewed = await registry.get('wxhosted000000001')
  t.not(renewed, one, 'a config with new closures is a new app')
  t.match(await renewed.code2Session(mock.app('wxhosted000000001').login('o-1')), { openid: 'o-1' })
  t.equal(mock.callsTo('/cgi-bin/component/api_component_token').length, 1, 'yet the platform\'s token is fetched once for both apps and both lookups')

  // The same AppID turns from a hosted app into a WeCom app: the next lookup serves the new kind.
  table.set('wxhosted000000001', { appId: 'wxhosted000000001', wecom: { corpId: staff.corpId, corpSecret: staff.corpSecret } })
  t.equal((await registry.get('wxhosted000000001')).kind, 'component', 'until the cached answer expires')
  now += APP_CACHE_TTL
  const turned = await registry.get('wxhosted000000001')
  t.equal(turned.kind, 'wecom')
  t.equal(await registry.get('wxhosted000000001'), turned, 'an unchanged config keeps its app')
  // (The mock's AppID stays a hosted one: a WeCom login for it is refused upstream as a code of another app.)
  await t.rejects(turned.code2Session(mock.app('wxhosted000000001').login('o-1')), { code: 'WEAPP_INVALID_CODE' })
  t.match(await (await registry.get('wxhosted000000002')).code2Session(mock.app('wxhosted000000002').login('o-2')), { openid: 'o-2' }, 'the other hosted app is untouched')
  t.equal(mock.callsTo('/cgi-bin/gettoken').length, 1)
})
