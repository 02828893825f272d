import type { JWTPayload } from 'jose'
import { isBase64 } from '../base64.js'
import type { openUserData } from '../user-data.js'

/**
 * Who a platform's users are, as data, and the one mapping every part of the plugin uses between
 * an identity (what a login gives), the claims a session seals, the session `unseal` gives back,
 * the login route's answer and the jwt bridge's JWS. A platform's file declares its `Users`; the
 * table hands them all to `mapUsers`.
 */

/** One field of a user: its name in identities, sessions and answers, and its claim in a session token. */
export interface UserField {
  readonly name: string
  readonly claim: string
  /** Absent from some logins (a unionid). Never part of what identifies the user. */
  readonly optional?: true
  /** What it is, for the login route's OpenAPI description. */
  readonly describes: string
}

/** A platform's users: what its sessions say in `platform`, and how they are spelled. */
export interface Users {
  /** `request.weappSession.platform` */
  readonly platform: string
  /** For messages about its sessions. */
  readonly title: string
  readonly loginCall: string
  /**
   * The `pf` claim its sessions carry, or undefined for none: the first platforms' sessions are
   * spelled as they always were (told apart by their fields).
   */
  readonly tag: string | undefined
  /** Its fields; exactly one has the claim `sub`. */
  readonly fields: readonly UserField[]
  /** Whether a login may be anonymous: a user id and no session_key (`sessionKey: ''`). */
  readonly anonymous: boolean
  /** The JWS `sub` where the `sub` field alone is not unique (a member: `corpId:userId`); then every field rides along. */
  readonly subject?: (user: Readonly<Record<string, string>>) => string
  /** What `seal()` takes, for messages: `'{ openid, sessionKey, unionid? }'`. */
  readonly gives: string
  /** What `revokeUser()` takes: `'{ openid, appId }'`. */
  readonly revokes: string
  /** Why the phone route has nothing for its sessions, or undefined where it has phone numbers. */
  readonly noPhone: string | undefined
  /**
   * The bytes of its session_key (base64): 16 when absent, 24 for an AES-192 key, or 0 where its
   * sessions hold none (nothing of its users is encrypted with a per-user key).
   */
  readonly keyBytes?: 24 | 0
  /** How the decrypt route opens its users' encryptedData; default `openUserData` (AES-128-CBC, a watermark). */
  readonly userData?: typeof openUserData
  /** Why the decrypt route has nothing for its sessions: set where `keyBytes` is 0. */
  readonly noDecrypt?: string
  /**
   * The phone route's body field for its sessions where it is not `code` (a button's code): `response`,
   * a signed, encrypted answer its runtime gave, and what that is, for messages.
   */
  readonly phoneField?: { readonly name: 'response', readonly describes: string }
}

/** An openid-shaped user's identity: what a login yields and `seal` takes. `P` the platforms of this shape. */
export interface OpenidIdentity<P extends string> {
  openid: string
  sessionKey: string
  unionid?: string
  /** The platform; absent means the table's first openid platform. */
  platform?: P
  /** A login with only an anonymous code (where the platform has them): `sessionKey` is `''`. */
  anonymous?: true
}

/** An openid-shaped user's session, as `unseal` gives it. */
export interface OpenidSession<P extends string> {
  /** Which platform's user. */
  platform: P
  /** The AppID of the mini program the session was issued for (its `aud`). */
  appId: string
  /** The user's openid for this mini program. */
  openid: string
  /** The user's unionid, when the mini program is bound to an Open Platform account. */
  unionid?: string
  /** A session of an anonymous login: `openid` is the anonymous openid, and `sessionKey` is `''` (nothing to decrypt with). */
  anonymous?: true
  /** The session_key (base64). Server-side only: never send it to a client or a log. */
  sessionKey: string
  /** When the session expires, in milliseconds since the epoch (compare with `Date.now()`). */
  expiresAt: number
  /** The session's id, the same through renewals: what logout and `revoke()` end. */
  jti: string
  /** When the user logged in (ms since the epoch), the same through renewals. */
  loginAt: number
}

/** The openid shape: `sub` the openid, `uid` the unionid. */
export const OPENID_FIELDS: readonly UserField[] = Object.freeze([
  { name: 'openid', claim: 'sub', describes: 'The user\'s openid in this app' },
  { name: 'unionid', claim: 'uid', optional: true, describes: 'The user\'s unionid, when the app is bound to an Open Platform account' }
])

