import { UnsupportedError, UpstreamError, safeCause } from '../errors.js'
import { callUpstream, codeExchange } from '../upstream/call.js'
import { withCodes, type Errcodes } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { AccessTokenRejected, createTokenCache, readToken, type AccessTokens } from '../upstream/tokens.js'
import { unknownName } from '../names.js'
import { APP_ID, isFunction, isObject, isSecret, type App, type Hosting, type Platform, type RowTypes } from './platform.js'

/**
 * Mini programs hosted by a third-party platform (第三方平台) of the platform whose mini programs
 * they are: `hostedBy(row)` makes the table's row from that platform's, whose users, origin, codes
 * and user APIs it reuses. Login is `sns/component/jscode2session` with the component token.
 */

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
  /** The latest component_verify_ticket pushed to the platform (every 10 minutes). */
  verifyTicket: () => MaybePromise<string>
  accessToken?: undefined
}

/** The platform's own component token: asked for on every login (cache it in the getter). */
export interface ComponentWithToken extends ComponentCommon {
  accessToken: () => MaybePromise<string>
  appSecret?: undefined
  verifyTicket?: undefined
}

/** An Open Platform third-party platform hosting mini programs. */
export type ComponentConfig = ComponentWithTicket | ComponentWithToken

interface Upstream {
  /** The hosted platform's API origin. */
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http
}

