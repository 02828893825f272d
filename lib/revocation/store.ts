import { CLOCK_SKEW } from '../clock.js'
import type { AnySession } from '../session.js'
import { indexOfUserKey, newestFirst, type SessionLimits, type TrackedSession } from './devices.js'

/** Who a user revocation names: an openid (of one app, or of any), or a member of a company (corpId + userId). */
export type RevokedUser = { openid: string, appId?: string } | { corpId: string, userId: string, appId: string }

/** What a revocation check reads of a session (a session, or what a JWS of the jwt bridge says). */
export type SessionRef = Pick<AnySession, 'jti' | 'loginAt' | 'appId'> & ({ corpId: string, userId: string } | { openid: string, corpId?: undefined })

/**
 * Revocations, held in memory and checked without any I/O: one entry per ended session (`jti`,
 * which every renewal keeps) and one per user ("sessions of this user that logged in until T"),
 * each kept for `maxAge` from when it was made: no token of a login revoked then (its renewals
 * included, which never pass `loginAt + maxAge`) can outlive it.
 */
export interface Revocations {
  /** Whether this genuine session was ended. Synchronous: no network on the authenticated path. */
  isRevoked (session: SessionRef): boolean
  /** Whether an ended session was evicted by a later login (`maxSessions`, `oneSessionPer`) rather than revoked. */
  isKicked (jti: string): boolean
  /** Ends one session and its renewals. Rejects `WEAPP_REVOCATION_UNAVAILABLE` where it could not be stored. */
  revokeSession (session: SessionRef): Promise<void>
  /** Ends every session of a user (a key from `userKey`) that logged in until now. */
  revokeUser (user: string): Promise<void>
  /** Ends a session by its id alone (a `jti` from `listSessions`) and its renewals. */
  revokeId (jti: string): Promise<void>
  /**
   * With session limits: adds a new login to its user's index and ends, on every instance, the
   * sessions it evicts, in one atomic step. Rejects `WEAPP_REVOCATION_UNAVAILABLE` where it could
   * not be stored (then the login must not be answered).
   */
  track (login: TrackedLogin): Promise<void>
  /** With session limits: records a renewal in the index (batched with Redis; never fails a request). */
  touch (session: SessionRef, expiresAt: number, now: number): void
  /** With session limits: a user's (a key from `userKey`) live sessions, newest first. */
  listSessions (user: string): Promise<TrackedSession[]>
  /**
   * Ends a one-time token (a link token) if nothing ended it before: true for the one call that did,
   * on every instance, false for every later one. Rejects `WEAPP_REVOCATION_UNAVAILABLE` where it could not be stored.
   */
  consume (jti: string, expiresAt: number): Promise<boolean>
  /**
   * Takes `name` for `ms` if nobody holds it (fleet-wide with Redis): true for the one call that
   * did. For rates such as "at most one session_key reset per user per interval". Rejects where the
   * store could not be asked.
   */
  claim (name: string, ms: number): Promise<boolean>
  /** How many revocations are held. */
  size (): number
  close (): Promise<void>
}

/** A new login as the index takes it. */
export type TrackedLogin = SessionRef & { platform: string, device: string | undefined, expiresAt: number }

/** Session entries of one user kept apart at most; the next revocation ends all their logins until now instead. */
export const MAX_REVOKED_PER_USER = 8
/** ms: how often a Redis-backed instance asks for what it may have missed (a lost pub/sub message). */
export const RECONCILE_INTERVAL = 5_000
/** Members a page of a load or reconcile reads. */
export const PAGE = 1000

/**
 * The key of a user: `[appId, openid]`, `['*', openid]` for an openid in every app, or
 * `[appId, corpId, userId]` for a member of a company. JSON, so no id can alias another.
 */
export function userKey (appId: string | undefined, user: { openid: string } | { corpId: string, userId: string }): string {
  return 'corpId' in user ? JSON.stringify([appId, user.corpId, user.userId]) : JSON.stringify([appId ?? '*', user.openid])
}

function sessionUser (session: SessionRef): string {
  return session.corpId === undefined ? userKey(session.appId, { openid: session.openid }) : userKey(session.appId, session)
}

/** The index a session is listed in: an openid's in every app, a member's in their app (see `indexOfUserKey`). */
export function indexUserOf (session: SessionRef): string {
  return session.corpId === undefined ? userKey(undefined, { openid: session.openid }) : userKey(session.appId, session)
}

/** What a revocation check needs of an index entry: its user comes from the index's key. */
export function refOf (index: string, s: TrackedSession): SessionRef {
  const parts = JSON.parse(index) as string[]
  return parts.length === 3
    ? { jti: s.jti, loginAt: s.loginAt, appId: s.appId, corpId: parts[1] as string, userId: parts[2] as string }
    : { jti: s.jti, loginAt: s.loginAt, appId: s.appId, openid: parts[1] as string }
}

