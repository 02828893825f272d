import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { WeappApi } from './api.js'
import { appApis, linkRedeemer, noSingleApp, trackerOf, withoutApp, type Shared } from './app-api.js'
import { createRegistry } from './apps.js'
import { createAuthentication } from './authenticate.js'
import { MAX_SESSIONS, type SessionLimits } from './revocation/index.js'
import { createEnding } from './ending.js'
import { InvalidOptionError } from './errors.js'
import { userFailureBudget } from './failure-budget.js'
import { memoryOnce, type Once } from './once.js'
import type { Settings } from './option-types.js'
import { buildSettings, cleartextWarnings, type FastifyWeappOptions } from './options.js'
import { memoryRevocations, redisRevocations, type Revocations } from './revocation/index.js'
import { routes } from './routes.js'
import { createSessionCodec } from './session.js'
import { createHttp } from './upstream/http.js'
import { verifySignature } from './user-data.js'

/** The limits of an index kept without maxSessions or oneSessionPer: its bound alone. */
const UNCAPPED: SessionLimits = Object.freeze({ maxSessions: MAX_SESSIONS, oneSessionPer: undefined })

/**
 * The revocation store the option names (closed with the app), or undefined without the option. The
 * index of each user's sessions is kept whenever revocation is on (listSessions): without
 * maxSessions or oneSessionPer, bounded at MAX_SESSIONS a user (a login past that ends the oldest).
 */
async function openRevocations (fastify: FastifyInstance, settings: Settings): Promise<{ revocations: Revocations | undefined, limits: SessionLimits | undefined }> {
  const { revocation, maxAge } = settings
  const limits = settings.limits ?? (revocation === undefined ? undefined : UNCAPPED)
  const revocationOptions = { maxAge: maxAge * 1000, log: fastify.log, limits }
  let revocations: Revocations | undefined
  if (revocation?.kind === 'memory') revocations = memoryRevocations(revocationOptions)
  if (revocation?.kind === 'redis') {
    revocations = await redisRevocations({ ...revocationOptions, redis: revocation.redis, prefix: revocation.prefix, timeout: settings.timeout, pluginTimeout: fastify.initialConfig.pluginTimeout })
  }
  if (revocations !== undefined) {
    const store = revocations
    fastify.addHook('onClose', async () => { await store.close() })
  }
  return { revocations, limits }
}

const plugin: FastifyPluginAsync<FastifyWeappOptions> = async function fastifyWeapp (fastify, options) {
  if (fastify.hasDecorator('weapp')) {
    throw new InvalidOptionError('fastify-weapp is already registered in this context: serve several mini programs with one registration (the apps option), or give each registration its own encapsulated context with app.register(async (child) => { ... })')
  }
  // Settings.
  const settings = buildSettings(options)
  for (const warning of cleartextWarnings(settings.apiBaseUrl)) fastify.log.warn(warning)
  if (settings.jwt !== undefined && !fastify.hasDecorator('jwt')) {
    throw new InvalidOptionError('jwt needs @fastify/jwt: register it before fastify-weapp (app.register(fastifyJwt, { secret }))')
  }
  // Upstream: one pooled HTTP client for every upstream this registration calls, closed with the app.
  const http = createHttp(settings.upstreamConnections)
  fastify.addHook('onClose', async () => { await http.close() })
  // Registry. Signed answers accepted once: fleet-wide in Redis where revocation is on it (the store
  // is made below, before any request), else in this process (as `'memory'` revocation is).
  const revocation = settings.revocation
  const local = memoryOnce()
  const once: Once = async (name, ms) => revocation?.kind === 'redis' ? await (revocations as Revocations).claim(`once:${name}`, ms) : await local(name, ms)
  const registry = createRegistry(settings.apps, { apiBaseUrl: settings.apiBaseUrl, timeout: settings.timeout, http, once })
  // Revocations.
  const { revocations, limits } = await openRevocations(fastify, settings)
  // Codec.
  const sessions = createSessionCodec({ audience: registry.audience, keys: settings.keys, expiresIn: settings.expiresIn, cacheSize: settings.sessionCacheSize })
  const auth = createAuthentication({ sessions, revocations, registry, settings })
  if (settings.renewWithin !== 0) fastify.addHook('onSend', auth.renewOnSend)
  const ending = createEnding({ sessions, revocations, registry, limits, reset: revocation?.resetSessionKey, log: fastify.log })
  // One budget of failures per user, for the routes and openEncrypted alike.
  const shared: Shared = {
    sessions,
    watermarkMaxAge: settings.watermarkMaxAge,
    expiresIn: settings.expiresIn,
    track: trackerOf(revocations, limits, settings.limits !== undefined, fastify.log),
    failures: userFailureBudget(settings.decryptFailureLimit)
  }
  const apiOf = appApis(shared)
  // Decorators.
  const api: WeappApi = {
    ...(registry.single === undefined ? noSingleApp : withoutApp(apiOf(registry.single))),
    authenticate: auth.authenticate,
    sessionOf (request) {
      const session = request.weappSession
      if (session === null) throw new TypeError('sessionOf(request): this route does not run fastify.weapp.authenticate; add it (onRequest: fastify.weapp.authenticate)')
      return session
    },
    redeemLink: linkRedeemer(sessions, revocations),
    // Always a promise (a refusal a rejection), whether the session opened at once or not.
    unseal: (async (token: string) => await auth.open(token)) as WeappApi['unseal'],
    verifySignature,
    app: async (appId) => apiOf(await registry.get(appId)),
    revoke: ending.revoke,
    revokeUser: ending.revokeUser,
    listSessions: ending.listSessions,
    jwtTrusted: ending.jwtTrusted
  }
  fastify.decorate('weapp', Object.freeze(api))
  fastify.decorateRequest('weappSession', null)
  // Routes.
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
    afterLogout: ending.resetKeyOf,
    track: shared.track,
    healClaims: auth.healClaims
  })
}

/** The plugin. Register it with `{ appId, appSecret, key }` or `{ apps, key }`; see the README for every option. */
export const fastifyWeapp = fp(plugin, { fastify: '5.x', name: 'fastify-weapp' })
export default fastifyWeapp

export type { WeappApi, WeappAppApi } from './api.js'
export type { WeappSessionTypes, WeappClaims, WeappSession, WeappIdentity, WeappLoginIdentity, WeappLinkedIdentity, WeappLoginAnswer, WeappLinkRequired } from './types.js'
export { jwtTrusted } from './ending.js'

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
