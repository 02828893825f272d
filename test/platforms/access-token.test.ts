import t, { type Test } from 'tap'
import { createAccessTokens, tokenCallErrors } from '../../lib/platforms/wechat-api.js'
import { withCodes } from '../../lib/upstream/faults.js'
import { MockWechat } from '../../lib/testing.js'
import { callUpstream } from '../../lib/upstream/call.js'

async function setup (t: Test, ttl?: number): Promise<{ mock: MockWechat, tokens: ReturnType<typeof createAccessTokens> }> {
  const mock = await MockWechat.start(ttl === undefined ? {} : { accessTokenTtl: ttl })
  t.teardown(() => mock.close())
  return { mock, tokens: createAccessTokens({ appId: mock.appId, appSecret: mock.appSecret, apiBaseUrl: mock.url, timeout: 2000 }) }
}

/** An API call as the plugin makes them: checksession for a user, with the given token. */
async function check (mock: MockWechat, token: string): Promise<Record<string, unknown>> {
  const query = new URLSearchParams({ access_token: token, signature: 'x', openid: 'o-nobody', sig_method: 'hmac_sha256' })
  return await callUpstream(`${mock.url}/wxa/checksession?${query.toString()}`, { method: 'GET' }, { timeout: 2000, secrets: [token], errors: withCodes(tokenCallErrors, (c) => c === 40003 ? new Error('reached') : undefined) })
}

t.test('fetches from stable_token in normal mode, with exactly the documented body', async (t) => {
  const { mock, tokens } = await setup(t)
  const token = await tokens.get()
  t.match(token, /^[A-Za-z0-9_-]+$/)
  const calls = mock.callsTo('/cgi-bin/stable_token')
  t.equal(calls.length, 1)
  t.same(JSON.parse(calls[0]?.body ?? ''), { grant_type: 'client_credential', appid: mock.appId, secret: mock.appSecret, force_refresh: false })
  t.same(calls[0]?.query, {}, 'the secret is in the body, not the URL')
})

t.test('cached: a thousand callers at once cause one fetch; later callers reuse it', async (t) => {
  const { mock, tokens } = await setup(t)
  mock.fail({ delay: 30, path: '/cgi-bin/stable_token' })
  const all = await Promise.all(Array.from({ length: 1000 }, async () => await tokens.get()))
  t.equal(new Set(all).size, 1)
  t.equal(await tokens.get(), all[0])
  t.equal(mock.callsTo('/cgi-bin/stable_token').length, 1)
})

t.test('refetched shortly before expiry, not after', async (t) => {
  const { mock, tokens } = await setup(t, 400) // refresh at max(400 - 300, 200) = 200 s
  const first = await tokens.get()
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  const start = realNow()
  Date.now = () => start + 199_000
  t.equal(await tokens.get(), first, 'still cached at 199 s')
  t.equal(mock.callsTo('/cgi-bin/stable_token').length, 1)
  Date.now = () => start + 201_000
  await tokens.get()
  t.equal(mock.callsTo('/cgi-bin/stable_token').length, 2, 'fetched again at 201 s')
})

t.test('a refused token (40001, 42001) is refetched once and the call retried once', async (t) => {
  for (const [name, spoil] of [['revoked', 'revokeAccessTokens'], ['expired', 'expireAccessTokens']] as const) {
    const { mock, tokens } = await setup(t)
    const old = await tokens.get()
    mock[spoil]()
    const seen: string[] = []
    const result = await tokens.use(async (token) => {
      seen.push(token)
      return await check(mock, token)
    }).catch((e: Error) => e.message)
    t.equal(result, 'reached', `${name}: the retried call went through`)
    t.equal(seen.length, 2)
    t.equal(seen[0], old)
    t.not(seen[1], old, 'with a new token')
    t.equal(mock.callsTo('/cgi-bin/stable_token').length, 2)
  }
})

t.test('many calls refused at once cause one refetch', async (t) => {
  const { mock, tokens } = await setup(t)
  await tokens.get()
  mock.revokeAccessTokens()
  const results = await Promise.all(Array.from({ length: 50 }, async () =>
    await tokens.use(async (token) => await check(mock, token)).catch((e: Error) => e.message)))
  t.ok(results.every((r) => r === 'reached'))
  t.equal(mock.callsTo('/cgi-bin/stable_token').length, 2, 'one fetch at first, one after the refusal')
})

t.test('a second refusal is a 502, not a loop', async (t) => {
  const { mock, tokens } = await setup(t)
  let calls = 0
  await t.rejects(tokens.use(async (token) => {
    calls++
    mock.revokeAccessTokens()
    return await check(mock, token)
  }), { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502, message: /force-refreshes/ })
  t.equal(calls, 2)
  await t.rejects(tokens.use(async () => { throw new Error('other') }), { message: 'other' }, 'other errors pass through untouched')
})

t.test('stable_token failures: mapped, not cached, and the next caller tries again', async (t) => {
  const { mock, tokens } = await setup(t)
  mock.fail({ errcode: 40125, path: '/cgi-bin/stable_token' })
  await t.rejects(tokens.get(), { code: 'WEAPP_UPSTREAM_ERROR', message: /misconfigured/ })
  mock.fail({ body: '{"access_token":"x"}', path: '/cgi-bin/stable_token' })
  await t.rejects(tokens.get(), { code: 'WEAPP_UPSTREAM_ERROR', message: /usable access_token/ })
  mock.fail({ body: '{"access_token":"x","expires_in":0}', path: '/cgi-bin/stable_token' })
  await t.rejects(tokens.get(), { code: 'WEAPP_UPSTREAM_ERROR' })
  t.match(await tokens.get(), /^[A-Za-z0-9_-]+$/, 'then it works')
  const wrong = createAccessTokens({ appId: mock.appId, appSecret: 'wrong-secret-for-token', apiBaseUrl: mock.url, timeout: 2000 })
  const err: Error = await wrong.get().then(() => new Error('resolved'), (e: Error) => e)
  t.match(err, { code: 'WEAPP_UPSTREAM_ERROR', message: /misconfigured/ })
  t.notOk(`${err.message} ${String(err.stack)} ${String((err as { cause?: Error }).cause?.message)}`.includes('wrong-secret-for-token'))
})
