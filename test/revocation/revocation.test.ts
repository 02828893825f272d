// Ending sessions: logout, revoke(), revokeUser() with revocation: 'memory', and renewal
// (renewWithin, maxAge). Redis and several instances: test/revocation/revocation-redis.test.ts.
import Fastify from 'fastify'
import t from 'tap'
import weapp from '../../lib/index.js'
import { harness, isError, KEY, type Harness } from '../fixtures/app.js'
import { claims, forge, open } from '../fixtures/jwe.js'
import { eventually } from '../fixtures/redis.js'

const APP = 'wx0123456789abcdef'

async function me (h: Harness, session: string): Promise<{ statusCode: number, json: () => any, headers: Record<string, unknown> }> {
  return await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })
}

/** Waits until the clock is past `time` (ms): a login after a revocation is later than it. */
async function after (time: number): Promise<void> {
  await eventually(() => Date.now() > time)
}

for (const sessionCacheSize of [10_000, 0]) {
  t.test(`logout ends the session and its renewals, memo ${sessionCacheSize === 0 ? 'off (fast path and jose)' : 'on'}`, async (t) => {
    const h = await harness(t, { plugin: { revocation: 'memory', sessionCacheSize } })
    const alice = await h.login('o-alice')
    const again = await h.login('o-alice')
    t.equal((await me(h, alice.session)).statusCode, 200, 'used once: memoized where the memo is on')
    const out = await h.post('/weapp/logout', {}, alice.session)
    t.equal(out.statusCode, 204)
    t.equal(out.body, '')
    const refused = await me(h, alice.session)
    isError(t, refused as never, 401, 'WEAPP_SESSION_REVOKED')
    t.match(refused.headers['www-authenticate'], /invalid_token/)
    isError(t, await h.post('/weapp/decrypt', h.mock.encrypt('o-alice', { a: 1 }), alice.session), 401, 'WEAPP_SESSION_REVOKED')
    isError(t, await h.post('/weapp/logout', {}, alice.session), 401, 'WEAPP_SESSION_REVOKED')
    t.equal((await me(h, again.session)).statusCode, 200, 'another login of the same user is another session')
    // A token from before session ids (no jti, no lat) is ended by logout too: its id is its digest.
    const old = forge(KEY, claims(APP, { sub: 'o-old' }))
    t.equal((await me(h, old)).statusCode, 200)
    t.equal((await h.post('/weapp/logout', {}, old)).statusCode, 204)
    isError(t, await me(h, old) as never, 401, 'WEAPP_SESSION_REVOKED')
    t.same(h.leaks(), [])
  })
}

t.test('revokeUser ends every session of a user that logged in until then, per app or in every app', async (t) => {
  const B = 'wxbbbbbbbbbbbbbbbb'
  const h = await harness(t, { mock: { apps: [{ appId: B, appSecret: 'secret-of-b-0123456789' }] }, plugin: { revocation: 'memory', apps: [{ appId: APP, appSecret: 'mock-app-secret-0123456789abcdef' }, { appId: B, appSecret: 'secret-of-b-0123456789' }] } })
  const login = async (appId: string, openid: string): Promise<string> => (await h.post('/weapp/login', { code: h.mock.app(appId).login(openid), appId })).json().session
  const [a1, a2, bob, inB] = [await login(APP, 'o-alice'), await login(APP, 'o-alice'), await login(APP, 'o-bob'), await login(B, 'o-alice')]
  const time = Date.now()
  await h.app.weapp.revokeUser({ openid: 'o-alice', appId: APP })
  for (const s of [a1, a2]) isError(t, await me(h, s) as never, 401, 'WEAPP_SESSION_REVOKED')
  t.equal((await me(h, bob)).statusCode, 200, 'another user')
  t.equal((await me(h, inB)).statusCode, 200, 'the same openid in another app is another user')
  await after(time)
  const later = await login(APP, 'o-alice')
  t.equal((await me(h, later)).statusCode, 200, 'a login after the revocation works')
  // Without appId: that openid in every app.
  await h.app.weapp.revokeUser({ openid: 'o-alice' })
  isError(t, await me(h, inB) as never, 401, 'WEAPP_SESSION_REVOKED')
  isError(t, await me(h, later) as never, 401, 'WEAPP_SESSION_REVOKED')
  for (const bad of [{}, { openid: '' }, { openid: 'o', appId: 7 }, { corpId: 'ww', userId: 'u' }, null]) {
    await t.rejects(h.app.weapp.revokeUser(bad as never), TypeError, `revokeUser(${JSON.stringify(bad)})`)
  }
})

