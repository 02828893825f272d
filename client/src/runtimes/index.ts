import type { WeappLogin, WxLike } from '../types.js'

/**
 * The client's runtime table: which global API object a mini program has (WeChat's `wx`, QQ's
 * `qq`, Douyin's and Feishu's `tt`, Kuaishou's `ks`, Baidu's `swan`, Alipay's `my`), and which kind
 * of login a client makes: a user's code from the runtime's login call, or (with `wecom: true`) a
 * WeCom member's from `wx.qy.login()`, checked with `wx.qy.checkSession()`. Nothing else in the
 * client names a platform: a new runtime is a row here.
 */

/** The globals, looked up with typeof (older engines have no globalThis). */
declare const wx: WxLike | undefined
declare const qq: WxLike | undefined
declare const tt: WxLike | undefined
declare const ks: WxLike | undefined
declare const swan: WxLike | undefined
declare const my: WxLike | undefined

/** The platforms whose runtime the client can be told it runs in. */
export type WeappPlatform = 'wechat' | 'qq' | 'douyin' | 'kuaishou' | 'baidu' | 'feishu' | 'alipay'

/** The options that choose a kind of login. */
export interface RuntimeOptions {
  /**
   * Log in WeCom members: the code comes from `wx.qy.login()`, for a mini program the server
   * configures as a WeCom app (`{ appId, wecom }`). Default false (`wx.login()`).
   */
  wecom?: boolean
  /**
   * The runtime the mini program runs in, where its global does not say: Feishu's and Douyin's are
   * both `tt` (default Douyin's). With it, the client also uses that runtime's global. Default: the
   * first global there is, of `wx`, `qq`, `tt`, `ks`, `swan`, `my`.
   */
  platform?: WeappPlatform
}

/** What the login route answered for a WeCom member (a client with `wecom: true`). */
export interface WeappWecomLogin {
  session: string
  expiresIn: number
  appId: string
  corpId: string
  userId: string
  token?: string
  /** What the app's onLogin answered about its user. */
  user?: Record<string, unknown>
}

/** The login answer of a client made with these options. */
export type LoginOf<O> = O extends { wecom: true } ? WeappWecomLogin : WeappLogin

/** What a login answers, whichever kind of login the client makes. */
export type AnyLogin = WeappLogin | WeappWecomLogin

/** The part of the API object a kind of login calls. */
export type LoginApi = Pick<WxLike, 'login'> & { checkSession?: WxLike['checkSession'] }

/** One kind of login. */
export interface Runtime {
  /** In the storage key: what kind of login a stored session came from. */
  readonly tag: string
  /** For messages: the call that gives the code. */
  readonly loginCall: string
  /** The object whose `login()` and `checkSession()` it calls, or undefined where the runtime lacks it. */
  loginApi (api: WxLike): LoginApi | undefined
  /** Why `loginApi` found nothing. */
  readonly missing: string
  /** The phone route's field for what `phone()` is given, where it is not a button's `code`: Alipay's `my.getPhoneNumber()` response. */
  readonly phoneField?: 'response'
}

const USERS: Runtime = {
  tag: 'wx',
  loginCall: 'wx.login()',
  loginApi: (api) => api,
  missing: 'wx.login() is not available'
}

const MEMBERS: Runtime = {
  tag: 'wecom',
  loginCall: 'wx.qy.login()',
  loginApi: (api) => api.qy,
  missing: 'wx.qy.login() is not available: a WeCom app logs in inside WeCom'
}

type Callbacks = Parameters<WxLike['login']>[0]
type Loose = Record<string, any>

/** A failure as the client reads it: `errMsg` (Alipay's runtime says `errorMessage`). */
const failure = (err: Loose): { errMsg: string } => ({ errMsg: String(err.errorMessage !== undefined ? err.errorMessage : err.errMsg) })

/** Where the platform keeps no session the app depends on (its sessions hold no session_key), the session is never lapsed. */
const alwaysValid: LoginApi['checkSession'] = ({ success }) => { success?.({}) }

/** A runtime whose login call gives `{ code }` under another name: `call` is its name on the API object. */
function codeFrom (call: string, loginCall: string, checkSession: 'own' | 'always'): Runtime {
  return {
    tag: loginCall.slice(0, loginCall.indexOf('.')),
    loginCall,
    loginApi: (api) => {
      const own = (api as unknown as Loose)[call]
      if (typeof own !== 'function') return undefined
      return {
        login: ({ success, fail }: Callbacks) => own.call(api, call === 'getAuthCode'
          ? { scopes: 'auth_base', success: (res: Loose) => { success?.({ code: res.authCode }) }, fail: (err: Loose) => { fail?.(failure(err)) } }
          : { success: (res: Loose) => { success?.({ code: res.code }) }, fail: (err: Loose) => { fail?.(failure(err)) } }),
        checkSession: checkSession === 'always' ? alwaysValid : api.checkSession?.bind(api)
      }
    },
    missing: `${loginCall} is not available`
  }
}

/** The runtimes whose login is not `login()` with WeChat's shape, by platform. */
const OWN: Partial<Record<WeappPlatform, Runtime>> = {
  baidu: codeFrom('getLoginCode', 'swan.getLoginCode()', 'own'),
  feishu: { ...codeFrom('login', 'tt.login()', 'always'), tag: 'feishu' },
  alipay: { ...codeFrom('getAuthCode', 'my.getAuthCode()', 'always'), phoneField: 'response' }
}

