import { APP_ID, appConfigProblem, normalizeAppConfig, type ApiBaseUrls, type WeappAppConfig, type WeappAppLookup } from './apps.js'
import { DEFAULT_API_BASE_URLS, ROWS } from './platforms/index.js'
import { InvalidOptionError } from './errors.js'
import { orList, unknownName } from './names.js'
import { parseKeys } from './keys.js'
import { DEFAULT_UPSTREAM_CONNECTIONS } from './upstream/http.js'
import type { RedisLike } from './revocation/index.js'
import { MAX_SESSIONS, type SessionLimits } from './revocation/index.js'
import type { JwtSettings, RevocationSettings, RouteConfigs, Settings } from './option-types.js'

export type { FastifyWeappOptions, JwtSettings, OneApp, RevocationSettings, RouteConfigs, Settings, SeveralApps, WeappCommonOptions } from './option-types.js'

export const DEFAULT_EXPIRES_IN = 7 * 24 * 3600
export const DEFAULT_TIMEOUT = 5000
export const DEFAULT_PREFIX = '/weapp'
/** The first platform's origin: the one a registration of `appId` + `appSecret` calls. */
export const DEFAULT_API_BASE_URL = (ROWS[0] as { origin: { url: string } }).origin.url
export { DEFAULT_API_BASE_URLS }
export const DEFAULT_SESSION_CACHE_SIZE = 10_000
export const DEFAULT_DECRYPT_FAILURE_LIMIT = 10

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }
const SPAN = /^(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)$/i

/** Seconds in a time span such as `'7d'`, `'12 hours'`, `'90s'`; `undefined` when it is not one. */
export function parseTimeSpan (text: string): number | undefined {
  const match = SPAN.exec(text.trim())
  if (match === null) return undefined
  const unit = (match[2] as string).toLowerCase()
  return Number(match[1]) * (UNIT_SECONDS[unit[0] as string] as number)
}

function requiredString (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value !== value.trim()) {
    throw new InvalidOptionError(`${name} is required: a non-empty string without surrounding spaces`)
  }
  return value
}

function appIdString (value: unknown): string {
  if (typeof value !== 'string' || !APP_ID.test(value)) {
    throw new InvalidOptionError("appId is required: the mini program's AppID, such as 'wx0123456789abcdef' (letters, digits, '-' and '_', at most 64)")
  }
  return value
}

/** The shapes of app configs, for messages: "{ appId, appSecret }, … or { appId, … }". */
const CONFIG_SHAPES = orList([...new Set(ROWS.map((row) => `{ appId, ${row.config.key} }`))])

/** `apps`, or the `appId` + `appSecret` shorthand, as one list or the lookup function. */
function parseApps (o: Record<string, unknown>): readonly WeappAppConfig[] | WeappAppLookup {
  if (o.apps === undefined) {
    const config: WeappAppConfig = { appId: appIdString(o.appId), appSecret: requiredString(o.appSecret, 'appSecret') }
    if (o.apiSecurity === undefined) return Object.freeze([Object.freeze(config)])
    // The one app's API security: checked as an app config's.
    const problem = appConfigProblem({ ...config, apiSecurity: o.apiSecurity })
    if (problem !== undefined) throw new InvalidOptionError(problem)
    return Object.freeze([normalizeAppConfig({ ...config, apiSecurity: o.apiSecurity } as WeappAppConfig)])
  }
  if (o.appId !== undefined || o.appSecret !== undefined || o.apiSecurity !== undefined) {
    throw new InvalidOptionError('apps and appId/appSecret are two ways to say the same: give apps alone (several mini programs, each with its own apiSecurity) or appId + appSecret (+ apiSecurity) (one)')
  }
  if (typeof o.apps === 'function') return o.apps as WeappAppLookup
  if (!Array.isArray(o.apps) || o.apps.length === 0) {
    throw new InvalidOptionError(`apps must be a non-empty array of app configs (${CONFIG_SHAPES}), or a function (appId) => config | undefined`)
  }
  const seen = new Set<string>()
  return Object.freeze(o.apps.map((config: unknown, i) => {
    const problem = appConfigProblem(config)
    if (problem !== undefined) throw new InvalidOptionError(`apps[${i}]: ${problem}`)
    const { appId } = config as WeappAppConfig
    if (seen.has(appId)) throw new InvalidOptionError(`apps[${i}] repeats the appId ${appId}`)
    seen.add(appId)
    return normalizeAppConfig(config as WeappAppConfig)
  }))
}

