import { createHmac } from 'node:crypto'
import { callUpstream, checkCode } from '../upstream/call.js'
import { errcodes, unusable, withCodes, type ErrorTable, type Errcodes, type Named, type UpstreamCode } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { singleFlight } from '../upstream/single-flight.js'
import { AccessTokenRejected, createTokenCache, readToken, type AccessTokens } from '../upstream/tokens.js'
import type { WeappPhone } from './platform.js'

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
}

export interface UserApi {
  /** The phone number behind a `<button open-type="getPhoneNumber">` code (single use, 5 minutes). */
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  /** Whether WeChat still considers this session_key the user's current one. */
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
}

/** Names where a phone code comes from, for the message about one that is empty or too long. */
const PHONE_BUTTON: Named = { title: WECHAT.title, loginCall: 'the getPhoneNumber button' }

/** checksession's "invalid signature": the session_key is not (or no longer) the user's. */
class SessionKeyInvalid extends Error {}
const checkSessionErrors = withCodes(tokenCallErrors, (code) => code === 87009 ? new SessionKeyInvalid() : undefined)

export function createUserApi ({ appId, apiBaseUrl, timeout, http, tokens }: UserApiOptions): UserApi {
  const json = { 'content-type': 'application/json' }

  async function phone (code: string, openid: string | undefined): Promise<WeappPhone> {
    const body = await tokens.use(async (token) => await callUpstream(
      `${apiBaseUrl}/wxa/business/getuserphonenumber?access_token=${encodeURIComponent(token)}`,
      // With openid, WeChat checks that the code belongs to that user.
      { method: 'POST', headers: json, body: JSON.stringify(openid === undefined ? { code } : { code, openid }) },
      { timeout, secrets: [token, code], errors: tokenCallErrors, http }))
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
  // A code is single-use: identical requests in flight (same code, same user) share one call.
  const shared = singleFlight<WeappPhone>()

  return {
    getPhoneNumber (code, openid) {
      if (openid !== undefined && (typeof openid !== 'string' || openid === '')) {
        return Promise.reject(new TypeError('getPhoneNumber(code, openid?): openid must be a non-empty string'))
      }
      return checkCode(code, PHONE_BUTTON, 'getPhoneNumber(code) needs the code from the getPhoneNumber button as a string') ??
        shared(JSON.stringify([code, openid]), async () => await phone(code, openid))
    },

    async checkSessionKey (openid, sessionKey) {
      if (typeof openid !== 'string' || openid === '' || typeof sessionKey !== 'string' || sessionKey === '') {
        throw new TypeError('checkSessionKey(openid, sessionKey) needs two non-empty strings')
      }
      const signature = loginStateSignature(sessionKey)
      try {
        await tokens.use(async (token) => {
          const query = new URLSearchParams({ access_token: token, signature, openid, sig_method: 'hmac_sha256' })
          return await callUpstream(`${apiBaseUrl}/wxa/checksession?${query.toString()}`, { method: 'GET' },
            { timeout, secrets: [token], errors: checkSessionErrors, http })
        })
        return true
      } catch (err) {
        if (err instanceof SessionKeyInvalid) return false
        throw err
      }
    }
  }
}
