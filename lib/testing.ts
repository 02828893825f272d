/**
 * `fastify-weapp/testing`: a mock of the WeChat server API on loopback, for tests and local
 * development. It answers like WeChat does (errors as HTTP 200 with an `errcode`, success as JSON
 * labelled `text/plain`), issues single-use login codes for identities you choose, encrypts user
 * data the way WeChat does, and can be told to fail.
 */
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { WxLike } from './client.js'

export interface MockWechatOptions {
  /** The first (default) mini program. Default `'wx0123456789abcdef'`. */
  appId?: string
  /** Default a fixed test secret; read it back from `mock.appSecret`. */
  appSecret?: string
  /** More mini programs served by the same mock (see `mock.app(appId)`); a secret is made up when none is given. */
  apps?: Array<{ appId: string, appSecret?: string }>
  /** How long a code stays valid, in ms. Default 5 minutes, as on WeChat. */
  codeTtl?: number
  /** Interface to listen on. Default `'127.0.0.1'`. */
  host?: string
  /** Lifetime of the access tokens `stable_token` issues, in seconds. Default 7200, as on WeChat. */
  accessTokenTtl?: number
}

/** A phone number as getuserphonenumber answers it (WeChat sends countryCode as a number). */
export interface MockPhone {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string | number
}

/** A WeChat user of the mini program. */
export interface MockUser {
  openid: string
  unionid?: string
  /** The current session_key (base64 of 16 bytes); a lapsed WeChat session gets a new one. */
  sessionKey: string
}

/**
 * What the next upstream request answers instead of the normal reply. Fields combine: `until`
 * and `delay` first, then `destroy`, or an HTTP answer made of `status`/`body`/`contentType`, or
 * `errcode`. A fault with only `until` or `delay` answers normally, later.
 */
export interface MockFault {
  /** Only requests to this path take the fault (e.g. `'/sns/jscode2session'`). Default any. */
  path?: string
  /**
   * Hold the answer until this settles (either way): keeps a call in flight for exactly as long
   * as a test needs, e.g. until every concurrent request has joined it. Applied before `delay`.
   */
  until?: PromiseLike<unknown>
  /** Wait this many ms before answering. */
  delay?: number
  /** Reset the connection without an answer. */
  destroy?: boolean
  /** Answer WeChat's error shape: HTTP 200 `{ errcode, errmsg }`. */
  errcode?: number
  errmsg?: string
  /** Answer this HTTP status (default 200) with `body` as is. */
  status?: number
  body?: string
  contentType?: string
  /** More response headers with `status`/`body` (a `location` for a redirect, say). */
  headers?: Record<string, string>
}

/** One request the mock received, for asserting exactly what the code under test sent. */
export interface MockCall {
  method: string
  path: string
  query: Record<string, string>
  body: string
}

export interface EncryptedUserData {
  encryptedData: string
  iv: string
}

/** One mini program of the mock: what `wx.login()` and WeChat's encryption do for its users. */
export interface MockApp {
  readonly appId: string
  readonly appSecret: string
  /** The user with this openid in this app, created on first use (with `unionid` when given). */
  user (openid: string, unionid?: string): MockUser
  /** What `wx.login()` does in this app: a fresh single-use code (see `MockWechat.login`). */
  login (openid: string, options?: { unionid?: string, rotate?: boolean }): string
  /** Gives the user a new session_key and returns it. */
  rotateSessionKey (openid: string): string
  /** Encrypted data as this app's mini program receives it (watermark.appid is this app's). */
  encrypt (openid: string, data: Record<string, unknown>, watermark?: { appid?: string, timestamp?: number }): EncryptedUserData
  /** `rawData` and its `signature` as `wx.getUserInfo` returns them. */
  signedRawData (openid: string, info: Record<string, unknown>): { rawData: string, signature: string }
  /** A getPhoneNumber button code of this app. */
  phoneCode (openid: string, phone?: Partial<MockPhone>): string
}

interface IssuedCode {
  appId: string
  openid: string
  expires: number
  used: boolean
}

