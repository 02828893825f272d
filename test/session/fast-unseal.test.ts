import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { createFastUnseal, headerSegment } from '../../lib/fast-unseal.js'
import { parseKeys } from '../../lib/keys.js'
import { createJoseUnseal, createSessionCodec } from '../../lib/session.js'
import { KEY, OTHER_KEY, testKey } from '../fixtures/app.js'
import { forge, kidOf } from '../fixtures/jwe.js'

/**
 * The fast path must never accept what jose rejects, and must return the same claims when both
 * accept. Thousands of generated tokens: genuine, expired at every boundary, foreign keys, other
 * audiences, odd claim sets and plaintexts, other headers, and every kind of mutation.
 */

const appId = 'wx0123456789abcdef'
const keys = parseKeys([KEY, OTHER_KEY])
const fast = createFastUnseal(keys, [appId])
const jose = createJoseUnseal(keys, [appId])
const codec = createSessionCodec({ audience: [appId], keys, expiresIn: 3600, cacheSize: 0 })
const now = (): number => Math.floor(Date.now() / 1000)

const stats = { fastAccepted: 0, joseAccepted: 0, both: 0, total: 0 }

/** Both paths judge the token at one and the same instant (exp falls in the current second too). */
async function agree (token: string): Promise<boolean> {
  stats.total++
  const clock = Date.now()
  const quick = fast(token, Math.floor(clock / 1000))
  const slow = await jose(token, new Date(clock)).catch(() => undefined)
  if (slow !== undefined) stats.joseAccepted++
  if (quick === undefined) return true
  stats.fastAccepted++
  if (slow === undefined) return false // the one thing that must never happen
  stats.both++
  return isDeepStrictEqual({ ...quick }, { ...slow })
}

const b64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const anyKey = fc.constantFrom(KEY, OTHER_KEY, testKey('third'))
const numericDate = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 100000 }).map((d) => now() + d) },
  fc.integer({ min: -3, max: 3 }).map((d) => now() + d),
  fc.integer({ min: -100000, max: 100000 }).map((d) => now() + d),
  fc.constant(now() + 0.5),
  fc.constant(now() - 0.5)
)
const claimValue = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 40, arbitrary: arb }, fc.constant(undefined), fc.constant('1700000000'), fc.constant(null), fc.constant([1]))
const claimFields = {
  sub: claimValue(fc.oneof(fc.constant('o-1'), fc.string())),
  aud: fc.oneof({ weight: 40, arbitrary: fc.constant(appId) }, fc.constant('wxother'), fc.constant([appId]), fc.constant(['wxother', appId]), fc.constant(undefined), fc.constant(''), fc.constant(7)),
  iat: claimValue(numericDate),
  exp: claimValue(numericDate),
  nbf: fc.oneof({ weight: 40, arbitrary: fc.constant(undefined) }, numericDate, fc.constant('x')),
  sk: claimValue(fc.constant('tiihtNczf5v6AKRyjwEUhQ==')),
  uid: fc.oneof(fc.constant(undefined), fc.constant('u-1'), fc.constant(5))
}
// Mostly complete claim sets (so that both paths often accept and must agree), some with anything missing.
const claimSets = fc.oneof({ weight: 3, arbitrary: fc.record(claimFields) }, fc.record(claimFields, { requiredKeys: [] }))
const headers: fc.Arbitrary<Record<string, unknown> | undefined> = fc.oneof(
  { weight: 40, arbitrary: fc.constant(undefined) }, // the key's own header, as seal writes it
  anyKey.map((k) => ({ alg: 'dir', enc: 'A256GCM', kid: kidOf(k) })),
  fc.constant({ enc: 'A256GCM', alg: 'dir', kid: kidOf(KEY) }),
  fc.constant({ alg: 'dir', enc: 'A256GCM', kid: kidOf(KEY), typ: 'JWT' }),
  fc.constant({ alg: 'dir', enc: 'A256GCM', kid: kidOf(KEY), zip: 'DEF' }),
  fc.constant({ alg: 'dir', enc: 'A128GCM', kid: kidOf(KEY) }),
  fc.constant({ alg: 'A256KW', enc: 'A256GCM', kid: kidOf(KEY) }),
  fc.constant({ alg: 'dir', enc: 'A256GCM' })
)
const plaintexts = fc.oneof(
  fc.constant(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])),
  fc.constant(Buffer.from('{"sub":"o","aud":"wx0123456789abcdef","iat":1,"exp":9999999999,"sk":"\xff"}', 'latin1')),
  fc.constant(Buffer.from('[]')),
  fc.constant(Buffer.from('"text"')),
  fc.constant(Buffer.from('')),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null'))
)

/** Replace, insert or delete a character, cut, or swap a segment with another token's. */
function mutate (token: string): fc.Arbitrary<string> {
  const char = fc.constantFrom(...b64url.split(''), '.', '=', '+', '/')
  return fc.oneof(
    fc.tuple(fc.nat(token.length - 1), char).map(([i, c]) => token.slice(0, i) + c + token.slice(i + 1)),
    fc.tuple(fc.nat(token.length), char).map(([i, c]) => token.slice(0, i) + c + token.slice(i)),
    fc.nat(token.length - 1).map((i) => token.slice(0, i) + token.slice(i + 1)),
    fc.nat(token.length).map((i) => token.slice(0, i)),
    fc.integer({ min: 0, max: 4 }).map((i) => token.split('.').map((p, j) => (j === i ? `${p}AAAA` : p)).join('.'))
  )
}

