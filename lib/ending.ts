import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { WeappApi } from './api.js'
import type { Registry } from './apps.js'
import type { SessionLimits, TrackedSession } from './revocation/index.js'
import { SessionExpiredError } from './errors.js'
import { users } from './platforms/index.js'
import { isStaleSessionKey } from './platforms/platform.js'
import { userKey, type RevokedUser, type Revocations, type SessionRef } from './revocation/index.js'
import type { AnySession, SessionCodec } from './session.js'
import type { WeappSession } from './types.js'

/**
 * Ending sessions: `revoke` (a token, a session or an id), `revokeUser`, `listSessions` of a user's
 * index, the jwt bridge's `jwtTrusted`, and the session_key reset that follows an end.
 */

/** What follows an ended session once it is stored (the session_key reset); never fails it. */
export type ResetKey = (session: unknown, log: FastifyBaseLogger) => Promise<void>

/** What ending sessions reads: the revocations (undefined without the option), the codec, the apps. */
export interface EndingContext {
  sessions: SessionCodec
  revocations: Revocations | undefined
  registry: Registry
  /** The limits of each user's index of sessions, or undefined where none is kept. */
  limits: SessionLimits | undefined
  /** The `resetSessionKey` option, or undefined for none. */
  reset: { interval: number } | undefined
  log: FastifyBaseLogger
}

/** The ending API, and the reset that a logout runs too. */
export type Ending = Pick<WeappApi, 'revoke' | 'revokeUser' | 'listSessions' | 'jwtTrusted'> & { resetKeyOf: ResetKey }

/**
 * Whether a JWS of the jwt bridge names a session that was ended. A JWS the bridge did not sign
 * (no `jti`, `lat` and `platform`) is not the plugin's to judge.
 */
function isRevokedJws (revocations: Revocations, decoded: unknown): boolean {
  if (decoded === null || typeof decoded !== 'object') return false
  const { jti, lat, aud } = decoded as Record<string, unknown>
  if (typeof jti !== 'string' || typeof lat !== 'number' || typeof aud !== 'string') return false
  const user = users.userOfJws(decoded as Record<string, unknown>)
  return user !== undefined && revocations.isRevoked({ jti, loginAt: lat, appId: aud, ...user } as SessionRef)
}

/**
 * @fastify/jwt's `trusted` option for routes that `request.jwtVerify()` the bridge's JWS: refuses
 * (401 `FST_JWT_AUTHORIZATION_TOKEN_UNTRUSTED`) the JWS of a session that was logged out or revoked.
 * `app.register(fastifyJwt, { secret, trusted: jwtTrusted })`. No I/O: the revocations in memory.
 */
export function jwtTrusted (request: FastifyRequest, decoded: unknown): boolean {
  const weapp = (request.server as { weapp?: WeappApi }).weapp
  return weapp === undefined || weapp.jwtTrusted(decoded)
}

/** The revocation entry of a user, or a TypeError that says what to give. */
function revokedUserKey (user: RevokedUser, who = 'revokeUser'): string {
  const given = user as Partial<Record<'openid' | 'appId' | 'corpId' | 'userId', unknown>> | null
  const isId = (v: unknown): v is string => typeof v === 'string' && v !== ''
  if (given !== null && typeof given === 'object' && (given.appId === undefined || isId(given.appId))) {
    if (isId(given.openid) && given.corpId === undefined) return userKey(given.appId, { openid: given.openid })
    if (isId(given.corpId) && isId(given.userId) && isId(given.appId)) return userKey(given.appId, { corpId: given.corpId, userId: given.userId })
  }
  throw new TypeError(`${who}(user) needs { openid, appId? } (without appId: that openid in every app) or { corpId, userId, appId }`)
}

const JTI = /^[A-Za-z0-9_-]{22}$/
const NO_INDEX = "needs the revocation option ('memory', or { redis } with an ioredis client): the index of each user's sessions is kept there"
const NO_REVOCATION = "needs the revocation option ('memory', or { redis } with an ioredis client): without it sessions end only when they expire"

/**
 * With `resetSessionKey`, an ended session's user gets a new session_key from its platform (at most once
 * per user per interval, fleet-wide), so the key sealed in a copied token decrypts nothing more. A
 * session without one (anonymous, a member, a platform without the API) has nothing to reset; a
 * failure is logged and never fails what ended the session.
 */
