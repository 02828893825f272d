// The decrypt route must not be a padding oracle: the verdict on PKCS#7 padding is computed in
// constant time and followed by the same work either way; ciphertexts are capped; a forged future
// watermark is not "fresh"; and each user has a small budget of failures.
import { createCipheriv, randomBytes } from 'node:crypto'
import t from 'tap'
import { createFailureBudget } from '../lib/failure-budget.js'
import { MAX_ENCRYPTED_DATA } from '../lib/routes.js'
import { decryptUserData, paddingValid, WATERMARK_SKEW } from '../lib/user-data.js'
import { encryptUserData } from '../lib/testing.js'
import { harness, isError, spyJsonParse } from './fixtures/app.js'

const appId = 'wx0123456789abcdef'
const key = 'AAECAwQFBgcICQoLDA0ODw=='
const options = { appId, watermarkMaxAge: 0 }

/** AES-128-CBC of `plain` as is (the caller lays out the padding). */
function encryptRaw (plain: Buffer, iv = randomBytes(16)): { encryptedData: string, iv: string } {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(key, 'base64'), iv).setAutoPadding(false)
  return { encryptedData: Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64'), iv: iv.toString('base64') }
}

/** Valid JSON followed by `padding` bytes, laid out to whole blocks by JSON whitespace before it. */
function jsonWith (padding: number[]): Buffer {
  let json = JSON.stringify({ watermark: { appid: appId, timestamp: 1 } })
  while ((json.length + padding.length) % 16 !== 0) json = ` ${json}`
  return Buffer.concat([Buffer.from(json), Buffer.from(padding)])
}

t.test('PKCS#7 is checked byte by byte: valid JSON under a wrong padding does not decrypt', async (t) => {
  for (let pad = 1; pad <= 16; pad++) {
    const good = encryptRaw(jsonWith(Array(pad).fill(pad)))
    t.same(decryptUserData(key, good.encryptedData, good.iv, options), { watermark: { appid: appId, timestamp: 1 } }, `padding ${pad} is valid`)
  }
  const wrong: Array<[string, number[]]> = [
    ['a zero padding byte', [0]],
    ['a padding byte over 16', [17]],
    ['fill bytes that differ from the count', [1, 3, 3]],
    ['the first fill byte wrong', [2, 4, 4, 4]],
    ['16 claimed, one wrong', [15, ...Array(15).fill(16)]],
    ['0x80 (a sign bit)', [0x80]],
    ['0xff', [0xff]],
    // Counts over 16 whose fill matches in the last block: stripping them would leave valid JSON.
    ['17 bytes of 0x11', Array(17).fill(17)],
    ['32 spaces (0x20 is JSON whitespace)', Array(32).fill(32)]
  ]
  for (const [name, padding] of wrong) {
    const bad = encryptRaw(jsonWith(padding))
    t.throws(() => decryptUserData(key, bad.encryptedData, bad.iv, options), { code: 'WEAPP_DECRYPT_FAILED' }, name)
  }
})

t.test('paddingValid for 32-byte blocks (Baidu\'s): pads 1 to 32 whose every byte is the count, nothing else', async (t) => {
  const ending = (padding: number[]): Buffer => Buffer.concat([randomBytes(64 - (padding.length % 32)), Buffer.from(padding)])
  for (let pad = 1; pad <= 32; pad++) {
    t.equal(paddingValid(ending(Array(pad).fill(pad)), 32), 1, `a pad of ${pad}`)
    if (pad > 16) t.equal(paddingValid(ending(Array(pad).fill(pad))), 0, `a pad of ${pad} is no padding of 16-byte blocks`)
  }
  const wrong: Array<[string, number[]]> = [
    ['a zero padding byte', [0]],
    ['33 bytes of 33', Array(33).fill(33)],
    ['48 bytes of 48', Array(48).fill(48)],
    ['0x80', [0x80]],
    ['32 claimed, the 17th from the end wrong', [32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 0, ...Array(16).fill(32)]],
    ['32 claimed, the first wrong', [31, ...Array(31).fill(32)]],
    ['20 claimed, the 20th from the end wrong', [0, ...Array(19).fill(20)]]
  ]
  for (const [name, padding] of wrong) t.equal(paddingValid(ending(padding), 32), 0, name)
})

