import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createRegistry, type App } from './apps.js'
import { memoryOnce, type Once } from './once.js'
import { aboutSession, InvalidOptionError, LinkExpiredError, SessionEndedError, SessionExpiredError, SessionKickedError, SessionMissingError, SessionRevokedError } from './errors.js'
import { decideRenewal } from './hooks.js'
import { memoryRevocations, redisRevocations, userKey, type RevokedUser, type Revocations, type SessionRef, type TrackedLogin } from './revocation/index.js'
import { createHttp } from './upstream/http.js'
import { buildSettings, cleartextWarnings, type FastifyWeappOptions } from './options.js'
import { routes } from './routes.js'
import { claimsObject, claimsText, createSessionCodec, randomJti, sessionClaims, type AnyIdentity, type AnySession, type SessionCodec } from './session.js'
import { users, type IdentityOf, type SessionOf } from './platforms/index.js'
import type { WeappApi, WeappAppApi } from './api.js'

export type { WeappApi, WeappAppApi } from './api.js'
import { decryptUserData, verifySignature } from './user-data.js'
import { createChannel } from './user-keys.js'
import { keyedBudget, userBudgetKey, userFailureBudget, type FailureBudget } from './failure-budget.js'
import { MAX_SESSIONS, deviceLabel, type SessionLimits } from './revocation/index.js'
import { UnsupportedError } from './errors.js'
import { isStaleSessionKey, type SessionKeyApi } from './platforms/platform.js'

/** The names of the session_key and user APIs, the building blocks of `SessionKeyApi`. */
const SESSION_KEY_APIS = ['resetUserSessionKey', 'getUserEncryptKey', 'getPluginOpenPId', 'getPaidUnionid', 'getUserRiskRank', 'checkEncryptedData'] as const

/** An app's session_key APIs, or ones that reject `WEAPP_UNSUPPORTED` where its platform has none. */
function sessionKeysOf (app: App): SessionKeyApi {
  if (app.sessionKeys !== undefined) return app.sessionKeys
  const none = (name: string) => async (): Promise<never> => {
    throw new UnsupportedError(`Mini program ${app.appId} is a ${app.platform.title} one: ${app.platform.title} has no ${name} here`)
  }
  return Object.fromEntries(SESSION_KEY_APIS.map((name) => [name, none(name)])) as unknown as SessionKeyApi
}

/**
 * Declares which kinds of session your apps issue. Empty by default: every app's users are openids
 * (`WeappSession` has `openid` as a string). With apps whose users are members of a company, say so
 * once (`declare module 'fastify-weapp' { interface WeappSessionTypes { … } }`, see the README's
 * TypeScript section) and the session becomes a union to narrow on `platform`.
 */
export interface WeappSessionTypes {}

/**
 * The app's own claims, as `onLogin` seals them and `request.weappSession.claims` reads them back.
 * Empty by default (any object); declare yours once, the way @fastify/jwt's `FastifyJWT` types
 * `request.user`: `declare module 'fastify-weapp' { interface WeappClaims { userId: number, roles: string[] } }`.
 * A session sealed without claims reads `{}`: make a member optional where some sessions lack it.
 */
export interface WeappClaims {}

/** Who is calling, as the session says (a union of the kinds `WeappSessionTypes` declares), with the app's claims. */
export type WeappSession = SessionOf<WeappSessionTypes> & {
  /** The app's claims from `onLogin` (or `onRenew`, or `seal(identity, { claims })`), frozen; `{}` for none. */
  readonly claims: Readonly<WeappClaims>
  /** The login's device label (the login body's `device`), kept through renewals; absent where it sent none. */
  readonly device?: string
}
/** What a login yields and a session holds. */
export type WeappIdentity = IdentityOf<WeappSessionTypes>

