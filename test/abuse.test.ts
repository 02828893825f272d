// What a user (or a script with one session) can make the server spend: junk codes on decrypt and
// phone count against that user's budget, the budget escalates for repeat offenders, /login takes
// @fastify/rate-limit through routeConfig, and the small routes parse small bodies.
import rateLimit from '@fastify/rate-limit'
import t from 'tap'
import { createFailureBudget, MAX_BLOCK } from '../lib/failure-budget.js'
import { harness, isError } from './fixtures/app.js'

t.test('junk codes on /decrypt { code } and /phone count against the user: 10, then 429 and no upstream call', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-mallory')
  const data = h.mock.encrypt('o-mallory', { a: 1 })
  for (let i = 0; i < 10; i++) isError(t, await h.post('/weapp/decrypt', { ...data, code: `junk-${i}` }, session), 401, 'WEAPP_INVALID_CODE')
  const logins = h.mock.callsTo('/sns/jscode2session').length
  isError(t, await h.post('/weapp/decrypt', { ...data, code: 'junk-more' }, session), 429, 'WEAPP_RATE_LIMITED')
  t.equal(h.mock.callsTo('/sns/jscode2session').length, logins, 'a blocked user\'s code never reaches WeChat')

  const { session: bob } = await h.login('o-bob')
  for (let i = 0; i < 10; i++) isError(t, await h.post('/weapp/phone', { code: `junk-phone-${i}` }, bob), 401, 'WEAPP_INVALID_CODE')
  const phones = h.mock.callsTo('/wxa/business/getuserphonenumber').length
  isError(t, await h.post('/weapp/phone', { code: h.mock.phoneCode('o-bob') }, bob), 429, 'WEAPP_RATE_LIMITED')
  t.equal(h.mock.callsTo('/wxa/business/getuserphonenumber').length, phones)

  // Another user's code on a session counts too (it is not this user's to heal with).
  const { session: eve } = await h.login('o-eve')
  for (let i = 0; i < 10; i++) isError(t, await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-eve', { a: 1 }), code: h.mock.login('o-alice') }, eve), 401, 'WEAPP_INVALID_CODE')
  isError(t, await h.post('/weapp/decrypt', h.mock.encrypt('o-eve', { a: 1 }), eve), 429, 'WEAPP_RATE_LIMITED')
  const { session: alice } = await h.login('o-alice')
  t.equal((await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-alice', { a: 1 }), code: h.mock.login('o-alice') }, alice)).statusCode, 200, 'a good code heals as before')
  t.same(h.leaks(), [])
})

t.test('the budget escalates: each block within a day of the last doubles, up to a day', async (t) => {
  let now = 1_000_000
  const budget = createFailureBudget({ limit: 10, window: 60_000, size: 100, now: () => now })
  const blocks: number[] = []
  let failures = 0
  // An attacker who fails as fast as the budget lets them, for two days.
  while (now < 1_000_000 + 2 * 86400_000) {
    const wait = budget.blockedFor('mallory')
    if (wait > 0) {
      if (blocks.length === 0 || blocks[blocks.length - 1] !== wait) blocks.push(wait)
      now += wait
      continue
    }
    budget.fail('mallory')
    failures++
  }
  t.same(blocks.slice(0, 4), [60_000, 120_000, 240_000, 480_000], 'doubling')
  t.equal(Math.max(...blocks), MAX_BLOCK, 'capped at a day')
  t.ok(failures <= 140, `${failures} failures in two days (a fixed one-minute block allowed about 28,000)`)
  now += 2 * MAX_BLOCK // forgiven a day after the last block ended
  for (let i = 0; i < 10; i++) budget.fail('mallory')
  t.equal(budget.blockedFor('mallory'), 60_000, 'a first block again')
  // A blocked key is not forgotten when many other keys fail once.
  for (let i = 0; i < 1000; i++) budget.fail(`other-${i}`)
  t.equal(budget.blockedFor('mallory'), 60_000, 'still blocked')
})

t.test('routeConfig gives each route its Fastify config: @fastify/rate-limit limits /login', async (t) => {
  const h = await harness(t, {
    plugin: { routeConfig: { login: { rateLimit: { max: 3, timeWindow: '1 minute' } } } },
    async before (app) { await app.register(rateLimit, { global: false }) }
  })
  for (let i = 0; i < 3; i++) isError(t, await h.post('/weapp/login', { code: `junk-${i}` }), 401, 'WEAPP_INVALID_CODE')
  const calls = h.mock.callsTo('/sns/jscode2session').length
  const limited = await h.post('/weapp/login', { code: h.mock.login('o-alice') })
  t.equal(limited.statusCode, 429, 'the fourth login in a minute is limited')
  t.equal(h.mock.callsTo('/sns/jscode2session').length, calls, 'before any upstream call')
  const { session } = await harness(t).then(async (other) => await other.login('o-bob'))
  t.type(session, 'string', 'a registration without routeConfig is unlimited')
})

t.test('routeConfig and securityScheme are checked', async (t) => {
  const { buildSettings } = await import('../lib/options.js')
  const base = { appId: 'wx0123456789abcdef', appSecret: 's', key: 'a'.repeat(43) }
  for (const [extra, message] of [
    [{ routeConfig: 'x' }, /routeConfig must be an object/],
    [{ routeConfig: { login: 3 } }, /routeConfig.login must be an object/],
    [{ routeConfig: { logni: {} } }, /routeConfig.logni is not an option; did you mean routeConfig.login/],
    [{ securityScheme: 'has space' }, /securityScheme must be/]
  ] as const) {
    t.throws(() => buildSettings({ ...base, ...extra }), { code: 'WEAPP_INVALID_OPTION', message }, JSON.stringify(extra))
  }
})

t.test('logout parses a small body, like the other routes', async (t) => {
  const h = await harness(t, { plugin: { revocation: 'memory' } })
  const { session } = await h.login('o-alice')
  const big = await h.app.inject({ method: 'POST', url: '/weapp/logout', payload: JSON.stringify({ pad: 'x'.repeat(64 * 1024) }), headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' } })
  t.equal(big.statusCode, 413)
  t.equal((await h.post('/weapp/logout', {}, session)).statusCode, 204, 'the session was not ended by the refused request')
})
