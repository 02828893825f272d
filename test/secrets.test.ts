import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import { harness, KEY, type Harness } from './fixtures/app.js'
import { claims, forge } from './fixtures/jwe.js'

/**
 * Every scenario the suite knows, run against apps logging at trace into memory; then no log line
 * and no reply may hold the AppSecret, a session_key, a login code or the upstream URL.
 */

const FORBIDDEN_TEXT = ['/sns/jscode2session', '/cgi-bin/stable_token', 'getuserphonenumber?', 'checksession?', 'secret=', 'access_token=', 'js_code']

function assertClean (t: Test, h: Harness, extra: readonly string[] = []): void {
  const lines = [...h.logs, ...h.replies]
  t.ok(h.logs.some((l) => JSON.parse(l).level >= 50), `an error was logged to read (${h.logs.length} log lines)`)
  t.same(h.leaks(), [], 'no AppSecret, session_key or code')
  for (const text of [...FORBIDDEN_TEXT, ...extra]) {
    t.same(lines.filter((l) => l.includes(text)), [], `no line holds ${JSON.stringify(text)}`)
  }
}

async function everyScenario (h: Harness): Promise<void> {
  const { mock, post, app } = h
  const { session } = await h.login('o-alice', 'u-alice')
  await app.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })
  await post('/weapp/decrypt', mock.encrypt('o-alice', { a: 1 }), session)
  const info = mock.signedRawData('o-alice', { nickName: 'A' })
  await post('/weapp/decrypt', { ...mock.encrypt('o-alice', { a: 1 }), ...info }, session)
  await post('/weapp/decrypt', { ...mock.encrypt('o-alice', { a: 1 }), ...info, signature: '0'.repeat(40) }, session)
  const fresh = mock.login('o-alice', { rotate: true })
  await post('/weapp/decrypt', mock.encrypt('o-alice', { a: 2 }), session) // stale key: fails
  await post('/weapp/decrypt', { ...mock.encrypt('o-alice', { a: 2 }), code: fresh }, session) // healed
  await post('/weapp/decrypt', { ...mock.encrypt('o-bob', { a: 2 }), code: mock.login('o-bob') }, session) // another user's code
  await post('/weapp/login', { code: fresh }) // used
  await post('/weapp/login', { code: 'never-issued' })
  for (const fault of [{ errcode: 40029 }, { errcode: 40163 }, { errcode: 45011 }, { errcode: 40226 }, { errcode: -1 }, { errcode: 40125 }, { errcode: 40013 },
    { status: 500, body: '<html>error</html>', contentType: 'text/html' }, { body: '' }, { body: 'not json' }, { body: '{"openid":"o"}' }, { destroy: true }, { delay: 60_000 }]) {
    mock.fail(fault)
    await post('/weapp/login', { code: mock.login('o-carol') })
    mock.fail(fault)
    await post('/weapp/decrypt', { ...mock.encrypt('o-alice', {}), code: mock.login('o-alice') }, session)
  }
  // Phone numbers and the access token.
  await post('/weapp/phone', { code: mock.phoneCode('o-alice') }, session)
  await post('/weapp/phone', { code: mock.phoneCode('o-bob') }, session)
  mock.revokeAccessTokens()
  await post('/weapp/phone', { code: mock.phoneCode('o-alice') }, session)
  for (const fault of [{ errcode: -1 }, { errcode: 40001 }, { status: 500, body: 'down' }, { delay: 60_000 }]) {
    mock.fail({ ...fault, path: '/wxa/business/getuserphonenumber' })
    await post('/weapp/phone', { code: mock.phoneCode('o-alice') }, session)
  }
  mock.fail({ errcode: 40125, path: '/cgi-bin/stable_token' })
  mock.expireAccessTokens()
  await post('/weapp/phone', { code: mock.phoneCode('o-alice') }, session)
  await app.weapp.checkSessionKey('o-alice', mock.user('o-alice').sessionKey)
  await app.weapp.checkSessionKey('o-alice', 'AAAAAAAAAAAAAAAAAAAAAA==')
  await app.inject({ url: '/me', headers: { authorization: `Bearer ${forge(KEY, claims(mock.appId, { exp: 1 }))}` } })
  await app.inject({ url: '/me', headers: { authorization: `Bearer ${session.slice(0, -3)}` } })
  await app.inject({ url: '/me' })
  await post('/weapp/login', { code: 42 })
}

t.test('every scenario on a working app', async (t) => {
  const h = await harness(t, { plugin: { timeout: 1000 } })
  await everyScenario(h)
  assertClean(t, h)
  t.ok(h.logs.some((l) => l.includes('WEAPP_UPSTREAM_ERROR') && l.includes('40125')), 'upstream errors are logged with their errcode')
})

t.test('a wrong AppSecret', async (t) => {
  const wrong = 'wrong-secret-must-not-leak-0123'
  const h = await harness(t, { plugin: { appSecret: wrong, timeout: 1000 } })
  await h.post('/weapp/login', { code: h.mock.login('o-1') })
  assertClean(t, h, [wrong])
})

t.test('an unreachable WeChat', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
  const h = await harness(t, { plugin: { apiBaseUrl: `http://127.0.0.1:${port}` } })
  for (let i = 0; i < 10; i++) {
    const res = await h.post('/weapp/login', { code: h.mock.login('o-1') })
    t.equal(res.statusCode, 502)
  }
  assertClean(t, h)
  t.ok(h.logs.some((l) => l.includes('ECONNREFUSED')), 'the log says why: the cause is kept, scrubbed')
})
