import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify'
import type { Registry } from './apps.js'
import { refuseSession, SessionMissingError } from './errors.js'
import { decideRenewal } from './hooks.js'
import type { Settings } from './option-types.js'
import { users } from './platforms/index.js'
import type { Revocations } from './revocation/index.js'
import { claimsObject, sameLogin, sessionClaims, sessionExp, type AnySession, type OpenedSession, type SessionCodec } from './session.js'
import type { WeappSession } from './types.js'

/**
 * Who is calling: `authenticate` opens the bearer's session (ended ones refused, in memory), asks
 * `onRenew` where a renewal is due, and leaves the renewal for the reply to carry (`renewOnSend`).
 * A heal (`/decrypt { code }`) is a renewal too: `healClaims` decides its claims the same way.
 */

/** What authentication and renewal read: the codec, the revocations, the apps and the session settings. */
export interface AuthenticationContext {
  sessions: SessionCodec
  revocations: Revocations | undefined
  registry: Registry
  settings: Pick<Settings, 'expiresIn' | 'maxAge' | 'renewWithin' | 'onRenew'>
}

/** The hook, the renewal on the reply, the heal's claims and the opening of a token, on one context. */
export interface Authentication {
  authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /** The `onSend` hook that carries a due renewal (registered only where renewals are on). */
  renewOnSend: onSendHookHandler
  /** A session that opened and was not ended: at once where it opened at once, else a promise. */
  open (token: string): OpenedSession | Promise<OpenedSession>
  /** The claims a heal seals (see `RouteOptions.healClaims`). */
  healClaims (request: FastifyRequest, reply: FastifyReply, session: OpenedSession, exp: number): Promise<string | undefined>
}

const BEARER = /^Bearer +([^\s]+) *$/i
/** Where authenticate leaves a session that is due for renewal, for the reply to carry. */
const kRenew = Symbol('fastify-weapp.renew')
/** Set where authenticate asked `onRenew` in this request: its decision is in the request's session. */
const kAsked = Symbol('fastify-weapp.asked')
/** Cache-Control that lets a shared cache keep the reply: no session rides on it. */
const SHARED_CACHE = /\b(?:public|s-maxage)\b/i

/** The bearer token of an Authorization header, or undefined when there is none. */
function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  return BEARER.exec(header)?.[1]
}

/** A request as authenticate marks it: the session due for renewal, and whether `onRenew` was asked. */
type Marked = FastifyRequest & { [kRenew]?: OpenedSession | undefined, [kAsked]?: true }

