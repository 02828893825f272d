import t from 'tap'
import { harness, isError } from './fixtures/app.js'
import { KEY, OTHER_KEY } from './fixtures/app.js'
import { open } from './fixtures/jwe.js'

t.test('login answers a session, expiresIn, openid and unionid', async (t) => {
  const h = await harness(t)
  const code = h.mock.login('o-alice', { unionid: 'u-alice' })
  const res = await h.post('/weapp/login', { code })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['appId', 'expiresIn', 'openid', 'session', 'unionid'])
  t.equal(body.appId, h.mock.appId, 'the app the session is for')
  t.equal(body.openid, 'o-alice')
  t.equal(body.unionid, 'u-alice')
  t.equal(body.expiresIn, 604800)
  t.equal(open(body.session, KEY).payload.sk, h.mock.user('o-alice').sessionKey, 'the session holds the session_key')
  const me = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${body.session}` } })
  t.match(me.json(), { openid: 'o-alice', unionid: 'u-alice' })
  t.same(h.leaks(), [], 'no secret in any log line or reply')
})

t.test('no unionid field when WeChat gives none; expiresIn follows the option', async (t) => {
  const h = await harness(t, { plugin: { expiresIn: '2h' } })
  const body = await h.login('o-bob')
  t.notOk('unionid' in body)
  t.equal(body.expiresIn, 7200)
  const { payload } = open(body.session, KEY)
  t.equal((payload.exp as number) - (payload.iat as number), 7200)
})

t.test('bad bodies are 400 and never reach WeChat', async (t) => {
  const h = await harness(t)
  const bodies: unknown[] = [{}, { code: '' }, { code: 42 }, { code: true }, { code: null }, { code: ['a'] }, { code: { a: 1 } }, { code: 'x'.repeat(129) }, []]
  for (const payload of bodies) {
    const res = await h.post('/weapp/login', payload)
    isError(t, res, 400, 'FST_ERR_VALIDATION')
  }
  const jsonString = await h.app.inject({ method: 'POST', url: '/weapp/login', payload: '"code"', headers: { 'content-type': 'application/json' } })
  isError(t, jsonString, 400, 'FST_ERR_VALIDATION')
  const noBody = await h.app.inject({ method: 'POST', url: '/weapp/login' })
  t.equal(noBody.statusCode, 400, 'no body')
  const form = await h.app.inject({ method: 'POST', url: '/weapp/login', payload: 'code=abc', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(form.statusCode, 415, 'JSON only')
  const big = await h.app.inject({ method: 'POST', url: '/weapp/login', payload: JSON.stringify({ code: 'a', pad: 'x'.repeat(8192) }), headers: { 'content-type': 'application/json' } })
  t.equal(big.statusCode, 413, 'oversized body')
  t.equal(h.mock.calls.length, 0, 'WeChat was never called')
})

t.test('WeChat\'s errors map to the contract through the route', async (t) => {
  const h = await harness(t)
  const cases: Array<[Record<string, unknown>, number, string]> = [
    [{ errcode: 40029 }, 401, 'WEAPP_INVALID_CODE'],
    [{ errcode: 40163 }, 401, 'WEAPP_INVALID_CODE'],
    [{ errcode: 45011 }, 429, 'WEAPP_RATE_LIMITED'],
    [{ errcode: 40226 }, 403, 'WEAPP_RISKY_USER'],
    [{ errcode: -1 }, 502, 'WEAPP_UPSTREAM_ERROR'],
    [{ status: 500, body: '<html>oops</html>', contentType: 'text/html' }, 502, 'WEAPP_UPSTREAM_ERROR'],
    [{ body: 'not json' }, 502, 'WEAPP_UPSTREAM_ERROR'],
    [{ body: '{"openid":"o"}' }, 502, 'WEAPP_UPSTREAM_ERROR']
  ]
  for (const [fault, status, code] of cases) {
    h.mock.fail(fault)
    isError(t, await h.post('/weapp/login', { code: h.mock.login('o-1') }), status, code)
  }
  const used = h.mock.login('o-2')
  t.equal((await h.post('/weapp/login', { code: used })).statusCode, 200)
  isError(t, await h.post('/weapp/login', { code: used }), 401, 'WEAPP_INVALID_CODE')
  t.same(h.leaks(), [])
})

t.test('a slow WeChat is a 504 at timeout', async (t) => {
  const h = await harness(t, { plugin: { timeout: 100 } })
  h.mock.fail({ delay: 60_000 })
  isError(t, await h.post('/weapp/login', { code: h.mock.login('o-1') }), 504, 'WEAPP_UPSTREAM_TIMEOUT')
})

t.test('a wrong AppSecret: a 502 saying the server is misconfigured, logged without the secret', async (t) => {
  const h = await harness(t, { plugin: { appSecret: 'the-wrong-secret-abcdef' } })
  const res = await h.post('/weapp/login', { code: h.mock.login('o-1') })
  isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(res.json().message, /misconfigured/)
  const errorLines = h.logs.filter((l) => JSON.parse(l).level >= 50)
  t.ok(errorLines.length >= 1, 'logged as an error')
  t.notOk(h.logs.some((l) => l.includes('the-wrong-secret-abcdef')), 'the configured secret is in no log line')
  t.notOk(h.logs.some((l) => l.includes('/sns/jscode2session')), 'nor the upstream URL')
  t.same(h.leaks(), [])
})

t.test('routes live under prefix, also inside a prefixed plugin', async (t) => {
  const h = await harness(t, { plugin: { prefix: '/auth' } })
  t.equal((await h.post('/auth/login', { code: h.mock.login('o-1') })).statusCode, 200)
  t.equal((await h.post('/weapp/login', { code: h.mock.login('o-1') })).statusCode, 404)
})

t.test('sessions from another key are refused by this app', async (t) => {
  const h = await harness(t, { plugin: { key: [OTHER_KEY] } })
  const other = await harness(t)
  const { session } = await other.login('o-1')
  const res = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })
  isError(t, res, 401, 'WEAPP_SESSION_INVALID')
})
