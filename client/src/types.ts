import type { RuntimeOptions, WeappLogin, WxLike } from './runtimes/index.js'

export type { WeappLogin, WxLike }

export interface WeappClientOptions extends RuntimeOptions {
  /**
   * The backend, such as `'https://api.example.com'` (or with a path: `'https://example.com/api'`).
   * The session is only ever sent to this origin.
   */
  baseUrl: string
  /** Where the plugin's routes live. Default `'/weapp'`. */
  prefix?: string
  /** Default the runtime's global API object (see the runtime table). */
  wx?: WxLike
  /**
   * Storage key for the session. Default `'fastify-weapp:session:'` followed by what the session
   * is bound to: `baseUrl`'s origin, the appId and the kind of login (the runtime's tag), so that
   * two clients in one mini program (two backends, or two kinds of login) never restore each
   * other's session. A key of your own is yours to keep apart.
   */
  storageKey?: string
  /**
   * The mini program's AppID, sent with each login so that a backend serving several apps knows
   * which. Default the runtime's `getAccountInfoSync().miniProgram.appId` where it has it.
   */
  appId?: string
  /**
   * The device label sent with each login (sealed in the session, listed by the server's
   * `listSessions`, the device type of its `oneSessionPer: 'device'`). Default the host platform's
   * tag (its global's name; under uni-app, read from the build's `uniPlatform`) and the system's
   * platform, such as `'wx:ios'` or `'tt:ios'`; `false` sends none.
   */
  device?: string | false
}

export interface WeappRequestOptions {
  /** A path on `baseUrl` starting with `/` (`'/me'`), or a full URL on `baseUrl`'s origin. */
  url: string
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Sent as JSON. */
  data?: Record<string, unknown> | unknown[]
  header?: Record<string, string>
}

/** A session the app's own route issued (a link route's answer): what `adopt()` stores. */
export interface WeappAdopted {
  session: string
  expiresIn: number
  user?: Record<string, unknown>
  token?: string
}

export interface WeappClient<L = WeappLogin> {
  /** The runtime's login call (`login()` of the runtime table's row), then the login route; the session is stored. Concurrent calls share one login. */
  login (): Promise<L>
  /**
   * A JSON request with the session; on a session error (401), one login and one retry. An
   * `Authorization` header of your own (`api.token()`, say) is sent instead of the session.
   */
  request<T = unknown> (options: WeappRequestOptions): Promise<T>
  /**
   * Before showing what will ask the platform for encrypted data: logs in again only if there is no
   * session, it expired, or the runtime's `checkSession()` says the platform's own session lapsed.
   */
  ensureSession (): Promise<void>
  /** The decrypted object; on `WEAPP_DECRYPT_FAILED`, one fresh code and one retry. */
  decrypt<T = Record<string, unknown>> (encrypted: { encryptedData: string, iv: string }): Promise<T>
  /** The phone number behind a getPhoneNumber button's `e.detail.code`. */
  phone (code: string): Promise<{ phoneNumber: string, purePhoneNumber: string, countryCode: string }>
  /**
   * Encrypts `data` (as JSON) for the server's `openEncrypted()`: AES-128-CBC with the user's latest
   * encrypt key (the runtime's `getUserCryptoManager().getLatestUserKey()`) and a fresh random IV. Send what it
   * gives as a request's body. Rejects `UNSUPPORTED` where the runtime has no user crypto module, and
   * `ENCRYPT_FAILED` where it fails.
   */
  encrypt (data: unknown): Promise<{ version: number, iv: string, encryptedData: string }>
  /** The stored session token, if any (for requests made some other way). */
  session (): string | undefined
  /**
   * What the app's onLogin answered about the user at the last login (the login answer's `user`),
   * kept with the session (and through its renewals); undefined without a session or an answer.
   */
  user<U = Record<string, unknown>> (): U | undefined
  /**
   * Stores a session the app's own route issued (`{ session, expiresIn, user?, token? }`, such as a
   * link route's answer after a 409 `WEAPP_LINK_REQUIRED`): later requests use it. Throws
   * `BAD_RESPONSE` for what is not a session.
   */
  adopt (answer: WeappAdopted): void
  /**
   * Finishes a link: POSTs `{ ...data, linkToken }` to the app's own link route (a path on
   * `baseUrl`, without the session: there is none yet) and adopts the session it answers.
   */
  link<T extends WeappAdopted = WeappAdopted> (options: { url: string, linkToken: string, data?: Record<string, unknown> }): Promise<T>
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