const ERRMSG = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40003: 'invalid openid',
  40097: 'invalid args',
  42001: 'access_token expired',
  47001: 'data format error',
  87009: 'invalid signature',
  40002: 'invalid grant_type',
  40013: 'invalid appid',
  40029: 'invalid code',
  40125: 'invalid appsecret',
  40163: 'code been used',
  40226: 'high risk user',
  41008: 'missing code',
  45011: 'api minute-quota reach limit  mustslower  retry next minute'
} as const satisfies Record<number, string>
type KnownErrcode = keyof typeof ERRMSG

function rid (): string {
  return `${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`
}

/** A random session_key: base64 of 16 bytes, as WeChat issues them. */
export function randomSessionKey (): string {
  return randomBytes(16).toString('base64')
}

/** Encrypts `data` the way WeChat does: AES-128-CBC, PKCS#7, key = the session_key's 16 bytes. */
export function encryptUserData (sessionKey: string, data: unknown, iv: Buffer = randomBytes(16)): EncryptedUserData {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv)
  const encrypted = Buffer.concat([cipher.update(JSON.stringify(data), 'utf8'), cipher.final()])
  return { encryptedData: encrypted.toString('base64'), iv: iv.toString('base64') }
}

/** WeChat's rawData signature: `sha1(rawData + session_key)` in hex. */
export function signRawData (rawData: string, sessionKey: string): string {
  return createHash('sha1').update(rawData + sessionKey, 'utf8').digest('hex')
}

export class MockWechat {
  readonly appId: string
  readonly appSecret: string
  /** Every request received, oldest first. */
  readonly calls: MockCall[] = []
  readonly #server: Server
  readonly #codeTtl: number
  /** Users by app and openid (openids are per app, as on WeChat). */
  readonly #users = new Map<string, MockUser>()
  /** Every app's AppSecret, by AppID. */
  readonly #apps = new Map<string, string>()
  readonly #codes = new Map<string, IssuedCode>()
  readonly #faults: MockFault[] = []
  readonly #secrets = new Set<string>()
  readonly #accessTokenTtl: number
  /** Issued access tokens, their app and when they expire (ms); a revoked one is deleted. */
  readonly #accessTokens = new Map<string, { appId: string, expires: number }>()
  /** The current access token of each app. */
  readonly #currentAccessToken = new Map<string, string>()
  readonly #phoneCodes = new Map<string, IssuedCode & { phone: MockPhone }>()
  #url = ''

  /** Starts a mock on a free loopback port. */
  static async start (options: MockWechatOptions = {}): Promise<MockWechat> {
    const mock = new MockWechat(options)
    await new Promise<void>((resolve, reject) => {
      mock.#server.once('error', reject)
      mock.#server.listen(0, options.host ?? '127.0.0.1', () => resolve())
    })
    const { address, port } = mock.#server.address() as AddressInfo
    mock.#url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`
    return mock
  }

  private constructor (options: MockWechatOptions) {
    this.appId = options.appId ?? 'wx0123456789abcdef'
    this.appSecret = options.appSecret ?? 'mock-app-secret-0123456789abcdef'
    this.#apps.set(this.appId, this.appSecret)
    for (const app of options.apps ?? []) this.addApp(app.appId, app.appSecret)
    this.#codeTtl = options.codeTtl ?? 5 * 60 * 1000
    this.#accessTokenTtl = options.accessTokenTtl ?? 7200
    this.#server = createServer((req, res) => { this.#handle(req, res) })
  }

  /** The origin to pass as `apiBaseUrl`. */
  get url (): string {
    return this.#url
  }

