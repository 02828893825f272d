import type { FastifyInstance, FastifyReply, preValidationHookHandler } from 'fastify'
import { InvalidCodeError, RateLimitedError, SignatureMismatchError, UnknownAppError, UnsupportedError, UpstreamError, ValidationError } from './errors.js'
import { createFailureBudget } from './failure-budget.js'
import { APP_ID_PATTERN, type App, type Registry } from './apps.js'
import type { JwtSettings, RouteConfigs } from './options.js'
import { isWecom, randomJti, userOf, type AnyIdentity, type AnySession, type SealOptions, type SessionCodec } from './session.js'
import type { Revocations } from './revocation.js'
import { openUserData } from './user-data.js'
import { MAX_CODE_LENGTH } from './wechat.js'

/**
 * The longest `encryptedData` accepted, in base64 characters: four times the largest WeChat sends
 * (WeRun's 31 days of steps, about 2 KB). A cap, because a long ciphertext is what makes a timing
 * difference in its last block measurable.
 */
export const MAX_ENCRYPTED_DATA = 8 * 1024
/** `rawData` is the user-info JSON `wx.getUserInfo` signs: a few hundred bytes. */
export const MAX_RAW_DATA = 2 * 1024
/** Route bodies are small: a login code, or one blob of encrypted user data. */
export const LOGIN_BODY_LIMIT = 4 * 1024
export const DECRYPT_BODY_LIMIT = 12 * 1024
/** The decrypt route's budget of failures counts a minute, and blocks for a minute. */
const DECRYPT_FAILURE_WINDOW = 60_000

const BASE64 = '^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$'

const errorResponse = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' }
  }
} as const

const code = { type: 'string', minLength: 1, maxLength: MAX_CODE_LENGTH, pattern: '^[\\x21-\\x7e]+$', description: 'A fresh code from wx.login()' } as const

export const loginSchema = {
  summary: 'Log in with a wx.login() code',
  description: 'Exchanges the code with WeChat (jscode2session) and answers a sealed session token.',
  tags: ['weapp'],
  body: {
    type: 'object',
    properties: {
      code,
      anonymousCode: { ...code, description: 'Douyin only: tt.login()\'s anonymousCode, instead of (or beside) code' },
      appId: { type: 'string', pattern: `^${APP_ID_PATTERN}$`, description: 'The mini program\'s AppID (wx.getAccountInfoSync().miniProgram.appId); without it, the Referer\'s, or the one app configured' }
    }
  },
  response: {
    200: {
      type: 'object',
      required: ['session', 'expiresIn', 'appId'],
      properties: {
        session: { type: 'string', description: 'Send back as "Authorization: Bearer <session>"' },
        expiresIn: { type: 'integer', description: 'Seconds until the session expires' },
        appId: { type: 'string', description: 'The app the session is for' },
        openid: { type: 'string', description: 'A WeChat user: their openid in this app' },
        unionid: { type: 'string' },
        anonymous: { type: 'boolean', description: 'Douyin: a session of the anonymous openid (a login with only anonymousCode); no decrypt' },
        corpId: { type: 'string', description: 'A WeCom member (instead of openid): their company' },
        userId: { type: 'string', description: 'A WeCom member: their UserID in that company' },
        token: { type: 'string', description: 'With the jwt option: a JWS from the app\'s @fastify/jwt (sub = openid, or corpId:userId for a WeCom member)' }
      }
    },
    '4xx': errorResponse,
    '5xx': errorResponse
  }
} as const

