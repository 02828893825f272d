import { createDecipheriv, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { isBase64 } from '../base64.js'
import { InvalidCodeError, refuseSession, UpstreamError } from '../errors.js'
import { unknownName } from '../names.js'
import { acceptOnce, digest, type Once } from '../once.js'
import { CLOCK_SKEW } from '../clock.js'
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
 *   expired auth code; success carries `user_id` (older apps) or `open_id` (apps in OpenID mode),
 *   and `access_token`, `expires_in` (its life in seconds), `refresh_token`, `re_expires_in`,
 *   `auth_start` ("授权token开始时间，作为有效期计算的起点": the start of that life, Beijing time
 *   `yyyy-MM-dd HH:mm:ss`), `union_id` where the app is in a group, `auth_token_type: 'permanent'`
 *   for tokens that never expire (alipay-sdk-java-all, AlipaySystemOauthTokenResponse, 2024-03-01;
 *   `expires_in` is a string there, a number in alipay-sdk-nodejs's answers: both are read);
 * - `my.getPhoneNumber()` gives a string `{ "response": "<base64>", "sign": "…", … }`: `sign` signs
 *   the JSON string `"<base64>"` (quotes included), the base64 is AES-128-CBC under the app's content
 *   key with a zero IV, PKCS#7, and it opens to `{ code: "10000", msg, mobile }`.
 * Unlike alipay-sdk, an answer is never used unverified: without `alipayPublicKey` an app does not
 * register, and a success whose signature does not verify is a 502. The user is read from exactly
 * the bytes whose signature verified (never from a parse of the whole answer, which keeps the last
 * of two members of one name); an answer with a method node, `error_response` or `sign` twice at its
 * top level (after unescaping names) is a 502. Nothing in a signed answer names the call or its
 * code, so a success is accepted once (its signed bytes remembered, fleet-wide with revocation on
 * Redis) and only from `auth_start` to `auth_start + expires_in` (CLOCK_SKEW either side): an answer
 * outside that window, or one seen before, is a 502. Each code exchange yields a new access_token,
 * so two genuine logins never send the same bytes.
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

/**
 * The top-level members of a JSON object's text, in order: each name (unescaped, so `"\u0061"` is
 * `a`) with the exact text of its value; undefined where a member's text does not end.
 */
export function members (text: string): Array<[string, string]> | undefined {
  const found: Array<[string, string]> = []
  let depth = 0
  let at = 0
  while (at < text.length) {
    const char = text[at] as string
    if (char === '"') {
      const end = stringEnd(text, at)
      if (end === -1) return undefined
      if (depth === 1) {
        let colon = end
        while (/\s/.test(text.charAt(colon))) colon++
        if (text[colon] === ':') {
          const value = valueText(text, colon + 1)
          if (value === undefined) return undefined
          found.push([JSON.parse(text.slice(at, end)) as string, value])
        }
      }
      at = end
      continue
    }
    if (char === '{' || char === '[') depth++
    if (char === '}' || char === ']') depth--
    at++
  }
  return found
}

/** The exact text of a top-level member's value in a JSON object's text (the first of that name), or undefined. */
export function memberText (text: string, name: string): string | undefined {
  return members(text)?.find(([member]) => member === name)?.[1]
}

/** A top-level member: the exact text of its value, and the value read from that text (and nothing else). */
export function signedMember (text: string, name: string): { raw: string, value: unknown } | undefined {
  const raw = memberText(text, name)
  return raw === undefined ? undefined : { raw, value: JSON.parse(raw) }
}

/** The top-level members of an answer that must be there once at most. */
const ONCE_EACH = [NODE, 'error_response', 'sign']

/** The first of `names` that `text` has twice or more at its top level, or undefined. */
export function duplicated (text: string, names: readonly string[]): string | undefined {
  const found = (members(text) ?? []).map(([name]) => name)
  return names.find((name) => found.indexOf(name) !== found.lastIndexOf(name))
}

/** ms since the epoch of a Beijing time `yyyy-MM-dd HH:mm:ss`, or NaN. */
function fromBeijing (value: unknown): number {
  const parts = typeof value === 'string' ? /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(value) : null
  if (parts === null) return Number.NaN
  const [y, mo, d, h, mi, s] = parts.slice(1).map(Number) as [number, number, number, number, number, number]
  return Date.UTC(y, mo - 1, d, h, mi, s) - 8 * 3600_000
}

/** Seconds given as a number or a string of digits (Alipay's SDKs read both), or NaN. */
function seconds (value: unknown): number {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : Number.NaN
  return typeof value === 'string' && /^[1-9]\d{0,11}$/.test(value) ? Number(value) : Number.NaN
}

/**
 * Until when (ms) a signed success can be valid: its access token's life, `auth_start` plus
 * `expires_in`, and CLOCK_SKEW past it. A 502 where it does not say, or `time` is outside it.
 */
export function validUntil (node: Record<string, unknown>, time: number): number {
  const start = fromBeijing(node.auth_start)
  const end = start + seconds(node.expires_in) * 1000 + CLOCK_SKEW
  if (Number.isNaN(end)) throw unusable(NAMED, METHOD, 'a usable auth_start and expires_in')
  if (!(start - CLOCK_SKEW <= time && time < end)) {
    throw new UpstreamError(`Alipay's answer to ${METHOD} failed its time check (this server's time is outside auth_start to auth_start + expires_in, give or take ${CLOCK_SKEW / 1000} s): it was refused (an old answer delivered again, or this server's clock is off)`)
  }
  return end
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
  /** Remembers the answers accepted (see lib/once.ts). */
  once: Once
  now?: () => number
}

/** The identity in a verified `alipay.system.oauth.token` answer. */
function identityOf (node: Record<string, unknown>): AlipayIdentity {
  const { open_id: openId, user_id: userId } = node
  if (typeof openId === 'string' && openId !== '') return { platform: 'alipay', openid: openId, idType: 'open_id' }
  if (typeof userId === 'string' && userId !== '') return { platform: 'alipay', openid: userId, idType: 'user_id' }
  throw unusable(NAMED, METHOD, 'a usable open_id or user_id')
}

/** `alipay.system.oauth.token`, signed both ways: an auth code of `my.getAuthCode()` for the user. Never retried. */
export function createAlipayClient ({ appId, privateKey, alipayPublicKey, apiBaseUrl, timeout, http, once, now = Date.now }: AlipayClientOptions): { code2Session (code: string): Promise<AlipayIdentity> } {
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
      // JSON.parse keeps the last of two members of one name, the signature covers one: two is a forgery.
      const twice = duplicated(text as string, ONCE_EACH)
      if (twice !== undefined) {
        throw new UpstreamError(`Alipay's answer to ${METHOD} failed its duplicate check (${twice} twice at its top level): it was refused, as only one can be what Alipay signed; something between this server and Alipay altered the answer`)
      }
      const name = body[NODE] !== undefined ? NODE : 'error_response'
      // The node is read from the very text whose signature is checked.
      const member = signedMember(text as string, name)
      const node = member?.value
      if (!isObject(node) || member === undefined) throw unusable(NAMED, METHOD, `a ${NODE}`)
      const failed = node.sub_code !== undefined || (node.code !== undefined && node.code !== '10000')
      // Fail closed: a success is used only when Alipay's signature of it verifies. The gateway
      // leaves some refusals unsigned (an unknown app); a signed one must verify all the same.
      if ((!failed || body.sign !== undefined) && !verified(member.raw, body.sign, alipayPublicKey)) {
        throw new UpstreamError(`Alipay's answer to ${METHOD} failed its signature check: check alipayPublicKey (Alipay's public key, not the app's), or something between this server and Alipay altered the answer`)
      }
      if (failed) checkAnswer({ sub_code: node.sub_code ?? node.code, sub_msg: node.sub_msg ?? node.msg }, call)
      const identity = identityOf(node)
      const time = now()
      const until = validUntil(node, time)
      await acceptOnce(once, `alipay:login:${digest(member.raw)}`, until - time, 'Alipay\'s answer to the login', () =>
        new UpstreamError(`Alipay's answer to ${METHOD} failed its replay check (the same signed answer was accepted before): it was refused; something between this server and Alipay delivered it again`))
      return identity
    })
  }
}