t.test('genuine sessions: the fast path opens every one, exactly as jose does', async (t) => {
  for (let i = 0; i < 300; i++) {
    const identity = { openid: `o-${i}-${'x'.repeat(i % 40)}`, sessionKey: Buffer.alloc(16, i).toString('base64'), ...(i % 2 === 0 ? { unionid: `u-${i}` } : {}) }
    const token = await codec.seal(identity, appId)
    const quick = fast(token)
    if (quick === undefined) t.fail(`the fast path deferred a genuine token (${i})`)
    if (!await agree(token)) t.fail(`disagreement on a genuine token (${i})`)
  }
  t.pass('300 genuine tokens opened by the fast path, as jose')
})

t.test('forged claim sets, headers and plaintexts under real keys', async (t) => {
  await fc.assert(fc.asyncProperty(anyKey, headers, claimSets, async (key, header, claims) => await agree(forge(key, claims, header === undefined ? {} : { header, deflate: header.zip === 'DEF' }))), { numRuns: 2500 })
  await fc.assert(fc.asyncProperty(anyKey, plaintexts, async (key, raw) => await agree(forge(key, {}, { raw }))), { numRuns: 300 })
  t.pass('never accepted what jose rejected')
})

t.test('mutations of genuine tokens', async (t) => {
  const tokens = await Promise.all(Array.from({ length: 20 }, async (_, i) => await codec.seal({ openid: `o-${i}`, sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }, appId)))
  await fc.assert(fc.asyncProperty(fc.constantFrom(...tokens).chain(mutate), agree), { numRuns: 2500 })
  t.pass('never accepted what jose rejected')
})

t.test('fixed edge cases, whatever the random seed', async (t) => {
  const valid = { sub: 'o', aud: appId, iat: now(), exp: now() + 60, sk: 'tiihtNczf5v6AKRyjwEUhQ==' }
  const edges: Array<[string, string]> = [
    ['not JSON', forge(KEY, {}, { raw: Buffer.from('not json') })],
    ['invalid UTF-8', forge(KEY, {}, { raw: Buffer.from([0x7b, 0xff, 0x7d]) })],
    ['JSON array', forge(KEY, [valid])],
    ['JSON null', forge(KEY, null)],
    ['no ciphertext', forge(KEY, {}, { raw: Buffer.alloc(0) })],
    ['nbf in the past', forge(KEY, { ...valid, nbf: now() - 10 })],
    ['aud list', forge(KEY, { ...valid, aud: [appId] })],
    ['iat a string', forge(KEY, { ...valid, iat: '1' })],
    ['no sub', forge(KEY, { ...valid, sub: undefined })],
    ['valid', forge(KEY, valid)]
  ]
  for (const [name, token] of edges) t.ok(await agree(token), name)
  t.same(fast(edges[edges.length - 1]?.[1] ?? ''), { ...valid }, 'the valid one is opened by the fast path')
})

t.test('the boundary second of exp', async (t) => {
  for (const offset of [-2, -1, 0, 1, 2]) {
    const token = forge(KEY, { sub: 'o', aud: appId, iat: now(), exp: now() + offset, sk: 'tiihtNczf5v6AKRyjwEUhQ==' })
    t.ok(await agree(token), `exp = now ${offset >= 0 ? '+' : ''}${offset}`)
  }
})

t.test('the header the fast path knows is the one seal writes', async (t) => {
  const token = await codec.seal({ openid: 'o', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }, appId)
  t.equal(token.split('.')[0], headerSegment(kidOf(KEY)))
})

t.test('the differential ran on thousands of tokens and both paths accepted many', async (t) => {
  t.ok(stats.total >= 5000, `${stats.total} tokens`)
  t.ok(stats.fastAccepted >= 600, `fast path accepted ${stats.fastAccepted}`)
  t.ok(stats.joseAccepted > stats.fastAccepted, `jose accepted ${stats.joseAccepted} (it also takes shapes the fast path leaves to it)`)
  t.equal(stats.both, stats.fastAccepted, 'every fast accept was a jose accept')
})

t.test('a stray character after a ciphertext of a whole number of base64 quanta is never dropped', async (t) => {
  // Genuine ciphertexts are never 0 mod 4 characters long: pad the claims until this one is.
  let pad = ''
  let token = ''
  do {
    token = forge(KEY, { sub: 'o', aud: appId, iat: now(), exp: now() + 600, sk: 'tiihtNczf5v6AKRyjwEUhQ==', p: pad })
    pad += 'x'
  } while ((token.split('.')[3] as string).length % 4 !== 0)
  t.ok(fast(token), 'the padded token itself opens')
  const parts = token.split('.')
  for (const stray of ['A', 'Q', '_']) {
    const broken = [parts[0], parts[1], parts[2], `${parts[3] as string}${stray}`, parts[4]].join('.')
    t.equal(fast(broken), undefined, `a stray '${stray}' (${(parts[3] as string).length + 1} characters, 1 mod 4): not opened`)
    await t.rejects(codec.unseal(broken), { code: 'WEAPP_SESSION_INVALID' })
  }
})