const isId = (value: unknown): value is string => typeof value === 'string' && value !== ''
const JTI = /^[A-Za-z0-9_-]{22}$/
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** A user key as stored: today's JSON, or (entries of 0.1) `appId\nopenid` / `appId\ncorpId\nuserId`. */
function parseUser (value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  if (value.startsWith('[')) {
    let parts: unknown
    try { parts = JSON.parse(value) } catch { return undefined }
    if (!Array.isArray(parts) || !parts.every(isId)) return undefined
    if (parts.length === 2) return value
    return parts.length === 3 && parts[0] !== '*' ? value : undefined
  }
  const parts = value.split('\n')
  if (!parts.every(isId)) return undefined
  if (parts.length === 2) return userKey(parts[0] === '*' ? undefined : parts[0], { openid: parts[1] as string })
  return parts.length === 3 && parts[0] !== '*' ? userKey(parts[0], { corpId: parts[1] as string, userId: parts[2] as string }) : undefined
}

interface Revoked { expiresAt: number, user: string | undefined, loginAt: number, kicked?: true }

/** The in-memory state, shared by both stores. */
export class Known {
  readonly sessions = new Map<string, Revoked>() // jti -> entry
  readonly byUser = new Map<string, string[]>() // user -> the jtis of their session entries (a few: arrays cost far less than sets)
  readonly users = new Map<string, { before: number, expiresAt: number }>() // user -> logins until `before` are ended
  readonly #maxAge: number
  readonly #warn: (message: string) => void
  #writes = 0
  #ignored = 0

  constructor (maxAge: number, warn: (message: string) => void) {
    this.#maxAge = maxAge
    this.#warn = warn
  }

  /**
   * Applies a stored or published entry. What the API cannot have made (dated past this clock's
   * skew, kept longer than maxAge, a malformed id) is ignored: whoever can write to Redis could
   * otherwise end every later login of a user. Logged once.
   */
  apply (member: string, expiresAt: number, now: number): void {
    // Kept CLOCK_SKEW past its expiry: an instance whose clock is behind still takes the token as live that long.
    if (!(expiresAt + CLOCK_SKEW > now)) return
    let entry: unknown
    try {
      entry = JSON.parse(member)
    } catch {}
    const [kind, id, third, fourth] = Array.isArray(entry) ? entry as unknown[] : []
    const inBounds = typeof expiresAt === 'number' && expiresAt <= now + this.#maxAge + CLOCK_SKEW
    // A session a later login evicted (maxSessions, oneSessionPer): ended like a revoked one, told apart.
    if (inBounds && kind === 'k' && typeof id === 'string' && JTI.test(id) && third === undefined) {
      this.#addSession(id, { expiresAt, user: undefined, loginAt: 0, kicked: true })
      this.#written(now)
      return
    }
    if (inBounds && kind === 's' && typeof id === 'string' && JTI.test(id)) {
      const user = third === undefined ? undefined : parseUser(third)
      if (third === undefined || (user !== undefined && isTime(fourth) && fourth <= now + CLOCK_SKEW)) {
        this.#addSession(id, { expiresAt, user, loginAt: (fourth as number | undefined) ?? 0 })
        this.#written(now)
        return
      }
    }
    const user = kind === 'u' ? parseUser(id) : undefined
    if (inBounds && user !== undefined && isTime(third) && third <= now + CLOCK_SKEW) {
      this.#addUser(user, third, expiresAt)
      this.#written(now)
      return
    }
    this.ignore(member)
  }

  /** Logs the first entry ignored (later ones are only counted: a flood of them must not flood the log). */
  ignore (what: string): void {
    if (this.#ignored++ === 0) this.#warn(`fastify-weapp: ignored a revocation entry this plugin cannot have made (${what.slice(0, 120)}); check who writes to the revocation set and channel`)
  }

  #addSession (jti: string, entry: Revoked): void {
    const known = this.sessions.get(jti)
    if (known !== undefined) {
      // Ended twice (revoked, evicted): one entry, kept as long as the longer asks, evicted if either says so.
      known.expiresAt = Math.max(known.expiresAt, entry.expiresAt)
      if (entry.kicked === true) known.kicked = true
      return
    }
    this.sessions.set(jti, entry)
    if (entry.user === undefined) return
    const jtis = this.byUser.get(entry.user)
    if (jtis === undefined) this.byUser.set(entry.user, [jti])
    else jtis.push(jti)
  }

