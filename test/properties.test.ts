import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { harness } from './fixtures/app.js'
import { decryptUserData } from '../lib/user-data.js'
import { encryptUserData } from '../lib/testing.js'

// Bounded so that CI stays fast; a failure prints fast-check's seed and shrunk counterexample.
const runs = { numRuns: 250 }
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const ERROR_KEYS = ['code', 'error', 'message', 'statusCode']

/** Mutations of a string: replace, insert or delete a character, or cut it. */
function mutated (text: string, alphabet: string): fc.Arbitrary<string> {
  const char = fc.constantFrom(...alphabet.split(''), '.', '=', ' ', '~')
  return fc.oneof(
    fc.tuple(fc.nat(text.length - 1), char).map(([i, c]) => text.slice(0, i) + c + text.slice(i + 1)),
    fc.tuple(fc.nat(text.length), char).map(([i, c]) => text.slice(0, i) + c + text.slice(i)),
    fc.nat(text.length - 1).map((i) => text.slice(0, i) + text.slice(i + 1)),
    fc.nat(text.length).map((i) => text.slice(0, i))
  )
}

function errorShape (body: Record<string, unknown>): boolean {
  return Object.keys(body).sort().join() === ERROR_KEYS.join() && typeof body.code === 'string'
}

t.test('a mutated session never gives a 500 or a new error shape, and never another identity', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  await fc.assert(fc.asyncProperty(mutated(session, B64URL), async (token) => {
    const res = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    const body = res.json()
    // One session, one string (spaces around it are the header's syntax: "Bearer" 1*SP token).
    if (res.statusCode === 200) return token.replace(/^ +| +$/g, '') === session
    return res.statusCode === 401 && errorShape(body) && ['WEAPP_SESSION_INVALID', 'WEAPP_SESSION_MISSING'].includes(body.code)
  }), runs)
  t.same(h.leaks(), [])
})

t.test('mutated iv and encryptedData never give a 500 or a new error shape', async (t) => {
  const h = await harness(t, { plugin: { decryptFailureLimit: 0 } })
  const { session } = await h.login('o-alice')
  const good = h.mock.encrypt('o-alice', { stepInfoList: [{ timestamp: 1, step: 2 }] })
  const payloads = fc.oneof(
    mutated(good.iv, B64).map((iv) => ({ ...good, iv })),
    mutated(good.encryptedData, B64).map((encryptedData) => ({ ...good, encryptedData }))
  )
  await fc.assert(fc.asyncProperty(payloads, async (payload) => {
    const res = await h.post('/weapp/decrypt', payload, session)
    const body = res.json()
    if (res.statusCode === 200) return typeof body.data === 'object' // CBC has no MAC: WeChat's format, not ours
    return res.statusCode === 400 && errorShape(body) && ['WEAPP_DECRYPT_FAILED', 'FST_ERR_VALIDATION'].includes(body.code)
  }), runs)
  t.same(h.leaks(), [])
})

t.test('encrypt-then-decrypt round-trips arbitrary JSON objects', async (t) => {
  const appId = 'wx0123456789abcdef'
  const sessionKey = 'AAECAwQFBgcICQoLDA0ODw=='
  await fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
    const data = { ...value, watermark: { appid: appId, timestamp: 1 } }
    const { encryptedData, iv } = encryptUserData(sessionKey, data)
    const expected = JSON.parse(JSON.stringify(data))
    return isDeepStrictEqual(decryptUserData(sessionKey, encryptedData, iv, { appId, watermarkMaxAge: 0 }), expected)
  }), runs)
  t.pass('round-trips')
})

t.test('...and through the route, as the client receives it', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  await fc.assert(fc.asyncProperty(fc.dictionary(fc.string({ minLength: 1 }).filter((k) => k !== 'watermark' && k !== '__proto__'), fc.jsonValue(), { maxKeys: 8 }), async (value) => {
    const res = await h.post('/weapp/decrypt', h.mock.encrypt('o-alice', value), session)
    const { watermark, ...data } = res.json().data
    return res.statusCode === 200 && watermark.appid === h.mock.appId && isDeepStrictEqual(data, JSON.parse(JSON.stringify(value)))
  }), { numRuns: 100 })
  t.pass('round-trips through the route')
})

t.test('random bodies and headers never give a 500', async (t) => {
  const h = await harness(t, { plugin: { decryptFailureLimit: 0 } })
  const { session } = await h.login('o-alice')
  const contentTypes = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/octet-stream', '', 'x')
  const authorizations = fc.oneof(fc.constant(undefined), fc.constant(`Bearer ${session}`), fc.string().map((s) => `Bearer ${s}`), fc.string())
  const bodies = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.record({ code: fc.jsonValue(), encryptedData: fc.jsonValue(), iv: fc.jsonValue(), rawData: fc.jsonValue(), signature: fc.jsonValue() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    fc.string()
  )
  const urls = fc.constantFrom('/weapp/login', '/weapp/decrypt', '/me')
  await fc.assert(fc.asyncProperty(urls, bodies, contentTypes, authorizations, async (url, payload, contentType, authorization) => {
    const headers: Record<string, string> = { 'content-type': contentType }
    if (authorization !== undefined && /^[\t\x20-\x7e]*$/.test(authorization)) headers.authorization = authorization
    const res = await h.app.inject({ method: url === '/me' ? 'GET' : 'POST', url, payload: url === '/me' ? undefined : payload, headers })
    return res.statusCode < 500 && (res.statusCode === 200 || errorShape(res.json()))
  }), { numRuns: 400 })
  t.same(h.leaks(), [])
})