  /** Serves one more mini program (its AppSecret made up when not given) and returns it. */
  addApp (appId: string, appSecret = `mock-secret-${appId}-${randomBytes(8).toString('hex')}`): MockApp {
    if (this.#apps.has(appId) && this.#apps.get(appId) !== appSecret) throw new Error(`the mock already serves ${appId} with another secret`)
    this.#apps.set(appId, appSecret)
    return this.app(appId)
  }

  /** One of the mock's mini programs: its users, codes and encrypted data. */
  app (appId: string): MockApp {
    const appSecret = this.#apps.get(appId)
    if (appSecret === undefined) throw new Error(`the mock serves no app ${appId}; addApp() it first`)
    return {
      appId,
      appSecret,
      user: (openid, unionid) => this.#user(appId, openid, unionid),
      login: (openid, options = {}) => {
        const user = this.#user(appId, openid, options.unionid)
        if (options.rotate === true) user.sessionKey = this.#newSessionKey()
        const code = randomBytes(16).toString('hex')
        this.#secrets.add(code)
        this.#codes.set(code, { appId, openid: user.openid, expires: Date.now() + this.#codeTtl, used: false })
        return code
      },
      rotateSessionKey: (openid) => {
        const user = this.#user(appId, openid)
        user.sessionKey = this.#newSessionKey()
        return user.sessionKey
      },
      encrypt: (openid, data, watermark = {}) => {
        const user = this.#user(appId, openid)
        const mark = { timestamp: watermark.timestamp ?? Math.floor(Date.now() / 1000), appid: watermark.appid ?? appId }
        return encryptUserData(user.sessionKey, { ...data, watermark: mark })
      },
      signedRawData: (openid, info) => {
        const rawData = JSON.stringify(info)
        return { rawData, signature: signRawData(rawData, this.#user(appId, openid).sessionKey) }
      },
      phoneCode: (openid, phone = {}) => {
        this.#user(appId, openid)
        const code = randomBytes(32).toString('hex')
        this.#secrets.add(code)
        const full = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: 86, ...phone }
        this.#phoneCodes.set(code, { appId, openid, expires: Date.now() + this.#codeTtl, used: false, phone: full })
        return code
      }
    }
  }

  #user (appId: string, openid: string, unionid?: string): MockUser {
    const key = `${appId}\n${openid}`
    let user = this.#users.get(key)
    if (user === undefined) {
      user = { openid, sessionKey: this.#newSessionKey() }
      this.#users.set(key, user)
    }
    if (unionid !== undefined) user.unionid = unionid
    return user
  }

  /** The user with this openid in the default app, created on first use (with `unionid` when given). */
  user (openid: string, unionid?: string): MockUser {
    return this.app(this.appId).user(openid, unionid)
  }

  /**
   * What `wx.login()` does for this user of the default app: a fresh single-use code. The
   * session_key stays as it is while the WeChat session is valid; `rotate: true` models a login
   * after it lapsed (a new key). For another app, `mock.app(appId).login(...)`.
   */
  login (openid: string, options: { unionid?: string, rotate?: boolean } = {}): string {
    return this.app(this.appId).login(openid, options)
  }

  /** Gives the user a new session_key (their WeChat session lapsed) and returns it. */
  rotateSessionKey (openid: string): string {
    return this.app(this.appId).rotateSessionKey(openid)
  }

  /**
   * Encrypted data as the mini program receives it for this user (`wx.getWeRunData`,
   * `wx.getUserProfile`, share info): the data plus a watermark, under the current session_key.
   */
  encrypt (openid: string, data: Record<string, unknown>, watermark: { appid?: string, timestamp?: number } = {}): EncryptedUserData {
    return this.app(this.appId).encrypt(openid, data, watermark)
  }

  /** `rawData` and its `signature` as `wx.getUserInfo` returns them for this user. */
  signedRawData (openid: string, info: Record<string, unknown>): { rawData: string, signature: string } {
    return this.app(this.appId).signedRawData(openid, info)
  }

  /**
   * A code as `<button open-type="getPhoneNumber">` gives it: single use, valid 5 minutes, for this
   * user's phone (default a mainland number, with countryCode as the number WeChat sends).
   */
  phoneCode (openid: string, phone: Partial<MockPhone> = {}): string {
    return this.app(this.appId).phoneCode(openid, phone)
  }

  /** Every access token issued (of one app, or of all) stops working (40001), as after a force refresh elsewhere. */
  revokeAccessTokens (appId?: string): void {
    for (const [token, issued] of this.#accessTokens) if (appId === undefined || issued.appId === appId) this.#accessTokens.delete(token)
    if (appId === undefined) this.#currentAccessToken.clear()
    else this.#currentAccessToken.delete(appId)
  }

  /** Every access token issued (of one app, or of all) expires now (42001). */
  expireAccessTokens (appId?: string): void {
    for (const issued of this.#accessTokens.values()) if (appId === undefined || issued.appId === appId) issued.expires = 0
  }

  /**
   * Everything that must never appear in a reply or a log line: the AppSecret, every session_key,
   * login or phone code and access token this mock has issued.
   */
  secrets (): string[] {
    return [...this.#apps.values(), ...this.#secrets]
  }

  #newSessionKey (): string {
    const key = randomSessionKey()
    this.#secrets.add(key)
    return key
  }

  /** Queues faults: each of the next matching requests takes one, in order. */
  fail (...faults: MockFault[]): void {
    this.#faults.push(...faults)
  }

  /** Calls received on one path. */
  callsTo (path: string): MockCall[] {
    return this.calls.filter((c) => c.path === path)
  }

  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeAllConnections()
    await closed
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const url = new URL(req.url as string, 'http://mock')
      const call: MockCall = {
        method: req.method as string,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body: Buffer.concat(chunks).toString('utf8')
      }
      this.calls.push(call)
      const index = this.#faults.findIndex((f) => f.path === undefined || f.path === call.path)
      const fault = index === -1 ? undefined : this.#faults.splice(index, 1)[0]
      const answer = (): void => { this.#answer(call, fault, res) }
      const later = (): void => {
        if (fault?.delay !== undefined) setTimeout(answer, fault.delay).unref()
        else answer()
      }
      if (fault?.until !== undefined) Promise.resolve(fault.until).then(later, later)
      else later()
    })
  }

  #answer (call: MockCall, fault: MockFault | undefined, res: ServerResponse): void {
    if (res.destroyed) return
    if (fault?.destroy === true) {
      res.socket?.destroy()
      return
    }
    if (fault?.errcode !== undefined) {
      return send(res, 200, { errcode: fault.errcode, errmsg: `${fault.errmsg ?? (ERRMSG as Record<number, string>)[fault.errcode] ?? 'error'}, rid: ${rid()}` })
    }
    if (fault?.status !== undefined || fault?.body !== undefined) {
      res.writeHead(fault.status ?? 200, { ...fault.headers, 'content-type': fault.contentType ?? 'text/plain' })
      res.end(fault.body ?? '')
      return
    }
    if (call.method === 'GET' && call.path === '/sns/jscode2session') return this.#jscode2session(call, res)
    if (call.method === 'POST' && call.path === '/cgi-bin/stable_token') return this.#stableToken(call, res)
    if (call.method === 'POST' && call.path === '/wxa/business/getuserphonenumber') return this.#phoneNumber(call, res)
    if (call.method === 'GET' && call.path === '/wxa/checksession') return this.#checkSession(call, res)
    res.writeHead(404, { 'content-type': 'text/html' })
    res.end('<html><body>404 Not Found</body></html>')
  }

  #error (res: ServerResponse, errcode: KnownErrcode): void {
    send(res, 200, { errcode, errmsg: `${ERRMSG[errcode]}, rid: ${rid()}` })
  }

