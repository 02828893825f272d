import { createHmac } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { parseJson } from './data.js'
import { sendErrcode, sendText, type Endpoint, type MockCall } from './server.js'
import { SECRET_APPS } from './apps.js'
import type { MockState } from './state.js'

/**
 * WeChat's endpoints (platforms of the same shape are served by the same ones):
 * errors as HTTP 200 with an `errcode` and an errmsg with a request id, success as JSON labelled
 * `text/plain`.
 */

const ERRMSG = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40003: 'invalid openid',
  40097: 'invalid args',
  42001: 'access_token expired',
  47001: 'data format error',
  87009: 'invalid signature',
  40002: 'invalid grant_type',
  40013: 'invalid appid',
  40029: 'invalid code',
  40125: 'invalid appsecret',
  40163: 'code been used',
  40226: 'high risk user',
  41008: 'missing code',
  40014: 'invalid access_token',
  45011: 'api minute-quota reach limit  mustslower  retry next minute'
} as const satisfies Record<number, string>
export type KnownErrcode = keyof typeof ERRMSG

/** WeChat's error shape for any errcode (an `errcode` fault's answer). */
export function errcodeAnswer (res: ServerResponse, errcode: number, errmsg?: string): void {
  sendErrcode(res, errcode, errmsg ?? (ERRMSG as Record<number, string>)[errcode] ?? 'error')
}

export const error = (res: ServerResponse, errcode: KnownErrcode): void => { errcodeAnswer(res, errcode) }

/** A token's owner, or the errcode for it: 40001 unknown or revoked, 42001 expired. */
export function tokenOwner (state: MockState, token: string | undefined): { error: KnownErrcode } | { appId: string } {
  const owner = state.tokenOwner(token)
  return 'error' in owner ? { error: owner.error === 'expired' ? 42001 : 40001 } : owner
}

/** A login answer of WeChat's shape for a redeemed code. */
export function loginAnswer (res: ServerResponse, user: { openid: string, unionid?: string, sessionKey: string }): void {
  const answer: Record<string, string> = { session_key: user.sessionKey, openid: user.openid }
  if (user.unionid !== undefined) answer.unionid = user.unionid
  sendText(res, 200, answer)
}

function jscode2session (state: MockState, { query }: MockCall, res: ServerResponse): void {
  const secret = query.appid === undefined ? undefined : state.kind<string>(SECRET_APPS).get(query.appid)
  if (secret === undefined) return error(res, 40013)
  if (query.secret !== secret) return error(res, 40125)
  if (query.grant_type !== 'authorization_code') return error(res, 40002)
  if (query.js_code === undefined || query.js_code === '') return error(res, 41008)
  // A code is only good for the app whose mini program got it.
  const user = state.redeem(query.js_code, query.appid as string)
  if (typeof user === 'string') return error(res, user === 'used' ? 40163 : 40029)
  loginAnswer(res, user)
}

function stableToken (state: MockState, { body }: MockCall, res: ServerResponse): void {
  const request = parseJson(body)
  if (request === undefined) return error(res, 47001)
  if (request.grant_type !== 'client_credential') return error(res, 40002)
  const appId = typeof request.appid === 'string' ? request.appid : ''
  const secret = state.kind<string>(SECRET_APPS).get(appId)
  if (secret === undefined) return error(res, 40013)
  if (request.secret !== secret) return error(res, 40125)
  const { token, expiresIn } = state.issueToken(appId, request.force_refresh === true)
  sendText(res, 200, { access_token: token, expires_in: expiresIn })
}

function phoneNumber (state: MockState, { query, body }: MockCall, res: ServerResponse): void {
  const token = tokenOwner(state, query.access_token)
  if ('error' in token) return error(res, token.error)
  const request = parseJson(body)
  if (request === undefined) return error(res, 47001)
  const issued = typeof request.code === 'string' ? state.phoneCodes.get(request.code) : undefined
  // An unknown, expired or used code, one of another app than the token's, or of another user
  // than the openid sent: 40029.
  if (issued === undefined || issued.expires < Date.now() || issued.used || issued.appId !== token.appId ||
      (request.openid !== undefined && request.openid !== issued.openid)) {
    return error(res, 40029)
  }
  issued.used = true
  sendText(res, 200, { errcode: 0, errmsg: 'ok', phone_info: { ...issued.phone, watermark: { timestamp: Math.floor(Date.now() / 1000), appid: issued.appId } } })
}

function checkSession (state: MockState, { query }: MockCall, res: ServerResponse): void {
  const token = tokenOwner(state, query.access_token)
  if ('error' in token) return error(res, token.error)
  if (query.sig_method !== 'hmac_sha256' || query.signature === undefined) return error(res, 40097)
  const user = query.openid === undefined ? undefined : state.users.get(`${token.appId}\n${query.openid}`)
  if (user === undefined) return error(res, 40003)
  const expected = createHmac('sha256', user.sessionKey).update('').digest('hex')
  if (query.signature !== expected) return error(res, 87009)
  sendText(res, 200, { errcode: 0, errmsg: 'ok' })
}

export const wechatEndpoints: readonly Endpoint[] = [
  { method: 'GET', path: '/sns/jscode2session', handle: jscode2session },
  { method: 'POST', path: '/cgi-bin/stable_token', handle: stableToken },
  { method: 'POST', path: '/wxa/business/getuserphonenumber', handle: phoneNumber },
  { method: 'GET', path: '/wxa/checksession', handle: checkSession }
]
