import { AppLookupError, UnknownAppError, safeCause } from './errors.js'
import { Memo } from './memo.js'
import { orList, unknownName } from './names.js'
import { platformOf, ROWS, type ApiBaseUrls, type WeappAppConfig } from './platforms/index.js'
import { APP_ID, isObject, type App, type Platform, type TokenPool } from './platforms/platform.js'
import type { AccessTokens } from './upstream/tokens.js'
import { singleFlight } from './upstream/single-flight.js'
import type { Http } from './upstream/http.js'
import { memoryOnce, type Once } from './once.js'

export { APP_ID, APP_ID_PATTERN, type App } from './platforms/platform.js'
export type { AppKind, ApiBaseUrls, WeappAppConfig } from './platforms/index.js'

/** Looks an app up (in a database, say): its config, or undefined when there is no such app. */
export type WeappAppLookup = (appId: string) => WeappAppConfig | undefined | null | Promise<WeappAppConfig | undefined | null>

export interface UpstreamSettings {
  apiBaseUrl: ApiBaseUrls
  /** ms */
  timeout: number
  /** The registration's pooled HTTP client; default a shared one. */
  http?: Http
  /** What remembers the signed answers already accepted (see lib/once.ts); default one in this process. */
  once?: Once
}

/** How long a lookup function's answer (an app, or "no such app") is used before asking again. */
export const APP_CACHE_TTL = 60_000
/** How many looked-up apps are remembered at most. */
export const APP_CACHE_SIZE = 1000

/** The config fields of the table's rows, besides `appId` and `platform`. */
const KEYS = [...new Set(ROWS.map((row) => row.config.key))]
/** The optional config fields rows declare (`apiSecurity`), with what takes each, for "… is only for …". */
const OPTIONAL_FIELDS: Readonly<Record<string, string>> = Object.fromEntries([...new Set(ROWS.flatMap((row) => Object.keys(row.config.optional ?? {})))]
  .map((name) => [name, orList(ROWS.filter((row) => row.config.optional?.[name] !== undefined).map((row) => row.config.describes))]))
/** The rows `platform: kind` chooses, for the message about any other value. */
const SELECTABLE = ROWS.filter((row) => row.config.selectable).map((row) => `'${row.kind}'`)
const CHOICES = ROWS.filter((row) => row.config.default).map((row) => `${row.config.key} (${row.config.describes})`)

const list = orList

/** The row of a config: by its `platform`, else by the one credential field it gives; or why none. */
function rowOf (config: Record<string, unknown>): { row: Platform } | { problem: string } {
  const given = KEYS.filter((key) => config[key] !== undefined)
  const named = config.platform === undefined ? undefined : platformOf(config.platform)
  if (config.platform !== undefined && (named === undefined || !named.config.selectable)) return { problem: `platform must be ${list(SELECTABLE)}` }
  // Naming a default row is the same as naming none: the credential field decides.
  const chosen = named !== undefined && !named.config.default ? named : undefined
  const row = chosen ?? ROWS.find((r) => r.config.default && given.length === 1 && r.config.key === given[0])
  if (typeof config.appId !== 'string' || !APP_ID.test(config.appId)) return { problem: "appId is not an AppID such as 'wx0123456789abcdef'" }
  if (given.length !== 1) return { problem: `give exactly one of ${list(CHOICES)}` }
  // One credential field, and a row for it: the default row of that field, or the one named.
  if ((row as Platform).config.key !== given[0]) return { problem: `platform '${String(config.platform)}' takes ${(row as Platform).config.key}` }
  return { row: row as Platform }
}

/** Why a config is not one app's, or undefined when it is. */
export function appConfigProblem (config: unknown): string | undefined {
  if (!isObject(config)) return 'not an object'
  const extra = unknownName(config, ['appId', 'platform', ...KEYS, ...Object.keys(OPTIONAL_FIELDS)])
  if (extra !== undefined) return extra
  const found = rowOf(config)
  if ('problem' in found) return found.problem
  const { row } = found
  for (const [name, only] of Object.entries(OPTIONAL_FIELDS)) {
    if (config[name] === undefined) continue
    const field = row.config.optional?.[name]
    if (field === undefined) return `${name} is only for ${only}, not for an app of kind '${row.kind}'`
    const problem = field.problem(config[name])
    if (problem !== undefined) return problem
  }
  return row.config.problem(config[row.config.key])
}

/** A config's fields by name, to read (every value unknown until checked). */
const fieldsOf = (config: object): Record<string, unknown> => config as Record<string, unknown>

/** A frozen copy of a valid config with only the fields the plugin reads (the caller checked it). */
export function normalizeAppConfig (config: WeappAppConfig): WeappAppConfig {
  const given = fieldsOf(config)
  const { row } = rowOf(given) as { row: Platform }
  const { key } = row.config
  const copy: Record<string, unknown> = { appId: config.appId, [key]: row.config.normalize(given[key]) }
  for (const [name, field] of Object.entries(row.config.optional ?? {})) {
    if (given[name] !== undefined) copy[name] = field.normalize(given[name])
  }
  // Only a non-default row's configs name their platform, as they were given.
  if (!row.config.default) copy.platform = row.kind
  // Built field by field from a config its row checked: the row's fields, which the type lists.
  return Object.freeze(copy) as unknown as WeappAppConfig
}

