// npm run bench:oracle — is the decrypt route a timing padding oracle? It measures how well the
// time of ONE request tells a ciphertext whose last block has valid PKCS#7 padding from one whose
// padding is bad (the question a CBC padding-oracle attack asks ~100k times to forge data), for the
// plugin's route and, side by side in the same run, for a reference copy of the route as it was
// before the fix (an early exit on bad padding, then a UTF-8 decode and JSON.parse of everything).
//
// Each ciphertext is random filler blocks (garbage once decrypted, as in the attack) followed by
// two blocks laid out with the session_key so that the last plaintext block ends in 0x01 (valid
// padding) or 0x00 (invalid). Both answer the same 400. Samples of all rows are interleaved; a
// threshold on the time is fitted on the first half of each row's samples and scored on the second
// half: 50% is chance, 100% a perfect oracle.
//
// ORACLE_SAMPLES (requests per row, default 4000), ORACLE_SMOKE=1 (a few-second run that only
// checks the script works; its accuracies mean nothing).
import { createDecipheriv, randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import fastifyWeapp, { DecryptFailedError } from 'fastify-weapp'
import { MockPlatforms } from 'fastify-weapp/testing'

const SMOKE = process.env.ORACLE_SMOKE === '1'
const SAMPLES = SMOKE ? 40 : Number(process.env.ORACLE_SAMPLES ?? 4000)

const mock = await MockPlatforms.start()
const app = Fastify({ logger: false })
// The budget of failures would stop a real attacker after 10 requests: off here, so that the
// timing itself is what gets measured.
await app.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key: randomBytes(32), apiBaseUrl: mock.url, decryptFailureLimit: 0 })

// The route as it was before the fix, for comparison: the same session hook and body, then the
// old decryption, which returned early on bad padding and decoded + parsed only after good padding.
app.post('/before/decrypt', { onRequest: app.weapp.authenticate, bodyLimit: 64 * 1024 }, async (request) => {
  const { encryptedData, iv } = request.body
  const key = Buffer.from(request.weappSession.sessionKey, 'base64')
  const plain = createDecipheriv('aes-128-cbc', key, Buffer.from(iv, 'base64')).setAutoPadding(false).update(Buffer.from(encryptedData, 'base64'))
  const pad = plain[plain.length - 1]
  let badPadding = pad < 1 || pad > 16 ? 1 : 0
  for (let i = plain.length - Math.min(pad, 16); i < plain.length; i++) badPadding |= plain[i] ^ pad
  if (badPadding !== 0) throw new DecryptFailedError()
  const text = plain.toString('utf8', 0, plain.length - pad)
  let value
  try { value = JSON.parse(text) } catch { throw new DecryptFailedError() }
  if (value?.watermark?.appid !== mock.appId) throw new DecryptFailedError()
  return { data: value }
})
await app.ready()

const login = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-attacker') } })
const session = login.json().session
const sessionKey = Buffer.from(mock.user('o-attacker').sessionKey, 'base64')

/** A ciphertext of `fillerBytes` garbage, then two blocks whose last plaintext byte is `lastByte`. */
function craft (filler, lastByte) {
  const last = randomBytes(16)
  const decipher = createDecipheriv('aes-128-ecb', sessionKey, null).setAutoPadding(false)
  const intermediate = decipher.update(last)
  const target = Buffer.concat([randomBytes(15), Buffer.from([lastByte])])
  const previous = Buffer.alloc(16)
  for (let i = 0; i < 16; i++) previous[i] = intermediate[i] ^ target[i]
  return JSON.stringify({ encryptedData: Buffer.concat([filler, previous, last]).toString('base64'), iv: randomBytes(16).toString('base64') })
}

// Check the crafting once: valid padding really is what it says (the plaintext under the key).
{
  const body = JSON.parse(craft(randomBytes(32), 0x01))
  const plain = createDecipheriv('aes-128-cbc', sessionKey, Buffer.from(body.iv, 'base64')).setAutoPadding(false).update(Buffer.from(body.encryptedData, 'base64'))
  if (plain[plain.length - 1] !== 0x01) throw new Error('crafted padding is wrong')
}

const rows = [
  { name: 'before the fix, ~46 KB ciphertext (the reported attack)', url: '/before/decrypt', filler: 46 * 1024 },
  { name: 'before the fix, at the new 8 KiB cap (6 KB)', url: '/before/decrypt', filler: 6 * 1024 - 32 },
  { name: 'fastify-weapp, at its cap (6 KB)', url: '/weapp/decrypt', filler: 6 * 1024 - 32 }
]
for (const row of rows) {
  row.fillerBytes = randomBytes(row.filler)
  row.samples = []
}
const headers = { authorization: `Bearer ${session}`, 'content-type': 'application/json' }

async function once (row, good) {
  const payload = craft(row.fillerBytes, good ? 0x01 : 0x00)
  const start = process.hrtime.bigint()
  const res = await app.inject({ method: 'POST', url: row.url, headers, payload })
  const time = Number(process.hrtime.bigint() - start) / 1000
  if (res.statusCode !== 400 || res.json().code !== 'WEAPP_DECRYPT_FAILED') throw new Error(`${row.url} answered ${res.statusCode} ${res.body}`)
  return time
}

// Warm-up (not counted), then all rows interleaved, good and bad in random order.
for (const row of rows) for (let i = 0; i < (SMOKE ? 10 : 500); i++) await once(row, i % 2 === 0)
for (let i = 0; i < SAMPLES; i++) {
  for (const row of rows) {
    const good = randomBytes(1)[0] < 128
    row.samples.push({ good, time: await once(row, good) })
  }
}

/** Best threshold (and side) on `train`, scored on `test`. */
function accuracy (train, test) {
  const times = [...new Set(train.map((s) => s.time))].sort((a, b) => a - b)
  let best = { threshold: 0, slowIsGood: true, score: 0 }
  for (const threshold of times) {
    for (const slowIsGood of [true, false]) {
      const score = train.filter((s) => (s.time > threshold) === (slowIsGood ? s.good : !s.good)).length
      if (score > best.score) best = { threshold, slowIsGood, score }
    }
  }
  return test.filter((s) => (s.time > best.threshold) === (best.slowIsGood ? s.good : !s.good)).length / test.length
}

const median = (values) => { const v = [...values].sort((a, b) => a - b); return v[Math.floor(v.length / 2)] }
const lines = [
  '',
  '| route | requests | median µs, valid padding | median µs, bad padding | difference | one request classifies padding |',
  '|---|---:|---:|---:|---:|---:|'
]
for (const row of rows) {
  const half = Math.floor(row.samples.length / 2)
  const acc = accuracy(row.samples.slice(0, half), row.samples.slice(half))
  const good = median(row.samples.filter((s) => s.good).map((s) => s.time))
  const bad = median(row.samples.filter((s) => !s.good).map((s) => s.time))
  lines.push(`| ${row.name} | ${row.samples.length} | ${good.toFixed(1)} | ${bad.toFixed(1)} | ${(good - bad).toFixed(1)} | ${(acc * 100).toFixed(1)}% |`)
}
lines.push('', 'Accuracy: a time threshold fitted on the first half of each row\'s requests, scored on the second half (50% is chance).')
if (SMOKE) lines.push('(smoke run: too few samples for the accuracies to mean anything)')
console.log(lines.join('\n'))

await app.close()
await mock.close()
