import { createHmac, randomInt } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { parseJson } from './data.js'
import { sendErrcode, sendText, type Endpoint, type MockCall } from './server.js'
import { MockApiSecurity, type MockApiSecurityConfig } from './wechat-api-security.js'
import type { MockSecurityFault } from './server.js'
import { SECRET_APPS } from './apps.js'
import type { MockEncryptKey, MockState, MockUser } from './state.js'

/**
 * WeChat's endpoints (platforms of the same shape are served by the same ones):
 * errors as HTTP 200 with an `errcode` and an errmsg with a request id, success as JSON labelled
 * `text/plain`.
 */

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
  45011: 'api minute-quota reach limit  mustslower  retry next minute',
  1: 'data not exit',
  1007: '',
  89002: 'open not bind',
  89300: 'invalid trade',
  40231: 'API_Missing_Wechatmp_Timestamp',
  40232: 'API_Missing_Wechatmp_Signature',
  40233: 'API_Missing_Wechatmp_Appid',
  40234: 'API_Invalid_Signature',
  40235: 'API_Invalid_Encrypt',
  40236: 'API_Invalid_Wechatmp_Appid',
  40240: 'API_Expired_Wechatmp_Timestamp'
} as const satisfies Record<number, string>
export type KnownErrcode = keyof typeof ERRMSG

/** WeChat's error shape for any errcode (an `errcode` fault's answer). */
export function errcodeAnswer (res: ServerResponse, errcode: number, errmsg?: string): void {
  sendErrcode(res, errcode, errmsg ?? (ERRMSG as Record<number, string>)[errcode] ?? 'error')
}

export const error = (res: ServerResponse, errcode: KnownErrcode): void => { errcodeAnswer(res, errcode) }

/** A token's owner, or the errcode for it: 40001 unknown or revoked, 42001 expired. */
export function tokenOwner (state: MockState, token: string | undefined): { error: KnownErrcode } | { appId: string } {
  const owner = state.tokenOwner(token)
  return 'error' in owner ? { error: owner.error === 'expired' ? 42001 : 40001 } : owner
}

/** A login answer of WeChat's shape for a redeemed code. */
export function loginAnswer (res: ServerResponse, user: { openid: string, unionid?: string, sessionKey: string }): void {
  const answer: Record<string, string> = { session_key: user.sessionKey, openid: user.openid }
  if (user.unionid !== undefined) answer.unionid = user.unionid
  sendText(res, 200, answer)
}

function jscode2session (state: MockState, { query }: MockCall, res: ServerResponse): void {
  const secret = query.appid === undefined ? undefined : state.kind<string>(SECRET_APPS).get(query.appid)
  if (secret === undefined) return error(res, 40013)
  if (query.secret !== secret) return error(res, 40125)
  if (query.grant_type !== 'authorization_code') return error(res, 40002)
  if (query.js_code === undefined || query.js_code === '') return error(res, 41008)
  // A code is only good for the app whose mini program got it.
  const user = state.redeem(query.js_code, query.appid as string)
  if (typeof user === 'string') return error(res, user === 'used' ? 40163 : 40029)
  loginAnswer(res, user)
}

function stableToken (state: MockState, { body }: MockCall, res: ServerResponse): void {
  const request = parseJson(body)
  if (request === undefined) return error(res, 47001)
  if (request.grant_type !== 'client_credential') return error(res, 40002)
  const appId = typeof request.appid === 'string' ? request.appid : ''
  const secret = state.kind<string>(SECRET_APPS).get(appId)
  if (secret === undefined) return error(res, 40013)
  if (request.secret !== secret) return error(res, 40125)
  const { token, expiresIn } = state.issueToken(appId, request.force_refresh === true)
  sendText(res, 200, { access_token: token, expires_in: expiresIn })
}

/** What a WeChat API answers for its parameters: its fields, or an errcode. */
type Answer = KnownErrcode | Record<string, unknown>

/**
 * An API of WeChat's that takes an access token. For an app with API security (`mock.app(id).apiSecurity()`),
 * a POST to an API that supports it must be sealed and signed, and is answered sealed and signed.
 */
