import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createAccessTokens } from './access-token.js'
import { InvalidOptionError, SessionMissingError } from './errors.js'
import { buildSettings, cleartextWarning, type FastifyWeappOptions } from './options.js'
import { routes } from './routes.js'
import { createSessionCodec, type WeappIdentity, type WeappSession } from './session.js'
import { createUserApi } from './user-api.js'
import { decryptUserData, verifySignature } from './user-data.js'
import { createWechatClient, type WeappPhone } from './wechat.js'

/** `fastify.weapp`: the hook and the building blocks the routes are made of. */
export interface WeappApi {
  /** An `onRequest`/`preHandler` hook: sets `request.weappSession` or answers 401. */
  authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /** Exchanges a `wx.login()` code with WeChat (`jscode2session`). */
  code2Session (code: string): Promise<WeappIdentity>
  /** Seals an identity into a session token (the "3rd_session"). */
  seal (identity: WeappIdentity): Promise<string>
  /** Opens a session token; rejects with `WEAPP_SESSION_INVALID` or `WEAPP_SESSION_EXPIRED`. */
  unseal (token: string): Promise<WeappSession>
  /** Decrypts `encryptedData` + `iv` with a session_key and checks its watermark. */
  decrypt (sessionKey: string, encryptedData: string, iv: string): Record<string, unknown>
  /** Whether `signature` is `sha1(rawData + sessionKey)` in hex (constant-time). */
  verifySignature (rawData: string, signature: string, sessionKey: string): boolean
  /** The access token from `cgi-bin/stable_token`, cached and shared; one fetch in flight at most. */
  accessToken (): Promise<string>
  /** The phone number behind a getPhoneNumber button code; with `openid`, WeChat checks the code is that user's. */
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  /** Whether WeChat still takes `sessionKey` as the user's current session_key (`wxa/checksession`). */
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
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

const plugin: FastifyPluginAsync<FastifyWeappOptions> = async function fastifyWeapp (fastify, options) {
  if (fastify.hasDecorator('weapp')) {
    throw new InvalidOptionError('fastify-weapp is already registered in this context: register it once per app (give each registration its own encapsulated context with app.register(async (child) => { ... }), or serve several mini programs with one registration)')
  }
  const settings = buildSettings(options)
  const cleartext = cleartextWarning(settings.apiBaseUrl)
  if (cleartext !== undefined) fastify.log.warn(cleartext)
  if (settings.jwt !== undefined && !fastify.hasDecorator('jwt')) {
    throw new InvalidOptionError('jwt needs @fastify/jwt: register it before fastify-weapp (app.register(fastifyJwt, { secret }))')
  }
  const wechat = createWechatClient(settings)
  const tokens = createAccessTokens(settings)
  const userApi = createUserApi({ ...settings, tokens })
  const sessions = createSessionCodec({ ...settings, cacheSize: settings.sessionCacheSize })
  const decryptOptions = { appId: settings.appId, watermarkMaxAge: settings.watermarkMaxAge }

  const api: WeappApi = {
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
    code2Session: wechat.code2Session,
    seal: sessions.seal,
    unseal: sessions.unseal,
    decrypt: (sessionKey, encryptedData, iv) => decryptUserData(sessionKey, encryptedData, iv, decryptOptions),
    verifySignature,
    accessToken: tokens.get,
    getPhoneNumber: userApi.getPhoneNumber,
    checkSessionKey: userApi.checkSessionKey
  }

  fastify.decorate('weapp', Object.freeze(api))
  fastify.decorateRequest('weappSession', null)
  await fastify.register(routes, { prefix: settings.prefix, expiresIn: settings.expiresIn, decryptOptions, jwt: settings.jwt, decryptFailureLimit: settings.decryptFailureLimit, appId: settings.appId })
}

/** The plugin. Register it with `{ appId, appSecret, key }`; see the README for every option. */
export const fastifyWeapp = fp(plugin, { fastify: '5.x', name: 'fastify-weapp' })
export default fastifyWeapp

export {
  InvalidCodeError, RateLimitedError, RiskyUserError, UpstreamError, UpstreamTimeoutError,
  SessionMissingError, SessionInvalidError, SessionExpiredError, DecryptFailedError,
  SignatureMismatchError, InvalidOptionError, type WeappErrorCode
} from './errors.js'
export { generateKey, type KeyInput } from './keys.js'
export type { FastifyWeappOptions } from './options.js'
export type { WeappIdentity, WeappSession } from './session.js'
export type { WeappPhone } from './wechat.js'
