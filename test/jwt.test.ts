import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import t from 'tap'
import weapp from '../lib/index.js'
import { harness, KEY } from './fixtures/app.js'

const secret = 'a-test-secret-for-the-app-jwt-0123456789'

t.test('jwt: true: login also answers a JWS the app\'s request.jwtVerify() accepts', async (t) => {
  const h = await harness(t, {
    plugin: { jwt: true },
    async before (app) {
      await app.register(fastifyJwt, { secret })
      app.get('/orders', async (request) => {
        await request.jwtVerify()
        return { owner: (request.user as { sub: string }).sub }
      })
    }
  })
  const body = await h.login('o-alice', 'u-alice') as { token?: string, session: string }
  t.type(body.token, 'string')
  const res = await h.app.inject({ url: '/orders', headers: { authorization: `Bearer ${body.token ?? ''}` } })
  t.same(res.json(), { owner: 'o-alice' })
  const payload = h.app.jwt.decode(body.token ?? '') as Record<string, unknown>
  t.same(Object.keys(payload).sort(), ['iat', 'sub', 'unionid'])
  t.match(payload, { sub: 'o-alice', unionid: 'u-alice' })
  t.notOk(JSON.stringify(payload).includes(h.mock.user('o-alice').sessionKey), 'never the session_key')
  const plain = await h.login('o-bob') as { token?: string }
  t.notOk('unionid' in (h.app.jwt.decode(plain.token ?? '') as object))
  t.same(h.leaks(), [])
})

t.test('jwt: sign options are passed on', async (t) => {
  const h = await harness(t, { plugin: { jwt: { expiresIn: '1h' } }, async before (app) { await app.register(fastifyJwt, { secret }) } })
  const { token } = await h.login('o-alice') as { token?: string }
  const { iat, exp } = h.app.jwt.decode(token ?? '') as { iat: number, exp: number }
  t.equal(exp - iat, 3600)
})

t.test('no token without the option', async (t) => {
  const h = await harness(t, { async before (app) { await app.register(fastifyJwt, { secret }) } })
  t.notOk('token' in await h.login('o-alice'))
})

t.test('registration fails clearly without @fastify/jwt, or with a bad value', async (t) => {
  for (const [jwt, message] of [[true, /register it before fastify-weapp/], ['yes', /jwt must be/], [[1], /jwt must be/]] as const) {
    const app = Fastify()
    app.register(weapp, { appId: 'wx1', appSecret: 's', key: KEY, jwt: jwt as never })
    await t.rejects(async () => { await app.ready() }, { code: 'WEAPP_INVALID_OPTION', message }, String(jwt))
    await app.close()
  }
})