export const decryptSchema = {
  summary: 'Decrypt encryptedData from the mini program',
  description: 'Decrypts encryptedData + iv with the session_key the bearer session holds (or, with code, a fresh one).',
  tags: ['weapp'],
  body: {
    type: 'object',
    required: ['encryptedData', 'iv'],
    properties: {
      encryptedData: { type: 'string', minLength: 24, maxLength: MAX_ENCRYPTED_DATA, pattern: BASE64 },
      iv: { type: 'string', pattern: '^[A-Za-z0-9+/]{22}==$' },
      rawData: { type: 'string', maxLength: MAX_RAW_DATA, description: 'With signature: wx.getUserInfo\'s rawData, checked against it' },
      signature: { type: 'string', pattern: '^[0-9a-fA-F]{40}$', description: 'With rawData: sha1(rawData + session_key) in hex' },
      code
    }
    // rawData and signature come together: checked by the route, since OpenAPI 3.0 has no
    // `dependencies` keyword and a generated document with it is invalid.
  },
  response: {
    200: {
      type: 'object',
      required: ['data'],
      properties: {
        // Untyped on purpose: serialized with one JSON.stringify, not field by field (a third of
        // the route's own CPU in the bench). The route only ever puts a decrypted JSON object here.
        data: { description: 'The decrypted JSON object, watermark included' },
        session: { type: 'string' },
        expiresIn: { type: 'integer' }
      }
    },
    '4xx': errorResponse,
    '5xx': errorResponse
  }
} as const

export const phoneSchema = {
  summary: 'Get the user\'s phone number from a getPhoneNumber button code',
  description: 'Exchanges the code from <button open-type="getPhoneNumber"> through getuserphonenumber, bound to the session\'s openid.',
  tags: ['weapp'],
  body: {
    type: 'object',
    required: ['code'],
    properties: { code: { ...code, description: 'The code from the getPhoneNumber button' } }
  },
  response: {
    200: {
      type: 'object',
      required: ['phone'],
      properties: {
        phone: {
          type: 'object',
          required: ['phoneNumber', 'purePhoneNumber', 'countryCode'],
          properties: {
            phoneNumber: { type: 'string', description: 'With the country code outside mainland China' },
            purePhoneNumber: { type: 'string' },
            countryCode: { type: 'string' }
          }
        }
      }
    },
    '4xx': errorResponse,
    '5xx': errorResponse
  }
} as const

export const logoutSchema = {
  summary: 'Log out: end this session and its renewals on every instance',
  description: 'With the revocation option. The session answers 401 WEAPP_SESSION_REVOKED from then on.',
  tags: ['weapp'],
  response: {
    204: { type: 'null', description: 'Logged out' },
    '4xx': errorResponse,
    '5xx': errorResponse
  }
} as const

/**
 * Fastify's Ajv coerces types (`{ "code": 42 }` would pass as `"42"` and reach WeChat). This runs
 * before validation and refuses a top-level field whose JSON type is not the declared one.
 */
function exactTypes (schema: { properties: Record<string, { type: string }> }): preValidationHookHandler {
  const fields = Object.entries(schema.properties).map(([name, s]) => [name, s.type] as const)
  // A callback hook, not an async one: it runs on every request and never waits for anything.
  return function exactTypesHook (request, _reply, done) {
    const body = request.body
    if (body !== null && typeof body === 'object') { // otherwise Ajv reports it
      for (const [name, type] of fields) {
        const value = (body as Record<string, unknown>)[name]
        // The declared type is a schema's 'string' (each field's own), compared as a value.
        const actual: string = typeof value
        if (value !== undefined && actual !== type) {
          done(validation(`body/${name} must be ${type}`))
          return
        }
      }
    }
    done()
  }
}

interface LoginBody { code?: string, anonymousCode?: string, appId?: string }
interface PhoneBody { code: string }
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
  /** Failed decrypts a minute per user before 429s; 0 for no limit. */
  decryptFailureLimit: number
  registry: Registry
  sessions: SessionCodec
  /** Where ended sessions are kept; undefined without the revocation option (and then no logout route). */
  revocations: Revocations | undefined
  /** Each route's Fastify `config` (for @fastify/rate-limit and the like). */
  routeConfig: RouteConfigs
  /** The OpenAPI security scheme the authenticated routes name, or undefined for none. */
  securityScheme: string | undefined
}

