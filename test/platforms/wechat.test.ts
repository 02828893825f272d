import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import { errorFor, createWechatClient, type WechatClient } from '../../lib/platforms/wechat.js'
import { MockWechat } from '../../lib/testing.js'

async function setup (t: Test, timeout = 2000): Promise<{ mock: MockWechat, client: WechatClient }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const client = createWechatClient({ appId: mock.appId, appSecret: mock.appSecret, apiBaseUrl: mock.url, timeout })
  return { mock, client }
}

/** The error's message, stack and cause chain as text: what a reply or a log line could show. */
function visible (err: unknown): string {
  const e = err as Error & { cause?: Error }
  return [e.message, e.stack, e.cause?.message, e.cause?.stack, JSON.stringify(e)].join('\n')
}

t.test('exchanges a code: exactly one GET with the contract\'s query', async (t) => {
  const { mock, client } = await setup(t)
  const code = mock.login('o-1', { unionid: 'u-1' })
  const identity = await client.code2Session(code)
  t.same(identity, { openid: 'o-1', unionid: 'u-1', sessionKey: mock.user('o-1').sessionKey })
  t.same(mock.calls.map(({ headers: _h, ...call }) => call), [{
    method: 'GET',
    path: '/sns/jscode2session',
    query: { appid: mock.appId, secret: mock.appSecret, js_code: code, grant_type: 'authorization_code' },
    body: ''
  }])
  t.notOk('unionid' in await client.code2Session(mock.login('o-2')), 'no unionid when WeChat gives none')
})

t.test('errcodes map to the contract', async (t) => {
  const { mock, client } = await setup(t)
  const expected: Array<[number, string, number]> = [
    [40029, 'WEAPP_INVALID_CODE', 401],
    [40163, 'WEAPP_INVALID_CODE', 401],
    [45011, 'WEAPP_RATE_LIMITED', 429],
    [40226, 'WEAPP_RISKY_USER', 403],
    [-1, 'WEAPP_UPSTREAM_ERROR', 502],
    [40125, 'WEAPP_UPSTREAM_ERROR', 502],
    [99999, 'WEAPP_UPSTREAM_ERROR', 502]
  ]
  for (const [errcode, code, statusCode] of expected) {
    mock.fail({ errcode })
    await t.rejects(client.code2Session(mock.login('o-1')), { code, statusCode }, `errcode ${errcode}`)
  }
  t.match(errorFor(40125).message, /misconfigured/)
  t.match(errorFor(-1).message, /busy/)
  t.match(errorFor(Number.NaN).message, /errcode NaN/)
})

t.test('the real code path: used, unknown and expired codes', async (t) => {
  const { mock, client } = await setup(t)
  const code = mock.login('o-1')
  await client.code2Session(code)
  await t.rejects(client.code2Session(code), { code: 'WEAPP_INVALID_CODE' }, 'a used code (40163)')
  await t.rejects(client.code2Session('never-issued'), { code: 'WEAPP_INVALID_CODE' }, 'an unknown code (40029)')
  const shortLived = await MockWechat.start({ codeTtl: 1 })
  t.teardown(() => shortLived.close())
  const late = createWechatClient({ appId: shortLived.appId, appSecret: shortLived.appSecret, apiBaseUrl: shortLived.url, timeout: 2000 })
  const stale = shortLived.login('o-1')
  await new Promise((resolve) => setTimeout(resolve, 10))
  await t.rejects(late.code2Session(stale), { code: 'WEAPP_INVALID_CODE' }, 'an expired code')
})

t.test('a wrong AppSecret is a 502 that says the server is misconfigured, without the secret', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const secret = 'wrong-secret-0123456789'
  const client = createWechatClient({ appId: mock.appId, appSecret: secret, apiBaseUrl: mock.url, timeout: 2000 })
  const err = await client.code2Session(mock.login('o-1')).catch((e: unknown) => e)
  t.match(err, { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502, message: /misconfigured/ })
  t.notOk(visible(err).includes(secret))
  const wrongApp = createWechatClient({ appId: 'wxwrong', appSecret: mock.appSecret, apiBaseUrl: mock.url, timeout: 2000 })
  await t.rejects(wrongApp.code2Session(mock.login('o-1')), { code: 'WEAPP_UPSTREAM_ERROR', message: /misconfigured/ }, 'a wrong appId')
})