  #jscode2session ({ query }: MockCall, res: ServerResponse): void {
    const secret = query.appid === undefined ? undefined : this.#apps.get(query.appid)
    if (secret === undefined) return this.#error(res, 40013)
    if (query.secret !== secret) return this.#error(res, 40125)
    if (query.grant_type !== 'authorization_code') return this.#error(res, 40002)
    if (query.js_code === undefined || query.js_code === '') return this.#error(res, 41008)
    const issued = this.#codes.get(query.js_code)
    // A code is only good for the app whose mini program got it.
    if (issued === undefined || issued.expires < Date.now() || issued.appId !== query.appid) return this.#error(res, 40029)
    if (issued.used) return this.#error(res, 40163)
    issued.used = true
    const user = this.#user(issued.appId, issued.openid)
    const answer: Record<string, string> = { session_key: user.sessionKey, openid: user.openid }
    if (user.unionid !== undefined) answer.unionid = user.unionid
    send(res, 200, answer)
  }
  #stableToken ({ body }: MockCall, res: ServerResponse): void {
    const request = parseJson(body)
    if (request === undefined) return this.#error(res, 47001)
    if (request.grant_type !== 'client_credential') return this.#error(res, 40002)
    const appId = typeof request.appid === 'string' ? request.appid : ''
    const secret = this.#apps.get(appId)
    if (secret === undefined) return this.#error(res, 40013)
    if (request.secret !== secret) return this.#error(res, 40125)
    const now = Date.now()
    let token = this.#currentAccessToken.get(appId)
    const expires = token === undefined ? undefined : this.#accessTokens.get(token)?.expires
    if (request.force_refresh === true || token === undefined || expires === undefined || expires <= now) {
      if (request.force_refresh === true) this.revokeAccessTokens(appId)
      token = randomBytes(24).toString('base64url')
      this.#secrets.add(token)
      this.#accessTokens.set(token, { appId, expires: now + this.#accessTokenTtl * 1000 })
      this.#currentAccessToken.set(appId, token)
    }
    const left = Math.round(((this.#accessTokens.get(token)?.expires as number) - now) / 1000)
    send(res, 200, { access_token: token, expires_in: left })
  }

  /** 40001 for an unknown or revoked token, 42001 for an expired one, else the token's app. */
  #tokenApp (token: string | undefined): { error: KnownErrcode } | { appId: string } {
    const issued = token === undefined ? undefined : this.#accessTokens.get(token)
    if (issued === undefined) return { error: 40001 }
    return issued.expires <= Date.now() ? { error: 42001 } : { appId: issued.appId }
  }

  #phoneNumber ({ query, body }: MockCall, res: ServerResponse): void {
    const token = this.#tokenApp(query.access_token)
    if ('error' in token) return this.#error(res, token.error)
    const request = parseJson(body)
    if (request === undefined) return this.#error(res, 47001)
    const issued = typeof request.code === 'string' ? this.#phoneCodes.get(request.code) : undefined
    // An unknown, expired or used code, one of another app than the token's, or of another user
    // than the openid sent: 40029.
    if (issued === undefined || issued.expires < Date.now() || issued.used || issued.appId !== token.appId ||
        (request.openid !== undefined && request.openid !== issued.openid)) {
      return this.#error(res, 40029)
    }
    issued.used = true
    send(res, 200, { errcode: 0, errmsg: 'ok', phone_info: { ...issued.phone, watermark: { timestamp: Math.floor(Date.now() / 1000), appid: issued.appId } } })
  }

  #checkSession ({ query }: MockCall, res: ServerResponse): void {
    const token = this.#tokenApp(query.access_token)
    if ('error' in token) return this.#error(res, token.error)
    if (query.sig_method !== 'hmac_sha256' || query.signature === undefined) return this.#error(res, 40097)
    const user = query.openid === undefined ? undefined : this.#users.get(`${token.appId}\n${query.openid}`)
    if (user === undefined) return this.#error(res, 40003)
    const expected = createHmac('sha256', user.sessionKey).update('').digest('hex')
    if (query.signature !== expected) return this.#error(res, 87009)
    send(res, 200, { errcode: 0, errmsg: 'ok' })
  }

}

