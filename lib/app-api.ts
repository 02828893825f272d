import type { FastifyBaseLogger } from 'fastify'
import type { App } from './apps.js'
import type { WeappAppApi } from './api.js'
import { refuseSession, UnsupportedError } from './errors.js'
import { keyedBudget, userBudgetKey, type FailureBudget } from './failure-budget.js'
import { deviceLabel, type SessionLimits } from './revocation/index.js'
import { users } from './platforms/index.js'
import type { SessionKeyApi } from './platforms/platform.js'
import type { Users } from './platforms/users.js'
import type { Revocations, TrackedLogin } from './revocation/index.js'
import { claimsText, randomJti, sessionExp, type AnyIdentity, type SessionCodec } from './session.js'
import type { WeappClaims, WeappIdentity, WeappLinkedIdentity } from './types.js'
import { decryptUserData } from './user-data.js'
import { createChannel } from './user-keys.js'

/**
 * The building blocks of one app (`fastify.weapp.app(appId)`, and the top level's where one app is
 * configured): its platform's APIs, `seal` into a session of it, `decrypt` with its watermark.
 */

/** The names of the session_key and user APIs, the building blocks of `SessionKeyApi`. */
const SESSION_KEY_APIS = ['resetUserSessionKey', 'getUserEncryptKey', 'getPluginOpenPId', 'getPaidUnionid', 'getUserRiskRank', 'checkEncryptedData'] as const

/** A `SessionKeyApi` whose every API is `make(name)`: the ones that only refuse. */
function eachSessionKeyApi (make: (name: string) => () => Promise<never>): SessionKeyApi {
  return Object.fromEntries(SESSION_KEY_APIS.map((name) => [name, make(name)])) as Record<typeof SESSION_KEY_APIS[number], () => Promise<never>>
}

/** An app's session_key APIs, or ones that reject `WEAPP_UNSUPPORTED` where its platform has none. */
function sessionKeysOf (app: App): SessionKeyApi {
  if (app.sessionKeys !== undefined) return app.sessionKeys
  const none = (name: string) => async (): Promise<never> => {
    throw new UnsupportedError(`Mini program ${app.appId} is a ${app.platform.title} one: ${app.platform.title} has no ${name} here`)
  }
  return eachSessionKeyApi(none)
}

/** What every app's building blocks share: the codec, and the index of sessions per user where there is one. */
export interface Shared {
  sessions: SessionCodec
  watermarkMaxAge: number
  /** seconds */
  expiresIn: number
  track: ((login: TrackedLogin) => Promise<void>) | undefined
  /** The per-user budget of failures (`decryptFailureLimit`) the routes count against, or undefined for none. */
  failures?: FailureBudget | undefined
}

/** The building blocks of one app, on the shared codec. */
export function appApi (app: App, { sessions, watermarkMaxAge, expiresIn, track, failures }: Shared): WeappAppApi {
  const decryptOptions = { appId: app.appId, watermarkMaxAge }
  const keys = sessionKeysOf(app)
  return Object.freeze({
    resetUserSessionKey: keys.resetUserSessionKey,
    getUserEncryptKey: keys.getUserEncryptKey,
    getPluginOpenPId: keys.getPluginOpenPId,
    getPaidUnionid: keys.getPaidUnionid,
    getUserRiskRank: keys.getUserRiskRank,
    checkEncryptedData: keys.checkEncryptedData,
    // The channel's failures count against the user's budget of the routes (the same key as theirs).
    openEncrypted: createChannel(keys, { platform: app.platform, failures: keyedBudget(failures, (openid) => userBudgetKey(app.appId, users.userOf(app.platform.users, { openid }))) }),
    appId: app.appId,
    kind: app.kind,
    code2Session: app.code2Session as WeappAppApi['code2Session'],
    seal: async (identity: WeappIdentity | WeappLinkedIdentity, options?: { claims?: WeappClaims, device?: string }) => {
      // A session holds a user of its app's platform, and says which platform, whatever the identity given says.
      const own = app.platform.users
      const given = identity !== null && typeof identity === 'object' ? identity as { platform?: unknown } : undefined
      // The identity's shape: its platform's where it names one, else the one its fields make.
      const shape = given === undefined ? undefined : typeof given.platform === 'string' ? users.ofPlatform(given.platform) : users.ofIdentity({ ...given, platform: undefined })
      if (given !== undefined && shape?.fields !== own.fields) {
        throw new TypeError(`seal(identity): app ${app.appId} is a ${app.platform.title} app: give ${own.gives}`)
      }
      // An openid is a user of one app: a link token's identity seals for the app it came from.
      const from = (identity as { appId?: unknown } | null)?.appId
      if (from !== undefined && from !== app.appId) {
        throw new TypeError(`seal(identity): the identity is a user of ${String(from)}, not of ${app.appId}; seal it with fastify.weapp.app(identity.appId)`)
      }
      const claims = claimsText(options?.claims, 'seal(identity, { claims })')
      const device = deviceLabel(options?.device, 'seal(identity, { device })')
      const id = newLogin(device)
      const token = sessions.seal({ ...(identity as object), platform: own.platform } as AnyIdentity, app.appId, { ...id, now: id.loginAt }, claims)
      // A session issued here is a login like the route's: indexed, and what it evicts ended.
      if (track !== undefined) await track(trackedLogin(own, identity as object, app.appId, id, sessionExp(id.loginAt, expiresIn)))
      return token
    },
    decrypt: (sessionKey: string, encryptedData: string, iv: string) => decryptUserData(sessionKey, encryptedData, iv, decryptOptions),
    accessToken: app.accessToken,
    getPhoneNumber: app.getPhoneNumber,
    checkSessionKey: app.checkSessionKey
  })
}

