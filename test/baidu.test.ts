// Baidu's quirks: a form POST with the AppKey as client_id, OAuth 2.0 error names, 24-byte
// session keys, and user data whose plaintext carries its length and the app's AppKey (Baidu's
// watermark), checked with the same uniform-failure rules as WeChat's decrypt.
import { createCipheriv, randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../lib/index.js'
import { openBaiduData } from '../lib/platforms/baidu.js'
import { MockWechat } from '../lib/testing.js'
import { encryptBaiduData } from '../lib/testing/baidu.js'
import { isError, KEY } from './fixtures/app.js'

const APP = '4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c'
const OTHER = 'y2dTfnWfkx2OXttMEMWlGHoB1KzMogm7'

async function backend (t: Test): Promise<{ app: FastifyInstance, mock: MockWechat }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.addBaiduApp(APP, 'baidu-secret-0123456789')
  mock.addBaiduApp(OTHER)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: APP, appSecret: 'baidu-secret-0123456789', platform: 'baidu' }, { appId: OTHER, appSecret: mock.baiduApp(OTHER).appSecret, platform: 'baidu' }], key: KEY, apiBaseUrl: mock.url })
  await app.ready()
  return { app, mock }
}

const sessionOf = async (app: FastifyInstance, code: string, appId = APP): Promise<string> =>
  (await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId } })).json().session as string

t.test('login posts code, client_id (the AppKey) and sk as a form', async (t) => {
  const { app, mock } = await backend(t)
  const code = mock.baiduApp(APP).login('baidu-user')
  const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId: APP } })
  t.match(res.json(), { appId: APP, openid: 'baidu-user' })
  const [call] = mock.callsTo('/oauth/jscode2sessionkey')
  t.same(Object.fromEntries(new URLSearchParams(call?.body)), { code, client_id: APP, sk: 'baidu-secret-0123456789' })
  t.same(call?.query, {}, 'the secret is in the body, not the URL')
})

t.test('Baidu\'s error names map to the contract', async (t) => {
  const { app, mock } = await backend(t)
  const cases: Array<[string, number, string, RegExp]> = [
    ['invalid_grant', 401, 'WEAPP_INVALID_CODE', /swan\.getLoginCode\(\)/],
    ['invalid_client', 502, 'WEAPP_UPSTREAM_ERROR', /misconfigured; check its appId \(the AppKey\) and appSecret/],
    ['temporarily_unavailable', 502, 'WEAPP_UPSTREAM_ERROR', /busy/],
    ['something_new', 502, 'WEAPP_UPSTREAM_ERROR', /Baidu answered error something_new/]
  ]
  for (const [error, status, code, message] of cases) {
    mock.fail({ path: '/oauth/jscode2sessionkey', body: JSON.stringify({ error, error_description: 'x' }) })
    const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.baiduApp(APP).login('u'), appId: APP } })
    isError(t, res, status, code)
    t.match(res.json().message, message, error)
  }
  mock.fail({ path: '/oauth/jscode2sessionkey', body: JSON.stringify({ openid: 'u', session_key: randomBytes(16).toString('base64') }) })
  const short = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.baiduApp(APP).login('u'), appId: APP } })
  isError(t, short, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(short.json().message, /without a usable openid and session_key/, 'a session_key that is not 24 bytes is unusable')
})