/** A whole number from `min` to `max`, or `fallback` when not given. */
function wholeNumber (value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`${name} must be a whole number from ${min} to ${max}${min === 0 ? ' (0 turns it off)' : ''}`)
  }
  return value
}

/** A lifetime option: seconds from 1 to a max, or a time span. */
function parseSpan (value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback
  const seconds = typeof value === 'string' ? parseTimeSpan(value) : value
  if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds <= 0 || seconds > max) {
    throw new InvalidOptionError(`${name} must be a number of seconds from 1 to ${max} or a time span such as '7d', '12h', '30m'`)
  }
  return seconds
}

/** seconds: a link token is for finishing a login now, not later. */
const DEFAULT_LINK_EXPIRES_IN = 600

function parseExpiresIn (value: unknown): number {
  return parseSpan(value, 'expiresIn', DEFAULT_EXPIRES_IN, 366 * 86400)
}

export const DEFAULT_MAX_AGE = 30 * 86400
const REDIS_PREFIX = /^[\x21-\x7e]{0,64}$/

/** s: the default least time between two session_key resets of one user (the platform asks for few). */
export const DEFAULT_RESET_INTERVAL = 600

/** `resetSessionKey`: off, or the least time between two resets of one user (ms). */
function parseReset (value: unknown): { interval: number } | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return Object.freeze({ interval: DEFAULT_RESET_INTERVAL * 1000 })
  const given = value as { interval?: unknown } | null
  if (given === null || typeof given !== 'object' || unknownName(given, ['interval'], 'revocation.resetSessionKey.') !== undefined) {
    throw new InvalidOptionError("revocation.resetSessionKey must be true or { interval } (seconds or a time span such as '10m': the least time between two resets of one user)")
  }
  return Object.freeze({ interval: parseSpan(given.interval, 'revocation.resetSessionKey.interval', DEFAULT_RESET_INTERVAL, 86400) * 1000 })
}

function parseRevocation (value: unknown): RevocationSettings | undefined {
  if (value === undefined || value === false) return undefined
  if (value === 'memory') return Object.freeze({ kind: 'memory', resetSessionKey: undefined })
  const given = value as { redis?: Partial<RedisLike>, memory?: unknown, prefix?: unknown, resetSessionKey?: unknown } | null
  if (given !== null && typeof given === 'object' && given.memory === true && given.redis === undefined) {
    refuseUnknown(given, ['memory', 'resetSessionKey'], 'revocation.')
    return Object.freeze({ kind: 'memory', resetSessionKey: parseReset(given.resetSessionKey) })
  }
  const redis = given !== null && typeof given === 'object' ? given.redis : undefined
  if (redis === null || typeof redis !== 'object' || typeof redis.duplicate !== 'function' || typeof redis.eval !== 'function' || typeof redis.zrangebyscore !== 'function') {
    throw new InvalidOptionError("revocation must be false, 'memory', { memory: true, resetSessionKey? } or { redis, prefix?, resetSessionKey? } with an ioredis client (such as fastify.redis from @fastify/redis)")
  }
  const prefix = (given as { prefix?: unknown }).prefix ?? 'fastify-weapp:'
  if (typeof prefix !== 'string' || !REDIS_PREFIX.test(prefix)) {
    throw new InvalidOptionError("revocation.prefix must be up to 64 printable ASCII characters without spaces, such as 'myapp:weapp:'")
  }
  return Object.freeze({ kind: 'redis', redis: redis as RedisLike, prefix, resetSessionKey: parseReset((given as { resetSessionKey?: unknown }).resetSessionKey) })
}