const SEVERAL = "several apps are configured: use fastify.weapp.app(appId) for one app's building blocks"

/** The top-level building blocks where several apps are configured: each says to pick an app. */
/** An app's building blocks without what names the app: the top level's, with one app. */
export function withoutApp ({ appId: _appId, kind: _kind, ...blocks }: WeappAppApi): Omit<WeappAppApi, 'appId' | 'kind'> {
  return blocks
}

export const noSingleApp: Omit<WeappAppApi, 'appId' | 'kind'> = {
  code2Session: async () => { throw new TypeError(`code2Session: ${SEVERAL}`) },
  seal: async () => { throw new TypeError(`seal: ${SEVERAL}`) },
  decrypt: () => { throw new TypeError(`decrypt: ${SEVERAL}`) },
  accessToken: async () => { throw new TypeError(`accessToken: ${SEVERAL}`) },
  getPhoneNumber: async () => { throw new TypeError(`getPhoneNumber: ${SEVERAL}`) },
  checkSessionKey: async () => { throw new TypeError(`checkSessionKey: ${SEVERAL}`) },
  openEncrypted: async () => { throw new TypeError(`openEncrypted: ${SEVERAL}`) },
  ...eachSessionKeyApi((name) => async () => { throw new TypeError(`${name}: ${SEVERAL}`) })
}

/**
 * How a login reaches its user's index. With a cap the index is a promise (what it evicts must end
 * everywhere): a login it could not record is a 503. Without one it only lists sessions, so a login
 * the store could not record is answered all the same, as before the index was kept, and logged.
 */
export function trackerOf (store: Revocations | undefined, limits: SessionLimits | undefined, capped: boolean, log: FastifyBaseLogger): Shared['track'] {
  if (store === undefined || limits === undefined) return undefined
  if (capped) return store.track
  return async (login) => {
    await store.track(login).catch((err: unknown) => {
      log.warn({ err, appId: login.appId }, 'fastify-weapp: a login could not be recorded in its user\'s index of sessions; it was answered, and listSessions does not list it')
    })
  }
}

/** `redeemLink`: opens a link token, once where revocation is on, into the identity of its login. */
export function linkRedeemer (sessions: SessionCodec, revocations: Revocations | undefined): (linkToken: string) => Promise<WeappLinkedIdentity> {
  return async function redeemLink (linkToken: string): Promise<WeappLinkedIdentity> {
    const link = await sessions.unsealLink(linkToken)
    // Single-use with revocation on: the first redeem on any instance wins, atomically.
    if (revocations !== undefined && !(await revocations.consume(link.jti, link.expiresAt))) throw refuseSession('linkRedeemed', users.ofPlatform(link.platform))
    const { sessionKey, ...seen } = users.identityOf(link)
    const identity = { ...seen, platform: link.platform, appId: link.appId, sessionKey }
    // Server-side only: JSON (a reply, a log line) never shows the session_key.
    Object.defineProperty(identity, 'toJSON', { value: () => ({ ...seen, platform: link.platform, appId: link.appId }) })
    return Object.freeze(identity) as WeappLinkedIdentity
  }
}

/** A new login's id, time (ms) and device label. */
export function newLogin (device: string | undefined): { jti: string, loginAt: number, device: string | undefined } {
  return { jti: randomJti(), loginAt: Date.now(), device }
}

/**
 * What a user's index records of a new login (the login route's, or `seal()`'s): who, in the fields
 * of the app's platform, the login's id, time and device, its app and platform, and its expiry
 * (`exp`, seconds).
 */
export function trackedLogin (own: Users, identity: object, appId: string, login: ReturnType<typeof newLogin>, exp: number): TrackedLogin {
  return { ...users.answerOf(own, identity), ...login, appId, platform: own.platform, expiresAt: exp * 1000 } as TrackedLogin
}

/** One API object per app, made once (a looked-up app's lives as long as its App). */
export function appApis (shared: Shared): (app: App) => WeappAppApi {
  const apis = new WeakMap<App, WeappAppApi>()
  return (app) => {
    let api = apis.get(app)
    if (api === undefined) {
      api = appApi(app, shared)
      apis.set(app, api)
    }
    return api
  }
}
