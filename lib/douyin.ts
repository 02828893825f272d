import { InvalidCodeError, UpstreamError } from './errors.js'
import { isSessionKey, type WechatIdentity } from './session.js'
import type { Http } from './http.js'
import { singleFlight } from './single-flight.js'
import { callWechat, checkCode } from './wechat.js'

export interface DouyinClientOptions {
  appId: string
  appSecret: string
  /** The Douyin API origin. */
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http
}

/** Douyin's `err_no` for what is not a usable code: a bad code (40018), a bad anonymous code (40019). */
const BAD_CODE = new Set([40018, 40019])
/** This server's credentials are wrong: bad parameters (40014), appid (40015), secret (40017). */
const MISCONFIGURED = new Set([40014, 40015, 40017])

/** The contract's error for a non-zero Douyin `err_no`. */
export function douyinErrorFor (errNo: number): Error {
  if (BAD_CODE.has(errNo)) return new InvalidCodeError('The login code is invalid, expired or already used; call tt.login() again and send the new code')
  if (errNo === -1) return new UpstreamError('Douyin is busy (err_no -1); retry in a moment')
  return MISCONFIGURED.has(errNo)
    ? new UpstreamError(`Douyin refused this server's credentials (err_no ${errNo}): the server is misconfigured; check its appId and appSecret`)
    : new UpstreamError(`Douyin answered err_no ${errNo}`)
}

/**
 * Douyin's `POST /api/apps/v2/jscode2session` (JSON `{ appid, secret, code, anonymous_code }`),
 * answered `{ err_no, err_tips, data: { session_key, openid, anonymous_openid, unionid } }`. With a
 * code: the user's openid and session_key (and unionid); with only an anonymous code: the
 * anonymous openid, no session_key, and the identity says `anonymous: true`. Codes are single-use:
 * never retried, identical logins in flight share one call.
 */
export function createDouyinClient ({ appId, appSecret, apiBaseUrl, timeout, http }: DouyinClientOptions): { login (code: string | undefined, anonymousCode?: string): Promise<WechatIdentity> } {
  const shared = singleFlight<WechatIdentity>()

  async function exchange (code: string | undefined, anonymousCode: string | undefined): Promise<WechatIdentity> {
    const secrets = [appSecret, ...[code, anonymousCode].filter((c): c is string => c !== undefined)]
    const body = await callWechat(`${apiBaseUrl}/api/apps/v2/jscode2session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appid: appId, secret: appSecret, code: code ?? '', anonymous_code: anonymousCode ?? '' })
    }, { timeout, secrets, service: 'Douyin', http })
    const errNo = body.err_no
    if (errNo !== 0) throw typeof errNo === 'number' ? douyinErrorFor(errNo) : new UpstreamError('Douyin answered jscode2session without an err_no')
    const data = (body.data ?? {}) as Record<string, unknown>
    const { session_key: sessionKey, openid, anonymous_openid: anonymousOpenid, unionid } = data
    if (code !== undefined) {
      if (typeof openid !== 'string' || openid === '' || !isSessionKey(sessionKey) || (unionid !== undefined && unionid !== '' && typeof unionid !== 'string')) {
        throw new UpstreamError('Douyin answered jscode2session without a usable openid and session_key')
      }
      const identity: WechatIdentity = { openid, sessionKey, platform: 'douyin' }
      if (typeof unionid === 'string' && unionid !== '') identity.unionid = unionid
      return identity
    }
    if (typeof anonymousOpenid !== 'string' || anonymousOpenid === '') {
      throw new UpstreamError('Douyin answered jscode2session without a usable anonymous_openid')
    }
    return { openid: anonymousOpenid, sessionKey: '', platform: 'douyin', anonymous: true }
  }

  return {
    login (code, anonymousCode) {
      // The login route's schema bounds both codes; code2Session's callers pass a code.
      return checkCode(code ?? anonymousCode, 'code2Session(code) needs the code from tt.login() as a string') ??
        shared(JSON.stringify([code, anonymousCode]), () => exchange(code, anonymousCode))
    }
  }
}
