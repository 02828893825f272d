import { createDecipheriv, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { isBase64 } from '../base64.js'
import { DecryptFailedError, UpstreamError } from '../errors.js'
import { unknownName } from '../names.js'
import { checkAnswer, codeExchange, jsonObject, requestUpstream } from '../upstream/call.js'
import { errcodes, unusable, type Named } from '../upstream/faults.js'
import type { Http } from '../upstream/http.js'
import { paddingValid } from '../user-data.js'
import { isObject, unsupported, type App, type Platform, type WeappPhone } from './platform.js'
import { isSessionKey, type Users } from './users.js'

/**
 * Alipay (支付宝) mini programs: `my.getAuthCode()` -> `alipay.system.oauth.token` through the
 * gateway (`POST /gateway.do`). Documented facts relied on (opendocs.alipay.com: "alipay.system.oauth.token",
 * "签名", "验签", "接口内容加解密方式", "my.getPhoneNumber"):
 * - a request's parameters (`app_id, method, format, charset, sign_type, timestamp, version`, and
 *   the method's own, here `grant_type, code`) are signed RSA2: SHA256withRSA over `k=v` pairs of
 *   the non-empty parameters sorted by name, joined by `&`, with the app's private key, base64;
 *   `timestamp` is Beijing time, `yyyy-MM-dd HH:mm:ss`;
 * - an answer is `{ "<method with _>_response": {…}, "sign": "…" }` (`error_response` where the
 *   gateway refuses the call); `sign` signs the exact text of that member's value with Alipay's key;
 *   errors carry `code`, `msg`, `sub_code`, `sub_msg`, and `isv.code-invalid` is a bad, used or
 *   expired auth code; success carries `user_id` (older apps) or `open_id` (apps in OpenID mode);
 * - `my.getPhoneNumber()` gives a string `{ "response": "<base64>", "sign": "…", … }`: `sign` signs
 *   the JSON string `"<base64>"` (quotes included), the base64 is AES-128-CBC under the app's content
 *   key with a zero IV, PKCS#7, and it opens to `{ code: "10000", msg, mobile }`.
 * Unlike alipay-sdk, an answer is never used unverified: without `alipayPublicKey` an app does not
 * register, and a success whose signature does not verify is a 502.
 */

const NAMED: Named = { title: 'Alipay', loginCall: 'my.getAuthCode()' }
const METHOD = 'alipay.system.oauth.token'
const NODE = `${METHOD.replace(/\./g, '_')}_response`

/** An Alipay app's keys, as the config gives them. */
export interface AlipayKeys {
  /** The app's RSA private key (应用私钥): PEM, or the bare base64 the console's tool gives (PKCS#8). */
  privateKey: string
  /** Alipay's public key (支付宝公钥), not the app's own: PEM, or bare base64 (SubjectPublicKeyInfo). */
  alipayPublicKey: string
  /** The content-encryption key (接口内容加密方式, AES), base64: needed to read phone numbers. */
  contentKey?: string
}

/** An Alipay mini program: its AppID and keys. */
export interface AlipayAppConfig {
  appId: string
  platform?: 'alipay'
  alipay: AlipayKeys
}

/** Which field of Alipay's answer the user id is. */
export type AlipayIdType = 'open_id' | 'user_id'

/** An Alipay user, as a login yields them and `seal` takes them. */
export interface AlipayIdentity {
  platform: 'alipay'
  /** The user's id in this app: Alipay's `open_id`, or `user_id` for apps in UserID mode. */
  openid: string
  /** Which of the two `openid` is. */
  idType: AlipayIdType
  /** Alipay sessions hold no session_key: `''` where one is given. */
  sessionKey?: ''
}

/** An Alipay user's session. */
export interface AlipaySession {
  platform: 'alipay'
  /** The AppID of the mini program the session was issued for (its `aud`). */
  appId: string
  openid: string
  idType: AlipayIdType
  /** Always `''`: Alipay encrypts with the app's content key, not a per-user key. */
  sessionKey: string
  expiresAt: number
  jti: string
  loginAt: number
}

/** With `interface WeappSessionTypes { alipay: true }`, sessions may be an Alipay user's. */
export type AlipaySessionOf<Types> = Types extends { alipay: true } ? AlipaySession : never
export type AlipayIdentityOf<Types> = Types extends { alipay: true } ? AlipayIdentity : never

/** The contract's error for an Alipay `sub_code` (or a `code` without one). */
export const alipayErrors = errcodes(NAMED, {
  field: 'sub_code',
  invalidCode: ['isv.code-invalid'],
  busy: ['isp.unknow-error', 'aop.unknow-error', '20000'],
  misconfigured: ['isv.invalid-app-id', 'isv.invalid-signature', 'isv.invalid-signature-type', 'isv.missing-signature-config', 'isv.insufficient-isv-permissions', 'isv.missing-default-signature-type', 'isv.invalid-encrypt', 'isv.missing-encrypt-key'],
  check: 'its appId, privateKey (the app\'s own, whose public key is uploaded to Alipay), alipayPublicKey and contentKey'
})

/** A PEM, or a bare base64 body wrapped as one. */
function pem (text: string, label: 'PRIVATE KEY' | 'PUBLIC KEY'): string {
  if (text.includes('-----BEGIN')) return text
  const body = text.replace(/\s+/g, '')
  return `-----BEGIN ${label}-----\n${(body.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`
}

/** A key, or undefined when it does not parse as one (its text is never repeated). */
function parseKey (text: string, kind: 'private' | 'public'): KeyObject | undefined {
  try {
    return kind === 'private' ? createPrivateKey(pem(text, 'PRIVATE KEY')) : createPublicKey(pem(text, 'PUBLIC KEY'))
  } catch {
    return undefined
  }
}

const isRsa2048 = (key: KeyObject): boolean => key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails as { modulusLength: number }).modulusLength >= 2048
const spki = (key: KeyObject): string => key.export({ type: 'spki', format: 'der' }).toString('base64')