/** What a session says of its user, without its key, times or claims: `onLogin`'s identity, a login answer's ids. */
type UserOf<S> = S extends unknown ? Omit<S, 'sessionKey' | 'expiresAt' | 'jti' | 'loginAt'> : never
/** Who logged in, as `onLogin` is told: platform, appId and the platform's ids; never the session_key. */
export type WeappLoginIdentity = UserOf<SessionOf<WeappSessionTypes>>
/** What `fastify.weapp.redeemLink()` gives back: the identity of the login that needed a link, ready for `seal()`. */
export type WeappLinkedIdentity = WeappLoginIdentity & { readonly sessionKey: string }
/** The login route's answer (200). `U` is what `onLogin` answers as `user`. */
export type WeappLoginAnswer<U = Record<string, unknown>> = (WeappLoginIdentity extends infer I ? I extends unknown ? Omit<I, 'platform'> : never : never) & {
  /** Send back as `Authorization: Bearer <session>`. */
  session: string
  /** Seconds until the session expires. */
  expiresIn: number
  /** With the jwt option: the JWS from the app's @fastify/jwt. */
  token?: string
  /** What `onLogin` answered, if anything. */
  user?: U
}
/** The login route's 409 when `onLogin` asked for a link. */
export interface WeappLinkRequired {
  statusCode: 409
  code: 'WEAPP_LINK_REQUIRED'
  error: string
  message: string
  /** For the app's own route: `fastify.weapp.redeemLink(linkToken)`. */
  linkToken: string
  /** Seconds the link token may be redeemed in. */
  expiresIn: number
}

const BEARER = /^Bearer +([^\s]+) *$/i
/** Where authenticate leaves a session that is due for renewal, for the reply to carry. */
const kRenew = Symbol('fastify-weapp.renew')
/** Set where authenticate asked `onRenew` in this request: its decision is in the request's session. */
const kAsked = Symbol('fastify-weapp.asked')
/** Cache-Control that lets a shared cache keep the reply: no session rides on it. */
const SHARED_CACHE = /\b(?:public|s-maxage)\b/i

/**
 * Whether a JWS of the jwt bridge names a session that was ended. A JWS the bridge did not sign
 * (no `jti`, `lat` and `platform`) is not the plugin's to judge.
 */
function isRevokedJws (revocations: Revocations, decoded: unknown): boolean {
  if (decoded === null || typeof decoded !== 'object') return false
  const { jti, lat, aud } = decoded as Record<string, unknown>
  if (typeof jti !== 'string' || typeof lat !== 'number' || typeof aud !== 'string') return false
  const user = users.userOfJws(decoded as Record<string, unknown>)
  return user !== undefined && revocations.isRevoked({ jti, loginAt: lat, appId: aud, ...user } as unknown as SessionRef)
}

/**
 * @fastify/jwt's `trusted` option for routes that `request.jwtVerify()` the bridge's JWS: refuses
 * (401 `FST_JWT_AUTHORIZATION_TOKEN_UNTRUSTED`) the JWS of a session that was logged out or revoked.
 * `app.register(fastifyJwt, { secret, trusted: jwtTrusted })`. No I/O: the revocations in memory.
 */
export function jwtTrusted (request: FastifyRequest, decoded: unknown): boolean {
  const weapp = (request.server as { weapp?: WeappApi }).weapp
  return weapp === undefined || weapp.jwtTrusted(decoded)
}

/** The identity a session holds, to seal its renewal. */
const identityOf = (session: AnySession): AnyIdentity => users.identityOf(session as unknown as Parameters<typeof users.identityOf>[0]) as unknown as AnyIdentity

/** The revocation entry of a user, or a TypeError that says what to give. */
function revokedUserKey (user: RevokedUser, who = 'revokeUser'): string {
  const given = user as Partial<Record<'openid' | 'appId' | 'corpId' | 'userId', unknown>> | null
  const isId = (v: unknown): v is string => typeof v === 'string' && v !== ''
  if (given !== null && typeof given === 'object' && (given.appId === undefined || isId(given.appId))) {
    if (isId(given.openid) && given.corpId === undefined) return userKey(given.appId, { openid: given.openid })
    if (isId(given.corpId) && isId(given.userId) && isId(given.appId)) return userKey(given.appId, { corpId: given.corpId, userId: given.userId })
  }
  throw new TypeError(`${who}(user) needs { openid, appId? } (without appId: that openid in every app) or { corpId, userId, appId }`)
}