/**
 * Path segments of unreserved characters only: Fastify's router reads `:`, `*`, `(` and `)` as
 * parameters, wildcards and patterns, so a prefix such as '/*' would fail deep in the router.
 */
const PREFIX = /^(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*\/?$/

function parsePrefix (value: unknown): string {
  if (value === undefined) return DEFAULT_PREFIX
  if (typeof value !== 'string' || !PREFIX.test(value)) {
    throw new InvalidOptionError("prefix must be a path of letters, digits, '-', '_', '.' and '~' segments starting with '/', such as '/weapp' or '/api/v1/wx', or '' for none")
  }
  return value.replace(/\/+$/, '')
}

function parseOrigin (value: unknown, name: string): string {
  let url: URL | undefined
  try {
    // URL drops an empty '?' or '#', which would then swallow the path every call appends.
    url = typeof value === 'string' && !/[?#]/.test(value) ? new URL(value) : undefined
  } catch {}
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') {
    throw new InvalidOptionError(`${name} must be an http(s) URL without query, fragment or credentials, such as 'https://api.weixin.qq.com'`)
  }
  return url.href.replace(/\/+$/, '')
}

const ORIGIN_KEYS = Object.keys(DEFAULT_API_BASE_URLS)

/** One origin for every platform (a mock, a proxy), or one per platform with the others' defaults. */
function parseApiBaseUrl (value: unknown): ApiBaseUrls {
  if (value === undefined) return DEFAULT_API_BASE_URLS
  if (typeof value === 'string') {
    const origin = parseOrigin(value, 'apiBaseUrl')
    return Object.freeze(Object.fromEntries(ORIGIN_KEYS.map((key) => [key, origin])) as Record<keyof ApiBaseUrls, string>)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(`apiBaseUrl must be a URL, or an object with one per platform: { ${ORIGIN_KEYS.map((key) => `${key}?`).join(', ')} }`)
  }
  const given = value as Record<string, unknown>
  const extra = Object.keys(given).find((name) => !Object.hasOwn(DEFAULT_API_BASE_URLS, name))
  if (extra !== undefined) throw new InvalidOptionError(`apiBaseUrl.${extra} is not a platform: give ${orList(ORIGIN_KEYS)}`)
  const urls = { ...DEFAULT_API_BASE_URLS }
  for (const name of Object.keys(urls) as Array<keyof ApiBaseUrls>) {
    if (given[name] !== undefined) urls[name] = parseOrigin(given[name], `apiBaseUrl.${name}`)
  }
  return Object.freeze(urls)
}

function parseJwt (value: unknown): JwtSettings | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return Object.freeze({ sign: Object.freeze({}), expiresIn: undefined, claims: undefined })
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError('jwt must be true, false or the sign options for @fastify/jwt, such as { expiresIn: \'1h\' }')
  }
  const { expiresIn, aud: _aud, claims, ...sign } = value as Record<string, unknown>
  if (claims !== undefined && claims !== true && !(Array.isArray(claims) && claims.length > 0 && claims.every((name) => typeof name === 'string' && name !== ''))) {
    throw new InvalidOptionError("jwt.claims must be true (every claim of onLogin's) or a list of claim names, such as ['userId', 'roles']: the JWS carries them, readable by the client")
  }
  let seconds: number | undefined
  if (expiresIn !== undefined) {
    seconds = typeof expiresIn === 'string' ? parseTimeSpan(expiresIn) : expiresIn as number
    if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds <= 0) {
      throw new InvalidOptionError("jwt.expiresIn must be a number of seconds from 1 or a time span such as '1h', '30m' (the JWS never outlives its session anyway)")
    }
  }
  return Object.freeze({ sign: Object.freeze(sign), expiresIn: seconds, claims: Array.isArray(claims) ? Object.freeze([...claims] as string[]) : claims as true | undefined })
}

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i

