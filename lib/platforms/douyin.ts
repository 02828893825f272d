import { callUpstream, checkCode } from '../upstream/call.js'
import { errcodes, unusable, type Named } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { singleFlight } from '../upstream/single-flight.js'
import { appSecretConfig, unsupported, type App, type OpenidRow, type Platform } from './platform.js'
import { isSessionKey, OPENID_FIELDS, type OpenidIdentity, type Users } from './users.js'

/**
 * Douyin (抖音) mini programs: `tt.login()` -> `POST /api/apps/v2/jscode2session`. Documented facts
 * relied on (developer.open-douyin.com, "code2Session"): JSON in `{ appid, secret, code,
 * anonymous_code }`, answered `{ err_no, err_tips, data: { session_key, openid, anonymous_openid,
 * unionid } }` with `err_no` 0 for success; 40018 a bad code, 40019 a bad anonymous code, 40014
 * bad parameters, 40015 a bad appid, 40017 a bad secret.
 */

export interface DouyinClientOptions {
  appId: string
  appSecret: string
  /** The Douyin API origin. */
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http | undefined
}

const NAMED: Named = { title: 'Douyin', loginCall: 'tt.login()' }

/** The contract's error for a non-zero Douyin `err_no`. */
export const douyinErrors = errcodes(NAMED, {
  field: 'err_no',
  required: true,
  invalidCode: [40018, 40019],
  busy: [-1],
  misconfigured: [40014, 40015, 40017],
  check: 'its appId and appSecret'
})

type Identity = OpenidIdentity<'douyin'>

/**
 * With a code: the user's openid and session_key (and unionid); with only an anonymous code: the
 * anonymous openid, no session_key, and the identity says `anonymous: true`. Codes are single-use:
 * never retried, identical logins in flight share one call.
 */
export function createDouyinClient ({ appId, appSecret, apiBaseUrl, timeout, http }: DouyinClientOptions): { login (code: string | undefined, anonymousCode?: string): Promise<Identity> } {
  const shared = singleFlight<Identity>()

  async function exchange (code: string | undefined, anonymousCode: string | undefined): Promise<Identity> {
    const secrets = [appSecret, ...[code, anonymousCode].filter((c): c is string => c !== undefined)]
    const body = await callUpstream(`${apiBaseUrl}/api/apps/v2/jscode2session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appid: appId, secret: appSecret, code: code ?? '', anonymous_code: anonymousCode ?? '' })
    }, { timeout, secrets, errors: douyinErrors, http })
    const data = (body.data ?? {}) as Record<string, unknown>
    const { session_key: sessionKey, openid, anonymous_openid: anonymousOpenid, unionid } = data
    if (code !== undefined) {
      if (typeof openid !== 'string' || openid === '' || !isSessionKey(sessionKey) || (unionid !== undefined && unionid !== '' && typeof unionid !== 'string')) {
        throw unusable(NAMED, 'jscode2session', 'a usable openid and session_key')
      }
      const identity: Identity = { openid, sessionKey, platform: 'douyin' }
      if (typeof unionid === 'string' && unionid !== '') identity.unionid = unionid
      return identity
    }
    if (typeof anonymousOpenid !== 'string' || anonymousOpenid === '') {
      throw unusable(NAMED, 'jscode2session', 'a usable anonymous_openid')
    }
    return { openid: anonymousOpenid, sessionKey: '', platform: 'douyin', anonymous: true }
  }

  return {
    login (code, anonymousCode) {
      // The login route's schema bounds both codes; code2Session's callers pass a code.
      return checkCode(code ?? anonymousCode, NAMED, 'code2Session(code) needs the code from tt.login() as a string') ??
        shared(JSON.stringify([code, anonymousCode]), () => exchange(code, anonymousCode))
    }
  }
}

const users: Users = {
  platform: 'douyin',
  ...NAMED,
  tag: 'douyin',
  fields: OPENID_FIELDS,
  anonymous: true,
  gives: '{ openid, sessionKey, unionid? }',
  revokes: '{ openid, appId? }',
  noPhone: 'Douyin has no phone-number-by-code API here: a Douyin session has no phone route'
}

export const douyin: Platform<OpenidRow<'douyin'>> = {
  kind: 'douyin',
  ...NAMED,
  origin: { key: 'douyin', url: 'https://developer.toutiao.com' },
  users,
  referer: undefined,
  config: appSecretConfig('a Douyin mini program'),
  create (config, { apiBaseUrl, timeout, http }): App {
    const { appId } = config
    const client = createDouyinClient({ appId, appSecret: config.appSecret as string, timeout, http, apiBaseUrl })
    const none = unsupported(`Mini program ${appId} is a Douyin one: this version has no access token, phone-number or checksession API for Douyin`)
    return Object.freeze({
      appId,
      kind: 'douyin',
      platform: douyin,
      code2Session: async (code: string) => await client.login(code),
      anonymousLogin: async (anonymousCode: string, code?: string) => await client.login(code, anonymousCode),
      accessToken: none,
      getPhoneNumber: none,
      checkSessionKey: none
    })
  }
}