const JTI = /^[A-Za-z0-9_-]{22}$/
/** The limits of an index kept without maxSessions or oneSessionPer: its bound alone. */
const UNCAPPED: SessionLimits = Object.freeze({ maxSessions: MAX_SESSIONS, oneSessionPer: undefined })
const NO_INDEX = "needs the revocation option ('memory', or { redis } with an ioredis client): the index of each user's sessions is kept there"
const NO_REVOCATION = "needs the revocation option ('memory', or { redis } with an ioredis client): without it sessions end only when they expire"

/** The bearer token of an Authorization header, or undefined when there is none. */
function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  return BEARER.exec(header)?.[1]
}

/** What every app's building blocks share: the codec, and the index of sessions per user where there is one. */
interface Shared {
  sessions: SessionCodec
  watermarkMaxAge: number
  /** seconds */
  expiresIn: number
  track: ((login: TrackedLogin) => Promise<void>) | undefined
  /** The per-user budget of failures (`decryptFailureLimit`) the routes count against, or undefined for none. */
  failures?: FailureBudget | undefined
}

/** The building blocks of one app, on the shared codec. */
function appApi (app: App, { sessions, watermarkMaxAge, expiresIn, track, failures }: Shared): WeappAppApi {
  const decryptOptions = { appId: app.appId, watermarkMaxAge }
  const keys = sessionKeysOf(app)
  return Object.freeze({
    resetUserSessionKey: keys.resetUserSessionKey,
    getUserEncryptKey: keys.getUserEncryptKey,
    getPluginOpenPId: keys.getPluginOpenPId,
    getPaidUnionid: keys.getPaidUnionid,
    getUserRiskRank: keys.getUserRiskRank,
    checkEncryptedData: keys.checkEncryptedData,
    // The channel's failures count against the user's budget of the routes (the same key as theirs).
    openEncrypted: createChannel(keys, { failures: keyedBudget(failures, (openid) => userBudgetKey(app.appId, users.userOf(app.platform.users, { openid }))) }),
    appId: app.appId,
    kind: app.kind,
    code2Session: app.code2Session as WeappAppApi['code2Session'],
    seal: async (identity: WeappIdentity | WeappLinkedIdentity, options?: { claims?: WeappClaims, device?: string }) => {
      // A session holds a user of its app's platform, and says which platform, whatever the identity given says.
      const own = app.platform.users
      const given = identity !== null && typeof identity === 'object' ? identity as { platform?: unknown } : undefined
      // The identity's shape: its platform's where it names one, else the one its fields make.
      const shape = given === undefined ? undefined : typeof given.platform === 'string' ? users.ofPlatform(given.platform) : users.ofIdentity({ ...given, platform: undefined })
      if (given !== undefined && shape?.fields !== own.fields) {
        throw new TypeError(`seal(identity): app ${app.appId} is a ${app.platform.title} app: give ${own.gives}`)
      }
      // An openid is a user of one app: a link token's identity seals for the app it came from.
      const from = (identity as { appId?: unknown } | null)?.appId
      if (from !== undefined && from !== app.appId) {
        throw new TypeError(`seal(identity): the identity is a user of ${String(from)}, not of ${app.appId}; seal it with fastify.weapp.app(identity.appId)`)
      }
      const claims = claimsText(options?.claims, 'seal(identity, { claims })')
      const device = deviceLabel(options?.device, 'seal(identity, { device })')
      const id = { jti: randomJti(), loginAt: Date.now(), device }
      const token = sessions.seal({ ...(identity as object), platform: own.platform } as AnyIdentity, app.appId, { ...id, now: id.loginAt }, claims)
      // A session issued here is a login like the route's: indexed, and what it evicts ended.
      if (track !== undefined) {
        const who = users.answerOf(own, identity as unknown as Record<string, unknown>)
        await track({ ...who, ...id, appId: app.appId, platform: own.platform, expiresAt: (Math.floor(id.loginAt / 1000) + expiresIn) * 1000 } as TrackedLogin)
      }
      return token
    },
    decrypt: (sessionKey: string, encryptedData: string, iv: string) => decryptUserData(sessionKey, encryptedData, iv, decryptOptions),
    accessToken: app.accessToken,
    getPhoneNumber: app.getPhoneNumber,
    checkSessionKey: app.checkSessionKey
  })
}