function wxa (method: 'GET' | 'POST', path: string, secured: boolean, answer: (state: MockState, appId: string, params: Record<string, unknown>) => Answer): Endpoint {
  return {
    method,
    path,
    handle (state: MockState, call: MockCall, res: ServerResponse, fault?: MockSecurityFault) {
      const token = tokenOwner(state, call.query.access_token)
      if ('error' in token) return error(res, token.error)
      const security = secured ? state.secured.get(token.appId) : undefined
      const url = `${state.origin}${path}`
      let params: Record<string, unknown>
      if (security !== undefined) {
        const opened = security.open(url, call.headers, call.body)
        if (typeof opened === 'number') return errcodeAnswer(res, opened)
        params = opened
      } else {
        const { access_token: _token, ...query } = call.query
        const body = call.body === '' ? {} : parseJson(call.body)
        if (body === undefined) return error(res, 47001)
        params = { ...query, ...body }
      }
      const result = answer(state, token.appId, params)
      if (security === undefined) return typeof result === 'number' ? error(res, result) : sendText(res, 200, { errcode: 0, errmsg: 'ok', ...result })
      const fields = typeof result === 'number' ? { errcode: result, errmsg: ERRMSG[result] } : { errcode: 0, errmsg: 'ok', ...result }
      const sealed = security.seal(url, fields, fault)
      res.writeHead(200, { ...sealed.headers, 'content-type': 'application/json' })
      res.end(sealed.body)
    }
  }
}

/** What `map` holds under a parameter, when the parameter is a string at all. */
const lookup = <T>(map: Map<string, T>, value: unknown): T | undefined => typeof value === 'string' ? map.get(value) : undefined

/** The user an openid parameter names in this app. */
const userOf = (state: MockState, appId: string, openid: unknown): MockUser | undefined =>
  typeof openid === 'string' ? state.users.get(`${appId}\n${openid}`) : undefined

const signedWith = (sessionKey: string, signature: unknown): boolean =>
  signature === createHmac('sha256', sessionKey).update('').digest('hex')

/** The user a login-state signature names, or the errcode: 40097 bad arguments, 40003 no such user, 87009 not their key. */
function signedUser (state: MockState, appId: string, params: Record<string, unknown>): MockUser | KnownErrcode {
  if (params.sig_method !== 'hmac_sha256' || typeof params.signature !== 'string') return 40097
  const user = userOf(state, appId, params.openid)
  if (user === undefined) return 40003
  return signedWith(user.sessionKey, params.signature) ? user : 87009
}

function phoneNumber (state: MockState, appId: string, request: Record<string, unknown>): Answer {
  const issued = lookup(state.phoneCodes, request.code)
  // An unknown, expired or used code, one of another app than the token's, or of another user
  // than the openid sent: 40029.
  if (issued === undefined || issued.expires < Date.now() || issued.used || issued.appId !== appId ||
      (request.openid !== undefined && request.openid !== issued.openid)) {
    return 40029
  }
  issued.used = true
  return { phone_info: { ...issued.phone, watermark: { timestamp: Math.floor(Date.now() / 1000), appid: issued.appId } } }
}

function resetSessionKey (state: MockState, appId: string, params: Record<string, unknown>): Answer {
  const user = signedUser(state, appId, params)
  if (typeof user === 'number') return user
  const key = `${appId}\n${user.openid}`
  state.resets.set(key, (state.resets.get(key) ?? 0) + 1)
  // The old key stops working at once.
  user.sessionKey = state.newSessionKey()
  return { openid: user.openid, session_key: user.sessionKey }
}

function encryptKeys (state: MockState, appId: string, params: Record<string, unknown>): Answer {
  const user = signedUser(state, appId, params)
  if (typeof user === 'number') return user
  const now = Date.now()
  const keys = userEncryptKeys(state, appId, user.openid).slice(-3).reverse()
  return {
    key_info_list: keys.map((k) => ({ encrypt_key: k.encryptKey, version: k.version, expire_in: Math.max(0, Math.floor((k.expires - now) / 1000)), iv: k.iv, create_time: Math.floor(k.created / 1000) }))
  }
}

/** A user's encrypt keys, oldest first (one made on first use). */
export function userEncryptKeys (state: MockState, appId: string, openid: string): MockEncryptKey[] {
  const id = `${appId}\n${openid}`
  let keys = state.encryptKeys.get(id)
  if (keys === undefined) {
    keys = []
    state.encryptKeys.set(id, keys)
    addEncryptKey(state, keys)
  }
  return keys
}

/** A new key (valid an hour) for the user, its version the next one; the others live out their hour. */
export function addEncryptKey (state: MockState, keys: MockEncryptKey[]): MockEncryptKey {
  const now = Date.now()
  const key = { encryptKey: state.newSessionKey(), iv: state.newCode(8), version: (keys.at(-1)?.version ?? 0) + 1, expires: now + 3600_000, created: now }
  keys.push(key)
  return key
}

function pluginOpenPId (state: MockState, appId: string, params: Record<string, unknown>): Answer {
  const issued = lookup(state.pluginCodes, params.code)
  if (issued === undefined || issued.used || issued.expires < Date.now() || issued.appId !== appId) return 1007
  issued.used = true
  return { openpid: issued.openid }
}

