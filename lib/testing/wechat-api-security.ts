import { constants, createCipheriv, createDecipheriv, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { parseJson } from './data.js'
import type { MockSecurityFault } from './server.js'

/**
 * WeChat's API security as the mock speaks it, for one app: it checks a request's signature with the
 * app's public key and decrypts it, and seals and signs its answer with a test platform key (during a
 * rollover with both the new and the old one). What a fault asks for spoils one check of the answer.
 */

export type { MockSecurityFault }

interface PlatformKey { serial: string, privateKey: KeyObject, pem: string }

const newPlatformKey = (): PlatformKey => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { serial: randomBytes(16).toString('hex'), privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING }

/** What the plugin's `apiSecurity` option takes for this app. */
export interface MockApiSecurityConfig {
  aesKey: string
  aesSn: string
  privateKey: string
  certificates: Record<string, string>
}

export class MockApiSecurity {
  readonly appId: string
  readonly #key = randomBytes(32)
  readonly #sn = randomBytes(16).toString('hex')
  readonly #appPrivate: string
  readonly #appPublic: KeyObject
  /** The current platform key, and during a rollover the one going out. */
  #current = newPlatformKey()
  #deprecated: PlatformKey | undefined

  constructor (appId: string) {
    this.appId = appId
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    this.#appPrivate = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    this.#appPublic = publicKey
  }

  /** The plugin's `apiSecurity` for this app: its keys and the current platform certificate (a public key PEM). */
  config (): MockApiSecurityConfig {
    return { aesKey: this.#key.toString('base64'), aesSn: this.#sn, privateKey: this.#appPrivate, certificates: { [this.#current.serial]: this.#current.pem } }
  }

  /** The platform certificates by number: the current one, and during a rollover the old one. */
  certificates (): Record<string, string> {
    const all = { [this.#current.serial]: this.#current.pem }
    if (this.#deprecated !== undefined) all[this.#deprecated.serial] = this.#deprecated.pem
    return all
  }

  /** Starts a certificate rollover: a new platform key signs, and the old one too (the `-Deprecated` headers). */
  rollover (): void {
    this.#deprecated = this.#current
    this.#current = newPlatformKey()
  }

  /** Ends the rollover: only the new key signs. */
  endRollover (): void {
    this.#deprecated = undefined
  }

  /**
   * The parameters of a sealed request to `url`, or the errcode WeChat answers: 40231-40233 for a
   * missing header, 40236 another app, 40240 a stale timestamp, 40234 a bad signature, 40235 bad encryption.
   */
  open (url: string, headers: IncomingHttpHeaders, body: string): Record<string, unknown> | number {
    const appId = headers['wechatmp-appid']
    const stamp = headers['wechatmp-timestamp']
    const signature = headers['wechatmp-signature']
    if (typeof stamp !== 'string') return 40231
    if (typeof signature !== 'string') return 40232
    if (typeof appId !== 'string') return 40233
    if (appId !== this.appId) return 40236
    const timestamp = Number(stamp)
    if (!(Math.abs(Date.now() / 1000 - timestamp) <= 300)) return 40240
    if (!verify('sha256', Buffer.from(`${url}\n${appId}\n${stamp}\n${body}`), { key: this.#appPublic, ...PSS, saltLength: 32 }, Buffer.from(signature, 'base64'))) return 40234
    const sealed = parseJson(body)
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(String(sealed?.iv), 'base64'))
      decipher.setAAD(Buffer.from(`${url}|${appId}|${stamp}|${this.#sn}`))
      decipher.setAuthTag(Buffer.from(String(sealed?.authtag), 'base64'))
      // Not a JSON object: reading its fields throws, and that is 40235 too.
      const plain = parseJson(Buffer.concat([decipher.update(Buffer.from(String(sealed?.data), 'base64')), decipher.final()]).toString('utf8')) as Record<string, unknown>
      if ([plain._appid === appId, plain._timestamp === timestamp, typeof plain._n === 'string'].includes(false)) return 40235
      const { _n: _nonce, _appid: _app, _timestamp: _time, ...params } = plain
      return params
    } catch {
      return 40235
    }
  }

  /** The answer's headers and body, sealed and signed (and spoiled as `fault` says). */
  seal (url: string, answer: Record<string, unknown>, fault?: MockSecurityFault): { headers: Record<string, string>, body: string } {
    const timestamp = Math.floor(Date.now() / 1000) - (fault === 'stale' ? 301 : 0)
    const appId = fault === 'other-app' ? 'wx0000000000000000' : this.appId
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(`${url}|${appId}|${timestamp}|${this.#sn}`))
    const plaintext = JSON.stringify({ _n: randomBytes(16).toString('base64'), _appid: fault === 'plaintext-app' ? 'wx0000000000000000' : appId, _timestamp: timestamp, ...answer })
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    if (fault === 'tampered') data[0] = (data[0] as number) ^ 1
    const body = JSON.stringify({ iv: iv.toString('base64'), data: data.toString('base64'), authtag: cipher.getAuthTag().toString('base64') })
    const headers: Record<string, string> = { 'Wechatmp-Appid': appId, 'Wechatmp-TimeStamp': String(timestamp) }
    if (fault === 'unsigned') return { headers, body }
    const signed = Buffer.from(`${url}\n${appId}\n${timestamp}\n${fault === 'bad-signature' ? `${body} ` : body}`)
    const by = fault === 'unknown-serial' ? newPlatformKey() : this.#current
    headers['Wechatmp-Serial'] = by.serial
    headers['Wechatmp-Signature'] = sign('sha256', signed, { key: by.privateKey, ...PSS, saltLength: 32 }).toString('base64')
    if (this.#deprecated !== undefined) {
      headers['Wechatmp-Serial-Deprecated'] = this.#deprecated.serial
      headers['Wechatmp-Signature-Deprecated'] = sign('sha256', signed, { key: this.#deprecated.privateKey, ...PSS, saltLength: 32 }).toString('base64')
    }
    return { headers, body }
  }
}
