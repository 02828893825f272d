/**
 * Sessions per device: a per-user index of live sessions (kept in the revocation store, never read
 * on the authenticated path), the limits a login applies to it (`maxSessions`, `oneSessionPer`), and
 * the eviction rule both stores share: the memory store runs `evicted()`, the Redis store the same
 * rule in one script (lib/revocation/devices-redis.ts), so a login that evicts writes the index, the
 * evictions and their publication in one atomic step.
 */

/** Which sessions a new login ends of the same user: those of its device type (in its app), of its app, or all. */
export type OneSessionPer = 'device' | 'app' | 'user'

/** The limits of a user's sessions, fixed at registration. */
export interface SessionLimits {
  /** Live sessions a user may hold; a login past it ends the oldest. */
  readonly maxSessions: number
  /** One session per device type, app or user; undefined for no such rule. */
  readonly oneSessionPer: OneSessionPer | undefined
}

/** The most sessions one user's index holds: the bound of `maxSessions`, and its value where only `oneSessionPer` is given. */
export const MAX_SESSIONS = 100
/** The longest device label a login may carry (characters). */
export const MAX_DEVICE_LENGTH = 64
/** A device label: printable ASCII without quotes or backslashes (it rides in every token: small and plain). */
export const DEVICE_PATTERN = `^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]{1,${MAX_DEVICE_LENGTH}}$`
const DEVICE = new RegExp(DEVICE_PATTERN)

/** A device label given to `seal`, checked as the login route's schema checks it. */
export function deviceLabel (value: unknown, who: string): string | undefined {
  if (value === undefined || (typeof value === 'string' && DEVICE.test(value))) return value
  throw new TypeError(`${who}: device must be a label of 1 to ${MAX_DEVICE_LENGTH} printable ASCII characters without quotes or backslashes, such as 'wx:ios'`)
}
/** ms: how long renewals wait to be written to a shared index (batched, never on a request). */
export const TOUCH_INTERVAL = 1000
/** Renewals waiting to be written at most; past it the newest is dropped (the index then shows an older expiry). */
export const MAX_PENDING_TOUCHES = 10_000

/** One live session in a user's index: what `listSessions` gives. */
export interface TrackedSession {
  /** The session's id (what `revoke(jti)` takes); the same through renewals. */
  jti: string
  appId: string
  platform: string
  /** The login's device label, if it sent one. */
  device: string | undefined
  /** ms since the epoch */
  loginAt: number
  /**
   * ms since the epoch: the session's expiry as last recorded (renewals and heals reach a shared
   * index within a second; one whose record was lost shows an earlier expiry, and is listed all the same).
   */
  expiresAt: number
  /** ms since the epoch: its last renewal, or undefined where it was never renewed. */
  renewedAt: number | undefined
}