const SEVERAL = "several apps are configured: use fastify.weapp.app(appId) for one app's building blocks"

/** The top-level building blocks where several apps are configured: each says to pick an app. */
/** An app's building blocks without what names the app: the top level's, with one app. */
function withoutApp ({ appId: _appId, kind: _kind, ...blocks }: WeappAppApi): Omit<WeappAppApi, 'appId' | 'kind'> {
  return blocks
}

const noSingleApp: Omit<WeappAppApi, 'appId' | 'kind'> = {
  code2Session: async () => { throw new TypeError(`code2Session: ${SEVERAL}`) },
  seal: async () => { throw new TypeError(`seal: ${SEVERAL}`) },
  decrypt: () => { throw new TypeError(`decrypt: ${SEVERAL}`) },
  accessToken: async () => { throw new TypeError(`accessToken: ${SEVERAL}`) },
  getPhoneNumber: async () => { throw new TypeError(`getPhoneNumber: ${SEVERAL}`) },
  checkSessionKey: async () => { throw new TypeError(`checkSessionKey: ${SEVERAL}`) },
  openEncrypted: async () => { throw new TypeError(`openEncrypted: ${SEVERAL}`) },
  ...Object.fromEntries(SESSION_KEY_APIS.map((name) => [name, async () => { throw new TypeError(`${name}: ${SEVERAL}`) }])) as unknown as SessionKeyApi
}