/**
 * The AppID in the Referer a mini program's requests send: WeChat's `wx.request`
 * (`https://servicewechat.com/{appid}/{version}/page-frame.html`) or QQ's (`https://appservice.qq.com/{appid}/…`).
 */
const REFERER = new RegExp(`^https://(?:servicewechat\\.com|appservice\\.qq\\.com)/(${APP_ID_PATTERN})/`)

/**
 * The app a login is for: the body's `appId`; without one, the Referer's; without either, the one
 * app configured. Never a "current app": each request names its own.
 */
async function appOfLogin (registry: Registry, body: LoginBody, referer: string | undefined): Promise<App> {
  const appId = body.appId ?? (referer === undefined ? undefined : REFERER.exec(referer)?.[1])
  if (appId !== undefined) return await registry.get(appId)
  if (registry.single !== undefined) return registry.single
  throw new UnknownAppError('Several mini programs are served here: send your appId with the code (the client does, from wx.getAccountInfoSync())')
}

/**
 * What the bridge's JWS says (the client can read it): `sub` the openid, or `corpId:userId` for a
 * WeCom member (UserIDs are chosen by a company's admin and never hold ':', which no openid holds
 * either), `platform`, and the session's `jti` and login time `lat`, which `jwtTrusted` checks.
 */
function jwsClaims (identity: AnyIdentity, { jti, loginAt }: SealOptions): Record<string, unknown> {
  if (isWecom(identity)) return { sub: `${identity.corpId}:${identity.userId}`, platform: 'wecom', corpId: identity.corpId, userId: identity.userId, jti, lat: loginAt }
  const claims: Record<string, unknown> = { sub: identity.openid, platform: identity.platform ?? 'wechat', jti, lat: loginAt }
  if (identity.unionid !== undefined) claims.unionid = identity.unionid
  if (identity.anonymous === true) claims.anonymous = true
  return claims
}

/** A request-shape error the schema cannot express, in Fastify's own shape. */
function validation (message: string): Error {
  return Object.assign(new ValidationError(message), { validationContext: 'body' })
}