function alipayProblem (value: unknown): string | undefined {
  if (!isObject(value)) return 'alipay is not an object'
  const extra = unknownName(value, ['privateKey', 'alipayPublicKey', 'contentKey'], 'alipay.')
  if (extra !== undefined) return extra
  const { privateKey, alipayPublicKey, contentKey } = value
  const own = typeof privateKey === 'string' ? parseKey(privateKey, 'private') : undefined
  if (own === undefined || !isRsa2048(own)) return 'alipay.privateKey is not an RSA private key of 2048 bits or more (PEM, or the bare base64 of PKCS#8)'
  if (alipayPublicKey === undefined) return 'alipay.alipayPublicKey is required: without Alipay\'s public key no answer can be verified'
  const theirs = typeof alipayPublicKey === 'string' ? parseKey(alipayPublicKey, 'public') : undefined
  if (theirs === undefined || !isRsa2048(theirs)) return 'alipay.alipayPublicKey is not an RSA public key of 2048 bits or more (PEM, or the bare base64 of SubjectPublicKeyInfo)'
  if (spki(theirs) === spki(createPublicKey(own))) return 'alipay.alipayPublicKey is the app\'s own public key: give Alipay\'s public key (支付宝公钥) from the console'
  if (contentKey !== undefined && !isSessionKey(contentKey, 16)) return 'alipay.contentKey is not the base64 of a 16-byte AES key (接口内容加密方式)'
  return undefined
}

/** Beijing time, as the gateway's `timestamp` wants it. */
function beijing (ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
}

/** The string Alipay signs for a request's parameters. */
export function signContent (params: Readonly<Record<string, string>>): string {
  return Object.keys(params).filter((k) => k !== 'sign' && params[k] !== '').sort().map((k) => `${k}=${params[k] as string}`).join('&')
}

/** The exact text of a top-level member's value in a JSON object's text, or undefined. */
export function memberText (text: string, name: string): string | undefined {
  let depth = 0
  let at = 0
  while (at < text.length) {
    const char = text[at] as string
    if (char === '"') {
      const end = stringEnd(text, at)
      if (end === -1) return undefined
      if (depth === 1 && JSON.parse(text.slice(at, end)) === name) {
        let colon = end
        while (/\s/.test(text.charAt(colon))) colon++
        if (text[colon] === ':') return valueText(text, colon + 1)
      }
      at = end
      continue
    }
    if (char === '{' || char === '[') depth++
    if (char === '}' || char === ']') depth--
    at++
  }
  return undefined
}

/** Where the string starting at `start` ends (after its closing quote), or -1. */
function stringEnd (text: string, start: number): number {
  for (let at = start + 1; at < text.length; at++) {
    if (text[at] === '\\') at++
    else if (text[at] === '"') return at + 1
  }
  return -1
}

