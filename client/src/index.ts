/**
 * `fastify-weapp-client`: the mini-program side of fastify-weapp's login, with no dependencies and
 * ES2017 code only (no later syntax or built-ins: older mini-program engines and bundlers that do
 * not transpile node_modules run it as is). It runs in a mini program (the global `wx`), under
 * Taro and uni-app (their `wx`-shaped API objects, promise-returning or callback-only), and in Node
 * (an injected `wx`, such as `createWx` from `fastify-weapp/testing`). It makes the flow hard to
 * get wrong:
 *
 * - one login in flight at a time, whatever the number of callers;
 * - the session restored from storage on start;
 * - an expired or refused session renewed once, transparently;
 * - `ensureSession()` before asking WeChat for encrypted data, so that the session the server holds
 *   carries the key WeChat encrypts with; `decrypt()` never calls `wx.login()` before its first
 *   attempt, and heals a rotated key with one fresh code;
 * - JSON bodies only (a form body turns base64's `+` into a space);
 * - the session goes to `baseUrl`'s origin and nowhere else.
 */

/**
 * The part of `wx` the client uses; `WechatMiniprogram.Wx`, Taro's and uni-app's API objects satisfy
 * it. What the calls return is ignored, except that a returned promise is caught: Taro both calls
 * `fail` and rejects the promise it returns, which would otherwise be an unhandled rejection.
 */
export interface WxLike {
  /** `anonymousCode`: Douyin's `tt.login()` gives one, and an empty `code` for a user not logged in to Douyin. */
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
  /** Where available (WeChat, and Taro/uni-app on WeChat): the mini program's own AppID. */
  getAccountInfoSync?: () => { miniProgram?: { appId?: string } }
  /** In WeCom (企业微信): `wx.qy.login()` gives the code of a WeCom member, `wx.qy.checkSession()` checks WeCom's session. */
  qy?: {
    login (options: { success?: (res: { code: string }) => void, fail?: (err: { errMsg: string }) => void }): unknown
    checkSession? (options: { success?: (res: unknown) => void, fail?: (err: { errMsg: string }) => void }): unknown
  }
}

export interface WeappClientOptions {
  /**
   * The backend, such as `'https://api.example.com'` (or with a path: `'https://example.com/api'`).
   * The session is only ever sent to this origin.
   */
  baseUrl: string
  /** Where the plugin's routes live. Default `'/weapp'`. */
  prefix?: string
  /** Default the global `wx` (WeChat), or `qq` in a QQ mini program. */
  wx?: WxLike
  /**
   * Storage key for the session. Default `'fastify-weapp:session:'` followed by what the session
   * is bound to: `baseUrl`'s origin, the appId and the kind of login (`wx`, or `wecom`), so that two
   * clients in one mini program (two backends, or a WeChat and a WeCom client) never restore each
   * other's session. A key of your own is yours to keep apart.
   */
  storageKey?: string
  /**
   * The mini program's AppID, sent with each login so that a backend serving several apps knows
   * which. Default `wx.getAccountInfoSync().miniProgram.appId` where the runtime has it.
   */
  appId?: string
  /**
   * Log in WeCom members: the code comes from `wx.qy.login()`, for a mini program the server
   * configures as a WeCom app (`{ appId, wecom }`). Default false (`wx.login()`).
   */
  wecom?: boolean
}

export interface WeappRequestOptions {
  /** A path on `baseUrl` starting with `/` (`'/me'`), or a full URL on `baseUrl`'s origin. */
  url: string
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Sent as JSON. */
  data?: Record<string, unknown> | unknown[]
  header?: Record<string, string>
}

