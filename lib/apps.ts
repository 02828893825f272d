import { createAccessTokens, type AccessTokens } from './access-token.js'
import { createAuthorizerTokens, createComponentClient, createComponentTokens, type ComponentConfig } from './component.js'
import { AppLookupError, UnknownAppError, UnsupportedError, safeCause } from './errors.js'
import { Memo } from './memo.js'
import { unknownName } from './names.js'
import type { AnyIdentity } from './session.js'
import { singleFlight } from './single-flight.js'
import { createUserApi } from './user-api.js'
import { createWechatClient, type WeappPhone } from './wechat.js'
import { createWecomClient, createWecomTokens, type WecomCredentials } from './wecom.js'
import { createDouyinClient } from './douyin.js'
import type { Http } from './http.js'

export type { ComponentConfig, ComponentWithTicket, ComponentWithToken } from './component.js'
export type { WecomCredentials } from './wecom.js'

/** A WeChat mini program (or, with `platform: 'qq'`, a QQ one): its AppID and AppSecret. */
export interface WeappWechatAppConfig {
  appId: string
  appSecret: string
  /**
   * `'qq'` for a QQ mini program (QQ's `jscode2session`, WeChat's shape, on the QQ origin),
   * `'douyin'` for a Douyin one (Douyin's `jscode2session`). Default `'wechat'`.
   */
  platform?: 'wechat' | 'qq' | 'douyin'
  component?: undefined
  wecom?: undefined
}

/** A mini program hosted by a WeChat Open Platform third-party platform (it has no AppSecret of its own here). */
export interface WeappComponentAppConfig {
  appId: string
  component: ComponentConfig
  appSecret?: undefined
  wecom?: undefined
}

/** A mini program linked to a WeCom (企业微信) app, used by that company's members. */
export interface WeappWecomAppConfig {
  appId: string
  wecom: WecomCredentials
  appSecret?: undefined
  component?: undefined
}

/** One app: a WeChat mini program, one hosted by a third-party platform, or a WeCom one. */
export type WeappAppConfig = WeappWechatAppConfig | WeappComponentAppConfig | WeappWecomAppConfig

/** Looks an app up (in a database, say): its config, or undefined when there is no such app. */
export type WeappAppLookup = (appId: string) => WeappAppConfig | undefined | null | Promise<WeappAppConfig | undefined | null>

/** Which upstream an app logs in through. */
export type AppKind = 'wechat' | 'component' | 'wecom' | 'qq' | 'douyin'

/** One app's upstream building blocks: each app has its own client and access token. */
export interface App {
  readonly appId: string
  readonly kind: AppKind
  code2Session (code: string): Promise<AnyIdentity>
  /** Douyin apps only: a login with tt.login()'s anonymous code (and the code, where there is one). */
  anonymousLogin?: (anonymousCode: string, code?: string) => Promise<AnyIdentity>
  accessToken (): Promise<string>
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
}

/** One origin per platform, without a trailing slash. */
export interface ApiBaseUrls {
  readonly wechat: string
  readonly wecom: string
  readonly qq: string
  readonly douyin: string
}

export interface UpstreamSettings {
  apiBaseUrl: ApiBaseUrls
  /** ms */
  timeout: number
  /** The registration's pooled HTTP client; default a shared one. */
  http?: Http
}

/** How long a lookup function's answer (an app, or "no such app") is used before asking again. */
export const APP_CACHE_TTL = 60_000
/** How many looked-up apps are remembered at most. */
export const APP_CACHE_SIZE = 1000

/** An AppID: short ASCII (WeChat's `wx` + 16 hex digits). One definition for options, routes and lookups. */
export const APP_ID_PATTERN = '[A-Za-z0-9_-]{1,64}'
export const APP_ID = new RegExp(`^${APP_ID_PATTERN}$`)

type Fields = Record<string, unknown>

