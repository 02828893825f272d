import type { WxLike } from './types.js'

/** How the client talks to the backend: JSON over the runtime's `request()`, to one origin only. */

/**
 * An error of the client: `code` is the server's error code, or `WX_LOGIN_FAILED`, `NETWORK_ERROR`,
 * `BAD_RESPONSE`, `BAD_URL` (a request for another origin than `baseUrl`'s, refused before sending),
 * `LOGGED_OUT` (a login or request that `logout()` overtook).
 */
export class WeappClientError extends Error {
  readonly code: string
  readonly statusCode: number | undefined
  constructor (code: string, message: string, statusCode?: number) {
    super(message)
    this.name = 'WeappClientError'
    this.code = code
    this.statusCode = statusCode
  }
}

/**
 * The login route's 409 `WEAPP_LINK_REQUIRED`: the platform's user has no account in the app yet.
 * Prove who they are (a phone number, a password) and send `linkToken` to the app's link route;
 * `adopt()` its answer.
 */
export class WeappLinkRequiredError extends WeappClientError {
  readonly linkToken: string
  /** Seconds the link token may be redeemed in. */
  readonly expiresIn: number
  constructor (message: string, linkToken: string, expiresIn: number) {
    super('WEAPP_LINK_REQUIRED', message, 409)
    this.name = 'WeappLinkRequiredError'
    this.linkToken = linkToken
    this.expiresIn = expiresIn
  }
}

/**
 * 401 `WEAPP_SESSION_KICKED`: a later login of the same user (on another device, or past the
 * server's `maxSessions`) ended this session. The client dropped it and does not log in again by
 * itself (that would end the other device's session in turn): tell the user ("you signed in on
 * another device") and call `login()` if they want to continue here.
 */
export class WeappSessionKickedError extends WeappClientError {
  constructor (message: string) {
    super('WEAPP_SESSION_KICKED', message, 401)
    this.name = 'WeappSessionKickedError'
  }
}

/**
 * scheme://host[:port] (lowercase, default port dropped) and the rest of an absolute http(s) URL.
 * No credentials, no backslash: `https://api.example.com@evil.example/` is not api.example.com.
 */
const ABSOLUTE = /^(https?):\/\/([^/?#@\\\s]+)([/?#]\S*)?$/i

export function originOf (url: string): { origin: string, path: string } | undefined {
  const match = ABSOLUTE.exec(url)
  if (match === null) return undefined
  const scheme = (match[1] as string).toLowerCase()
  const host = (match[2] as string).toLowerCase().replace(scheme === 'https' ? /:443$/ : /:80$/, '')
  return { origin: `${scheme}://${host}`, path: match[3] !== undefined ? match[3] : '' }
}

/** Calls a wx-style API; a promise it returns (Taro) is caught, since `fail` already reports. */
export function callApi (result: unknown): void {
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    (result as PromiseLike<unknown>).then(undefined, () => {})
  }
}

/**
 * The default device label: the runtime's tag and the system's platform (`wx:ios`), kept to what the
 * server takes (printable ASCII without quotes or backslashes, 64 characters); the tag alone where
 * the runtime does not say.
 */
export function deviceOf (api: WxLike, tag: string): string {
  let platform: unknown
  try {
    const info = typeof api.getDeviceInfo === 'function' ? api.getDeviceInfo() : typeof api.getSystemInfoSync === 'function' ? api.getSystemInfoSync() : undefined
    platform = info !== undefined && info !== null ? info.platform : undefined
  } catch {}
  const label = typeof platform === 'string' && platform !== '' ? `${tag}:${platform}` : tag
  return label.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '').slice(0, 64)
}

/** The mini program's own AppID, where the runtime tells it; undefined elsewhere (or if it throws). */
export function ownAppId (api: WxLike): string | undefined {
  try {
    const appId = api.getAccountInfoSync?.().miniProgram?.appId
    return typeof appId === 'string' && appId !== '' ? appId : undefined
  } catch {
    return undefined
  }
}

export function hasAuthorization (header: Record<string, string> | undefined): boolean {
  return header !== undefined && Object.keys(header).some((name) => name.toLowerCase() === 'authorization')
}

/** A request to the backend: the answer's body on a 2xx, else a `WeappClientError` with the server's code. */
export type Send = <T>(method: string, url: string, data: unknown, session: string | undefined, header?: Record<string, string>) => Promise<T>

/**
 * The sender of one client; `renewed` sees the headers of every 2xx answer to a request with a
 * session, with what `epochOf()` said when that request was sent (the client's count of logouts).
 */
export function createSend (api: WxLike, renewed: (sent: string, header: Record<string, any> | undefined, began: number) => void, epochOf: () => number): Send {
  /** One JSON request to a full URL already checked to be on baseUrl's origin. */
  return function send<T> (method: string, url: string, data: unknown, session: string | undefined, header: Record<string, string> = {}): Promise<T> {
    const began = epochOf()
    // request() sends no session with your own Authorization header (in any case): never both.
    // JSON's content type only with a body: a DELETE without one would be a 400 (an empty JSON body).
    const headers: Record<string, string> = data === undefined ? {} : { 'content-type': 'application/json' }
    if (session !== undefined) headers.Authorization = `Bearer ${session}`
    for (const name of Object.keys(header)) headers[name] = header[name] as string
    return new Promise((resolve, reject) => {
      const request: Parameters<WxLike['request']>[0] = {
        url,
        method: method as 'GET',
        header: headers,
        dataType: 'json',
        success: (res) => {
          const body = res.data as { code?: unknown, message?: unknown } | string
          if (res.statusCode >= 200 && res.statusCode < 300) {
            if (session !== undefined) renewed(session, res.header, began)
            resolve(body as T)
            return
          }
          const code = typeof body === 'object' && body !== null && typeof body.code === 'string' ? body.code : `HTTP_${res.statusCode}`
          const message = typeof body === 'object' && body !== null && typeof body.message === 'string' ? body.message : `${method} ${url} answered HTTP ${res.statusCode}`
          const link = typeof body === 'object' && body !== null ? body as { linkToken?: unknown, expiresIn?: unknown } : {}
          if (code === 'WEAPP_LINK_REQUIRED' && typeof link.linkToken === 'string' && link.linkToken !== '' && typeof link.expiresIn === 'number') {
            reject(new WeappLinkRequiredError(message, link.linkToken, link.expiresIn))
            return
          }
          if (code === 'WEAPP_SESSION_KICKED') {
            reject(new WeappSessionKickedError(message))
            return
          }
          reject(new WeappClientError(code, message, res.statusCode))
        },
        fail: (err) => { reject(new WeappClientError('NETWORK_ERROR', `${method} ${url} failed: ${err.errMsg}`)) }
      }
      if (data !== undefined) request.data = data as Record<string, unknown>
      callApi(api.request(request))
    })
  }
}