/** The login, decrypt and phone routes; registered under `prefix` by the plugin. */
export async function routes (fastify: FastifyInstance, { expiresIn, maxAge, watermarkMaxAge, jwt, decryptFailureLimit, registry, sessions, revocations, routeConfig, securityScheme }: RouteOptions): Promise<void> {
  const weapp = fastify.weapp
  const failures = decryptFailureLimit === 0
    ? undefined
    : createFailureBudget({ limit: decryptFailureLimit, window: DECRYPT_FAILURE_WINDOW, size: 10_000 })

  /**
   * Seals what WeChat answered. Seal refuses only identities it cannot hold (too large for a token:
   * `IdentityTooLargeError`), and this identity came from WeChat: a 502, not a 500.
   */
  function sealUpstream (identity: AnyIdentity, appId: string, id?: SealOptions): string {
    try {
      return sessions.seal(identity, appId, id)
    } catch (err) {
      throw new UpstreamError('WeChat answered an openid or unionid too long to hold in a session', { cause: new Error((err as Error).message) })
    }
  }

  /**
   * Everything a session's user may try and fail on the authenticated routes (encrypted data, a
   * signature, a code that does not exchange) counts against one budget per user of an app. It
   * throws a 429 while the user is blocked.
   */
  function budgetOf (current: AnySession, reply: FastifyReply): { fail: () => void } {
    const user = JSON.stringify([current.appId, userOf(current)])
    const wait = failures === undefined ? 0 : failures.blockedFor(user)
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000)
      reply.header('retry-after', String(seconds))
      throw new RateLimitedError(`Too many failed attempts for this user; wait ${seconds} s, then call wx.login(), log in again and retry`)
    }
    return { fail: () => { failures?.fail(user) } }
  }

  /** Counts a failure the user's own input made (a bad code, data, signature), then throws it on. */
  function counted (budget: { fail: () => void }, err: unknown): never {
    const status = (err as { statusCode?: unknown }).statusCode
    if (status === 400 || status === 401 || status === 403) budget.fail()
    throw err
  }

  /** A route's options: its schema, a body limit, the exact-type check, the session hook if it needs one, the app's config. */
  const options = <S extends { summary: string, body?: { properties: Record<string, { type: string }> } }>(name: keyof RouteConfigs, schema: S, bodyLimit: number, authenticated: boolean) => ({
    schema: authenticated && securityScheme !== undefined ? { ...schema, security: [{ [securityScheme]: [] }] } : schema,
    bodyLimit,
    ...(schema.body === undefined ? {} : { preValidation: exactTypes(schema.body) }),
    ...(authenticated ? { onRequest: weapp.authenticate } : {}),
    ...(routeConfig[name] === undefined ? {} : { config: routeConfig[name] })
  })

  fastify.post<{ Body: LoginBody }>('/login', options('login', loginSchema, LOGIN_BODY_LIMIT, false), async (request, reply) => {
    const app = await appOfLogin(registry, request.body, request.headers.referer)
    const { appId } = app
    const { code: loginCode, anonymousCode } = request.body
    let identity: AnyIdentity
    if (anonymousCode !== undefined) {
      if (app.anonymousLogin === undefined) throw validation(`body/anonymousCode is Douyin's (tt.login()); send code for ${appId}`)
      identity = await app.anonymousLogin(anonymousCode, loginCode)
    } else {
      // The schema cannot say "code or anonymousCode" in every OpenAPI version: checked here.
      if (loginCode === undefined) throw validation('body must have code (or, for a Douyin app, anonymousCode)')
      identity = await app.code2Session(loginCode)
    }
    // The session expires no earlier than this (seal reads the clock after it).
    const expiresBy = Math.floor(Date.now() / 1000) + expiresIn
    // With the jwt bridge, the JWS carries the session's id and login time: ending one ends both.
    const id = jwt === undefined ? undefined : { jti: randomJti(), loginAt: Date.now() }
    const session = sealUpstream(identity, appId, id)
    reply.header('cache-control', 'no-store')
    // Who logged in: a WeChat user (openid, unionid), or a WeCom member (corpId, userId).
    const who = isWecom(identity)
      ? { corpId: identity.corpId, userId: identity.userId }
      : { openid: identity.openid, unionid: identity.unionid, ...(identity.anonymous === true ? { anonymous: true } : {}) }
    if (jwt === undefined) return { session, expiresIn, appId, ...who }
    // A JWS from the app's own @fastify/jwt, so that request.jwtVerify() routes accept this user.
    // It never outlives its session (exp at most the session's, whatever @fastify/jwt's own
    // defaults say) and names its app (aud), so another app's jwtVerify({ allowedAud }) refuses it.
    const now = Date.now()
    const left = Math.max(0, expiresBy - Math.floor(now / 1000))
    const claims = jwsClaims(identity, id as SealOptions)
    const token = await (reply as unknown as JwtReply).jwtSign(claims, {
      ...jwt.sign, aud: appId, clockTimestamp: now, expiresIn: Math.min(jwt.expiresIn ?? left, left)
    })
    return { session, expiresIn, appId, ...who, token }
  })

  if (revocations !== undefined) {
    const store = revocations
    fastify.post('/logout', options('logout', logoutSchema, LOGIN_BODY_LIMIT, true), async (request, reply) => {
      // Stored (and, with Redis, published) before it is answered: never a 204 for what was not kept.
      await store.revokeSession(request.weappSession as AnySession)
      return await reply.code(204).send()
    })
  }

  fastify.post<{ Body: PhoneBody }>('/phone', options('phone', phoneSchema, LOGIN_BODY_LIMIT, true), async (request, reply) => {
    const current = request.weappSession as AnySession
    if (isWecom(current)) {
      throw new UnsupportedError('WeCom has no phone-number-by-code API for its members; read the member\'s mobile from WeCom\'s own APIs')
    }
    if (current.platform !== 'wechat') {
      throw new UnsupportedError(`Phone numbers by code are WeChat's alone: a ${current.platform === 'qq' ? 'QQ' : 'Douyin'} session has none`)
    }
    // The session's own app: its access token, its phone codes. A code that does not exchange counts against the user.
    const app = await registry.get(current.appId)
    const budget = budgetOf(current, reply)
    const phone = await app.getPhoneNumber(request.body.code, current.openid).catch((err: unknown) => counted(budget, err))
    reply.header('cache-control', 'no-store')
    return { phone }
  })

  fastify.post<{ Body: DecryptBody }>('/decrypt', options('decrypt', decryptSchema, DECRYPT_BODY_LIMIT, true), async (request, reply) => {
    const current = request.weappSession as AnySession
    const { encryptedData, iv, rawData, signature, code } = request.body
    if ((rawData === undefined) !== (signature === undefined)) throw validation('body must have rawData and signature together, or neither')
    if (!isWecom(current) && current.anonymous === true) {
      throw new UnsupportedError('An anonymous Douyin session has no session_key: log in with tt.login()\'s code (the user logged in to Douyin), then decrypt')
    }
    const budget = budgetOf(current, reply)
    let sessionKey = current.sessionKey
    let renewed: { session: string, expiresIn: number } | undefined
    if (code !== undefined) {
      // The cure for a session_key rotated by a later wx.login(): decrypt with the key of a fresh code.
      const app = await registry.get(current.appId)
      const identity = await app.code2Session(code).catch((err: unknown) => counted(budget, err))
      if (userOf(identity) !== userOf(current)) {
        counted(budget, new InvalidCodeError('This code belongs to another user than the session; log in again'))
      }
      sessionKey = identity.sessionKey
      // A unionid the session knew is kept when this answer lacks it.
      const fresh = isWecom(identity) || isWecom(current) ? identity : { ...identity, unionid: identity.unionid ?? current.unionid }
      // The same login with a fresh key: its id and login time are kept (a logout, and the jwt
      // bridge's JWS, cover both tokens), never past loginAt + maxAge. A login past that (or too
      // near it to be worth a token) starts anew: the fresh code is a login of its own.
      const now = Date.now()
      const notAfter = current.loginAt + maxAge * 1000
      const lineage = notAfter - now > 60_000 ? { jti: current.jti, loginAt: current.loginAt, notAfter, now } : undefined
      const exp = Math.floor(now / 1000) + (lineage === undefined ? expiresIn : Math.min(expiresIn, Math.floor(notAfter / 1000) - Math.floor(now / 1000)))
      renewed = { session: sealUpstream(fresh, current.appId, lineage ?? { jti: randomJti(), loginAt: now, now }), expiresIn: exp - Math.floor(now / 1000) }
    }
    let text: string
    try {
      if (rawData !== undefined && !weapp.verifySignature(rawData, signature as string, sessionKey)) {
        throw new SignatureMismatchError()
      }
      // The reply embeds the decrypted JSON text as is: it parsed as an object, so it is valid JSON,
      // and it is exactly what WeChat encrypted. Parsing it again only to re-serialize the same
      // object cost a tenth of the route. The fields added around it are built here, nothing else.
      // The watermark must name the session's app.
      text = openUserData(sessionKey, encryptedData, iv, { appId: current.appId, watermarkMaxAge }).text
    } catch (err) {
      // Every failure that a secret decided counts against this user's budget.
      counted(budget, err)
    }
    const rest = renewed === undefined ? '' : `,"session":${JSON.stringify(renewed.session)},"expiresIn":${renewed.expiresIn}`
    reply.header('cache-control', 'no-store').type('application/json; charset=utf-8')
    return `{"data":${text}${rest}}`
  })
}