t.test('HTTP errors, bodies that are not a JSON object, answers without session_key', async (t) => {
  const { mock, client } = await setup(t)
  const faults = [
    { status: 500, body: '<html><body>Internal Server Error</body></html>', contentType: 'text/html' },
    { status: 404, body: '' },
    { status: 204 },
    { body: '' },
    { body: 'not json' },
    { body: '[1,2]' },
    { body: 'null' },
    { body: '{"openid":"o-1"}' },
    { body: '{"session_key":"tiihtNczf5v6AKRyjwEUhQ=="}' },
    { body: '{"openid":"o-1","session_key":"not-a-key"}' },
    { body: '{"openid":"o-1","session_key":"tiihtNczf5v6AKRyjwEUhQ==","unionid":""}' },
    { body: '{"errcode":"40029"}' },
    { body: `{"openid":"${'x'.repeat(70 * 1024)}"}` }
  ]
  for (const fault of faults) {
    mock.fail(fault)
    await t.rejects(client.code2Session(mock.login('o-1')), { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502 }, JSON.stringify(fault).slice(0, 80))
  }
  mock.fail({ body: '{"errcode":0,"openid":"o-9","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}', contentType: 'application/json' })
  t.equal((await client.code2Session(mock.login('o-1'))).openid, 'o-9', 'errcode 0 is success, whatever the content type')
})

t.test('a slow answer is a 504 at timeout, not a wait for the answer', async (t) => {
  const { mock, client } = await setup(t, 150)
  // The answer would come after a minute: without the timeout this test hangs and tap fails it.
  mock.fail({ delay: 60_000 })
  await t.rejects(client.code2Session(mock.login('o-1')), { code: 'WEAPP_UPSTREAM_TIMEOUT', statusCode: 504, message: /150 ms/ })
})

t.test('connection refused and reset are 502 and name no secret', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
  const secret = 'refused-secret-0123456789'
  const client = createWechatClient({ appId: 'wx1', appSecret: secret, apiBaseUrl: `http://127.0.0.1:${port}`, timeout: 2000 })
  const err = await client.code2Session('code-refused').catch((e: unknown) => e)
  t.match(err, { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502 })
  t.match((err as { cause?: Error }).cause?.message, /ECONNREFUSED/, 'the cause says why')
  t.notOk(visible(err).includes(secret))
  t.notOk(visible(err).includes('code-refused'))

  const { mock, client: reset } = await setup(t)
  mock.fail({ destroy: true })
  await t.rejects(reset.code2Session(mock.login('o-1')), { code: 'WEAPP_UPSTREAM_ERROR' }, 'reset')
})

t.test('identical codes in flight share one upstream call; a code is never retried', async (t) => {
  const { mock, client } = await setup(t)
  const code = mock.login('o-1')
  mock.fail({ delay: 50, path: '/nowhere' }) // a fault for another path is left alone
  const results = await Promise.all(Array.from({ length: 10 }, async () => await client.code2Session(code)))
  t.equal(mock.callsTo('/sns/jscode2session').length, 1, 'one upstream call')
  t.ok(results.every((r) => r.openid === 'o-1'))

  const failing = mock.login('o-2')
  mock.fail({ errcode: -1 })
  await t.rejects(client.code2Session(failing), { code: 'WEAPP_UPSTREAM_ERROR' })
  t.equal(mock.callsTo('/sns/jscode2session').length, 2, 'a failure is not retried')
  t.equal((await client.code2Session(failing)).openid, 'o-2', 'once settled, the same code may be sent again by the client')
})

t.test('empty, oversized and non-string codes never reach WeChat', async (t) => {
  const { mock, client } = await setup(t)
  await t.rejects(client.code2Session(''), { code: 'WEAPP_INVALID_CODE' })
  await t.rejects(client.code2Session('x'.repeat(129)), { code: 'WEAPP_INVALID_CODE' })
  await t.rejects(client.code2Session(42 as never), TypeError)
  t.equal(mock.calls.length, 0)
})

