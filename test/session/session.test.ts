import t, { type Test } from 'tap'
import { parseKeys } from '../../lib/keys.js'
import { createSessionCodec } from '../../lib/session.js'
import { KEY, OTHER_KEY } from '../fixtures/app.js'
import { claims, forge, hostileTokens, kidOf, open, wechat } from '../fixtures/jwe.js'

const appId = 'wx0123456789abcdef'
const identity = { openid: 'o-alice', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==', unionid: 'u-alice' }
const codec = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 1000 })

async function rejects (t: Test, token: unknown, code: string, name: string): Promise<void> {
  await t.rejects(codec.unseal(token as string), { code, statusCode: 401 }, name)
}

t.test('seal and unseal round-trip', async (t) => {
  const before = Date.now()
  const token = await codec.seal(identity, appId)
  const session = wechat(await codec.unseal(token))
  t.same({ ...session, expiresAt: 0, jti: '', loginAt: 0 }, { ...identity, platform: 'wechat', appId, expiresAt: 0, jti: '', loginAt: 0, claims: {} })
  t.match(session.jti, /^[A-Za-z0-9_-]{22}$/, 'a session id of 16 random bytes')
  t.ok(session.loginAt >= before && session.loginAt <= Date.now(), 'the login time, in ms')
  t.not(wechat(await codec.unseal(await codec.seal(identity, appId))).jti, session.jti, 'each login its own id')
  t.ok(session.expiresAt >= Math.floor(before / 1000) * 1000 + 3600_000 && session.expiresAt <= Date.now() + 3600_000, 'expiresAt in ms')
  const { unionid: _, ...withoutUnion } = identity
  const plain = await codec.unseal(await codec.seal(withoutUnion, appId))
  t.notOk('unionid' in plain, 'no unionid when none was sealed')
  t.ok(token.length < 400, `a token is short (${token.length} chars)`)
})

t.test('a WeCom member\'s session: corpId and userId, no openid', async (t) => {
  const member = { corpId: 'ww0123456789abcdef', userId: 'zhangsan', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }
  const token = await codec.seal(member, appId)
  const session = await codec.unseal(token)
  t.same({ ...session, expiresAt: 0, jti: '', loginAt: 0 }, { ...member, platform: 'wecom', appId, expiresAt: 0, jti: '', loginAt: 0, claims: {} })
  t.notOk('openid' in session, 'no openid')
  const { payload } = open(token, KEY)
  t.equal(payload.sub, 'zhangsan', 'sub is the UserID')
  t.equal(payload.cid, 'ww0123456789abcdef', 'cid the company')
  t.notOk('uid' in payload)
  // Memoized copies are WeCom sessions too.
  t.same(await codec.unseal(token), session)
  const sameName = await codec.unseal(await codec.seal({ openid: 'zhangsan', sessionKey: member.sessionKey }, appId))
  t.equal(sameName.platform, 'wechat', 'an openid that happens to equal a UserID is still a WeChat user')
  for (const bad of [
    { ...member, corpId: '' },
    { ...member, userId: '' },
    { ...member, corpId: 7 },
    { corpId: 'ww1', userId: 'u', sessionKey: 'short' }
  ]) {
    t.throws(() => codec.seal(bad as never, appId), TypeError, `seal refuses ${JSON.stringify(bad)}`)
  }
})

t.test('a token is ordinary JWE that another implementation opens with the key', async (t) => {
  const token = await codec.seal(identity, appId)
  t.equal(token.split('.').length, 5)
  t.equal(token.split('.')[1], '', 'dir: no encrypted key')
  const { header, payload } = open(token, KEY)
  t.same(header, { alg: 'dir', enc: 'A256GCM', kid: kidOf(KEY) }, 'exactly the header the plugin writes')
  t.same(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'jti', 'lat', 'sk', 'sub', 'uid'])
  t.equal(payload.sub, identity.openid)
  t.equal(payload.sk, identity.sessionKey)
  t.equal(payload.uid, identity.unionid)
  t.equal(payload.aud, appId)
  t.equal((payload.exp as number) - (payload.iat as number), 3600)
  t.notOk(token.includes(identity.sessionKey), 'the session_key is not readable in the token')
  t.notOk(Buffer.from(token.split('.')[3] ?? '', 'base64url').toString('latin1').includes('o-alice'), 'nor the openid')
})

