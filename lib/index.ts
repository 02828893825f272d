import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createRegistry, type App } from './apps.js'
import { InvalidOptionError, SessionMissingError } from './errors.js'
import { buildSettings, cleartextWarning, type FastifyWeappOptions } from './options.js'
import { routes } from './routes.js'
import { createSessionCodec, type SessionCodec, type WeappIdentity, type WeappSession } from './session.js'
import { decryptUserData, verifySignature } from './user-data.js'
import type { WeappPhone } from './wechat.js'

/** One app's building blocks: `fastify.weapp.app(appId)`. */
export interface WeappAppApi {
  readonly appId: string
  /** Exchanges a `wx.login()` code of this app with WeChat (`jscode2session`). */
  code2Session (code: string): Promise<WeappIdentity>
  /** Seals an identity into a session of this app (the "3rd_session"). */
  seal (identity: WeappIdentity): Promise<string>
  /** Decrypts `encryptedData` + `iv` with a session_key; the watermark must be this app's. */
  decrypt (sessionKey: string, encryptedData: string, iv: string): Record<string, unknown>
  /** This app's access token from `cgi-bin/stable_token`, cached; one fetch in flight at most. */
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
export interface WeappApi extends Omit<WeappAppApi, 'appId'> {
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
    code2Session: app.code2Session,
    seal: async (identity: WeappIdentity) => await sessions.seal(identity, app.appId),
    decrypt: (sessionKey: string, encryptedData: string, iv: string) => decryptUserData(sessionKey, encryptedData, iv, decryptOptions),
    accessToken: app.accessToken,
    getPhoneNumber: app.getPhoneNumber,
    checkSessionKey: app.checkSessionKey
  })
}

const SEVERAL = "several apps are configured: use fastify.weapp.app(appId) for one app's building blocks"

/** The top-level building blocks where several apps are configured: each says to pick an app. */
const noSingleApp: Omit<WeappAppApi, 'appId'> = {
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
  const cleartext = cleartextWarning(settings.apiBaseUrl)
  if (cleartext !== undefined) fastify.log.warn(cleartext)
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
  const { appId: _appId, ...single } = registry.single === undefined ? { appId: '', ...noSingleApp } : apiOf(registry.single)

  const api: WeappApi = {
    ...single,
    async authenticate (request, reply) {
      const token = bearerToken(request.headers.authorization)
      if (token === undefined) {
        reply.header('www-authenticate', 'Bearer')
        throw new SessionMissingError()
      }
      try {
        request.weappSession = await sessions.unseal(token)
      } catch (err) {
        reply.header('www-authenticate', 'Bearer error="invalid_token"')
        throw err
      }
    },
    unseal: sessions.unseal,
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
  SignatureMismatchError, UnknownAppError, AppLookupError, InvalidOptionError, type WeappErrorCode
} from './errors.js'
export type { WeappAppConfig, WeappAppLookup } from './apps.js'
export { generateKey, type KeyInput } from './keys.js'
export type { FastifyWeappOptions, WeappCommonOptions } from './options.js'
export type { WeappIdentity, WeappSession } from './session.js'
export type { WeappPhone } from './wechat.js'
