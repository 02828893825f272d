import { createDecipheriv } from 'node:crypto'
import { isUtf8 } from 'node:buffer'
import type { JWTPayload } from 'jose'
import type { SessionKey } from './keys.js'
import { isBase64url } from './base64.js'

/** The protected header the plugin writes for a key, as its base64url segment. */
export function headerSegment (kid: string): string {
  return Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid })).toString('base64url')
}

const IV_CHARS = 16 // 12 bytes
const TAG_CHARS = 22 // 16 bytes
const DOT = 46

/**
 * Opens exactly the token shape the plugin issues, with node:crypto (about 15x cheaper than jose on
 * WebCrypto), and checks the claims as jose would. It only ever accepts: for anything it is not
 * sure of (another header, another shape, a failed tag, an expired or odd claim set) it answers
 * `undefined` and jose decides. `test/session/fast-unseal.test.ts` checks it against jose on thousands of
 * generated tokens.
 */
export function createFastUnseal (keys: readonly SessionKey[], audience: readonly string[] | undefined): (token: string, now?: number) => JWTPayload | undefined {
  const apps = audience === undefined ? undefined : new Set(audience)
  const byHeader = new Map(keys.map((k) => {
    const header = headerSegment(k.kid)
    return [header, { secret: k.secret, aad: Buffer.from(header, 'latin1') }]
  }))

  /** `now`: the current time in seconds (tests compare it with jose under one clock). */
  return function fastUnseal (token, now = Math.floor(Date.now() / 1000)) {
    const headerEnd = token.indexOf('.')
    const header = token.slice(0, headerEnd)
    const known = byHeader.get(header)
    const ivStart = headerEnd + 2
    const ivEnd = ivStart + IV_CHARS
    const tagStart = token.length - TAG_CHARS
    if (known === undefined || token.charCodeAt(headerEnd + 1) !== DOT || token.charCodeAt(ivEnd) !== DOT ||
        token.charCodeAt(tagStart - 1) !== DOT || tagStart - 1 <= ivEnd + 1) {
      return undefined
    }
    const iv = token.slice(ivStart, ivEnd)
    const ciphertext = token.slice(ivEnd + 1, tagStart - 1)
    const tag = token.slice(tagStart)
    // Canonical base64url only (Buffer would drop a stray character or low bits).
    if (!isBase64url(iv) || !isBase64url(tag) || !isBase64url(ciphertext)) return undefined

    let plain: Buffer
    try {
      const decipher = createDecipheriv('aes-256-gcm', known.secret, Buffer.from(iv, 'base64url'), { authTagLength: 16 })
      decipher.setAAD(known.aad)
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      plain = decipher.update(Buffer.from(ciphertext, 'base64url'))
      decipher.final() // GCM yields nothing more here; it checks the tag and throws if it fails
    } catch {
      return undefined
    }
    if (!isUtf8(plain)) return undefined // jose decodes strictly
    let claims: unknown
    try {
      claims = JSON.parse(plain.toString('utf8'))
    } catch {
      return undefined
    }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return undefined
    const { aud, exp, iat, nbf } = claims as JWTPayload
    // What jose checks for this plugin's options, in the only form the plugin writes.
    if (typeof aud !== 'string' || aud === '' || (apps !== undefined && !apps.has(aud)) || typeof iat !== 'number' || typeof exp !== 'number' || nbf !== undefined ||
        !Object.hasOwn(claims, 'sub') || exp <= now) {
      return undefined
    }
    return claims as JWTPayload
  }
}
