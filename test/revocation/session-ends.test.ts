// Sessions that stay ended: a revocation covers the whole lineage of a login (its renewals share
// the jti and outlive the revoked token), renewals ride only on 2xx replies that no shared cache
// keeps, the jwt bridge's JWS ends with its session, and unseal() refuses what was ended.
import fastifyJwt from '@fastify/jwt'
import t from 'tap'
import { jwtTrusted } from '../../lib/index.js'
import { harness, isError, KEY, type Harness } from '../fixtures/app.js'
import { claims, forge, open } from '../fixtures/jwe.js'

const APP = 'wx0123456789abcdef'
const JTI = 'lineage-jti-000000000a'

async function me (h: Harness, session: string, url = '/me'): Promise<{ statusCode: number, json: () => any, headers: Record<string, unknown> }> {
  return await h.app.inject({ url, headers: { authorization: `Bearer ${session}` } })
}

/** A token of one login (jti, loginAt) with `left` seconds to live: a sibling of every other of that login. */
function sibling (left: number, overrides: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000)
  return forge(KEY, claims(APP, { sub: 'o-thief', jti: JTI, lat: Date.now() - 3600_000, iat: now - 60, exp: now + left, ...overrides }))
}

const renewing = { revocation: 'memory' as const, expiresIn: '1h', renewWithin: '10m', maxAge: '30d' }

t.test('a revocation ends every token of the login, for as long as any of them can live', async (t) => {
  for (const sessionCacheSize of [10_000, 0]) {
    const h = await harness(t, { plugin: { ...renewing, sessionCacheSize } })
    // The thief's copy is about to expire; the renewal it got is good for an hour.
    const old = sibling(30)
    const renewed = (await me(h, old)).headers['x-weapp-session'] as string
    t.type(renewed, 'string', 'renewed')
    // Revoked through a session object whose token has already expired (the entry's life is the
    // login's, never the presented token's exp): the renewal is refused all the same.
    const session = await h.app.weapp.unseal(old)
    await h.app.weapp.revoke({ ...session, expiresAt: Date.now() - 1000 })
    isError(t, await me(h, renewed) as never, 401, 'WEAPP_SESSION_REVOKED')
    isError(t, await me(h, sibling(3000)) as never, 401, 'WEAPP_SESSION_REVOKED')
    t.same(h.leaks(), [])
  }
})

t.test('logout answers no renewal: not of the session it ends, nor on any other reply that ended it', async (t) => {
  const h = await harness(t, {
    plugin: renewing,
    after (app) {
      app.register(async (scope) => {
        scope.post('/ban-me', { onRequest: app.weapp.authenticate }, async (request) => {
          await app.weapp.revoke(request.weappSession as never)
          return { banned: true }
        })
      })
    }
  })
  const near = sibling(30, { jti: 'logout-jti-00000000000' })
  const out = await h.post('/weapp/logout', {}, near)
  t.equal(out.statusCode, 204)
  t.notOk('x-weapp-session' in out.headers, 'the 204 carries no fresh token of the session it ends')
  const other = sibling(30, { jti: 'banned-jti-00000000000' })
  const banned = await h.post('/ban-me', {}, other)
  t.equal(banned.statusCode, 200)
  t.notOk('x-weapp-session' in banned.headers, 'a handler that revoked the session gets no renewal of it')
})

t.test('renewals ride only on 2xx replies that no shared cache may keep, marked private, no-store', async (t) => {
  const h = await harness(t, {
    plugin: renewing,
    after (app) {
      app.register(async (scope) => {
        scope.addHook('onRequest', app.weapp.authenticate)
        scope.get('/bad', async (_request, reply) => await reply.code(400).send({ no: 1 }))
        scope.get('/limited', async (_request, reply) => await reply.code(429).send({ no: 1 }))
        scope.get('/public', async (_request, reply) => await reply.header('cache-control', 'public, max-age=60').send({ shared: 1 }))
        scope.get('/shared', async (_request, reply) => await reply.header('cache-control', 'max-age=60, s-maxage=60').send({ shared: 1 }))
        scope.get('/private', async (_request, reply) => await reply.header('cache-control', 'private, max-age=60').send({ mine: 1 }))
        scope.get('/no-store', async (_request, reply) => await reply.header('cache-control', 'no-store, max-age=0').send({ mine: 1 }))
        scope.get('/created', async (_request, reply) => await reply.code(201).send({ made: 1 }))
      })
    }
  })
  const near = sibling(30, { jti: 'cache-jti-000000000000' })
  for (const url of ['/bad', '/limited', '/public', '/shared']) {
    const res = await me(h, near, url)
    t.notOk('x-weapp-session' in res.headers, `${url} (${res.statusCode}, ${String(res.headers['cache-control'])}): no renewal`)
  }
  t.equal((await me(h, near, '/public')).headers['cache-control'], 'public, max-age=60', 'the app\'s own caching is left as it is')
  for (const [url, cacheControl] of [['/me', 'private, no-store'], ['/private', 'private, no-store'], ['/no-store', 'no-store, max-age=0'], ['/created', 'private, no-store']]) {
    const res = await me(h, near, url)
    t.type(res.headers['x-weapp-session'], 'string', `${url}: renewed`)
    t.equal(res.headers['cache-control'], cacheControl, `${url}: ${cacheControl}`)
  }
  const far = await me(h, sibling(3000, { jti: 'far-jti-00000000000000' }), '/private')
  t.notOk('x-weapp-session' in far.headers, 'nothing to renew')
  t.equal(far.headers['cache-control'], 'private, max-age=60', 'and the app\'s caching untouched')
})

