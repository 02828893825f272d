// Kuaishou's quirks: a form POST, success as `result: 1`, its own error codes, and user data that
// may carry no watermark (checked where it is there).
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { MockWechat, encryptUserData } from '../../lib/testing.js'
import { isError, KEY } from '../fixtures/app.js'

const APP = 'ks671234567890123456'

async function backend (t: Test, options: { watermarkMaxAge?: number } = {}): Promise<{ app: FastifyInstance, mock: MockWechat }> {
  const mock = await MockWechat.start({ apps: [{ appId: APP, appSecret: 'ks-secret-0123456789' }] })
  t.teardown(() => mock.close())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: APP, appSecret: 'ks-secret-0123456789', platform: 'kuaishou' }], key: KEY, apiBaseUrl: mock.url, ...options })
  await app.ready()
  return { app, mock }
}

const login = async (app: FastifyInstance, code: string) => await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId: APP } })

t.test('login posts app_id, app_secret and js_code as a form; result 1 is success', async (t) => {
  const { app, mock } = await backend(t)
  const code = mock.app(APP).login('ks-user', { unionid: 'ks-union' })
  const res = await login(app, code)
  t.match(res.json(), { appId: APP, openid: 'ks-user', unionid: 'ks-union' })
  const [call] = mock.callsTo('/oauth2/mp/code2session')
  t.same(Object.fromEntries(new URLSearchParams(call?.body)), { app_id: APP, app_secret: 'ks-secret-0123456789', js_code: code })
})

t.test('Kuaishou\'s result codes map to the contract; an answer without result is a 502', async (t) => {
  const { app, mock } = await backend(t)
  const cases: Array<[unknown, number, string, RegExp]> = [
    [{ result: 100200105, error: 'invalid_grant', error_msg: 'x' }, 401, 'WEAPP_INVALID_CODE', /ks\.login\(\)/],
    [{ result: 100200410 }, 429, 'WEAPP_RATE_LIMITED', /result 100200410/],
    [{ result: 100200301 }, 403, 'WEAPP_RISKY_USER', /Kuaishou refused this login/],
    [{ result: 100200101 }, 502, 'WEAPP_UPSTREAM_ERROR', /misconfigured/],
    [{ result: 100200500 }, 502, 'WEAPP_UPSTREAM_ERROR', /busy/],
    [{ result: 0, open_id: 'x', session_key: 'tiihtNczf5v6AKRyjwEUhQ==' }, 502, 'WEAPP_UPSTREAM_ERROR', /Kuaishou answered result 0/],
    [{ open_id: 'x', session_key: 'tiihtNczf5v6AKRyjwEUhQ==' }, 502, 'WEAPP_UPSTREAM_ERROR', /without an result/],
    [{ result: 1, open_id: 'x' }, 502, 'WEAPP_UPSTREAM_ERROR', /without a usable open_id and session_key/],
    [{ result: 1, open_id: 'x', session_key: 'tiihtNczf5v6AKRyjwEUhQ==', union_id: 7 }, 502, 'WEAPP_UPSTREAM_ERROR', /without a usable open_id and session_key/],
    [{ result: null }, 502, 'WEAPP_UPSTREAM_ERROR', /Kuaishou answered result NaN/]
  ]
  for (const [body, status, code, message] of cases) {
    mock.fail({ path: '/oauth2/mp/code2session', body: JSON.stringify(body) })
    const res = await login(app, mock.app(APP).login('u'))
    isError(t, res, status, code)
    t.match(res.json().message, message, JSON.stringify(body))
  }
})

t.test('user data with a watermark must name the app; without one it is accepted', async (t) => {
  const { app, mock } = await backend(t)
  const session = (await login(app, mock.app(APP).login('reader'))).json().session as string
  const auth = { authorization: `Bearer ${session}` }
  const key = mock.app(APP).user('reader').sessionKey
  const plain = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: encryptUserData(key, { phoneNumber: '13800000000' }) })
  t.same(plain.json(), { data: { phoneNumber: '13800000000' } }, 'Kuaishou documents no watermark')
  const marked = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: mock.app(APP).encrypt('reader', { a: 1 }) })
  t.equal(marked.json().data.a, 1)
  const foreign = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: mock.app(APP).encrypt('reader', { a: 1 }, { appid: 'ks-other-app' }) })
  isError(t, foreign, 400, 'WEAPP_DECRYPT_FAILED')
  const phone = await app.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { code: 'x' } })
  isError(t, phone, 400, 'WEAPP_UNSUPPORTED')
  t.match(phone.json().message, /decrypt route/)
})

t.test('with watermarkMaxAge, a Kuaishou watermark that is there must be fresh: stale data is refused', async (t) => {
  const { app, mock } = await backend(t, { watermarkMaxAge: 600 })
  const session = (await login(app, mock.app(APP).login('reader'))).json().session as string
  const auth = { authorization: `Bearer ${session}` }
  const key = mock.app(APP).user('reader').sessionKey
  const now = Math.floor(Date.now() / 1000)
  const decrypt = async (payload: { encryptedData: string, iv: string }) => await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload })
  const fresh = await decrypt(mock.app(APP).encrypt('reader', { a: 1 }, { timestamp: now - 10 }))
  t.same([fresh.statusCode, fresh.json().data.a], [200, 1], 'a fresh watermark')
  const unmarked = await decrypt(encryptUserData(key, { a: 2 }))
  t.same([unmarked.statusCode, unmarked.json()], [200, { data: { a: 2 } }], 'no watermark (Kuaishou documents none): accepted')
  const cases: Array<[string, { encryptedData: string, iv: string }]> = [
    ['an hour old', mock.app(APP).encrypt('reader', { a: 3 }, { timestamp: now - 3600 })],
    ['a year old', mock.app(APP).encrypt('reader', { a: 4 }, { timestamp: now - 366 * 86400 })],
    ['an hour in the future', mock.app(APP).encrypt('reader', { a: 5 }, { timestamp: now + 3600 })],
    ['no timestamp', encryptUserData(key, { a: 6, watermark: { appid: APP } })]
  ]
  for (const [what, payload] of cases) {
    const res = await decrypt(payload)
    isError(t, res, 400, 'WEAPP_DECRYPT_FAILED')
    t.notOk(res.body.includes(key), `${what}: refused, and the key is not in the reply`)
  }
})
