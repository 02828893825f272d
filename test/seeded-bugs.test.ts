// Plausible bugs that once slipped through the suite, each pinned by the test that would meet it:
// a token cache keyed without the secret, secrets of other kinds of app left in error causes, a
// Douyin single-flight that merges two users, a revocation scored in the wrong unit.
import t, { type Test } from 'tap'
import { createRegistry } from '../lib/apps.js'
import { MockWechat } from '../lib/testing.js'
import { harness, type Harness } from './fixtures/app.js'
import { instance, login, mockWechat } from './fixtures/fleet.js'
import { redisServer } from './fixtures/redis.js'
import { everyOrigin } from './fixtures/tables.js'

const WX = 'wx0123456789abcdef'

t.test('a lookup app whose AppSecret changed fetches its access token with the new secret', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  let now = 1_000_000
  let secret = mock.appSecret
  const origin = mock.url
  const registry = createRegistry(() => ({ appId: WX, appSecret: secret }), { apiBaseUrl: everyOrigin(origin), timeout: 2000 }, () => now)
  await (await registry.get(WX)).accessToken()
  secret = 'the-rotated-secret-0123456789'
  now += 120_000 // past the lookup cache: the new config is read
  await (await registry.get(WX)).accessToken().catch(() => {}) // the mock does not know the new secret
  const sent = mock.callsTo('/cgi-bin/stable_token').map((c) => JSON.parse(c.body).secret)
  t.same(sent, [mock.appSecret, 'the-rotated-secret-0123456789'], 'a new token, asked for with the new secret')
})

/** Logs and replies of a failed token call whose upstream echoes what it was sent. */
async function echoed (t: Test, path: string, secretOf: (h: Harness) => string, plugin: (ticket: () => string) => Record<string, unknown>, route: (h: Harness) => Promise<unknown>): Promise<Harness> {
  const ref: { h?: Harness } = {} // the harness, once made: the ticket getter reads its mock
  const h = await harness(t, { plugin: plugin(() => (ref.h as Harness).mock.component('wxcomponent0000001').verifyTicket()) })
  ref.h = h
  h.mock.addComponent('wxcomponent0000001', 'component-secret-0123456789abcdef').host('wxhosted0000000001')
  h.mock.addWecomApp('wxstaff00000000001', { corpId: 'ww0123456789abcdef', corpSecret: 'corp-app-secret-0123456789abcdef' })
  h.mock.fail({ path, errcode: -1, errmsg: `system error while reading ${secretOf(h)}` })
  await route(h)
  return h
}

t.test('a component verify ticket and a WeCom corpSecret never reach a log or reply, even echoed by the upstream', async (t) => {
  const component = await echoed(t, '/cgi-bin/component/api_component_token',
    (h) => h.mock.component('wxcomponent0000001').verifyTicket(),
    (verifyTicket) => ({ apps: [{ appId: 'wxhosted0000000001', component: { appId: 'wxcomponent0000001', appSecret: 'component-secret-0123456789abcdef', verifyTicket } }] }),
    async (h) => await h.post('/weapp/login', { code: h.mock.component('wxcomponent0000001').host('wxhosted0000000001').login('o-1'), appId: 'wxhosted0000000001' }))
  t.ok(component.logs.some((l) => l.includes('[redacted]')), 'the echo was logged, scrubbed')
  t.same(component.leaks(), [], 'no ticket in any log line or reply')

  const wecom = await echoed(t, '/cgi-bin/gettoken', () => 'corp-app-secret-0123456789abcdef',
    () => ({ apps: [{ appId: 'wxstaff00000000001', wecom: { corpId: 'ww0123456789abcdef', corpSecret: 'corp-app-secret-0123456789abcdef' } }] }),
    async (h) => await h.post('/weapp/login', { code: h.mock.wecomApp('wxstaff00000000001').login('zhangsan'), appId: 'wxstaff00000000001' }))
  t.ok(wecom.logs.some((l) => l.includes('[redacted]')))
  t.same(wecom.leaks(), [], 'no corpSecret in any log line or reply')
})

t.test('two users\' concurrent anonymous-only Douyin logins each get their own openid', async (t) => {
  const TT = 'tt0123456789abcdef01'
  const h = await harness(t, { mock: { appId: TT, appSecret: 'douyin-app-secret-0123456789' }, plugin: { apps: [{ appId: TT, appSecret: 'douyin-app-secret-0123456789', platform: 'douyin' }] } })
  h.mock.fail({ path: '/api/apps/v2/jscode2session', delay: 100 })
  const [one, two] = await Promise.all([
    h.post('/weapp/login', { anonymousCode: h.mock.app(TT).anonymousCode('anon-1'), appId: TT }),
    h.post('/weapp/login', { anonymousCode: h.mock.app(TT).anonymousCode('anon-2'), appId: TT })
  ])
  t.same([one.json().openid, two.json().openid], ['anon-1', 'anon-2'])
})

t.test('revocations are stored for maxAge in milliseconds: Redis scores them now + maxAge', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock)
  await a.weapp.revoke(await login(a, mock, 'o-alice'))
  await a.weapp.revokeUser({ openid: 'o-bob' })
  const scores = (await redis.client().zrange('test:revoked', '0', '-1', 'WITHSCORES')).filter((_v, i) => i % 2 === 1).map(Number)
  const maxAge = 30 * 86400_000
  t.equal(scores.length, 2)
  for (const score of scores) t.ok(Math.abs(score - (Date.now() + maxAge)) < 60_000, `scored ${score - Date.now()} ms ahead (maxAge ${maxAge})`)
})
