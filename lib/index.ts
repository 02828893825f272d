import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createRegistry, type App } from './apps.js'
import { InvalidOptionError, SessionMissingError } from './errors.js'
import { buildSettings, cleartextWarnings, type FastifyWeappOptions } from './options.js'
import { routes } from './routes.js'
import { createSessionCodec, isWecom, type AnyIdentity, type SessionCodec, type WechatIdentity, type WechatSession, type WecomIdentity, type WecomSession } from './session.js'
import { decryptUserData, verifySignature } from './user-data.js'
import type { WeappPhone } from './wechat.js'

/**
 * Declares which kinds of session your apps issue. Empty by default: every app is a WeChat mini
 * program (hosted ones too), and `WeappSession` is a WeChat user's, `openid` a string. With WeCom
 * apps, say so once and the session becomes a union to narrow on `platform`:
 *
 * ```ts
 * declare module 'fastify-weapp' {
 *   interface WeappSessionTypes { wecom: true }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface WeappSessionTypes {}

/** A WeChat user's session (a mini program's, or one hosted by a third-party platform). */
export type WeappWechatSession = WechatSession
/** A WeCom member's session. */
export type WeappWecomSession = WecomSession
/** A WeChat user's identity, as `code2Session` gives it and `seal` takes it. */
export type WeappWechatIdentity = WechatIdentity
/** A WeCom member's identity. */
export type WeappWecomIdentity = WecomIdentity

type WithWecom = WeappSessionTypes extends { wecom: true } ? true : false

/** Who is calling, as the session says: a WeChat user, or (where `WeappSessionTypes` says so) a WeCom member. */
export type WeappSession = WithWecom extends true ? WechatSession | WecomSession : WechatSession
/** What a login yields and a session holds. */
export type WeappIdentity = WithWecom extends true ? WechatIdentity | WecomIdentity : WechatIdentity

/** One app's building blocks: `fastify.weapp.app(appId)`. */
export interface WeappAppApi {
  readonly appId: string
  /** How the app logs in: a WeChat mini program, one hosted by a third-party platform, or a WeCom one. */
  readonly kind: 'wechat' | 'component' | 'wecom'
  /** Exchanges a `wx.login()` code of this app with WeChat (`jscode2session`; WeCom's, or the platform's, for those apps). */
  code2Session (code: string): Promise<WeappIdentity>
  /** Seals an identity into a session of this app (the "3rd_session"). */
  seal (identity: WeappIdentity): Promise<string>
  /** Decrypts `encryptedData` + `iv` with a session_key; the watermark must be this app's. */
  decrypt (sessionKey: string, encryptedData: string, iv: string): Record<string, unknown>
  /**
   * This app's access token: `cgi-bin/stable_token`'s, cached, one fetch in flight at most (a WeCom
   * app's `gettoken` token; a hosted app's from `component.authorizerAccessToken`).
   */
  accessToken (): Promise<string>
  /** The phone number behind a getPhoneNumber button code of this app; with `openid`, WeChat checks the code is that user's. */
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  /** Whether WeChat still takes `sessionKey` as the user's current session_key (`wxa/checksession`). */
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
}

/**
 * `fastify.weapp`: the hook and the building blocks the routes are made of. The top-level
 * building blocks are the app's where one app is configured; with several, `app(appId)` gives
 * them (the top-level ones then throw a TypeError that says so).
 */
export interface WeappApi extends Omit<WeappAppApi, 'appId' | 'kind'> {
  /** An `onRequest`/`preHandler` hook: sets `request.weappSession` (a session of any configured app) or answers 401. */
  authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /** Opens a session token of any configured app; rejects with `WEAPP_SESSION_INVALID` or `WEAPP_SESSION_EXPIRED`. */
  unseal (token: string): Promise<WeappSession>
  /** Whether `signature` is `sha1(rawData + sessionKey)` in hex (constant-time). */
  verifySignature (rawData: string, signature: string, sessionKey: string): boolean
  /** One app's building blocks; rejects with `WEAPP_UNKNOWN_APP` for an app that is not configured. */
  app (appId: string): Promise<WeappAppApi>
}

declare module 'fastify' {
  interface FastifyInstance {
    weapp: WeappApi
  }
  interface FastifyRequest {
    /** The caller's session once `fastify.weapp.authenticate` ran; `null` before. */
    weappSession: WeappSession | null
  }
}

const BEARER = /^Bearer +([^\s]+) *$/i

/** The bearer token of an Authorization header, or undefined when there is none. */
function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  return BEARER.exec(header)?.[1]
}

