import { createDecipheriv, timingSafeEqual } from 'node:crypto'
import { callUpstream, codeExchange } from '../upstream/call.js'
import { errcodes, unusable, type Named } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { bytesOf, failed, paddingValid, type DecryptOptions } from '../user-data.js'
import { appSecretConfig, unsupported, type App, type OpenidRow, type Platform } from './platform.js'
import { isSessionKey, OPENID_FIELDS, type OpenidIdentity, type Users } from './users.js'

/**
 * Baidu smart programs (百度智能小程序): `swan.getLoginCode()` -> `POST /oauth/jscode2sessionkey`.
 * Documented facts relied on (smartprogram.baidu.com, "Session Key" and "用户数据的签名验证和加解密"):
 * a form of `code, client_id` (the AppKey) and `sk` (the AppSecret), answered `{ openid,
 * session_key }`, or `{ error, error_description }` with OAuth 2.0's error names; the session_key
 * is the base64 of 24 bytes; user data is AES-192-CBC with it, PKCS#7 to 32-byte blocks, and its
 * plaintext is 16 random bytes, the data's length (4 bytes, big-endian), the data, and the app's AppKey.
 */

const NAMED: Named = { title: 'Baidu', loginCall: 'swan.getLoginCode()' }

/** The contract's error for a Baidu `error`. */
export const baiduErrors = errcodes(NAMED, {
  field: 'error',
  invalidCode: ['invalid_grant'],
  misconfigured: ['invalid_client', 'unauthorized_client'],
  busy: ['temporarily_unavailable', 'server_error'],
  check: 'its appId (the AppKey) and appSecret'
})

type Identity = OpenidIdentity<'baidu'>

/** Bytes of Baidu's session_key: an AES-192 key. */
const KEY_BYTES = 24
/** The random prefix and the length before the data. */
const PREFIX = 20
/**
 * Baidu pads to 32-byte blocks (PKCS#7 with a pad of 1 to 32): its own PHP sample strips
 * `($pad < 1 || $pad > 32) ? 0 : $pad`, and its worked example's plaintext ends in 28 bytes of 0x1c.
 */
const PAD_BLOCK = 32

/**
 * Baidu's encrypted user data, opened: AES-192-CBC under the session_key, and a plaintext whose
 * length field and trailing AppKey must agree with the app (Baidu's watermark). The rules of
 * the first platforms' decrypt hold: padding checked in constant time, the AppKey compared in constant time,
 * the same work whatever the verdict, and one uniform failure.
 */
export function openBaiduData (sessionKey: string, encryptedData: string, iv: string, { appId }: DecryptOptions): { value: Record<string, unknown>, text: string } {
  const key = bytesOf(sessionKey, KEY_BYTES)
  const ivBytes = bytesOf(iv, 16)
  const data = bytesOf(encryptedData, 0)
  // Shorter than one padding block cannot hold the prefix: the input's shape, nothing the key decides.
  if (key === undefined || ivBytes === undefined || data === undefined || data.length < PAD_BLOCK) throw failed('malformed input')
  const plain = createDecipheriv('aes-192-cbc', key, ivBytes).setAutoPadding(false).update(data)
  const valid = paddingValid(plain, PAD_BLOCK)
  const end = plain.length - ((plain[plain.length - 1] as number) & -valid)
  const appKey = Buffer.from(appId, 'utf8')
  // Where the data would end: the AppKey fills the rest. Everything below runs whatever the bytes say.
  const dataEnd = Math.max(PREFIX, end - appKey.length)
  const declared = plain.readUInt32BE(16)
  const trailer = Buffer.alloc(appKey.length)
  plain.copy(trailer, 0, Math.min(dataEnd, plain.length), dataEnd + appKey.length)
  const keyMatches = timingSafeEqual(trailer, appKey)
  const text = plain.toString('utf8', PREFIX, dataEnd)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {}
  if (valid !== 1) throw failed('bad padding')
  if (end < PREFIX + appKey.length || declared !== dataEnd - PREFIX) throw failed('length field does not match')
  if (!keyMatches) throw failed('the AppKey of another app')
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw failed('not a JSON object')
  return { value: value as Record<string, unknown>, text }
}

export interface BaiduClientOptions {
  appId: string
  appSecret: string
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http | undefined
}

/** `jscode2sessionkey`: a code of `swan.getLoginCode()` for the user's openid and session_key. Never retried; identical codes in flight share one call. */
export function createBaiduClient ({ appId, appSecret, apiBaseUrl, timeout, http }: BaiduClientOptions): { code2Session (code: string): Promise<Identity> } {
  return {
    code2Session: codeExchange(NAMED, async (code) => {
      const form = new URLSearchParams({ code, client_id: appId, sk: appSecret })
      const body = await callUpstream(`${apiBaseUrl}/oauth/jscode2sessionkey`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString()
      }, { timeout, secrets: [appSecret, code], errors: baiduErrors, http })
      const { openid, session_key: sessionKey } = body
      if (typeof openid !== 'string' || openid === '' || !isSessionKey(sessionKey, KEY_BYTES)) {
        throw unusable(NAMED, 'jscode2sessionkey', 'a usable openid and session_key')
      }
      return { openid, sessionKey, platform: 'baidu' }
    })
  }
}

const users: Users = {
  platform: 'baidu',
  ...NAMED,
  tag: 'baidu',
  fields: OPENID_FIELDS,
  anonymous: false,
  gives: '{ openid, sessionKey }',
  revokes: '{ openid, appId? }',
  noPhone: 'A Baidu phone number comes encrypted (the getPhoneNumber button\'s encryptedData and iv): send them to the decrypt route',
  keyBytes: KEY_BYTES,
  userData: openBaiduData
}

export const baidu: Platform<OpenidRow<'baidu'>> = {
  kind: 'baidu',
  ...NAMED,
  origin: { key: 'baidu', url: 'https://spapi.baidu.com' },
  users,
  referer: undefined,
  config: appSecretConfig('a Baidu smart program'),
  create (config, { apiBaseUrl, timeout, http }): App {
    const { appId } = config
    const client = createBaiduClient({ appId, appSecret: config.appSecret as string, apiBaseUrl, timeout, http })
    const none = unsupported(`Smart program ${appId} is a Baidu one: this version has no access token or checksession API for Baidu, and its phone numbers come encrypted (the decrypt route)`)
    return Object.freeze({
      appId,
      kind: 'baidu',
      platform: baidu,
      code2Session: client.code2Session,
      accessToken: none,
      getPhoneNumber: none,
      checkSessionKey: none
    })
  }
}