t.test('the same work follows a good and a bad padding: the whole plaintext is decoded and parsed', async (t) => {
  // A long ciphertext of garbage whose last block's padding is valid, and the same with it invalid:
  // what the attack needs to tell apart.
  const filler = randomBytes(4096)
  const last = (lastByte: number): { encryptedData: string, iv: string } => {
    const plain = Buffer.concat([filler, randomBytes(15), Buffer.from([lastByte])])
    return encryptRaw(plain)
  }
  const parsed = spyJsonParse(t)
  for (const lastByte of [0x01, 0x00, 0x11]) {
    parsed.length = 0
    const { encryptedData, iv } = last(lastByte)
    t.throws(() => decryptUserData(key, encryptedData, iv, options), { code: 'WEAPP_DECRYPT_FAILED' })
    t.equal(parsed.length, 1, `padding byte ${lastByte}: parsed once`)
    t.ok((parsed[0] ?? 0) >= 2048, `padding byte ${lastByte}: the whole plaintext was decoded and handed to the parser (${parsed[0]} characters)`)
  }
})

t.test('encryptedData is capped at what WeChat sends', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  // Garbage of exactly the cap, then one block over it.
  const atCap = encryptRaw(randomBytes(MAX_ENCRYPTED_DATA * 3 / 4))
  t.equal(atCap.encryptedData.length, MAX_ENCRYPTED_DATA)
  isError(t, await h.post('/weapp/decrypt', atCap, session), 400, 'WEAPP_DECRYPT_FAILED')
  const over = encryptRaw(randomBytes(MAX_ENCRYPTED_DATA * 3 / 4 + 16))
  isError(t, await h.post('/weapp/decrypt', over, session), 400, 'FST_ERR_VALIDATION')
  // A WeRun answer of 31 days fits with room to spare.
  const month = h.mock.encrypt('o-alice', { stepInfoList: Array.from({ length: 31 }, (_, i) => ({ timestamp: 1700000000 + i * 86400, step: 100000 + i })) })
  t.ok(month.encryptedData.length * 3 < MAX_ENCRYPTED_DATA, `31 days of WeRun: ${month.encryptedData.length} characters`)
  t.equal((await h.post('/weapp/decrypt', month, session)).statusCode, 200)
})

t.test('a watermark from the future is not fresh (beyond the clock skew allowed)', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const strict = { appId, watermarkMaxAge: 600 }
  const at = (timestamp: number): Record<string, unknown> => {
    const { encryptedData, iv } = encryptUserData(key, { watermark: { appid: appId, timestamp } })
    return decryptUserData(key, encryptedData, iv, strict)
  }
  t.ok(at(now - 60), 'a minute ago')
  t.ok(at(now + 60), 'a minute ahead (clock skew)')
  t.throws(() => at(now + WATERMARK_SKEW + 60), { code: 'WEAPP_DECRYPT_FAILED' }, 'beyond the skew')
  t.throws(() => at(now + 10 * 365 * 86400), { code: 'WEAPP_DECRYPT_FAILED' }, 'years ahead: a forgery that would stay fresh forever')
  const { encryptedData, iv } = encryptUserData(key, { watermark: { appid: appId, timestamp: now + 86400 } })
  t.ok(decryptUserData(key, encryptedData, iv, options), 'without watermarkMaxAge the timestamp is not judged')
})

t.test('only canonical base64 decrypts', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const good = h.mock.encrypt('o-alice', { a: 1 })
  // The iv's last data character carries 4 unused bits; set one.
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  const last = good.iv.charAt(21)
  const iv = good.iv.slice(0, 21) + chars.charAt(chars.indexOf(last) | 1) + '=='
  t.not(iv, good.iv)
  t.same(Buffer.from(iv, 'base64'), Buffer.from(good.iv, 'base64'), 'the same bytes')
  isError(t, await h.post('/weapp/decrypt', { ...good, iv }, session), 400, 'WEAPP_DECRYPT_FAILED')
  t.equal((await h.post('/weapp/decrypt', good, session)).statusCode, 200)
})

