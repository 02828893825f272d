import { createHash, createHmac } from 'node:crypto'
import { UpstreamError } from '../errors.js'
import { answerUpstream, callUpstream, checkAnswer, checkCode, jsonObject, type UpstreamCall } from '../upstream/call.js'
import { createApiSecurity, isSigned, type WeappApiSecurity } from './wechat-api-security.js'
import { errcodes, unusable, withCodes, type ErrorTable, type Errcodes, type Named, type UpstreamCode } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import type { Once } from '../once.js'
import { singleFlight } from '../upstream/single-flight.js'
import { AccessTokenRejected, createTokenCache, readToken, type AccessTokens } from '../upstream/tokens.js'
import { markStale, type SessionKeyApi, type WeappPaidQuery, type WeappPhone, type WeappRiskRankInput, type WeappUserEncryptKey } from './platform.js'
import { isSessionKey } from './users.js'

/**
 * WeChat's server APIs beyond the login: its errcodes, the access token of `cgi-bin/stable_token`,
 * `wxa/business/getuserphonenumber` and `wxa/checksession` (a mini program's own, or a hosted
 * one's with its authorizer token).
 */

export const WECHAT: Named = { title: 'WeChat', loginCall: 'wx.login()' }

/** WeChat's errcodes (platforms of its shape answer the same ones). */
const ERRCODES = {
  field: 'errcode',
  invalidCode: [40029, 40163],
  rateLimited: [45011],
  risky: [40226],
  busy: [-1],
  misconfigured: [40001, 40013, 40125, 40164, 41002, 41004, 61024]
} as const

/** The errcode table of a platform of WeChat's shape, its allow-list named after it. */
export const tableOf = (title: string): ErrorTable => ({ ...ERRCODES, check: `its appId, appSecret and ${title}'s IP allow-list` })

/** The contract's error for a non-zero WeChat errcode. */
export const wechatErrors: Errcodes = errcodes(WECHAT, tableOf(WECHAT.title))
export const errorFor = (errcode: number): Error => wechatErrors.error(errcode)

/** errcodes with which WeChat refuses the access token itself: invalid, not the latest, expired. */
export const TOKEN_REJECTED: ReadonlySet<UpstreamCode> = new Set([40001, 40014, 42001])

/** A mapping whose refused-token codes mean "fetch a new token". */
export const withTokenRefusal = (base: Errcodes, rejected: ReadonlySet<UpstreamCode>): Errcodes =>
  withCodes(base, (code) => rejected.has(code) ? new AccessTokenRejected(code) : undefined)

/** The errcode mapping for WeChat API calls made with an access token. */
export const tokenCallErrors: Errcodes = withTokenRefusal(wechatErrors, TOKEN_REJECTED)

interface Upstream {
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http | undefined
}

/**
 * A mini program's access token from `cgi-bin/stable_token` (normal mode: it does not invalidate
 * the token other instances hold).
 */
