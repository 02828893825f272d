import {
  InvalidCodeError, RateLimitedError, RiskyUserError, UpstreamError, UpstreamTimeoutError, safeCause
} from './errors.js'
import { createHmac } from 'node:crypto'
import { isSessionKey, type WechatIdentity } from './session.js'
import { createHttp, QueueTooLongError, type Http, type HttpAnswer } from './http.js'
import { singleFlight } from './single-flight.js'

export interface WechatClientOptions {
  appId: string
  appSecret: string
  apiBaseUrl: string
  /** ms */
  timeout: number
  /** The pooled HTTP client (one per registration); default a shared one. */
  http?: Http
  /** QQ's `jscode2session` has WeChat's shape on its own origin: its identities say `platform: 'qq'`. */
  platform?: 'qq'
}

/** A user's phone number, as `getuserphonenumber` gives it. */
export interface WeappPhone {
  /** With the country code for numbers outside mainland China. */
  phoneNumber: string
  /** Without the country code. */
  purePhoneNumber: string
  countryCode: string
}

export interface WechatClient {
  /** Exchanges a `wx.login()` code for the user's identity; see `code2Session` in the README. */
  code2Session (code: string): Promise<WechatIdentity>
}

/** The login-state signature WeChat's APIs take: hmac_sha256 keyed with the session_key string. */
export function loginStateSignature (sessionKey: string, data = ''): string {
  return createHmac('sha256', sessionKey).update(data).digest('hex')
}

export const MAX_CODE_LENGTH = 128

/** errcodes that mean this server's credentials or network are wrong, not the user's request. */
const MISCONFIGURED = new Set([40001, 40013, 40125, 40164, 41002, 41004, 61024])

/** The contract's error for a non-zero WeChat errcode. */
export function errorFor (errcode: number): Error {
  switch (errcode) {
    case 40029:
    case 40163:
      return new InvalidCodeError('The login code is invalid, expired or already used; call wx.login() again and send the new code')
    case 45011:
      return new RateLimitedError('WeChat is rate limiting this mini program (errcode 45011); wait a moment, then call wx.login() again and retry')
    case 40226:
      return new RiskyUserError()
    case -1:
      return new UpstreamError('WeChat is busy (errcode -1); retry in a moment')
    default:
      return MISCONFIGURED.has(errcode)
        ? new UpstreamError(`WeChat refused this server's credentials (errcode ${errcode}): the server is misconfigured; check its appId, appSecret and WeChat's IP allow-list`)
        : new UpstreamError(`WeChat answered errcode ${errcode}`)
  }
}

type Json = Record<string, unknown>

/** The HTTP client of clients made without one (building blocks used on their own, tests). */
const sharedHttp = createHttp()

/** How one upstream call is made and read. */
export interface UpstreamCall {
  /** ms, from when the call is asked for */
  timeout: number
  /** Scrubbed from any cause (as they are and as a URL spells them): the secret, codes, tokens the call carries. */
  secrets: readonly string[]
  /** The contract's error for a non-zero `errcode`. Default WeChat's mapping. */
  errors?: (errcode: number) => Error
  /** Names the upstream in messages. Default `'WeChat'`. */
  service?: string
  /** The pooled client. Default a shared one. */
  http?: Http | undefined
}

/**
 * One call to a WeChat-family API (WeChat, WeCom, QQ, Douyin): the answer's JSON object, whatever
 * its content type (WeChat labels JSON `text/plain`), or the contract's error. The URL is never
 * part of an error, because it may hold the AppSecret.
 */
