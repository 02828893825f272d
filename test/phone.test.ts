import t from 'tap'
import { harness, isError } from './fixtures/app.js'

t.test('POST /phone: the phone number behind a getPhoneNumber code, bound to the session\'s openid', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const code = h.mock.phoneCode('o-alice')
  const res = await h.post('/weapp/phone', { code }, session)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(res.json(), { phone: { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' } }, 'countryCode as a string, whatever WeChat sends')
  const [tokenCall, ...rest] = h.mock.callsTo('/cgi-bin/stable_token')
  t.ok(tokenCall)
  t.equal(rest.length, 0)
  const calls = h.mock.callsTo('/wxa/business/getuserphonenumber')
  t.equal(calls.length, 1)
  t.equal(calls[0]?.method, 'POST')
  t.same(JSON.parse(calls[0]?.body ?? ''), { code, openid: 'o-alice' }, 'the openid goes along, so WeChat checks the code is hers')
  t.match(calls[0]?.query, { access_token: /^[A-Za-z0-9_-]+$/ })
  t.same(h.leaks(), [], 'no access token, code or secret in logs or replies')
})

t.test('international numbers', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-bob')
  const code = h.mock.phoneCode('o-bob', { phoneNumber: '+1 2025550123', purePhoneNumber: '2025550123', countryCode: '1' })
  t.same((await h.post('/weapp/phone', { code }, session)).json().phone, { phoneNumber: '+1 2025550123', purePhoneNumber: '2025550123', countryCode: '1' })
})

t.test('codes: another user\'s, used, unknown; identical codes in flight share one call', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  isError(t, await h.post('/weapp/phone', { code: h.mock.phoneCode('o-mallory') }, session), 401, 'WEAPP_INVALID_CODE')
  const code = h.mock.phoneCode('o-alice')
  const together = await Promise.all([1, 2, 3].map(async () => await h.post('/weapp/phone', { code }, session)))
  t.same(together.map((r) => r.statusCode), [200, 200, 200])
  t.equal(h.mock.callsTo('/wxa/business/getuserphonenumber').length, 2, 'the mallory call and one shared call')
  isError(t, await h.post('/weapp/phone', { code }, session), 401, 'WEAPP_INVALID_CODE')
  isError(t, await h.post('/weapp/phone', { code: 'never-issued' }, session), 401, 'WEAPP_INVALID_CODE')
})

t.test('no session, bad bodies: refused before any upstream call', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  isError(t, await h.post('/weapp/phone', { code: 'x' }), 401, 'WEAPP_SESSION_MISSING')
  for (const payload of [{}, { code: '' }, { code: 7 }, { code: 'has space' }, { code: 'x'.repeat(129) }, { code: 'a\u0000b' }, { response: '{}' }, { code: h.mock.phoneCode('o-alice'), response: '{}' }]) {
    isError(t, await h.post('/weapp/phone', payload, session), 400, 'FST_ERR_VALIDATION')
  }
  const both = await h.post('/weapp/phone', { code: h.mock.phoneCode('o-alice'), response: '{}' }, session)
  t.match(both.json().message, /body must have code alone for a WeChat session: the code of the getPhoneNumber button/)
  t.equal(h.mock.callsTo('/cgi-bin/stable_token').length, 0)
  t.equal(h.mock.callsTo('/wxa/business/getuserphonenumber').length, 0)
})

t.test('a token refused by WeChat is refetched once and the call retried', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  t.equal((await h.post('/weapp/phone', { code: h.mock.phoneCode('o-alice') }, session)).statusCode, 200)
  h.mock.revokeAccessTokens() // another system force-refreshed the token
  t.equal((await h.post('/weapp/phone', { code: h.mock.phoneCode('o-alice') }, session)).statusCode, 200)
  t.equal(h.mock.callsTo('/cgi-bin/stable_token').length, 2)
  t.equal(h.mock.callsTo('/wxa/business/getuserphonenumber').length, 3)
})