t.test('decrypt: AES-192 under the 24-byte session_key, the AppKey checked', async (t) => {
  const { app, mock } = await backend(t)
  const baidu = mock.baiduApp(APP)
  const session = await sessionOf(app, baidu.login('reader'))
  const auth = { authorization: `Bearer ${session}` }
  const ok = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: baidu.encrypt('reader', { mobile: '13800000000' }) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { data: { mobile: '13800000000' } })
  // The same user's data for another app (its AppKey in the trailer) is refused.
  const other = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: encryptBaiduData(baidu.sessionKeyOf('reader'), { mobile: '1' }, OTHER) })
  isError(t, other, 400, 'WEAPP_DECRYPT_FAILED')
  // A rotated key: the old data no longer opens; a fresh code heals it, as on WeChat.
  const stale = baidu.encrypt('reader', { n: 1 })
  baidu.rotateSessionKey('reader')
  isError(t, await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: baidu.encrypt('reader', { n: 2 }) }), 400, 'WEAPP_DECRYPT_FAILED')
  const healed = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: { ...baidu.encrypt('reader', { n: 3 }), code: baidu.login('reader') } })
  t.equal(healed.json().data.n, 3, 'decrypted with the fresh code\'s key')
  t.type(healed.json().session, 'string', 'and the session renewed with it')
  t.ok(stale)
})

/** A Baidu plaintext built by hand, encrypted under `key`. */
function sealed (key: Buffer, parts: { length?: number, json?: string, appKey?: string, padding?: Buffer }): { encryptedData: string, iv: string } {
  const json = Buffer.from(parts.json ?? '{"a":1}')
  const length = Buffer.alloc(4)
  length.writeUInt32BE(parts.length ?? json.length)
  const plain = Buffer.concat([randomBytes(16), length, json, Buffer.from(parts.appKey ?? APP)])
  const iv = randomBytes(16)
  const cipher = createCipheriv('aes-192-cbc', key, iv)
  if (parts.padding !== undefined) {
    cipher.setAutoPadding(false)
    const body = Buffer.concat([plain, parts.padding])
    return { encryptedData: Buffer.concat([cipher.update(body), cipher.final()]).toString('base64'), iv: iv.toString('base64') }
  }
  return { encryptedData: Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64'), iv: iv.toString('base64') }
}

t.test('openBaiduData refuses every malformed plaintext with one uniform error', async (t) => {
  const key = randomBytes(24)
  const text = key.toString('base64')
  const open = (data: { encryptedData: string, iv: string }): unknown => openBaiduData(text, data.encryptedData, data.iv, { appId: APP, watermarkMaxAge: 0 })
  t.same(open(sealed(key, {})), { value: { a: 1 }, text: '{"a":1}' })
  const refusals: Array<[string, { encryptedData: string, iv: string }]> = [
    ['a length field one too long', sealed(key, { length: 8 })],
    ['a length field one too short', sealed(key, { length: 6 })],
    ['another AppKey of the same length', sealed(key, { appKey: OTHER })],
    ['a shorter AppKey', sealed(key, { appKey: APP.slice(1) })],
    ['not JSON', sealed(key, { json: 'nope!!!' })],
    ['a JSON array', sealed(key, { json: '[1,2,3]' })],
    ['bad padding', sealed(key, { padding: Buffer.alloc(16 - ((20 + 7 + APP.length) % 16), 0) })],
    // 20 + 12 + 32 bytes: whole blocks with no padding at all; everything else about it is right.
    ['no padding, the rest valid', sealed(key, { json: '{"a":"1234"}', padding: Buffer.alloc(0) })]
  ]
  for (const [what, data] of refusals) {
    t.throws(() => open(data), { code: 'WEAPP_DECRYPT_FAILED', message: /could not be decrypted|decrypt/i }, what)
  }
  const tiny = (() => { const c = createCipheriv('aes-192-cbc', key, Buffer.alloc(16)); return Buffer.concat([c.update(Buffer.from('{}')), c.final()]).toString('base64') })()
  t.throws(() => openBaiduData(text, tiny, Buffer.alloc(16).toString('base64'), { appId: APP, watermarkMaxAge: 0 }), { code: 'WEAPP_DECRYPT_FAILED' }, 'shorter than its prefix')
  t.throws(() => openBaiduData(randomBytes(16).toString('base64'), sealed(key, {}).encryptedData, sealed(key, {}).iv, { appId: APP, watermarkMaxAge: 0 }), { code: 'WEAPP_DECRYPT_FAILED' }, 'a 16-byte key is malformed input')
})