const plugin: FastifyPluginAsync<FastifyWeappOptions> = async function fastifyWeapp (fastify, options) {
  if (fastify.hasDecorator('weapp')) {
    throw new InvalidOptionError('fastify-weapp is already registered in this context: serve several mini programs with one registration (the apps option), or give each registration its own encapsulated context with app.register(async (child) => { ... })')
  }
  const settings = buildSettings(options)
  for (const warning of cleartextWarnings(settings.apiBaseUrl)) fastify.log.warn(warning)
  if (settings.jwt !== undefined && !fastify.hasDecorator('jwt')) {
    throw new InvalidOptionError('jwt needs @fastify/jwt: register it before fastify-weapp (app.register(fastifyJwt, { secret }))')
  }
  // One pooled HTTP client for every upstream this registration calls, closed with the app.
  const http = createHttp(settings.upstreamConnections)
  fastify.addHook('onClose', async () => { await http.close() })
  const revocation = settings.revocation
  let revocations: Revocations | undefined
  // Signed answers accepted once: fleet-wide in Redis where revocation is on it (the store is made
  // below, before any request), else in this process (as `'memory'` revocation is).
  const local = memoryOnce()
  const once: Once = async (name, ms) => revocation?.kind === 'redis' ? await (revocations as Revocations).claim(`once:${name}`, ms) : await local(name, ms)
  const registry = createRegistry(settings.apps, { apiBaseUrl: settings.apiBaseUrl, timeout: settings.timeout, http, once })
  const { renewWithin, maxAge, onRenew } = settings
  // The index of each user's sessions is kept whenever revocation is on (listSessions): without
  // maxSessions or oneSessionPer, bounded at MAX_SESSIONS a user (a login past that ends the oldest).
  const limits = settings.limits ?? (revocation === undefined ? undefined : UNCAPPED)
  const revocationOptions = { maxAge: maxAge * 1000, log: fastify.log, limits }
  if (revocation?.kind === 'memory') revocations = memoryRevocations(revocationOptions)
  if (revocation?.kind === 'redis') {
    revocations = await redisRevocations({ ...revocationOptions, redis: revocation.redis, prefix: revocation.prefix, timeout: settings.timeout, pluginTimeout: fastify.initialConfig.pluginTimeout })
  }
  if (revocations !== undefined) {
    const store = revocations
    fastify.addHook('onClose', async () => { await store.close() })
  }
  const reset = revocation?.resetSessionKey
  /**
   * With `resetSessionKey`, an ended session's user gets a new session_key from its platform (at most once
   * per user per interval, fleet-wide), so the key sealed in a copied token decrypts nothing more. A
   * session without one (anonymous, a member, a platform without the API) has nothing to reset; a
   * failure is logged and never fails what ended the session.
   */
  const resetKeyOf = reset === undefined || revocations === undefined ? async (): Promise<void> => {} : resetWith(revocations, reset.interval)
  function resetWith (store: Revocations, interval: number) {
    return async (session: unknown, log: FastifyBaseLogger): Promise<void> => {
      const { openid, sessionKey, appId } = session as Partial<Record<'openid' | 'sessionKey' | 'appId', unknown>>
      if (typeof openid !== 'string' || typeof appId !== 'string' || typeof sessionKey !== 'string' || sessionKey === '') return
      try {
        const app = await registry.get(appId)
        if (app.sessionKeys === undefined) return
        if (!(await store.claim(`reset:${userKey(appId, { openid })}`, interval))) {
          log.info({ appId }, 'fastify-weapp: this user\'s session_key was reset less than resetSessionKey.interval ago; not reset again')
          return
        }
        await app.sessionKeys.resetUserSessionKey(openid, sessionKey)
      } catch (err) {
        if (isStaleSessionKey(err)) log.info({ appId }, 'fastify-weapp: the ended session\'s session_key is no longer the user\'s; nothing to reset')
        else log.warn({ err, appId }, 'fastify-weapp: the session ended, but its session_key could not be reset; the key sealed in it may still decrypt until the user logs in again')
      }
    }
  }
  const sessions = createSessionCodec({ audience: registry.audience, keys: settings.keys, expiresIn: settings.expiresIn, cacheSize: settings.sessionCacheSize })
  /** The exp (seconds) a renewal at `now` would have, or undefined when it would not outlast the session. */
  function renewedExp (session: AnySession, now: number): number | undefined {
    const exp = Math.min(Math.floor(now / 1000) + settings.expiresIn, Math.floor((session.loginAt + maxAge * 1000) / 1000))
    return exp * 1000 <= session.expiresAt ? undefined : exp
  }
  /**
   * A fresh token for a session near its end (same jti, login time and claims, never past loginAt +
   * maxAge) and the seconds it lasts (its exp as sealed, less now), or undefined when it may not be renewed.
   */
  function renewal (session: AnySession, now: number): { token: string, expiresIn: number } | undefined {
    const exp = renewedExp(session, now)
    if (exp === undefined) return undefined
    const id = { jti: session.jti, loginAt: session.loginAt, notAfter: session.loginAt + maxAge * 1000, now, device: (session as { device?: string }).device }
    const token = sessions.seal(identityOf(session), session.appId, id, sessionClaims(session))
    // The index of the user's sessions learns of it (batched: no network on the request).
    revocations?.touch(session, exp * 1000, now)
    return { token, expiresIn: exp - Math.floor(now / 1000) }
  }
  /** Ends a session `onRenew` ended (revoked where revocation is on): the 401 to throw. */
  async function endedByHook (session: AnySession, request: FastifyRequest, reply: FastifyReply): Promise<Error> {
    reply.header('www-authenticate', 'Bearer error="invalid_token"')
    // With revocation on, ended for good (a retry never asks again); the store being down ends only this request.
    await revocations?.revokeSession(session).catch((err: unknown) => {
      request.log.warn({ err }, 'fastify-weapp: onRenew ended a session that could not be revoked; it ends again when next due')
    })
    return aboutSession(new SessionEndedError(), users.ofPlatform(session.platform))
  }
  /**
   * The claims a heal (`/decrypt { code }`) seals. A heal that issues a later exp than its session's
   * is a renewal, and `onRenew` decides it like any other (asked once a request: where authenticate
   * asked already, its decision is in the session): `{ end }` ends the session, `{ claims }` replaces
   * them. The heal's token is this request's renewal: the reply carries no other (it would hold the
   * rotated session_key).
   */
  async function healClaims (request: FastifyRequest, reply: FastifyReply, session: AnySession, exp: number): Promise<string | undefined> {
    const marks = request as unknown as Record<symbol, unknown>
    marks[kRenew] = undefined
    if (onRenew === undefined || marks[kAsked] === true || exp * 1000 <= session.expiresAt) return sessionClaims(session)
    const outcome = await decideRenewal(onRenew, { session: session as WeappSession, request })
    if (outcome.kind === 'end') throw await endedByHook(session, request, reply)
    return outcome.replaced ? outcome.claims : sessionClaims(session)
  }
  if (renewWithin !== 0) {
    // Renewals ride on the reply, decided when it is sent: only a 2xx of an authenticated route,
    // never one the handler ended the session in (logout), never one a shared cache may keep.
    fastify.addHook('onSend', function renewOnSend (request, reply, payload, done) {
      const session = (request as unknown as Record<symbol, AnySession | undefined>)[kRenew]
      if (session === undefined || reply.statusCode < 200 || reply.statusCode > 299 || revocations?.isRevoked(session) === true) {
        done(null, payload)
        return
      }
      const cacheControl = String(reply.getHeader('cache-control') ?? '')
      if (SHARED_CACHE.test(cacheControl)) {
        done(null, payload)
        return
      }
      // An app removed from the lookup keeps its sessions until they expire, and renews none.
      registry.get(session.appId).then(() => {
        const renewed = renewal(session, Date.now())
        if (renewed !== undefined) {
          reply.header('x-weapp-session', renewed.token)
          reply.header('x-weapp-session-expires-in', String(renewed.expiresIn))
          if (!/\bno-store\b/i.test(cacheControl)) reply.header('cache-control', 'private, no-store')
        }
        done(null, payload)
      }, () => { done(null, payload) })
    })
  }
  /**
   * How a login reaches its user's index. With a cap the index is a promise (what it evicts must end
   * everywhere): a login it could not record is a 503. Without one it only lists sessions, so a login
   * the store could not record is answered all the same, as before the index was kept, and logged.
   */
  function trackerOf (store: Revocations | undefined): Shared['track'] {
    if (store === undefined || limits === undefined) return undefined
    if (settings.limits !== undefined) return store.track
    return async (login) => {
      await store.track(login).catch((err: unknown) => {
        fastify.log.warn({ err, appId: login.appId }, 'fastify-weapp: a login could not be recorded in its user\'s index of sessions; it was answered, and listSessions does not list it')
      })
    }
  }
  const shared: Shared = { sessions, watermarkMaxAge: settings.watermarkMaxAge, expiresIn: settings.expiresIn, track: trackerOf(revocations) }
  // One budget of failures per user, for the routes and openEncrypted alike.
  shared.failures = userFailureBudget(settings.decryptFailureLimit)
  // One API object per app, made once (a looked-up app's lives as long as its App).
  const apis = new WeakMap<App, WeappAppApi>()
  const apiOf = (app: App): WeappAppApi => {
    let api = apis.get(app)
    if (api === undefined) {
      api = appApi(app, shared)
      apis.set(app, api)
    }
    return api
  }
  const single = registry.single === undefined ? noSingleApp : withoutApp(apiOf(registry.single))

  /** A session that was not ended (in memory, no I/O: memo hits and the fast path are checked like everything else). */
  function notEnded (session: AnySession): AnySession {
    if (revocations?.isRevoked(session) === true) throw aboutSession(revocations.isKicked(session.jti) ? new SessionKickedError() : new SessionRevokedError(), users.ofPlatform(session.platform))
    return session
  }

  /** A session that opened and was not ended: at once where it opened at once, else a promise. */
  function open (token: string): AnySession | Promise<AnySession> {
    const opened = sessions.unsealNow(token)
    return opened instanceof Promise ? opened.then(notEnded) : notEnded(opened)
  }

  const api: WeappApi = {
    ...single,
    async authenticate (request, reply) {
      const token = bearerToken(request.headers.authorization)
      if (token === undefined) {
        reply.header('www-authenticate', 'Bearer')
        throw new SessionMissingError()
      }
      let session: AnySession
      try {
        // A session the memo or the fast path opened is here at once: only jose's verdict is awaited.
        let opened = open(token)
        if (opened instanceof Promise) opened = await opened
        session = opened
      } catch (err) {
        reply.header('www-authenticate', 'Bearer error="invalid_token"')
        throw err
      }
      if (renewWithin !== 0 && session.expiresAt - Date.now() < renewWithin * 1000) {
        // The app's say on a renewal, asked only when one is due (and would outlast the session).
        if (onRenew !== undefined && renewedExp(session, Date.now()) !== undefined) {
          const outcome = await decideRenewal(onRenew, { session: session as WeappSession, request })
          if (outcome.kind === 'end') {
            throw await endedByHook(session, request, reply)
          }
          // A heal in this request seals what was decided here: onRenew is asked once a request.
          (request as unknown as Record<symbol, boolean>)[kAsked] = true
          if (outcome.replaced) session = { ...session, claims: claimsObject(outcome.claims) } as unknown as AnySession
        }
        (request as unknown as Record<symbol, AnySession>)[kRenew] = session
      }
      request.weappSession = session as WeappSession
    },
    sessionOf (request) {
      const session = request.weappSession
      if (session === null) throw new TypeError('sessionOf(request): this route does not run fastify.weapp.authenticate; add it (onRequest: fastify.weapp.authenticate)')
      return session
    },
    async redeemLink (linkToken) {
      const link = await sessions.unsealLink(linkToken)
      // Single-use with revocation on: the first redeem on any instance wins, atomically.
      if (revocations !== undefined && !(await revocations.consume(link.jti, link.expiresAt))) throw aboutSession(new LinkExpiredError('was already redeemed'), users.ofPlatform(link.platform), 'was already redeemed')
      const { sessionKey, ...seen } = users.identityOf(link as unknown as Parameters<typeof users.identityOf>[0])
      const identity = { ...seen, platform: link.platform, appId: link.appId, sessionKey }
      // Server-side only: JSON (a reply, a log line) never shows the session_key.
      Object.defineProperty(identity, 'toJSON', { value: () => ({ ...seen, platform: link.platform, appId: link.appId }) })
      return Object.freeze(identity) as unknown as WeappLinkedIdentity
    },
    // Always a promise (a refusal a rejection), whether the session opened at once or not.
    unseal: (async (token: string) => await open(token)) as WeappApi['unseal'],
    verifySignature,
    app: async (appId) => apiOf(await registry.get(appId)),
    async revoke (tokenOrSession) {
      if (revocations === undefined) throw new TypeError(`revoke() ${NO_REVOCATION}`)
      let session: AnySession
      // A session's id alone (from listSessions): ended everywhere; its user's index drops it at their next login.
      if (typeof tokenOrSession === 'string' && JTI.test(tokenOrSession)) {
        await revocations.revokeId(tokenOrSession)
        return
      }
      if (typeof tokenOrSession === 'string') {
        try {
          session = await sessions.unseal(tokenOrSession)
        } catch (err) {
          if (err instanceof SessionExpiredError) return // nothing left to end
          throw err
        }
      } else {
        const given = tokenOrSession as Partial<Record<'jti' | 'appId' | 'openid' | 'corpId' | 'userId' | 'loginAt', unknown>> | null
        const user = given !== null && typeof given === 'object' && (typeof given.openid === 'string' || (typeof given.corpId === 'string' && typeof given.userId === 'string'))
        if (!user || typeof given.jti !== 'string' || typeof given.loginAt !== 'number' || typeof given.appId !== 'string') {
          throw new TypeError('revoke(tokenOrSession) needs a session token or a session (request.weappSession, or what unseal() gave)')
        }
        session = given as AnySession
      }
      await revocations.revokeSession(session)
      await resetKeyOf(session, fastify.log)
    },
    async revokeUser (user) {
      if (revocations === undefined) throw new TypeError(`revokeUser() ${NO_REVOCATION}`)
      const key = revokedUserKey(user)
      const { appId } = user
      // An app's users are given in its platform's fields ({ openid } or { corpId, userId }): any
      // other user would end nothing. An app that is gone (or a lookup that failed) is revoked as asked.
      const app = appId === undefined ? undefined : await registry.get(appId).catch(() => undefined)
      if (app !== undefined && !users.fits(app.platform.users, user as unknown as Record<string, unknown>)) {
        throw new TypeError(`revokeUser(user): ${app.appId} is a ${app.platform.title} app: give ${app.platform.users.revokes}`)
      }
      await revocations.revokeUser(key)
      // A session of the user (request.weappSession) carries the key the platform's reset is signed with.
      await resetKeyOf(user, fastify.log)
    },
    async listSessions (user) {
      if (revocations === undefined || limits === undefined) throw new TypeError(`listSessions() ${NO_INDEX}`)
      const listed = await revocations.listSessions(revokedUserKey(user, 'listSessions'))
      return listed.map((s) => Object.freeze(s))
    },
    jwtTrusted (decoded) {
      return revocations === undefined || !isRevokedJws(revocations, decoded)
    }
  }

  fastify.decorate('weapp', Object.freeze(api))
  fastify.decorateRequest('weappSession', null)
  await fastify.register(routes, {
    prefix: settings.prefix,
    expiresIn: settings.expiresIn,
    maxAge: settings.maxAge,
    watermarkMaxAge: settings.watermarkMaxAge,
    jwt: settings.jwt,
    failures: shared.failures,
    registry,
    sessions,
    revocations,
    routeConfig: settings.routeConfig,
    securityScheme: settings.securityScheme,
    onLogin: settings.onLogin,
    linkExpiresIn: settings.linkExpiresIn,
    userSchema: settings.userSchema,
    afterLogout: resetKeyOf,
    track: shared.track,
    healClaims
  })
}

