import type { IdentityOf, SessionOf } from './platforms/index.js'

/**
 * The public types of sessions and identities, as the app declares them: the entry point re-exports
 * them (declaration merging through `declare module 'fastify-weapp'` reaches these interfaces), and
 * the plugin's own files import them from here, never from the entry point.
 */

/**
 * Declares which kinds of session your apps issue. Empty by default: every app's users are openids
 * (`WeappSession` has `openid` as a string). With apps whose users are members of a company, say so
 * once (`declare module 'fastify-weapp' { interface WeappSessionTypes { … } }`, see the README's
 * TypeScript section) and the session becomes a union to narrow on `platform`.
 */
export interface WeappSessionTypes {}

/**
 * The app's own claims, as `onLogin` seals them and `request.weappSession.claims` reads them back.
 * Empty by default (any object); declare yours once, the way @fastify/jwt's `FastifyJWT` types
 * `request.user`: `declare module 'fastify-weapp' { interface WeappClaims { userId: number, roles: string[] } }`.
 * A session sealed without claims reads `{}`: make a member optional where some sessions lack it.
 */
export interface WeappClaims {}

/** Who is calling, as the session says (a union of the kinds `WeappSessionTypes` declares), with the app's claims. */
export type WeappSession = SessionOf<WeappSessionTypes> & {
  /** The app's claims from `onLogin` (or `onRenew`, or `seal(identity, { claims })`), frozen; `{}` for none. */
  readonly claims: Readonly<WeappClaims>
  /** The login's device label (the login body's `device`), kept through renewals; absent where it sent none. */
  readonly device?: string
}
/** What a login yields and a session holds. */
export type WeappIdentity = IdentityOf<WeappSessionTypes>

/** What a session says of its user, without its key, times or claims: `onLogin`'s identity, a login answer's ids. */
type UserOf<S> = S extends unknown ? Omit<S, 'sessionKey' | 'expiresAt' | 'jti' | 'loginAt'> : never
/** Who logged in, as `onLogin` is told: platform, appId and the platform's ids; never the session_key. */
export type WeappLoginIdentity = UserOf<SessionOf<WeappSessionTypes>>
/** What `fastify.weapp.redeemLink()` gives back: the identity of the login that needed a link, ready for `seal()`. */
export type WeappLinkedIdentity = WeappLoginIdentity & { readonly sessionKey: string }
/** The login route's answer (200). `U` is what `onLogin` answers as `user`. */
export type WeappLoginAnswer<U = Record<string, unknown>> = (WeappLoginIdentity extends infer I ? I extends unknown ? Omit<I, 'platform'> : never : never) & {
  /** Send back as `Authorization: Bearer <session>`. */
  session: string
  /** Seconds until the session expires. */
  expiresIn: number
  /** With the jwt option: the JWS from the app's @fastify/jwt. */
  token?: string
  /** What `onLogin` answered, if anything. */
  user?: U
}
/** The login route's 409 when `onLogin` asked for a link. */
export interface WeappLinkRequired {
  statusCode: 409
  code: 'WEAPP_LINK_REQUIRED'
  error: string
  message: string
  /** For the app's own route: `fastify.weapp.redeemLink(linkToken)`. */
  linkToken: string
  /** Seconds the link token may be redeemed in. */
  expiresIn: number
}
