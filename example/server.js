// The example app: fastify-weapp, one route protected by the plugin's hook, and one protected by
// the app's own @fastify/jwt (which mini-program users reach through the jwt bridge).
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyWeapp, { jwtTrusted } from 'fastify-weapp'
import { openUsers } from './users.js'

/** Session lifetime (seconds): the link route answers it with the sessions it seals. */
const EXPIRES_IN = 7 * 86400

/**
 * @param {{ apps: import('fastify-weapp').WeappAppConfig[], key: string | string[], jwtSecret: string, apiBaseUrl?: string, logger?: boolean | object, linkOnly?: string[] }} options
 * `linkOnly`: apps whose users must already have an account (the merchant app): a new user of
 * theirs links to one (by phone number) instead of getting a new one.
 */
export async function buildServer ({ apps, key, jwtSecret, apiBaseUrl, logger = false, linkOnly = [] }) {
  const app = Fastify({ logger })
  const users = await openUsers()
  app.addHook('onClose', async () => { await users.close() })

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
  // onLogin maps the platform's user to the app's own (unionid first, keyed with its platform: each
  // vendor's unionids are their own), and seals the app's claims in the session: routes read
  // request.weappSession.claims with no lookup. onRenew refreshes them (new roles) or ends the
  // session of a banned user when a renewal is due.
  await app.register(fastifyWeapp, {
    apps,
    key,
    apiBaseUrl,
    expiresIn: EXPIRES_IN,
    renewWithin: '1d',
    jwt: { expiresIn: '1h', claims: ['userId'] }, // the JWS carries the app's user id (readable by the client)
    // Logout (and a ban's revokeUser) also resets the user's session_key, at most once per user per
    // 10 minutes: a copied session token's sealed key decrypts nothing more.
    revocation: { memory: true, resetSessionKey: true },
    // Sessions per device: at most 5 per user, and one per device type (the client sends its
    // runtime and the system's platform, such as 'wx:ios'): a login on a second iPhone ends the
    // first one's session (401 WEAPP_SESSION_KICKED there: "you signed in on another device").
    maxSessions: 5,
    oneSessionPer: 'device',
    upstreamConnections: 32,
    timeout: 5000,
    sessionCacheSize: 10000,
    userSchema: { type: 'object', properties: { id: { type: 'integer' }, isNew: { type: 'boolean' }, roles: { type: 'array', items: { type: 'string' } } } },
    async onLogin ({ app: { appId }, identity }) {
      const user = await users.find(identity)
      if (user?.banned) return { refuse: 'This account is suspended; write to support@example.com' }
      if (user !== undefined) return { claims: users.claims(user), answer: { id: user.id, isNew: false, roles: user.roles } }
      if (linkOnly.includes(appId)) return { link: true } // an existing account only: the page asks for a phone number
      const created = await users.create(identity)
      return { claims: users.claims(created), answer: { id: created.id, isNew: true, roles: created.roles } }
    },
    async onRenew ({ session }) {
      if (session.claims.userId === undefined) return undefined
      const user = await users.byId(session.claims.userId)
      return user === undefined || user.banned ? { end: true } : { claims: users.claims(user) }
    }
  })

  // The customer app records the user's phone number (from <button open-type="getPhoneNumber">).
  app.post('/account/phone', { onRequest: app.weapp.authenticate, schema: { body: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } } } }, async (request) => {
    const { appId, openid, claims } = app.weapp.sessionOf(request)
    const phone = await (await app.weapp.app(appId)).getPhoneNumber(request.body.code, openid)
    await users.setPhone(claims.userId, phone.purePhoneNumber)
    return { phoneNumber: phone.phoneNumber }
  })

  // The merchant app's link route: after a 409 WEAPP_LINK_REQUIRED the page asks for the phone
  // number, and the account with that number gets this identity too (and the merchant role).
  app.post('/link', { schema: { body: { type: 'object', required: ['linkToken', 'code'], properties: { linkToken: { type: 'string' }, code: { type: 'string' } } } } }, async (request, reply) => {
    const identity = await app.weapp.redeemLink(request.body.linkToken) // 401 WEAPP_LINK_* if not a fresh link token
    const blocks = await app.weapp.app(identity.appId)
    const phone = await blocks.getPhoneNumber(request.body.code, identity.openid)
    const found = await users.byPhone(phone.purePhoneNumber)
    if (found === undefined) return await reply.code(404).send({ code: 'NO_ACCOUNT', message: 'No account has this phone number: sign up in the customer app first' })
    if (found.banned) return await reply.code(403).send({ code: 'WEAPP_LOGIN_REFUSED', message: 'This account is suspended; write to support@example.com' })
    await users.addIdentity(found.id, identity)
    const user = await users.addRole(found.id, 'merchant')
    const session = await blocks.seal(identity, { claims: users.claims(user) })
    return { session, expiresIn: EXPIRES_IN, user: { id: user.id, isNew: false, roles: user.roles } }
  })

  // Bans a user: later logins are refused (onLogin), and their sessions end now on this process.
  app.decorate('banUser', async (userId) => {
    for (const { app_id: appId, subject } of await users.ban(userId)) {
      const [corpId, memberId] = subject.split(':')
      await app.weapp.revokeUser(memberId === undefined ? { openid: subject, appId } : { corpId, userId: memberId, appId })
    }
  })

  // An app route protected by the plugin's hook: who is calling? A WeChat user (openid), or a
  // WeCom member (corpId + userId) of a WeCom app.
  // The encrypted channel: the mini program encrypts with the user's encrypt key (client.encrypt()),
  // this route opens it with the key of that version (WEAPP_DECRYPT_FAILED for anything else).
  app.post('/tips', { onRequest: app.weapp.authenticate, schema: { body: { type: 'object', required: ['version', 'iv', 'encryptedData'], properties: { version: { type: 'integer' }, iv: { type: 'string' }, encryptedData: { type: 'string' } } } } }, async (request) => {
    const session = app.weapp.sessionOf(request)
    const tip = await (await app.weapp.app(session.appId)).openEncrypted(session, request.body)
    return { received: tip }
  })

  // "My devices": the caller's sessions in this app, and ending one of them.
  app.get('/me/devices', { onRequest: app.weapp.authenticate }, async (request) => {
    const { openid, appId, jti } = app.weapp.sessionOf(request)
    const sessions = await app.weapp.listSessions({ openid, appId })
    return sessions.map((s) => ({ id: s.jti, device: s.device ?? 'unknown', since: new Date(s.loginAt).toISOString(), current: s.jti === jti }))
  })
  app.delete('/me/devices/:id', { onRequest: app.weapp.authenticate }, async (request, reply) => {
    const { openid, appId } = app.weapp.sessionOf(request)
    // Only the caller's own sessions: a session id is an id, not a permission.
    const mine = await app.weapp.listSessions({ openid, appId })
    if (!mine.some((s) => s.jti === request.params.id)) return await reply.code(404).send({ code: 'NO_SUCH_DEVICE', message: 'None of your sessions has this id' })
    await app.weapp.revoke(request.params.id)
    return await reply.code(204).send()
  })

  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => {
    const session = request.weappSession
    const who = session.platform === 'wecom'
      ? { corpId: session.corpId, userId: session.userId }
      : { openid: session.openid, unionid: session.unionid }
    return { appId: session.appId, ...who, user: session.claims, sessionExpiresAt: new Date(session.expiresAt).toISOString() }
  })

  // An existing route of the app that knows nothing of WeChat: @fastify/jwt as usual. Its data is
  // keyed by the app's own user id, which the JWS carries (jwt.claims); a JWS without it would be
  // keyed by the app and the subject together (an openid is per app).
  app.get('/orders', async (request) => {
    await request.jwtVerify()
    const { aud, sub, platform, claims } = request.user
    return { owner: claims?.userId ?? `${aud}:${sub}`, platform, orders: [] }
  })

  return app
}