  #addUser (user: string, before: number, expiresAt: number): void {
    const known = this.users.get(user)
    this.users.set(user, { before: Math.max(before, known?.before ?? 0), expiresAt: Math.max(expiresAt, known?.expiresAt ?? 0) })
    // Session entries this one covers go: their logins end by loginAt + maxAge <= its expiry.
    for (const jti of [...this.byUser.get(user) ?? []]) {
      if ((this.sessions.get(jti) as Revoked).loginAt <= before) this.#dropSession(jti)
    }
  }

  #dropSession (jti: string): void {
    const entry = this.sessions.get(jti) as Revoked
    this.sessions.delete(jti)
    if (entry.user === undefined) return
    const jtis = this.byUser.get(entry.user) as string[]
    jtis.splice(jtis.indexOf(jti), 1)
    if (jtis.length === 0) this.byUser.delete(entry.user)
  }

  /** Expired entries go once the writes since the last sweep reach half the size: amortized O(1) a write. */
  #written (now: number): void {
    if (++this.#writes < Math.max(256, this.size / 2)) return
    this.#writes = 0
    this.sweep(now)
  }

  get size (): number {
    return this.sessions.size + this.users.size
  }

  sweep (now: number): void {
    for (const [jti, entry] of this.sessions) if (entry.expiresAt + CLOCK_SKEW <= now) this.#dropSession(jti)
    for (const [user, entry] of this.users) if (entry.expiresAt + CLOCK_SKEW <= now) this.users.delete(user)
  }

  /** The member strings of a user's session entries (to drop from Redis when a user entry replaces them). */
  sessionsOf (user: string): string[] {
    return (this.byUser.get(user) ?? []).map((jti) => {
      const { loginAt } = this.sessions.get(jti) as Revoked
      return JSON.stringify(['s', jti, user, loginAt])
    })
  }

  isKicked (jti: string): boolean {
    return this.sessions.get(jti)?.kicked === true
  }

  isRevoked (session: SessionRef): boolean {
    if (this.sessions.size !== 0 && this.sessions.has(session.jti)) return true
    if (this.users.size === 0) return false
    // The user in this app, and (for openids) in every app: either entry may end the session.
    const inApp = this.users.get(sessionUser(session))
    if (inApp !== undefined && session.loginAt <= inApp.before) return true
    if (session.corpId !== undefined) return false
    const inAny = this.users.get(userKey(undefined, { openid: session.openid }))
    return inAny !== undefined && session.loginAt <= inAny.before
  }
}

/** One revocation as stored: a member of the sorted set (JSON) and when it expires (its score). */
export interface Entry {
  member: string
  expiresAt: number
  replaces: string[]
  /** A one-time token's id: stored only where no entry of that id is, atomically. */
  once?: string
  /** With session limits: what the entry ends, to drop from the user's index in the same step. */
  unindex?: Unindex
}

/** One session of an index, or a user's logins until `before` (in one app, or in all). */
export type Unindex = { index: string, jti: string } | { index: string, appId: string | undefined, before: number }

/**
 * The entry that ends a session: its own (with its user and login time), or, past
 * MAX_REVOKED_PER_USER of that user's, one "logins until now" entry that replaces them.
 */
function sessionEntry (known: Known, session: SessionRef, now: number, maxAge: number): Entry {
  const user = sessionUser(session)
  if ((known.byUser.get(user)?.length ?? 0) >= MAX_REVOKED_PER_USER) return userEntry(known, user, Math.max(now, session.loginAt), maxAge)
  const unindex = { index: indexUserOf(session), jti: session.jti }
  return { member: JSON.stringify(['s', session.jti, user, session.loginAt]), expiresAt: now + maxAge, replaces: [], unindex }
}

function userEntry (known: Known, user: string, before: number, maxAge: number): Entry {
  // Every session that logged in until `before` is renewed up to its loginAt + maxAge at most.
  const { index, appId } = indexOfUserKey(user)
  return { member: JSON.stringify(['u', user, before]), expiresAt: before + maxAge, replaces: known.sessionsOf(user), unindex: { index, appId, before } }
}

export interface RevocationOptions {
  /** ms: how long one login lives through renewals (the `maxAge` option); every instance must share it. */
  maxAge: number
  /** Logs what happens to the store (never a secret: revocations hold ids, not keys). */
  log: { warn (obj: unknown, msg?: string): void, info (obj: unknown, msg?: string): void }
  /** The clock (ms). */
  now?: () => number
  /** The limits of a user's sessions, where sessions are tracked per user (an index); undefined for none. */
  limits?: SessionLimits
}

/** A store's index of sessions per user (see lib/revocation/devices.ts). */
export interface IndexStore {
  /** Adds a login and ends what it evicts, atomically with their publication: the evicted ids. */
  track (index: string, login: TrackedSession, now: number): Promise<string[]>
  touch (index: string, jti: string, expiresAt: number, renewedAt: number): void
  /** The index's sessions that have not expired (ended ones may still be there). */
  list (index: string, now: number): Promise<TrackedSession[]>
}

