// Baidu's quirks: a form POST with the AppKey as client_id, OAuth 2.0 error names, 24-byte
// session keys, and user data whose plaintext carries its length and the app's AppKey (Baidu's
// watermark), checked with the same uniform-failure rules as WeChat's decrypt.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { openBaiduData } from '../../lib/platforms/baidu.js'
import { MockWechat } from '../../lib/testing.js'
import { encryptBaiduData } from '../../lib/testing/baidu.js'
import { isError, KEY, spyJsonParse } from '../fixtures/app.js'

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

// Baidu's own worked example, from the PHP decryption sample published with the smart-program docs
// ("用户数据的签名验证和加解密", smartprogram.baidu.com; "百度小程序用户信息加解密示例代码(面向过程版)",
// smartprogram_rd@baidu.com, 2018): its AppKey, session_key, iv and ciphertext. Its plaintext ends in
// 28 bytes of 0x1c: Baidu pads PKCS#7-style to 32-byte blocks, and its sample strips a pad of 1 to 32.
const SAMPLE = {
  appKey: 'y2dTfnWfkx2OXttMEMWlGHoB1KzMogm7',
  sessionKey: '1df09d0a1677dd72b8325aec59576e0c',
  iv: '1df09d0a1677dd72b8325Q==',
  encryptedData: 'OpCoJgs7RrVgaMNDixIvaCIyV2SFDBNLivgkVqtzq2GC10egsn+PKmQ/+5q+chT8xzldLUog2haTItyIkKyvzvmXonBQLIMeq54axAu9c3KG8IhpFD6+ymHocmx07ZKi7eED3t0KyIxJgRNSDkFk5RV1ZP2mSWa7ZgCXXcAbP0RsiUcvhcJfrSwlpsm0E1YJzKpYy429xrEEGvK+gfL+Cw==',
  text: '{"openid":"open_id","nickname":"baidu_user","headimgurl":"url of image","sex":1}'
}

t.test('Baidu\'s published sample decrypts: a pad of 28 (32-byte blocks)', async (t) => {
  const options = { appId: SAMPLE.appKey, watermarkMaxAge: 0 }
  t.same(openBaiduData(SAMPLE.sessionKey, SAMPLE.encryptedData, SAMPLE.iv, options), { value: JSON.parse(SAMPLE.text), text: SAMPLE.text })
  t.throws(() => openBaiduData(SAMPLE.sessionKey, SAMPLE.encryptedData, SAMPLE.iv, { ...options, appId: APP }), { code: 'WEAPP_DECRYPT_FAILED' }, 'and it is that AppKey\'s only')
  // End to end: a session whose session_key is the sample's, through the decrypt route.
  const { app, mock } = await backend(t)
  mock.fail({ path: '/oauth/jscode2sessionkey', body: JSON.stringify({ openid: 'open_id', session_key: SAMPLE.sessionKey }) })
  const session = await sessionOf(app, mock.baiduApp(OTHER).login('open_id'), OTHER)
  const res = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization: `Bearer ${session}` }, payload: { encryptedData: SAMPLE.encryptedData, iv: SAMPLE.iv } })
  t.equal(res.statusCode, 200)
  t.equal(res.body, `{"data":${SAMPLE.text}}`)
})

