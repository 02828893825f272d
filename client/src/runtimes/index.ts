/**
 * The client's runtime table: which global API object a mini program has (WeChat's `wx`, QQ's
 * `qq`, Douyin's and Feishu's `tt`, Kuaishou's `ks`, Baidu's `swan`, Alipay's `my`), and which kind
 * of login a client makes: a user's code from the runtime's login call, or (with `wecom: true`) a
 * WeCom member's from `wx.qy.login()`, checked with `wx.qy.checkSession()`. Nothing else in the
 * client names a platform: a new runtime is a row here (and its global's declaration); the
 * platforms, the globals searched, detection and the device labels are computed from the rows.
 */

/**
 * The part of `wx` the client uses; the runtimes' typings (miniprogram-api-typings), Taro's and uni-app's API objects satisfy
 * it. What the calls return is ignored, except that a returned promise is caught: Taro both calls
 * `fail` and rejects the promise it returns, which would otherwise be an unhandled rejection.
 */
export interface WxLike {
  /** `anonymousCode`: where the platform has anonymous logins, for a user not logged in to it (and an empty `code`). */
  login (options: { success?: (res: { code: string, anonymousCode?: string }) => void, fail?: (err: { errMsg: string }) => void }): unknown
  checkSession (options: { success?: (res: unknown) => void, fail?: (err: { errMsg: string }) => void }): unknown
  request (options: {
    url: string
    method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD' | 'OPTIONS'
    data?: string | Record<string, any> | ArrayBuffer
    header?: Record<string, any>
    dataType?: 'json' | string
    success?: (res: { statusCode: number, data: string | Record<string, any> | ArrayBuffer, header: Record<string, any> }) => void
    fail?: (err: { errMsg: string }) => void
  }): unknown
  getStorageSync (key: string): any
  setStorageSync (key: string, data: any): void
  removeStorageSync (key: string): void
  /** The user crypto module (base library 2.17.3+): the user's encrypt key and secure random bytes, for `encrypt()`. */
  getUserCryptoManager?: () => {
    getLatestUserKey (options: { success?: (res: { encryptKey: string, iv: string, version: number, expireTime: number }) => void, fail?: (err: { errMsg: string }) => void }): unknown
    getRandomValues (options: { length: number, success?: (res: { randomValues: ArrayBuffer }) => void, fail?: (err: { errMsg: string }) => void }): unknown
  }
  /** Where available (and in Taro/uni-app builds for those runtimes): the mini program's own AppID. */
  getAccountInfoSync?: () => { miniProgram?: { appId?: string } }
  /** The device's system (`platform`: 'ios', 'android', 'devtools', 'windows', 'mac', …): the newer API, then the older one. */
  getDeviceInfo?: () => { platform?: string }
  getSystemInfoSync?: () => { platform?: string }
  /** The members' runtime (see the runtime table): its `login()` gives a member's code, its `checkSession()` checks that runtime's session. */
  qy?: {
    login (options: { success?: (res: { code: string }) => void, fail?: (err: { errMsg: string }) => void }): unknown
    checkSession? (options: { success?: (res: unknown) => void, fail?: (err: { errMsg: string }) => void }): unknown
  }
}

/** What the login route answered for a user whose id is an openid. */
export interface WeappLogin {
  session: string
  expiresIn: number
  /** The app the session is for. */
  appId: string
  openid: string
  unionid?: string
  /** With the server's jwt option. */
  token?: string
  /** What the app's onLogin answered about its user (its profile, whether it is new). */
  user?: Record<string, unknown>
}

/** The globals, looked up with typeof (older engines have no globalThis). */
declare const wx: WxLike | undefined
declare const qq: WxLike | undefined
declare const tt: WxLike | undefined
declare const ks: WxLike | undefined
declare const swan: WxLike | undefined
declare const my: WxLike | undefined

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

/** One platform's runtime: a row of the table. */
export interface RuntimeRow {
  /** Its global API object's name (`tt`): its tag in device labels, unless its login has its own. */
  readonly global: string
  /** That object, where it is there. */
  api (): WxLike | undefined
  /**
   * uni-app's build platform for it, as its `uniPlatform` (the name of conditional compilation)
   * says it (https://uniapp.dcloud.net.cn/api/system/info.html#uniplatform).
   */
  readonly uni: string
  /** Its kind of login, where it is not `login()` with WeChat's shape. */
  readonly login?: Runtime
}

/**
 * The runtime table, by platform. Its order is the search's: a platform whose global an earlier
 * row has (Feishu's `tt`, Douyin's) is chosen by the `platform` option only.
 */