t.test('revokeUser for a WeCom member; revoke() takes a token or a session', async (t) => {
  const STAFF = 'wxstaff00000000001'
  const h = await harness(t, { plugin: { revocation: 'memory', apps: [{ appId: STAFF, wecom: { corpId: 'wwcorp', corpSecret: 'corp-secret-0123456789' } }, { appId: APP, appSecret: 'mock-app-secret-0123456789abcdef' }] } })
  const staff = h.mock.addWecomApp(STAFF, { corpId: 'wwcorp', corpSecret: 'corp-secret-0123456789' })
  const member = (await h.post('/weapp/login', { code: staff.login('zhangsan'), appId: STAFF })).json().session
  const other = (await h.post('/weapp/login', { code: staff.login('lisi'), appId: STAFF })).json().session
  await h.app.weapp.revokeUser({ corpId: 'wwcorp', userId: 'zhangsan', appId: STAFF })
  isError(t, await me(h, member) as never, 401, 'WEAPP_SESSION_REVOKED')
  t.equal((await me(h, other)).statusCode, 200)
  await h.app.weapp.revoke(await h.app.weapp.unseal(other))
  isError(t, await me(h, other) as never, 401, 'WEAPP_SESSION_REVOKED')
  const { corpId: _c, ...memberless } = await h.app.weapp.unseal((await h.post('/weapp/login', { code: staff.login('wangwu'), appId: STAFF })).json().session) as unknown as Record<string, unknown>
  await t.rejects(h.app.weapp.revoke(memberless as never), TypeError, 'a member session without its company is refused')
  // revoke(token), revoke(session)
  const login = async (openid: string): Promise<{ session: string }> => (await h.post('/weapp/login', { code: h.mock.login(openid), appId: APP })).json()
  const alice = await login('o-alice')
  await h.app.weapp.revoke(alice.session)
  isError(t, await me(h, alice.session) as never, 401, 'WEAPP_SESSION_REVOKED')
  const bob = await login('o-bob')
  await h.app.weapp.revoke(await h.app.weapp.unseal(bob.session))
  isError(t, await me(h, bob.session) as never, 401, 'WEAPP_SESSION_REVOKED')
  await h.app.weapp.revoke(forge(KEY, claims(APP, { exp: Math.floor(Date.now() / 1000) - 10 })))
  t.pass('an expired token: nothing to end, resolves')
  await t.rejects(h.app.weapp.revoke('not-a-token'), { code: 'WEAPP_SESSION_INVALID' })
  await t.rejects(h.app.weapp.revoke({ openid: 'o' } as never), TypeError)
  const { openid: _o, ...nobody } = await h.app.weapp.unseal((await login('o-dave')).session)
  await t.rejects(h.app.weapp.revoke(nobody as never), TypeError, 'a session without its user ends nothing: refused')
})

t.test('without the revocation option: no logout route, and revoke* say which option they need', async (t) => {
  const h = await harness(t)
  const alice = await h.login('o-alice')
  t.equal((await h.post('/weapp/logout', {}, alice.session)).statusCode, 404)
  await t.rejects(h.app.weapp.revoke(alice.session), { name: 'TypeError', message: /revocation option/ })
  await t.rejects(h.app.weapp.revokeUser({ openid: 'o-alice' }), { name: 'TypeError', message: /revocation option/ })
})

t.test('renewal: a session near its end gets a fresh token with the same id, never past maxAge', async (t) => {
  const h = await harness(t, { plugin: { revocation: 'memory', expiresIn: '1h', renewWithin: '10m', maxAge: '2h' } })
  const now = Math.floor(Date.now() / 1000)
  const fresh = await h.login('o-alice')
  const plain = await me(h, fresh.session)
  t.equal(plain.statusCode, 200)
  t.notOk('x-weapp-session' in plain.headers, 'more than renewWithin left: no renewal')

  const jti = 'abcdefghijklmnopqrstuv'
  const loginAt = Date.now() - 3000_000 // 50 minutes ago
  const near = forge(KEY, claims(APP, { sub: 'o-alice', iat: now - 3000, exp: now + 300, jti, lat: loginAt }))
  const renewed = await me(h, near)
  t.equal(renewed.statusCode, 200)
  const token = renewed.headers['x-weapp-session'] as string
  const expiresIn = Number(renewed.headers['x-weapp-session-expires-in'])
  t.type(token, 'string')
  t.ok(expiresIn >= 3599 && expiresIn <= 3600, `a full lifetime again (${expiresIn} s)`)
  const payload = open(token, KEY).payload
  t.match(payload, { sub: 'o-alice', jti, lat: loginAt, aud: APP })
  t.ok((payload.exp as number) - expiresIn <= now + 2 && (payload.exp as number) >= now + expiresIn, 'the header says what the token says')
  t.equal((await me(h, token)).statusCode, 200)

  // Near maxAge: renewed only up to loginAt + maxAge.
  const old = Date.now() - 6900_000 // 1 h 55 min ago
  const capped = await me(h, forge(KEY, claims(APP, { sub: 'o-alice', iat: now - 3000, exp: now + 120, jti: 'bcdefghijklmnopqrstuvw', lat: old })))
  const cappedExp = open(capped.headers['x-weapp-session'] as string, KEY).payload.exp as number
  t.equal(cappedExp, Math.floor((old + 7200_000) / 1000), 'never past maxAge')
  // Past maxAge: no renewal at all.
  const ancient = await me(h, forge(KEY, claims(APP, { sub: 'o-alice', iat: now - 3000, exp: now + 120, jti: 'cdefghijklmnopqrstuvwx', lat: Date.now() - 7300_000 })))
  t.equal(ancient.statusCode, 200)
  t.notOk('x-weapp-session' in ancient.headers, 'a login older than maxAge is not renewed')

  // One logout ends the session and its renewal.
  t.equal((await h.post('/weapp/logout', {}, token)).statusCode, 204)
  isError(t, await me(h, near) as never, 401, 'WEAPP_SESSION_REVOKED')
  t.same(h.leaks(), [])
})

