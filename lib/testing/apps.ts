import { createHash } from 'node:crypto'
import { encryptUserData, signRawData, type EncryptedUserData } from './data.js'
import { MockApiSecurity, type MockApiSecurityConfig } from './api-security.js'
import type { MockPhone, MockState, MockUser } from './state.js'
import { addEncryptKey, userEncryptKeys } from './wechat.js'

/** The kind of the mini programs that log in with their own AppSecret (whatever their platform). */
export const SECRET_APPS = 'appSecret'

/** One mini program of the mock: what its runtime's login and its platform's encryption do for its users. */
export interface MockApp {
  readonly appId: string
  readonly appSecret: string
  /** The user with this openid in this app, created on first use (with `unionid` when given). */
  user (openid: string, unionid?: string): MockUser
  /** What the runtime's login call does in this app: a fresh single-use code (see the mock's `login`). */
  login (openid: string, options?: { unionid?: string, rotate?: boolean }): string
  /** Gives the user a new session_key and returns it. */
  rotateSessionKey (openid: string): string
  /** Encrypted data as this app's mini program receives it (watermark.appid is this app's). */
  encrypt (openid: string, data: Record<string, unknown>, watermark?: { appid?: string, timestamp?: number }): EncryptedUserData
  /** `rawData` and its `signature` as `getUserInfo` returns them. */
  signedRawData (openid: string, info: Record<string, unknown>): { rawData: string, signature: string }
  /** A getPhoneNumber button code of this app. */
  phoneCode (openid: string, phone?: Partial<MockPhone>): string
  /** What a login call gives a user not logged in to the platform (where it has them): an anonymous code for this anonymous openid. */
  anonymousCode (anonymousOpenid: string): string
  /**
   * Turns WeChat's API security on for this app (made once; later calls give the same): the APIs
   * that support it then take only sealed, signed requests. Pass `config()` as the app's `apiSecurity`;
   * `rollover()` starts a certificate change. Faults spoil an answer: `mock.fail({ security: 'stale' })`.
   */
  apiSecurity (): MockApiSecurity
  /** What `wx.getUserCryptoManager().getLatestUserKey()` gives this user: the latest encrypt key. */
  latestUserKey (openid: string): { encryptKey: string, iv: string, version: number, expireTime: number }
  /** Gives the user a new encrypt key (the next version) and returns it as `latestUserKey` does. */
  rotateUserKey (openid: string): { encryptKey: string, iv: string, version: number, expireTime: number }
  /** What `wx.pluginLogin()` gives a plugin's user: a single-use code (5 minutes) for this openpid. */
  pluginCode (openpid: string): string
  /** Records a payment of the user (getpaidunionid answers for it during 5 minutes). */
  pay (openid: string, order: { transactionId: string } | { mchId: string, outTradeNo: string }): void
  /** How many times the user's session_key was reset with resetusersessionkey. */
  resets (openid: string): number
}

export type { MockApiSecurityConfig }

/** The mock's view of one of its mini programs. */
export function mockApp (state: MockState, appId: string): MockApp {
  const appSecret = state.kind<string>(SECRET_APPS).get(appId) ?? ''
  if (!state.serves(appId)) throw new Error(`the mock serves no app ${appId}; addApp() it first`)
  const expires = (): number => Date.now() + state.codeTtl
  return {
    appId,
    appSecret,
    user: (openid, unionid) => state.user(appId, openid, unionid),
    login: (openid, options = {}) => {
      const user = state.user(appId, openid, options.unionid)
      if (options.rotate === true) user.sessionKey = state.newSessionKey()
      const code = state.newCode()
      state.codes.set(code, { appId, openid: user.openid, expires: expires(), used: false })
      return code
    },
    rotateSessionKey: (openid) => {
      const user = state.user(appId, openid)
      user.sessionKey = state.newSessionKey()
      return user.sessionKey
    },
    encrypt: (openid, data, watermark = {}) => {
      const user = state.user(appId, openid)
      const mark = { timestamp: watermark.timestamp ?? Math.floor(Date.now() / 1000), appid: watermark.appid ?? appId }
      const encrypted = encryptUserData(user.sessionKey, { ...data, watermark: mark })
      // What checkencryptedmsg knows: the hash of every encryptedData this app's users were given.
      state.encryptedHashes.set(createHash('sha256').update(encrypted.encryptedData).digest('hex'), { appId, created: mark.timestamp })
      return encrypted
    },
    signedRawData: (openid, info) => {
      const rawData = JSON.stringify(info)
      return { rawData, signature: signRawData(rawData, state.user(appId, openid).sessionKey) }
    },
    anonymousCode: (anonymousOpenid) => {
      const code = state.newCode()
      state.anonymousCodes.set(code, { appId, openid: anonymousOpenid, expires: expires(), used: false })
      return code
    },
    apiSecurity: () => {
      let security = state.secured.get(appId)
      if (security === undefined) {
        security = new MockApiSecurity(appId)
        state.secured.set(appId, security)
        state.secrets.add(security.config().aesKey)
      }
      return security
    },
    latestUserKey: (openid) => latest(userEncryptKeys(state, appId, state.user(appId, openid).openid)),
    rotateUserKey: (openid) => {
      const keys = userEncryptKeys(state, appId, state.user(appId, openid).openid)
      addEncryptKey(state, keys)
      return latest(keys)
    },
    pluginCode: (openpid) => {
      const code = state.newCode()
      state.pluginCodes.set(code, { appId, openid: openpid, expires: expires(), used: false })
      return code
    },
    pay: (openid, order) => {
      state.user(appId, openid)
      state.payments.push({ appId, openid, ...order, at: Date.now() })
    },
    resets: (openid) => state.resets.get(`${appId}\n${openid}`) ?? 0,
    phoneCode: (openid, phone = {}) => {
      state.user(appId, openid)
      const code = state.newCode(32)
      const full = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: 86, ...phone }
      state.phoneCodes.set(code, { appId, openid, expires: expires(), used: false, phone: full })
      return code
    }
  }
}

/** The last of a user's keys, as getLatestUserKey gives it (expireTime in seconds). */
function latest (keys: ReadonlyArray<{ encryptKey: string, iv: string, version: number, expires: number }>): { encryptKey: string, iv: string, version: number, expireTime: number } {
  const key = keys.at(-1) as (typeof keys)[number]
  return { encryptKey: key.encryptKey, iv: key.iv, version: key.version, expireTime: Math.floor(key.expires / 1000) }
}