/** The text of the JSON value starting at or after `start`. */
function valueText (text: string, start: number): string | undefined {
  let from = start
  while (/\s/.test(text.charAt(from))) from++
  let depth = 0
  for (let at = from; at < text.length; at++) {
    const char = text[at] as string
    if (char === '"') {
      const end = stringEnd(text, at)
      if (end === -1) return undefined
      if (depth === 0) return text.slice(from, end)
      at = end - 1
    } else if (char === '{' || char === '[') {
      depth++
    } else if (depth === 0 && (char === ',' || char === '}' || char === ']')) {
      // The end of a number, true, false or null (nothing at all is no value).
      const value = text.slice(from, at).trim()
      return value === '' ? undefined : value
    } else if (char === '}' || char === ']') {
      depth--
      if (depth === 0) return text.slice(from, at + 1)
    }
  }
  return undefined
}

const SIGNATURE = /^[A-Za-z0-9+/]{40,1024}={0,2}$/

/** Whether `signature` (base64) is Alipay's RSA2 signature of `content`. */
function verified (content: string, signature: unknown, alipayKey: KeyObject): boolean {
  if (typeof signature !== 'string' || !SIGNATURE.test(signature) || !isBase64(signature)) return false
  return verify('sha256', Buffer.from(content, 'utf8'), alipayKey, Buffer.from(signature, 'base64'))
}

export interface AlipayClientOptions {
  appId: string
  privateKey: KeyObject
  alipayPublicKey: KeyObject
  apiBaseUrl: string
  /** ms */
  timeout: number
  http?: Http | undefined
}

/** The identity in a verified `alipay.system.oauth.token` answer. */
function identityOf (node: Record<string, unknown>): AlipayIdentity {
  const { open_id: openId, user_id: userId } = node
  if (typeof openId === 'string' && openId !== '') return { platform: 'alipay', openid: openId, idType: 'open_id' }
  if (typeof userId === 'string' && userId !== '') return { platform: 'alipay', openid: userId, idType: 'user_id' }
  throw unusable(NAMED, METHOD, 'a usable open_id or user_id')
}

/** `alipay.system.oauth.token`, signed both ways: an auth code of `my.getAuthCode()` for the user. Never retried. */
export function createAlipayClient ({ appId, privateKey, alipayPublicKey, apiBaseUrl, timeout, http }: AlipayClientOptions): { code2Session (code: string): Promise<AlipayIdentity> } {
  return {
    code2Session: codeExchange(NAMED, async (code) => {
      const params: Record<string, string> = {
        app_id: appId,
        method: METHOD,
        format: 'JSON',
        charset: 'utf-8',
        sign_type: 'RSA2',
        timestamp: beijing(Date.now()),
        version: '1.0',
        grant_type: 'authorization_code',
        code
      }
      params.sign = sign('sha256', Buffer.from(signContent(params), 'utf8'), privateKey).toString('base64')
      const call = { timeout, secrets: [code], errors: alipayErrors, http }
      const text = await requestUpstream(`${apiBaseUrl}/gateway.do`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
        body: new URLSearchParams(params).toString()
      }, call)
      const body = jsonObject(text, NAMED)
      const name = body[NODE] !== undefined ? NODE : 'error_response'
      const node = body[name]
      const raw = memberText(text as string, name)
      if (!isObject(node) || raw === undefined) throw unusable(NAMED, METHOD, `a ${NODE}`)
      const failed = node.sub_code !== undefined || (node.code !== undefined && node.code !== '10000')
      // Fail closed: a success is used only when Alipay's signature of it verifies. The gateway
      // leaves some refusals unsigned (an unknown app); a signed one must verify all the same.
      if ((!failed || body.sign !== undefined) && !verified(raw, body.sign, alipayPublicKey)) {
        throw new UpstreamError(`Alipay's answer to ${METHOD} failed its signature check: check alipayPublicKey (Alipay's public key, not the app's), or something between this server and Alipay altered the answer`)
      }
      if (failed) checkAnswer({ sub_code: node.sub_code ?? node.code, sub_msg: node.sub_msg ?? node.msg }, call)
      return identityOf(node)
    })
  }
}

const PHONE_ERRORS = errcodes(NAMED, { field: 'code', success: '10000', required: true, misconfigured: ['40001', '40002'], busy: ['20000'], check: 'the app\'s contentKey, its signing settings and its phone-number access in Alipay\'s console' })