t.test('renewal and revocation options are checked', async (t) => {
  const base = { appId: APP, appSecret: 's', key: KEY }
  for (const [options, message] of [
    [{ renewWithin: '1h', expiresIn: '1h' }, /renewWithin .* must be shorter than expiresIn/],
    [{ maxAge: '1h', expiresIn: '2h' }, /maxAge .* must be at least expiresIn/],
    [{ renewWithin: 'soon' }, /renewWithin must be/],
    [{ revocation: 'redis' }, /revocation must be false, 'memory', \{ memory: true, resetSessionKey\? \} or \{ redis, prefix\?, resetSessionKey\? \}/],
    [{ revocation: { redis: {} } }, /revocation must be/],
    [{ revocation: { redis: { duplicate () {}, eval () {}, zrangebyscore () {} }, prefix: 'has space' } }, /revocation\.prefix/]
  ] as const) {
    const app = Fastify()
    app.register(weapp, { ...base, ...options } as never)
    await t.rejects(async () => { await app.ready() }, { code: 'WEAPP_INVALID_OPTION', message }, JSON.stringify(options))
    await app.close()
  }
})

t.test('revocations expire maxAge after they were made: the state is bounded by recent revocations', async (t) => {
  const { CLOCK_SKEW } = await import('../../lib/clock.js')
  const { memoryRevocations, userKey } = await import('../../lib/revocation/index.js')
  let now = 1_000_000
  const store = memoryRevocations({ maxAge: 60_000, log: { warn () {}, info () {} }, now: () => now })
  const jti = (i: number): string => `jti-${String(i).padStart(18, '0')}`
  const session = (i: number): never => ({ platform: 'wechat', appId: APP, openid: `o-${i}`, sessionKey: 'k', jti: jti(i), loginAt: now - 1000, expiresAt: now + 10_000 }) as never
  for (let i = 0; i < 200; i++) await store.revokeSession(session(i))
  for (let i = 0; i < 50; i++) await store.revokeUser(userKey(APP, { openid: `u-${i}` }))
  t.equal(store.size(), 250)
  now += 30_000 // past every token's exp, not past maxAge: a renewal of any of them could still live
  t.ok(store.isRevoked(session(7)), 'kept past the revoked token\'s own exp')
  now += 31_000 + CLOCK_SKEW // past maxAge and the tolerated clock skew: no token of those logins can live on any instance
  for (let i = 0; i < 6; i++) await store.revokeSession(session(1000 + i)) // the 256th write sweeps
  t.equal(store.size(), 6, 'only the fresh ones are left')
  await store.close()
})

t.test('renewal keeps a WeCom member or a unionid', async (t) => {
  const STAFF = 'wxstaff00000000001'
  const h = await harness(t, { plugin: { expiresIn: '1h', renewWithin: '10m', apps: [{ appId: APP, appSecret: 'mock-app-secret-0123456789abcdef' }, { appId: STAFF, wecom: { corpId: 'wwcorp', corpSecret: 'corp-secret-0123456789' } }] } })
  const now = Math.floor(Date.now() / 1000)
  const base = { iat: now - 3000, exp: now + 60, lat: Date.now() - 3000_000 }
  const withUnion = await me(h, forge(KEY, claims(APP, { ...base, sub: 'o-u', uid: 'u-1', jti: 'abcdefghijklmnopqrstuv' })))
  t.match(open(withUnion.headers['x-weapp-session'] as string, KEY).payload, { sub: 'o-u', uid: 'u-1', jti: 'abcdefghijklmnopqrstuv' })
  const member = await me(h, forge(KEY, claims(STAFF, { ...base, sub: 'zhangsan', cid: 'wwcorp', jti: 'bcdefghijklmnopqrstuvw' })))
  const payload = open(member.headers['x-weapp-session'] as string, KEY).payload
  t.match(payload, { sub: 'zhangsan', cid: 'wwcorp', aud: STAFF })
  t.notOk('uid' in payload)
})