export async function callWechat (url: string, init: { method: string, headers?: Record<string, string>, body?: string }, { timeout, secrets, errors: mapErrcode = errorFor, service = 'WeChat', http = sharedHttp }: UpstreamCall): Promise<Json> {
  let response: HttpAnswer
  let text: string | undefined
  // From when the call is asked for: a call waiting for a pooled connection keeps its timeout.
  const signal = AbortSignal.timeout(timeout)
  try {
    response = await http.request(url, init, { signal, deadline: Date.now() + timeout })
    text = response.text
  } catch (err) {
    if (err instanceof QueueTooLongError) {
      const busy = new UpstreamTimeoutError(timeout)
      busy.message = `Too many calls to ${service} are waiting: this one would not be answered within ${timeout} ms; retry in a moment`
      throw busy
    }
    if (signal.aborted) throw new UpstreamTimeoutError(timeout)
    throw new UpstreamError(`Could not reach the ${service} API; retry in a moment`, { cause: safeCause(err, secrets) })
  }
  if (response.status === 429) {
    // WeChat and QQ throttle with an errcode; Douyin (or a proxy) may answer HTTP 429.
    throw new RateLimitedError(`${service} is rate limiting this server (HTTP 429); wait a moment, then log in again`)
  }
  if (response.status < 200 || response.status > 299) {
    throw new UpstreamError(`${service} answered HTTP ${response.status}; retry in a moment`)
  }
  let body: unknown
  try {
    body = text === undefined ? undefined : JSON.parse(text)
  } catch {}
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new UpstreamError(`${service} answered something other than a JSON object`)
  }
  const { errcode } = body as Json
  if (errcode !== undefined && errcode !== 0) {
    const err = mapErrcode(typeof errcode === 'number' ? errcode : Number.NaN)
    const errmsg = (body as Json).errmsg
    err.cause = safeCause({ name: 'WechatError', code: errcode, message: typeof errmsg === 'string' ? errmsg : '' }, secrets)
    throw err
  }
  return body as Json
}

/** A rejection for what is not a usable code (it never reaches WeChat), or undefined. */
export function checkCode (code: unknown, typeMessage: string): Promise<never> | undefined {
  if (typeof code !== 'string') return Promise.reject(new TypeError(typeMessage))
  if (code === '' || code.length > MAX_CODE_LENGTH) {
    return Promise.reject(new InvalidCodeError('The code is empty or too long; send the code the mini program got from WeChat'))
  }
  return undefined
}

/** The identity in a `jscode2session` answer of WeChat's shape (a mini program's, or a hosted one's), or a 502. */
export function wechatIdentity (body: Json, api: string): WechatIdentity {
  const { openid, session_key: sessionKey, unionid } = body
  if (typeof openid !== 'string' || openid === '' || !isSessionKey(sessionKey) ||
      (unionid !== undefined && (typeof unionid !== 'string' || unionid === ''))) {
    throw new UpstreamError(`WeChat answered ${api} without a usable openid and session_key`)
  }
  const identity: WechatIdentity = { openid, sessionKey }
  if (typeof unionid === 'string') identity.unionid = unionid
  return identity
}

/**
 * A login-code exchange that is never retried: a code is single-use, and identical codes in flight
 * share one upstream call. `exchange` is called only for a code worth sending.
 */
export function codeExchange<T> (exchange: (code: string) => Promise<T>): (code: string) => Promise<T> {
  const shared = singleFlight<T>()
  return (code) => checkCode(code, 'code2Session(code) needs the code from wx.login() as a string') ??
    shared(code, () => exchange(code))
}

/** The WeChat API client: `jscode2session`, with single-flight for identical codes. */
export function createWechatClient ({ appId, appSecret, apiBaseUrl, timeout, platform, http }: WechatClientOptions): WechatClient {
  const service = platform === 'qq' ? 'QQ' : 'WeChat'
  return {
    code2Session: codeExchange(async (code) => {
      const query = new URLSearchParams({ appid: appId, secret: appSecret, js_code: code, grant_type: 'authorization_code' })
      const identity = wechatIdentity(await callWechat(`${apiBaseUrl}/sns/jscode2session?${query.toString()}`, { method: 'GET' }, { timeout, secrets: [appSecret, code], service, http }), 'jscode2session')
      return platform === undefined ? identity : { ...identity, platform }
    })
  }
}