/** What the login route answered for a WeChat user. */
export interface WeappLogin {
  session: string
  expiresIn: number
  /** The app the session is for. */
  appId: string
  openid: string
  unionid?: string
  /** With the server's jwt option. */
  token?: string
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

export interface WeappClient<L = WeappLogin> {
  /** `wx.login()` (`wx.qy.login()` with `wecom`), then the login route; the session is stored. Concurrent calls share one login. */
  login (): Promise<L>
  /**
   * A JSON request with the session; on a session error (401), one login and one retry. An
   * `Authorization` header of your own (`api.token()`, say) is sent instead of the session.
   */
  request<T = unknown> (options: WeappRequestOptions): Promise<T>
  /**
   * Before showing what will ask WeChat for encrypted data: logs in again only if there is no
   * session, it expired, or `wx.checkSession()` (`wx.qy.checkSession()` with `wecom`) says WeChat's
   * (WeCom's) own session lapsed.
   */
  ensureSession (): Promise<void>
  /** The decrypted object; on `WEAPP_DECRYPT_FAILED`, one fresh code and one retry. */
  decrypt<T = Record<string, unknown>> (encrypted: { encryptedData: string, iv: string }): Promise<T>
  /** The phone number behind a getPhoneNumber button's `e.detail.code`. */
  phone (code: string): Promise<{ phoneNumber: string, purePhoneNumber: string, countryCode: string }>
  /** The stored session token, if any (for requests made some other way). */
  session (): string | undefined
  /**
   * The app's own JWT from the last login, with the server's jwt option (send it yourself), while
   * it is valid; when it nears its `exp`, the next `request()` or `ensureSession()` logs in again.
   */
  token (): string | undefined
  /**
   * Ends the session: where the server has the revocation option, there (`POST {prefix}/logout`)
   * on every instance, then here. A login in flight is abandoned (it stores nothing; its callers
   * get `LOGGED_OUT`). Resolves when the server ended it, or has no logout route, or the session
   * was no longer valid, and the session is forgotten; rejects when the server could not end it
   * (its error code, such as `WEAPP_REVOCATION_UNAVAILABLE`, or `NETWORK_ERROR`), and then the
   * session is kept, so that `logout()` can be retried.
   */
  logout (): Promise<void>
}

/**
 * An error of the client: `code` is the server's error code, or `WX_LOGIN_FAILED`, `NETWORK_ERROR`,
 * `BAD_RESPONSE`, `BAD_URL` (a request for another origin than `baseUrl`'s, refused before sending),
 * `LOGGED_OUT` (a login or request that `logout()` overtook).
 */
export class WeappClientError extends Error {
  readonly code: string
  readonly statusCode: number | undefined
  constructor (code: string, message: string, statusCode?: number) {
    super(message)
    this.name = 'WeappClientError'
    this.code = code
    this.statusCode = statusCode
  }
}

/** The mini program's global `wx` (looked up with typeof: older engines have no globalThis), QQ's `qq`, Douyin's `tt`. */
declare const wx: WxLike | undefined
declare const qq: WxLike | undefined
declare const tt: WxLike | undefined

/**
 * Session errors after which the client drops the session and logs in once more: a revoked one too
 * (an admin's revokeUser), unless this client's own logout() ended it.
 */
const SESSION_ERRORS = new Set(['WEAPP_SESSION_MISSING', 'WEAPP_SESSION_INVALID', 'WEAPP_SESSION_EXPIRED', 'WEAPP_SESSION_REVOKED'])

interface Stored {
  session: string
  /** ms */
  expiresAt: number
  /** ms: when to stop using it (a margin before expiresAt); absent in what older versions stored */
  refreshAt?: number
  token?: string
  /** ms: when to stop using the token, from its own `exp` */
  tokenRefreshAt?: number
}

function isStored (value: unknown): value is Stored {
  return value !== null && typeof value === 'object' && typeof (value as Stored).session === 'string' &&
    (value as Stored).session !== '' && typeof (value as Stored).expiresAt === 'number' && (value as Stored).expiresAt > 0
}

/**
 * When to stop using a credential valid from `now` until `expiresAt`: a tenth of its lifetime
 * before the end, at most a minute (clocks differ, requests take time). Proportional, so that a
 * session of 30 s is used for 27 s, not refused at once.
 */
function refreshTime (now: number, expiresAt: number): number {
  return expiresAt - Math.min(60000, (expiresAt - now) / 10)
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The `exp` of a JWS in ms, or undefined when it is not a JWS with one (no atob in mini programs). */
function jwsExpiry (token: string): number | undefined {
  const part = token.split('.')[1]
  if (part === undefined || token.split('.').length !== 3) return undefined
  let bits = 0
  let value = 0
  let text = ''
  for (let i = 0; i < part.length; i++) {
    const digit = BASE64URL.indexOf(part.charAt(i))
    if (digit < 0) return undefined
    value = (value << 6) | digit
    bits += 6
    if (bits >= 8) {
      bits -= 8
      text += String.fromCharCode((value >> bits) & 0xff)
    }
  }
  try {
    // The claims are ASCII JSON here, except inside strings, which exp is not.
    const exp = (JSON.parse(text) as { exp?: unknown }).exp
    return typeof exp === 'number' && exp > 0 ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}

/**
 * scheme://host[:port] (lowercase, default port dropped) and the rest of an absolute http(s) URL.
 * No credentials, no backslash: `https://api.example.com@evil.example/` is not api.example.com.
 */
const ABSOLUTE = /^(https?):\/\/([^/?#@\\\s]+)([/?#]\S*)?$/i

function originOf (url: string): { origin: string, path: string } | undefined {
  const match = ABSOLUTE.exec(url)
  if (match === null) return undefined
  const scheme = (match[1] as string).toLowerCase()
  const host = (match[2] as string).toLowerCase().replace(scheme === 'https' ? /:443$/ : /:80$/, '')
  return { origin: `${scheme}://${host}`, path: match[3] !== undefined ? match[3] : '' }
}

/** Calls a wx-style API; a promise it returns (Taro) is caught, since `fail` already reports. */
function callApi (result: unknown): void {
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    (result as PromiseLike<unknown>).then(undefined, () => {})
  }
}

/** The mini program's own AppID, where the runtime tells it; undefined elsewhere (or if it throws). */
function ownAppId (api: WxLike): string | undefined {
  try {
    const appId = api.getAccountInfoSync?.().miniProgram?.appId
    return typeof appId === 'string' && appId !== '' ? appId : undefined
  } catch {
    return undefined
  }
}

function hasAuthorization (header: Record<string, string> | undefined): boolean {
  return header !== undefined && Object.keys(header).some((name) => name.toLowerCase() === 'authorization')
}

export function createWeappClient (options: WeappClientOptions & { wecom: true }): WeappClient<WeappWecomLogin>
export function createWeappClient (options: WeappClientOptions): WeappClient
export function createWeappClient (options: WeappClientOptions): WeappClient<WeappLogin | WeappWecomLogin> {
  const base = options !== null && typeof options === 'object' && typeof options.baseUrl === 'string' && !/[?#]/.test(options.baseUrl)
    ? originOf(options.baseUrl)
    : undefined
  if (base === undefined) {
    throw new TypeError('createWeappClient({ baseUrl }): baseUrl must be an http(s) URL without credentials, query or fragment, such as \'https://api.example.com\'')
  }
  const given = options.wx !== undefined ? options.wx : typeof wx !== 'undefined' ? wx : typeof qq !== 'undefined' ? qq : typeof tt !== 'undefined' ? tt : undefined
  if (given === undefined) throw new TypeError('createWeappClient: no wx (or qq); pass { wx } outside a mini program (Taro, uni-app: their API object)')
  const api: WxLike = given
  const root = base.origin + base.path.replace(/\/+$/, '')
  const prefix = (options.prefix !== undefined ? options.prefix : '/weapp').replace(/\/+$/, '')
  const appId = options.appId !== undefined ? options.appId : ownAppId(api)
  const wecom = options.wecom === true
  // What a stored session is bound to: the backend's origin, the app, the kind of login.
  const storageKey = options.storageKey !== undefined ? options.storageKey : `fastify-weapp:session:${base.origin}|${appId !== undefined ? appId : ''}|${wecom ? 'wecom' : 'wx'}`
  /** Counts logouts: a login or request that began before the latest one stores and retries nothing. */
  let epoch = 0

  // Restored from storage on start; kept in memory after that.
  const restored: unknown = api.getStorageSync(storageKey)
  let stored: Stored | undefined = isStored(restored) ? restored : undefined
  let loggingIn: Promise<WeappLogin | WeappWecomLogin> | undefined

  /** A path on baseUrl or a URL on its origin, as a full URL; undefined for anywhere else. */
  function resolve (url: unknown): string | undefined {
    if (typeof url !== 'string' || /\s/.test(url)) return undefined
    // '/x' but not '//host' or '/\\host', which browsers and some runtimes read as another origin.
    if (/^\/(?![/\\])/.test(url)) return root + url
    const target = originOf(url)
    return target !== undefined && target.origin === base?.origin ? url : undefined
  }

  function store (session: string, expiresIn: number, token?: { token: string, refreshAt?: number }): void {
    const now = Date.now()
    const expiresAt = now + expiresIn * 1000
    const next: Stored = { session, expiresAt, refreshAt: refreshTime(now, expiresAt) }
    if (token !== undefined) {
      next.token = token.token
      if (token.refreshAt !== undefined) next.tokenRefreshAt = token.refreshAt
    }
    stored = next
    api.setStorageSync(storageKey, stored)
  }

  function tokenOf (token: string | undefined): { token: string, refreshAt?: number } | undefined {
    if (token === undefined) return undefined
    const exp = jwsExpiry(token)
    return exp === undefined ? { token } : { token, refreshAt: refreshTime(Date.now(), exp) }
  }

  function forget (): void {
    stored = undefined
    api.removeStorageSync(storageKey)
  }

  /**
   * The stored session while it is good to use: before its refresh time (a margin proportional to
   * its lifetime), and before the app JWT's, so that a new login renews both together.
   */
  function current (): string | undefined {
    if (stored === undefined) return undefined
    const now = Date.now()
    const refreshAt = stored.refreshAt !== undefined ? stored.refreshAt : stored.expiresAt - 60000
    if (now >= refreshAt || (stored.tokenRefreshAt !== undefined && now >= stored.tokenRefreshAt)) return undefined
    return stored.session
  }

  /**
   * A fresh login code: `wx.login()`'s (`wx.qy.login()`'s with `wecom`), or, where Douyin's
   * `tt.login()` gives a user not logged in to Douyin only an anonymous code, that.
   */
  function wxLogin (): Promise<{ code: string } | { anonymousCode: string }> {
    return new Promise((resolve, reject) => {
      const name = wecom ? 'wx.qy.login()' : 'wx.login()'
      const loginApi = wecom ? api.qy : api
      if (loginApi === undefined) {
        reject(new WeappClientError('WX_LOGIN_FAILED', 'wx.qy.login() is not available: a WeCom app logs in inside WeCom'))
        return
      }
      callApi(loginApi.login({
        success: (res) => {
          const anonymousCode = (res as { anonymousCode?: unknown }).anonymousCode
          if (typeof res.code === 'string' && res.code !== '') resolve({ code: res.code })
          else if (typeof anonymousCode === 'string' && anonymousCode !== '') resolve({ anonymousCode })
          else reject(new WeappClientError('WX_LOGIN_FAILED', `${name} gave no code`))
        },
        fail: (err) => { reject(new WeappClientError('WX_LOGIN_FAILED', `${name} failed: ${err.errMsg}`)) }
      }))
    })
  }

  /**
   * A session the server renewed (its renewWithin option: `x-weapp-session` and
   * `x-weapp-session-expires-in` on a reply to a request that sent `sent`) replaces the stored one,
   * the app JWT kept; a reply to an older session than the stored one changes nothing.
   */
  function keepRenewed (sent: string, header: Record<string, any> | undefined): void {
    if (header === undefined || header === null || stored === undefined || stored.session !== sent) return
    let renewed: unknown
    let expiresIn: unknown
    for (const name of Object.keys(header)) {
      const lower = name.toLowerCase()
      if (lower === 'x-weapp-session') renewed = header[name]
      if (lower === 'x-weapp-session-expires-in') expiresIn = Number(header[name])
    }
    if (typeof renewed !== 'string' || renewed === '' || typeof expiresIn !== 'number' || !(expiresIn > 0)) return
    const token = stored.token
    store(renewed, expiresIn, token === undefined ? undefined : { token, refreshAt: stored.tokenRefreshAt })
  }

  /** One JSON request to a full URL already checked to be on baseUrl's origin. */
  function send<T> (method: string, url: string, data: unknown, session: string | undefined, header: Record<string, string> = {}): Promise<T> {
    // request() sends no session with your own Authorization header (in any case): never both.
    const headers: Record<string, string> = session === undefined
      ? { 'content-type': 'application/json' }
      : { 'content-type': 'application/json', Authorization: `Bearer ${session}` }
    for (const name of Object.keys(header)) headers[name] = header[name] as string
    return new Promise((resolve, reject) => {
      const request: Parameters<WxLike['request']>[0] = {
        url,
        method: method as 'GET',
        header: headers,
        dataType: 'json',
        success: (res) => {
          const body = res.data as { code?: unknown, message?: unknown } | string
          if (res.statusCode >= 200 && res.statusCode < 300) {
            if (session !== undefined) keepRenewed(session, res.header)
            resolve(body as T)
            return
          }
          const code = typeof body === 'object' && body !== null && typeof body.code === 'string' ? body.code : `HTTP_${res.statusCode}`
          const message = typeof body === 'object' && body !== null && typeof body.message === 'string' ? body.message : `${method} ${url} answered HTTP ${res.statusCode}`
          reject(new WeappClientError(code, message, res.statusCode))
        },
        fail: (err) => { reject(new WeappClientError('NETWORK_ERROR', `${method} ${url} failed: ${err.errMsg}`)) }
      }
      if (data !== undefined) request.data = data as Record<string, unknown>
      callApi(api.request(request))
    })
  }

  function loggedOut (): WeappClientError {
    return new WeappClientError('LOGGED_OUT', 'logout() was called meanwhile: nothing was stored; log in again if the user wants to')
  }

  function login (): Promise<WeappLogin | WeappWecomLogin> {
    if (loggingIn === undefined) {
      const started = epoch
      const attempt = (async () => {
        const given = await wxLogin()
        const body = await send<WeappLogin | WeappWecomLogin>('POST', `${root}${prefix}/login`, appId === undefined ? given : { ...given, appId }, undefined)
        if (body === null || typeof body !== 'object' || typeof body.session !== 'string' || body.session === '' || typeof body.expiresIn !== 'number' || !(body.expiresIn > 0)) {
          throw new WeappClientError('BAD_RESPONSE', 'The login route answered without a session')
        }
        if (epoch !== started) throw loggedOut()
        store(body.session, body.expiresIn, tokenOf(body.token))
        return body
      })()
      loggingIn = attempt
      const done = (): void => { if (loggingIn === attempt) loggingIn = undefined }
      attempt.then(done, done)
    }
    return loggingIn
  }

  /** Runs `call` with a session; on a session error, one login (shared) and one retry. */
  async function withSession<T> (call: (session: string) => Promise<T>): Promise<T> {
    const started = epoch
    const first = current()
    const session = first !== undefined ? first : (await login()).session
    try {
      return await call(session)
    } catch (err) {
      if (!(err instanceof WeappClientError) || !SESSION_ERRORS.has(err.code)) throw err
      // A session this client's own logout() ended stays ended: no login behind the user's back.
      if (epoch !== started) throw err
      // What the server refused is dropped (a revoked session would be refused forever).
      if (stored !== undefined && stored.session === session) forget()
      // Another call may have logged in meanwhile: use its session rather than log in again.
      const renewed = current()
      return await call(renewed !== undefined && renewed !== session ? renewed : (await login()).session)
    }
  }

  const routes = `${root}${prefix}`

  return {
    login,

    async request ({ url, method = 'GET', data, header }) {
      const target = resolve(url)
      if (target === undefined) {
        throw new WeappClientError('BAD_URL', `request({ url }): ${String(url)} is not a path starting with '/' or a URL on ${base.origin}; the session is only sent to baseUrl's origin`)
      }
      // With your own Authorization header, no session is needed: one request, as given.
      if (hasAuthorization(header)) return await send(method, target, data, undefined, header)
      return await withSession(async (session) => await send(method, target, data, session, header))
    },

    async ensureSession () {
      if (current() !== undefined) {
        // The session of whoever issues the codes: WeChat's, or WeCom's for a WeCom app.
        const checker = wecom ? api.qy : api
        const lapsed = await new Promise<boolean>((resolve) => {
          if (checker === undefined || checker.checkSession === undefined) resolve(true)
          else callApi(checker.checkSession({ success: () => { resolve(false) }, fail: () => { resolve(true) } }))
        })
        if (!lapsed) return
      }
      await login()
    },

    decrypt ({ encryptedData, iv }) {
      return withSession(async (session) => {
        try {
          return (await send<{ data: any }>('POST', `${routes}/decrypt`, { encryptedData, iv }, session)).data
        } catch (err) {
          if (!(err instanceof WeappClientError) || err.code !== 'WEAPP_DECRYPT_FAILED') throw err
          // The key WeChat encrypted with is not the session's: one fresh code, and the server
          // decrypts with its session_key and renews the session.
          const fresh = await wxLogin()
          if (!('code' in fresh)) throw err // anonymous: no session_key to decrypt with
          const code = fresh.code
          const body = await send<{ data: any, session?: unknown, expiresIn?: unknown }>('POST', `${routes}/decrypt`, { encryptedData, iv, code }, session)
          if (typeof body.session !== 'string' || body.session === '' || typeof body.expiresIn !== 'number' || !(body.expiresIn > 0)) {
            throw new WeappClientError('BAD_RESPONSE', 'The decrypt route answered a fresh code without a renewed session')
          }
          const token = stored !== undefined && stored.token !== undefined ? { token: stored.token, refreshAt: stored.tokenRefreshAt } : undefined
          store(body.session, body.expiresIn, token)
          return body.data
        }
      })
    },

    async phone (code) {
      return (await withSession(async (session) => await send<{ phone: { phoneNumber: string, purePhoneNumber: string, countryCode: string } }>('POST', `${routes}/phone`, { code }, session))).phone
    },

    session: () => current(),

    token: () => current() === undefined || stored === undefined ? undefined : stored.token,

    async logout () {
      // A login in flight stores nothing now, and requests in flight retry nothing.
      epoch++
      loggingIn = undefined
      const session = stored !== undefined ? stored.session : undefined
      if (session === undefined) return
      try {
        await send('POST', `${routes}/logout`, {}, session)
      } catch (err) {
        // No logout route (no revocation on the server), or a session that no longer opens: nothing to end.
        const status = (err as WeappClientError).statusCode
        if (status !== 404 && status !== 401) throw err // kept: the server still takes it, retry logout()
      }
      if (stored !== undefined && stored.session === session) forget()
    }
  }
}