/** An index entry as stored: JSON `[appId, platform, device | null, loginAt, expiresAt, renewedAt | null]`, keyed by jti. */
export function encodeTracked (s: TrackedSession): string {
  return JSON.stringify([s.appId, s.platform, s.device ?? null, s.loginAt, s.expiresAt, s.renewedAt ?? null])
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
const isLabel = (value: unknown): value is string | null => value === null || (typeof value === 'string' && DEVICE.test(value))

/** A stored entry, or undefined for anything the plugin cannot have written. */
export function decodeTracked (jti: string, text: string): TrackedSession | undefined {
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch { return undefined }
  if (!Array.isArray(parsed)) return undefined
  const [appId, platform, device, loginAt, expiresAt, renewedAt] = parsed as unknown[]
  if (typeof appId !== 'string' || typeof platform !== 'string' || !isLabel(device) || !isTime(loginAt) || !isTime(expiresAt) ||
      !(renewedAt === null || isTime(renewedAt))) return undefined
  return { jti, appId, platform, device: device ?? undefined, loginAt, expiresAt, renewedAt: renewedAt ?? undefined }
}

/** Whether a live session is of the same kind as a new login under `oneSessionPer`. */
function alike (s: TrackedSession, login: TrackedSession, per: OneSessionPer | undefined): boolean {
  if (per === undefined) return false
  if (per === 'user') return true
  return s.appId === login.appId && (per === 'app' || s.device === login.device)
}

/**
 * The ids a new login ends, given the user's other live sessions: every one alike under
 * `oneSessionPer`, then the oldest (by login time, then id) until the login fits `maxSessions`.
 * The Redis store's LOGIN script is this rule, line for line.
 */
export function evicted (live: readonly TrackedSession[], login: TrackedSession, limits: SessionLimits): string[] {
  const out: string[] = []
  const kept: TrackedSession[] = []
  for (const s of live) {
    if (alike(s, login, limits.oneSessionPer)) out.push(s.jti)
    else kept.push(s)
  }
  kept.sort((a, b) => a.loginAt - b.loginAt || (a.jti < b.jti ? -1 : 1))
  for (let i = 0; kept.length - i + 1 > limits.maxSessions; i++) out.push((kept[i] as TrackedSession).jti)
  return out
}

/** Newest first: how `listSessions` orders a user's sessions. */
export const newestFirst = (a: TrackedSession, b: TrackedSession): number => b.loginAt - a.loginAt || (a.jti < b.jti ? -1 : 1)

/**
 * A user's index key as the revocation user keys spell it (`userKey`): `["*", openid]` for an openid
 * (an openid's sessions in every app), `[appId, corpId, userId]` for a member; and the app a
 * revocation user key names, where it names one for an openid.
 */
export function indexOfUserKey (user: string): { index: string, appId: string | undefined } {
  const parts = JSON.parse(user) as string[]
  if (parts.length === 3) return { index: user, appId: undefined }
  return { index: JSON.stringify(['*', parts[1]]), appId: parts[0] === '*' ? undefined : parts[0] }
}

/**
 * The in-process index (`revocation: 'memory'`): user -> jti -> session. An entry counts and is
 * listed until its login's `loginAt + maxAge` (no renewal or heal of it lives longer) or until the
 * revocations end it, whatever expiry renewals reported: the expiry is only shown.
 */
export class MemoryIndex {
  readonly #users = new Map<string, Map<string, TrackedSession>>()
  /** ms: how long a login lives through renewals and heals. */
  readonly #maxAge: number
  #tracks = 0

  constructor (maxAge: number) {
    this.#maxAge = maxAge
  }

  /**
   * Adds a login to its user's index and gives the ids it evicts (already dropped from the index).
   * `ended` tells a session the revocations ended (it no longer counts).
   */
  track (user: string, login: TrackedSession, limits: SessionLimits, now: number, ended: (s: TrackedSession) => boolean): string[] {
    if (++this.#tracks % 256 === 0) this.#sweep(now)
    const sessions = this.#live(user, now, ended)
    const out = evicted([...sessions.values()], login, limits)
    for (const jti of out) sessions.delete(jti)
    sessions.set(login.jti, login)
    this.#users.set(user, sessions)
    return out
  }

  /** Records a renewal (a session the index does not hold is left alone). */
  touch (user: string, jti: string, expiresAt: number, renewedAt: number): void {
    const s = this.#users.get(user)?.get(jti)
    if (s !== undefined) {
      s.expiresAt = Math.max(s.expiresAt, expiresAt)
      s.renewedAt = renewedAt
    }
  }

  list (user: string, now: number, ended: (s: TrackedSession) => boolean): TrackedSession[] {
    return [...this.#live(user, now, ended).values()].map((s) => ({ ...s }))
  }

  /** Drops what a revocation ended: one session, or a user's logins until `before` (in one app, or all). */
  drop (user: string, which: { jti: string } | { appId: string | undefined, before: number }): void {
    const sessions = this.#users.get(user)
    if (sessions === undefined) return
    for (const s of sessions.values()) {
      if ('jti' in which ? s.jti === which.jti : s.loginAt <= which.before && (which.appId === undefined || s.appId === which.appId)) sessions.delete(s.jti)
    }
    if (sessions.size === 0) this.#users.delete(user)
  }

  #live (user: string, now: number, ended: (s: TrackedSession) => boolean): Map<string, TrackedSession> {
    const sessions = this.#users.get(user) ?? new Map<string, TrackedSession>()
    for (const s of sessions.values()) if (s.loginAt + this.#maxAge <= now || ended(s)) sessions.delete(s.jti)
    return sessions
  }

  #sweep (now: number): void {
    for (const [user, sessions] of this.#users) {
      for (const s of sessions.values()) if (s.loginAt + this.#maxAge <= now) sessions.delete(s.jti)
      if (sessions.size === 0) this.#users.delete(user)
    }
  }

  get size (): number {
    return this.#users.size
  }
}