t.test('a user who keeps failing is refused with 429 for a while; other users are not', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-mallory')
  const { session: alice } = await h.login('o-alice')
  const sessionKey = h.mock.user('o-mallory').sessionKey
  const probe = encryptRaw(Buffer.alloc(64)) // under another key than mallory's: never decrypts
  for (let i = 0; i < 10; i++) isError(t, await h.post('/weapp/decrypt', probe, session), 400, 'WEAPP_DECRYPT_FAILED')
  const genuine = h.mock.encrypt('o-mallory', { a: 1 })
  t.ok(sessionKey !== undefined && genuine.encryptedData !== '')
  const blocked = await h.post('/weapp/decrypt', genuine, session)
  isError(t, blocked, 429, 'WEAPP_RATE_LIMITED')
  t.match(blocked.json().message, /Too many failed attempts/)
  t.ok(Number(blocked.headers['retry-after']) > 0 && Number(blocked.headers['retry-after']) <= 60, 'retry-after in seconds')
  const { session: again } = await h.login('o-mallory')
  isError(t, await h.post('/weapp/decrypt', genuine, again), 429, 'WEAPP_RATE_LIMITED')
  t.equal((await h.post('/weapp/decrypt', h.mock.encrypt('o-alice', { a: 1 }), alice)).statusCode, 200, 'another user decrypts')

  // Signatures count too.
  const { session: eve } = await h.login('o-eve')
  const data = h.mock.encrypt('o-eve', { a: 1 })
  for (let i = 0; i < 10; i++) isError(t, await h.post('/weapp/decrypt', { ...data, rawData: '{}', signature: '0'.repeat(40) }, eve), 400, 'WEAPP_SIGNATURE_MISMATCH')
  isError(t, await h.post('/weapp/decrypt', data, eve), 429, 'WEAPP_RATE_LIMITED')
  t.same(h.leaks(), [])
})

t.test('nine failures are within the budget, and decryptFailureLimit: 0 turns it off', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-bob')
  const probe = encryptRaw(Buffer.alloc(64))
  for (let i = 0; i < 9; i++) await h.post('/weapp/decrypt', probe, session)
  t.equal((await h.post('/weapp/decrypt', h.mock.encrypt('o-bob', { a: 1 }), session)).statusCode, 200)

  const off = await harness(t, { plugin: { decryptFailureLimit: 0 } })
  const { session: s } = await off.login('o-bob')
  for (let i = 0; i < 30; i++) isError(t, await off.post('/weapp/decrypt', probe, s), 400, 'WEAPP_DECRYPT_FAILED')
  t.equal((await off.post('/weapp/decrypt', off.mock.encrypt('o-bob', { a: 1 }), s)).statusCode, 200)
})

t.test('the budget: a window of failures, a block that ends, bounded memory', async (t) => {
  let now = 1_000_000
  const budget = createFailureBudget({ limit: 3, window: 60_000, size: 100, now: () => now })
  budget.fail('a')
  budget.fail('a')
  t.equal(budget.blockedFor('a'), 0)
  now += 60_000 // a new window: the count starts again
  budget.fail('a')
  budget.fail('a')
  t.equal(budget.blockedFor('a'), 0)
  budget.fail('a')
  t.equal(budget.blockedFor('a'), 60_000, 'the third failure in one window blocks for a window')
  now += 59_000
  t.equal(budget.blockedFor('a'), 1000)
  now += 1000
  t.equal(budget.blockedFor('a'), 0, 'the block ends')
  t.equal(budget.blockedFor('b'), 0, 'keys are separate')
  for (let i = 0; i < 1000; i++) budget.fail(`flood-${i}`)
  t.equal(budget.blockedFor('flood-999'), 0)
})

t.test('through the route: valid JSON under a wrong padding is the uniform failure', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const sessionKey = Buffer.from(h.mock.user('o-alice').sessionKey, 'base64')
  const json = (padding: number[]): Buffer => {
    let text = JSON.stringify({ phoneNumber: '13800138000', watermark: { appid: h.mock.appId, timestamp: Math.floor(Date.now() / 1000) } })
    while ((text.length + padding.length) % 16 !== 0) text = ` ${text}`
    return Buffer.concat([Buffer.from(text), Buffer.from(padding)])
  }
  const encrypt = (plain: Buffer): { encryptedData: string, iv: string } => {
    const iv = randomBytes(16)
    const cipher = createCipheriv('aes-128-cbc', sessionKey, iv).setAutoPadding(false)
    return { encryptedData: Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64'), iv: iv.toString('base64') }
  }
  t.equal((await h.post('/weapp/decrypt', encrypt(json([2, 2])), session)).statusCode, 200, 'a valid padding decrypts')
  const good = (await h.post('/weapp/decrypt', encrypt(json([3, 3, 3])), session)).json()
  t.equal(good.data.phoneNumber, '13800138000')
  for (const padding of [[1, 3, 3], [0], [4, 4, 4, 3], [17]]) {
    isError(t, await h.post('/weapp/decrypt', encrypt(json(padding)), session), 400, 'WEAPP_DECRYPT_FAILED')
  }
})
