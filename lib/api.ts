import type { FastifyReply, FastifyRequest } from 'fastify'
import type { WeappClaims, WeappIdentity, WeappLinkedIdentity, WeappSession } from './types.js'
import type { AppKind, WeappPhone } from './platforms/index.js'
import type { SessionKeyApi } from './platforms/platform.js'
import type { WeappEncryptedMessage } from './user-keys.js'
import type { RevokedUser } from './revocation/index.js'
import type { TrackedSession } from './revocation/index.js'

/** The plugin's decorators: `fastify.weapp` and `request.weappSession`. */

/** One app's building blocks: `fastify.weapp.app(appId)`. */
export interface WeappAppApi extends SessionKeyApi {
  readonly appId: string
  /** How the app logs in: its row of the platform table (see the README's table of platforms). */
  readonly kind: AppKind
  /** Exchanges a login code of this app with its platform (`jscode2session`, or the platform's own login API). */
  code2Session (code: string): Promise<WeappIdentity>
  /**
   * Seals an identity (from `code2Session`, or `redeemLink`) into a session of this app (the
   * "3rd_session"), with the app's claims (a JSON object, at most 1 KiB as JSON) and a device label
   * if given. With the `revocation` option it is a login like the route's: indexed, and the
   * sessions it evicts are ended (it rejects `WEAPP_REVOCATION_UNAVAILABLE` where that could not be stored).
   */
  seal (identity: WeappIdentity | WeappLinkedIdentity, options?: { claims?: WeappClaims, device?: string }): Promise<string>
  /** Decrypts `encryptedData` + `iv` with a session_key; the watermark must be this app's. */
  decrypt (sessionKey: string, encryptedData: string, iv: string): Record<string, unknown>
  /** This app's access token (its platform's token API's), cached, one fetch in flight at most. */
  accessToken (): Promise<string>
  /** The phone number behind a getPhoneNumber button code of this app; with `openid`, the platform checks the code is that user's. */
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  /** Whether the platform still takes `sessionKey` as the user's current session_key (`wxa/checksession`). */
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
  /**
   * Decrypts what the mini program encrypted with the user's encrypt key (`getLatestUserKey()`),
   * picking the key by `version` among the user's last three (fetched with `getUserEncryptKey`, cached
   * until they expire). Any failure is `400 WEAPP_DECRYPT_FAILED`. Resolves the JSON value inside.
   */
  openEncrypted (session: { openid: string, sessionKey: string }, message: WeappEncryptedMessage): Promise<unknown>
}

/**
 * `fastify.weapp`: the hook and the building blocks the routes are made of. The top-level
 * building blocks are the app's where one app is configured; with several, `app(appId)` gives
 * them (the top-level ones then throw a TypeError that says so).
 */
export interface WeappApi extends Omit<WeappAppApi, 'appId' | 'kind'> {
  /** An `onRequest`/`preHandler` hook: sets `request.weappSession` (a session of any configured app) or answers 401. */
  authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /**
   * The session `authenticate` set, typed non-null, for a route behind it: `const { claims } = fastify.weapp.sessionOf(request)`.
   * Throws a TypeError (a 500: the route's bug) where authenticate did not run.
   */
  sessionOf (request: FastifyRequest): WeappSession
  /**
   * Opens a link token (the `linkToken` of a 409 `WEAPP_LINK_REQUIRED`) and gives back the identity
   * of that login, for `app(identity.appId).seal(identity, { claims })` once the app knows the user.
   * Rejects `WEAPP_LINK_INVALID` (not a link token, a session included), `WEAPP_LINK_EXPIRED`, and
   * with the revocation option `WEAPP_LINK_EXPIRED` too after the first redeem (on any instance: its message says it was redeemed).
   */
  redeemLink (linkToken: string): Promise<WeappLinkedIdentity>
  /** Opens a session token of any configured app; rejects with `WEAPP_SESSION_INVALID`, `WEAPP_SESSION_EXPIRED` or (ended) `WEAPP_SESSION_REVOKED` / `WEAPP_SESSION_KICKED`. */
  unseal (token: string): Promise<WeappSession>
  /** Whether `signature` is `sha1(rawData + sessionKey)` in hex (constant-time). */
  verifySignature (rawData: string, signature: string, sessionKey: string): boolean
  /** One app's building blocks; rejects with `WEAPP_UNKNOWN_APP` for an app that is not configured. */
  app (appId: string): Promise<WeappAppApi>
  /**
   * Ends a session (a token, a session from `unseal`/`request.weappSession`, or a `jti` from `listSessions`) and its renewals, on
   * every instance. Needs the `revocation` option; rejects `WEAPP_REVOCATION_UNAVAILABLE` when it
   * could not be stored. An expired token resolves (there is nothing left to end).
   */
  revoke (tokenOrSession: string | WeappSession): Promise<void>
  /**
   * A user's live sessions (as `revokeUser` names users; with `appId`, that app's), newest first:
   * id, app, platform, device label, login time, expiry and last renewal. `revoke(jti)` ends one.
   * A session is listed until it ends or its login's `maxAge` passes, whatever expiry its renewals
   * recorded. Needs the `revocation` option; rejects `WEAPP_REVOCATION_UNAVAILABLE` where Redis does not answer.
   */
  listSessions (user: RevokedUser): Promise<Array<Readonly<TrackedSession>>>
  /** Ends every session of a user that logged in until now: `{ openid, appId? }` or `{ corpId, userId, appId }`. */
  revokeUser (user: RevokedUser): Promise<void>
  /** Whether a decoded JWS of the jwt bridge may be trusted: false once its session was ended. See `jwtTrusted`. */
  jwtTrusted (decoded: unknown): boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    weapp: WeappApi
  }
  interface FastifyRequest {
    /** The caller's session once `fastify.weapp.authenticate` ran; `null` before. */
    weappSession: WeappSession | null
  }
}
