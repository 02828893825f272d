/**
 * `fastify-weapp/client`: the mini-program side of the login, with no dependencies. It runs in a
 * mini program (the global `wx`) and in Node (an injected `wx`, such as `createWx` from
 * `fastify-weapp/testing`), and makes the flow hard to get wrong:
 *
 * - one login in flight at a time, whatever the number of callers;
 * - the session restored from storage on start;
 * - an expired or refused session renewed once, transparently;
 * - `ensureSession()` before asking WeChat for encrypted data, so that the session the server holds
 *   carries the key WeChat encrypts with; `decrypt()` never calls `wx.login()` before its first
 *   attempt, and heals a rotated key with one fresh code;
 * - JSON bodies only (a form body turns base64's `+` into a space).
 */

/** The part of `wx` the client uses; `WechatMiniprogram.Wx` satisfies it. */
export interface WxLike {
  login (options: { success?: (res: { code: string }) => void, fail?: (err: { errMsg: string }) => void }): unknown
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
}

export interface WeappClientOptions {
  /** The backend's origin, such as `'https://api.example.com'`. */
  baseUrl: string
  /** Where the plugin's routes live. Default `'/weapp'`. */
  prefix?: string
  /** Default the global `wx`. */
  wx?: WxLike
  /** Storage key for the session. Default `'fastify-weapp:session'`. */
  storageKey?: string
}

export interface WeappRequestOptions {
  /** A path on `baseUrl` (`'/me'`) or a full URL. */
  url: string
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Sent as JSON. */
  data?: Record<string, unknown> | unknown[]
  header?: Record<string, string>
}

export interface WeappLogin {
  session: string
  expiresIn: number
  openid: string
  unionid?: string
  /** With the server's jwt option. */
  token?: string
}

export interface WeappClient {
  /** `wx.login()`, then the login route; the session is stored. Concurrent calls share one login. */
  login (): Promise<WeappLogin>
  /**
   * A JSON request with the session; on a session error (401), one login and one retry. An
   * `Authorization` header of your own (`api.token()`, say) is sent instead of the session.
   */
  request<T = unknown> (options: WeappRequestOptions): Promise<T>
  /**
   * Before showing what will ask WeChat for encrypted data: logs in again only if there is no
   * session, it expired, or `wx.checkSession()` says WeChat's own session lapsed.
   */
  ensureSession (): Promise<void>
  /** The decrypted object; on `WEAPP_DECRYPT_FAILED`, one fresh code and one retry. */
  decrypt<T = Record<string, unknown>> (encrypted: { encryptedData: string, iv: string }): Promise<T>
  /** The phone number behind a getPhoneNumber button's `e.detail.code`. */
  phone (code: string): Promise<{ phoneNumber: string, purePhoneNumber: string, countryCode: string }>
  /** The stored session token, if any (for requests made some other way). */
  session (): string | undefined
  /** The app's own JWT from the last login, with the server's jwt option (send it yourself). */
  token (): string | undefined
  /** Forgets the stored session. */
  logout (): void
}

/** An error of the client: `code` is the server's error code, or `WX_LOGIN_FAILED`, `NETWORK_ERROR`, `BAD_RESPONSE`. */
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

/** The mini program's global `wx` (looked up with typeof: older engines have no globalThis). */
declare const wx: WxLike | undefined

const SESSION_ERRORS = new Set(['WEAPP_SESSION_MISSING', 'WEAPP_SESSION_INVALID', 'WEAPP_SESSION_EXPIRED'])

interface Stored { session: string, expiresAt: number, token?: string }

function isStored (value: unknown): value is Stored {
  return value !== null && typeof value === 'object' && typeof (value as Stored).session === 'string' &&
    (value as Stored).session !== '' && typeof (value as Stored).expiresAt === 'number'
}

