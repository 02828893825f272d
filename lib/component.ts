import { WECHAT_TOKEN_REJECTED, createTokenCache, readToken, tokenErrors, type AccessTokens } from './access-token.js'
import { UnsupportedError, UpstreamError, safeCause } from './errors.js'
import type { WechatIdentity } from './session.js'
import type { Http } from './http.js'
import { callWechat, codeExchange, errorFor, wechatIdentity } from './wechat.js'

/** A string, or a promise of one: what the token getters return. */
type MaybePromise<T> = T | Promise<T>

interface ComponentCommon {
  /** The third-party platform's AppID (component_appid). */
  appId: string
  /**
   * The hosted mini program's access token (authorizer_access_token), which the platform keeps:
   * needed for phone numbers and `checkSessionKey`. Without it those answer `WEAPP_UNSUPPORTED`.
   */
  authorizerAccessToken?: (appId: string) => MaybePromise<string>
}

/** The platform's credentials: the plugin fetches and caches the component token itself. */
export interface ComponentWithTicket extends ComponentCommon {
  appSecret: string
  /** The latest component_verify_ticket WeChat pushed to the platform (every 10 minutes). */
  verifyTicket: () => MaybePromise<string>
  accessToken?: undefined
}

/** The platform's own component token: asked for on every login (cache it in the getter). */
export interface ComponentWithToken extends ComponentCommon {
  accessToken: () => MaybePromise<string>
  appSecret?: undefined
  verifyTicket?: undefined
}

/** A WeChat Open Platform third-party platform hosting mini programs. */
export type ComponentConfig = ComponentWithTicket | ComponentWithToken

interface Upstream {
  /** The WeChat API origin. */
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http
}

/** api_component_token's errcodes, beyond WeChat's general ones. */
function componentTokenError (errcode: number): Error {
  switch (errcode) {
    case 61005:
    case 61006:
      return new UpstreamError(`WeChat refused the component verify ticket (errcode ${errcode}, expired or invalid): component.verifyTicket() must return the latest ticket WeChat pushed`)
    case 61004:
      return new UpstreamError('WeChat refused this server\'s IP for the third-party platform (errcode 61004): add it to the platform\'s IP allow-list')
    case 61011:
    case 40125:
    case 41004:
      return new UpstreamError(`WeChat refused the third-party platform's credentials (errcode ${errcode}): check component.appId and component.appSecret`)
    default:
      return errorFor(errcode)
  }
}

/** Calls a getter of the user's; what it throws is a 502 that names it (its cause scrubbed of nothing it could know). */
async function fromGetter (getter: () => MaybePromise<string>, name: string): Promise<string> {
  let token: unknown
  try {
    token = await getter()
  } catch (err) {
    throw new UpstreamError(`${name} failed; retry in a moment`, { cause: safeCause(err, []) })
  }
  if (typeof token !== 'string' || token === '') throw new UpstreamError(`${name} returned no token (a non-empty string)`)
  return token
}

/**
 * The component token: from the platform's own `accessToken()` on every use, or from
 * `cgi-bin/component/api_component_token` with the latest verify ticket, cached until shortly
 * before it expires, one fetch in flight, refetched once when refused (40001, 42001).
 */
export function createComponentTokens (component: ComponentConfig, { apiBaseUrl, timeout, http }: Upstream): AccessTokens {
  if (component.accessToken !== undefined) {
    const getter = component.accessToken
    return createTokenCache({
      refusedTwice: 'component.accessToken() must return the platform\'s current component_access_token',
      fetch: async () => ({ token: await fromGetter(getter, 'component.accessToken()') })
    })
  }
  const { appId, appSecret, verifyTicket } = component
  return createTokenCache({
    refusedTwice: 'if another system fetches this platform\'s component token, share one token between them (component.accessToken)',
    fetch: async () => {
      const ticket = await fromGetter(verifyTicket, 'component.verifyTicket()')
      const body = await callWechat(`${apiBaseUrl}/cgi-bin/component/api_component_token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ component_appid: appId, component_appsecret: appSecret, component_verify_ticket: ticket })
      }, { timeout, secrets: [appSecret, ticket], errors: componentTokenError, http })
      return readToken(body, 'component_access_token', 'WeChat\'s api_component_token')
    }
  })
}

/** The hosted mini program's authorizer access token, from the platform's getter; without one, `WEAPP_UNSUPPORTED`. */
export function createAuthorizerTokens (appId: string, component: ComponentConfig): AccessTokens {
  const getter = component.authorizerAccessToken
  return createTokenCache({
    refusedTwice: 'component.authorizerAccessToken(appId) must return the current authorizer_access_token of this mini program',
    fetch: async () => {
      if (getter === undefined) {
        throw new UnsupportedError(`Mini program ${appId} is hosted by a third-party platform and this server has no access token for it: configure component.authorizerAccessToken(appId) to use phone numbers and checkSessionKey`)
      }
      return { token: await fromGetter(async () => await getter(appId), 'component.authorizerAccessToken()') }
    }
  })
}

/**
 * `sns/component/jscode2session` for a hosted mini program. Never retried with the same token (a
 * code is single-use); a refused component token (which WeChat answers before it looks at the code)
 * is fetched anew and the call made once more.
 */
export function createComponentClient (appId: string, componentAppId: string, tokens: AccessTokens, { apiBaseUrl, timeout, http }: Upstream): { code2Session (code: string): Promise<WechatIdentity> } {
  const errors = tokenErrors(WECHAT_TOKEN_REJECTED)
  return {
    code2Session: codeExchange(async (code) => wechatIdentity(await tokens.use(async (token) => {
      const query = new URLSearchParams({ appid: appId, js_code: code, grant_type: 'authorization_code', component_appid: componentAppId, component_access_token: token })
      return await callWechat(`${apiBaseUrl}/sns/component/jscode2session?${query.toString()}`, { method: 'GET' },
        { timeout, secrets: [token, code], errors, http })
    }), 'component/jscode2session'))
  }
}
