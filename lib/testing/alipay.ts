import { createCipheriv, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { mockApp, type MockApp } from './apps.js'
import type { Endpoint, MockCall } from './server.js'
import type { MockState } from './state.js'
import { makeWx, type MockWx } from './wx.js'

/**
 * Alipay's gateway (`POST /gateway.do`) for `alipay.system.oauth.token`: a signed form in (RSA2,
 * verified with the app's public key), an answer signed with "Alipay's" key out, and
 * `my.getPhoneNumber()`'s response as Alipay builds it (AES under the app's content key, signed).
 */
export interface MockAlipayApp extends Omit<MockApp, 'appSecret' | 'encrypt' | 'signedRawData' | 'phoneCode' | 'anonymousCode' | 'rotateSessionKey'> {
  /** The app's private key (PEM): give it as `alipay.privateKey`. */
  readonly privateKey: string
  /** Alipay's public key (PEM): give it as `alipay.alipayPublicKey`. */
  readonly alipayPublicKey: string
  /** The content-encryption key (base64): give it as `alipay.contentKey`. */
  readonly contentKey: string
  /** Which id logins answer: `open_id` (default) or, for an app in UserID mode, `user_id`. */
  readonly idType: 'open_id' | 'user_id'
  /** What `my.getPhoneNumber()` gives this app: the response string, signed and encrypted as Alipay does. */
  phoneResponse (mobile?: string): string
  /** Signs `content` with Alipay's (the mock's) private key, base64: for crafting answers in tests. */
  sign (content: string): string
}

interface AlipayRecord { privateKey: string, appPublicKey: KeyObject, alipayKey: KeyObject, alipayPublicKey: string, contentKey: string, idType: 'open_id' | 'user_id' }
const KIND = 'alipay'
const records = (state: MockState): Map<string, AlipayRecord> => state.kind<AlipayRecord>(KIND)

/** RSA key generation is slow: one app key and one "Alipay" key per AppID for the whole process. */
const generated = new Map<string, { app: { publicKey: KeyObject, privateKey: KeyObject }, alipay: { publicKey: KeyObject, privateKey: KeyObject } }>()
function keysFor (appId: string): NonNullable<ReturnType<typeof generated.get>> {
  let keys = generated.get(appId)
  if (keys === undefined) {
    keys = { app: generateKeyPairSync('rsa', { modulusLength: 2048 }), alipay: generateKeyPairSync('rsa', { modulusLength: 2048 }) }
    generated.set(appId, keys)
  }
  return keys
}

export function addAlipayApp (state: MockState, appId: string, { idType = 'open_id' }: { idType?: 'open_id' | 'user_id' } = {}): MockAlipayApp {
  state.unused(appId, KIND)
  const { app, alipay } = keysFor(appId)
  const privateKey = app.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const contentKey = randomBytes(16).toString('base64')
  records(state).set(appId, {
    privateKey,
    appPublicKey: createPublicKey(app.privateKey),
    alipayKey: alipay.privateKey,
    alipayPublicKey: alipay.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    contentKey,
    idType
  })
  // A key in a log line is escaped JSON: each line of its base64 is what a leak would hold.
  for (const line of privateKey.split('\n')) if (!line.startsWith('-----') && line !== '') state.secrets.add(line)
  state.secrets.add(contentKey)
  return alipayApp(state, appId)
}

const signWith = (key: KeyObject, content: string): string => sign('sha256', Buffer.from(content, 'utf8'), key).toString('base64')

export function alipayApp (state: MockState, appId: string): MockAlipayApp {
  const record = records(state).get(appId)
  if (record === undefined) throw new Error(`the mock serves no Alipay app ${appId}; addAlipayApp() it first`)
  const { appSecret: _s, encrypt: _e, signedRawData: _r, phoneCode: _p, anonymousCode: _a, rotateSessionKey: _k, ...app } = mockApp(state, appId)
  return {
    ...app,
    privateKey: record.privateKey,
    alipayPublicKey: record.alipayPublicKey,
    contentKey: record.contentKey,
    idType: record.idType,
    sign: (content) => signWith(record.alipayKey, content),
    phoneResponse: (mobile = '13800138000') => {
      const cipher = createCipheriv('aes-128-cbc', Buffer.from(record.contentKey, 'base64'), Buffer.alloc(16))
      const plain = JSON.stringify({ code: '10000', msg: 'Success', mobile })
      const encrypted = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]).toString('base64')
      return JSON.stringify({ response: encrypted, sign: signWith(record.alipayKey, JSON.stringify(encrypted)), sign_type: 'RSA2', encrypt_type: 'AES', charset: 'UTF-8' })
    }
  }
}

/** The gateway's answer: `{ "<node>": …, "sign": … }`, the node's exact text signed. */
function answer (res: ServerResponse, record: AlipayRecord | undefined, node: string, value: Record<string, unknown>): void {
  const text = JSON.stringify(value)
  const signature = record === undefined ? '' : `,"sign":${JSON.stringify(signWith(record.alipayKey, text))}`
  res.writeHead(200, { 'content-type': 'text/html;charset=utf-8' })
  res.end(`{"${node}":${text}${signature}}`)
}

