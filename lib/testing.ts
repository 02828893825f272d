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
  /** Lifetime of the tokens it issues (stable_token's, component and WeCom tokens), in seconds. Default 7200, as on WeChat. */
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
  /**
   * With `body`: send the headers (its full `content-length`) and the first half of the body, then
   * reset the connection: an answer cut off in the middle.
   */
  cut?: boolean
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
  /** Douyin: what `tt.login()` gives a user not logged in to Douyin, an anonymous code for this anonymous openid. */
  anonymousCode (anonymousOpenid: string): string
}

/**
 * A mini program linked to a WeCom (企业微信) app. Its users are WeCom members: where a method
 * takes an `openid`, give the member's UserID.
 */
export interface MockWecomApp extends Omit<MockApp, 'appSecret' | 'phoneCode'> {
  /** The company the members belong to. */
  readonly corpId: string
  /** The secret of the WeCom app the mini program is linked to (gettoken's corpsecret). */
  readonly corpSecret: string
  /** Every token gettoken issued for this WeCom app stops working (40014). */
  revokeTokens (): void
  /** Every token gettoken issued for this WeCom app expires now (42001). */
  expireTokens (): void
}

/** A WeChat Open Platform third-party platform that hosts mini programs. */
export interface MockComponent {
  readonly appId: string
  readonly appSecret: string
  /** The latest component_verify_ticket "pushed" to the platform. */
  verifyTicket (): string
  /** Pushes a new ticket and returns it; older ones keep working until `expireTickets()`. */
  pushTicket (): string
  /** Every ticket pushed so far expires: api_component_token answers 61005 for them. */
  expireTickets (): void
  /** Hosts one more mini program (authorized to this platform) and returns it. */
  host (appId: string): MockApp
  /** The hosted mini program's current authorizer_access_token (issued on first ask), for its phone numbers. */
  authorizerAccessToken (appId: string): string
  /** Every component token issued stops working (40001). */
  revokeTokens (): void
  /** Every component token issued expires now (42001). */
  expireTokens (): void
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
  40014: 'invalid access_token',
  61003: 'component is not authorized by this account',
  61005: 'component ticket is expired',
  61006: 'component ticket is invalid',
  61011: 'invalid component',
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
  /** Every WeChat mini program's AppSecret, by AppID. */
  readonly #apps = new Map<string, string>()
  /** Hosted mini programs: their platform's AppID, by AppID. */
  readonly #hosted = new Map<string, string>()
  /** Mini programs linked to a WeCom app: its credentials, by AppID. */
  readonly #wecom = new Map<string, { corpId: string, corpSecret: string }>()
  /** Third-party platforms: their secret and the tickets pushed (ticket -> expired), the latest last. */
  readonly #components = new Map<string, { secret: string, tickets: Map<string, boolean> }>()
  readonly #codes = new Map<string, IssuedCode>()
  readonly #faults: MockFault[] = []
  readonly #sockets = { open: 0, peak: 0 }
  readonly #secrets = new Set<string>()
  readonly #accessTokenTtl: number
  /**
   * Issued tokens, their owner and when they expire (ms); a revoked one is deleted. The owner is a
   * mini program's AppID (its access token, or a hosted one's authorizer token), `component\n{appid}`
   * or `wecom\n{corpid}\n{corpsecret}`.
   */
  readonly #accessTokens = new Map<string, { appId: string, expires: number }>()
  /** The current token of each owner. */
  readonly #currentAccessToken = new Map<string, string>()
  readonly #phoneCodes = new Map<string, IssuedCode & { phone: MockPhone }>()
  /** Douyin's anonymous codes: `openid` is the anonymous openid. */
  readonly #anonymousCodes = new Map<string, IssuedCode>()
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
    this.#server.on('connection', (socket) => {
      this.#sockets.open++
      this.#sockets.peak = Math.max(this.#sockets.peak, this.#sockets.open)
      socket.once('close', () => { this.#sockets.open-- })
    })
  }

  /** Client connections open now, and the most ever open at once (to check a pool's bound). */
  get connections (): { open: number, peak: number } {
    return { ...this.#sockets }
  }

  /** The origin to pass as `apiBaseUrl`. */
  get url (): string {
    return this.#url
  }

  /** Serves one more mini program (its AppSecret made up when not given) and returns it. */
  addApp (appId: string, appSecret = `mock-secret-${appId}-${randomBytes(8).toString('hex')}`): MockApp {
    if (this.#apps.has(appId) && this.#apps.get(appId) !== appSecret) throw new Error(`the mock already serves ${appId} with another secret`)
    this.#unused(appId, this.#apps)
    this.#apps.set(appId, appSecret)
    return this.app(appId)
  }

  /** Throws when `appId` is already served as another kind of app than `kind`'s map says. */
  #unused (appId: string, kind: Map<string, unknown>): void {
    for (const map of [this.#apps, this.#hosted, this.#wecom]) {
      if (map !== kind && map.has(appId)) throw new Error(`the mock already serves ${appId} as another kind of app`)
    }
  }

  /** Serves a third-party platform (its secret made up when not given) and returns it. */
  addComponent (appId: string, appSecret = `mock-component-secret-${appId}-${randomBytes(8).toString('hex')}`): MockComponent {
    if (this.#components.has(appId)) throw new Error(`the mock already serves the platform ${appId}`)
    this.#components.set(appId, { secret: appSecret, tickets: new Map() })
    const component = this.component(appId)
    component.pushTicket()
    return component
  }

  /** One of the mock's third-party platforms. */
  component (appId: string): MockComponent {
    const record = this.#components.get(appId)
    if (record === undefined) throw new Error(`the mock serves no platform ${appId}; addComponent() it first`)
    const owner = `component\n${appId}`
    return {
      appId,
      appSecret: record.secret,
      verifyTicket: () => [...record.tickets.keys()].at(-1) as string,
      pushTicket: () => {
        const ticket = `ticket@@@${randomBytes(24).toString('base64url')}`
        this.#secrets.add(ticket)
        record.tickets.set(ticket, false)
        return ticket
      },
      expireTickets: () => { for (const ticket of record.tickets.keys()) record.tickets.set(ticket, true) },
      host: (hosted) => {
        this.#unused(hosted, this.#hosted)
        this.#hosted.set(hosted, appId)
        return this.app(hosted)
      },
      authorizerAccessToken: (hosted) => {
        if (this.#hosted.get(hosted) !== appId) throw new Error(`${hosted} is not hosted by ${appId}`)
        return this.#issueToken(hosted).token
      },
      revokeTokens: () => { this.revokeAccessTokens(owner) },
      expireTokens: () => { this.expireAccessTokens(owner) }
    }
  }

  /** Serves a mini program linked to a WeCom app (its corpSecret made up when not given) and returns it. */
  addWecomApp (appId: string, { corpId, corpSecret = `mock-corp-secret-${corpId}-${randomBytes(8).toString('hex')}` }: { corpId: string, corpSecret?: string }): MockWecomApp {
    this.#unused(appId, this.#wecom)
    this.#wecom.set(appId, { corpId, corpSecret })
    return this.wecomApp(appId)
  }

  /** One of the mock's WeCom mini programs. */
  wecomApp (appId: string): MockWecomApp {
    const linked = this.#wecom.get(appId)
    if (linked === undefined) throw new Error(`the mock serves no WeCom app ${appId}; addWecomApp() it first`)
    const { appSecret: _secret, phoneCode: _phone, ...app } = this.app(appId)
    const owner = `wecom\n${linked.corpId}\n${linked.corpSecret}`
    return {
      ...app,
      corpId: linked.corpId,
      corpSecret: linked.corpSecret,
      revokeTokens: () => { this.revokeAccessTokens(owner) },
      expireTokens: () => { this.expireAccessTokens(owner) }
    }
  }

  /** The current token of an owner (see #accessTokens), or a new one when there is none, it expired or `force`. */
  #issueToken (owner: string, force = false): { token: string, expiresIn: number } {
    const now = Date.now()
    let token = this.#currentAccessToken.get(owner)
    const expires = token === undefined ? undefined : this.#accessTokens.get(token)?.expires
    if (force || token === undefined || expires === undefined || expires <= now) {
      if (force) this.revokeAccessTokens(owner)
      token = randomBytes(24).toString('base64url')
      this.#secrets.add(token)
      this.#accessTokens.set(token, { appId: owner, expires: now + this.#accessTokenTtl * 1000 })
      this.#currentAccessToken.set(owner, token)
    }
    return { token, expiresIn: Math.round(((this.#accessTokens.get(token)?.expires as number) - now) / 1000) }
  }

  /** One of the mock's mini programs: its users, codes and encrypted data. */
  app (appId: string): MockApp {
    const appSecret = this.#apps.get(appId) ?? ''
    if (appSecret === '' && !this.#hosted.has(appId) && !this.#wecom.has(appId)) throw new Error(`the mock serves no app ${appId}; addApp() it first`)
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
      anonymousCode: (anonymousOpenid) => {
        const code = randomBytes(16).toString('hex')
        this.#secrets.add(code)
        this.#anonymousCodes.set(code, { appId, openid: anonymousOpenid, expires: Date.now() + this.#codeTtl, used: false })
        return code
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

  /**
   * Every access token issued (of one app, or of all) stops working (40001), as after a force
   * refresh elsewhere. (For platforms and WeCom apps: `component(id).revokeTokens()`, `wecomApp(id).revokeTokens()`.)
   */
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
    return [...this.#apps.values(), ...[...this.#components.values()].map((c) => c.secret), ...[...this.#wecom.values()].map((w) => w.corpSecret), ...this.#secrets]
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
      const body = Buffer.from(fault.body ?? '')
      res.writeHead(fault.status ?? 200, { ...fault.headers, 'content-type': fault.contentType ?? 'text/plain', 'content-length': String(body.length) })
      if (fault.cut === true) {
        res.write(body.subarray(0, body.length >> 1), () => { res.socket?.destroy() })
        return
      }
      res.end(body)
      return
    }
    if (call.method === 'GET' && call.path === '/sns/jscode2session') return this.#jscode2session(call, res)
    if (call.method === 'POST' && call.path === '/cgi-bin/stable_token') return this.#stableToken(call, res)
    if (call.method === 'POST' && call.path === '/wxa/business/getuserphonenumber') return this.#phoneNumber(call, res)
    if (call.method === 'GET' && call.path === '/wxa/checksession') return this.#checkSession(call, res)
    if (call.method === 'POST' && call.path === '/cgi-bin/component/api_component_token') return this.#componentToken(call, res)
    if (call.method === 'GET' && call.path === '/sns/component/jscode2session') return this.#componentLogin(call, res)
    if (call.method === 'GET' && call.path === '/cgi-bin/gettoken') return this.#wecomToken(call, res)
    if (call.method === 'GET' && call.path === '/cgi-bin/miniprogram/jscode2session') return this.#wecomLogin(call, res)
    if (call.method === 'POST' && call.path === '/api/apps/v2/jscode2session') return this.#douyinLogin(call, res)
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
    // A code is only good for the app whose mini program got it.
    const user = this.#redeem(query.js_code, query.appid as string, 40163)
    if (typeof user === 'number') return this.#error(res, user)
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
    const { token, expiresIn } = this.#issueToken(appId, request.force_refresh === true)
    send(res, 200, { access_token: token, expires_in: expiresIn })
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

  /** A code's user, or the errcode for it: unknown, expired or another app's (40029), used (40163). */
  #redeem (code: string | undefined, appId: string, used: KnownErrcode): MockUser | KnownErrcode {
    const issued = code === undefined ? undefined : this.#codes.get(code)
    if (issued === undefined || issued.expires < Date.now() || issued.appId !== appId) return 40029
    if (issued.used) return used
    issued.used = true
    return this.#user(issued.appId, issued.openid)
  }

  #componentToken ({ body }: MockCall, res: ServerResponse): void {
    const request = parseJson(body)
    if (request === undefined) return this.#error(res, 47001)
    const component = typeof request.component_appid === 'string' ? this.#components.get(request.component_appid) : undefined
    if (component === undefined) return this.#error(res, 61011)
    if (request.component_appsecret !== component.secret) return this.#error(res, 40125)
    const expired = typeof request.component_verify_ticket === 'string' ? component.tickets.get(request.component_verify_ticket) : undefined
    if (expired === undefined) return this.#error(res, 61006)
    if (expired) return this.#error(res, 61005)
    const { token, expiresIn } = this.#issueToken(`component\n${request.component_appid as string}`)
    send(res, 200, { component_access_token: token, expires_in: expiresIn })
  }

  #componentLogin ({ query }: MockCall, res: ServerResponse): void {
    const owner = this.#tokenApp(query.component_access_token)
    if ('error' in owner) return this.#error(res, owner.error)
    if (owner.appId !== `component\n${query.component_appid ?? ''}`) return this.#error(res, 40001)
    if (query.appid === undefined || this.#hosted.get(query.appid) !== query.component_appid) return this.#error(res, 61003)
    if (query.grant_type !== 'authorization_code') return this.#error(res, 40002)
    const user = this.#redeem(query.js_code, query.appid, 40163)
    if (typeof user === 'number') return this.#error(res, user)
    const answer: Record<string, string> = { session_key: user.sessionKey, openid: user.openid }
    if (user.unionid !== undefined) answer.unionid = user.unionid
    send(res, 200, answer)
  }

  /**
   * Douyin's `jscode2session` (a mock on the Douyin origin serves its apps this way): JSON in, and
   * `{ err_no, err_tips, log_id, data }` out, labelled `application/json`, HTTP 200 for errors too.
   */
  #douyinLogin ({ body }: MockCall, res: ServerResponse): void {
    const empty = { session_key: '', openid: '', anonymous_openid: '', unionid: '' }
    const answer = (errNo: number, tips: string, data = empty): void => {
      sendJson(res, { err_no: errNo, err_tips: tips, log_id: `${Date.now()}${randomBytes(6).toString('hex').toUpperCase()}`, data })
    }
    const request = parseJson(body)
    if (request === undefined) return answer(40014, 'bad params')
    const secret = typeof request.appid === 'string' ? this.#apps.get(request.appid) : undefined
    if (secret === undefined) return answer(40015, 'bad appid')
    if (request.secret !== secret) return answer(40017, 'bad secret')
    const appId = request.appid as string
    const code = typeof request.code === 'string' && request.code !== '' ? request.code : undefined
    const anonymous = typeof request.anonymous_code === 'string' && request.anonymous_code !== '' ? request.anonymous_code : undefined
    if (code === undefined && anonymous === undefined) return answer(40014, 'bad params')
    const data = { ...empty }
    if (code !== undefined) {
      const user = this.#redeem(code, appId, 40163)
      if (typeof user === 'number') return answer(40018, 'bad code')
      Object.assign(data, { session_key: user.sessionKey, openid: user.openid, unionid: user.unionid ?? '' })
    }
    if (anonymous !== undefined) {
      const issued = this.#anonymousCodes.get(anonymous)
      if (issued === undefined || issued.used || issued.expires < Date.now() || issued.appId !== appId) return answer(40019, 'bad anonymous code')
      issued.used = true
      data.anonymous_openid = issued.openid
    }
    answer(0, 'success', data)
  }

  /** WeCom's error shape: JSON labelled as JSON, with a hint and a link in errmsg. */
  #wecomError (res: ServerResponse, errcode: number, errmsg: string): void {
    sendJson(res, { errcode, errmsg: `${errmsg}, hint: [${Date.now()}_${rid()}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}` })
  }

  #wecomToken ({ query }: MockCall, res: ServerResponse): void {
    const apps = [...this.#wecom.values()]
    if (!apps.some((w) => w.corpId === query.corpid)) return this.#wecomError(res, 40013, 'invalid corpid')
    if (!apps.some((w) => w.corpId === query.corpid && w.corpSecret === query.corpsecret)) return this.#wecomError(res, 40001, 'invalid credential')
    const { token, expiresIn } = this.#issueToken(`wecom\n${query.corpid as string}\n${query.corpsecret as string}`)
    sendJson(res, { errcode: 0, errmsg: 'ok', access_token: token, expires_in: expiresIn })
  }

  #wecomLogin ({ query }: MockCall, res: ServerResponse): void {
    const owner = this.#tokenApp(query.access_token)
    if ('error' in owner) return owner.error === 42001 ? this.#wecomError(res, 42001, 'access_token expired') : this.#wecomError(res, 40014, 'invalid access_token')
    if (!owner.appId.startsWith('wecom\n')) return this.#wecomError(res, 40014, 'invalid access_token')
    if (query.grant_type !== 'authorization_code') return this.#wecomError(res, 40002, 'invalid grant_type')
    // A code is good only with the token of the WeCom app its mini program is linked to.
    const issued = query.js_code === undefined ? undefined : this.#codes.get(query.js_code)
    const linked = issued === undefined ? undefined : this.#wecom.get(issued.appId)
    if (issued === undefined || linked === undefined || owner.appId !== `wecom\n${linked.corpId}\n${linked.corpSecret}`) {
      return this.#wecomError(res, 40029, 'invalid code')
    }
    const user = this.#redeem(query.js_code, issued.appId, 40029)
    if (typeof user === 'number') return this.#wecomError(res, 40029, 'invalid code')
    sendJson(res, { corpid: linked.corpId, userid: user.openid, session_key: user.sessionKey, errcode: 0, errmsg: 'ok' })
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

/** WeCom's and Douyin's way: JSON, labelled as such. */
function sendJson (res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' })
  res.end(JSON.stringify(body))
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
  /** How many times `wx.login()` (or `wx.qy.login()`) was called. */
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
 * For a WeCom app (`mock.wecomApp(appId)`, `openid` the member's UserID) it runs in WeCom: the code
 * comes from `wx.qy.login()` and `wx.qy.checkSession()` checks its session, while `wx.login()` and
 * `wx.checkSession()` fail, as a WeChat code or session is no use to a WeCom app.
 */
export function createWx (mock: MockWechat | MockApp | MockWecomApp, openid: string): MockWx {
  const wecom = 'corpId' in mock
  const storage = new Map<string, unknown>()
  let valid = false // checkSession succeeds
  let lapsed = false // the next login gets a new session_key
  let logins = 0
  let loginFailure: string | undefined
  let requestFailure: string | undefined
  const later = <T>(fn: () => T | Promise<T>, success?: (value: T) => void, fail?: (err: { errMsg: string }) => void): void => {
    Promise.resolve().then(fn).then((value) => { success?.(value) }, (err: unknown) => { fail?.({ errMsg: String((err as Error).message) }) })
  }
  /** What wx.login (or, in WeCom, wx.qy.login) does: a fresh code, or the failure asked for. */
  const code = (success?: (res: { code: string, errMsg: string }) => void, fail?: (err: { errMsg: string }) => void, refusal?: string): void => {
    later(() => {
      const failure = refusal ?? loginFailure
      loginFailure = undefined
      if (failure !== undefined) throw new Error(failure)
      const issued = mock.login(openid, { rotate: lapsed })
      valid = true
      lapsed = false
      return { code: issued, errMsg: 'login:ok' }
    }, success, fail)
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
      if (wecom) {
        later(() => { throw new Error('login:fail this is a WeCom app: log in with wx.qy.login()') }, success, fail)
        return
      }
      code(success, fail)
    },

    qy: {
      login: ({ success, fail }) => {
        logins++
        code(success, fail, wecom ? undefined : 'qy.login:fail not running in WeCom')
      },
      checkSession: ({ success, fail }) => {
        later(() => {
          if (!wecom) throw new Error('qy.checkSession:fail not running in WeCom')
          if (!valid) throw new Error('qy.checkSession:fail session time out')
          return { errMsg: 'qy.checkSession:ok' }
        }, success, fail)
      }
    },

    checkSession ({ success, fail }) {
      later(() => {
        // In WeCom the codes (and the session) are WeCom's: WeChat's own is never established.
        if (wecom) throw new Error('checkSession:fail a WeCom app checks its session with wx.qy.checkSession()')
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
      if (!('phoneCode' in mock)) throw new Error('a WeCom app has no getPhoneNumber button codes')
      return { detail: { code: mock.phoneCode(openid), errMsg: 'getPhoneNumber:ok' } }
    },

    getAccountInfoSync () { return { miniProgram: { appId: mock.appId, envVersion: 'develop', version: '' } } },

    getStorageSync (key) { return storage.get(key) ?? '' },
    setStorageSync (key, value) { storage.set(key, value) },
    removeStorageSync (key) { storage.delete(key) }
  }
}