t.test('a redirect is not followed: 502, one request, and the secret goes nowhere else', async (t) => {
  const { mock, client } = await setup(t)
  const code = mock.login('o-1')
  // A redirect to a place that would answer a perfectly good identity.
  const query = new URLSearchParams({ appid: mock.appId, secret: mock.appSecret, js_code: mock.login('o-1'), grant_type: 'authorization_code' })
  // Its body even looks like an identity: a 3xx is an HTTP error, whatever it carries.
  const identity = JSON.stringify({ openid: 'o-elsewhere', session_key: mock.user('o-1').sessionKey })
  mock.fail({ status: 302, headers: { location: `${mock.url}/sns/jscode2session?${query.toString()}` }, body: identity })
  const err = await client.code2Session(code).catch((e: unknown) => e)
  t.match(err, { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502, message: /answered HTTP 302/ })
  t.equal(mock.callsTo('/sns/jscode2session').length, 1, 'the redirect was not followed')
  t.notOk(visible(err).includes(mock.appSecret))
})

t.test('an answer over 64 KiB is not read, even a well-formed one', async (t) => {
  const { mock, client } = await setup(t)
  const body = JSON.stringify({ openid: 'o-big', session_key: 'tiihtNczf5v6AKRyjwEUhQ==', padding: 'x'.repeat(65 * 1024) })
  mock.fail({ body })
  await t.rejects(client.code2Session(mock.login('o-1')), { code: 'WEAPP_UPSTREAM_ERROR', message: /other than a JSON object/ })
  mock.fail({ body: JSON.stringify({ openid: 'o-small', session_key: 'tiihtNczf5v6AKRyjwEUhQ==', padding: 'x'.repeat(60 * 1024) }) })
  t.match(await client.code2Session(mock.login('o-1')), { openid: 'o-small' }, 'under the cap it is read')
})

t.test('a network failure\'s own message stays in the cause, out of the reply\'s message', async (t) => {
  const { mock, client } = await setup(t)
  mock.fail({ destroy: true })
  const err = await client.code2Session(mock.login('o-1')).catch((e: unknown) => e) as Error & { cause?: Error }
  t.equal(err.message, 'Could not reach the WeChat API; retry in a moment', 'a fixed message')
  t.match(err.cause?.message, /socket|fetch failed|ECONNRESET|other side closed/i, 'what happened is in the cause, for the log')
})

t.test('an answer cut off in the middle is a failure to reach WeChat, never half an identity', async (t) => {
  const { mock, client } = await setup(t)
  const code = mock.login('o-1')
  mock.fail({ cut: true, body: JSON.stringify({ openid: 'o-1', session_key: mock.user('o-1').sessionKey, padding: 'x'.repeat(4096) }) })
  const err = await client.code2Session(code).catch((e: unknown) => e)
  t.match(err, { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502, message: 'Could not reach the WeChat API; retry in a moment' })
  t.notOk(visible(err).includes(mock.appSecret), 'the secret is in no message or cause')
  t.notOk(visible(err).includes(code), 'nor the code')
  t.equal(mock.callsTo('/sns/jscode2session').length, 1, 'not retried')
})

t.test('an HTTP error is an error even with a well-formed body', async (t) => {
  const { mock, client } = await setup(t)
  for (const status of [500, 503, 404]) {
    mock.fail({ status, body: JSON.stringify({ openid: 'o-1', session_key: 'tiihtNczf5v6AKRyjwEUhQ==' }) })
    await t.rejects(client.code2Session(mock.login('o-1')), { code: 'WEAPP_UPSTREAM_ERROR', message: new RegExp(`HTTP ${status}`) }, String(status))
  }
})

t.test('errcode -1 is WeChat being busy, not an answer', async (t) => {
  const { mock, client } = await setup(t)
  mock.fail({ errcode: -1, body: undefined })
  await t.rejects(client.code2Session(mock.login('o-1')), { code: 'WEAPP_UPSTREAM_ERROR', message: /busy \(errcode -1\)/ })
})

t.test('an upstream that echoes the AppSecret or the code in its errmsg: scrubbed from the cause', async (t) => {
  const { mock, client } = await setup(t)
  const code = mock.login('o-1')
  mock.fail({ errcode: 40125, errmsg: `invalid appsecret ${mock.appSecret} for code ${code} (${encodeURIComponent(mock.appSecret)})` })
  const err = await client.code2Session(code).catch((e: unknown) => e)
  t.match(err, { code: 'WEAPP_UPSTREAM_ERROR' })
  t.match((err as { cause?: Error }).cause?.message, /\[redacted\]/, 'the cause keeps the rest of the message')
  t.notOk(visible(err).includes(mock.appSecret), 'no secret')
  t.notOk(visible(err).includes(code), 'no code')
})
