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
