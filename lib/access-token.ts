import { UpstreamError } from './errors.js'
import { callWechat, errorFor } from './wechat.js'

export interface AccessTokenOptions {
  appId: string
  appSecret: string
  apiBaseUrl: string
  /** ms */
  timeout: number
}

/** errcodes that mean the access token itself was refused: invalid, not the latest, expired. */
const TOKEN_REJECTED = new Set([40001, 40014, 42001])

/** An API call refused the access token it was given (internal: it never reaches a reply). */
export class AccessTokenRejected extends Error {
  constructor (readonly errcode: number) {
    super(`WeChat refused the access token (errcode ${errcode})`)
  }
}

/** The errcode mapping for API calls made with an access token. */
export function tokenCallErrors (errcode: number): Error {
  return TOKEN_REJECTED.has(errcode) ? new AccessTokenRejected(errcode) : errorFor(errcode)
}

export interface AccessTokens {
  /** The current access token, fetched when there is none or it is about to expire. */
  get (): Promise<string>
  /**
   * Runs an API call with the current token. If WeChat refuses the token (40001, 40014, 42001),
   * the token is dropped, fetched once more and the call retried once.
   */
  use<T> (call: (token: string) => Promise<T>): Promise<T>
}

/**
 * The access token from `cgi-bin/stable_token` (normal mode: it does not invalidate the token other
 * instances hold), cached until shortly before it expires, with one fetch in flight at most however
 * many requests need it.
 */
export function createAccessTokens ({ appId, appSecret, apiBaseUrl, timeout }: AccessTokenOptions): AccessTokens {
  let current: { token: string, refreshAt: number } | undefined
  let fetching: Promise<string> | undefined

  async function fetchToken (): Promise<string> {
    const body = await callWechat(`${apiBaseUrl}/cgi-bin/stable_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credential', appid: appId, secret: appSecret, force_refresh: false })
    }, timeout, [appSecret])
    const { access_token: token, expires_in: expiresIn } = body
    if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
      throw new UpstreamError('WeChat answered stable_token without a usable access_token')
    }
    // WeChat renews a stable token 5 minutes before it expires, and both work meanwhile: take the
    // new one from then on (or halfway, for a short-lived token).
    current = { token, refreshAt: Date.now() + Math.max(expiresIn - 300, expiresIn / 2) * 1000 }
    return token
  }

  function get (): Promise<string> {
    if (current !== undefined && Date.now() < current.refreshAt) return Promise.resolve(current.token)
    fetching ??= fetchToken().finally(() => { fetching = undefined })
    return fetching
  }

  return {
    get,
    async use (call) {
      const token = await get()
      try {
        return await call(token)
      } catch (err) {
        if (!(err instanceof AccessTokenRejected)) throw err
        // Drop it only if no one has replaced it yet: concurrent refusals cause one fetch.
        if (current?.token === token) current = undefined
        try {
          return await call(await get())
        } catch (again) {
          if (again instanceof AccessTokenRejected) {
            throw new UpstreamError(`WeChat refused a fresh access token too (errcode ${again.errcode}); if another system force-refreshes this mini program's token, stop it`)
          }
          throw again
        }
      }
    }
  }
}