/**
 * The warnings to log at registration, one per origin where the AppSecret would cross a network in
 * clear (an `http:` origin that is not on loopback).
 */
export function cleartextWarnings (apiBaseUrl: ApiBaseUrls): string[] {
  const warnings = new Set<string>()
  for (const href of Object.values(apiBaseUrl)) {
    const url = new URL(href)
    if (url.protocol !== 'http:' || LOOPBACK.test(url.hostname)) continue
    warnings.add(`fastify-weapp: apiBaseUrl ${url.origin} is plain http: the AppSecret and every session_key cross the network in clear; use https unless this is a trusted proxy on your own host`)
  }
  return [...warnings]
}

function parseRenewal (o: Record<string, unknown>): { renewWithin: number, maxAge: number } {
  const expiresIn = parseExpiresIn(o.expiresIn)
  const renewWithin = parseSpan(o.renewWithin, 'renewWithin', 0, 366 * 86400)
  const maxAge = parseSpan(o.maxAge, 'maxAge', Math.max(DEFAULT_MAX_AGE, expiresIn), 5 * 366 * 86400)
  if (renewWithin >= expiresIn) {
    throw new InvalidOptionError(`renewWithin (${renewWithin} s) must be shorter than expiresIn (${expiresIn} s): it is how much of a session may be left when a request renews it`)
  }
  if (maxAge < expiresIn) throw new InvalidOptionError(`maxAge (${maxAge} s) must be at least expiresIn (${expiresIn} s)`)
  return { renewWithin, maxAge }
}

const ROUTES = ['login', 'decrypt', 'phone', 'logout'] as const

function parseRouteConfig (value: unknown): RouteConfigs {
  if (value === undefined) return Object.freeze({})
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError("routeConfig must be an object of route configs, such as { login: { rateLimit: { max: 10, timeWindow: '1 minute' } } }")
  }
  const given = value as Record<string, unknown>
  refuseUnknown(given, ROUTES, 'routeConfig.')
  for (const name of ROUTES) {
    const config = given[name]
    if (config !== undefined && (config === null || typeof config !== 'object' || Array.isArray(config))) {
      throw new InvalidOptionError(`routeConfig.${name} must be an object: the route's Fastify config`)
    }
  }
  return Object.freeze({ ...given })
}

function parseSecurityScheme (value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(value)) {
    throw new InvalidOptionError("securityScheme must be the name of a security scheme declared in @fastify/swagger's components.securitySchemes, such as 'weappSession'")
  }
  return value
}

/** The plugin's own options, and those Fastify's register() takes beside them. */
export const OPTION_NAMES = [
  'appId', 'appSecret', 'apiSecurity', 'apps', 'key', 'expiresIn', 'prefix', 'apiBaseUrl', 'timeout', 'upstreamConnections',
  'watermarkMaxAge', 'decryptFailureLimit', 'sessionCacheSize', 'jwt', 'revocation', 'renewWithin', 'maxAge', 'maxSessions', 'oneSessionPer',
  'routeConfig', 'securityScheme', 'onLogin', 'onRenew', 'linkExpiresIn', 'userSchema', 'logLevel', 'logSerializers'
] as const

/** A hook option: a function, or absent. */
function parseHook<T> (value: unknown, name: string, shape: string): T | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') throw new InvalidOptionError(`${name} must be a function, ${shape}`)
  return value as T
}

/** The JSON schema of the login answer's `user`: an object schema, default any object. */
function parseUserSchema (value: unknown): Readonly<Record<string, unknown>> {
  if (value === undefined) return Object.freeze({ type: 'object', additionalProperties: true })
  if (value === null || typeof value !== 'object' || Array.isArray(value) || (value as { type?: unknown }).type !== 'object') {
    throw new InvalidOptionError("userSchema must be a JSON schema of type 'object', such as { type: 'object', properties: { id: { type: 'integer' }, isNew: { type: 'boolean' } } }")
  }
  return Object.freeze({ ...value })
}

