import t from 'tap'
import { harness, isError, KEY } from './fixtures/app.js'
import { claims, forge } from './fixtures/jwe.js'

t.test('authenticate sets request.weappSession; null before', async (t) => {
  let seenBefore: unknown = 'unset'
  const h = await harness(t, {
    before (app) {
      app.get('/open', async (request) => {
        seenBefore = request.weappSession
        return { ok: true }
      })
      app.get('/pre', { preHandler: async (req, reply) => { await app.weapp.authenticate(req, reply) } }, async (request) => ({ openid: request.weappSession?.openid }))
    }
  })
  await h.app.inject({ url: '/open' })
  t.equal(seenBefore, null)
  const { session } = await h.login('o-alice', 'u-alice')
  const me = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })
  t.equal(me.statusCode, 200)
  const body = me.json()
  t.equal(body.openid, 'o-alice')
  t.equal(body.unionid, 'u-alice')
  t.ok(body.expiresAt > Date.now())
  const pre = await h.app.inject({ url: '/pre', headers: { authorization: `Bearer ${session}` } })
  t.same(pre.json(), { openid: 'o-alice' }, 'works as a preHandler too')
})

t.test('the scheme is case-insensitive; spacing is forgiven', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-1')
  for (const header of [`Bearer ${session}`, `bearer ${session}`, `BEARER  ${session}`, `Bearer ${session} `]) {
    t.equal((await h.app.inject({ url: '/me', headers: { authorization: header } })).statusCode, 200, JSON.stringify(header.slice(0, 8)))
  }
})

t.test('missing sessions: 401 WEAPP_SESSION_MISSING with WWW-Authenticate', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-1')
  for (const headers of [{}, { authorization: '' }, { authorization: 'Bearer' }, { authorization: 'Bearer ' }, { authorization: `Basic ${session}` }, { authorization: session }, { cookie: `session=${session}` }]) {
    const res = await h.app.inject({ url: '/me', headers })
    isError(t, res, 401, 'WEAPP_SESSION_MISSING')
    t.equal(res.headers['www-authenticate'], 'Bearer')
  }
})

t.test('invalid and expired sessions', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-1')
  for (const token of ['abc', `${session}x`, session.replace(/\.[^.]+$/, '.AAAAAAAAAAAAAAAAAAAAAA'), forge(KEY, claims('wxother'))]) {
    const res = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    isError(t, res, 401, 'WEAPP_SESSION_INVALID')
    t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
  }
  const expired = forge(KEY, claims(h.mock.appId, { exp: Math.floor(Date.now() / 1000) - 1 }))
  isError(t, await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${expired}` } }), 401, 'WEAPP_SESSION_EXPIRED')
  t.same(h.leaks(), [])
})

t.test('a genuine session only jose opens (a header the plugin does not write) is authenticated once jose says so', async (t) => {
  const h = await harness(t)
  // The same members in another order: the fast path knows only the plugin's own header and leaves it to jose.
  const kid = (JSON.parse(Buffer.from((await h.login('o-1')).session.split('.')[0] as string, 'base64url').toString()) as { kid: string }).kid
  const token = forge(KEY, claims(h.mock.appId, { sub: 'o-elsewhere' }), { header: { enc: 'A256GCM', alg: 'dir', kid } })
  const res = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().openid, 'o-elsewhere')
  const again = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(again.json().openid, 'o-elsewhere', 'and again (the memo takes it from its second use)')
  t.same(h.leaks(), [])
})

t.test('works as an app-wide hook with the routes still reachable where not hooked', async (t) => {
  const h = await harness(t, {
    async before (app) {
      await app.register(async (scope) => {
        scope.addHook('onRequest', async (req, reply) => { await scope.weapp.authenticate(req, reply) })
        scope.get('/private/orders', async (req) => ({ owner: req.weappSession?.openid }))
      })
    }
  })
  isError(t, await h.app.inject({ url: '/private/orders' }), 401, 'WEAPP_SESSION_MISSING')
  const { session } = await h.login('o-7')
  t.same((await h.app.inject({ url: '/private/orders', headers: { authorization: `Bearer ${session}` } })).json(), { owner: 'o-7' })
})