export function createWeappClient (options: WeappClientOptions): WeappClient {
  if (options === null || typeof options !== 'object' || typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
    throw new TypeError('createWeappClient({ baseUrl }): baseUrl must be an http(s) origin, such as \'https://api.example.com\'')
  }
  const given = options.wx ?? (typeof wx === 'undefined' ? undefined : wx)
  if (given === undefined) throw new TypeError('createWeappClient: no wx; pass { wx } outside a mini program')
  const api: WxLike = given
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const prefix = (options.prefix ?? '/weapp').replace(/\/+$/, '')
  const storageKey = options.storageKey ?? 'fastify-weapp:session'

  // Restored from storage on start; kept in memory after that.
  const restored: unknown = api.getStorageSync(storageKey)
  let stored: Stored | undefined = isStored(restored) ? restored : undefined
  let loggingIn: Promise<WeappLogin> | undefined

  function store (session: string, expiresIn: number, token = stored?.token): void {
    stored = { session, expiresAt: Date.now() + expiresIn * 1000, ...(token === undefined ? {} : { token }) }
    api.setStorageSync(storageKey, stored)
  }

  /** The stored session, unless it expired (with a minute's margin for clocks and flight time). */
  function current (): string | undefined {
    return stored !== undefined && stored.expiresAt - 60_000 > Date.now() ? stored.session : undefined
  }

  function wxLogin (): Promise<string> {
    return new Promise((resolve, reject) => {
      api.login({
        success: (res) => { resolve(res.code) },
        fail: (err) => { reject(new WeappClientError('WX_LOGIN_FAILED', `wx.login() failed: ${err.errMsg}`)) }
      })
    })
  }

  function send<T> (method: string, url: string, data: unknown, session: string | undefined, header: Record<string, string> = {}): Promise<T> {
    return new Promise((resolve, reject) => {
      api.request({
        url: /^https?:\/\//.test(url) ? url : baseUrl + url,
        method: method as 'GET',
        ...(data === undefined ? {} : { data: data as Record<string, unknown> }),
        header: { 'content-type': 'application/json', ...(session === undefined ? {} : { Authorization: `Bearer ${session}` }), ...header },
        dataType: 'json',
        success: (res) => {
          const body = res.data as { code?: unknown, message?: unknown } | string
          if (res.statusCode >= 200 && res.statusCode < 300) {
            resolve(body as T)
            return
          }
          const code = typeof body === 'object' && body !== null && typeof body.code === 'string' ? body.code : `HTTP_${res.statusCode}`
          const message = typeof body === 'object' && body !== null && typeof body.message === 'string' ? body.message : `${method} ${url} answered HTTP ${res.statusCode}`
          reject(new WeappClientError(code, message, res.statusCode))
        },
        fail: (err) => { reject(new WeappClientError('NETWORK_ERROR', `${method} ${url} failed: ${err.errMsg}`)) }
      })
    })
  }

  function login (): Promise<WeappLogin> {
    loggingIn ??= (async () => {
      const code = await wxLogin()
      const body = await send<WeappLogin>('POST', `${prefix}/login`, { code }, undefined)
      if (typeof body?.session !== 'string' || typeof body.expiresIn !== 'number') {
        throw new WeappClientError('BAD_RESPONSE', 'The login route answered without a session')
      }
      store(body.session, body.expiresIn, body.token)
      return body
    })().finally(() => { loggingIn = undefined })
    return loggingIn
  }

  /** Runs `call` with a session; on a session error, one login (shared) and one retry. */
  async function withSession<T> (call: (session: string) => Promise<T>): Promise<T> {
    const session = current() ?? (await login()).session
    try {
      return await call(session)
    } catch (err) {
      if (!(err instanceof WeappClientError) || !SESSION_ERRORS.has(err.code)) throw err
      // Another call may have logged in meanwhile: use its session rather than log in again.
      const renewed = current()
      return await call(renewed !== undefined && renewed !== session ? renewed : (await login()).session)
    }
  }

  return {
    login,

    request ({ url, method = 'GET', data, header }) {
      return withSession(async (session) => await send(method, url, data, session, header))
    },

    async ensureSession () {
      if (current() !== undefined) {
        const lapsed = await new Promise<boolean>((resolve) => {
          api.checkSession({ success: () => { resolve(false) }, fail: () => { resolve(true) } })
        })
        if (!lapsed) return
      }
      await login()
    },

    decrypt ({ encryptedData, iv }) {
      return withSession(async (session) => {
        try {
          return (await send<{ data: any }>('POST', `${prefix}/decrypt`, { encryptedData, iv }, session)).data
        } catch (err) {
          if (!(err instanceof WeappClientError) || err.code !== 'WEAPP_DECRYPT_FAILED') throw err
          // The key WeChat encrypted with is not the session's: one fresh code, and the server
          // decrypts with its session_key and renews the session.
          const code = await wxLogin()
          const body = await send<{ data: any, session: string, expiresIn: number }>('POST', `${prefix}/decrypt`, { encryptedData, iv, code }, session)
          store(body.session, body.expiresIn)
          return body.data
        }
      })
    },

    async phone (code) {
      return (await withSession(async (session) => await send<{ phone: { phoneNumber: string, purePhoneNumber: string, countryCode: string } }>('POST', `${prefix}/phone`, { code }, session))).phone
    },

    session: () => current(),

    token: () => current() === undefined ? undefined : stored?.token,

    logout () {
      stored = undefined
      api.removeStorageSync(storageKey)
    }
  }
}