export function createAuthentication ({ sessions, revocations, registry, settings }: AuthenticationContext): Authentication {
  const { renewWithin, maxAge, onRenew } = settings
  /** The exp (seconds) a renewal at `now` would have, or undefined when it would not outlast the session. */
  function renewedExp (session: AnySession, now: number): number | undefined {
    const exp = sessionExp(now, settings.expiresIn, session.loginAt + maxAge * 1000)
    return exp * 1000 <= session.expiresAt ? undefined : exp
  }
  /**
   * A fresh token for a session near its end (same jti, login time and claims, never past loginAt +
   * maxAge) and the seconds it lasts (its exp as sealed, less now), or undefined when it may not be renewed.
   */
  function renewal (session: OpenedSession, now: number): { token: string, expiresIn: number } | undefined {
    const exp = renewedExp(session, now)
    if (exp === undefined) return undefined
    const token = sessions.seal(users.identityOf(session), session.appId, sameLogin(session, maxAge, now), sessionClaims(session))
    // The index of the user's sessions learns of it (batched: no network on the request).
    revocations?.touch(session, exp * 1000, now)
    return { token, expiresIn: exp - Math.floor(now / 1000) }
  }
  /** Ends a session `onRenew` ended (revoked where revocation is on): the 401 to throw. */
  async function endedByHook (session: AnySession, request: FastifyRequest, reply: FastifyReply): Promise<Error> {
    reply.header('www-authenticate', 'Bearer error="invalid_token"')
    // With revocation on, ended for good (a retry never asks again); the store being down ends only this request.
    await revocations?.revokeSession(session).catch((err: unknown) => {
      request.log.warn({ err }, 'fastify-weapp: onRenew ended a session that could not be revoked; it ends again when next due')
    })
    return refuseSession('ended', users.ofPlatform(session.platform))
  }
  /**
   * The claims a heal (`/decrypt { code }`) seals. A heal that issues a later exp than its session's
   * is a renewal, and `onRenew` decides it like any other (asked once a request: where authenticate
   * asked already, its decision is in the session): `{ end }` ends the session, `{ claims }` replaces
   * them. The heal's token is this request's renewal: the reply carries no other (it would hold the
   * rotated session_key).
   */
  async function healClaims (request: FastifyRequest, reply: FastifyReply, session: OpenedSession, exp: number): Promise<string | undefined> {
    const marks: Marked = request
    marks[kRenew] = undefined
    if (onRenew === undefined || marks[kAsked] === true || exp * 1000 <= session.expiresAt) return sessionClaims(session)
    const outcome = await decideRenewal(onRenew, { session: session as WeappSession, request })
    if (outcome.kind === 'end') throw await endedByHook(session, request, reply)
    return outcome.replaced ? outcome.claims : sessionClaims(session)
  }
  // Renewals ride on the reply, decided when it is sent: only a 2xx of an authenticated route,
  // never one the handler ended the session in (logout), never one a shared cache may keep.
  const renewOnSend: onSendHookHandler = function renewOnSend (request, reply, payload, done) {
    const session = (request as Marked)[kRenew]
    if (session === undefined || reply.statusCode < 200 || reply.statusCode > 299 || revocations?.isRevoked(session) === true) {
      done(null, payload)
      return
    }
    const cacheControl = String(reply.getHeader('cache-control') ?? '')
    if (SHARED_CACHE.test(cacheControl)) {
      done(null, payload)
      return
    }
    // An app removed from the lookup keeps its sessions until they expire, and renews none.
    registry.get(session.appId).then(() => {
      const renewed = renewal(session, Date.now())
      if (renewed !== undefined) {
        reply.header('x-weapp-session', renewed.token)
        reply.header('x-weapp-session-expires-in', String(renewed.expiresIn))
        if (!/\bno-store\b/i.test(cacheControl)) reply.header('cache-control', 'private, no-store')
      }
      done(null, payload)
    }, () => { done(null, payload) })
  }
  /** A session that was not ended (in memory, no I/O: memo hits and the fast path are checked like everything else). */
  function notEnded (session: OpenedSession): OpenedSession {
    if (revocations?.isRevoked(session) === true) throw refuseSession(revocations.isKicked(session.jti) ? 'kicked' : 'revoked', users.ofPlatform(session.platform))
    return session
  }

  /** A session that opened and was not ended: at once where it opened at once, else a promise. */
  function open (token: string): OpenedSession | Promise<OpenedSession> {
    const opened = sessions.unsealNow(token)
    return opened instanceof Promise ? opened.then(notEnded) : notEnded(opened)
  }

  async function authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const token = bearerToken(request.headers.authorization)
    if (token === undefined) {
      reply.header('www-authenticate', 'Bearer')
      throw new SessionMissingError()
    }
    let session: OpenedSession
    try {
      // A session the memo or the fast path opened is here at once: only jose's verdict is awaited.
      let opened = open(token)
      if (opened instanceof Promise) opened = await opened
      session = opened
    } catch (err) {
      reply.header('www-authenticate', 'Bearer error="invalid_token"')
      throw err
    }
    if (renewWithin !== 0 && session.expiresAt - Date.now() < renewWithin * 1000) {
      // The app's say on a renewal, asked only when one is due (and would outlast the session).
      if (onRenew !== undefined && renewedExp(session, Date.now()) !== undefined) {
        const outcome = await decideRenewal(onRenew, { session: session as WeappSession, request })
        if (outcome.kind === 'end') {
          throw await endedByHook(session, request, reply)
        }
        // A heal in this request seals what was decided here: onRenew is asked once a request.
        (request as Marked)[kAsked] = true
        if (outcome.replaced) session = { ...session, claims: claimsObject(outcome.claims) }
      }
      (request as Marked)[kRenew] = session
    }
    request.weappSession = session as WeappSession
  }

  return { authenticate, renewOnSend, open, healClaims }
}