const PER = ['device', 'app', 'user']

/** `maxSessions` and `oneSessionPer`: the limits of a user's sessions, or undefined where neither is given. */
function parseLimits (o: Record<string, unknown>, revocation: unknown): SessionLimits | undefined {
  if (o.maxSessions === undefined && o.oneSessionPer === undefined) return undefined
  const maxSessions = wholeNumber(o.maxSessions, 'maxSessions', MAX_SESSIONS, 1, MAX_SESSIONS)
  const per = o.oneSessionPer
  if (per !== undefined && (typeof per !== 'string' || !PER.includes(per))) {
    throw new InvalidOptionError('oneSessionPer must be \'device\' (one session per device type in each app), \'app\' (one per app) or \'user\' (one in all)')
  }
  if (revocation === undefined) {
    const name = o.maxSessions === undefined ? 'oneSessionPer' : 'maxSessions'
    throw new InvalidOptionError(`${name} needs the revocation option ('memory', or { redis }): an evicted session is ended the way a revoked one is, and the index of a user's sessions is kept there`)
  }
  return Object.freeze({ maxSessions, oneSessionPer: per as SessionLimits['oneSessionPer'] })
}

/** Refuses the first name `given` has that `known` lacks, naming the closest known one. */
function refuseUnknown (given: object, known: readonly string[], path = ''): void {
  const problem = unknownName(given, known, path)
  if (problem !== undefined) throw new InvalidOptionError(problem)
}

/** Raw options to frozen settings; throws `WEAPP_INVALID_OPTION` naming the first bad option. */
export function buildSettings (options: unknown): Settings {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options must be an object with appId, appSecret and key')
  }
  const o = options as Record<string, unknown>
  refuseUnknown(o, OPTION_NAMES)
  const revocation = parseRevocation(o.revocation)
  const settings: Settings = {
    routeConfig: parseRouteConfig(o.routeConfig),
    securityScheme: parseSecurityScheme(o.securityScheme),
    apps: parseApps(o),
    keys: parseKeys(o.key),
    expiresIn: parseExpiresIn(o.expiresIn),
    prefix: parsePrefix(o.prefix),
    apiBaseUrl: parseApiBaseUrl(o.apiBaseUrl),
    timeout: wholeNumber(o.timeout, 'timeout', DEFAULT_TIMEOUT, 1, 120_000),
    upstreamConnections: wholeNumber(o.upstreamConnections, 'upstreamConnections', DEFAULT_UPSTREAM_CONNECTIONS, 1, 1024),
    watermarkMaxAge: wholeNumber(o.watermarkMaxAge, 'watermarkMaxAge', 0, 0, 366 * 86400),
    decryptFailureLimit: wholeNumber(o.decryptFailureLimit, 'decryptFailureLimit', DEFAULT_DECRYPT_FAILURE_LIMIT, 0, 1_000_000),
    sessionCacheSize: wholeNumber(o.sessionCacheSize, 'sessionCacheSize', DEFAULT_SESSION_CACHE_SIZE, 0, 10_000_000),
    jwt: parseJwt(o.jwt),
    revocation,
    ...parseRenewal(o),
    limits: parseLimits(o, revocation),
    onLogin: parseHook(o.onLogin, 'onLogin', 'async ({ app, identity, request }) => ({ claims }) (or undefined, { refuse }, { link: true })'),
    onRenew: parseHook(o.onRenew, 'onRenew', 'async ({ session, request }) => ({ claims }) (or undefined, { end: true })'),
    linkExpiresIn: parseSpan(o.linkExpiresIn, 'linkExpiresIn', DEFAULT_LINK_EXPIRES_IN, 3600),
    userSchema: parseUserSchema(o.userSchema)
  }
  if (settings.onRenew !== undefined && settings.renewWithin === 0) {
    throw new InvalidOptionError("onRenew needs renewWithin (such as '1d'): it is called when a session is due for renewal, and without renewWithin none ever is")
  }
  return Object.freeze(settings)
}