/** A Baidu plaintext of `size` bytes in all (its JSON sized to fit), with `padding` after it, encrypted under `key`. */
function padded (key: Buffer, size: number, padding: Buffer): { encryptedData: string, iv: string, text: string } {
  const json = `{"a":"${'x'.repeat(size - PREFIX - APP.length - 8)}"}`
  const length = Buffer.alloc(4)
  length.writeUInt32BE(json.length)
  const plain = Buffer.concat([randomBytes(16), length, Buffer.from(json), Buffer.from(APP), padding])
  const iv = randomBytes(16)
  const cipher = createCipheriv('aes-192-cbc', key, iv).setAutoPadding(false)
  return { encryptedData: Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64'), iv: iv.toString('base64'), text: json }
}
const PREFIX = 20

t.test('every pad of 1 to 32 decrypts (data of every length mod 32); 0, 33 and more, and wrong fill are refused alike', async (t) => {
  const key = randomBytes(24)
  const text = key.toString('base64')
  const open = (data: { encryptedData: string, iv: string }): unknown => openBaiduData(text, data.encryptedData, data.iv, { appId: APP, watermarkMaxAge: 0 })
  for (let pad = 1; pad <= 32; pad++) {
    const data = padded(key, 96 - pad, Buffer.alloc(pad, pad))
    t.same(open(data), { value: JSON.parse(data.text), text: data.text }, `a pad of ${pad}`)
  }
  const wrong: Array<[string, number, Buffer]> = [
    ['a pad of 0', 96, Buffer.alloc(0)],
    ['a zero last byte', 95, Buffer.from([0])],
    ['a pad of 33, its fill matching', 128 - 33, Buffer.alloc(33, 33)],
    ['a pad of 48, its fill matching', 128 - 48, Buffer.alloc(48, 48)],
    ['0x80', 95, Buffer.from([0x80])],
    ['0xff', 95, Buffer.from([0xff])],
    ['32 claimed, the 20th byte from the end wrong', 64, Buffer.concat([Buffer.alloc(12, 32), Buffer.from([31]), Buffer.alloc(19, 32)])],
    ['32 claimed, the first fill byte wrong', 64, Buffer.concat([Buffer.from([0]), Buffer.alloc(31, 32)])],
    ['17 claimed, the 17th byte wrong', 96 - 17, Buffer.concat([Buffer.from([16]), Buffer.alloc(16, 17)])],
    ['28 claimed, 16 of them right', 96 - 28, Buffer.concat([Buffer.alloc(12, 0), Buffer.alloc(16, 28)])]
  ]
  const messages = new Set<string>()
  for (const [what, size, padding] of wrong) {
    // A pad of 0: the plaintext fills its blocks exactly, its last byte the AppKey's.
    const data = padded(key, size, padding)
    const err = (() => { try { open(data) } catch (e) { return e as Error & { code?: string, statusCode?: number } } })()
    t.equal(err?.code, 'WEAPP_DECRYPT_FAILED', what)
    t.equal(err?.statusCode, 400)
    messages.add(String(err?.message))
  }
  t.equal(messages.size, 1, 'one message for every reason')
})

t.test('the mock pads as Baidu does: PKCS#7 to 32-byte blocks; the route opens data of every length', async (t) => {
  const { app, mock } = await backend(t)
  const baidu = mock.baiduApp(APP)
  const session = await sessionOf(app, baidu.login('lengths'))
  const key = Buffer.from(baidu.sessionKeyOf('lengths'), 'base64')
  const seen = new Set<number>()
  for (let n = 0; n < 32; n++) {
    const data = { s: 'y'.repeat(n) }
    const sealed = baidu.encrypt('lengths', data)
    const plain = createDecipheriv('aes-192-cbc', key, Buffer.from(sealed.iv, 'base64')).setAutoPadding(false).update(Buffer.from(sealed.encryptedData, 'base64'))
    const pad = plain[plain.length - 1] as number
    seen.add(pad)
    t.equal(plain.length % 32, 0, `length ${n}: whole 32-byte blocks`)
    t.same([...plain.subarray(plain.length - pad)], Array(pad).fill(pad), `length ${n}: a pad of ${pad}`)
    const res = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization: `Bearer ${session}` }, payload: sealed })
    t.same([res.statusCode, res.json()], [200, { data }], `length ${n} decrypts through the route`)
  }
  t.same([...seen].sort((a, b) => a - b), Array.from({ length: 32 }, (_, i) => i + 1), 'every pad of 1 to 32 was made')
})

t.test('the same work follows a good and a bad padding: the plaintext is decoded and parsed either way', async (t) => {
  const key = randomBytes(24)
  const parsed = spyJsonParse(t)
  for (const [what, padding] of [['a pad of 24', Buffer.alloc(24, 24)], ['a pad of 33', Buffer.alloc(33, 33)], ['a bad fill', Buffer.concat([Buffer.from([1]), Buffer.alloc(23, 24)])]] as const) {
    parsed.length = 0
    const data = padded(key, 64 * 4 - padding.length, padding)
    try { openBaiduData(key.toString('base64'), data.encryptedData, data.iv, { appId: APP, watermarkMaxAge: 0 }) } catch {}
    t.equal(parsed.length, 1, `${what}: parsed once`)
    t.ok((parsed[0] ?? 0) >= 64 * 4 - PREFIX - APP.length - 32, `${what}: the whole data was decoded and handed to the parser (${parsed[0]} characters)`)
  }
})
