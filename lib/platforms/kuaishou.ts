import { callUpstream, codeExchange } from '../upstream/call.js'
import { errcodes, unusable, type Named } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { openUserData } from '../user-data.js'
import { appSecretConfig, unsupported, type App, type OpenidRow, type Platform } from './platform.js'
import { isSessionKey, OPENID_FIELDS, type OpenidIdentity, type Users } from './users.js'

/**
 * Kuaishou (快手) mini programs: `ks.login()` -> `POST /oauth2/mp/code2session`. Documented facts
 * relied on (mp.kuaishou.com, "code2Session", and the error codes of Kuaishou's open SDK): a form
 * of `app_id, app_secret, js_code`, answered `{ result: 1, session_key, open_id, union_id? }` on
 * success and `{ result, error, error_msg }` otherwise; 100200105 a bad code, 100200101 a client
 * not allowed (credentials), 100200100 a bad request, 100200301 anti-spam, 100200410 a rate
 * limit, 100200500 a server error. User data (`ks.getPhoneNumber`, `ks.getUserInfo`) is
 * AES-128-CBC with the session_key, as on the first platforms; Kuaishou documents no watermark in it, so one is
 * checked where it is there and not required.
 */

const NAMED: Named = { title: 'Kuaishou', loginCall: 'ks.login()' }

/** The contract's error for a Kuaishou `result` other than 1. */
export const kuaishouErrors = errcodes(NAMED, {
  field: 'result',
  required: true,
  success: 1,
  invalidCode: [100200105],
  rateLimited: [100200410],
  risky: [100200301],
  busy: [100200500],
  misconfigured: [100200101],
  check: 'its appId and appSecret'
})

type Identity = OpenidIdentity<'kuaishou'>

export interface KuaishouClientOptions {
  appId: string
  appSecret: string
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http | undefined
}

/** `code2session`: a code of `ks.login()` for the user's openid and session_key (and unionid). Never retried; identical codes in flight share one call. */
export function createKuaishouClient ({ appId, appSecret, apiBaseUrl, timeout, http }: KuaishouClientOptions): { code2Session (code: string): Promise<Identity> } {
  return {
    code2Session: codeExchange(NAMED, async (code) => {
      const form = new URLSearchParams({ app_id: appId, app_secret: appSecret, js_code: code })
      const body = await callUpstream(`${apiBaseUrl}/oauth2/mp/code2session`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString()
      }, { timeout, secrets: [appSecret, code], errors: kuaishouErrors, http })
      const { open_id: openid, session_key: sessionKey, union_id: unionid } = body
      if (typeof openid !== 'string' || openid === '' || !isSessionKey(sessionKey) || (unionid !== undefined && unionid !== '' && typeof unionid !== 'string')) {
        throw unusable(NAMED, 'code2session', 'a usable open_id and session_key')
      }
      const identity: Identity = { openid, sessionKey, platform: 'kuaishou' }
      if (typeof unionid === 'string' && unionid !== '') identity.unionid = unionid
      return identity
    })
  }
}

const users: Users = {
  platform: 'kuaishou',
  ...NAMED,
  tag: 'kuaishou',
  fields: OPENID_FIELDS,
  anonymous: false,
  gives: '{ openid, sessionKey, unionid? }',
  revokes: '{ openid, appId? }',
  noPhone: 'A Kuaishou phone number comes encrypted (ks.getPhoneNumber\'s encryptedData and iv): send them to the decrypt route',
  userData: (sessionKey, encryptedData, iv, options) => openUserData(sessionKey, encryptedData, iv, { ...options, watermarkOptional: true })
}

export const kuaishou: Platform<OpenidRow<'kuaishou'>> = {
  kind: 'kuaishou',
  ...NAMED,
  origin: { key: 'kuaishou', url: 'https://open.kuaishou.com' },
  users,
  referer: undefined,
  config: appSecretConfig('a Kuaishou mini program'),
  create (config, { apiBaseUrl, timeout, http }): App {
    const { appId } = config
    const client = createKuaishouClient({ appId, appSecret: config.appSecret as string, apiBaseUrl, timeout, http })
    const none = unsupported(`Mini program ${appId} is a Kuaishou one: this version has no access token or checksession API for Kuaishou, and its phone numbers come encrypted (the decrypt route)`)
    return Object.freeze({
      appId,
      kind: 'kuaishou',
      platform: kuaishou,
      code2Session: client.code2Session,
      accessToken: none,
      getPhoneNumber: none,
      checkSessionKey: none
    })
  }
}
