import { createCipheriv, createHash, randomBytes } from 'node:crypto'

/** What the mock's platforms encrypt: `encryptedData` and its `iv`, both base64. */
export interface EncryptedUserData {
  encryptedData: string
  iv: string
}

/** A random session_key: base64 of 16 bytes, as the platforms issue them. */
export function randomSessionKey (): string {
  return randomBytes(16).toString('base64')
}

/** Encrypts `data` the way the platforms do: AES-128-CBC, PKCS#7, key = the session_key's 16 bytes. */
export function encryptUserData (sessionKey: string, data: unknown, iv: Buffer = randomBytes(16)): EncryptedUserData {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv)
  const encrypted = Buffer.concat([cipher.update(JSON.stringify(data), 'utf8'), cipher.final()])
  return { encryptedData: encrypted.toString('base64'), iv: iv.toString('base64') }
}

/** The rawData signature: `sha1(rawData + session_key)` in hex. */
export function signRawData (rawData: string, sessionKey: string): string {
  return createHash('sha1').update(rawData + sessionKey, 'utf8').digest('hex')
}

/** A request id, as the platforms append to error messages. */
export function rid (): string {
  return `${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`
}

export function parseJson (text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}