function resetWith (registry: Registry, store: Revocations, interval: number): ResetKey {
  return async (session, log) => {
    const { openid, sessionKey, appId } = session as Partial<Record<'openid' | 'sessionKey' | 'appId', unknown>>
    if (typeof openid !== 'string' || typeof appId !== 'string' || typeof sessionKey !== 'string' || sessionKey === '') return
    try {
      const app = await registry.get(appId)
      if (app.sessionKeys === undefined) return
      if (!(await store.claim(`reset:${userKey(appId, { openid })}`, interval))) {
        log.info({ appId }, 'fastify-weapp: this user\'s session_key was reset less than resetSessionKey.interval ago; not reset again')
        return
      }
      await app.sessionKeys.resetUserSessionKey(openid, sessionKey)
    } catch (err) {
      if (isStaleSessionKey(err)) log.info({ appId }, 'fastify-weapp: the ended session\'s session_key is no longer the user\'s; nothing to reset')
      else log.warn({ err, appId }, 'fastify-weapp: the session ended, but its session_key could not be reset; the key sealed in it may still decrypt until the user logs in again')
    }
  }
}

export function createEnding ({ sessions, revocations, registry, limits, reset, log }: EndingContext): Ending {
  const resetKeyOf: ResetKey = reset === undefined || revocations === undefined ? async (): Promise<void> => {} : resetWith(registry, revocations, reset.interval)

  async function revoke (tokenOrSession: string | WeappSession): Promise<void> {
    if (revocations === undefined) throw new TypeError(`revoke() ${NO_REVOCATION}`)
    let session: AnySession
    // A session's id alone (from listSessions): ended everywhere; its user's index drops it at their next login.
    if (typeof tokenOrSession === 'string' && JTI.test(tokenOrSession)) {
      await revocations.revokeId(tokenOrSession)
      return
    }
    if (typeof tokenOrSession === 'string') {
      try {
        session = await sessions.unseal(tokenOrSession)
      } catch (err) {
        if (err instanceof SessionExpiredError) return // nothing left to end
        throw err
      }
    } else {
      const given = tokenOrSession as Partial<Record<'jti' | 'appId' | 'openid' | 'corpId' | 'userId' | 'loginAt', unknown>> | null
      const user = given !== null && typeof given === 'object' && (typeof given.openid === 'string' || (typeof given.corpId === 'string' && typeof given.userId === 'string'))
      if (!user || typeof given.jti !== 'string' || typeof given.loginAt !== 'number' || typeof given.appId !== 'string') {
        throw new TypeError('revoke(tokenOrSession) needs a session token or a session (request.weappSession, or what unseal() gave)')
      }
      session = given as AnySession
    }
    await revocations.revokeSession(session)
    await resetKeyOf(session, log)
  }
  async function revokeUser (user: RevokedUser): Promise<void> {
    if (revocations === undefined) throw new TypeError(`revokeUser() ${NO_REVOCATION}`)
    const key = revokedUserKey(user)
    const { appId } = user
    // An app's users are given in its platform's fields ({ openid } or { corpId, userId }): any
    // other user would end nothing. An app that is gone (or a lookup that failed) is revoked as asked.
    const app = appId === undefined ? undefined : await registry.get(appId).catch(() => undefined)
    if (app !== undefined && !users.fits(app.platform.users, user)) {
      throw new TypeError(`revokeUser(user): ${app.appId} is a ${app.platform.title} app: give ${app.platform.users.revokes}`)
    }
    await revocations.revokeUser(key)
    // A session of the user (request.weappSession) carries the key the platform's reset is signed with.
    await resetKeyOf(user, log)
  }
  async function listSessions (user: RevokedUser): Promise<Array<Readonly<TrackedSession>>> {
    if (revocations === undefined || limits === undefined) throw new TypeError(`listSessions() ${NO_INDEX}`)
    const listed = await revocations.listSessions(revokedUserKey(user, 'listSessions'))
    return listed.map((s) => Object.freeze(s))
  }
  function trusts (decoded: unknown): boolean {
    return revocations === undefined || !isRevokedJws(revocations, decoded)
  }
  return { revoke, revokeUser, listSessions, jwtTrusted: trusts, resetKeyOf }
}
