import { createTokenCache, readToken, tokenErrors, type AccessTokens } from './access-token.js'
import { InvalidCodeError, RateLimitedError, UpstreamError } from './errors.js'
import { isSessionKey, type WecomIdentity } from './session.js'
import type { Http } from './http.js'
import { callWechat, codeExchange } from './wechat.js'

/** A WeCom app's credentials: the company and the secret of the WeCom app the mini program is linked to. */
export interface WecomCredentials {
  corpId: string
  corpSecret: string
}

interface Upstream {
  /** The WeCom API origin. */
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http
}

const SERVICE = 'WeCom'

/** errcodes with which WeCom refuses the access token itself: invalid, expired. */
const WECOM_TOKEN_REJECTED: ReadonlySet<number> = new Set([40014, 42001])

/** errcodes that mean this server's WeCom credentials or network are wrong, not the user's request. */
const MISCONFIGURED = new Set([40001, 40013, 41002, 41004, 48002, 60020])

/** The contract's error for a non-zero WeCom errcode. */
export function wecomErrorFor (errcode: number): Error {
  switch (errcode) {
    case 40029:
      return new InvalidCodeError('The login code is invalid, expired or already used; call wx.qy.login() again and send the new code')
    case 45009:
    case 45033:
      return new RateLimitedError(`WeCom is rate limiting this app (errcode ${errcode}); wait a moment, then call wx.qy.login() again and retry`)
    case -1:
      return new UpstreamError('WeCom is busy (errcode -1); retry in a moment')
    default:
      return MISCONFIGURED.has(errcode)
        ? new UpstreamError(`WeCom refused this server's credentials (errcode ${errcode}): the server is misconfigured; check the app's corpId, corpSecret (the secret of the WeCom app the mini program is linked to) and WeCom's IP allow-list`)
        : new UpstreamError(`WeCom answered errcode ${errcode}`)
  }
}

/** A WeCom app's access token from `cgi-bin/gettoken`, cached, refetched once when refused. */
export function createWecomTokens ({ corpId, corpSecret }: WecomCredentials, { apiBaseUrl, timeout, http }: Upstream): AccessTokens {
  return createTokenCache({
    refusedTwice: 'check that nothing else invalidates this WeCom app\'s tokens',
    fetch: async () => {
      const query = new URLSearchParams({ corpid: corpId, corpsecret: corpSecret })
      const body = await callWechat(`${apiBaseUrl}/cgi-bin/gettoken?${query.toString()}`, { method: 'GET' },
        { timeout, secrets: [corpSecret], errors: wecomErrorFor, service: SERVICE, http })
      return readToken(body, 'access_token', 'WeCom\'s gettoken')
    }
  })
}

/**
 * WeCom's `cgi-bin/miniprogram/jscode2session`, with the linked WeCom app's token: a code of
 * `wx.qy.login()` for `{ corpId, userId, sessionKey }`. Never retried with the same token (a code is
 * single-use); only a refused token (40014, 42001, which WeCom answers before it looks at the code)
 * is fetched anew and the call made once more.
 */
export function createWecomClient (tokens: AccessTokens, { apiBaseUrl, timeout, http }: Upstream): { code2Session (code: string): Promise<WecomIdentity> } {
  const errors = tokenErrors(WECOM_TOKEN_REJECTED, wecomErrorFor)
  return {
    code2Session: codeExchange(async (code) => {
      const body = await tokens.use(async (token) => {
        const query = new URLSearchParams({ access_token: token, js_code: code, grant_type: 'authorization_code' })
        return await callWechat(`${apiBaseUrl}/cgi-bin/miniprogram/jscode2session?${query.toString()}`, { method: 'GET' },
          { timeout, secrets: [token, code], errors, service: SERVICE, http })
      })
      const { corpid: corpId, userid: userId, session_key: sessionKey } = body
      if (typeof corpId !== 'string' || corpId === '' || typeof userId !== 'string' || userId === '' || !isSessionKey(sessionKey)) {
        throw new UpstreamError('WeCom answered jscode2session without a usable corpid, userid and session_key')
      }
      return { corpId, userId, sessionKey }
    })
  }
}
