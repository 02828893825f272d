import { UpstreamError, safeCause } from '../errors.js'
import { CallTimeoutError, createHttp, QueueTooLongError, type Http, type HttpAnswer, type HttpInit } from './http.js'
import { badCode, httpStatus, notJson, queueTooLong, throttledHttp, timedOut, unreachable, type Errcodes, type Named } from './faults.js'
import { singleFlight } from './single-flight.js'

/**
 * One call to a platform's API, whatever the platform: the timeout (waiting for a pooled
 * connection included), the status, the JSON body whatever its content type (some label JSON
 * `text/plain`), the platform's error codes, and every secret scrubbed from what an error carries.
 * The URL is never part of an error, because it may hold the AppSecret.
 */

type Json = Record<string, unknown>

export const MAX_CODE_LENGTH = 128

/** The HTTP client of clients made without one (building blocks used on their own, tests). */
const sharedHttp = createHttp()

/** How one upstream call is made and read. */
export interface UpstreamCall {
  /** ms, from when the call is asked for */
  timeout: number
  /** Scrubbed from any cause (as they are and as a URL spells them): the secret, codes, tokens the call carries. */
  secrets: readonly string[]
  /** The platform's error codes (and its name, for every message). */
  errors: Errcodes
  /** The pooled client. Default a shared one. */
  http?: Http | undefined
}

/**
 * The answer (a 2xx), or the contract's error: for calls that must read the answer's headers or
 * exact text (a platform that signs the bytes of its answer), and the first half of every call.
 */
export async function answerUpstream (url: string, init: HttpInit, { timeout, secrets, errors, http = sharedHttp }: UpstreamCall): Promise<HttpAnswer> {
  const named = errors.named
  let response: HttpAnswer
  try {
    response = await http.request(url, init, timeout)
  } catch (err) {
    if (err instanceof QueueTooLongError) throw queueTooLong(named, timeout)
    if (err instanceof CallTimeoutError) throw timedOut(named, timeout)
    throw unreachable(named, safeCause(err, secrets))
  }
  // Most platforms throttle with an error code; some (or a proxy) answer HTTP 429.
  if (response.status === 429) throw throttledHttp(named)
  if (response.status < 200 || response.status > 299) throw httpStatus(named, response.status)
  return response
}

/** The answer's text (a 2xx), or the contract's error. */
export async function requestUpstream (url: string, init: HttpInit, call: UpstreamCall): Promise<string | undefined> {
  return (await answerUpstream(url, init, call)).text
}

/** The JSON object in an answer's text, or a 502 naming the platform. */
export function jsonObject (text: string | undefined, named: Named): Json {
  let body: unknown
  try {
    body = text === undefined ? undefined : JSON.parse(text)
  } catch {}
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw notJson(named)
  return body as Json
}

/** The fields in which the platforms explain an error code. */
const MESSAGE_FIELDS = ['errmsg', 'err_tips', 'error_msg', 'error_description', 'msg', 'sub_msg']

/** `body` when its error-code field says success, else the contract's error for its code (its message a scrubbed cause). */
export function checkAnswer (body: Json, { errors, secrets }: Pick<UpstreamCall, 'errors' | 'secrets'>): Json {
  const named = errors.named
  const code = body[errors.field]
  if (code === undefined ? errors.required : code !== errors.success) {
    const err = code === undefined
      ? new UpstreamError(`${named.title} answered without an ${errors.field}`)
      : errors.error(typeof code === 'number' || typeof code === 'string' ? code : Number.NaN)
    const explained = MESSAGE_FIELDS.map((field) => body[field]).find((value) => typeof value === 'string')
    err.cause = safeCause({ name: 'UpstreamAnswer', code, message: explained ?? '' }, secrets)
    throw err
  }
  return body
}

/** The answer's JSON object, or the contract's error. */
export async function callUpstream (url: string, init: HttpInit, call: UpstreamCall): Promise<Json> {
  return checkAnswer(jsonObject((await answerUpstream(url, init, call)).text, call.errors.named), call)
}

/** A rejection for what is not a usable code (it never reaches the platform), or undefined. */
export function checkCode (code: unknown, named: Named, typeMessage: string): Promise<never> | undefined {
  if (typeof code !== 'string') return Promise.reject(new TypeError(typeMessage))
  if (code === '' || code.length > MAX_CODE_LENGTH) return Promise.reject(badCode(named))
  return undefined
}

/**
 * A login-code exchange that is never retried: a code is single-use, and identical codes in flight
 * share one upstream call. `exchange` is called only for a code worth sending.
 */
export function codeExchange<T> (named: Named, exchange: (code: string) => Promise<T>): (code: string) => Promise<T> {
  const shared = singleFlight<T>()
  const typeMessage = `code2Session(code) needs the code from ${named.loginCall} as a string`
  return (code) => checkCode(code, named, typeMessage) ?? shared(code, () => exchange(code))
}
