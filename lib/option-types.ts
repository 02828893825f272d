import type { OneSessionPer, SessionLimits } from './revocation/index.js'
import type { ApiBaseUrls, WeappAppConfig, WeappAppLookup } from './apps.js'
import type { KeyInput, SessionKey } from './keys.js'
import type { RedisLike } from './revocation/index.js'
import type { WeappApiSecurity } from './platforms/index.js'
import type { WeappLoginHook, WeappRenewHook } from './hooks.js'

/** The plugin's options, as users give them, and the settings they become. */

/** One mini program: `appId` + `appSecret`. */
export interface OneApp {
  /** The mini program's AppID. */
  appId: string
  /** Its AppSecret. Never logged, never in a reply or error message. */
  appSecret: string
  /** Its platform's API security, where it has one (see the README): the calls that support it are encrypted and signed. */
  apiSecurity?: WeappApiSecurity
  apps?: undefined
}

/** Several mini programs: a list, or a function that looks one up (its answers cached for a minute). */
export interface SeveralApps {
  apps: readonly WeappAppConfig[] | WeappAppLookup
  appId?: undefined
  appSecret?: undefined
  apiSecurity?: undefined
}

/** Options of the plugin; see the README for each one. */
export type FastifyWeappOptions = (OneApp | SeveralApps) & WeappCommonOptions

/** The options every registration takes, whatever its apps. */
export interface WeappCommonOptions {
  /** 32-byte key(s): the first seals, every key unseals (rotation). */
  key: KeyInput | readonly KeyInput[]
  /** Session lifetime: seconds, or a time span such as `'7d'`, `'12h'`. Default `'7d'`. */
  expiresIn?: number | string
  /** Where the routes live. Default `'/weapp'`. */
  prefix?: string
  /**
   * The API origin (a mock, a proxy) for every platform, or one per platform (keyed as the table of
   * platforms in the README says), each defaulting to the platform's own.
   */
  apiBaseUrl?: string | Partial<ApiBaseUrls>
  /** Upstream request timeout in ms, waiting for a pooled connection included. Default `5000`. */
  timeout?: number
  /** Connections to each upstream origin at most (keep-alive, pooled); more calls wait. Default 32. */
  upstreamConnections?: number
  /** Reject decrypted data whose `watermark.timestamp` is older than this many seconds. Default off. */
  watermarkMaxAge?: number
  /**
   * Failed decrypts (bad data or signature) one user may make in a minute on the decrypt route
   * before a minute of 429 `WEAPP_RATE_LIMITED`. Default 10; 0 turns the budget off.
   */
  decryptFailureLimit?: number
  /** How many unsealed sessions to remember (a bounded memo keyed by token). Default 10000; 0 disables. */
  sessionCacheSize?: number
  /**
   * Bridge to @fastify/jwt (registered before this plugin): the login route also answers `token`,
   * a JWS signed by the app's @fastify/jwt with `sub` = openid (and `unionid`) and `aud` = appId,
   * expiring no later than the session. `true`, or the sign options to use (`{ expiresIn: '1h' }`:
   * seconds or a time span, capped at the session's lifetime), with `claims: true` or a list of
   * names for the app's claims the JWS carries (the client can read a JWS). Default `false`.
   */
  jwt?: boolean | Record<string, unknown>
  /**
   * Where ended sessions are remembered: `false` (default: sessions end only at `exp`), `'memory'`
   * (one process), or `{ redis, prefix? }` with an ioredis client (`fastify.redis`) shared by the fleet.
   */
  revocation?: false | 'memory' | { memory: true, resetSessionKey?: ResetSessionKey } | { redis: RedisLike, prefix?: string, resetSessionKey?: ResetSessionKey }
  /** Renew a session that has less than this left (seconds or a time span). Default off. */
  renewWithin?: number | string
  /** How long one login can be kept alive through renewals (seconds or a time span). Default `'30d'`. */
  maxAge?: number | string
  /**
   * The most live sessions one user may hold (1 to 100); a login past it ends the oldest, which then
   * answers 401 `WEAPP_SESSION_KICKED`. Needs `revocation`. Default none (no index of sessions).
   */
  maxSessions?: number
  /**
   * One session per device type (the login's `device`, in its app), per app, or per user: a login
   * ends the user's session of the same kind (401 `WEAPP_SESSION_KICKED`). Needs `revocation`. Default none.
   */
  oneSessionPer?: OneSessionPer
  /**
   * Each route's Fastify `config`, such as `{ login: { rateLimit: { max: 10, timeWindow: '1 minute' } } }`
   * for @fastify/rate-limit. Keys: `login`, `decrypt`, `phone`, `logout`. Default none.
   */
  routeConfig?: RouteConfigs
  /**
   * The OpenAPI security scheme the authenticated routes name (declare it in @fastify/swagger's
   * `components.securitySchemes`), such as `'weappSession'`. Default none: a document that names
   * no undeclared scheme.
   */
  securityScheme?: string
  /**
   * Called after each login's upstream exchange, before anything is sealed: find or create the
   * app's own user and return its claims (sealed in the session), an answer for the client, a
   * refusal, or `{ link: true }`. Default none: today's login. See the README's "Your users".
   */
  onLogin?: WeappLoginHook
  /** Called when a session is due for renewal (only then): new claims, `{ end: true }`, or nothing. Needs `renewWithin`. */
  onRenew?: WeappRenewHook
  /** How long a link token (of `onLogin`'s `{ link: true }`) may be redeemed: seconds or a time span. Default `'10m'`, at most `'1h'`. */
  linkExpiresIn?: number | string
  /**
   * The JSON schema of the login answer's `user` (what `onLogin` answers): only what it declares
   * is sent, and the OpenAPI document shows it. Default any object.
   */
  userSchema?: Record<string, unknown>
}

