import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto'
import { isBase64 } from './base64.js'
import { refuseSession } from './errors.js'

export interface DecryptOptions {
  /** `watermark.appid` must equal it. */
  appId: string
  /** seconds; 0 for no limit */
  watermarkMaxAge: number
  /**
   * Data without a watermark is accepted (a platform that documents none); one that is there is
   * checked all the same. Default false.
   */
  watermarkOptional?: boolean
}

/** Canonical standard base64 text of exactly `length` bytes (or any whole number of AES blocks when 0). */
export function bytesOf (text: unknown, length: number): Buffer | undefined {
  if (typeof text !== 'string' || text === '' || !isBase64(text)) return undefined
  const bytes = Buffer.from(text, 'base64')
  if (length === 0 ? bytes.length % 16 !== 0 : bytes.length !== length) return undefined
  return bytes
}

export function failed (reason: string): Error {
  // One error for every reason (no padding oracle); the reason is only a cause for the server log.
  return refuseSession('decryptFailed', undefined, { cause: new Error(reason) })
}

/**
 * Decrypts a platform's `encryptedData` (AES-128-CBC, PKCS#7, key = session_key) and checks its
 * watermark. Any failure is the same `WEAPP_DECRYPT_FAILED`, whatever went wrong.
 */
export function decryptUserData (sessionKey: string, encryptedData: string, iv: string, options: DecryptOptions): Record<string, unknown> {
  return openUserData(sessionKey, encryptedData, iv, options).value
}

/** How far in the future a watermark may be (clock skew between the platform and this server), in seconds. */
export const WATERMARK_SKEW = 300

/**
 * 1 when the end of `plain` holds valid PKCS#7 padding for `blockSize`-byte blocks (16, AES's; 32
 * where a platform pads to 32-byte blocks), else 0, in constant time: the same last `blockSize` bytes are read and the same
 * operations run whatever the padding is. `plain` is at least `blockSize` bytes.
 */
export function paddingValid (plain: Buffer, blockSize = 16): number {
  const end = plain.length - 1
  const pad = plain[end] as number
  // pad must be 1..blockSize: (pad - 1) and (blockSize - pad) are both non-negative.
  let bad = ((pad - 1) | (blockSize - pad)) >>> 31
  for (let i = 0; i < blockSize; i++) {
    const inPadding = (i - pad) >>> 31 // 1 while i < pad
    const differs = (((plain[end - i] as number) ^ pad) + 0xff) >>> 8 // 1 when the byte is not pad
    bad |= inPadding & differs
  }
  return bad ^ 1
}

/**
 * AES-128-CBC of whole blocks, its PKCS#7 padding judged in constant time, and the whole plaintext
 * decoded and parsed whatever the verdict: the work is the same until the caller's one uniform failure.
 */
function openCbc (key: Buffer, iv: Buffer, data: Buffer): { valid: number, text: string, value: unknown } {
  // Whole blocks in, whole blocks out: PKCS#7 is checked here rather than by final(), which saves a
  // copy of the plaintext and keeps the check's cost independent of the verdict.
  const plain = createDecipheriv('aes-128-cbc', key, iv).setAutoPadding(false).update(data)
  const valid = paddingValid(plain)
  // With bad padding, the whole plaintext is decoded and parsed all the same (it then fails).
  const length = plain.length - ((plain[plain.length - 1] as number) & -valid)
  const text = plain.toString('utf8', 0, length)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {}
  return { valid, text, value }
}

/**
 * What the mini program encrypted with the user's encrypt key (`getLatestUserKey()`): AES-128-CBC,
 * PKCS#7, a 16-byte IV of its own, JSON inside. The same uniform failure as the decrypt route.
 */
export function openChannel (encryptKey: string, iv: unknown, encryptedData: unknown): unknown {
  const key = bytesOf(encryptKey, 16)
  const ivBytes = bytesOf(iv, 16)
  const data = bytesOf(encryptedData, 0)
  if (key === undefined || ivBytes === undefined || data === undefined) throw failed('malformed input')
  const { valid, value } = openCbc(key, ivBytes, data)
  if (valid !== 1) throw failed('bad padding')
  if (value === undefined) throw failed('not JSON')
  return value
}

/**
 * The decrypted object and the JSON text it was parsed from (what the decrypt route replies).
 *
 * No padding oracle: whether the padding is valid is computed in constant time, and the same work
 * follows either way (the whole plaintext is decoded and parsed, the watermark read) before one
 * uniform failure. Without that, a long ciphertext costs measurably more to refuse when only its
 * last block's padding is valid, which is enough to forge "platform-encrypted" data (CBC-R).
 */
export function openUserData (sessionKey: string, encryptedData: string, iv: string, options: DecryptOptions): { value: Record<string, unknown>, text: string } {
  const key = bytesOf(sessionKey, 16)
  const ivBytes = bytesOf(iv, 16)
  const data = bytesOf(encryptedData, 0)
  // Only the input's shape is judged here, never anything the key decides.
  if (key === undefined || ivBytes === undefined || data === undefined) throw failed('malformed input')

  const { valid, text, value } = openCbc(key, ivBytes, data)
  const watermark = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as { watermark?: unknown }).watermark : undefined
  const mark = watermark !== null && typeof watermark === 'object' ? watermark as { appid?: unknown, timestamp?: unknown } : {}
  const { appid, timestamp } = mark
  const marked = watermark !== undefined
  let fresh = true
  if (options.watermarkMaxAge > 0 && marked) {
    const age = Date.now() / 1000 - (typeof timestamp === 'number' ? timestamp : Number.NaN)
    // Neither stale nor from the future: a forged future timestamp would stay "fresh" forever.
    fresh = age <= options.watermarkMaxAge && age >= -WATERMARK_SKEW
  }
  // One error for every reason: the reason is only a cause for the server log.
  if (valid !== 1) throw failed('bad padding')
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw failed('not a JSON object')
  if (!marked && options.watermarkOptional !== true) throw failed('no watermark')
  if (marked && appid !== options.appId) throw failed('watermark of another appid')
  if (!fresh) throw failed('watermark too old or in the future')
  return { value: value as Record<string, unknown>, text }
}

const SIGNATURE = /^[0-9a-fA-F]{40}$/

/** Whether `signature === sha1(rawData + sessionKey)` (hex), compared in constant time. */
export function verifySignature (rawData: string, signature: string, sessionKey: string): boolean {
  if (typeof rawData !== 'string' || typeof sessionKey !== 'string' || typeof signature !== 'string' || !SIGNATURE.test(signature)) {
    return false
  }
  const expected = createHash('sha1').update(rawData + sessionKey, 'utf8').digest()
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'))
}
