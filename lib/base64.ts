/**
 * Canonical base64 checks. Decoders (Buffer, jose) are lenient: they drop `=` padding, stray
 * whitespace and the unused low bits of the last character, so many strings decode to the same
 * bytes. Where a string is an identity (a session token) or a secret meets it, only the one
 * canonical spelling is accepted: the one that re-encoding the bytes gives back.
 */

/** The 6-bit value of each base64 and base64url character; -1 for anything else. */
const VALUE = new Int8Array(128).fill(-1)
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i
VALUE[43] = VALUE[45] = 62 // '+', '-'
VALUE[47] = VALUE[95] = 63 // '/', '_'

const BASE64URL = /^[A-Za-z0-9_-]*$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Whether the `length` characters of `text` that carry data end canonically: a length base64 can
 * have, and the last character's unused low bits zero.
 */
function endsCanonically (text: string, length: number): boolean {
  const rest = length % 4
  if (rest === 0) return true
  if (rest === 1) return false
  const last = VALUE[text.charCodeAt(length - 1)] as number
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0
}

/** Canonical unpadded base64url (the empty string included, as a JWE's empty encrypted key). */
export function isBase64url (text: string): boolean {
  return BASE64URL.test(text) && endsCanonically(text, text.length)
}

/** Canonical padded standard base64, as the platforms send `encryptedData`, `iv` and `session_key`. */
export function isBase64 (text: string): boolean {
  if (!BASE64.test(text)) return false
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0
  return endsCanonically(text, text.length - padding)
}