/** The Fastify `config` of each of the plugin's routes. */
export interface RouteConfigs {
  login?: Record<string, unknown>
  decrypt?: Record<string, unknown>
  phone?: Record<string, unknown>
  logout?: Record<string, unknown>
}

/**
 * Logout, `revoke()` and `revokeUser(session)` also reset the user's session_key (the platform's
 * resetusersessionkey, where it has one), so a copied token's sealed key decrypts nothing more:
 * `true` (at most once per user every 10 minutes) or `{ interval }` (seconds or a time span).
 */
export type ResetSessionKey = boolean | { interval: number | string }

/** The revocation store's settings. */
export type RevocationSettings = ({ kind: 'memory' } | { kind: 'redis', redis: RedisLike, prefix: string }) & {
  /** Logout and revocations also reset the user's session_key, at most once per user per `interval` (ms). */
  resetSessionKey: { interval: number } | undefined
}

/** Validated, normalised, frozen options. */
export interface Settings {
  /** The apps: a validated list (one for the `appId` shorthand), or the lookup function. */
  readonly apps: readonly WeappAppConfig[] | WeappAppLookup
  readonly keys: readonly SessionKey[]
  /** seconds */
  readonly expiresIn: number
  readonly prefix: string
  /** one origin per platform, without a trailing slash */
  readonly apiBaseUrl: ApiBaseUrls
  /** ms */
  readonly timeout: number
  /** sockets per upstream origin */
  readonly upstreamConnections: number
  /** seconds, or 0 for off */
  readonly watermarkMaxAge: number
  /** failures a minute per user on the decrypt route, or 0 for no limit */
  readonly decryptFailureLimit: number
  /** entries, or 0 for no memo */
  readonly sessionCacheSize: number
  /** the @fastify/jwt bridge, or undefined when off */
  readonly jwt: JwtSettings | undefined
  /** where revocations are kept, or undefined when off */
  readonly revocation: RevocationSettings | undefined
  /** seconds, or 0 for no renewal */
  readonly renewWithin: number
  /** seconds */
  readonly maxAge: number
  /** The limits of a user's sessions (an index of them is kept), or undefined for none. */
  readonly limits: SessionLimits | undefined
  readonly routeConfig: RouteConfigs
  readonly securityScheme: string | undefined
  readonly onLogin: WeappLoginHook | undefined
  readonly onRenew: WeappRenewHook | undefined
  /** seconds */
  readonly linkExpiresIn: number
  readonly userSchema: Readonly<Record<string, unknown>>
}

/** The jwt bridge's settings: sign options for @fastify/jwt, and the JWS lifetime they asked for. */
export interface JwtSettings {
  /** Passed on to `reply.jwtSign`, without `expiresIn` and `aud` (the plugin sets both). */
  readonly sign: Readonly<Record<string, unknown>>
  /** seconds, or undefined for the session's own lifetime; never more than what is left of the session */
  readonly expiresIn: number | undefined
  /** Which of the session's claims the JWS carries (under `claims`): all, some, or none (undefined). */
  readonly claims: true | readonly string[] | undefined
}