const PHONE_ERRORS = errcodes(NAMED, { field: 'code', success: '10000', required: true, misconfigured: ['40001', '40002'], busy: ['20000'], check: 'the app\'s contentKey, its signing settings and its phone-number access in Alipay\'s console' })

/** One uniform failure for a phone answer that does not verify or open: the reason is only a cause for the server log. */
const refused = (reason: string): Error => refuseSession('decryptFailed', NAMED, { cause: new Error(reason) })

/**
 * ms: how long a phone response is remembered once accepted. It carries no time and names no user
 * (it proves only that someone held it), and it is the same bytes each time for one number (AES-CBC
 * with a zero IV, a deterministic RSA2 signature), so a replay cannot be told from the user asking
 * again: it is refused within this bound (a re-delivery), and accepted again after it.
 */
export const PHONE_ONCE = 10 * 60_000

/**
 * The phone number in `my.getPhoneNumber()`'s response: its signature verified with Alipay's key
 * (so the ciphertext is Alipay's: no padding oracle reaches the content key), then decrypted; each
 * response accepted once within PHONE_ONCE.
 */
export async function alipayPhone (response: string, alipayPublicKey: KeyObject, contentKey: Buffer, once: Once): Promise<WeappPhone> {
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
  await acceptOnce(once, `alipay:phone:${digest(encrypted)}`, PHONE_ONCE, 'this my.getPhoneNumber() response', () =>
    new InvalidCodeError('This my.getPhoneNumber() response was accepted before, and each is accepted once (like a phone code): call my.getPhoneNumber() again for a new one'))
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

export const alipay: Platform<{ origin: 'alipay', users: { identity: AlipayIdentity, session: AlipaySession }, config: AlipayAppConfig }> = {
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
  create (config, { apiBaseUrl, timeout, http, once }): App {
    const { appId } = config
    const keys = config.alipay as AlipayKeys
    const alipayPublicKey = parseKey(keys.alipayPublicKey, 'public') as KeyObject
    const client = createAlipayClient({ appId, privateKey: parseKey(keys.privateKey, 'private') as KeyObject, alipayPublicKey, apiBaseUrl, timeout, http, once })
    const contentKey = keys.contentKey === undefined ? undefined : Buffer.from(keys.contentKey, 'base64')
    return Object.freeze({
      appId,
      kind: 'alipay',
      platform: alipay,
      code2Session: client.code2Session,
      accessToken: unsupported(`Mini program ${appId} is an Alipay one: Alipay signs each call with the app's key and has no access token`),
      getPhoneNumber: contentKey === undefined
        ? unsupported(`Mini program ${appId} has no alipay.contentKey: Alipay encrypts phone numbers with the app's content key; configure it to read them`)
        : async (response: string) => await alipayPhone(response, alipayPublicKey, contentKey, once),
      checkSessionKey: unsupported(`Mini program ${appId} is an Alipay one: its sessions hold no session_key to check`)
    })
  }
}
