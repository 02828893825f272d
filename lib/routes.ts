import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { WeappApi } from './api.js'
import { aboutSession, LoginRefusedError, refuseSession, SignatureMismatchError, UnknownAppError, UnsupportedError, UpstreamError } from './errors.js'
import { decideLogin, type WeappLoginHook } from './hooks.js'
import type { WeappLoginIdentity } from './types.js'
import type { FailureBudget } from './failure-budget.js'
import type { App, Registry } from './apps.js'
import type { JwtSettings, RouteConfigs } from './options.js'
import { newLogin, trackedLogin } from './app-api.js'
import { sameLogin, sessionExp, type AnyIdentity, type AnySession, type OpenedSession, type SessionCodec } from './session.js'
import { REFERER, users } from './platforms/index.js'
import type { Users } from './platforms/users.js'
import type { Revocations, TrackedLogin } from './revocation/index.js'
import { openUserData } from './user-data.js'
import { ANONYMOUS, DECRYPT_BODY_LIMIT, LOGIN_BODY_LIMIT, decryptSchema, exactTypes, loginSchemaWith, logoutSchema, phoneSchema, validation } from './schemas.js'

export { MAX_ENCRYPTED_DATA, MAX_RAW_DATA, LOGIN_BODY_LIMIT, DECRYPT_BODY_LIMIT, loginSchema, decryptSchema, phoneSchema, logoutSchema } from './schemas.js'

interface LoginBody { code?: string, anonymousCode?: string, appId?: string, device?: string }
interface PhoneBody { code?: string, response?: string }
/** What @fastify/jwt adds to the reply. */
interface JwtReply { jwtSign (payload: Record<string, unknown>, options: Record<string, unknown>): Promise<string> }
interface DecryptBody { encryptedData: string, iv: string, rawData?: string, signature?: string, code?: string }

export interface RouteOptions {
  /** seconds */
  expiresIn: number
  /** seconds: how long one login lives through renewals (and heals) */
  maxAge: number
  /** seconds, or 0 for no limit */
  watermarkMaxAge: number
  /** The @fastify/jwt bridge, or undefined when the jwt option is off. */
  jwt: JwtSettings | undefined
  /** The per-user budget of failures (`decryptFailureLimit`), shared with openEncrypted; undefined for no limit. */
  failures: FailureBudget | undefined
  registry: Registry
  sessions: SessionCodec
  /** Where ended sessions are kept; undefined without the revocation option (and then no logout route). */
  revocations: Revocations | undefined
  /** Each route's Fastify `config` (for @fastify/rate-limit and the like). */
  routeConfig: RouteConfigs
  /** The OpenAPI security scheme the authenticated routes name, or undefined for none. */
  securityScheme: string | undefined
  /** The app's login hook, or undefined for none. */
  onLogin: WeappLoginHook | undefined
  /** seconds */
  linkExpiresIn: number
  /** The JSON schema of the answer's `user`. */
  userSchema: Readonly<Record<string, unknown>>
  /** What follows a logout once it is stored (the session_key reset); never fails it. */
  afterLogout: (session: AnySession, log: FastifyBaseLogger) => Promise<void>
  /** Records a new login in its user's index of sessions (ending what it evicts), where sessions are limited per user. */
  track: ((login: TrackedLogin) => Promise<void>) | undefined
  /**
   * The claims a heal seals, decided as a renewal's are where it issues a later `exp` (seconds) than
   * the session's (`onRenew`); throws WEAPP_SESSION_ENDED (the session revoked) where onRenew ends it.
   */
  healClaims: (request: FastifyRequest, reply: FastifyReply, session: OpenedSession, exp: number) => Promise<string | undefined>
}

/**
 * The app a login is for: the body's `appId`; without one, the Referer's; without either, the one
 * app configured. Never a "current app": each request names its own.
 */
function appOfLogin (registry: Registry, body: LoginBody, referer: string | undefined): App | Promise<App> {
  const appId = body.appId ?? (referer === undefined ? undefined : REFERER.exec(referer)?.[1])
  if (appId !== undefined) return registry.get(appId)
  if (registry.single !== undefined) return registry.single
  throw new UnknownAppError('Several mini programs are served here: send your appId with the code (the client does, from the runtime\'s account info)')
}

/** The claims a JWS of the jwt bridge shows: all, or the named ones the session has; undefined for none. */
function publicClaims (claims: Record<string, unknown>, names: true | readonly string[]): Record<string, unknown> | undefined {
  if (names === true) return claims
  const shown: Record<string, unknown> = {}
  for (const name of names) if (Object.hasOwn(claims, name)) shown[name] = claims[name]
  return Object.keys(shown).length === 0 ? undefined : shown
}

