import type { WeappLogin } from '../types.js'

/** The public types of the runtime table's kinds of login. */

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
}

/** The login answer of a client made with these options. */
export type LoginOf<O> = O extends { wecom: true } ? WeappWecomLogin : WeappLogin

/** What a login answers, whichever kind of login the client makes. */
export type AnyLogin = WeappLogin | WeappWecomLogin
