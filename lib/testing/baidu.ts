import { createCipheriv, randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { mockApp, type MockApp } from './apps.js'
import type { EncryptedUserData } from './data.js'
import { sendJson, type Endpoint, type MockCall } from './server.js'
import type { MockState } from './state.js'

/**
 * Baidu smart programs: `jscode2sessionkey` (a form of `code, client_id, sk`, OAuth 2.0's error
 * names), 24-byte session keys, and user data as Baidu encrypts it (AES-192-CBC, PKCS#7 to 32-byte
 * blocks; 16 random bytes, the data's length, the data, the AppKey).
 */

/** A Baidu smart program of the mock: `appId` is its AppKey, `appSecret` its AppSecret. */
export interface MockBaiduApp extends MockApp {
  /** The user's current session_key, as Baidu issues it (the base64 of 24 bytes). */
  sessionKeyOf (openid: string): string
}

const KIND = 'baidu'
const secrets = (state: MockState): Map<string, string> => state.kind<string>(KIND)
/** Each user's 24-byte key, keyed by the mock's own (16-byte) key for them: a rotation makes a new one. */
const keys = new WeakMap<MockState, Map<string, string>>()

function keyOf (state: MockState, sessionKey: string): string {
  let byKey = keys.get(state)
  if (byKey === undefined) keys.set(state, byKey = new Map())
  let key = byKey.get(sessionKey)
  if (key === undefined) {
    key = randomBytes(24).toString('base64')
    byKey.set(sessionKey, key)
    state.secrets.add(key)
  }
  return key
}

/** Baidu's padding block: PKCS#7 to 32 bytes (a pad of 1 to 32), as its PHP sample strips it. */
const PAD_BLOCK = 32

/**
 * Encrypts as Baidu does: the plaintext is 16 random bytes, the data's length (4 bytes, big-endian),
 * the data and the AppKey, padded PKCS#7-style to 32-byte blocks (so half of all lengths get a pad over 16).
 */
export function encryptBaiduData (sessionKey: string, data: unknown, appKey: string, iv: Buffer = randomBytes(16)): EncryptedUserData {
  const json = Buffer.from(JSON.stringify(data), 'utf8')
  const length = Buffer.alloc(4)
  length.writeUInt32BE(json.length)
  const cipher = createCipheriv('aes-192-cbc', Buffer.from(sessionKey, 'base64'), iv).setAutoPadding(false)
  const plain = Buffer.concat([randomBytes(16), length, json, Buffer.from(appKey, 'utf8')])
  const pad = PAD_BLOCK - (plain.length % PAD_BLOCK)
  const padded = Buffer.concat([plain, Buffer.alloc(pad, pad)])
  return { encryptedData: Buffer.concat([cipher.update(padded), cipher.final()]).toString('base64'), iv: iv.toString('base64') }
}

export function addBaiduApp (state: MockState, appId: string, appSecret = `mock-baidu-secret-${randomBytes(8).toString('hex')}`): MockBaiduApp {
  state.unused(appId, KIND)
  secrets(state).set(appId, appSecret)
  state.secrets.add(appSecret)
  return baiduApp(state, appId)
}

export function baiduApp (state: MockState, appId: string): MockBaiduApp {
  const appSecret = secrets(state).get(appId)
  if (appSecret === undefined) throw new Error(`the mock serves no Baidu app ${appId}; addBaiduApp() it first`)
  const app = mockApp(state, appId)
  return {
    ...app,
    appSecret,
    encrypt: (openid, data) => encryptBaiduData(keyOf(state, state.user(appId, openid).sessionKey), data, appId),
    rotateSessionKey: (openid) => keyOf(state, app.rotateSessionKey(openid)),
    sessionKeyOf: (openid) => keyOf(state, state.user(appId, openid).sessionKey)
  }
}

function login (state: MockState, { body }: MockCall, res: ServerResponse): void {
  const form = new URLSearchParams(body)
  const fail = (error: string, description: string): void => { sendJson(res, { error, error_description: description }) }
  const appId = form.get('client_id') ?? ''
  const secret = secrets(state).get(appId)
  if (secret === undefined || form.get('sk') !== secret) return fail('invalid_client', 'unknown client id or secret')
  const code = form.get('code')
  if (code === null || code === '') return fail('invalid_request', 'code is missing')
  const user = state.redeem(code, appId)
  if (typeof user === 'string') return fail('invalid_grant', 'Invalid authorization code')
  sendJson(res, { openid: user.openid, session_key: keyOf(state, user.sessionKey) })
}

export const baiduEndpoints: readonly Endpoint[] = [
  { method: 'POST', path: '/oauth/jscode2sessionkey', handle: login }
]