/**
 * Seals what the platform answered. Seal refuses only identities it cannot hold (too large for a
 * token: `IdentityTooLargeError`), and this identity came from the platform: a 502, not a 500.
 */
function sealUpstream (app: App, seal: () => string): string {
  try {
    return seal()
  } catch (err) {
    throw new UpstreamError(`${app.platform.title} answered an openid or unionid too long to hold in a session`, { cause: new Error((err as Error).message) })
  }
}

/** The users of a session's platform (every session that opened has one). */
const usersOf = (session: AnySession): Users => users.ofPlatform(session.platform) as Users

/**
 * Everything a session's user may try and fail on the authenticated routes (encrypted data, a
 * signature, a code that does not exchange) counts against one budget per user of an app. It
 * throws a 429 while the user is blocked.
 */
function budgetOf (failures: FailureBudget | undefined, current: AnySession, reply: FastifyReply): { fail: () => void, who: Users } {
  const who = usersOf(current)
  const user = JSON.stringify([current.appId, users.userOf(who, current)])
  const wait = failures === undefined ? 0 : failures.blockedFor(user)
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000)
    reply.header('retry-after', String(seconds))
    throw refuseSession('blocked', who, { wait: seconds })
  }
  return { fail: () => { failures?.fail(user) }, who }
}

/** Counts a failure the user's own input made (a bad code, data, signature), then throws it on, naming the session's platform. */
function counted (budget: { fail: () => void, who: Users }, err: unknown): never {
  const status = (err as { statusCode?: unknown }).statusCode
  if (status === 400 || status === 401 || status === 403) budget.fail()
  throw aboutSession(err, budget.who)
}

/** A route's options: its schema, a body limit, the exact-type check, the session hook if it needs one, the app's config. */
function optionsFor (weapp: WeappApi, routeConfig: RouteConfigs, securityScheme: string | undefined) {
  return <S extends { summary: string, body?: { properties: Record<string, { type: string }> } }>(name: keyof RouteConfigs, schema: S, bodyLimit: number, authenticated: boolean) => ({
    schema: authenticated && securityScheme !== undefined ? { ...schema, security: [{ [securityScheme]: [] }] } : schema,
    bodyLimit,
    ...(schema.body === undefined ? {} : { preValidation: exactTypes(schema.body) }),
    ...(authenticated ? { onRequest: weapp.authenticate } : {}),
    ...(routeConfig[name] === undefined ? {} : { config: routeConfig[name] })
  })
}
type Options = ReturnType<typeof optionsFor>

