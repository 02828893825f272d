import { createHash } from 'node:crypto'
import { encryptUserData, signRawData, type EncryptedUserData } from './data.js'
import type { MockPhone, MockState, MockUser } from './state.js'

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
}

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
      // The hash of every encryptedData this app's users were given, for the platform's check API.
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
    phoneCode: (openid, phone = {}) => {
      state.user(appId, openid)
      const code = state.newCode(32)
      const full = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: 86, ...phone }
      state.phoneCodes.set(code, { appId, openid, expires: expires(), used: false, phone: full })
      return code
    }
  }
}