/** Whether two normalized configs say the same (functions by identity). */
function sameConfig (a: unknown, b: unknown): boolean {
  if (!isObject(a) || !isObject(b)) return a === b
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((key) => sameConfig(a[key], b[key]))
}

/**
 * Token caches shared by every app of a registration that uses the same credentials: the hosted
 * mini programs of one hosting platform share its token, the mini programs of one linked app its
 * token. Keyed by the credentials, so a changed secret is a new cache.
 */
function tokenPool (size: number | undefined): TokenPool {
  const caches = size === undefined ? new Map<string, AccessTokens>() : new Memo<AccessTokens>(size)
  return (key, make) => {
    let tokens = caches.get(key)
    if (tokens === undefined) {
      tokens = make()
      caches.set(key, tokens)
    }
    return tokens
  }
}

export function createApp (config: WeappAppConfig, upstream: UpstreamSettings, pool: TokenPool, once: Once): App {
  const given = fieldsOf(config) as { appId: string } & Record<string, unknown>
  const { row } = rowOf(given) as { row: Platform }
  // Each app's calls queue in a lane of their own: one app's flood never takes the others' sockets.
  const http = upstream.http?.lane(config.appId)
  return row.create(given, { apiBaseUrl: upstream.apiBaseUrl[row.origin.key as keyof ApiBaseUrls], timeout: upstream.timeout, http, pool, once })
}

/**
 * The apps one registration serves, always chosen per request (from the login body or Referer,
 * then from the session): there is no "current app" anywhere.
 */
export interface Registry {
  /** The app when exactly one is configured in a list (the `appId` shorthand included). */
  readonly single: App | undefined
  /** The AppIDs sessions may name; undefined with a lookup function (any app it knew at login). */
  readonly audience: readonly string[] | undefined
  /** The app, or a rejection: `WEAPP_UNKNOWN_APP`, or `WEAPP_APP_LOOKUP_FAILED` when the lookup failed. */
  get (appId: string): Promise<App>
}

function unknown (appId: string): Error {
  return new UnknownAppError(`No mini program ${appId} is served here; send the appId of a configured app`)
}

interface Looked { app: App, config: WeappAppConfig, until: number }

export function createRegistry (apps: readonly WeappAppConfig[] | WeappAppLookup, upstream: UpstreamSettings, now: () => number = Date.now): Registry {
  // One memory of accepted answers for every app of the registration (an app looked up anew keeps it).
  const once = upstream.once ?? memoryOnce()
  if (typeof apps !== 'function') {
    const pool = tokenPool(undefined)
    const byId = new Map(apps.map((config) => [config.appId, createApp(config, upstream, pool, once)]))
    return {
      single: byId.size === 1 ? byId.values().next().value : undefined,
      audience: Object.freeze([...byId.keys()]),
      async get (appId) {
        const app = byId.get(appId)
        if (app === undefined) throw unknown(appId)
        return app
      }
    }
  }

  // A lookup function: answers (apps and "no such app") cached for APP_CACHE_TTL in a bounded
  // memo, one lookup in flight per appId, failures not cached. An app whose config is unchanged
  // keeps its App; tokens live in a pool keyed by credentials, so they survive a new App too.
  const find = apps
  const cache = new Memo<Looked>(APP_CACHE_SIZE)
  // "No such app" answers live apart: made-up appIds (anyone can send them) never evict a known app.
  const missing = new Memo<number>(APP_CACHE_SIZE)
  const pool = tokenPool(APP_CACHE_SIZE * 2)
  const shared = singleFlight<App | undefined>()

  async function lookup (appId: string): Promise<App | undefined> {
    let answer: unknown
    try {
      answer = await find(appId)
    } catch (err) {
      throw new AppLookupError(`The apps lookup failed for ${appId}; retry in a moment`, { cause: safeCause(err, []) })
    }
    if (answer === undefined || answer === null) {
      cache.delete(appId)
      missing.set(appId, now() + APP_CACHE_TTL)
      return undefined
    }
    const problem = appConfigProblem(answer) ?? ((answer as WeappAppConfig).appId === appId ? undefined : 'it is the config of another appId')
    if (problem !== undefined) {
      throw new AppLookupError(`The apps lookup answered an unusable config for ${appId}: ${problem}`)
    }
    const config = normalizeAppConfig(answer as WeappAppConfig)
    const previous = cache.get(appId)
    const app = previous?.app !== undefined && sameConfig(previous.config, config) ? previous.app : createApp(config, upstream, pool, once)
    missing.delete(appId)
    cache.set(appId, { app, config, until: now() + APP_CACHE_TTL })
    return app
  }

  return {
    single: undefined,
    audience: undefined,
    async get (appId) {
      const known = cache.get(appId)
      const absent = known === undefined ? missing.get(appId) : undefined
      if (absent !== undefined && absent > now()) throw unknown(appId)
      const app = known !== undefined && known.until > now() ? known.app : await shared(appId, async () => await lookup(appId))
      if (app === undefined) throw unknown(appId)
      return app
    }
  }
}
