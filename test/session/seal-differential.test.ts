// Sealing goes through node:crypto; jose stays the authority on what opens. Thousands of generated
// identities (every kind of session) are sealed and opened by jose and by the test's own JWE reader,
// which must both find exactly the claims sealed.
import fc from 'fast-check'
import t from 'tap'
import { parseKeys } from '../../lib/keys.js'
import { createJoseUnseal, createSessionCodec, type AnyIdentity } from '../../lib/session.js'
import { KEY, OTHER_KEY } from '../fixtures/app.js'
import { kidOf, open } from '../fixtures/jwe.js'
import { ROWS, type OpenidPlatform } from '../../lib/platforms/index.js'
import { keyBytesOf, OPENID_FIELDS } from '../../lib/platforms/users.js'

const appId = 'wx0123456789abcdef'
const keys = parseKeys([KEY, OTHER_KEY])
const codec = createSessionCodec({ audience: [appId], keys, expiresIn: 3600, cacheSize: 0 })
const jose = createJoseUnseal(keys, [appId])
const B64URL = /^[A-Za-z0-9_-]*$/

const sessionKey = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64'))
const baiduKey = fc.uint8Array({ minLength: 24, maxLength: 24 }).map((b) => Buffer.from(b).toString('base64'))
const id = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 })
const keyOf = (bytes: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('base64'))
const TAGGED = [...new Set(ROWS.map((row) => row.users))].filter((users) => users.fields === OPENID_FIELDS && users.tag !== undefined && keyBytesOf(users) > 0)
const identity: fc.Arbitrary<AnyIdentity> = fc.oneof(
  fc.record({ openid: id, sessionKey, unionid: fc.option(id, { nil: undefined }) }).map(({ unionid, ...rest }) => unionid === undefined ? rest : { ...rest, unionid }),
  // Every platform of the table whose users are openids with a session_key and a tag of their own.
  fc.constantFrom(...TAGGED).chain((users) => fc.record({ openid: id, sessionKey: keyOf(keyBytesOf(users)), platform: fc.constant(users.platform as OpenidPlatform) })),
  fc.record({ openid: id, sessionKey: baiduKey, platform: fc.constant('baidu' as const) }),
  fc.record({ platform: fc.constant('feishu' as const), openid: id, tenantKey: id, employeeId: fc.option(id, { nil: undefined }) }).map(({ employeeId, ...rest }) => employeeId === undefined ? rest : { ...rest, employeeId }),
  fc.record({ platform: fc.constant('alipay' as const), openid: id, idType: fc.constantFrom('open_id' as const, 'user_id' as const) }),
  fc.record({ corpId: id, userId: id, sessionKey }),
  id.map((openid) => ({ openid, sessionKey: '', platform: 'douyin' as const, anonymous: true as const }))
)

t.test('every token the node:crypto seal writes opens with jose and with another reader, claims intact', async (t) => {
  t.same(TAGGED.map((users) => users.platform).slice(0, 4), ['qq', 'douyin', 'kuaishou', 'baidu'], 'the tagged openid platforms of the table are generated (a new one with them)')
  const ivs = new Set<string>()
  let count = 0
  await fc.assert(fc.asyncProperty(identity, async (who) => {
    const before = Math.floor(Date.now() / 1000)
    const token = await codec.seal(who, appId)
    const parts = token.split('.')
    if (parts.length !== 5 || parts[1] !== '' || !parts.every((p) => B64URL.test(p))) return false
    ivs.add(parts[2] as string)
    const payload = await jose(token)
    const { header, payload: read } = open(token, KEY)
    count++
    const expected: Record<string, unknown> = { aud: appId }
    if ('corpId' in who) Object.assign(expected, { sub: who.userId, cid: who.corpId, sk: who.sessionKey })
    else if (who.platform === 'feishu') Object.assign(expected, { sub: who.openid, tk: who.tenantKey, pf: 'feishu' }, who.employeeId === undefined ? {} : { eid: who.employeeId })
    else if (who.platform === 'alipay') Object.assign(expected, { sub: who.openid, it: who.idType, pf: 'alipay' })
    else {
      expected.sub = who.openid
      if (who.anonymous === true) Object.assign(expected, { an: true, pf: 'douyin' })
      else expected.sk = who.sessionKey
      if (who.unionid !== undefined) expected.uid = who.unionid
      if (who.platform !== undefined) expected.pf = who.platform
    }
    const { jti, lat, iat, exp, ...rest } = payload
    return JSON.stringify(header) === JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: kidOf(KEY) }) &&
      JSON.stringify(read) === JSON.stringify(payload) &&
      JSON.stringify(Object.fromEntries(Object.entries(rest).sort())) === JSON.stringify(Object.fromEntries(Object.entries(expected).sort())) &&
      typeof jti === 'string' && /^[A-Za-z0-9_-]{22}$/.test(jti) && typeof lat === 'number' &&
      typeof iat === 'number' && iat >= before && exp === iat + 3600
  }), { numRuns: 3000 })
  t.equal(count, 3000, 'three thousand identities sealed and opened')
  t.equal(ivs.size, 3000, 'a fresh IV every time')
})

t.test('the plugin\'s own unseal (fast path) opens them, and a codec with only the old key refuses them', async (t) => {
  const token = await codec.seal({ openid: 'o-1', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }, appId)
  t.match(await codec.unseal(token), { openid: 'o-1', appId })
  const old = createSessionCodec({ audience: [appId], keys: parseKeys(OTHER_KEY), expiresIn: 3600, cacheSize: 0 })
  await t.rejects(old.unseal(token), { code: 'WEAPP_SESSION_INVALID' })
})