export const RUNTIMES = {
  wechat: { global: 'wx', api: () => typeof wx !== 'undefined' ? wx : undefined, uni: 'mp-weixin' },
  qq: { global: 'qq', api: () => typeof qq !== 'undefined' ? qq : undefined, uni: 'mp-qq' },
  douyin: { global: 'tt', api: () => typeof tt !== 'undefined' ? tt : undefined, uni: 'mp-toutiao' },
  kuaishou: { global: 'ks', api: () => typeof ks !== 'undefined' ? ks : undefined, uni: 'mp-kuaishou' },
  baidu: { global: 'swan', api: () => typeof swan !== 'undefined' ? swan : undefined, uni: 'mp-baidu', login: codeFrom('getLoginCode', 'swan.getLoginCode()', 'own') },
  feishu: { global: 'tt', api: () => typeof tt !== 'undefined' ? tt : undefined, uni: 'mp-lark', login: { ...codeFrom('login', 'tt.login()', 'always'), tag: 'feishu' } },
  alipay: { global: 'my', api: () => typeof my !== 'undefined' ? my : undefined, uni: 'mp-alipay', login: { ...codeFrom('getAuthCode', 'my.getAuthCode()', 'always'), phoneField: 'response' } }
} satisfies Record<string, RuntimeRow>

/** The platforms whose runtime the client can be told it runs in. */
export type WeappPlatform = keyof typeof RUNTIMES

/** The rows, in the table's order, with their platform (Object.keys says string[]: these are its keys). */
const ROWS: ReadonlyArray<RuntimeRow & { readonly platform: WeappPlatform }> = (Object.keys(RUNTIMES) as WeappPlatform[]).map((platform) => ({ ...RUNTIMES[platform], platform }))

/** The row of a platform, or undefined for what is not one. */
const rowOf = (platform: string): RuntimeRow | undefined => Object.prototype.hasOwnProperty.call(RUNTIMES, platform) ? RUNTIMES[platform as WeappPlatform] : undefined

/** Whether `platform` names a row of the table (an inherited name does not). */
export const isPlatform = (platform: unknown): platform is WeappPlatform => typeof platform === 'string' && rowOf(platform) !== undefined

/** What `createWeappClient` says of a `platform` the table does not have. */
export const UNKNOWN_PLATFORM = `createWeappClient({ platform }): platform must be one of ${ROWS.map((row) => `'${row.platform}'`).join(', ')}`

/** The tag of a platform's host in a device label: its global's name, or its own login's tag (Feishu's is told apart from Douyin's `tt`). */
const tagOf = (row: RuntimeRow): string => row.login !== undefined ? row.login.tag : row.global

/** The rows searched for a global, where the options name no platform: the first of each global. */
const SEARCHED = ROWS.filter((row, i) => ROWS.findIndex((other) => other.global === row.global) === i)

/** The runtime of `wx.login()`, the default: the other WeChat-shaped runtimes answer to its global too (QQ's has `wx`). */
const DEFAULT: RuntimeRow = RUNTIMES.wechat
/** The other WeChat-shaped runtimes searched: where one's own global is there, it is the host. */
const HOSTS = SEARCHED.filter((row) => row.login === undefined && row.global !== DEFAULT.global)

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
  const named = options.platform === undefined ? undefined : rowOf(options.platform)
  if (named !== undefined) return tagOf(named)
  if (options.wx === undefined) {
    const host = HOSTS.find((row) => row.api() !== undefined)
    return tagOf(host !== undefined ? host : DEFAULT)
  }
  const built = uniPlatformOf(api)
  if (built === undefined) return runtime.tag
  const row = ROWS.find((each) => each.uni === built)
  return row !== undefined ? tagOf(row) : built.replace(/^mp-/, '')
}

/** The kind of login the options choose. */
export function runtimeOf (options: RuntimeOptions): Runtime {
  if (options.wecom === true) return MEMBERS
  const row = options.platform === undefined ? undefined : rowOf(options.platform)
  return row !== undefined && row.login !== undefined ? row.login : USERS
}

/** The runtime's global API object: the platform's, or the first there is. */
export function globalApi (platform?: WeappPlatform): WxLike | undefined {
  // A platform named is one of the table's: createWeappClient refuses any other first.
  if (platform !== undefined) return RUNTIMES[platform].api()
  for (const row of SEARCHED) {
    const api = row.api()
    if (api !== undefined) return api
  }
  return undefined
}

/** The platform of the first global there is, where the options name none and its login is its own (Baidu's, Alipay's). */
export function detected (options: RuntimeOptions): RuntimeOptions {
  if (options.platform !== undefined || options.wecom === true) return options
  const found = SEARCHED.find((row) => row.api() !== undefined)
  return found === undefined || found.login === undefined ? options : { ...options, platform: found.platform }
}

const GLOBALS = SEARCHED.map((row) => row.global)
export const NO_GLOBAL = `createWeappClient: no ${GLOBALS.slice(0, 1).join('')} (or ${GLOBALS.slice(1).join(', ')}); pass { wx } outside a mini program (Taro, uni-app: their API object), and { platform } where the runtime is not WeChat-shaped`