/** The building blocks of one app, on the shared codec. */
function appApi (app: App, sessions: SessionCodec, watermarkMaxAge: number): WeappAppApi {
  const decryptOptions = { appId: app.appId, watermarkMaxAge }
  return Object.freeze({
    appId: app.appId,
    kind: app.kind,
    code2Session: app.code2Session as WeappAppApi['code2Session'],
    seal: async (identity: WeappIdentity) => {
      // A session says what kind of user it holds: a WeCom member only for a WeCom app, and back.
      if (identity !== null && typeof identity === 'object' && isWecom(identity as AnyIdentity) !== (app.kind === 'wecom')) {
        throw new TypeError(`seal(identity): app ${app.appId} is a ${app.kind === 'wecom' ? 'WeCom app: give { corpId, userId, sessionKey }' : 'WeChat mini program: give { openid, sessionKey, unionid? }'}`)
      }
      return await sessions.seal(identity, app.appId)
    },
    decrypt: (sessionKey: string, encryptedData: string, iv: string) => decryptUserData(sessionKey, encryptedData, iv, decryptOptions),
    accessToken: app.accessToken,
    getPhoneNumber: app.getPhoneNumber,
    checkSessionKey: app.checkSessionKey
  })
}

const SEVERAL = "several apps are configured: use fastify.weapp.app(appId) for one app's building blocks"

/** The top-level building blocks where several apps are configured: each says to pick an app. */
const noSingleApp: Omit<WeappAppApi, 'appId' | 'kind'> = {
  code2Session: async () => { throw new TypeError(`code2Session: ${SEVERAL}`) },
  seal: async () => { throw new TypeError(`seal: ${SEVERAL}`) },
  decrypt: () => { throw new TypeError(`decrypt: ${SEVERAL}`) },
  accessToken: async () => { throw new TypeError(`accessToken: ${SEVERAL}`) },
  getPhoneNumber: async () => { throw new TypeError(`getPhoneNumber: ${SEVERAL}`) },
  checkSessionKey: async () => { throw new TypeError(`checkSessionKey: ${SEVERAL}`) }
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
  const registry = createRegistry(settings.apps, settings)
  const sessions = createSessionCodec({ audience: registry.audience, keys: settings.keys, expiresIn: settings.expiresIn, cacheSize: settings.sessionCacheSize })
  // One API object per app, made once (a looked-up app's lives as long as its App).
  const apis = new WeakMap<App, WeappAppApi>()
  const apiOf = (app: App): WeappAppApi => {
    let api = apis.get(app)
    if (api === undefined) {
      api = appApi(app, sessions, settings.watermarkMaxAge)
      apis.set(app, api)
    }
    return api
  }
  const { appId: _appId, kind: _kind, ...single } = registry.single === undefined ? { appId: '', kind: 'wechat', ...noSingleApp } : apiOf(registry.single)

  const api: WeappApi = {
    ...single,
    async authenticate (request, reply) {
      const token = bearerToken(request.headers.authorization)
      if (token === undefined) {
        reply.header('www-authenticate', 'Bearer')
        throw new SessionMissingError()
      }
      try {
        request.weappSession = await sessions.unseal(token) as WeappSession
      } catch (err) {
        reply.header('www-authenticate', 'Bearer error="invalid_token"')
        throw err
      }
    },
    unseal: sessions.unseal as WeappApi['unseal'],
    verifySignature,
    app: async (appId) => apiOf(await registry.get(appId))
  }

  fastify.decorate('weapp', Object.freeze(api))
  fastify.decorateRequest('weappSession', null)
  await fastify.register(routes, {
    prefix: settings.prefix,
    expiresIn: settings.expiresIn,
    watermarkMaxAge: settings.watermarkMaxAge,
    jwt: settings.jwt,
    decryptFailureLimit: settings.decryptFailureLimit,
    registry,
    sessions
  })
}

/** The plugin. Register it with `{ appId, appSecret, key }` or `{ apps, key }`; see the README for every option. */
export const fastifyWeapp = fp(plugin, { fastify: '5.x', name: 'fastify-weapp' })
export default fastifyWeapp

export {
  InvalidCodeError, RateLimitedError, RiskyUserError, UpstreamError, UpstreamTimeoutError,
  SessionMissingError, SessionInvalidError, SessionExpiredError, DecryptFailedError,
  SignatureMismatchError, UnknownAppError, AppLookupError, UnsupportedError, InvalidOptionError, type WeappErrorCode
} from './errors.js'
export type {
  WeappAppConfig, WeappWechatAppConfig, WeappComponentAppConfig, WeappWecomAppConfig, WeappAppLookup,
  ComponentConfig, ComponentWithTicket, ComponentWithToken, WecomCredentials
} from './apps.js'
export { generateKey, type KeyInput } from './keys.js'
export type { FastifyWeappOptions, WeappCommonOptions } from './options.js'
export type { WeappPhone } from './wechat.js'