t.test('every seal uses a fresh IV', async (t) => {
  const ivs = new Set<string>()
  for (let i = 0; i < 50; i++) ivs.add((await codec.seal(identity, appId)).split('.')[2] ?? '')
  t.equal(ivs.size, 50)
})

t.test('tokens the plugin\'s own key minted by hand are accepted', async (t) => {
  const session = wechat(await codec.unseal(forge(KEY, claims(appId))))
  t.equal(session.openid, 'o-forged')
})

t.test('tokens the fast path leaves to jose still open when jose accepts them', async (t) => {
  const kid = kidOf(KEY)
  const reordered = forge(KEY, claims(appId), { header: { enc: 'A256GCM', kid, alg: 'dir' } })
  const withTyp = forge(KEY, claims(appId), { header: { alg: 'dir', enc: 'A256GCM', kid, typ: 'JWT' } })
  for (const token of [reordered, withTyp]) t.equal(wechat(await codec.unseal(token)).openid, 'o-forged')
  // A session names exactly one app: an audience list (which jose would accept) is not a session.
  await rejects(t, forge(KEY, claims(appId, { aud: ['wxother', appId] })), 'WEAPP_SESSION_INVALID', 'an audience list')
})

t.test('a genuine token past exp is expired', async (t) => {
  await rejects(t, forge(KEY, claims(appId, { exp: Math.floor(Date.now() / 1000) - 5 })), 'WEAPP_SESSION_EXPIRED', 'past exp')
})

t.test('anything else does not unseal, with the memo and without', async (t) => {
  for (const cacheSize of [0, 1000]) {
    const subject = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize })
    const good = await subject.seal(identity, appId)
    t.equal(wechat(await subject.unseal(good)).openid, 'o-alice', 'the genuine token opens (and is memoized)')
    const cases = hostileTokens(good, KEY, OTHER_KEY, appId)
    t.ok(cases.length > 40)
    for (const [name, token] of cases) {
      await t.rejects(subject.unseal(token as string), { code: 'WEAPP_SESSION_INVALID', statusCode: 401 }, `${name} (cacheSize ${cacheSize})`)
    }
  }
})

t.test('rotation: [new, old] opens both and seals with new; dropping old rejects its tokens', async (t) => {
  const oldCodec = createSessionCodec({ audience: [appId], keys: parseKeys(OTHER_KEY), expiresIn: 3600, cacheSize: 0 })
  const oldToken = await oldCodec.seal(identity, appId)
  const rotated = createSessionCodec({ audience: [appId], keys: parseKeys([KEY, OTHER_KEY]), expiresIn: 3600, cacheSize: 0 })
  t.equal(wechat(await rotated.unseal(oldToken)).openid, 'o-alice', 'old sessions still open')
  const newToken = await rotated.seal(identity, appId)
  t.equal(open(newToken, KEY).header.kid, kidOf(KEY), 'new sessions are sealed with the first key')
  t.equal(wechat(await codec.unseal(newToken)).openid, 'o-alice', 'an instance with only the new key opens them')
  await t.rejects(codec.unseal(oldToken), { code: 'WEAPP_SESSION_INVALID' }, 'the old key is gone')
})

t.test('seal refuses what is not an identity', async (t) => {
  for (const bad of [null, {}, { openid: 'o' }, { openid: '', sessionKey: identity.sessionKey }, { openid: 'o', sessionKey: 'short' }, { openid: 'o', sessionKey: identity.sessionKey, unionid: 5 }]) {
    t.throws(() => codec.seal(bad as never, appId), TypeError, JSON.stringify(bad))
  }
})

t.test('errors carry no payload and no session_key', async (t) => {
  const expired = forge(KEY, claims(appId, { exp: 1, sk: 'SECRETSECRETSECRETSECR==' }))
  const err = await codec.unseal(expired).catch((e: Error) => e)
  t.equal((err as { code?: string }).code, 'WEAPP_SESSION_EXPIRED')
  t.equal((err as { cause?: unknown }).cause, undefined, 'no cause: jose\'s would hold the payload')
  t.notOk(JSON.stringify(err).includes('SECRETSECRET'))
  const invalid: Error = await codec.unseal(forge(KEY, claims('wxother', { sk: 'SECRETSECRETSECRETSECR==' }))).then(() => new Error('unsealed'), (e: Error) => e)
  t.notOk(`${String(invalid.stack)} ${String((invalid as { cause?: Error }).cause?.message)} ${JSON.stringify(invalid)}`.includes('SECRETSECRET'))
})

