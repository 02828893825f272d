import { UpstreamError } from '../errors.js'
import type { UpstreamCode } from './faults.js'

/**
 * Cached access tokens, one fetch in flight at most, refetched once when an API refuses one: the
 * machinery every platform's tokens share. What a platform calls to fetch its token, and which
 * errcodes mean "refused", live in its own file.
 */

/** An API call refused the access token it was given (internal: it never reaches a reply). */
export class AccessTokenRejected extends Error {
  constructor (readonly errcode: UpstreamCode) {
    super(`the access token was refused (errcode ${errcode})`)
  }
}

export interface AccessTokens {
  /** The current token, fetched when there is none or it is about to expire. */
  get (): Promise<string>
  /**
   * Runs an API call with the current token. If the service refuses the token (the call throws
   * `AccessTokenRejected`), the token is dropped, fetched once more and the call retried once.
   */
  use<T> (call: (token: string) => Promise<T>): Promise<T>
}

/** A fetched token and its lifetime in seconds; without one, the token is not kept (a getter of the user's). */
export interface FetchedToken { token: string, expiresIn?: number }

export interface TokenCacheOptions {
  fetch: () => Promise<FetchedToken>
  /** What a second refusal means and what to do about it, for the 502's message. */
  refusedTwice: string
}

/**
 * One token, cached until shortly before it expires, with one fetch in flight at most however
 * many requests need it; a refused token is dropped and fetched once more. Every token this
 * package uses (an app's own, a hosting platform's, a linked app's) is one of these.
 */
export function createTokenCache ({ fetch, refusedTwice }: TokenCacheOptions): AccessTokens {
  let current: { token: string, refreshAt: number } | undefined
  let fetching: Promise<string> | undefined

  async function fetchToken (): Promise<string> {
    const { token, expiresIn } = await fetch()
    // Renewed 5 minutes before it expires (stable tokens overlap that long), or halfway
    // through a short-lived one.
    if (expiresIn !== undefined) current = { token, refreshAt: Date.now() + Math.max(expiresIn - 300, expiresIn / 2) * 1000 }
    return token
  }

  function get (): Promise<string> {
    if (current !== undefined && Date.now() < current.refreshAt) return Promise.resolve(current.token)
    fetching ??= fetchToken().finally(() => { fetching = undefined })
    return fetching
  }

  return {
    get,
    async use (call) {
      const token = await get()
      try {
        return await call(token)
      } catch (err) {
        if (!(err instanceof AccessTokenRejected)) throw err
        // Drop it only if no one has replaced it yet: concurrent refusals cause one fetch.
        if (current?.token === token) current = undefined
        try {
          return await call(await get())
        } catch (again) {
          if (again instanceof AccessTokenRejected) {
            throw new UpstreamError(`A fresh token was refused too (errcode ${again.errcode}); ${refusedTwice}`)
          }
          throw again
        }
      }
    }
  }
}

/** `token`/`expires_in` of an answer under the given names, or a 502 naming the API. */
export function readToken (body: Record<string, unknown>, tokenField: string, api: string): Required<FetchedToken> {
  const token = body[tokenField]
  const expiresIn = body.expires_in
  if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
    throw new UpstreamError(`${api} answered without a usable ${tokenField}`)
  }
  return { token, expiresIn }
}
