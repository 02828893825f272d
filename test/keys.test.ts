import t from 'tap'
import { deriveKid, generateKey, parseKeys } from '../lib/keys.js'

const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 250))

t.test('base64, base64url, padded or not, and bytes give the same key', async (t) => {
  const forms = [
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=$/, ''),
    bytes.toString('base64url'),
    ` ${bytes.toString('base64url')}\n`,
    bytes,
    new Uint8Array(bytes)
  ]
  const kids = forms.map((f) => parseKeys(f)[0]?.kid)
  t.equal(new Set(kids).size, 1)
  t.same(Buffer.from(parseKeys(forms[0])[0]?.secret ?? []), bytes)
  t.ok(bytes.toString('base64').includes('+') || bytes.toString('base64').includes('/'), 'the fixture exercises + and /')
})

t.test('the first key seals; kids are derived from the key and stable', async (t) => {
  const a = generateKey()
  const b = generateKey()
  const keys = parseKeys([a, b])
  t.equal(keys.length, 2)
  t.equal(keys[0]?.kid, deriveKid(Buffer.from(a, 'base64url')))
  t.equal(keys[1]?.kid, parseKeys(b)[0]?.kid)
  t.match(keys[0]?.kid, /^[A-Za-z0-9_-]{16}$/)
  t.not(keys[0]?.kid, keys[1]?.kid)
  t.ok(Object.isFrozen(keys))
})

t.test('generateKey gives 32 random bytes as base64url', async (t) => {
  const k = generateKey()
  t.match(k, /^[A-Za-z0-9_-]{43}$/)
  t.equal(Buffer.from(k, 'base64url').length, 32)
  t.not(k, generateKey())
})

t.test('refuses what is not exactly 32 bytes', async (t) => {
  for (const bad of [
    Buffer.alloc(31).toString('base64'),
    Buffer.alloc(33).toString('base64url'),
    Buffer.alloc(32).toString('hex'),
    `${bytes.toString('base64url').slice(0, 42)}B`, // stray low bits in the last character
    `${bytes.toString('base64url').slice(0, 42)}!`,
    Buffer.alloc(31),
    null,
    {},
    [null]
  ]) {
    t.throws(() => parseKeys(bad), { code: 'WEAPP_INVALID_OPTION' }, String(bad))
  }
})

t.test('the README shows no usable key: nothing in it parses as one', async (t) => {
  const { readFile } = await import('node:fs/promises')
  for (const file of ['../README.md', '../client/README.md']) {
    const text = await readFile(new URL(file, import.meta.url), 'utf8')
    const candidates = text.match(/[A-Za-z0-9+/_-]{43}=?/g) ?? []
    for (const candidate of candidates) t.throws(() => parseKeys(candidate), { code: 'WEAPP_INVALID_OPTION' }, `${file}: ${candidate}`)
  }
})