t.test('a renewal capped by maxAge says how long it really lasts', async (t) => {
  const h = await harness(t, { plugin: { ...renewing, maxAge: '2h' } })
  // Logged in 1h50m ago: the renewal may live 10 more minutes, not an hour.
  const token = sibling(30, { jti: 'capped-jti-00000000000', lat: Date.now() - 110 * 60_000 })
  const res = await me(h, token)
  const renewed = open(res.headers['x-weapp-session'] as string, KEY).payload
  const said = Number(res.headers['x-weapp-session-expires-in'])
  t.ok(said <= 600 && said >= 598, `expires-in ${said} is what is left before maxAge`)
  t.equal(renewed.exp, Math.floor(Date.now() / 1000) + said, 'and it is the exp sealed')
})

t.test('unseal() refuses an ended session the way authenticate does', async (t) => {
  const h = await harness(t, { plugin: { revocation: 'memory' } })
  const alice = await h.login('o-alice')
  t.equal((await h.app.weapp.unseal(alice.session)).openid, 'o-alice')
  await h.app.weapp.revoke(alice.session)
  await t.rejects(h.app.weapp.unseal(alice.session), { code: 'WEAPP_SESSION_REVOKED', statusCode: 401 })
  const bob = await h.login('o-bob')
  await h.app.weapp.revokeUser({ openid: 'o-bob' })
  await t.rejects(h.app.weapp.unseal(bob.session), { code: 'WEAPP_SESSION_REVOKED' })
})

const secret = 'a-test-secret-for-the-app-jwt-0123456789'

t.test('the jwt bridge: a logout or revocation ends the JWS on jwtVerify routes (jwtTrusted)', async (t) => {
  const STAFF = 'wxstaff00000000001'
  const h = await harness(t, {
    plugin: { jwt: true, revocation: 'memory', apps: [{ appId: APP, appSecret: 'mock-app-secret-0123456789abcdef' }, { appId: STAFF, wecom: { corpId: 'wwcorp', corpSecret: 'corp-secret-0123456789' } }] },
    async before (app) {
      await app.register(fastifyJwt, { secret, trusted: jwtTrusted })
      app.get('/orders', async (request) => {
        await request.jwtVerify()
        return { owner: (request.user as { sub: string }).sub }
      })
    }
  })
  const orders = async (token: string): Promise<{ statusCode: number, json: () => any }> => await h.app.inject({ url: '/orders', headers: { authorization: `Bearer ${token}` } })
  const login = async (openid: string): Promise<{ session: string, token: string }> => (await h.post('/weapp/login', { code: h.mock.login(openid), appId: APP })).json()
  const alice = await login('o-alice')
  t.equal((await orders(alice.token)).statusCode, 200)
  t.equal((await h.post('/weapp/logout', {}, alice.session)).statusCode, 204)
  const refused = await orders(alice.token)
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'FST_JWT_AUTHORIZATION_TOKEN_UNTRUSTED', 'the JWS of a logged-out session is untrusted')
  const again = await login('o-alice')
  t.equal((await orders(again.token)).statusCode, 200, 'a new login is another session')
  await h.app.weapp.revokeUser({ openid: 'o-alice', appId: APP })
  t.equal((await orders(again.token)).statusCode, 401, 'revokeUser ends it too')

  // WeCom members: their subject can never read as an openid, whatever the admin named them.
  const staff = h.mock.addWecomApp(STAFF, { corpId: 'wwcorp', corpSecret: 'corp-secret-0123456789' })
  const member = (await h.post('/weapp/login', { code: staff.login('o-bob'), appId: STAFF })).json()
  const bob = await login('o-bob')
  t.not((await orders(member.token)).json().owner, (await orders(bob.token)).json().owner, 'a member named like an openid is another subject')
  t.equal((await orders(member.token)).json().owner, 'wwcorp:o-bob')
  await h.app.weapp.revokeUser({ corpId: 'wwcorp', userId: 'o-bob', appId: STAFF })
  t.equal((await orders(member.token)).statusCode, 401, 'a member\'s JWS ends with the member\'s sessions')
  t.equal((await orders(bob.token)).statusCode, 200, 'and the WeChat user of that name is untouched')
  // A JWS the bridge did not sign is not the plugin's to judge.
  t.equal((await orders(h.app.jwt.sign({ sub: 'the-app-s-own' }))).statusCode, 200)
  t.same(h.leaks(), [])
})

