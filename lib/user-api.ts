import { UpstreamError } from './errors.js'
import { tokenCallErrors, type AccessTokens } from './access-token.js'
import type { Http } from './http.js'
import { singleFlight } from './single-flight.js'
import { callWechat, checkCode, loginStateSignature, type WeappPhone } from './wechat.js'

export interface UserApiOptions {
  appId: string
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http
  tokens: AccessTokens
}

export interface UserApi {
  /** The phone number behind a `<button open-type="getPhoneNumber">` code (single use, 5 minutes). */
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  /** Whether WeChat still considers this session_key the user's current one. */
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
}

/** checksession's "invalid signature": the session_key is not (or no longer) the user's. */
class SessionKeyInvalid extends Error {}

export function createUserApi ({ appId, apiBaseUrl, timeout, http, tokens }: UserApiOptions): UserApi {
  const json = { 'content-type': 'application/json' }

  async function phone (code: string, openid: string | undefined): Promise<WeappPhone> {
    const body = await tokens.use(async (token) => await callWechat(
      `${apiBaseUrl}/wxa/business/getuserphonenumber?access_token=${encodeURIComponent(token)}`,
      // With openid, WeChat checks that the code belongs to that user.
      { method: 'POST', headers: json, body: JSON.stringify(openid === undefined ? { code } : { code, openid }) },
      { timeout, secrets: [token, code], errors: tokenCallErrors, http }))
    const info = body.phone_info as Record<string, unknown> | null | undefined
    const watermark = info?.watermark as Record<string, unknown> | null | undefined
    const { phoneNumber, purePhoneNumber, countryCode } = info ?? {}
    if (typeof phoneNumber !== 'string' || phoneNumber === '' || typeof purePhoneNumber !== 'string' ||
        (typeof countryCode !== 'string' && typeof countryCode !== 'number') || watermark?.appid !== appId) {
      throw new UpstreamError('WeChat answered getuserphonenumber without a phone number for this mini program')
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
      return checkCode(code, 'getPhoneNumber(code) needs the code from the getPhoneNumber button as a string') ??
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
          return await callWechat(`${apiBaseUrl}/wxa/checksession?${query.toString()}`, { method: 'GET' },
            { timeout, secrets: [token], errors: (errcode) => errcode === 87009 ? new SessionKeyInvalid() : tokenCallErrors(errcode), http })
        })
        return true
      } catch (err) {
        if (err instanceof SessionKeyInvalid) return false
        throw err
      }
    }
  }
}
