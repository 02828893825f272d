import type { WeappLogin, WxLike } from '../types.js'

/**
 * The client's runtime table: which global API object a mini program has (WeChat's `wx`, QQ's
 * `qq`, Douyin's `tt`), and which kind of login a client makes: a user's code from `login()`, or
 * (with `wecom: true`) a WeCom member's from `wx.qy.login()`, checked with `wx.qy.checkSession()`.
 * Nothing else in the client names a platform: a new runtime is a row here.
 */

/** The globals, looked up with typeof (older engines have no globalThis). */
declare const wx: WxLike | undefined
declare const qq: WxLike | undefined
declare const tt: WxLike | undefined

/** The options that choose a kind of login. */
export interface RuntimeOptions {
  /**
   * Log in WeCom members: the code comes from `wx.qy.login()`, for a mini program the server
   * configures as a WeCom app (`{ appId, wecom }`). Default false (`wx.login()`).
   */
  wecom?: boolean
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

/** The kind of login the options choose. */
export function runtimeOf (options: RuntimeOptions): Runtime {
  return options.wecom === true ? MEMBERS : USERS
}

/** The runtime's global API object: WeChat's `wx`, QQ's `qq`, Douyin's `tt`, the first there is. */
export function globalApi (): WxLike | undefined {
  return typeof wx !== 'undefined' ? wx : typeof qq !== 'undefined' ? qq : typeof tt !== 'undefined' ? tt : undefined
}

export const NO_GLOBAL = 'createWeappClient: no wx (or qq, tt); pass { wx } outside a mini program (Taro, uni-app: their API object)'
