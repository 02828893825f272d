import { callUpstream, codeExchange } from '../upstream/call.js'
import { errcodes, unusable, withCodes, type Named, type UpstreamCode } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { AccessTokenRejected, createTokenCache, readToken, type AccessTokens } from '../upstream/tokens.js'
import { unknownName } from '../names.js'
import { APP_ID, isObject, isSecret, unsupported, type App, type Platform } from './platform.js'
import { isSessionKey, type Users } from './users.js'

/**
 * Mini programs linked to a WeCom (企业微信) app, used by that company's members: `wx.qy.login()`
 * -> `GET /cgi-bin/miniprogram/jscode2session` with the linked WeCom app's token (`cgi-bin/gettoken`).
 * Documented facts relied on: errors are HTTP 200 with an `errcode`, JSON labelled as JSON; a
 * refused token is 40014 or 42001, answered before the code is looked at.
 */

/** A WeCom app's credentials: the company and the secret of the WeCom app the mini program is linked to. */
export interface WecomCredentials {
  corpId: string
  corpSecret: string
}

/** A mini program linked to a WeCom (企业微信) app, used by that company's members. */
export interface WecomAppConfig {
  appId: string
  wecom: WecomCredentials
}

/** What a WeCom login yields. */
export interface WecomIdentity {
  corpId: string
  userId: string
  sessionKey: string
}

/** A WeCom (企业微信) member using a mini program linked to a WeCom app. */
export interface WecomSession {
  platform: 'wecom'
  /** The AppID of the mini program the session was issued for (its `aud`). */
  appId: string
  /** The member's company (corpid). */
  corpId: string
  /** The member's UserID in that company. */
  userId: string
  /** The session_key (base64). Server-side only: never send it to a client or a log. */
  sessionKey: string
  /** When the session expires, in milliseconds since the epoch. */
  expiresAt: number
  /** The session's id, the same through renewals. */
  jti: string
  /** When the member logged in (ms since the epoch), the same through renewals. */
  loginAt: number
}

interface Upstream {
  /** The WeCom API origin. */
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http | undefined
}

const WECOM: Named = { title: 'WeCom', loginCall: 'wx.qy.login()' }

/** errcodes with which WeCom refuses the access token itself: invalid, expired. */
const TOKEN_REJECTED: ReadonlySet<UpstreamCode> = new Set([40014, 42001])

/** The contract's error for a non-zero WeCom errcode. */
export const wecomErrors = errcodes(WECOM, {
  field: 'errcode',
  invalidCode: [40029],
  rateLimited: [45009, 45033],
  busy: [-1],
  misconfigured: [40001, 40013, 41002, 41004, 48002, 60020],
  check: 'the app\'s corpId, corpSecret (the secret of the WeCom app the mini program is linked to) and WeCom\'s IP allow-list'
})

/** A WeCom app's access token from `cgi-bin/gettoken`, cached, refetched once when refused. */
export function createWecomTokens ({ corpId, corpSecret }: WecomCredentials, { apiBaseUrl, timeout, http }: Upstream): AccessTokens {
  return createTokenCache({
    refusedTwice: 'check that nothing else invalidates this WeCom app\'s tokens',
    fetch: async () => {
      const query = new URLSearchParams({ corpid: corpId, corpsecret: corpSecret })
      const body = await callUpstream(`${apiBaseUrl}/cgi-bin/gettoken?${query.toString()}`, { method: 'GET' },
        { timeout, secrets: [corpSecret], errors: wecomErrors, http })
      return readToken(body, 'access_token', 'WeCom\'s gettoken')
    }
  })
}

/**
 * WeCom's `cgi-bin/miniprogram/jscode2session`, with the linked WeCom app's token: a code of
 * `wx.qy.login()` for `{ corpId, userId, sessionKey }`. Never retried with the same token (a code is
 * single-use); only a refused token is fetched anew and the call made once more.
 */