function paidUnionid (state: MockState, appId: string, params: Record<string, unknown>): Answer {
  const user = userOf(state, appId, params.openid)
  if (user === undefined) return 40003
  if (user.unionid === undefined) return 89002
  // Only in the 5 minutes after the payment, by its transaction id or by the merchant's order.
  const paid = state.payments.find((p) => p.appId === appId && p.openid === user.openid && Date.now() - p.at <= 5 * 60_000 &&
    (params.transaction_id !== undefined ? p.transactionId === params.transaction_id : p.mchId !== undefined && p.mchId === params.mch_id && p.outTradeNo === params.out_trade_no))
  return paid === undefined ? 89300 : { unionid: user.unionid }
}

function riskRank (state: MockState, appId: string, params: Record<string, unknown>): Answer {
  if (params.appid !== appId || (params.scene !== 0 && params.scene !== 1) || typeof params.client_ip !== 'string') return 40097
  const user = userOf(state, appId, params.openid)
  if (user === undefined) return 40003
  return { risk_rank: user.riskRank ?? 0, unoin_id: randomInt(1, 2 ** 32) }
}

function checkEncrypted (state: MockState, appId: string, params: Record<string, unknown>): Answer {
  const issued = lookup(state.encryptedHashes, params.encrypted_msg_hash)
  // Unknown, older than 3 days, or another app's: errcode 1 ("data not exit").
  if (issued === undefined || issued.appId !== appId || Date.now() / 1000 - issued.created > 3 * 86400) return 1
  return { vaild: true, create_time: issued.created }
}

export const wechatEndpoints: readonly Endpoint[] = [
  { method: 'GET', path: '/sns/jscode2session', handle: jscode2session },
  { method: 'POST', path: '/cgi-bin/stable_token', handle: stableToken },
  wxa('POST', '/wxa/business/getuserphonenumber', true, phoneNumber),
  wxa('GET', '/wxa/checksession', false, (state, appId, params) => {
    const user = signedUser(state, appId, params)
    return typeof user === 'number' ? user : {}
  }),
  wxa('GET', '/wxa/resetusersessionkey', false, resetSessionKey),
  wxa('POST', '/wxa/business/getuserencryptkey', true, encryptKeys),
  wxa('POST', '/wxa/getpluginopenpid', true, pluginOpenPId),
  wxa('GET', '/wxa/getpaidunionid', false, paidUnionid),
  wxa('POST', '/wxa/getuserriskrank', true, riskRank),
  wxa('POST', '/wxa/business/checkencryptedmsg', true, checkEncrypted)
]

/** What `getLatestUserKey()` gives: the latest key (expireTime in seconds). */
export interface MockLatestUserKey { encryptKey: string, iv: string, version: number, expireTime: number }

/** A mock app's WeChat user APIs: what the mini program and WeChat Pay give for them. */
export interface MockUserApis {
  /**
   * Turns WeChat's API security on for this app (made once; later calls give the same): the APIs
   * that support it then take only sealed, signed requests. Pass `config()` as the app's `apiSecurity`;
   * `rollover()` starts a certificate change. Faults spoil an answer: `mock.fail({ security: 'stale' })`.
   */
  apiSecurity (): MockApiSecurity
  /** What `wx.getUserCryptoManager().getLatestUserKey()` gives this user: the latest encrypt key. */
  latestUserKey (openid: string): MockLatestUserKey
  /** Gives the user a new encrypt key (the next version) and returns it as `latestUserKey` does. */
  rotateUserKey (openid: string): MockLatestUserKey
  /** What `wx.pluginLogin()` gives a plugin's user: a single-use code (5 minutes) for this openpid. */
  pluginCode (openpid: string): string
  /** Records a payment of the user (getpaidunionid answers for it during 5 minutes). */
  pay (openid: string, order: { transactionId: string } | { mchId: string, outTradeNo: string }): void
  /** How many times the user's session_key was reset with resetusersessionkey. */
  resets (openid: string): number
}

export type { MockApiSecurityConfig }

/** The user APIs of one of the mock's mini programs. */
export function userApis (state: MockState, appId: string): MockUserApis {
  const latest = (keys: readonly MockEncryptKey[]): MockLatestUserKey => {
    const key = keys.at(-1) as MockEncryptKey
    return { encryptKey: key.encryptKey, iv: key.iv, version: key.version, expireTime: Math.floor(key.expires / 1000) }
  }
  return {
    apiSecurity: () => {
      let security = state.secured.get(appId) as MockApiSecurity | undefined
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
      state.pluginCodes.set(code, { appId, openid: openpid, expires: Date.now() + state.codeTtl, used: false })
      return code
    },
    pay: (openid, order) => {
      state.user(appId, openid)
      state.payments.push({ appId, openid, ...order, at: Date.now() })
    },
    resets: (openid) => state.resets.get(`${appId}\n${openid}`) ?? 0
  }
}