/**
 * The part of an ioredis client (`fastify.redis` from @fastify/redis) revocation uses. A second
 * connection (`duplicate()`) subscribes; the given one reads and writes.
 */
export interface RedisLike {
  readonly status: string
  zscan (key: string, cursor: string, countToken: 'COUNT', count: number): Promise<[string, string[]]>
  zrangebyscore (key: string, min: number | string, max: number | string, withScores: 'WITHSCORES', limit: 'LIMIT', offset: number, count: number): Promise<string[]>
  eval (script: string, keys: number, ...args: Array<string | number>): Promise<unknown>
  /** Where the client has it (ioredis does), a script already loaded runs by its SHA-1: its text is not sent again. */
  evalsha? (sha: string, keys: number, ...args: Array<string | number>): Promise<unknown>
  duplicate (): RedisLike
  subscribe (channel: string): Promise<unknown>
  on (event: string, listener: (...args: any[]) => void): unknown
  quit (): Promise<unknown>
  disconnect (): void
  /** `INFO replication`: how many replicas the master has (a revocation waits for one of them). */
  info? (section: 'replication'): Promise<string>
  /** For `WAIT`. */
  call? (command: string, ...args: Array<string | number>): Promise<unknown>
  /** An ioredis `Cluster` has it: there `WAIT` cannot be sent to the set's master, and is not. */
  nodes? (...args: never[]): unknown
}

/** Names `claim` holds in memory at most; past it, a claim of a new name is refused (the rate holds). */
export const MAX_CLAIMS = 10_000

/** Claims held in this process: name -> until (ms). */
export function memoryClaims (now: () => number = Date.now): (name: string, ms: number) => Promise<boolean> {
  const held = new Map<string, number>()
  return async (name, ms) => {
    const time = now()
    if ((held.get(name) ?? 0) > time) return false
    if (held.size >= MAX_CLAIMS) {
      for (const [other, until] of held) if (until <= time) held.delete(other)
      if (held.size >= MAX_CLAIMS) return false
    }
    held.set(name, time + ms)
    return true
  }
}

/** The entry that marks an evicted session; it ends it (and its renewals) like a revocation. */
export const kickedEntry = (jti: string): string => JSON.stringify(['k', jti])

/** The revocations of a store: `keep` makes an entry durable (and known here) or rejects. */
export function revocationsOf (known: Known, { maxAge, now = Date.now, limits }: RevocationOptions, keep: (entry: Entry, now: number) => Promise<boolean>, close: () => Promise<void>, claim = memoryClaims(now), index?: IndexStore): Revocations {
  const tracked = limits === undefined ? undefined : index
  const withoutIndex = ({ unindex: _unindex, ...entry }: Entry): Entry => entry
  const kept = async (entry: Entry, time: number): Promise<boolean> => await keep(tracked === undefined ? withoutIndex(entry) : entry, time)
  return {
    isRevoked: (session) => known.isRevoked(session),
    isKicked: (jti) => known.isKicked(jti),
    revokeSession: async (session) => {
      const time = now()
      await kept(sessionEntry(known, session, time, maxAge), time)
    },
    revokeUser: async (user) => {
      const time = now()
      await kept(userEntry(known, user, time, maxAge), time)
    },
    revokeId: async (jti) => {
      const time = now()
      await keep({ member: JSON.stringify(['s', jti]), expiresAt: time + maxAge, replaces: [] }, time)
    },
    // The index's calls come only where limits are set (lib/index.ts checks): `tracked` is there.
    async track (login) {
      const time = now()
      const { platform, device, jti, appId, loginAt, expiresAt } = login
      const out = await (tracked as IndexStore).track(indexUserOf(login), { jti, appId, platform, device, loginAt, expiresAt, renewedAt: undefined }, time)
      // Stored and published by the store; known here at once.
      for (const id of out) known.apply(kickedEntry(id), time + maxAge, time)
    },
    touch (session, expiresAt, time) {
      tracked?.touch(indexUserOf(session), session.jti, expiresAt, time)
    },
    async listSessions (user) {
      const { index, appId } = indexOfUserKey(user)
      const time = now()
      const all = await (tracked as IndexStore).list(index, time)
      return all.filter((s) => (appId === undefined || s.appId === appId) && !known.isRevoked(refOf(index, s))).sort(newestFirst)
    },
    consume: async (jti, expiresAt) => await keep({ member: JSON.stringify(['s', jti]), expiresAt, replaces: [], once: jti }, now()),
    claim,
    size: () => known.size,
    close
  }
}
