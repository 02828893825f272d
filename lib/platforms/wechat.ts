import { callUpstream, codeExchange } from '../upstream/call.js'
import { errcodes, unusable, type Errcodes, type Named } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { apiSecurityProblem, normalizeApiSecurity, type WeappApiSecurity } from './wechat-api-security.js'
import { appSecretConfig, unsupported, type App, type AppContext, type OpenidRow, type Platform, type RowData } from './platform.js'
import { isSessionKey, OPENID_FIELDS, type OpenidIdentity, type Users } from './users.js'
import { createStableTokens, createUserApi, TOKEN_REJECTED, WECHAT, errorFor, tableOf, wechatErrors } from './wechat-api.js'

export { errorFor, wechatErrors }

/**
 * WeChat mini programs (`wx.login()` -> `GET /sns/jscode2session`), and the factory of every
 * platform whose login has WeChat's shape (the same query and answer on its own origin).
 * Documented facts relied on: errors are HTTP 200 with an `errcode`; success is JSON labelled
 * `text/plain`; a code is single-use and valid about 5 minutes.
 */

/** The identity in a `jscode2session` answer of WeChat's shape (a mini program's, or a hosted one's), or a 502. */
export function wechatIdentity (body: Record<string, unknown>, api: string, named: Named = WECHAT): OpenidIdentity<string> {
  const { openid, session_key: sessionKey, unionid } = body
  if (typeof openid !== 'string' || openid === '' || !isSessionKey(sessionKey) ||
      (unionid !== undefined && (typeof unionid !== 'string' || unionid === ''))) {
    throw unusable(named, api, 'a usable openid and session_key')
  }
  const identity: OpenidIdentity<string> = { openid, sessionKey }
  if (typeof unionid === 'string') identity.unionid = unionid
  return identity
}

export interface WechatClientOptions {
  appId: string
  appSecret: string
  apiBaseUrl: string
  /** ms */
  timeout: number
  /** The pooled HTTP client (one per registration); default a shared one. */
  http?: Http
}

export interface WechatClient {
  /** Exchanges a login code for the user's identity; see `code2Session` in the README. */
  code2Session (code: string): Promise<OpenidIdentity<string>>
}

/** `jscode2session` of a platform of WeChat's shape, with single-flight for identical codes. */
function jscode2session ({ appId, appSecret, apiBaseUrl, timeout, http }: WechatClientOptions, errors: Errcodes, platform: string | undefined): WechatClient {
  // The query's fixed part, spelled once: only the code changes from one login to the next.
  const start = `${apiBaseUrl}/sns/jscode2session?${new URLSearchParams({ appid: appId, secret: appSecret }).toString()}&js_code=`
  return {
    code2Session: codeExchange(errors.named, async (code) => {
      const body = await callUpstream(`${start}${encodeURIComponent(code)}&grant_type=authorization_code`, { method: 'GET' }, { timeout, secrets: [appSecret, code], errors, http })
      const identity = wechatIdentity(body, 'jscode2session', errors.named)
      return platform === undefined ? identity : { ...identity, platform }
    })
  }
}

/** The WeChat API client: `jscode2session`. */
export function createWechatClient (options: WechatClientOptions): WechatClient {
  return jscode2session(options, wechatErrors, undefined)
}

/**
 * A platform whose login is WeChat's `jscode2session` on its own origin. With `userApi`, WeChat's
 * access token, phone and checksession APIs too; without, those say the platform has none.
 */
function wechatShape<K extends string> (data: RowData<K>, userApi: boolean): Platform<OpenidRow<K>> {
  const errors = errcodes(data, tableOf(data.title))
  const row: Platform<OpenidRow<K>> = {
    ...data,
    // Only this row has API security (the other rows of its shape do not).
    config: userApi ? { ...appSecretConfig(data.describes, true), optional: { apiSecurity: { problem: apiSecurityProblem, normalize: normalizeApiSecurity } } } : appSecretConfig(data.describes, false),
    create (config, context: AppContext): App {
      const { appId } = config
      const appSecret = config.appSecret as string
      const settings = { appId, appSecret, apiBaseUrl: context.apiBaseUrl, timeout: context.timeout, http: context.http }
      const client = jscode2session(settings, errors, data.users.tag === undefined ? undefined : data.users.platform)
      if (!userApi) {
        const none = unsupported(`Mini program ${appId} is a ${data.title} one: this version has no access token, phone-number or checksession API for ${data.title}`)
        return Object.freeze({ appId, kind: data.kind, platform: row, code2Session: client.code2Session, accessToken: none, getPhoneNumber: none, checkSessionKey: none })
      }
      const tokens = context.pool(`${data.kind}\n${appId}\n${appSecret}`, () => createStableTokens(settings))
      const user = createUserApi({ ...settings, tokens, apiSecurity: config.apiSecurity as WeappApiSecurity | undefined, once: context.once })
      return Object.freeze({ appId, kind: data.kind, platform: row, code2Session: client.code2Session, accessToken: tokens.get, getPhoneNumber: user.getPhoneNumber, checkSessionKey: user.checkSessionKey, sessionKeys: user })
    },
    hosting: { errors, tokenRejected: TOKEN_REJECTED, identity: (body, api, named) => ({ ...wechatIdentity(body, api, named) }), userApi: createUserApi }
  }
  return row
}

/** The row of a platform of WeChat's shape that has no access-token APIs here. */
export const wechatShaped = <K extends string>(data: RowData<K>): Platform<OpenidRow<K>> => wechatShape(data, false)

const users: Users = {
  platform: 'wechat',
  ...WECHAT,
  tag: undefined,
  fields: OPENID_FIELDS,
  anonymous: false,
  gives: '{ openid, sessionKey, unionid? }',
  revokes: '{ openid, appId? }',
  noPhone: undefined
}

export const wechat: Platform<OpenidRow<'wechat'>> = wechatShape({
  kind: 'wechat',
  ...WECHAT,
  origin: { key: 'wechat', url: 'https://api.weixin.qq.com' },
  // wx.request's Referer: https://servicewechat.com/{appid}/{version}/page-frame.html
  referer: 'servicewechat\\.com',
  users,
  describes: 'a WeChat mini program'
}, true)
