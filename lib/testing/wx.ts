import { randomBytes } from 'node:crypto'
import type { WxLike } from '../client.js'
import type { MockApp } from './apps.js'
import type { EncryptedUserData } from './data.js'

/** A `wx` for Node, backed by the mock: see `createWx`. */
export interface MockWx extends WxLike {
  /** The platform's own session lapses: `checkSession` fails, and the next `login` gets a new session_key. */
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

/** The `wx.qy` runtime of apps whose users are members of a company: what it says where it does not apply. */
export interface MemberRuntime {
  /** `wx.login()`'s errMsg */
  login: string
  /** `wx.checkSession()`'s errMsg */
  checkSession: string
  /** Why there are no phone codes */
  phone: string
  /** What `wx.qy` says outside its runtime */
  outside: string
}

/** What `createWx` runs against: the mock (its default app), one of its apps, or an app whose users are members of a company. */
export type WxTarget = Pick<MockApp, 'appId' | 'login' | 'encrypt'> & {
  phoneCode?: MockApp['phoneCode']
  /** Where the runtime has a user crypto module: the user's latest encrypt key. */
  latestUserKey?: (openid: string) => { encryptKey: string, iv: string, version: number, expireTime: number }
  corpId?: string
}

/**
 * A `wx` for one user of the mock, behaving like the platform's runtime: `login` gives a fresh
 * single-use code, and keeps the session_key while the platform's session is valid (a new one after
 * `lapse()`); `checkSession` fails before the first login and after a lapse; `request` is a real
 * HTTP request (JSON in and out); callbacks run asynchronously; `getAccountInfoSync` names the mock
 * app's AppID. For testing mini-program code in Node (pass `mock.app(appId)` for another app of the
 * mock). For an app whose users are members of a company (`corpId`; `openid` the member's UserID)
 * the code comes from `wx.qy.login()` and `wx.qy.checkSession()` checks its session, while
 * `wx.login()` and `wx.checkSession()` fail, as their codes and session are no use to such an app.
 */
export function makeWx (mock: WxTarget, openid: string, runtime: MemberRuntime, member: boolean): MockWx {
  const storage = new Map<string, unknown>()
  let valid = false // checkSession succeeds
  let lapsed = false // the next login gets a new session_key
  let logins = 0
  let loginFailure: string | undefined
  let requestFailure: string | undefined
  const later = <T>(fn: () => T | Promise<T>, success?: (value: T) => void, fail?: (err: { errMsg: string }) => void): void => {
    Promise.resolve().then(fn).then((value) => { success?.(value) }, (err: unknown) => { fail?.({ errMsg: String((err as Error).message) }) })
  }
  /** What wx.login (or, for a member, wx.qy.login) does: a fresh code, or the failure asked for. */
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
      if (member) {
        later(() => { throw new Error(runtime.login) }, success, fail)
        return
      }
      code(success, fail)
    },

    qy: {
      login: ({ success, fail }) => {
        logins++
        code(success, fail, member ? undefined : `qy.login:fail ${runtime.outside}`)
      },
      checkSession: ({ success, fail }) => {
        later(() => {
          if (!member) throw new Error(`qy.checkSession:fail ${runtime.outside}`)
          if (!valid) throw new Error('qy.checkSession:fail session time out')
          return { errMsg: 'qy.checkSession:ok' }
        }, success, fail)
      }
    },

    checkSession ({ success, fail }) {
      later(() => {
        // A member's codes (and session) are the company's runtime's: the platform's own is never established.
        if (member) throw new Error(runtime.checkSession)
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
      if (mock.phoneCode === undefined) throw new Error(runtime.phone)
      return { detail: { code: mock.phoneCode(openid), errMsg: 'getPhoneNumber:ok' } }
    },

    getUserCryptoManager: mock.latestUserKey === undefined
      ? undefined
      : () => ({
          getLatestUserKey: ({ success, fail }) => { later(() => (mock.latestUserKey as NonNullable<WxTarget['latestUserKey']>)(openid), success, fail) },
          getRandomValues: ({ length, success, fail }) => { later(() => ({ randomValues: Uint8Array.from(randomBytes(length)).buffer }), success, fail) }
        }),

    getAccountInfoSync () { return { miniProgram: { appId: mock.appId, envVersion: 'develop', version: '' } } },

    getStorageSync (key) { return storage.get(key) ?? '' },
    setStorageSync (key, value) { storage.set(key, value) },
    removeStorageSync (key) { storage.delete(key) }
  }
}
