import { randomBytes } from 'node:crypto'
import { randomSessionKey } from './data.js'

/** A user of a mini program. */
export interface MockUser {
  openid: string
  unionid?: string
  /** The current session_key (base64 of 16 bytes); a lapsed session gets a new one. */
  sessionKey: string
  /** What getuserriskrank answers for this user (0 to 4). Default 0. */
  riskRank?: number
}

/** An app's API security, as the mock speaks it: opens sealed requests, seals answers. */
export interface MockSealing {
  /** A sealed request's parameters, or the errcode it is refused with. */
  open (url: string, headers: Readonly<Record<string, string | string[] | undefined>>, body: string): Record<string, unknown> | number
  seal (url: string, answer: Record<string, unknown>, fault?: string): { headers: Record<string, string>, body: string }
}

/** One of a user's encrypt keys, as getuserencryptkey lists them. */
export interface MockEncryptKey { encryptKey: string, iv: string, version: number, expires: number, created: number }

/** A phone number as getuserphonenumber answers it (sent with countryCode as a number). */
export interface MockPhone {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string | number
}

export interface IssuedCode {
  appId: string
  openid: string
  expires: number
  used: boolean
}

/**
 * What the mock knows, whatever the platform: its mini programs (by kind), users, the codes,
 * tokens and secrets it issued. The platform modules keep their own records in `kind(name)`.
 */
export class MockState {
  readonly codeTtl: number
  readonly accessTokenTtl: number
  /** Users by app and openid (openids are per app). */
  readonly users = new Map<string, MockUser>()
  /** Mini programs by kind of app, each a map from AppID to what that kind keeps of it. */
  readonly kinds = new Map<string, Map<string, unknown>>()
  readonly codes = new Map<string, IssuedCode>()
  readonly phoneCodes = new Map<string, IssuedCode & { phone: MockPhone }>()
  /** Anonymous codes: `openid` is the anonymous openid. */
  readonly anonymousCodes = new Map<string, IssuedCode>()
  /** Everything that must never appear in a reply or a log line. */
  readonly secrets = new Set<string>()
  /**
   * Issued tokens, their owner and when they expire (ms); a revoked one is deleted. The owner is
   * a mini program's AppID, or a name of the platform module's (`kind\nid…`).
   */
  readonly tokens = new Map<string, { appId: string, expires: number }>()
  /** The current token of each owner. */
  readonly currentToken = new Map<string, string>()
  /** The mock's own origin (what requests' urlpath starts with), once it listens. */
  origin = ''
  /** API security by AppID, for the apps that have it on. */
  readonly secured = new Map<string, MockSealing>()
  /** Users' encrypt keys (`appId\nopenid`), newest last. */
  readonly encryptKeys = new Map<string, MockEncryptKey[]>()
  /** Plugin login codes (getPluginOpenPId's), their app and openpid. */
  readonly pluginCodes = new Map<string, IssuedCode>()
  /** Payments by `appId\nopenid`: a transaction id or a merchant order, and when (ms). */
  readonly payments: Array<{ appId: string, openid: string, transactionId?: string, mchId?: string, outTradeNo?: string, at: number }> = []
  /** sha256 (hex) of the encryptedData each app's users were given, and when (s). */
  readonly encryptedHashes = new Map<string, { appId: string, created: number }>()
  /** Resets of users' session_keys (`appId\nopenid`), counted. */
  readonly resets = new Map<string, number>()

  constructor ({ codeTtl, accessTokenTtl }: { codeTtl: number, accessTokenTtl: number }) {
    this.codeTtl = codeTtl
    this.accessTokenTtl = accessTokenTtl
  }

  /** The mini programs of one kind. */
  kind<T> (name: string): Map<string, T> {
    let apps = this.kinds.get(name)
    if (apps === undefined) {
      apps = new Map()
      this.kinds.set(name, apps)
    }
    return apps as Map<string, T>
  }

  /** Throws when `appId` is already served as another kind of app than `kind`. */
  unused (appId: string, kind: string): void {
    for (const [name, apps] of this.kinds) {
      if (name !== kind && apps.has(appId)) throw new Error(`the mock already serves ${appId} as another kind of app`)
    }
  }

  /** Whether any kind serves `appId`. */
  serves (appId: string): boolean {
    return [...this.kinds.values()].some((apps) => apps.has(appId))
  }

  user (appId: string, openid: string, unionid?: string): MockUser {
    const key = `${appId}\n${openid}`
    let user = this.users.get(key)
    if (user === undefined) {
      user = { openid, sessionKey: this.newSessionKey() }
      this.users.set(key, user)
    }
    if (unionid !== undefined) user.unionid = unionid
    return user
  }

  newSessionKey (): string {
    const key = randomSessionKey()
    this.secrets.add(key)
    return key
  }

  /** A fresh secret code of `bytes` random bytes, in hex. */
  newCode (bytes = 16): string {
    const code = randomBytes(bytes).toString('hex')
    this.secrets.add(code)
    return code
  }

  /** A code's user: unknown, expired or another app's (`'invalid'`), already used (`'used'`). */
  redeem (code: string | undefined, appId: string): MockUser | 'invalid' | 'used' {
    const issued = code === undefined ? undefined : this.codes.get(code)
    if (issued === undefined || issued.expires < Date.now() || issued.appId !== appId) return 'invalid'
    if (issued.used) return 'used'
    issued.used = true
    return this.user(issued.appId, issued.openid)
  }

  /** The current token of an owner, or a new one when there is none, it expired or `force`. */
  issueToken (owner: string, force = false): { token: string, expiresIn: number } {
    const now = Date.now()
    let token = this.currentToken.get(owner)
    const expires = token === undefined ? undefined : this.tokens.get(token)?.expires
    if (force || token === undefined || expires === undefined || expires <= now) {
      if (force) this.revokeTokens(owner)
      token = randomBytes(24).toString('base64url')
      this.secrets.add(token)
      this.tokens.set(token, { appId: owner, expires: now + this.accessTokenTtl * 1000 })
      this.currentToken.set(owner, token)
    }
    return { token, expiresIn: Math.round(((this.tokens.get(token)?.expires as number) - now) / 1000) }
  }

  /** `'unknown'` for an unknown or revoked token, `'expired'`, or the token's owner. */
  tokenOwner (token: string | undefined): { error: 'unknown' | 'expired' } | { appId: string } {
    const issued = token === undefined ? undefined : this.tokens.get(token)
    if (issued === undefined) return { error: 'unknown' }
    return issued.expires <= Date.now() ? { error: 'expired' } : { appId: issued.appId }
  }

  revokeTokens (owner?: string): void {
    for (const [token, issued] of this.tokens) if (owner === undefined || issued.appId === owner) this.tokens.delete(token)
    if (owner === undefined) this.currentToken.clear()
    else this.currentToken.delete(owner)
  }

  expireTokens (owner?: string): void {
    for (const issued of this.tokens.values()) if (owner === undefined || issued.appId === owner) issued.expires = 0
  }
}