function isObject (value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function isSecret (value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '' && value === value.trim()
}

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function'

function componentProblem (component: unknown): string | undefined {
  if (!isObject(component)) return 'component is not an object'
  const extra = unknownName(component, ['appId', 'appSecret', 'verifyTicket', 'accessToken', 'authorizerAccessToken'], 'component.')
  if (extra !== undefined) return extra
  const { appId, appSecret, verifyTicket, accessToken, authorizerAccessToken } = component
  if (typeof appId !== 'string' || !APP_ID.test(appId)) return 'component.appId is not the third-party platform\'s AppID'
  if (authorizerAccessToken !== undefined && !isFunction(authorizerAccessToken)) return 'component.authorizerAccessToken is not a function (appId) => token'
  if (accessToken !== undefined) {
    if (!isFunction(accessToken)) return 'component.accessToken is not a function () => token'
    if (appSecret !== undefined || verifyTicket !== undefined) return 'component takes accessToken, or appSecret + verifyTicket, not both'
    return undefined
  }
  if (!isSecret(appSecret)) return 'component needs accessToken (the platform\'s own component token getter), or appSecret (a non-empty string without surrounding spaces) + verifyTicket'
  if (!isFunction(verifyTicket)) return 'component.verifyTicket is not a function () => the latest component_verify_ticket'
  return undefined
}

function wecomProblem (wecom: unknown): string | undefined {
  if (!isObject(wecom)) return 'wecom is not an object'
  const extra = unknownName(wecom, ['corpId', 'corpSecret'], 'wecom.')
  if (extra !== undefined) return extra
  if (typeof wecom.corpId !== 'string' || !APP_ID.test(wecom.corpId)) return "wecom.corpId is not a corpid such as 'ww0123456789abcdef'"
  if (!isSecret(wecom.corpSecret)) return 'wecom.corpSecret is not a non-empty string without surrounding spaces'
  return undefined
}

/** Why a config is not one app's, or undefined when it is. */
export function appConfigProblem (config: unknown): string | undefined {
  if (!isObject(config)) return 'not an object'
  const extra = unknownName(config, ['appId', 'appSecret', 'platform', 'component', 'wecom'])
  if (extra !== undefined) return extra
  const { appId, appSecret, wecom, component, platform } = config
  if (platform !== undefined && platform !== 'wechat' && platform !== 'qq' && platform !== 'douyin') return "platform must be 'wechat', 'qq' or 'douyin'"
  if (typeof appId !== 'string' || !APP_ID.test(appId)) return "appId is not an AppID such as 'wx0123456789abcdef'"
  const kinds = [appSecret, component, wecom].filter((v) => v !== undefined).length
  if (kinds !== 1) return 'give exactly one of appSecret (a WeChat mini program), component (hosted by a third-party platform) or wecom (linked to a WeCom app)'
  if (platform !== undefined && platform !== 'wechat' && appSecret === undefined) return `platform '${platform}' takes appSecret: the mini program's AppSecret`
  if (component !== undefined) return componentProblem(component)
  if (wecom !== undefined) return wecomProblem(wecom)
  if (!isSecret(appSecret)) return 'appSecret is not a non-empty string without surrounding spaces'
  return undefined
}

/** A frozen copy of a valid config with only the fields the plugin reads (the caller checked it). */
export function normalizeAppConfig (config: WeappAppConfig): WeappAppConfig {
  const { appId } = config
  if (config.component !== undefined) {
    const { appId: componentAppId, appSecret, verifyTicket, accessToken, authorizerAccessToken } = config.component
    const component = accessToken !== undefined
      ? { appId: componentAppId, accessToken, authorizerAccessToken }
      : { appId: componentAppId, appSecret: appSecret as string, verifyTicket: verifyTicket as () => string, authorizerAccessToken }
    return Object.freeze({ appId, component: Object.freeze(component) })
  }
  if (config.wecom !== undefined) return Object.freeze({ appId, wecom: Object.freeze({ corpId: config.wecom.corpId, corpSecret: config.wecom.corpSecret }) })
  const { platform } = config
  return Object.freeze(platform === 'qq' || platform === 'douyin' ? { appId, appSecret: config.appSecret, platform } : { appId, appSecret: config.appSecret })
}

/** Whether two normalized configs say the same (functions by identity). */
function sameConfig (a: unknown, b: unknown): boolean {
  if (!isObject(a) || !isObject(b)) return a === b
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((key) => sameConfig(a[key], b[key]))
}

/**
 * Token caches shared by every app of a registration that uses the same credentials: the hosted
 * mini programs of one platform share its component token, the mini programs of one WeCom app its
 * token. Keyed by the credentials, so a changed secret is a new cache.
 */
type TokenPool = (key: string, make: () => AccessTokens) => AccessTokens

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

const unsupported = (message: string) => async (): Promise<never> => { throw new UnsupportedError(message) }

export function createApp (config: WeappAppConfig, upstream: UpstreamSettings, pool: TokenPool = tokenPool(undefined)): App {
  const { appId } = config
  const { timeout } = upstream
  // Each app's calls queue in a lane of their own: one app's flood never takes the others' sockets.
  const http = upstream.http?.lane(appId)
  const settings = { timeout, http, apiBaseUrl: upstream.apiBaseUrl.wechat }
  if (config.wecom !== undefined) {
    const { corpId, corpSecret } = config.wecom
    const wecom = { timeout, http, apiBaseUrl: upstream.apiBaseUrl.wecom }
    const tokens = pool(`wecom\n${corpId}\n${corpSecret}`, () => createWecomTokens({ corpId, corpSecret }, wecom))
    const client = createWecomClient(tokens, wecom)
    const none = `Mini program ${appId} runs in WeCom, which has no phone-number-by-code or checksession API for its members`
    return Object.freeze({
      appId,
      kind: 'wecom',
      code2Session: client.code2Session,
      accessToken: tokens.get,
      getPhoneNumber: unsupported(`${none}; read the member's mobile from WeCom's own APIs`),
      checkSessionKey: unsupported(none)
    })
  }
  if (config.component !== undefined) {
    const component = config.component
    const componentTokens = component.accessToken !== undefined
      ? createComponentTokens(component, settings)
      : pool(`component\n${component.appId}\n${component.appSecret}`, () => createComponentTokens(component, settings))
    const client = createComponentClient(appId, component.appId, componentTokens, settings)
    return withUserApi(appId, 'component', client.code2Session, createAuthorizerTokens(appId, component), settings)
  }
  const { appSecret } = config
  if (config.platform === 'douyin') {
    const douyin = createDouyinClient({ appId, appSecret, timeout, http, apiBaseUrl: upstream.apiBaseUrl.douyin })
    return loginOnly(appId, 'douyin', 'Douyin', async (code) => await douyin.login(code), {
      anonymousLogin: async (anonymousCode: string, code?: string) => await douyin.login(code, anonymousCode)
    })
  }
  if (config.platform === 'qq') {
    const qq = createWechatClient({ appId, appSecret, timeout, http, apiBaseUrl: upstream.apiBaseUrl.qq, platform: 'qq' })
    return loginOnly(appId, 'qq', 'QQ', qq.code2Session)
  }
  const wechat = createWechatClient({ appId, appSecret, ...settings })
  const tokens = pool(`wechat\n${appId}\n${appSecret}`, () => createAccessTokens({ appId, appSecret, ...settings }))
  return withUserApi(appId, 'wechat', wechat.code2Session, tokens, settings)
}

/** The App of a platform whose login is all this version supports: the other building blocks say so. */
function loginOnly (appId: string, kind: 'qq' | 'douyin', name: string, code2Session: App['code2Session'], extra: Partial<App> = {}): App {
  const none = unsupported(`Mini program ${appId} is a ${name} one: this version has no access token, phone-number or checksession API for ${name}`)
  return Object.freeze({ appId, kind, code2Session, accessToken: none, getPhoneNumber: none, checkSessionKey: none, ...extra })
}

/** A WeChat mini program's App (its own, or a hosted one's): phone and checksession with `tokens`. */
function withUserApi (appId: string, kind: AppKind, code2Session: App['code2Session'], tokens: AccessTokens, settings: { apiBaseUrl: string, timeout: number, http: Http | undefined }): App {
  const user = createUserApi({ appId, ...settings, tokens })
  return Object.freeze({
    appId,
    kind,
    code2Session,
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

interface Looked { app: App, config: WeappAppConfig, until: number }

export function createRegistry (apps: readonly WeappAppConfig[] | WeappAppLookup, upstream: UpstreamSettings, now: () => number = Date.now): Registry {
  if (typeof apps !== 'function') {
    const pool = tokenPool(undefined)
    const byId = new Map(apps.map((config) => [config.appId, createApp(config, upstream, pool)]))
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
    const app = previous?.app !== undefined && sameConfig(previous.config, config) ? previous.app : createApp(config, upstream, pool)
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