/** The login route: a code exchanged, `onLogin` asked, a session sealed (and, with the jwt option, a JWS signed). */
function loginRoute (fastify: FastifyInstance, { expiresIn, jwt, registry, sessions, onLogin, linkExpiresIn, userSchema, track }: RouteOptions, options: Options): void {
  fastify.post<{ Body: LoginBody }>('/login', options('login', loginSchemaWith(userSchema), LOGIN_BODY_LIMIT, false), async (request, reply) => {
    // The one app configured is known at once (no turn of the event loop); a named one may be looked up.
    const found = appOfLogin(registry, request.body, request.headers.referer)
    const app = found instanceof Promise ? await found : found
    const { appId } = app
    const { code: loginCode, anonymousCode } = request.body
    let identity: AnyIdentity
    if (anonymousCode !== undefined) {
      if (app.anonymousLogin === undefined) throw validation(`body/anonymousCode is for ${ANONYMOUS} apps; send code for ${appId} (a ${app.platform.title} app)`)
      identity = await app.anonymousLogin(anonymousCode, loginCode) as AnyIdentity
    } else {
      // The schema cannot say "code or anonymousCode" in every OpenAPI version: checked here.
      if (loginCode === undefined) throw validation(`body must have code (or, for a ${ANONYMOUS} app, anonymousCode)`)
      identity = await app.code2Session(loginCode) as AnyIdentity
    }
    // Who logged in, in the fields of the app's platform (openid and unionid, or corpId and userId).
    const who = users.answerOf(app.platform.users, identity)
    let claims: string | undefined
    let user: Record<string, unknown> | undefined
    if (onLogin !== undefined) {
      // The app's user: after the exchange, before anything is sealed; never told the session_key.
      const seen = Object.freeze({ platform: app.platform.users.platform, appId, ...who }) as WeappLoginIdentity
      const outcome = await decideLogin(onLogin, { app: { appId, kind: app.kind }, identity: seen, request })
      if (outcome.kind === 'refuse') throw new LoginRefusedError(outcome.message)
      if (outcome.kind === 'link') {
        const linkToken = sealUpstream(app, () => sessions.sealLink(identity, appId, linkExpiresIn))
        reply.code(409).header('cache-control', 'no-store')
        return {
          statusCode: 409,
          code: 'WEAPP_LINK_REQUIRED',
          error: 'Conflict',
          message: `This ${app.platform.title} user has no account in this app yet: prove who they are (a phone number, a password) and send linkToken to the app's link route within ${linkExpiresIn} s`,
          linkToken,
          expiresIn: linkExpiresIn
        }
      }
      claims = outcome.claims
      user = outcome.answer
    }
    // The session's id, login time and device; with the jwt bridge the JWS carries the first two: ending one ends both.
    const id = newLogin(request.body.device)
    const expiresBy = sessionExp(id.loginAt, expiresIn)
    const session = sealUpstream(app, () => sessions.seal(identity, appId, { ...id, now: id.loginAt }, claims))
    // Sessions per user: indexed, and what it evicts ended everywhere, before the session is answered.
    if (track !== undefined) await track(trackedLogin(app.platform.users, identity, appId, id, expiresBy))
    reply.header('cache-control', 'no-store')
    const answer = user === undefined ? { session, expiresIn, appId, ...who } : { session, expiresIn, appId, ...who, user }
    if (jwt === undefined) return answer
    // A JWS from the app's own @fastify/jwt, so that request.jwtVerify() routes accept this user.
    // It never outlives its session (exp at most the session's, whatever @fastify/jwt's own
    // defaults say) and names its app (aud), so another app's jwtVerify({ allowedAud }) refuses it.
    const now = Date.now()
    const left = Math.max(0, expiresBy - Math.floor(now / 1000))
    const jws = users.jwsOf(app.platform.users, identity, id)
    // The app's claims the jwt option names ride in the JWS too: readable by the client, unlike the session's.
    const shown = jwt.claims === undefined || claims === undefined ? undefined : publicClaims(JSON.parse(claims) as Record<string, unknown>, jwt.claims)
    if (shown !== undefined) jws.claims = shown
    const token = await (reply as FastifyReply & JwtReply).jwtSign(jws, {
      ...jwt.sign, aud: appId, clockTimestamp: now, expiresIn: Math.min(jwt.expiresIn ?? left, left)
    })
    return { ...answer, token }
  })
}

/** The logout route (with the revocation option): the session ended everywhere before it is answered. */
function logoutRoute (fastify: FastifyInstance, store: Revocations, afterLogout: RouteOptions['afterLogout'], options: Options): void {
  fastify.post('/logout', options('logout', logoutSchema, LOGIN_BODY_LIMIT, true), async (request, reply) => {
    // Stored (and, with Redis, published) before it is answered: never a 204 for what was not kept.
    await store.revokeSession(request.weappSession as AnySession)
    await afterLogout(request.weappSession as AnySession, request.log)
    return await reply.code(204).send()
  })
}

/** The phone route: the session's user's phone number, from its platform. */
function phoneRoute (fastify: FastifyInstance, { failures, registry }: RouteOptions, options: Options): void {
  fastify.post<{ Body: PhoneBody }>('/phone', options('phone', phoneSchema, LOGIN_BODY_LIMIT, true), async (request, reply) => {
    const current = request.weappSession as AnySession
    const who = usersOf(current)
    if (who.noPhone !== undefined) throw new UnsupportedError(who.noPhone)
    // Each platform's runtime hands over one thing: a button's code (most), or a signed answer.
    const { name: field, describes } = who.phoneField ?? { name: 'code', describes: 'the code of the getPhoneNumber button' }
    const given = request.body[field]
    if (given === undefined || request.body[field === 'code' ? 'response' : 'code'] !== undefined) {
      throw validation(`body must have ${field} alone for a ${who.title} session: ${describes}`)
    }
    // The session's own app: its access token, its phone codes. A code that does not exchange counts against the user.
    const app = await registry.get(current.appId)
    const budget = budgetOf(failures, current, reply)
    const phone = await app.getPhoneNumber(given, (current as { openid: string }).openid).catch((err: unknown) => counted(budget, err))
    reply.header('cache-control', 'no-store')
    return { phone }
  })
}