/** The tag of each platform's host in a device label: its global's name (Feishu's is told apart from Douyin's `tt`). */
const TAGS: Record<WeappPlatform, string> = { wechat: 'wx', qq: 'qq', douyin: 'tt', kuaishou: 'ks', baidu: 'swan', feishu: 'feishu', alipay: 'my' }

/**
 * uni-app's build platforms, as its `uniPlatform` (the name of conditional compilation) says them
 * (https://uniapp.dcloud.net.cn/api/system/info.html#uniplatform), by the platform they build for.
 */
const UNI_PLATFORMS: Record<string, WeappPlatform> = { 'mp-weixin': 'wechat', 'mp-qq': 'qq', 'mp-toutiao': 'douyin', 'mp-kuaishou': 'kuaishou', 'mp-baidu': 'baidu', 'mp-lark': 'feishu', 'mp-alipay': 'alipay' }

/** Replaced with a string by uni-app's build (`process.env.UNI_PLATFORM`); absent elsewhere. */
declare const process: { env: Record<string, string | undefined> }

/**
 * The uni-app build's platform, where the API object is uni's: asked at run time (`uniPlatform` of
 * `getAppBaseInfo()`, or of `getSystemInfoSync()` since uni-app 3.4.10), else what the build wrote
 * in for `process.env.UNI_PLATFORM`.
 */
function uniPlatformOf (api: WxLike): string | undefined {
  const loose = api as unknown as Loose
  for (const call of ['getAppBaseInfo', 'getSystemInfoSync']) {
    try {
      const info = typeof loose[call] === 'function' ? loose[call]() : undefined
      const platform = info !== undefined && info !== null ? info.uniPlatform : undefined
      if (typeof platform === 'string' && platform !== '') return platform
    } catch {}
  }
  try {
    const built = process.env.UNI_PLATFORM
    return typeof built === 'string' && built !== '' ? built : undefined
  } catch {
    return undefined // no process in a mini program, and no build that replaced it
  }
}

/**
 * What a login's device label starts with: the host platform's tag (`tt` in a Douyin build, uni-app's
 * or native), so that a user's sessions tell the builds apart. A kind of login of its own (Baidu,
 * Alipay, Feishu, WeCom) is its tag; WeChat-shaped ones are the named platform's, uni-app's build
 * platform (an unknown one as uni-app names it, less `mp-`), or the global there is.
 */
export function labelTagOf (api: WxLike, options: RuntimeOptions & { wx?: unknown }, runtime: Runtime): string {
  if (runtime !== USERS) return runtime.tag
  if (options.platform !== undefined) return TAGS[options.platform]
  if (options.wx === undefined) return typeof qq !== 'undefined' ? 'qq' : typeof tt !== 'undefined' ? 'tt' : typeof ks !== 'undefined' ? 'ks' : 'wx'
  const built = uniPlatformOf(api)
  if (built === undefined) return runtime.tag
  const platform = UNI_PLATFORMS[built]
  return platform !== undefined ? TAGS[platform] : built.replace(/^mp-/, '')
}

/** The kind of login the options choose. */
export function runtimeOf (options: RuntimeOptions): Runtime {
  if (options.wecom === true) return MEMBERS
  const own = options.platform === undefined ? undefined : OWN[options.platform]
  return own !== undefined ? own : USERS
}

/** The global API object of each platform's runtime. */
function globalOf (platform: WeappPlatform): WxLike | undefined {
  switch (platform) {
    case 'wechat': return typeof wx !== 'undefined' ? wx : undefined
    case 'qq': return typeof qq !== 'undefined' ? qq : undefined
    case 'douyin': case 'feishu': return typeof tt !== 'undefined' ? tt : undefined
    case 'kuaishou': return typeof ks !== 'undefined' ? ks : undefined
    case 'baidu': return typeof swan !== 'undefined' ? swan : undefined
    default: return typeof my !== 'undefined' ? my : undefined
  }
}

const SEARCHED: WeappPlatform[] = ['wechat', 'qq', 'douyin', 'kuaishou', 'baidu', 'alipay']

/** The runtime's global API object: the platform's, or the first there is. */
export function globalApi (platform?: WeappPlatform): WxLike | undefined {
  if (platform !== undefined) return globalOf(platform)
  for (const each of SEARCHED) {
    const api = globalOf(each)
    if (api !== undefined) return api
  }
  return undefined
}

/** The platform of the first global there is, where the options name none (Baidu's and Alipay's logins are their own). */
export function detected (options: RuntimeOptions): RuntimeOptions {
  if (options.platform !== undefined || options.wecom === true) return options
  if (typeof wx !== 'undefined' || typeof qq !== 'undefined' || typeof tt !== 'undefined' || typeof ks !== 'undefined') return options
  // Some global is there (the client found one): not WeChat-shaped, it is swan or my.
  return { ...options, platform: typeof swan !== 'undefined' ? 'baidu' : 'alipay' }
}

export const NO_GLOBAL = 'createWeappClient: no wx (or qq, tt, ks, swan, my); pass { wx } outside a mini program (Taro, uni-app: their API object), and { platform } where the runtime is not WeChat-shaped'