export function createStableTokens ({ appId, appSecret, apiBaseUrl, timeout, http }: Upstream & { appId: string, appSecret: string }): AccessTokens {
  return createTokenCache({
    refusedTwice: 'if another system force-refreshes this mini program\'s token, stop it',
    fetch: async () => readToken(await callUpstream(`${apiBaseUrl}/cgi-bin/stable_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credential', appid: appId, secret: appSecret, force_refresh: false })
    }, { timeout, secrets: [appSecret], errors: wechatErrors, http }), 'access_token', 'WeChat\'s stable_token')
  })
}
export const createAccessTokens = createStableTokens

/** The login-state signature WeChat's APIs take: hmac_sha256 keyed with the session_key string. */
export function loginStateSignature (sessionKey: string, data = ''): string {
  return createHmac('sha256', sessionKey).update(data).digest('hex')
}

export interface UserApiOptions extends Upstream {
  appId: string
  tokens: AccessTokens
  /** The app's API security: the calls that support it are sent encrypted and signed. */
  apiSecurity?: WeappApiSecurity | undefined
  /** Remembers the signed answers accepted (see lib/once.ts); default one in this process. */
  once?: Once | undefined
}

export interface UserApi extends SessionKeyApi {
  /** The phone number behind a `<button open-type="getPhoneNumber">` code (single use, 5 minutes). */
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  /** Whether WeChat still considers this session_key the user's current one. */
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
}

/** Names where a phone code comes from, for the message about one that is empty or too long. */
const PHONE_BUTTON: Named = { title: WECHAT.title, loginCall: 'the getPhoneNumber button' }

/** checksession's "invalid signature": the session_key is not (or no longer) the user's. */
class SessionKeyInvalid extends Error {}
/** checkencryptedmsg's errcode 1: no such data of this app in the last 3 days, i.e. not valid. */
class NoSuchData extends Error {}

/** errcodes of the session_key and user APIs, each with what to do. */
function userApiErrors (base: Errcodes): Errcodes {
  const { title } = base.named
  return withCodes(base, (code) => {
    switch (code) {
      case 40003: return new UpstreamError(`${title} does not know this openid in this mini program (errcode 40003); send the openid of one of its users`)
      case 89002: return new UpstreamError(`${title} has no unionid for this mini program's users (errcode 89002): bind the mini program to an Open Platform account`)
      case 89300: return new UpstreamError(`${title} found no payment of this user with that order (errcode 89300): getPaidUnionid works only in the 5 minutes after the user paid`)
      case 1007: return new UpstreamError(`${title} refused the plugin code (errcode 1007: no such openpid): send the code from wx.pluginLogin() in the plugin, not wx.login()'s, within 5 minutes and once`)
      case 1: return new NoSuchData()
      default:
        // The API security errors: what was sent was not what the console has (or the clock is off).
        if (typeof code === 'number' && code >= 40230 && code <= 40240) {
          return new UpstreamError(`${title} refused this server's API security (errcode ${code}): check apiSecurity against the console (its keys, their numbers, this server's clock)`)
        }
        return undefined
    }
  })
}

/** An unsigned answer where API security is on: only a refusal of the token gets through; everything else is a 502 quoting it. */
function unsignedAnswer (body: Record<string, unknown>, api: string, errors: Errcodes): Error {
  const code = body.errcode
  if (typeof code === 'number' && TOKEN_REJECTED.has(code)) return new AccessTokenRejected(code)
  if (typeof code === 'number' && code >= 40230 && code <= 40240) return errors.error(code)
  return new UpstreamError(`${errors.named.title}'s answer to ${api} failed API security's signature check (it is unsigned${typeof code === 'number' && code !== 0 ? `, errcode ${code}` : ''}); it was refused`)
}

const SIG = { sig_method: 'hmac_sha256' } as const

export function createUserApi ({ appId, apiBaseUrl, timeout, http, tokens, apiSecurity, once }: UserApiOptions): UserApi {
  const json = { 'content-type': 'application/json' }
  const security = apiSecurity === undefined ? undefined : createApiSecurity(appId, apiSecurity, WECHAT, Date.now, once)
  const errors = userApiErrors(tokenCallErrors)
  // Only on calls signed with a session_key does "invalid signature" mean "not the user's key".
  const keyErrors = withCodes(errors, (code) => code === 87009 ? new SessionKeyInvalid() : undefined)

  /**
   * One POST of an API that supports API security: its parameters sealed where it is configured
   * (and the answer opened), else sent as they are (`query` in the URL, `body` as JSON).
   */
  async function post (path: string, params: { query?: Record<string, string>, body?: Record<string, unknown> }, secrets: readonly string[], keyed = false): Promise<Record<string, unknown>> {
    const url = `${apiBaseUrl}${path}`
    const api = path.slice(path.lastIndexOf('/') + 1)
    return await tokens.use(async (token) => {
      const call: UpstreamCall = { timeout, secrets: [token, ...secrets], errors: keyed ? keyErrors : errors, http }
      const access = `access_token=${encodeURIComponent(token)}`
      if (security === undefined) {
        const query = new URLSearchParams(params.query).toString()
        return await callUpstream(`${url}?${access}${query === '' ? '' : `&${query}`}`,
          { method: 'POST', headers: json, body: JSON.stringify(params.body ?? {}) }, call)
      }
      const sealed = security.seal(url, { ...params.query, ...params.body })
      const answer = await answerUpstream(`${url}?${access}`, { method: 'POST', headers: { ...json, ...sealed.headers }, body: sealed.body }, call)
      if (!isSigned(answer.headers)) throw unsignedAnswer(jsonObject(answer.text, WECHAT), api, errors)
      return checkAnswer(await security.open(url, api, answer.headers, answer.text), call)
    })
  }

  /** A GET of an API without API security. */
  async function get (path: string, query: Record<string, string>, secrets: readonly string[], keyed = false): Promise<Record<string, unknown>> {
    return await tokens.use(async (token) => {
      const search = new URLSearchParams({ access_token: token, ...query })
      return await callUpstream(`${apiBaseUrl}${path}?${search.toString()}`, { method: 'GET' }, { timeout, secrets: [token, ...secrets], errors: keyed ? keyErrors : errors, http })
    })
  }

  async function phone (code: string, openid: string | undefined): Promise<WeappPhone> {
    // With openid, WeChat checks that the code belongs to that user.
    const body = await post('/wxa/business/getuserphonenumber', { body: openid === undefined ? { code } : { code, openid } }, [code])
    return phoneOf(body, appId)
  }
  // A code is single-use: identical requests in flight (same code, same user) share one call.
  const shared = singleFlight<WeappPhone>()
  const sharedPlugin = singleFlight<string>()

  return {
    getPhoneNumber (code, openid) {
      if (openid !== undefined && (typeof openid !== 'string' || openid === '')) {
        return Promise.reject(new TypeError('getPhoneNumber(code, openid?): openid must be a non-empty string'))
      }
      return checkCode(code, PHONE_BUTTON, 'getPhoneNumber(code) needs the code from the getPhoneNumber button as a string') ??
        shared(JSON.stringify([code, openid]), async () => await phone(code, openid))
    },

    async checkSessionKey (openid, sessionKey) {
      userKeyArgs('checkSessionKey', openid, sessionKey)
      try {
        await get('/wxa/checksession', { signature: loginStateSignature(sessionKey), openid, ...SIG }, [], true)
        return true
      } catch (err) {
        if (err instanceof SessionKeyInvalid) return false
        throw err
      }
    },

    async resetUserSessionKey (openid, sessionKey) {
      userKeyArgs('resetUserSessionKey', openid, sessionKey)
      const body = await get('/wxa/resetusersessionkey', { openid, signature: loginStateSignature(sessionKey), ...SIG }, [], true).catch(staleKey)
      const fresh = body.session_key
      if (body.openid !== openid || !isSessionKey(fresh)) throw unusable(WECHAT, 'resetusersessionkey', 'a new session_key for this user')
      return { openid, sessionKey: fresh }
    },

    async getUserEncryptKey (openid, sessionKey) {
      userKeyArgs('getUserEncryptKey', openid, sessionKey)
      const body = await post('/wxa/business/getuserencryptkey', { query: { openid, signature: loginStateSignature(sessionKey), ...SIG } }, [], true).catch(staleKey)
      const list = body.key_info_list
      const now = Date.now()
      const keys = Array.isArray(list) ? list.map((item) => encryptKeyOf(item, now)) : []
      if (keys.length === 0 || keys.includes(undefined)) throw unusable(WECHAT, 'getuserencryptkey', 'a usable key_info_list')
      return keys as WeappUserEncryptKey[]
    },

    getPluginOpenPId (code) {
      return checkCode(code, PLUGIN_LOGIN, 'getPluginOpenPId(code) needs the code from wx.pluginLogin() as a string') ??
        sharedPlugin(code, async () => {
          const body = await post('/wxa/getpluginopenpid', { body: { code } }, [code])
          if (typeof body.openpid !== 'string' || body.openpid === '') throw unusable(WECHAT, 'getpluginopenpid', 'an openpid')
          return body.openpid
        })
    },

    async getPaidUnionid (query) {
      const body = await get('/wxa/getpaidunionid', paidUnionidSearch(query), [])
      if (typeof body.unionid !== 'string' || body.unionid === '') throw unusable(WECHAT, 'getpaidunionid', 'a unionid')
      return body.unionid
    },

    async getUserRiskRank (input) {
      const body = await post('/wxa/getuserriskrank', { body: riskRankBody(appId, input) }, [])
      const { risk_rank: riskRank, unoin_id: requestId } = body
      if (!Number.isInteger(riskRank) || (requestId !== undefined && typeof requestId !== 'number')) throw unusable(WECHAT, 'getuserriskrank', 'a risk_rank')
      return requestId === undefined ? { riskRank: riskRank as number } : { riskRank: riskRank as number, requestId }
    },

    async checkEncryptedData (encryptedData) {
      if (typeof encryptedData !== 'string' || encryptedData === '') throw new TypeError('checkEncryptedData(encryptedData) needs the encryptedData string the mini program got')
      const hash = createHash('sha256').update(encryptedData).digest('hex')
      let body: Record<string, unknown>
      try {
        body = await post('/wxa/business/checkencryptedmsg', { body: { encrypted_msg_hash: hash } }, [])
      } catch (err) {
        if (err instanceof NoSuchData) return { valid: false }
        throw err
      }
      // WeChat spells it "vaild"; the correct spelling is read too, should it ever be fixed.
      const valid = body.vaild ?? body.valid
      if (typeof valid !== 'boolean') throw unusable(WECHAT, 'checkencryptedmsg', 'a verdict')
      return typeof body.create_time === 'number' ? { valid, createdAt: body.create_time * 1000 } : { valid }
    }
  }
}

/** Names where a plugin code comes from. */
const PLUGIN_LOGIN: Named = { title: WECHAT.title, loginCall: 'wx.pluginLogin()' }

function userKeyArgs (name: string, openid: unknown, sessionKey: unknown): void {
  if (typeof openid !== 'string' || openid === '' || typeof sessionKey !== 'string' || sessionKey === '') {
    throw new TypeError(`${name}(openid, sessionKey) needs two non-empty strings`)
  }
}

/** 87009 on a call signed with the session_key: that key is not (or no longer) the user's. */
function staleKey (err: unknown): never {
  if (err instanceof SessionKeyInvalid) throw staleSessionKeyError()
  throw err
}

/** One of getuserencryptkey's keys, or undefined when it is not usable. */
function encryptKeyOf (item: unknown, now: number): WeappUserEncryptKey | undefined {
  const { encrypt_key: encryptKey, iv, version, expire_in: expireIn, create_time: createTime } = (item ?? {}) as Record<string, unknown>
  if (!isSessionKey(encryptKey) || typeof iv !== 'string' || iv.length !== 16 || !Number.isSafeInteger(version) ||
      typeof expireIn !== 'number' || !(expireIn >= 0) || typeof createTime !== 'number') return undefined
  return { encryptKey, iv, version: version as number, expiresAt: now + expireIn * 1000, createdAt: createTime * 1000 }
}

/** The phone number in getuserphonenumber's answer, which must name this app (its watermark). */
function phoneOf (body: Record<string, unknown>, appId: string): WeappPhone {
  const info = body.phone_info as Record<string, unknown> | null | undefined
  const watermark = info?.watermark as Record<string, unknown> | null | undefined
  const { phoneNumber, purePhoneNumber, countryCode } = info ?? {}
  if (typeof phoneNumber !== 'string' || phoneNumber === '' || typeof purePhoneNumber !== 'string' ||
      (typeof countryCode !== 'string' && typeof countryCode !== 'number') || watermark?.appid !== appId) {
    throw unusable(WECHAT, 'getuserphonenumber', 'a phone number for this mini program')
  }
  // WeChat documents countryCode as a string and sends a number in its own example: a string here.
  return { phoneNumber, purePhoneNumber, countryCode: String(countryCode) }
}

/** getpaidunionid's query from the building block's, or a TypeError that says what to give. */
function paidUnionidSearch (query: WeappPaidQuery): Record<string, string> {
  const q = query as Partial<Record<'openid' | 'transactionId' | 'mchId' | 'outTradeNo', unknown>> | null
  const ok = (v: unknown): v is string => typeof v === 'string' && v !== '' && v.length <= 128
  const byTransaction = q !== null && typeof q === 'object' && ok(q.transactionId) && q.mchId === undefined && q.outTradeNo === undefined
  const byOrder = q !== null && typeof q === 'object' && q.transactionId === undefined && ok(q.mchId) && ok(q.outTradeNo)
  if (q === null || typeof q !== 'object' || !ok(q.openid) || (!byTransaction && !byOrder)) {
    throw new TypeError('getPaidUnionid(query) needs { openid, transactionId } or { openid, mchId, outTradeNo } (non-empty strings)')
  }
  return byTransaction
    ? { openid: q.openid as string, transaction_id: q.transactionId as string }
    : { openid: q.openid as string, mch_id: q.mchId as string, out_trade_no: q.outTradeNo as string }
}

/** getuserriskrank's body from the building block's input, or a TypeError that says what to give. */
function riskRankBody (appId: string, input: WeappRiskRankInput): Record<string, unknown> {
  const given: Readonly<Record<string, unknown>> = { ...(input ?? {}) }
  const text = (v: unknown): boolean => v === undefined || (typeof v === 'string' && v.length <= 256)
  if (typeof given.openid !== 'string' || given.openid === '' || (given.scene !== 0 && given.scene !== 1) ||
      typeof given.clientIp !== 'string' || given.clientIp === '' || !text(given.mobileNo) || !text(given.emailAddress) ||
      !text(given.extendedInfo) || (given.isTest !== undefined && typeof given.isTest !== 'boolean')) {
    throw new TypeError('getUserRiskRank(input) needs { openid, scene: 0 (sign-up) | 1 (marketing), clientIp, mobileNo?, emailAddress?, extendedInfo?, isTest? }')
  }
  const body: Record<string, unknown> = { appid: appId, openid: given.openid, scene: given.scene, client_ip: given.clientIp }
  if (given.mobileNo !== undefined) body.mobile_no = given.mobileNo
  if (given.emailAddress !== undefined) body.email_address = given.emailAddress
  if (given.extendedInfo !== undefined) body.extended_info = given.extendedInfo
  if (given.isTest !== undefined) body.is_test = given.isTest
  return body
}

/** resetusersessionkey or getuserencryptkey with a session_key that is no longer the user's (87009). */
function staleSessionKeyError (): Error {
  return markStale(new UpstreamError(`${WECHAT.title} says this session_key is not the user's current one (errcode 87009: it was reset, or the user logged in again since); use the session_key of the user's latest login`))
}
