/**
 * AES-128-CBC encryption with PKCS#7 padding and base64, in ES2017 with no dependency: mini-program
 * base libraries have no AES (the encrypted channel's documentation says to bring one). Encryption
 * only: the client never decrypts, so no table of the inverse cipher is shipped. Checked against
 * Node's OpenSSL in test/client/client-encrypt.test.ts.
 */

const SBOX = new Uint8Array(256)
/** The S-box, computed once (multiplicative inverse in GF(2^8), then the affine map). */
function buildSbox (): void {
  let p = 1
  let q = 1
  do {
    // p * 3, q / 3 in GF(2^8): p runs over every non-zero element, q is its inverse.
    p = p ^ ((p << 1) & 0xff) ^ (p & 0x80 ? 0x1b : 0)
    q ^= q << 1
    q ^= q << 2
    q ^= q << 4
    q &= 0xff
    if (q & 0x80) q ^= 0x09
    const r = (x: number, s: number): number => ((x << s) | (x >> (8 - s))) & 0xff
    SBOX[p] = q ^ r(q, 1) ^ r(q, 2) ^ r(q, 3) ^ r(q, 4) ^ 0x63
  } while (p !== 1)
  SBOX[0] = 0x63
}
buildSbox()

const xtime = (b: number): number => ((b << 1) ^ (b & 0x80 ? 0x1b : 0)) & 0xff

/** The 11 round keys of a 16-byte key, 176 bytes. */
function expandKey (key: Uint8Array): Uint8Array {
  const w = new Uint8Array(176)
  w.set(key)
  let rcon = 1
  for (let i = 16; i < 176; i += 4) {
    let a = w[i - 4] as number
    let b = w[i - 3] as number
    let c = w[i - 2] as number
    let d = w[i - 1] as number
    if (i % 16 === 0) {
      const t = a
      a = (SBOX[b] as number) ^ rcon
      b = SBOX[c] as number
      c = SBOX[d] as number
      d = SBOX[t] as number
      rcon = xtime(rcon)
    }
    w[i] = (w[i - 16] as number) ^ a
    w[i + 1] = (w[i - 15] as number) ^ b
    w[i + 2] = (w[i - 14] as number) ^ c
    w[i + 3] = (w[i - 13] as number) ^ d
  }
  return w
}

/** Encrypts the 16 bytes of `s` in place. */
function encryptBlock (s: Uint8Array, w: Uint8Array): void {
  for (let i = 0; i < 16; i++) s[i] = (s[i] as number) ^ (w[i] as number)
  const t = new Uint8Array(16)
  for (let round = 1; round <= 10; round++) {
    // SubBytes and ShiftRows: byte (row r, column c) moves to column c - r.
    for (let c = 0; c < 4; c++) {
      for (let r = 0; r < 4; r++) t[c * 4 + r] = SBOX[s[((c + r) % 4) * 4 + r] as number] as number
    }
    for (let c = 0; c < 4; c++) {
      const a0 = t[c * 4] as number
      const a1 = t[c * 4 + 1] as number
      const a2 = t[c * 4 + 2] as number
      const a3 = t[c * 4 + 3] as number
      if (round < 10) {
        // MixColumns
        const all = a0 ^ a1 ^ a2 ^ a3
        s[c * 4] = a0 ^ all ^ xtime(a0 ^ a1)
        s[c * 4 + 1] = a1 ^ all ^ xtime(a1 ^ a2)
        s[c * 4 + 2] = a2 ^ all ^ xtime(a2 ^ a3)
        s[c * 4 + 3] = a3 ^ all ^ xtime(a3 ^ a0)
      } else {
        s[c * 4] = a0
        s[c * 4 + 1] = a1
        s[c * 4 + 2] = a2
        s[c * 4 + 3] = a3
      }
    }
    for (let i = 0; i < 16; i++) s[i] = (s[i] as number) ^ (w[round * 16 + i] as number)
  }
}

/** The UTF-8 bytes of a string (engines without TextEncoder). */
export function utf8 (text: string): Uint8Array {
  const bytes: number[] = []
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i)
    const next = text.charCodeAt(i + 1)
    if (code >= 0xd800 && code < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
      code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00)
      i++
    } else if (code >= 0xd800 && code < 0xe000) {
      code = 0xfffd // a lone surrogate, as TextEncoder writes it
    }
    if (code < 0x80) bytes.push(code)
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 63))
    else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63))
    else bytes.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63))
  }
  return new Uint8Array(bytes)
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

export function toBase64 (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) +
      (i + 1 < bytes.length ? ALPHABET.charAt((n >> 6) & 63) : '=') + (i + 2 < bytes.length ? ALPHABET.charAt(n & 63) : '=')
  }
  return out
}

/** Canonical base64 of exactly `length` bytes, decoded; undefined for anything else. */
export function fromBase64 (text: unknown, length: number): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined
  const bytes: number[] = []
  let value = 0
  let bits = 0
  const digits = text.replace(/=+$/, '')
  for (let i = 0; i < digits.length; i++) {
    const v = ALPHABET.indexOf(digits.charAt(i))
    if (v < 0) return undefined
    value = ((value << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      bytes.push((value >> bits) & 0xff)
    }
  }
  const out = new Uint8Array(bytes)
  return out.length === length && toBase64(out) === text ? out : undefined
}

/** AES-128-CBC, PKCS#7: the ciphertext of `plain` under `key` (16 bytes) and `iv` (16 bytes). */
export function encryptCbc (key: Uint8Array, iv: Uint8Array, plain: Uint8Array): Uint8Array {
  const w = expandKey(key)
  const pad = 16 - (plain.length % 16)
  const out = new Uint8Array(plain.length + pad)
  out.set(plain)
  for (let i = plain.length; i < out.length; i++) out[i] = pad
  let previous = iv
  for (let offset = 0; offset < out.length; offset += 16) {
    const block = out.subarray(offset, offset + 16)
    for (let i = 0; i < 16; i++) block[i] = (block[i] as number) ^ (previous[i] as number)
    encryptBlock(block, w)
    previous = block
  }
  return out
}
