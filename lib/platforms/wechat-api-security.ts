import { constants, createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, randomBytes, randomInt, sign, verify, type KeyObject } from 'node:crypto'
import { UpstreamError } from '../errors.js'
import { isBase64 } from '../base64.js'
import { unknownName } from '../names.js'
import type { Named } from '../upstream/faults.js'
import { acceptOnce, digest, memoryOnce, type Once } from '../once.js'
import { isFunction, isObject, isSecret } from './platform.js'

/**
 * WeChat's server API security (服务端 API 签名与加密, "API安全" in the admin console), in its
 * AES256_GCM + RSAwithSHA256 form: a request's parameters are encrypted (a fresh 12-byte IV, AAD
 * `urlpath|appid|timestamp|sn`, the plaintext carrying `_n`, `_appid` and `_timestamp` and never the
 * access token) and the ciphertext signed with the app's private key (RSA-PSS, SHA-256, a 32-byte
 * salt, over `urlpath\nappid\ntimestamp\nbody`); an answer is taken only once its signature verifies
 * with the platform certificate its `Wechatmp-Serial` names (or the `-Deprecated` pair during a
 * rollover), it names this app, its timestamp is within MAX_SKEW of this clock, and its plaintext
 * repeats the app and timestamp it was signed with. Anything else fails closed: a 502 that names the
 * check, never the keys. The guide's worked example is a test (test/platforms/api-security.test.ts).
 * What WeChat signs (`urlpath\nappid\ntimestamp\nbody`) names the API and the app, not the request:
 * nothing in it ties an answer to the call (the user, the code) it answers. So each signed answer
 * is accepted once (its signed bytes remembered for the whole window, 2 x MAX_SKEW, fleet-wide with
 * revocation on Redis): an answer delivered again, to this call or another, is a 502.
 */

/** The config of one app's API security, as the admin console gives it. */
export interface WeappApiSecurity {
  /** The symmetric key (API对称密钥): base64 of 32 bytes (AES256_GCM). */
  aesKey: string
  /** Its number (密钥编号) on the console's key page. */
  aesSn: string
  /** The app's private key (API非对称密钥), PEM: PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`). */
  privateKey: string
  /**
   * The platform certificates (开放平台证书) by their number on the console (not the serial inside the
   * certificate), PEM; or a function giving them, asked on every answer (cache in it), for rotation.
   */
  certificates: Readonly<Record<string, string>> | (() => Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>)
}

/** s: how far an answer's timestamp may be from this clock (the guide's window). */
export const MAX_SKEW = 300

/** The answer's headers that carry the platform's signature. */
const H = {
  appId: 'wechatmp-appid',
  timestamp: 'wechatmp-timestamp',
  serial: 'wechatmp-serial',
  signature: 'wechatmp-signature',
  oldSerial: 'wechatmp-serial-deprecated',
  oldSignature: 'wechatmp-signature-deprecated'
} as const

const NAMES = ['aesKey', 'aesSn', 'privateKey', 'certificates']
const SERIAL = /^[\x21-\x7e]{1,64}$/

function rsaKey (make: () => KeyObject): KeyObject | undefined {
  try {
    const key = make()
    return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails as { modulusLength: number }).modulusLength >= 2048 ? key : undefined
  } catch {
    return undefined
  }
}

const privateKeyOf = (pem: string): KeyObject | undefined =>
  pem.includes('-----BEGIN') ? rsaKey(() => createPrivateKey(pem)) : undefined
/** A certificate's (or a public key's) RSA key: the console's platform certificate is X.509 PEM. */
const publicKeyOf = (pem: string): KeyObject | undefined =>
  pem.includes('-----BEGIN') && !pem.includes('PRIVATE KEY') ? rsaKey(() => createPublicKey(pem)) : undefined

const samePublicKey = (a: KeyObject, b: KeyObject): boolean =>
  a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }))