/** api_component_token's errcodes, beyond the hosted platform's general ones. */
function componentTokenErrors (base: Errcodes): Errcodes {
  const { title } = base.named
  return withCodes(base, (errcode) => {
    switch (errcode) {
      case 61005:
      case 61006:
        return new UpstreamError(`${title} refused the component verify ticket (errcode ${errcode}, expired or invalid): component.verifyTicket() must return the latest ticket ${title} pushed`)
      case 61004:
        return new UpstreamError(`${title} refused this server's IP for the third-party platform (errcode 61004): add it to the platform's IP allow-list`)
      case 61011:
      case 40125:
      case 41004:
        return new UpstreamError(`${title} refused the third-party platform's credentials (errcode ${errcode}): check component.appId and component.appSecret`)
      default:
        return undefined
    }
  })
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
export function createComponentTokens (component: ComponentConfig, { apiBaseUrl, timeout, http }: Upstream, hosting: Hosting): AccessTokens {
  if (component.accessToken !== undefined) {
    const getter = component.accessToken
    return createTokenCache({
      refusedTwice: 'component.accessToken() must return the platform\'s current component_access_token',
      fetch: async () => ({ token: await fromGetter(getter, 'component.accessToken()') })
    })
  }
  const { appId, appSecret, verifyTicket } = component
  const errors = componentTokenErrors(hosting.errors)
  return createTokenCache({
    refusedTwice: 'if another system fetches this platform\'s component token, share one token between them (component.accessToken)',
    fetch: async () => {
      const ticket = await fromGetter(verifyTicket, 'component.verifyTicket()')
      const body = await callUpstream(`${apiBaseUrl}/cgi-bin/component/api_component_token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ component_appid: appId, component_appsecret: appSecret, component_verify_ticket: ticket })
      }, { timeout, secrets: [appSecret, ticket], errors, http })
      return readToken(body, 'component_access_token', `${hosting.errors.named.title}'s api_component_token`)
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
 * code is single-use); a refused component token (which the platform answers before it looks at
 * the code) is fetched anew and the call made once more.
 */
export function createComponentClient (appId: string, componentAppId: string, tokens: AccessTokens, { apiBaseUrl, timeout, http }: Upstream, hosting: Hosting): Pick<App, 'code2Session'> {
  const errors = withCodes(hosting.errors, (code) => hosting.tokenRejected.has(code) ? new AccessTokenRejected(code) : undefined)
  const { named } = hosting.errors
  return {
    code2Session: codeExchange(named, async (code) => hosting.identity(await tokens.use(async (token) => {
      const query = new URLSearchParams({ appid: appId, js_code: code, grant_type: 'authorization_code', component_appid: componentAppId, component_access_token: token })
      return await callUpstream(`${apiBaseUrl}/sns/component/jscode2session?${query.toString()}`, { method: 'GET' },
        { timeout, secrets: [token, code], errors, http })
    }), 'component/jscode2session', named))
  }
}

const NAMES = ['appId', 'appSecret', 'verifyTicket', 'accessToken', 'authorizerAccessToken']

function componentProblem (component: unknown): string | undefined {
  if (!isObject(component)) return 'component is not an object'
  const extra = unknownName(component, NAMES, 'component.')
  if (extra !== undefined) return extra
  const { appId, appSecret, verifyTicket, accessToken, authorizerAccessToken } = component
  if (typeof appId !== 'string' || !APP_ID.test(appId)) return 'component.appId is not the third-party platform\'s AppID'
  if (authorizerAccessToken !== undefined && !isFunction(authorizerAccessToken)) return 'component.authorizerAccessToken is not a function (appId) => token'
  if (accessToken !== undefined) {
    if (!isFunction(accessToken)) return 'component.accessToken is not a function () => token'
    if (appSecret !== undefined || verifyTicket !== undefined) return 'component takes accessToken, or appSecret + verifyTicket, not both'
    return undefined
  }
  if (!isSecret(appSecret)) return 'component needs accessToken (the platform\'s own component token getter), or appSecret (a non-empty string without surrounding spaces) + verifyTicket'
  if (!isFunction(verifyTicket)) return 'component.verifyTicket is not a function () => the latest component_verify_ticket'
  return undefined
}

function normalizeComponent (value: unknown): ComponentConfig {
  const { appId, appSecret, verifyTicket, accessToken, authorizerAccessToken } = value as ComponentWithTicket & ComponentWithToken
  return Object.freeze(accessToken !== undefined
    ? { appId, accessToken, authorizerAccessToken }
    : { appId, appSecret, verifyTicket, authorizerAccessToken })
}

/** The types of the row hosted by `T`'s: its origin and users, and a config of its own. */
export interface Hosted<T extends RowTypes> extends RowTypes {
  readonly origin: T['origin']
  readonly users: T['users']
  readonly config: ComponentAppConfig
}

/** The row of mini programs hosted by third-party platforms of `parent`'s (its users, origin, codes and APIs). */
export function hostedBy<T extends RowTypes> (parent: Platform<T>): Platform<Hosted<T>> {
  const hosting = parent.hosting as Hosting
  const row: Platform<Hosted<T>> = {
    kind: 'component',
    title: parent.title,
    loginCall: parent.loginCall,
    origin: parent.origin,
    users: parent.users,
    referer: parent.referer,
    config: {
      key: 'component',
      selectable: false,
      default: true,
      describes: 'hosted by a third-party platform',
      problem: componentProblem,
      normalize: normalizeComponent
    },
    create (config, context) {
      const { appId } = config
      const component = config.component as ComponentConfig
      const settings = { apiBaseUrl: context.apiBaseUrl, timeout: context.timeout, http: context.http }
      // The hosted mini programs of one platform share its component token.
      const componentTokens = component.accessToken !== undefined
        ? createComponentTokens(component, settings, hosting)
        : context.pool(`component\n${component.appId}\n${component.appSecret}`, () => createComponentTokens(component, settings, hosting))
      const client = createComponentClient(appId, component.appId, componentTokens, settings, hosting)
      const tokens = createAuthorizerTokens(appId, component)
      const user = hosting.userApi({ appId, ...settings, tokens })
      return Object.freeze({ appId, kind: 'component', platform: row, code2Session: client.code2Session, accessToken: tokens.get, getPhoneNumber: user.getPhoneNumber, checkSessionKey: user.checkSessionKey, sessionKeys: user })
    }
  }
  return row
}

/** A mini program hosted by a third-party platform (it has no AppSecret of its own here). */
export interface ComponentAppConfig {
  appId: string
  component: ComponentConfig
}
