import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto'
import { isBase64 } from './base64.js'
import { DecryptFailedError } from './errors.js'

export interface DecryptOptions {
  /** `watermark.appid` must equal it. */
  appId: string
  /** seconds; 0 for no limit */
  watermarkMaxAge: number
}

/** Canonical standard base64 text of exactly `length` bytes (or any whole number of AES blocks when 0). */
function bytesOf (text: unknown, length: number): Buffer | undefined {
  if (typeof text !== 'string' || text === '' || !isBase64(text)) return undefined
  const bytes = Buffer.from(text, 'base64')
  if (length === 0 ? bytes.length % 16 !== 0 : bytes.length !== length) return undefined
  return bytes
}

function failed (reason: string): Error {
  // One error for every reason (no padding oracle); the reason is only a cause for the server log.
  return new DecryptFailedError({ cause: new Error(reason) })
}

/**
 * Decrypts WeChat's `encryptedData` (AES-128-CBC, PKCS#7, key = session_key) and checks its
 * watermark. Any failure is the same `WEAPP_DECRYPT_FAILED`, whatever went wrong.
 */
export function decryptUserData (sessionKey: string, encryptedData: string, iv: string, options: DecryptOptions): Record<string, unknown> {
  return openUserData(sessionKey, encryptedData, iv, options).value
}

/** The decrypted object and the JSON text it was parsed from (what the decrypt route replies). */
export function openUserData (sessionKey: string, encryptedData: string, iv: string, options: DecryptOptions): { value: Record<string, unknown>, text: string } {
  const key = bytesOf(sessionKey, 16)
  const ivBytes = bytesOf(iv, 16)
  const data = bytesOf(encryptedData, 0)
  if (key === undefined || ivBytes === undefined || data === undefined) throw failed('malformed input')

  // Whole blocks in, whole blocks out: PKCS#7 is checked here rather than by final(), which saves a
  // copy of the plaintext on every request. A bad padding is the same error as everything else.
  const decipher = createDecipheriv('aes-128-cbc', key, ivBytes).setAutoPadding(false)
  const plain = decipher.update(data)
  const pad = plain[plain.length - 1] as number
  let badPadding = pad < 1 || pad > 16 ? 1 : 0
  for (let i = plain.length - Math.min(pad, 16); i < plain.length; i++) badPadding |= (plain[i] as number) ^ pad
  if (badPadding !== 0) throw failed('bad padding')
  const text = plain.toString('utf8', 0, plain.length - pad)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw failed('not JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw failed('not a JSON object')
  const watermark = (value as { watermark?: unknown }).watermark
  if (watermark === null || typeof watermark !== 'object' || (watermark as { appid?: unknown }).appid !== options.appId) {
    throw failed('watermark of another appid')
  }
  if (options.watermarkMaxAge > 0) {
    const timestamp = (watermark as { timestamp?: unknown }).timestamp
    if (typeof timestamp !== 'number' || Date.now() / 1000 - timestamp > options.watermarkMaxAge) throw failed('stale watermark')
  }
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
