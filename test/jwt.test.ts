import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import t, { type Test } from 'tap'
import weapp from '../lib/index.js'
import { harness, KEY } from './fixtures/app.js'
import { open } from './fixtures/jwe.js'

const secret = 'a-test-secret-for-the-app-jwt-0123456789'

/** The JWS expires with its session: never later, and at most the second the login straddled earlier. */
function expiresWith (t: Test, exp: number, session: string, name = 'the JWS expires with its session'): void {
  const sessionExp = open(session, KEY).payload.exp as number
  t.ok(exp <= sessionExp && exp >= sessionExp - 1, `${name}: JWS exp ${exp}, session exp ${sessionExp}`)
}

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
  t.same(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'jti', 'lat', 'platform', 'sub', 'unionid'])
  const sealed = open(body.session, KEY).payload
  t.match(payload, { sub: 'o-alice', unionid: 'u-alice', aud: h.mock.appId, platform: 'wechat', jti: sealed.jti, lat: sealed.lat }, "the session's id and login time")
  expiresWith(t, payload.exp as number, body.session)
  t.notOk(JSON.stringify(payload).includes(h.mock.user('o-alice').sessionKey), 'never the session_key')
  const plain = await h.login('o-bob') as { token?: string }
  t.notOk('unionid' in (h.app.jwt.decode(plain.token ?? '') as object))
  t.same(h.leaks(), [])
})

t.test('jwt: sign options are passed on; a shorter expiresIn is kept, a longer one capped at the session', async (t) => {
  const h = await harness(t, { plugin: { jwt: { expiresIn: '1h', iss: 'shop', aud: 'ignored' } }, async before (app) { await app.register(fastifyJwt, { secret }) } })
  const { token } = await h.login('o-alice') as { token?: string }
  const { iat, exp, iss, aud } = h.app.jwt.decode(token ?? '') as { iat: number, exp: number, iss: string, aud: string }
  t.equal(exp - iat, 3600)
  t.equal(iss, 'shop')
  t.equal(aud, h.mock.appId, 'aud is always the appId')

  for (const [plugin, jwtOptions] of [
    [{ jwt: { expiresIn: 30 * 86400 }, expiresIn: 600 }, {}],
    [{ jwt: true, expiresIn: '10m' }, { sign: { expiresIn: '30d' } }], // @fastify/jwt's own default is longer
    [{ jwt: { expiresIn: '2h' }, expiresIn: 600 }, { sign: { expiresIn: '30d' } }]
  ] as const) {
    const h2 = await harness(t, { plugin: plugin as never, async before (app) { await app.register(fastifyJwt, { secret, ...jwtOptions }) } })
    const body = await h2.login('o-alice') as { token?: string, session: string }
    const claims = h2.app.jwt.decode(body.token ?? '') as { exp: number }
    expiresWith(t, claims.exp, body.session, `${JSON.stringify(plugin)} with ${JSON.stringify(jwtOptions)}`)
  }
})

t.test('jwt: the JWS names its app, and another app\'s allowedAud refuses it', async (t) => {
  const h = await harness(t, {
    plugin: { jwt: true },
    async before (app) {
      await app.register(fastifyJwt, { secret })
      app.get('/mine', async (request) => { await request.jwtVerify({ allowedAud: 'wx0123456789abcdef' }); return { ok: true } })
      app.get('/theirs', async (request) => { await request.jwtVerify({ allowedAud: 'wxfedcba9876543210' }); return { ok: true } })
    }
  })
  const { token } = await h.login('o-alice') as { token?: string }
  const auth = { authorization: `Bearer ${token ?? ''}` }
  t.equal((await h.app.inject({ url: '/mine', headers: auth })).statusCode, 200)
  const theirs = await h.app.inject({ url: '/theirs', headers: auth })
  t.equal(theirs.statusCode, 401)
  t.equal(theirs.json().code, 'FST_JWT_AUTHORIZATION_TOKEN_INVALID')
})

t.test('no token without the option', async (t) => {
  const h = await harness(t, { async before (app) { await app.register(fastifyJwt, { secret }) } })
  t.notOk('token' in await h.login('o-alice'))
})

t.test('registration fails clearly without @fastify/jwt, or with a bad value', async (t) => {
  for (const [jwt, message] of [[true, /register it before fastify-weapp/], ['yes', /jwt must be/], [[1], /jwt must be/], [{ expiresIn: 'forever' }, /jwt.expiresIn/], [{ expiresIn: 0 }, /jwt.expiresIn/]] as const) {
    const app = Fastify()
    app.register(weapp, { appId: 'wx1', appSecret: 's', key: KEY, jwt: jwt as never })
    await t.rejects(async () => { await app.ready() }, { code: 'WEAPP_INVALID_OPTION', message }, String(jwt))
    await app.close()
  }
})