function gateway (state: MockState, { body }: MockCall, res: ServerResponse): void {
  const params = Object.fromEntries(new URLSearchParams(body))
  const record = records(state).get(params.app_id ?? '')
  const refuse = (code: string, msg: string, subCode: string, subMsg: string, signed = record): void => {
    answer(res, signed, 'error_response', { code, msg, sub_code: subCode, sub_msg: subMsg })
  }
  // An unknown app's refusal is unsigned: there is no key to sign it with.
  if (record === undefined) return refuse('40002', 'Invalid Arguments', 'isv.invalid-app-id', '无效的AppID参数', undefined)
  const content = Object.keys(params).filter((k) => k !== 'sign' && params[k] !== '').sort().map((k) => `${k}=${params[k] as string}`).join('&')
  const signature = Buffer.from(params.sign ?? '', 'base64')
  if (params.sign_type !== 'RSA2' || !verify('sha256', Buffer.from(content, 'utf8'), record.appPublicKey, signature)) {
    return refuse('40002', 'Invalid Arguments', 'isv.invalid-signature', '验签出错')
  }
  if (!/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(params.timestamp ?? '') || params.version !== '1.0' || params.charset !== 'utf-8') {
    return refuse('40002', 'Invalid Arguments', 'isv.invalid-timestamp', '非法的时间戳参数')
  }
  if (params.method !== 'alipay.system.oauth.token') return refuse('40004', 'Business Failed', 'isv.invalid-method', '不存在的方法名')
  if (params.grant_type !== 'authorization_code') return refuse('40002', 'Invalid Arguments', 'isv.grant-type-invalid', 'grant_type参数不正确')
  const user = state.redeem(params.code, params.app_id as string)
  if (typeof user === 'string') return refuse('40002', 'Invalid Arguments', 'isv.code-invalid', '授权码code无效')
  const access = `authusrB${randomBytes(16).toString('hex')}`
  const refresh = `authusrB${randomBytes(16).toString('hex')}`
  state.secrets.add(access)
  state.secrets.add(refresh)
  answer(res, record, 'alipay_system_oauth_token_response', {
    [record.idType]: user.openid,
    access_token: access,
    expires_in: 1296000,
    refresh_token: refresh,
    re_expires_in: 2592000,
    // The token's life starts now (Beijing time, as the gateway writes times).
    auth_start: new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
  })
}

export const alipayEndpoints: readonly Endpoint[] = [
  { method: 'POST', path: '/gateway.do', handle: gateway }
]

/** A failure as Alipay's runtime gives it: a number and `errorMessage` (not `errMsg`). */
export interface MockAlipayFailure { error: number, errorMessage: string }

/**
 * Alipay's `my` for one user of an Alipay app of the mock (what `createWx(mock.alipayApp(appId),
 * userId)` gives): the `wx` of `createWx` (request, storage, `failNextLogin`, `logins`) plus
 * `my.getAuthCode()` and `my.getPhoneNumber()` as Alipay's runtime gives them, so a client made
 * with `platform: 'alipay'` runs against it as is.
 */
export interface MockAlipayWx extends MockWx {
  /** A fresh single-use auth code for this user, as `{ authCode }` (`failNextLogin` fails it, as `{ error, errorMessage }`). */
  getAuthCode (options: { scopes?: string | string[], success?: (res: { authCode: string }) => void, fail?: (err: MockAlipayFailure) => void }): void
  /** The phone button's answer, `{ response }`: the signed, encrypted string the phone route takes (`phoneResponse()`). */
  getPhoneNumber (options: { success?: (res: { response: string }) => void, fail?: (err: MockAlipayFailure) => void }): void
}

/** Where Alipay's runtime has no such thing: what the `wx` calls that do not apply say. */
const RUNTIME = {
  login: 'login:fail an Alipay mini program logs in with my.getAuthCode()',
  checkSession: 'checkSession:fail an Alipay mini program has no platform session to check',
  phone: 'an Alipay mini program has no phone button code: my.getPhoneNumber() gives the response the phone route takes',
  outside: 'not available in Alipay\'s runtime'
}

/** `my` for one user of an Alipay app of the mock: see `MockAlipayWx`. */
export function alipayWx (app: MockAlipayApp, userId: string, mobile?: string): MockAlipayWx {
  const noWeRun = (): never => { throw new Error('getWeRunData:fail an Alipay mini program has no WeRun data') }
  const my = makeWx({ appId: app.appId, login: app.login, encrypt: noWeRun }, userId, RUNTIME, false)
  return Object.assign(my, {
    getAuthCode ({ success, fail }: Parameters<MockAlipayWx['getAuthCode']>[0]) {
      my.login({ success: (res) => { success?.({ authCode: res.code }) }, fail: (err) => { fail?.({ error: 11, errorMessage: err.errMsg }) } })
    },
    getPhoneNumber ({ success }: Parameters<MockAlipayWx['getPhoneNumber']>[0]) {
      const response = app.phoneResponse(mobile)
      queueMicrotask(() => { success?.({ response }) })
    }
  })
}