t.test('jwtTrusted trusts every JWS where no revocation is kept, or no fastify-weapp is registered', async (t) => {
  const h = await harness(t, { plugin: { jwt: true }, async before (app) { await app.register(fastifyJwt, { secret, trusted: jwtTrusted }) } })
  const { token } = await h.login('o-alice') as unknown as { token: string }
  t.equal(h.app.weapp.jwtTrusted(h.app.jwt.decode(token)), true)
  t.equal(jwtTrusted({ server: {} } as never, h.app.jwt.decode(token)), true, 'no fastify-weapp in that context')
  const kept = await harness(t, { plugin: { jwt: true, revocation: 'memory' }, async before (app) { await app.register(fastifyJwt, { secret, trusted: jwtTrusted }) } })
  for (const decoded of [null, 'text', {}, { jti: 'x', lat: 1, aud: APP, platform: 'wecom' }, { jti: 'x', lat: 1, aud: APP, platform: 'wechat' }, { jti: 'x', lat: 1, aud: APP, platform: 'weibo', sub: 'o-alice' }]) {
    t.equal(kept.app.weapp.jwtTrusted(decoded), true, `not a JWS of an ended session: ${JSON.stringify(decoded)}`)
  }
})

t.test('a session healed with a fresh code is the same login: one logout ends the token before the heal too', async (t) => {
  const h = await harness(t, { plugin: { revocation: 'memory', expiresIn: '1h', maxAge: '2h' } })
  const { session } = await h.login('o-alice')
  const before = open(session, KEY).payload
  h.mock.rotateSessionKey('o-alice')
  const healed = await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-alice', { a: 1 }), code: h.mock.login('o-alice') }, session)
  t.equal(healed.statusCode, 200)
  const after = open(healed.json().session, KEY).payload
  t.equal(after.jti, before.jti, 'the same id')
  t.equal(after.lat, before.lat, 'the same login time')
  t.equal((await h.post('/weapp/logout', {}, healed.json().session)).statusCode, 204)
  isError(t, await me(h, session) as never, 401, 'WEAPP_SESSION_REVOKED')
  // A login older than maxAge is not healed (no new login without the login route): log in again.
  const now = Math.floor(Date.now() / 1000)
  const ancient = forge(KEY, claims(APP, { sub: 'o-bob', sk: h.mock.user('o-bob').sessionKey, jti: 'ancient-jti-0000000000', lat: Date.now() - 3 * 3600_000, iat: now - 60, exp: now + 600 }))
  const exchanges = h.mock.callsTo('/sns/jscode2session').length
  t.ok(exchanges > 0, 'the heal above exchanged its code')
  const fresh = await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-bob', { a: 1 }), code: h.mock.login('o-bob') }, ancient)
  isError(t, fresh, 401, 'WEAPP_SESSION_EXPIRED')
  t.notOk(fresh.json().session, 'no session')
  t.equal(h.mock.callsTo('/sns/jscode2session').length, exchanges, 'and the code was not spent')
  // Near maxAge, the heal lasts only what the login has left.
  const late = forge(KEY, claims(APP, { sub: 'o-carol', sk: h.mock.user('o-carol').sessionKey, jti: 'late-jti-0000000000000', lat: Date.now() - 110 * 60_000, iat: now - 60, exp: now + 600 }))
  const capped = await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-carol', { a: 1 }), code: h.mock.login('o-carol') }, late)
  const said = capped.json().expiresIn as number
  t.ok(said <= 600 && said >= 598, `expiresIn ${said}: what is left before maxAge`)
  t.equal(open(capped.json().session, KEY).payload.exp, Math.floor(Date.now() / 1000) + said)
})