function parseJson (text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** WeChat's way: JSON, labelled text/plain. */
function send (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'text/plain' })
  res.end(JSON.stringify(body))
}

/** Starts a mock WeChat API on a free loopback port. */
export async function createMockWechat (options?: MockWechatOptions): Promise<MockWechat> {
  return await MockWechat.start(options)
}

/** A `wx` for Node, backed by a mock WeChat API: see `createWx`. */
export interface MockWx extends WxLike {
  /** WeChat's own session lapses: `checkSession` fails, and the next `login` gets a new session_key. */
  lapse (): void
  /** The next `wx.login()` fails with this errMsg. */
  failNextLogin (errMsg?: string): void
  /** The next `wx.request()` fails as a network error. */
  failNextRequest (errMsg?: string): void
  /** How many times `wx.login()` was called. */
  readonly logins: number
  /** What `wx.getWeRunData()` gives: steps, encrypted with the user's current session_key. */
  getWeRunData (options: { success?: (res: EncryptedUserData & { errMsg: string }) => void, fail?: (err: { errMsg: string }) => void }): void
  /** What a tap on `<button open-type="getPhoneNumber">` hands to its handler. */
  phoneButton (): { detail: { code: string, errMsg: string } }
  /** The storage behind get/set/removeStorageSync. */
  readonly storage: Map<string, unknown>
}