/** A session_key: the canonical base64 of 16 bytes (or of `bytes`). */
export function isSessionKey (value: unknown, bytes = 16): value is string {
  return typeof value === 'string' && value.length === Math.ceil(bytes / 3) * 4 && isBase64(value) && Buffer.byteLength(value, 'base64') === bytes
}

/** The bytes of a platform's session_key: 0 where its sessions hold none. */
export const keyBytesOf = (users: Users): number => users.keyBytes ?? 16

/** ids: non-empty strings; the token's length, not theirs, is bounded. */
export function isId (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

type Loose = Record<string, unknown>

/** A session as the mapping builds it, before the codec gives it its type. */
export type SessionFields = Loose & { platform: string, appId: string, sessionKey: string, expiresAt: number, jti: string, loginAt: number }

/**
 * What every part of the plugin asks of users, for any platform: `I` the identities, `S` the sessions
 * it builds (the table's types; the mapping builds them field by field from its rows, and says so
 * once, here). Users are read from any object, by their fields' names.
 */
export interface UserMapping<I extends object = Loose, S extends object = SessionFields> {
  /** The users of an identity (by its `platform`, else by its fields), or undefined. */
  ofIdentity (identity: unknown): Users | undefined
  /** The users of a session's `platform`. */
  ofPlatform (platform: string): Users | undefined
  /** The claims to seal (without the session's id, times and audience), or undefined when it is not an identity. */
  claimsOf (identity: unknown): JWTPayload | undefined
  /** The session in a payload, or undefined when the payload holds none. */
  sessionOf (payload: JWTPayload, id: { jti: string, loginAt: number }): S | undefined
  /** The identity a session holds, to seal its renewal. */
  identityOf (session: S): I
  /** Whether `user` gives every field that identifies a user of `users`. */
  fits (users: Users, user: object): boolean
  /** The user, as one string: what identifies them in their app (never an optional field). */
  userOf (users: Users, user: object): string
  /** A fresh login's identity of a session's user, keeping what the session knew and the answer lacks (a unionid). */
  refreshed (users: Users, identity: I, session: S): I
  /** Who logged in, for the login route's answer. */
  answerOf (users: Users, identity: object): Loose
  /** The jwt bridge's claims. */
  jwsOf (users: Users, identity: object, id: { jti: string, loginAt: number }): Loose
  /** The user a JWS of the bridge names, or undefined when it names none. */
  userOfJws (decoded: object): Loose | undefined
}

/** An object's fields by name, to read (every value unknown until checked). */
const fieldsOf = (value: object): Loose => value as Loose

/** The mapping for the table's users (several rows may share one `Users`). */
export function mapUsers<I extends object = Loose, S extends object = SessionFields> (all: readonly Users[]): UserMapping<I, S> {
  const shapes = [...new Set(all)]
  const byPlatform = new Map(shapes.map((u) => [u.platform, u]))
  const byTag = new Map(shapes.filter((u) => u.tag !== undefined).map((u) => [u.tag as string, u]))
  // Untagged sessions are told apart by their fields: the one with more required fields first.
  const requiredOf = new Map(shapes.map((u) => [u, u.fields.filter((f) => f.optional !== true)]))
  const required = (u: Users): UserField[] => requiredOf.get(u) as UserField[]
  const untagged = shapes.filter((u) => u.tag === undefined).sort((a, b) => required(b).length - required(a).length)
  const claims = new Set(shapes.flatMap((u) => u.fields.map((f) => f.claim)))
  const foreign = new Map(shapes.map((u) => [u, [...claims].filter((c) => !u.fields.some((f) => f.claim === c))]))
  const subField = new Map(shapes.map((u) => [u, u.fields.find((f) => f.claim === 'sub') as UserField]))

  const hasNoForeign = (u: Users, payload: Loose): boolean => (foreign.get(u) as string[]).every((c) => payload[c] === undefined)
  const fieldsValid = (u: Users, values: Loose, key: 'name' | 'claim'): boolean =>
    u.fields.every((f) => f.optional === true ? values[f[key]] === undefined || isId(values[f[key]]) : isId(values[f[key]]))

  function ofIdentity (identity: unknown): Users | undefined {
    if (identity === null || typeof identity !== 'object') return undefined
    const given = identity as Loose
    if (given.platform !== undefined) return byPlatform.get(given.platform as string)
    return untagged.find((u) => required(u).every((f) => given[f.name] !== undefined))
  }

  return {
    ofIdentity,
    ofPlatform: (platform) => byPlatform.get(platform),

    claimsOf (identity) {
      const u = ofIdentity(identity)
      if (u === undefined) return undefined
      const given = identity as Loose
      if (!fieldsValid(u, given, 'name')) return undefined
      const sealed: JWTPayload = {}
      if (given.anonymous !== undefined) {
        // An anonymous login: a user id, no session_key, nothing optional.
        if (given.anonymous !== true || !u.anonymous || given.sessionKey !== '' || u.fields.some((f) => f.optional === true && given[f.name] !== undefined)) return undefined
      } else if (keyBytesOf(u) === 0) {
        // Its users have no session_key: an identity that brings one is not theirs.
        if (given.sessionKey !== undefined && given.sessionKey !== '') return undefined
      } else {
        if (!isSessionKey(given.sessionKey, keyBytesOf(u))) return undefined
        sealed.sk = given.sessionKey
      }
      for (const f of u.fields) if (given[f.name] !== undefined) sealed[f.claim] = given[f.name]
      if (u.tag !== undefined) sealed.pf = u.tag
      if (given.anonymous === true) sealed.an = true
      return sealed
    },

    sessionOf (payload, id) {
      const { sk, exp, aud, pf, an } = payload
      const u = pf === undefined
        ? untagged.find((s) => required(s).every((f) => payload[f.claim] !== undefined))
        : byTag.get(pf as string)
      if (u === undefined || !hasNoForeign(u, payload) || !fieldsValid(u, payload, 'claim') || typeof exp !== 'number' || !isId(aud) ||
          (an === undefined ? (keyBytesOf(u) === 0 ? sk !== undefined : !isSessionKey(sk, keyBytesOf(u))) : an !== true || sk !== undefined || !u.anonymous)) return undefined
      const session: SessionFields = { platform: u.platform, appId: aud, sessionKey: sk === undefined ? '' : sk as string, expiresAt: exp * 1000, ...id }
      for (const f of u.fields) if (payload[f.claim] !== undefined) session[f.name] = payload[f.claim]
      if (an === true) session.anonymous = true
      return session as S
    },

    identityOf (typed) {
      const session = fieldsOf(typed)
      const u = byPlatform.get(session.platform as string) as Users
      const identity: Loose = { sessionKey: session.sessionKey }
      for (const f of u.fields) if (session[f.name] !== undefined) identity[f.name] = session[f.name]
      if (u.tag !== undefined) identity.platform = u.platform
      if (session.anonymous === true) identity.anonymous = true
      return identity as I
    },

    fits: (u, user) => required(u).every((f) => isId(fieldsOf(user)[f.name])),

    userOf: (u, user) => required(u).map((f) => fieldsOf(user)[f.name]).join('\n'),

    refreshed (u, identity, session) {
      const fresh: Loose = { ...fieldsOf(identity) }
      const known = fieldsOf(session)
      for (const f of u.fields) if (fresh[f.name] === undefined && known[f.name] !== undefined) fresh[f.name] = known[f.name]
      return fresh as I
    },

    answerOf (u, given) {
      const identity = fieldsOf(given)
      const answer: Loose = {}
      for (const f of u.fields) if (identity[f.name] !== undefined) answer[f.name] = identity[f.name]
      if (identity.anonymous === true) answer.anonymous = true
      return answer
    },

    jwsOf (u, given, { jti, loginAt }) {
      const identity = fieldsOf(given)
      const sub = subField.get(u) as UserField
      const jws: Loose = { sub: u.subject === undefined ? identity[sub.name] : u.subject(identity as Record<string, string>), platform: u.platform, jti, lat: loginAt }
      for (const f of u.fields) if ((u.subject !== undefined || f !== sub) && identity[f.name] !== undefined) jws[f.name] = identity[f.name]
      if (identity.anonymous === true) jws.anonymous = true
      return jws
    },

    userOfJws (given) {
      const decoded = fieldsOf(given)
      const u = byPlatform.get(decoded.platform as string)
      if (u === undefined) return undefined
      const sub = subField.get(u) as UserField
      const user: Loose = {}
      for (const f of required(u)) {
        const value = u.subject === undefined && f === sub ? decoded.sub : decoded[f.name]
        if (typeof value !== 'string') return undefined
        user[f.name] = value
      }
      return user
    }
  }
}
