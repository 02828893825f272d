import t from 'tap'
import { harness, isError } from './fixtures/app.js'
import { encryptUserData } from '../lib/testing.js'

const werun = { stepInfoList: [{ timestamp: 1700000000, step: 8123 }, { timestamp: 1700086400, step: 10240 }] }

t.test('decrypts the user\'s data with the session\'s session_key', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const res = await h.post('/weapp/decrypt', h.mock.encrypt('o-alice', werun), session)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.same(Object.keys(body), ['data'])
  t.same(body.data.stepInfoList, werun.stepInfoList)
  t.equal(body.data.watermark.appid, h.mock.appId, 'watermark included')
  t.same(h.leaks(), [])
})

t.test('WeChat\'s own WXBizDataCrypt demo decrypts through the route', async (t) => {
  const appId = 'wx4f4bc4dec97d474b'
  const h = await harness(t, { mock: { appId } })
  // A session holding the demo's session_key, as if jscode2session had returned it.
  const session = await h.app.weapp.seal({ openid: 'oGZUI0egBJY1zhBYw2KhdUfwVJJE', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' })
  const res = await h.post('/weapp/decrypt', {
    encryptedData: 'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==',
    iv: 'r7BXXKkLb8qrSNn05n0qiA=='
  }, session)
  t.equal(res.statusCode, 200)
  t.match(res.json().data, { openId: 'oGZUI0egBJY1zhBYw2KhdUfwVJJE', nickName: 'Band', watermark: { appid: appId, timestamp: 1477314187 } })
})

t.test('rawData + signature are checked with the session_key', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const info = { nickName: 'Alice', avatarUrl: 'https://example.invalid/a.png' }
  const { rawData, signature } = h.mock.signedRawData('o-alice', info)
  const encrypted = h.mock.encrypt('o-alice', info)
  t.equal((await h.post('/weapp/decrypt', { ...encrypted, rawData, signature }, session)).statusCode, 200)
  isError(t, await h.post('/weapp/decrypt', { ...encrypted, rawData: `${rawData} `, signature }, session), 400, 'WEAPP_SIGNATURE_MISMATCH')
  isError(t, await h.post('/weapp/decrypt', { ...encrypted, rawData }, session), 400, 'FST_ERR_VALIDATION')
  isError(t, await h.post('/weapp/decrypt', { ...encrypted, signature }, session), 400, 'FST_ERR_VALIDATION')
})

t.test('a rotated session_key: the decrypt fails, then a fresh code heals it and renews the session', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice', 'u-alice')
  // The client called wx.login() again after WeChat's session lapsed: WeChat now encrypts with a new key.
  const freshCode = h.mock.login('o-alice', { rotate: true })
  const encrypted = h.mock.encrypt('o-alice', werun)
  const stale = await h.post('/weapp/decrypt', encrypted, session)
  isError(t, stale, 400, 'WEAPP_DECRYPT_FAILED')
  t.match(stale.json().message, /log in again/)

  const healed = await h.post('/weapp/decrypt', { ...encrypted, code: freshCode }, session)
  t.equal(healed.statusCode, 200)
  const body = healed.json()
  t.same(Object.keys(body).sort(), ['data', 'expiresIn', 'session'])
  t.same(body.data.stepInfoList, werun.stepInfoList)
  t.equal(body.expiresIn, 604800)
  const again = await h.post('/weapp/decrypt', h.mock.encrypt('o-alice', { n: 2 }), body.session)
  t.equal(again.json().data.n, 2, 'the renewed session holds the new key')
  const me = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${body.session}` } })
  t.equal(me.json().unionid, 'u-alice', 'and keeps the unionid')
  t.same(h.leaks(), [])
})

t.test('healing keeps the session\'s unionid when WeChat omits it, and has none when neither has one', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-plain')
  const healed = await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-plain', werun), code: h.mock.login('o-plain') }, session)
  const me = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${healed.json().session}` } })
  t.equal(me.json().openid, 'o-plain')
  t.notOk('unionid' in me.json())
  const withUnion = await h.app.weapp.seal({ openid: 'o-plain', sessionKey: h.mock.user('o-plain').sessionKey, unionid: 'u-kept' })
  const kept = await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-plain', werun), code: h.mock.login('o-plain') }, withUnion)
  const me2 = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${kept.json().session}` } })
  t.equal(me2.json().unionid, 'u-kept')
})

t.test('a code of another user is refused', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const res = await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-mallory', werun), code: h.mock.login('o-mallory') }, session)
  isError(t, res, 401, 'WEAPP_INVALID_CODE')
})

t.test('upstream errors on the code path map to the contract', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  h.mock.fail({ errcode: 40163 })
  isError(t, await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-alice', werun), code: h.mock.login('o-alice') }, session), 401, 'WEAPP_INVALID_CODE')
})

t.test('every decrypt failure is one byte-identical answer', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const key = h.mock.user('o-alice').sessionKey
  const other = encryptUserData('DwAODQwLCgkIBwYFBAMCAQ==', { watermark: { appid: h.mock.appId } })
  const cases = [
    other,
    encryptUserData(key, { watermark: { appid: 'wxforeign', timestamp: 1 } }),
    encryptUserData(key, { nowatermark: true }),
    encryptUserData(key, [1, 2]),
    { encryptedData: Buffer.alloc(20).toString('base64'), iv: other.iv },
    { encryptedData: other.encryptedData, iv: h.mock.encrypt('o-alice', {}).iv }
  ]
  const bodies = new Set<string>()
  for (const payload of cases) {
    const res = await h.post('/weapp/decrypt', payload, session)
    t.equal(res.statusCode, 400)
    bodies.add(res.body)
  }
  t.equal(bodies.size, 1, 'byte-identical')
  t.equal(JSON.parse([...bodies][0] ?? '').code, 'WEAPP_DECRYPT_FAILED')
})

t.test('watermarkMaxAge applies through the route', async (t) => {
  const h = await harness(t, { plugin: { watermarkMaxAge: 60 } })
  const { session } = await h.login('o-alice')
  const old = h.mock.encrypt('o-alice', werun, { timestamp: Math.floor(Date.now() / 1000) - 120 })
  isError(t, await h.post('/weapp/decrypt', old, session), 400, 'WEAPP_DECRYPT_FAILED')
  t.equal((await h.post('/weapp/decrypt', h.mock.encrypt('o-alice', werun), session)).statusCode, 200)
})

t.test('malformed requests are 400 validation errors; no session is 401 before anything else', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const good = h.mock.encrypt('o-alice', werun)
  const bad: unknown[] = [
    {},
    { iv: good.iv },
    { encryptedData: good.encryptedData },
    { ...good, iv: 'short' },
    { ...good, iv: Buffer.alloc(12).toString('base64') },
    { ...good, encryptedData: 'not base64!' },
    // a '+' that went through form decoding: always a space, whatever the random ciphertext holds
    { ...good, encryptedData: `${good.encryptedData.slice(0, 8)} ${good.encryptedData.slice(9)}` },
    { ...good, encryptedData: 42 },
    { ...good, iv: 7 },
    { ...good, code: '' },
    { ...good, code: 12345 },
    // rawData and signature come together
    { ...good, rawData: '{"nickName":"a"}' },
    { ...good, signature: 'a'.repeat(40) }
  ]
  for (const payload of bad) isError(t, await h.post('/weapp/decrypt', payload, session), 400, 'FST_ERR_VALIDATION')
  isError(t, await h.post('/weapp/decrypt', {}, undefined), 401, 'WEAPP_SESSION_MISSING')
  const huge = await h.app.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' }, payload: JSON.stringify({ ...good, pad: 'x'.repeat(70 * 1024) }) })
  t.equal(huge.statusCode, 413)
  t.equal(h.mock.callsTo('/sns/jscode2session').length, 1, 'only the login reached WeChat')
})

t.test('healing with a fresh code checks rawData against the fresh session_key', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const freshCode = h.mock.login('o-alice', { rotate: true })
  const encrypted = h.mock.encrypt('o-alice', werun)
  // wx.getUserInfo signed rawData with the key WeChat holds now: the fresh one, not the session's.
  const signed = h.mock.signedRawData('o-alice', { nickName: 'Alice' })
  const healed = await h.post('/weapp/decrypt', { ...encrypted, ...signed, code: freshCode }, session)
  t.equal(healed.statusCode, 200, 'the signature made with the fresh key matches')
  const forged = { rawData: signed.rawData, signature: '0'.repeat(40) }
  isError(t, await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-alice', werun), ...forged, code: h.mock.login('o-alice') }, healed.json().session), 400, 'WEAPP_SIGNATURE_MISMATCH')
  t.same(h.leaks(), [])
})
