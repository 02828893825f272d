// The example app: fastify-weapp, one route protected by the plugin's hook, and one protected by
// the app's own @fastify/jwt (which mini-program users reach through the jwt bridge).
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyWeapp, { jwtTrusted } from 'fastify-weapp'

/**
 * @param {{ apps: import('fastify-weapp').WeappAppConfig[], key: string | string[], jwtSecret: string, apiBaseUrl?: string, logger?: boolean | object }} options
 */
export async function buildServer ({ apps, key, jwtSecret, apiBaseUrl, logger = false }) {
  const app = Fastify({ logger })

  // The app's own JWT auth, registered first: with `jwt: true` the login route also answers a
  // `token` signed by it, so existing request.jwtVerify() routes accept mini-program users.
  // Its JWSs name their app (aud = appId): allowedAud refuses any other's. jwtTrusted refuses the
  // JWS of a session that was logged out or revoked (no I/O: the plugin's revocations in memory).
  await app.register(fastifyJwt, { secret: jwtSecret, verify: { allowedAud: apps.map((a) => a.appId) }, trusted: jwtTrusted })

  // POST /weapp/login, /weapp/decrypt and /weapp/phone, plus app.weapp.*, for every mini program
  // in `apps` (one, or several: each login says which, and each session remembers it).
  // Shown with their defaults: at most 32 keep-alive sockets to each upstream (a morning burst of
  // logins waits for one, under `timeout`, instead of opening a socket each), and 10000 sessions
  // remembered per process (from their second request on). revocation: 'memory' adds POST
  // /weapp/logout for this one process; a fleet gives it an ioredis client ({ redis }).
  await app.register(fastifyWeapp, { apps, key, apiBaseUrl, jwt: { expiresIn: '1h' }, revocation: 'memory', upstreamConnections: 32, timeout: 5000, sessionCacheSize: 10000 })

  // An app route protected by the plugin's hook: who is calling? A WeChat user (openid), or a
  // WeCom member (corpId + userId) of a WeCom app.
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => {
    const session = request.weappSession
    const who = session.platform === 'wecom'
      ? { corpId: session.corpId, userId: session.userId }
      : { openid: session.openid, unionid: session.unionid }
    return { appId: session.appId, ...who, sessionExpiresAt: new Date(session.expiresAt).toISOString() }
  })

  // An existing route of the app that knows nothing of WeChat: @fastify/jwt as usual. Its data is
  // keyed by the app and the subject together: an openid is per app, and a WeCom member's subject
  // (corpId:userId) never reads like one.
  app.get('/orders', async (request) => {
    await request.jwtVerify()
    const { aud, sub, platform } = request.user
    return { owner: `${aud}:${sub}`, platform, orders: [] }
  })

  return app
}