/** Why a map of certificates is not usable: says which serial, never the key. */
function certificatesProblem (certificates: Record<string, unknown>, own: KeyObject | undefined): string | undefined {
  const serials = Object.keys(certificates)
  if (serials.length === 0) return 'apiSecurity.certificates holds no certificate: give the platform certificate from the console by its number'
  for (const serial of serials) {
    const pem = certificates[serial]
    if (!SERIAL.test(serial)) return 'apiSecurity.certificates has a key that is not a certificate number (up to 64 printable characters)'
    const key = typeof pem === 'string' ? publicKeyOf(pem) : undefined
    if (key === undefined) return `apiSecurity.certificates['${serial}'] is not a PEM certificate with an RSA key of 2048 bits or more`
    if (own !== undefined && samePublicKey(key, createPublicKey(own))) {
      return `apiSecurity.certificates['${serial}'] is the app's own public key: give WeChat's platform certificate (downloaded from the console)`
    }
  }
  return undefined
}

/** Why `value` is not an `apiSecurity` config, or undefined when it is. No message repeats key material. */
export function apiSecurityProblem (value: unknown): string | undefined {
  if (!isObject(value)) return 'apiSecurity is not an object { aesKey, aesSn, privateKey, certificates }'
  const extra = unknownName(value, NAMES, 'apiSecurity.')
  if (extra !== undefined) return extra
  const { aesKey, aesSn, privateKey, certificates } = value
  if (typeof aesKey !== 'string' || !isBase64(aesKey) || Buffer.byteLength(aesKey, 'base64') !== 32) {
    return 'apiSecurity.aesKey is not the console\'s symmetric key (base64 of 32 bytes, AES256_GCM; SM4 is not supported)'
  }
  if (!isSecret(aesSn) || !SERIAL.test(aesSn)) return 'apiSecurity.aesSn is not the symmetric key\'s number from the console'
  const own = typeof privateKey === 'string' ? privateKeyOf(privateKey) : undefined
  if (own === undefined) return 'apiSecurity.privateKey is not a PEM RSA private key of 2048 bits or more (PKCS#1 or PKCS#8; SM2 is not supported)'
  if (isFunction(certificates)) return undefined
  if (!isObject(certificates)) return 'apiSecurity.certificates is not an object { [number]: PEM } or a function giving one'
  return certificatesProblem(certificates, own)
}

/** A frozen copy of a valid config. */
export function normalizeApiSecurity (value: unknown): WeappApiSecurity {
  const { aesKey, aesSn, privateKey, certificates } = value as WeappApiSecurity
  return Object.freeze({ aesKey, aesSn, privateKey, certificates: isFunction(certificates) ? certificates : Object.freeze({ ...certificates }) })
}

/** What sealing a request gives: its body and the headers that sign it. */
export interface SealedRequest {
  body: string
  headers: Record<string, string>
  /** s */
  timestamp: number
}

/** Only for the worked example: the random parts of a request, fixed. */
export interface SealChoices { iv?: Buffer, nonce?: string, timestamp?: number }

export interface ApiSecurity {
  /** Encrypts and signs the parameters of a call to `url` (its origin and path: what WeChat signs). */
  seal (url: string, params: Record<string, unknown>, choices?: SealChoices): SealedRequest
  /**
   * The parameters of a signed, encrypted answer, or a 502 saying which check failed. `headers`:
   * the answer's, names in lowercase. Unsigned answers never get here (see `isSigned`).
   */
  open (url: string, api: string, headers: Readonly<Record<string, unknown>>, text: string | undefined): Promise<Record<string, unknown>>
}

/** Whether an answer carries the platform's signature at all. */
export const isSigned = (headers: Readonly<Record<string, unknown>>): boolean =>
  typeof headers[H.signature] === 'string' || typeof headers[H.oldSignature] === 'string'

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING }

export function createApiSecurity (appId: string, config: WeappApiSecurity, named: Named, now: () => number = Date.now, once: Once = memoryOnce(now)): ApiSecurity {
  const key = Buffer.from(config.aesKey, 'base64')
  const privateKey = createPrivateKey(config.privateKey)
  const { aesSn: sn } = config
  const given = config.certificates
  /** Public keys by PEM: a getter's certificates are parsed once each. */
  const parsed = new Map<string, KeyObject | undefined>()

  const refused = (api: string, check: string): Error =>
    new UpstreamError(`${named.title}'s answer to ${api} failed API security's ${check}; it was refused (check apiSecurity: the certificates from the console, this server's clock)`)

  async function certificate (serial: unknown, api: string): Promise<KeyObject | undefined> {
    if (typeof serial !== 'string') return undefined
    let certificates: unknown
    if (typeof given === 'function') {
      try {
        certificates = await given()
      } catch {
        throw new UpstreamError(`apiSecurity.certificates() failed while checking ${named.title}'s answer to ${api}; retry in a moment`)
      }
    } else {
      certificates = given
    }
    const pem = isObject(certificates) && Object.hasOwn(certificates, serial) ? certificates[serial] : undefined
    if (typeof pem !== 'string') return undefined
    if (!parsed.has(pem)) {
      if (parsed.size >= 16) parsed.clear()
      parsed.set(pem, publicKeyOf(pem))
    }
    return parsed.get(pem)
  }

  return {
    seal (url, params, choices = {}) {
      const timestamp = choices.timestamp ?? Math.floor(now() / 1000)
      const iv = choices.iv ?? randomBytes(12)
      // 16 to 32 random bytes, base64, as the guide recommends.
      const nonce = choices.nonce ?? randomBytes(randomInt(16, 33)).toString('base64')
      const plaintext = JSON.stringify({ _n: nonce, _appid: appId, _timestamp: timestamp, ...params })
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.setAAD(Buffer.from(`${url}|${appId}|${timestamp}|${sn}`))
      const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      const body = JSON.stringify({ iv: iv.toString('base64'), data: data.toString('base64'), authtag: cipher.getAuthTag().toString('base64') })
      const signature = sign('sha256', Buffer.from(`${url}\n${appId}\n${timestamp}\n${body}`), { key: privateKey, ...PSS, saltLength: 32 })
      return {
        body,
        timestamp,
        headers: { 'Wechatmp-Appid': appId, 'Wechatmp-TimeStamp': String(timestamp), 'Wechatmp-Signature': signature.toString('base64') }
      }
    },

    async open (url, api, headers, text) {
      if (headers[H.appId] !== appId) return await Promise.reject(refused(api, 'app check (the answer names another app)'))
      const stamp = headers[H.timestamp]
      const timestamp = typeof stamp === 'string' && /^\d{1,12}$/.test(stamp) ? Number(stamp) : Number.NaN
      if (!(Math.abs(Math.floor(now() / 1000) - timestamp) <= MAX_SKEW)) {
        throw refused(api, `timestamp check (more than ${MAX_SKEW} s from this server's clock)`)
      }
      // The current certificate's signature, or during a rollover the one of the certificate this server still has.
      let publicKey = await certificate(headers[H.serial], api)
      let signature = headers[H.signature]
      if (publicKey === undefined) {
        publicKey = await certificate(headers[H.oldSerial], api)
        signature = headers[H.oldSignature]
      }
      if (publicKey === undefined) throw refused(api, 'certificate check (signed with a certificate apiSecurity.certificates does not hold)')
      const signed = Buffer.from(`${url}\n${appId}\n${timestamp}\n${text ?? ''}`)
      if (typeof signature !== 'string' || text === undefined ||
          !verify('sha256', signed, { key: publicKey, ...PSS, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, Buffer.from(signature, 'base64'))) {
        throw refused(api, 'signature check')
      }
      const sealed = parseObject(text)
      const { iv, data, authtag } = sealed ?? {}
      let plaintext: string
      try {
        if (typeof iv !== 'string' || typeof data !== 'string' || typeof authtag !== 'string') throw new Error('not sealed')
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'), { authTagLength: 16 })
        decipher.setAAD(Buffer.from(`${url}|${appId}|${timestamp}|${sn}`))
        decipher.setAuthTag(Buffer.from(authtag, 'base64'))
        plaintext = Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8')
      } catch {
        throw refused(api, 'decryption (not encrypted with apiSecurity.aesKey for this call)')
      }
      const answer = parseObject(plaintext)
      if (answer === undefined) throw refused(api, 'decryption (not a JSON object)')
      const { _n: _nonce, _appid: ownApp, _timestamp: ownTime, ...fields } = answer
      if (ownApp !== appId || ownTime !== timestamp) throw refused(api, 'plaintext check (_appid or _timestamp differs from what was signed)')
      // The whole window either side of its timestamp: past it the timestamp check refuses it anyway.
      await acceptOnce(once, `wechat:api:${digest(signed.toString('utf8'))}`, 2 * MAX_SKEW * 1000, `${named.title}'s answer to ${api}`, () =>
        refused(api, 'replay check (the same signed answer was accepted before)'))
      return fields
    }
  }
}

function parseObject (text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return isObject(value) ? value : undefined
  } catch {
    return undefined
  }
}
