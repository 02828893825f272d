import t from 'tap'
import { harness, isError, KEY, OTHER_KEY } from '../fixtures/app.js'
import { claims, forge, hostileTokens } from '../fixtures/jwe.js'

t.test('forged and damaged sessions are 401 on app routes and on /decrypt, and leak nothing', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const body = h.mock.encrypt('o-alice', { a: 1 })
  for (const [name, token] of hostileTokens(session, KEY, OTHER_KEY, h.mock.appId)) {
    const authorization = `Bearer ${String(token)}`
    const expected = token === '' ? 'WEAPP_SESSION_MISSING' : 'WEAPP_SESSION_INVALID'
    const me = await h.app.inject({ url: '/me', headers: { authorization } })
    isError(t, me, 401, expected)
    const decrypt = await h.app.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization }, payload: body })
    t.equal(decrypt.body, me.body, `${name}: the same answer on /decrypt`)
  }
  const invalid = new Set(h.replies.filter((r) => r.includes('WEAPP_SESSION_INVALID')))
  t.equal(invalid.size, 1, 'one message for every invalid token')
  t.same(h.leaks(), [])
})

t.test('an expired genuine session is WEAPP_SESSION_EXPIRED everywhere', async (t) => {
  const h = await harness(t)
  const expired = forge(KEY, claims(h.mock.appId, { exp: Math.floor(Date.now() / 1000) - 60 }))
  isError(t, await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${expired}` } }), 401, 'WEAPP_SESSION_EXPIRED')
  isError(t, await h.post('/weapp/decrypt', h.mock.encrypt('o-forged', {}), expired), 401, 'WEAPP_SESSION_EXPIRED')
})

t.test('a short expiresIn really expires', async (t) => {
  const h = await harness(t, { plugin: { expiresIn: 3 } })
  const { session } = await h.login('o-1')
  // exp = iat + 3 with iat in whole seconds: valid for at least 2 s, whatever the clock's fraction,
  // so a loaded machine cannot expire it before this first request.
  const sealedBy = Math.floor(Date.now() / 1000) + 3
  t.equal((await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } })).statusCode, 200)
  await new Promise((resolve) => setTimeout(resolve, sealedBy * 1000 - Date.now() + 50)) // just past exp
  isError(t, await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${session}` } }), 401, 'WEAPP_SESSION_EXPIRED')
})

t.test('non-bearer schemes and malformed headers are WEAPP_SESSION_MISSING', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-1')
  for (const authorization of [`Basic ${session}`, `Token ${session}`, `Digest ${session}`, `Bearer${session}`, `Bearer: ${session}`, `Bearer ${session} extra`, `Bearer ${session},Bearer ${session}`.replace(',', ', '), 'Bearer\t', ' ']) {
    isError(t, await h.app.inject({ url: '/me', headers: { authorization } }), 401, 'WEAPP_SESSION_MISSING')
  }
})
