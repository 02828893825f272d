import type { WxLike } from './types.js'

/**
 * Where the session lives between runs: one entry in the runtime's storage, and when to stop
 * using it (the session's, and the app JWT's, own expiry less a margin).
 */

export interface Stored {
  session: string
  /** ms */
  expiresAt: number
  /** ms: when to stop using it (a margin before expiresAt); absent in what older versions stored */
  refreshAt?: number
  token?: string
  /** ms: when to stop using the token, from its own `exp` */
  tokenRefreshAt?: number
  /** The login answer's `user` (what the app's onLogin answered) */
  user?: Record<string, unknown>
}

export function isStored (value: unknown): value is Stored {
  return value !== null && typeof value === 'object' && typeof (value as Stored).session === 'string' &&
    (value as Stored).session !== '' && typeof (value as Stored).expiresAt === 'number' && (value as Stored).expiresAt > 0
}

/**
 * When to stop using a credential valid from `now` until `expiresAt`: a tenth of its lifetime
 * before the end, at most a minute (clocks differ, requests take time). Proportional, so that a
 * session of 30 s is used for 27 s, not refused at once.
 */
export function refreshTime (now: number, expiresAt: number): number {
  return expiresAt - Math.min(60000, (expiresAt - now) / 10)
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The `exp` of a JWS in ms, or undefined when it is not a JWS with one (no atob in mini programs). */
export function jwsExpiry (token: string): number | undefined {
  const part = token.split('.')[1]
  if (part === undefined || token.split('.').length !== 3) return undefined
  let bits = 0
  let value = 0
  let text = ''
  for (let i = 0; i < part.length; i++) {
    const digit = BASE64URL.indexOf(part.charAt(i))
    if (digit < 0) return undefined
    value = (value << 6) | digit
    bits += 6
    if (bits >= 8) {
      bits -= 8
      text += String.fromCharCode((value >> bits) & 0xff)
    }
  }
  try {
    // The claims are ASCII JSON here, except inside strings, which exp is not.
    const exp = (JSON.parse(text) as { exp?: unknown }).exp
    return typeof exp === 'number' && exp > 0 ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}

/** A token and when to stop using it (from its own `exp`, where it has one). */
export interface KeptToken { token: string, refreshAt?: number }

export function tokenOf (token: string | undefined): KeptToken | undefined {
  if (token === undefined) return undefined
  const exp = jwsExpiry(token)
  return exp === undefined ? { token } : { token, refreshAt: refreshTime(Date.now(), exp) }
}

/** The stored session of one storage key: restored on creation, kept in memory after that. */
export function createStore (api: WxLike, storageKey: string): {
  /** What is stored, if anything. */
  readonly stored: Stored | undefined
  /** Stores a session for `expiresIn` seconds from now, with the app JWT and the login's user. */
  store (session: string, expiresIn: number, token?: KeptToken, user?: Record<string, unknown>): void
  /** The stored app JWT, to keep with a renewed session. */
  token (): KeptToken | undefined
  forget (): void
  /**
   * The stored session while it is good to use: before its refresh time (a margin proportional to
   * its lifetime), and before the app JWT's, so that a new login renews both together.
   */
  current (): string | undefined
} {
  const restored: unknown = api.getStorageSync(storageKey)
  let stored: Stored | undefined = isStored(restored) ? restored : undefined
  return {
    get stored () { return stored },
    store (session, expiresIn, token, user) {
      const now = Date.now()
      const expiresAt = now + expiresIn * 1000
      const next: Stored = { session, expiresAt, refreshAt: refreshTime(now, expiresAt) }
      if (token !== undefined) {
        next.token = token.token
        if (token.refreshAt !== undefined) next.tokenRefreshAt = token.refreshAt
      }
      if (user !== undefined) next.user = user
      stored = next
      api.setStorageSync(storageKey, stored)
    },
    token () {
      return stored !== undefined && stored.token !== undefined ? { token: stored.token, refreshAt: stored.tokenRefreshAt } : undefined
    },
    forget () {
      stored = undefined
      api.removeStorageSync(storageKey)
    },
    current () {
      if (stored === undefined) return undefined
      const now = Date.now()
      const refreshAt = stored.refreshAt !== undefined ? stored.refreshAt : stored.expiresAt - 60000
      if (now >= refreshAt || (stored.tokenRefreshAt !== undefined && now >= stored.tokenRefreshAt)) return undefined
      return stored.session
    }
  }
}