t.test('upstream faults map to the contract', async (t) => {
  const h = await harness(t, { plugin: { timeout: 1000 } })
  const { session } = await h.login('o-alice')
  await h.app.weapp.accessToken() // so that the faults below hit getuserphonenumber
  const cases: Array<[Record<string, unknown>, number, string]> = [
    [{ errcode: -1 }, 502, 'WEAPP_UPSTREAM_ERROR'],
    [{ errcode: 45011 }, 429, 'WEAPP_RATE_LIMITED'],
    [{ delay: 60_000 }, 504, 'WEAPP_UPSTREAM_TIMEOUT'],
    [{ body: '{"errcode":0,"errmsg":"ok"}' }, 502, 'WEAPP_UPSTREAM_ERROR'],
    [{ body: '{"errcode":0,"phone_info":{"phoneNumber":"1","purePhoneNumber":"1","countryCode":"86","watermark":{"appid":"wxother"}}}' }, 502, 'WEAPP_UPSTREAM_ERROR'],
    [{ body: '{"errcode":0,"phone_info":{"phoneNumber":"1","purePhoneNumber":"1","countryCode":null}}' }, 502, 'WEAPP_UPSTREAM_ERROR']
  ]
  for (const [fault, status, code] of cases) {
    h.mock.fail({ ...fault, path: '/wxa/business/getuserphonenumber' })
    isError(t, await h.post('/weapp/phone', { code: h.mock.phoneCode('o-alice') }, session), status, code)
  }
  h.mock.fail({ errcode: 40125, path: '/cgi-bin/stable_token' })
  h.mock.revokeAccessTokens()
  isError(t, await h.post('/weapp/phone', { code: h.mock.phoneCode('o-alice') }, session), 502, 'WEAPP_UPSTREAM_ERROR')
  t.same(h.leaks(), [])
})

t.test('getPhoneNumber as a building block', async (t) => {
  const h = await harness(t)
  const code = h.mock.phoneCode('o-alice')
  t.same(await h.app.weapp.getPhoneNumber(code), { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
  t.same(JSON.parse(h.mock.callsTo('/wxa/business/getuserphonenumber')[0]?.body ?? ''), { code }, 'without openid, none is sent')
  await t.rejects(h.app.weapp.getPhoneNumber(42 as never), TypeError)
  await t.rejects(h.app.weapp.getPhoneNumber('c', '' as never), TypeError)
  await t.rejects(h.app.weapp.getPhoneNumber(''), { code: 'WEAPP_INVALID_CODE' })
})

t.test('a phone code in flight for one user is never shared with another user\'s request', async (t) => {
  const h = await harness(t)
  const code = h.mock.phoneCode('o-alice', { phoneNumber: '13900000001', purePhoneNumber: '13900000001' })
  await h.app.weapp.accessToken() // the token first, so both calls below start in the same tick
  // Both calls start before either answers: the second one must not join the first one's call.
  const alice = h.app.weapp.getPhoneNumber(code, 'o-alice')
  const mallory = h.app.weapp.getPhoneNumber(code, 'o-mallory').catch((e: unknown) => e)
  t.equal((await alice).phoneNumber, '13900000001')
  t.match(await mallory, { code: 'WEAPP_INVALID_CODE' }, 'the other user gets WeChat\'s own refusal, not alice\'s number')
  t.equal(h.mock.callsTo('/wxa/business/getuserphonenumber').length, 2, 'two upstream calls, one per user')

  // Through the routes, with both requests held in flight by the mock until both have arrived.
  const { session: aliceSession } = await h.login('o-alice')
  const { session: mallorySession } = await h.login('o-mallory')
  const code2 = h.mock.phoneCode('o-alice', { phoneNumber: '13900000002', purePhoneNumber: '13900000002' })
  let release: () => void = () => {}
  h.mock.fail({ path: '/wxa/business/getuserphonenumber', until: new Promise<void>((resolve) => { release = resolve }) })
  const calls = (): number => h.mock.callsTo('/wxa/business/getuserphonenumber').length
  const before = calls()
  const first = h.post('/weapp/phone', { code: code2 }, aliceSession)
  while (calls() < before + 1) await new Promise((resolve) => setImmediate(resolve))
  const second = h.post('/weapp/phone', { code: code2 }, mallorySession)
  // A correct plugin sends mallory's own call (a 4th); a plugin that shares by code alone never
  // does, so the wait is bounded. Either way the assertions below decide, not the wait.
  const deadline = Date.now() + 5000
  while (calls() < before + 2 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  release()
  t.equal((await first).json().phone.phoneNumber, '13900000002')
  isError(t, await second, 401, 'WEAPP_INVALID_CODE')
})
