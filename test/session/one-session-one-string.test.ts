import t from 'tap'
import { wechat } from '../fixtures/jwe.js'
import { parseKeys } from '../../lib/keys.js'
import { createSessionCodec, IdentityTooLargeError, MAX_TOKEN_LENGTH } from '../../lib/session.js'
import { harness, isError, KEY } from '../fixtures/app.js'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** Other spellings of the same bytes that lenient base64url decoders accept. */
function variants (token: string): string[] {
  const parts = token.split('.')
  const out: string[] = []
  parts.forEach((part, i) => {
    if (part === '') return
    const respell = (p: string): string => parts.map((q, j) => (j === i ? p : q)).join('.')
    out.push(respell(`${part}=`), respell(`${part}==`))
    const rest = part.length % 4
    if (rest !== 0) {
      // The last character's unused low bits set: the same bytes, a new string.
      const last = ALPHABET.indexOf(part.slice(-1))
      for (let bits = 1; bits < (rest === 2 ? 16 : 4); bits++) out.push(respell(part.slice(0, -1) + (ALPHABET[last | bits] as string)))
    }
  })
  return out
}

t.test('one session, one string: other spellings of a genuine token are refused everywhere', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const tag = session.split('.')[4] as string
  t.equal(tag.length % 4, 2, 'the tag segment always has 4 unused bits to play with')
  const spellings = variants(session)
  t.ok(spellings.length >= 20, `${spellings.length} spellings`)
  for (const token of spellings) {
    t.equal(Buffer.from(token.split('.')[4] as string, 'base64url').toString('hex'), Buffer.from(tag, 'base64url').toString('hex'), 'same bytes')
    isError(t, await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } }), 401, 'WEAPP_SESSION_INVALID')
    await t.rejects(h.app.weapp.unseal(token), { code: 'WEAPP_SESSION_INVALID' })
  }
  for (const token of [` ${session}`, `${session}\n`, session.replace('.', '.\n'), session.replace(/\.([^.]+)$/, '. $1'), `${session.slice(0, 40)}\t${session.slice(40)}`]) {
    await t.rejects(h.app.weapp.unseal(token), { code: 'WEAPP_SESSION_INVALID' }, 'whitespace is not skipped')
  }
  t.equal((await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })).statusCode, 200, 'the one true spelling still opens')
})

t.test('seal never issues what unseal refuses: the token is bounded, not the characters', async (t) => {
  const codec = createSessionCodec({ audience: ['wx0123456789abcdef'], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 0 })
  const sessionKey = 'tiihtNczf5v6AKRyjwEUhQ=='
  let opened = 0
  let refused = 0
  for (let n = 1; n <= 400; n += 9) {
    for (const identity of [{ openid: '用'.repeat(n), sessionKey }, { openid: `o-${n}`, unionid: '户'.repeat(n), sessionKey }, { openid: 'o'.repeat(3 * n), sessionKey }]) {
      let token: unknown
      try {
        token = codec.seal(identity, 'wx0123456789abcdef')
      } catch (err) {
        token = err
      }
      if (token instanceof IdentityTooLargeError) {
        refused++
        t.ok(token instanceof TypeError, 'a TypeError for the caller')
        continue
      }
      if (typeof token !== 'string') throw token
      t.ok(token.length <= MAX_TOKEN_LENGTH)
      const session = wechat(await codec.unseal(token))
      t.equal(session.openid, identity.openid, 'what seal issued opens')
      opened++
    }
  }
  t.ok(opened > 20 && refused > 20, `both sides of the bound are exercised (${opened} opened, ${refused} refused)`)
  const long = await codec.seal({ openid: 'o'.repeat(200), sessionKey }, 'wx0123456789abcdef')
  t.equal(wechat(await codec.unseal(long)).openid, 'o'.repeat(200), 'an openid longer than 128 characters fits and opens')
})

t.test('an identity from WeChat too long to seal is a 502, not a 500 with an internal message', async (t) => {
  const h = await harness(t)
  for (const openid of ['o'.repeat(2000), `o-${'用'.repeat(300)}`]) {
    const res = await h.post('/weapp/login', { code: h.mock.login(openid) })
    isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, /too long to hold in a session/)
    t.notMatch(res.json().message, /seal\(identity\)|TypeError/)
  }
  t.same(h.leaks(), [])
})