/** One uniform failure for a phone answer that does not verify or open: the reason is only a cause for the server log. */
const refused = (reason: string): Error => new DecryptFailedError({ cause: new Error(reason) })

/**
 * The phone number in `my.getPhoneNumber()`'s response: its signature verified with Alipay's key
 * (so the ciphertext is Alipay's: no padding oracle reaches the content key), then decrypted.
 */
export function alipayPhone (response: string, alipayPublicKey: KeyObject, contentKey: Buffer): WeappPhone {
  const given = (() => { try { return JSON.parse(response) as unknown } catch { return undefined } })()
  const encrypted = isObject(given) ? given.response : undefined
  if (!isObject(given) || typeof encrypted !== 'string' || !isBase64(encrypted) || encrypted === '') throw refused('not my.getPhoneNumber()\'s response')
  if (!verified(JSON.stringify(encrypted), given.sign, alipayPublicKey)) throw refused('the signature does not verify')
  const data = Buffer.from(encrypted, 'base64')
  if (data.length % 16 !== 0) throw refused('not whole AES blocks')
  const plain = createDecipheriv('aes-128-cbc', contentKey, Buffer.alloc(16)).setAutoPadding(false).update(data)
  const valid = paddingValid(plain)
  const text = plain.toString('utf8', 0, plain.length - ((plain[plain.length - 1] as number) & -valid))
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {}
  if (valid !== 1 || !isObject(value)) throw refused('does not decrypt with the content key')
  checkAnswer({ code: value.code, msg: value.subMsg ?? value.msg }, { errors: PHONE_ERRORS, secrets: [] })
  const { mobile } = value
  if (typeof mobile !== 'string' || !/^\+?[0-9-]{5,20}$/.test(mobile)) throw unusable(NAMED, 'my.getPhoneNumber', 'a mobile number')
  return { phoneNumber: mobile, purePhoneNumber: mobile, countryCode: '86' }
}

const users: Users = {
  platform: 'alipay',
  ...NAMED,
  tag: 'alipay',
  fields: [
    { name: 'openid', claim: 'sub', describes: 'An Alipay user: their open_id (or user_id, see idType) in this app' },
    { name: 'idType', claim: 'it', describes: 'An Alipay user: which id openid is, open_id or user_id' }
  ],
  anonymous: false,
  gives: '{ platform: \'alipay\', openid, idType }',
  revokes: '{ openid, idType, appId? }',
  noPhone: undefined,
  keyBytes: 0,
  noDecrypt: 'An Alipay session holds no session_key: send my.getPhoneNumber()\'s response to the phone route, which verifies and decrypts it with the app\'s keys',
  phoneField: { name: 'response', describes: 'the response string my.getPhoneNumber() gave, as is' }
}

export const alipay: Platform = {
  kind: 'alipay',
  ...NAMED,
  origin: { key: 'alipay', url: 'https://openapi.alipay.com' },
  users,
  referer: undefined,
  config: {
    key: 'alipay',
    selectable: true,
    default: true,
    describes: 'an Alipay mini program',
    problem: alipayProblem,
    normalize: (value) => {
      const { privateKey, alipayPublicKey, contentKey } = value as AlipayKeys
      return Object.freeze(contentKey === undefined ? { privateKey, alipayPublicKey } : { privateKey, alipayPublicKey, contentKey })
    }
  },
  create (config, { apiBaseUrl, timeout, http }): App {
    const { appId } = config
    const keys = config.alipay as AlipayKeys
    const alipayPublicKey = parseKey(keys.alipayPublicKey, 'public') as KeyObject
    const client = createAlipayClient({ appId, privateKey: parseKey(keys.privateKey, 'private') as KeyObject, alipayPublicKey, apiBaseUrl, timeout, http })
    const contentKey = keys.contentKey === undefined ? undefined : Buffer.from(keys.contentKey, 'base64')
    return Object.freeze({
      appId,
      kind: 'alipay',
      platform: alipay,
      code2Session: client.code2Session,
      accessToken: unsupported(`Mini program ${appId} is an Alipay one: Alipay signs each call with the app's key and has no access token`),
      getPhoneNumber: contentKey === undefined
        ? unsupported(`Mini program ${appId} has no alipay.contentKey: Alipay encrypts phone numbers with the app's content key; configure it to read them`)
        : async (response: string) => alipayPhone(response, alipayPublicKey, contentKey),
      checkSessionKey: unsupported(`Mini program ${appId} is an Alipay one: its sessions hold no session_key to check`)
    })
  }
}
