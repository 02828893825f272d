import { createHash, randomBytes } from 'node:crypto'
import { InvalidOptionError } from './errors.js'

/** Key material as users give it: 32 raw bytes, or their base64 / base64url text. */
export type KeyInput = string | Uint8Array

/** One sealing key: its 32 bytes and the `kid` derived from them. */
export interface SessionKey {
  readonly kid: string
  readonly secret: Uint8Array
}

const KEY_BYTES = 32
const BASE64_32 = /^[A-Za-z0-9+/_-]{43}=?$/

/** A fresh random key as base64url text, for the `key` option (what `fastify-weapp keygen` prints). */
export function generateKey (): string {
  return randomBytes(KEY_BYTES).toString('base64url')
}

/**
 * The `kid` of a key: 16 base64url characters of SHA-256 over a label and the key. It names the key
 * in the token header so that unsealing needs no trial decryption, and reveals nothing about it.
 */
export function deriveKid (secret: Uint8Array): string {
  return createHash('sha256').update('fastify-weapp kid v1\0').update(secret).digest('base64url').slice(0, 16)
}

/** Whether the bytes repeat with a period of 16 or less (`abcabc…`, two equal halves). */
function periodic (key: Uint8Array): boolean {
  for (let period = 1; period <= KEY_BYTES / 2; period++) {
    let repeats = true
    for (let i = period; i < key.length && repeats; i++) repeats = key[i] === key[i - period]
    if (repeats) return true
  }
  return false
}

/**
 * Refuses key material that is plainly not random: 32 random bytes hold about 30 distinct values
 * (fewer than 16 happens by chance about once in 3 * 10^16 keys) and never repeat a short pattern.
 * It catches an all-zero buffer, a repeated byte, a pasted pattern, most keys typed by hand.
 */
function random (key: Uint8Array, name: string): Uint8Array {
  if (new Set(key).size < 16 || periodic(key)) {
    throw new InvalidOptionError(`${name} is not random (a repeated byte or a short pattern); generate one with "npx fastify-weapp keygen"`)
  }
  return key
}

function decodeKey (input: unknown, name: string): Uint8Array {
  if (typeof input === 'string') {
    const text = input.trim()
    const url = text.replace(/=$/, '').replace(/\+/g, '-').replace(/\//g, '_')
    const bytes = BASE64_32.test(text) ? Buffer.from(url, 'base64url') : undefined
    // Re-encoding must give the same text: a 43rd character with stray low bits is not a key.
    if (bytes === undefined || bytes.length !== KEY_BYTES || bytes.toString('base64url') !== url) {
      throw new InvalidOptionError(`${name} must be the base64 or base64url text of exactly 32 bytes (generate one with "npx fastify-weapp keygen")`)
    }
    return random(new Uint8Array(bytes), name)
  }
  if (input instanceof Uint8Array) {
    if (input.byteLength !== KEY_BYTES) {
      throw new InvalidOptionError(`${name} must be exactly 32 bytes, got ${input.byteLength}`)
    }
    return random(new Uint8Array(input), name) // a copy: later changes to the caller's buffer do not change the key
  }
  throw new InvalidOptionError(`${name} must be a string or a Uint8Array of 32 bytes`)
}

/**
 * The `key` option as a list of keys, the sealing key first. Every key opens tokens; duplicates are
 * refused because they point at a mistake in a rotation.
 */
export function parseKeys (input: unknown): readonly SessionKey[] {
  if (input === undefined || input === null) {
    throw new InvalidOptionError('key is required: a 32-byte key, or an array of them with the sealing key first (generate one with "npx fastify-weapp keygen")')
  }
  const list: unknown[] = Array.isArray(input) ? input : [input]
  if (list.length === 0) throw new InvalidOptionError('key must not be an empty array')
  const keys: SessionKey[] = []
  const seen = new Set<string>()
  list.forEach((item, i) => {
    const secret = decodeKey(item, Array.isArray(input) ? `key[${i}]` : 'key')
    const kid = deriveKid(secret)
    if (seen.has(kid)) throw new InvalidOptionError(`key[${i}] repeats an earlier key`)
    seen.add(kid)
    keys.push(Object.freeze({ kid, secret }))
  })
  return Object.freeze(keys)
}