/**
 * A `wx` for one WeChat user of the mock, behaving like WeChat: `login` gives a fresh single-use
 * code, and keeps the session_key while WeChat's session is valid (a new one after `lapse()`);
 * `checkSession` fails before the first login and after a lapse; `request` is a real HTTP request
 * (JSON in and out); callbacks run asynchronously; `getAccountInfoSync` names the mock app's AppID.
 * For testing mini-program code in Node (pass `mock.app(appId)` for another app of the mock).
 */
export function createWx (mock: MockWechat | MockApp, openid: string): MockWx {
  const storage = new Map<string, unknown>()
  let valid = false // checkSession succeeds
  let lapsed = false // the next login gets a new session_key
  let logins = 0
  let loginFailure: string | undefined
  let requestFailure: string | undefined
  const later = <T>(fn: () => T | Promise<T>, success?: (value: T) => void, fail?: (err: { errMsg: string }) => void): void => {
    Promise.resolve().then(fn).then((value) => { success?.(value) }, (err: unknown) => { fail?.({ errMsg: String((err as Error).message) }) })
  }
  return {
    storage,
    get logins () { return logins },
    lapse () {
      valid = false
      lapsed = true
    },
    failNextLogin (errMsg = 'login:fail network error') { loginFailure = errMsg },
    failNextRequest (errMsg = 'request:fail timeout') { requestFailure = errMsg },

    login ({ success, fail }) {
      logins++
      later(() => {
        const failure = loginFailure
        loginFailure = undefined
        if (failure !== undefined) throw new Error(failure)
        const code = mock.login(openid, { rotate: lapsed })
        valid = true
        lapsed = false
        return { code, errMsg: 'login:ok' }
      }, success, fail)
    },

    checkSession ({ success, fail }) {
      later(() => {
        if (!valid) throw new Error('checkSession:fail session time out')
        return { errMsg: 'checkSession:ok' }
      }, success, fail)
    },

    request ({ url, method = 'GET', data, header = {}, success, fail }) {
      later(async () => {
        const failure = requestFailure
        requestFailure = undefined
        if (failure !== undefined) throw new Error(failure)
        const body = data === undefined || method === 'GET' ? undefined : typeof data === 'string' ? data : JSON.stringify(data)
        const res = await fetch(url, { method, headers: header, body }).catch((err: Error) => { throw new Error(`request:fail ${err.message}`) })
        const text = await res.text()
        let parsed: string | Record<string, unknown> = text
        try { parsed = JSON.parse(text) as Record<string, unknown> } catch {}
        return { statusCode: res.status, data: parsed, header: Object.fromEntries(res.headers) }
      }, success, fail)
    },

    getWeRunData ({ success, fail }) {
      later(() => {
        const day = 86400
        const today = Math.floor(Date.now() / 1000 / day) * day
        return { ...mock.encrypt(openid, { stepInfoList: [{ timestamp: today - day, step: 6120 }, { timestamp: today, step: 10342 }] }), errMsg: 'getWeRunData:ok' }
      }, success, fail)
    },

    phoneButton () {
      return { detail: { code: mock.phoneCode(openid), errMsg: 'getPhoneNumber:ok' } }
    },

    getAccountInfoSync () { return { miniProgram: { appId: mock.appId, envVersion: 'develop', version: '' } } },

    getStorageSync (key) { return storage.get(key) ?? '' },
    setStorageSync (key, value) { storage.set(key, value) },
    removeStorageSync (key) { storage.delete(key) }
  }
}
