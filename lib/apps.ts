import { createAccessTokens } from './access-token.js'
import { AppLookupError, UnknownAppError, safeCause } from './errors.js'
import { Memo } from './memo.js'
import type { WeappIdentity } from './session.js'
import { singleFlight } from './single-flight.js'
import { createUserApi } from './user-api.js'
import { createWechatClient, type WeappPhone } from './wechat.js'

/** One WeChat mini program: its AppID and AppSecret. */
export interface WeappAppConfig {
  appId: string
  appSecret: string
}

/** Looks an app up (in a database, say): its config, or undefined when there is no such app. */
export type WeappAppLookup = (appId: string) => WeappAppConfig | undefined | null | Promise<WeappAppConfig | undefined | null>

/** One app's upstream building blocks: each app has its own WeChat client and access token. */
export interface App {
  readonly appId: string
  code2Session (code: string): Promise<WeappIdentity>
  accessToken (): Promise<string>
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
}

export interface UpstreamSettings {
  apiBaseUrl: string
  /** ms */
  timeout: number
}

/** How long a lookup function's answer (an app, or "no such app") is used before asking again. */
export const APP_CACHE_TTL = 60_000
/** How many looked-up apps are remembered at most. */
export const APP_CACHE_SIZE = 1000

/** An AppID: short ASCII (WeChat's `wx` + 16 hex digits). One definition for options, routes and lookups. */
export const APP_ID_PATTERN = '[A-Za-z0-9_-]{1,64}'
export const APP_ID = new RegExp(`^${APP_ID_PATTERN}$`)

/** Why a config is not one app's, or undefined when it is. */
export function appConfigProblem (config: unknown): string | undefined {
  if (config === null || typeof config !== 'object') return 'not an object'
  const { appId, appSecret, wecom, component } = config as Record<string, unknown>
  if (wecom !== undefined || component !== undefined) return 'WeCom (wecom) and third-party platform (component) apps are not supported by this version: only { appId, appSecret }'
  if (typeof appId !== 'string' || !APP_ID.test(appId)) return "appId is not an AppID such as 'wx0123456789abcdef'"
  if (typeof appSecret !== 'string' || appSecret.trim() === '' || appSecret !== appSecret.trim()) return 'appSecret is not a non-empty string without surrounding spaces'
  return undefined
}

export function createApp ({ appId, appSecret }: WeappAppConfig, upstream: UpstreamSettings): App {
  const wechat = createWechatClient({ appId, appSecret, ...upstream })
  const tokens = createAccessTokens({ appId, appSecret, ...upstream })
  const user = createUserApi({ appId, ...upstream, tokens })
  return Object.freeze({
    appId,
    code2Session: wechat.code2Session,
    accessToken: tokens.get,
    getPhoneNumber: user.getPhoneNumber,
    checkSessionKey: user.checkSessionKey
  })
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

interface Looked { app: App | undefined, appSecret: string | undefined, until: number }

export function createRegistry (apps: readonly WeappAppConfig[] | WeappAppLookup, upstream: UpstreamSettings, now: () => number = Date.now): Registry {
  if (typeof apps !== 'function') {
    const byId = new Map(apps.map((config) => [config.appId, createApp(config, upstream)]))
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
  // memo, one lookup in flight per appId, failures not cached. An app whose secret is unchanged
  // keeps its App, and so its access token, across lookups.
  const find = apps
  const cache = new Memo<Looked>(APP_CACHE_SIZE)
  const shared = singleFlight<App | undefined>()

  async function lookup (appId: string): Promise<App | undefined> {
    let config: unknown
    try {
      config = await find(appId)
    } catch (err) {
      throw new AppLookupError(`The apps lookup failed for ${appId}; retry in a moment`, { cause: safeCause(err, []) })
    }
    if (config === undefined || config === null) {
      cache.set(appId, { app: undefined, appSecret: undefined, until: now() + APP_CACHE_TTL })
      return undefined
    }
    const problem = appConfigProblem(config) ?? ((config as WeappAppConfig).appId === appId ? undefined : 'it is the config of another appId')
    if (problem !== undefined) {
      throw new AppLookupError(`The apps lookup answered an unusable config for ${appId}: ${problem}`)
    }
    const { appSecret } = config as WeappAppConfig
    const previous = cache.get(appId)
    const app = previous?.app !== undefined && previous.appSecret === appSecret ? previous.app : createApp({ appId, appSecret }, upstream)
    cache.set(appId, { app, appSecret, until: now() + APP_CACHE_TTL })
    return app
  }

  return {
    single: undefined,
    audience: undefined,
    async get (appId) {
      const known = cache.get(appId)
      const app = known !== undefined && known.until > now() ? known.app : await shared(appId, async () => await lookup(appId))
      if (app === undefined) throw unknown(appId)
      return app
    }
  }
}