/** The plugin. Register it with `{ appId, appSecret, key }` or `{ apps, key }`; see the README for every option. */
export const fastifyWeapp = fp(plugin, { fastify: '5.x', name: 'fastify-weapp' })
export default fastifyWeapp

export {
  InvalidCodeError, RateLimitedError, RiskyUserError, UpstreamError, UpstreamTimeoutError,
  SessionMissingError, SessionInvalidError, SessionExpiredError, DecryptFailedError,
  SignatureMismatchError, UnknownAppError, AppLookupError, UnsupportedError, SessionRevokedError,
  RevocationUnavailableError, InvalidOptionError, type WeappErrorCode
} from './errors.js'
export type { WeappAppLookup } from './apps.js'
export type * from './platforms/index.js'
export { generateKey, type KeyInput } from './keys.js'
export type { FastifyWeappOptions, WeappCommonOptions } from './options.js'
export type { RedisLike, RevokedUser } from './revocation/index.js'
export type { WeappLoginContext, WeappLoginDecision, WeappLoginHook, WeappRenewContext, WeappRenewDecision, WeappRenewHook } from './hooks.js'
export { LoginRefusedError, LinkInvalidError, LinkExpiredError, SessionEndedError, HookFailedError } from './errors.js'
export { MAX_CLAIMS_BYTES } from './session.js'
export { SessionKickedError } from './errors.js'
export type { OneSessionPer, TrackedSession as WeappListedSession } from './revocation/index.js'
export type { WeappEncryptedMessage } from './user-keys.js'