t.test('the length cap holds for a token that is otherwise genuine', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const long = forge(KEY, { sub: `o-${'x'.repeat(1900)}`, aud: appId, iat: now, exp: now + 600, sk: 'tiihtNczf5v6AKRyjwEUhQ==' })
  t.ok(long.length > 2560, `${long.length} characters`)
  t.equal(open(long, KEY).payload.aud, appId, 'a valid token under the right key, only too long')
  await rejects(t, long, 'WEAPP_SESSION_INVALID', 'refused before any crypto')
  const fits = forge(KEY, { sub: `o-${'x'.repeat(500)}`, aud: appId, iat: now, exp: now + 600, sk: 'tiihtNczf5v6AKRyjwEUhQ==' })
  t.ok(fits.length <= 1024)
  t.equal(wechat(await codec.unseal(fits)).openid.length, 502, 'under the cap the same shape opens')
})

t.test('genuine tokens under the right key, with an alg or enc jose could open, are refused', async (t) => {
  const { EncryptJWT } = await import('jose')
  const secret = Buffer.from(KEY, 'base64url')
  const now = Math.floor(Date.now() / 1000)
  const claimsOf = { sub: 'o-alice', aud: appId, iat: now, exp: now + 600, sk: 'tiihtNczf5v6AKRyjwEUhQ==' }
  for (const header of [
    { alg: 'dir', enc: 'A128CBC-HS256' }, // a 32-byte key is exactly what A128CBC-HS256 takes
    { alg: 'A256KW', enc: 'A256GCM' }, // the key wraps a fresh content key
    { alg: 'A256GCMKW', enc: 'A256GCM' }
  ]) {
    const token = await new EncryptJWT(claimsOf).setProtectedHeader({ ...header, kid: kidOf(KEY) }).encrypt(secret)
    await rejects(t, token, 'WEAPP_SESSION_INVALID', `${header.alg} + ${header.enc}`)
  }
})

t.test('sessions of platforms without a session_key: none sealed, none accepted; Baidu\'s is 24 bytes', async (t) => {
  const alipay = { platform: 'alipay' as const, openid: '2088-a', idType: 'open_id' as const }
  const sealed = await codec.unseal(await codec.seal(alipay, appId))
  t.match(sealed, { platform: 'alipay', openid: '2088-a', idType: 'open_id', sessionKey: '' })
  t.throws(() => codec.seal({ ...alipay, sessionKey: 'AAAAAAAAAAAAAAAAAAAAAA==' } as never, appId), TypeError, 'an identity that brings a session_key is not an Alipay user\'s')
  t.same(claims(appId, { sub: 'x' }).sk, 'AAAAAAAAAAAAAAAAAAAAAA==')
  await rejects(t, forge(KEY, claims(appId, { pf: 'alipay', it: 'open_id' })), 'WEAPP_SESSION_INVALID', 'an Alipay token with a session_key')
  await rejects(t, forge(KEY, claims(appId, { pf: 'feishu', tk: 't' })), 'WEAPP_SESSION_INVALID', 'a Feishu token with a session_key')
  const feishu = await codec.unseal(forge(KEY, claims(appId, { pf: 'feishu', tk: 't', sk: undefined })))
  t.match(feishu, { platform: 'feishu', tenantKey: 't', sessionKey: '' })
  await rejects(t, forge(KEY, claims(appId, { pf: 'baidu' })), 'WEAPP_SESSION_INVALID', 'a Baidu token with a 16-byte session_key')
  const baidu = await codec.unseal(forge(KEY, claims(appId, { pf: 'baidu', sk: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3' })))
  t.match(baidu, { platform: 'baidu', sessionKey: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3' })
  t.throws(() => codec.seal({ platform: 'baidu', openid: 'o', sessionKey: 'AAAAAAAAAAAAAAAAAAAAAA==' } as never, appId), TypeError)
})
