import { UpstreamError } from '../errors.js'
import { callUpstream, codeExchange } from '../upstream/call.js'
import { errcodes, unusable, withCodes, type Named, type UpstreamCode } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { AccessTokenRejected, createTokenCache, type AccessTokens } from '../upstream/tokens.js'
import { appSecretConfig, unsupported, type App, type AppSecretApp, type Platform } from './platform.js'
import type { Users } from './users.js'

/**
 * Feishu / Lark (飞书) mini programs: `tt.login()` in Feishu -> `POST /open-apis/mina/v2/tokenLoginValidate`
 * with the app's `app_access_token` (`POST /open-apis/auth/v3/app_access_token/internal`, a
 * custom app's `app_id` and `app_secret`). Documented facts relied on (open.feishu.cn, "code2session"
 * and "自建应用获取 app_access_token"): JSON in and out, `code` 0 for success and `msg`; the login
 * answers `data: { open_id, employee_id?, session_key, tenant_key, access_token, refresh_token, … }`;
 * 10202 a refused access token, 10213 a code of another app, used or expired, 10228 a user the
 * app is not visible to; the token answer is `{ app_access_token, expire }` (seconds). Its `union_id`
 * is documented as deprecated (not Feishu's Union ID) and is not kept; nor are the user's own
 * tokens. Nothing of a Feishu user is encrypted with the session_key, so sessions hold none.
 */

const NAMED: Named = { title: 'Feishu', loginCall: 'tt.login()' }

/** Codes with which Feishu refuses the app access token itself. */
const TOKEN_REJECTED: ReadonlySet<UpstreamCode> = new Set([10202, 99991663, 99991664])

/** The contract's error for a non-zero Feishu `code`. */
export const feishuErrors = errcodes(NAMED, {
  field: 'code',
  required: true,
  invalidCode: [10213],
  rateLimited: [99991400],
  misconfigured: [10003, 10012, 10014],
  check: 'its appId and appSecret (a custom app\'s App ID and App Secret)'
})

/** A member of a Feishu tenant, as a login yields them and `seal` takes them. */
export interface FeishuIdentity {
  platform: 'feishu'
  /** The user's open_id in this app. */
  openid: string
  /** Their tenant (company): Feishu's tenant_key. */
  tenantKey: string
  /** Their user ID in the tenant, where the app may read it (contact:user.employee_id:readonly). */
  employeeId?: string
  /** Feishu sessions hold no session_key: `''` where one is given. */
  sessionKey?: ''
}

/** A Feishu member's session. */
export interface FeishuSession {
  platform: 'feishu'
  /** The AppID of the mini program the session was issued for (its `aud`). */
  appId: string
  openid: string
  tenantKey: string
  employeeId?: string
  /** Always `''`: nothing of a Feishu user is encrypted with a per-user key. */
  sessionKey: string
  expiresAt: number
  jti: string
  loginAt: number
}

interface Upstream {
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http | undefined
}

/** A custom app's `app_access_token`, cached, refetched once when refused. */
export function createFeishuTokens (appId: string, appSecret: string, { apiBaseUrl, timeout, http }: Upstream): AccessTokens {
  return createTokenCache({
    refusedTwice: 'check that the app is a custom app and that its App Secret was not reset',
    fetch: async () => {
      const body = await callUpstream(`${apiBaseUrl}/open-apis/auth/v3/app_access_token/internal`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ app_id: appId, app_secret: appSecret })
      }, { timeout, secrets: [appSecret], errors: feishuErrors, http })
      const { app_access_token: token, expire } = body
      if (typeof token !== 'string' || token === '' || typeof expire !== 'number' || !(expire > 0)) {
        throw new UpstreamError('Feishu\'s app_access_token answered without a usable app_access_token')
      }
      return { token, expiresIn: expire }
    }
  })
}

const isText = (value: unknown): value is string => typeof value === 'string' && value !== ''

/** `tokenLoginValidate` with the app's token: a code of `tt.login()` for the member. Never retried with the same token. */
export function createFeishuClient (tokens: AccessTokens, { apiBaseUrl, timeout, http }: Upstream): { code2Session (code: string): Promise<FeishuIdentity> } {
  const errors = withCodes(feishuErrors, (code) => TOKEN_REJECTED.has(code) ? new AccessTokenRejected(code) : undefined)
  return {
    code2Session: codeExchange(NAMED, async (code) => {
      const body = await tokens.use(async (token) => await callUpstream(`${apiBaseUrl}/open-apis/mina/v2/tokenLoginValidate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${token}` },
        body: JSON.stringify({ code })
      }, { timeout, secrets: [token, code], errors, http }))
      const data = body.data !== null && typeof body.data === 'object' ? body.data as Record<string, unknown> : {}
      const { open_id: openid, tenant_key: tenantKey, employee_id: employeeId } = data
      if (!isText(openid) || !isText(tenantKey) || (employeeId !== undefined && employeeId !== '' && typeof employeeId !== 'string')) {
        throw unusable(NAMED, 'tokenLoginValidate', 'a usable open_id and tenant_key')
      }
      const identity: FeishuIdentity = { platform: 'feishu', openid, tenantKey }
      if (isText(employeeId)) identity.employeeId = employeeId
      return identity
    })
  }
}

const users: Users = {
  platform: 'feishu',
  ...NAMED,
  tag: 'feishu',
  fields: [
    { name: 'openid', claim: 'sub', describes: 'A Feishu member: their open_id in this app' },
    { name: 'tenantKey', claim: 'tk', describes: 'A Feishu member: their tenant (tenant_key)' },
    { name: 'employeeId', claim: 'eid', optional: true, describes: 'A Feishu member: their user ID in the tenant, where the app may read it' }
  ],
  anonymous: false,
  gives: '{ platform: \'feishu\', openid, tenantKey, employeeId? }',
  revokes: '{ openid, tenantKey, appId? }',
  noPhone: 'Feishu has no phone-number API for mini programs here; read the member\'s mobile from Feishu\'s contact APIs',
  keyBytes: 0,
  noDecrypt: 'A Feishu session holds no session_key: Feishu encrypts nothing of its users for the app to decrypt'
}

export const feishu: Platform<{ origin: 'feishu', users: { identity: FeishuIdentity, session: FeishuSession }, config: AppSecretApp }> = {
  kind: 'feishu',
  ...NAMED,
  origin: { key: 'feishu', url: 'https://open.feishu.cn' },
  users,
  referer: undefined,
  config: appSecretConfig('a Feishu mini program'),
  create (config, context): App {
    const { appId } = config
    const appSecret = config.appSecret as string
    const settings = { apiBaseUrl: context.apiBaseUrl, timeout: context.timeout, http: context.http }
    const tokens = context.pool(`feishu\n${appId}\n${appSecret}`, () => createFeishuTokens(appId, appSecret, settings))
    const client = createFeishuClient(tokens, settings)
    return Object.freeze({
      appId,
      kind: 'feishu',
      platform: feishu,
      code2Session: client.code2Session,
      accessToken: tokens.get,
      getPhoneNumber: unsupported(users.noPhone as string),
      checkSessionKey: unsupported(`Mini program ${appId} is a Feishu one: its sessions hold no session_key to check`)
    })
  }
}