/** The decrypt route: the user's encrypted data opened with the session's key (or, with a code, a fresh one: a heal). */
function decryptRoute (fastify: FastifyInstance, { expiresIn, maxAge, watermarkMaxAge, failures, registry, sessions, revocations, healClaims }: RouteOptions, options: Options): void {
  const weapp = fastify.weapp
  fastify.post<{ Body: DecryptBody }>('/decrypt', options('decrypt', decryptSchema, DECRYPT_BODY_LIMIT, true), async (request, reply) => {
    const current = request.weappSession as OpenedSession
    const { encryptedData, iv, rawData, signature, code } = request.body
    if ((rawData === undefined) !== (signature === undefined)) throw validation('body must have rawData and signature together, or neither')
    const who = usersOf(current)
    if (who.noDecrypt !== undefined) throw new UnsupportedError(who.noDecrypt)
    if ((current as { anonymous?: true }).anonymous === true) {
      throw new UnsupportedError(`An anonymous ${who.title} session has no session_key: log in with ${who.loginCall}'s code (the user logged in to ${who.title}), then decrypt`)
    }
    const budget = budgetOf(failures, current, reply)
    let sessionKey = current.sessionKey
    let renewed: { session: string, expiresIn: number, exp: number, now: number } | undefined
    if (code !== undefined) {
      // The cure for a session_key rotated by a later login call: decrypt with the key of a fresh code.
      // The same login with a fresh key: its id, login time and device are kept (a logout, and the jwt
      // bridge's JWS, cover both tokens), never past loginAt + maxAge. A heal never starts a login of
      // its own (only the login route, and onLogin, do): past maxAge the user logs in again.
      const now = Date.now()
      const id = sameLogin(current, maxAge, now)
      const exp = sessionExp(now, expiresIn, id.notAfter)
      if (exp <= Math.floor(now / 1000)) {
        reply.header('www-authenticate', 'Bearer error="invalid_token"')
        throw refuseSession('maxAge', who)
      }
      const app = await registry.get(current.appId)
      const identity = await app.code2Session(code).catch((err: unknown) => counted(budget, err)) as AnyIdentity
      if (users.userOf(who, identity) !== users.userOf(who, current)) {
        counted(budget, refuseSession('otherUser', who))
      }
      sessionKey = identity.sessionKey as string
      // A unionid the session knew is kept when this answer lacks it.
      const fresh = users.refreshed(who, identity, current)
      // A heal that issues a later exp is a renewal: onRenew decides it (it may end the session, or
      // replace its claims); otherwise the session's claims are kept. onLogin is not asked again.
      const claims = await healClaims(request, reply, current, exp)
      renewed = { session: sealUpstream(app, () => sessions.seal(fresh, app.appId, id, claims)), expiresIn: exp - Math.floor(now / 1000), exp, now }
    }
    let text: string
    try {
      if (rawData !== undefined && !weapp.verifySignature(rawData, signature as string, sessionKey)) {
        throw new SignatureMismatchError()
      }
      // The reply embeds the decrypted JSON text as is: it parsed as an object, so it is valid JSON,
      // and it is exactly what the platform encrypted. Parsing it again only to re-serialize the same
      // object cost a tenth of the route. The fields added around it are built here, nothing else.
      // The watermark must name the session's app.
      text = (who.userData ?? openUserData)(sessionKey, encryptedData, iv, { appId: current.appId, watermarkMaxAge }).text
    } catch (err) {
      // Every failure that a secret decided counts against this user's budget.
      counted(budget, err)
    }
    // The index of the user's sessions learns of the heal's expiry, as of a renewal's (batched).
    if (renewed !== undefined) revocations?.touch(current, renewed.exp * 1000, renewed.now)
    const rest = renewed === undefined ? '' : `,"session":${JSON.stringify(renewed.session)},"expiresIn":${renewed.expiresIn}`
    reply.header('cache-control', 'no-store').type('application/json; charset=utf-8')
    return `{"data":${text}${rest}}`
  })
}

/** The login, decrypt and phone routes; registered under `prefix` by the plugin. */
export async function routes (fastify: FastifyInstance, settings: RouteOptions): Promise<void> {
  const options = optionsFor(fastify.weapp, settings.routeConfig, settings.securityScheme)
  loginRoute(fastify, settings, options)
  if (settings.revocations !== undefined) logoutRoute(fastify, settings.revocations, settings.afterLogout, options)
  phoneRoute(fastify, settings, options)
  decryptRoute(fastify, settings, options)
}