export function createWecomClient (tokens: AccessTokens, { apiBaseUrl, timeout, http }: Upstream): { code2Session (code: string): Promise<WecomIdentity> } {
  const errors = withCodes(wecomErrors, (code) => TOKEN_REJECTED.has(code) ? new AccessTokenRejected(code) : undefined)
  return {
    code2Session: codeExchange(WECOM, async (code) => {
      const body = await tokens.use(async (token) => {
        const query = new URLSearchParams({ access_token: token, js_code: code, grant_type: 'authorization_code' })
        return await callUpstream(`${apiBaseUrl}/cgi-bin/miniprogram/jscode2session?${query.toString()}`, { method: 'GET' },
          { timeout, secrets: [token, code], errors, http })
      })
      const { corpid: corpId, userid: userId, session_key: sessionKey } = body
      if (typeof corpId !== 'string' || corpId === '' || typeof userId !== 'string' || userId === '' || !isSessionKey(sessionKey)) {
        throw unusable(WECOM, 'jscode2session', 'a usable corpid, userid and session_key')
      }
      return { corpId, userId, sessionKey }
    })
  }
}

const users: Users = {
  platform: 'wecom',
  ...WECOM,
  tag: undefined,
  // `sub` the UserID, `cid` the corpid. UserIDs are chosen by a company's admin and never hold ':'.
  fields: [
    { name: 'corpId', claim: 'cid', describes: 'A WeCom member (instead of openid): their company' },
    { name: 'userId', claim: 'sub', describes: 'A WeCom member: their UserID in that company' }
  ],
  anonymous: false,
  subject: (user) => `${user.corpId as string}:${user.userId as string}`,
  gives: '{ corpId, userId, sessionKey }',
  revokes: '{ corpId, userId, appId }',
  noPhone: 'WeCom has no phone-number-by-code API for its members; read the member\'s mobile from WeCom\'s own APIs'
}

function wecomProblem (wecom: unknown): string | undefined {
  if (!isObject(wecom)) return 'wecom is not an object'
  const extra = unknownName(wecom, ['corpId', 'corpSecret'], 'wecom.')
  if (extra !== undefined) return extra
  if (typeof wecom.corpId !== 'string' || !APP_ID.test(wecom.corpId)) return "wecom.corpId is not a corpid such as 'ww0123456789abcdef'"
  if (!isSecret(wecom.corpSecret)) return 'wecom.corpSecret is not a non-empty string without surrounding spaces'
  return undefined
}

export const wecom: Platform<{ origin: 'wecom', users: { identity: WecomIdentity, session: WecomSession }, config: WecomAppConfig }> = {
  kind: 'wecom',
  ...WECOM,
  origin: { key: 'wecom', url: 'https://qyapi.weixin.qq.com' },
  users,
  referer: undefined,
  config: {
    key: 'wecom',
    selectable: false,
    default: true,
    describes: 'linked to a WeCom app',
    problem: wecomProblem,
    normalize: (value) => {
      const { corpId, corpSecret } = value as WecomCredentials
      return Object.freeze({ corpId, corpSecret })
    }
  },
  create (config, context): App {
    const { appId } = config
    const { corpId, corpSecret } = config.wecom as WecomCredentials
    const settings = { apiBaseUrl: context.apiBaseUrl, timeout: context.timeout, http: context.http }
    // The mini programs of one WeCom app share its token.
    const tokens = context.pool(`wecom\n${corpId}\n${corpSecret}`, () => createWecomTokens({ corpId, corpSecret }, settings))
    const client = createWecomClient(tokens, settings)
    const none = `Mini program ${appId} runs in WeCom, which has no phone-number-by-code or checksession API for its members`
    return Object.freeze({
      appId,
      kind: 'wecom',
      platform: wecom,
      code2Session: client.code2Session,
      accessToken: tokens.get,
      getPhoneNumber: unsupported(`${none}; read the member's mobile from WeCom's own APIs`),
      checkSessionKey: unsupported(none)
    })
  }
}
