import { UnsupportedError } from '../errors.js'
import type { AccessTokens } from '../upstream/tokens.js'
import type { Http } from '../upstream/http.js'
import type { Errcodes, Named, UpstreamCode } from '../upstream/faults.js'
import type { Users } from './users.js'
import type { Once } from '../once.js'
import type { AppKind } from './index.js'

/**
 * What a platform is, for the machinery: everything the plugin needs to know about one kind of app,
 * in one place (its file under lib/platforms/), behind one table (lib/platforms/index.ts). The
 * options, the session codec, the routes and the plugin read these fields and never a platform's
 * name.
 */

/** A phone number, as the platform's phone API gives it. */
export interface WeappPhone {
  /** With the country code for numbers outside mainland China. */
  phoneNumber: string
  /** Without the country code. */
  purePhoneNumber: string
  countryCode: string
}

/** One of a user's encrypt keys (getuserencryptkey): what the mini program's `getLatestUserKey()` gives. */
export interface WeappUserEncryptKey {
  /** base64 of 16 bytes (AES-128). A secret: never send it to a log. */
  encryptKey: string
  /** The key's 16-character IV. */
  iv: string
  version: number
  /** ms since the epoch (now + the API's `expire_in`). */
  expiresAt: number
  /** ms since the epoch. */
  createdAt: number
}

/** What getuserriskrank takes (the API's fields, camel-cased; `appid` is the app's). */
export interface WeappRiskRankInput {
  openid: string
  /** 0: sign-up or login, 1: a marketing event. */
  scene: 0 | 1
  clientIp: string
  mobileNo?: string
  emailAddress?: string
  extendedInfo?: string
  isTest?: boolean
}

/** A payment, by its transaction id or by the merchant's id and order number. */
export type WeappPaidQuery = { openid: string, transactionId: string } | { openid: string, mchId: string, outTradeNo: string }

/** The user and session_key APIs, where a platform has them (see the README's building blocks). */
export interface SessionKeyApi {
  /** Resets the user's session_key (`sessionKey`, their current one, stops working); the new one keeps the old expiry. */
  resetUserSessionKey (openid: string, sessionKey: string): Promise<{ openid: string, sessionKey: string }>
  /** The user's last three encrypt keys (each an hour), for the encrypted channel. */
  getUserEncryptKey (openid: string, sessionKey: string): Promise<WeappUserEncryptKey[]>
  /** The openpid of a plugin's user, from the code of a plugin's login call (single use, 5 minutes). */
  getPluginOpenPId (code: string): Promise<string>
  /** The unionid of a user who paid in the last 5 minutes. */
  getPaidUnionid (query: WeappPaidQuery): Promise<string>
  /** The platform's risk rank of a user (0 lowest to 4); `requestId` is the API's `unoin_id`, an id of the request. */
  getUserRiskRank (input: WeappRiskRankInput): Promise<{ riskRank: number, requestId?: number }>
  /** Whether the platform made this phone-number encryptedData for this app in the last 3 days. */
  checkEncryptedData (encryptedData: string): Promise<{ valid: boolean, createdAt?: number }>
}

/** One app's upstream building blocks: each app has its own client and access token. */
export interface App<I = unknown> {
  readonly appId: string
  /** The platform table's key of the app's kind. */
  readonly kind: AppKind
  /** The app's row of the platform table. */
  readonly platform: Platform
  code2Session (code: string): Promise<I>
  /** Where the platform has them: a login with an anonymous code (and the code, where there is one). */
  anonymousLogin?: (anonymousCode: string, code?: string) => Promise<I>
  accessToken (): Promise<string>
  getPhoneNumber (code: string, openid?: string): Promise<WeappPhone>
  checkSessionKey (openid: string, sessionKey: string): Promise<boolean>
  /** The user and session_key APIs, where the platform has them. */
  readonly sessionKeys?: SessionKeyApi
}

/** Token caches shared by the apps of a registration that use the same credentials, keyed by them. */
export type TokenPool = (key: string, make: () => AccessTokens) => AccessTokens

/** What a platform's `create` is given to build one app. */
export interface AppContext {
  /** The platform's API origin, from `apiBaseUrl`. */
  apiBaseUrl: string
  /** ms */
  timeout: number
  /** The app's lane of the registration's pooled client. */
  http: Http | undefined
  pool: TokenPool
  /** Accepts a signed answer at most once while it is valid (fleet-wide with `revocation: { redis }`): see lib/once.ts. */
  once: Once
}

/** How an app config says it is of this platform. */
export interface ConfigShape {
  /**
   * The config field that holds the platform's credentials (`'appSecret'`, or an object of its
   * own). Several platforms may share one; then `platform: kind` tells them apart.
   */
  readonly key: string
  /** Chosen with `platform: kind` (and, for the one `default` of a key, without `platform`). */
  readonly selectable: boolean
  /** The one row a config with `key` and no `platform` is. */
  readonly default: boolean
  /** What the app is, for "give exactly one of …": `'a … mini program'`. */
  readonly describes: string
  /** Why `value` (the config's `key` field) is not this platform's, or undefined when it is. */
  problem (value: unknown): string | undefined
  /** A frozen copy of a valid `key` field, with only what the plugin reads. */
  normalize (value: unknown): unknown
  /** Fields its configs may give besides `key` (`apiSecurity`), each checked and copied the same way. */
  readonly optional?: Readonly<Record<string, { problem (value: unknown): string | undefined, normalize (value: unknown): unknown }>>
}

/** Marks an error that says the session_key given is no longer the user's (@fastify/error's instanceof goes by code). */
const kStale = Symbol('fastify-weapp.staleSessionKey')

/** `err`, marked as "the session_key given is no longer the user's". */
export function markStale<E extends Error> (err: E): E {
  Object.defineProperty(err, kStale, { value: true })
  return err
}

/** Whether `err` says the session_key given was no longer the user's. */
export const isStaleSessionKey = (err: unknown): boolean => (err as Record<symbol, unknown> | null)?.[kStale] === true

/** What a hosting platform (a third-party platform) reuses of the platform whose mini programs it hosts. */
export interface Hosting {
  /** The hosted platform's codes, bound to its name. */
  readonly errors: Errcodes
  /** Codes with which its APIs refuse an access token. */
  readonly tokenRejected: ReadonlySet<UpstreamCode>
  /** The identity in its login answer, or a 502 naming `api`. */
  identity (body: Record<string, unknown>, api: string, named: Named): Record<string, unknown>
  /** Its user APIs (phone, checksession) with a hosted app's token. */
  userApi (options: { appId: string, apiBaseUrl: string, timeout: number, http?: Http | undefined, tokens: AccessTokens }): Pick<App, 'getPhoneNumber' | 'checkSessionKey'> & SessionKeyApi
}

/** An app whose credential is its own AppSecret: the config shape several rows share (`platform` tells them apart). */
export interface AppSecretApp {
  appId: string
  appSecret: string
}

/**
 * What a row is, as types: the table computes the kind, origin, identity, session and config unions
 * from its rows' (lib/platforms/index.ts), so that a row's key is spelled in its row and nowhere else.
 */
export interface RowTypes {
  /** The `apiBaseUrl` key of its origin. */
  readonly origin: string
  /**
   * Its users: openids with a session_key (the sessions' `platform`), or a shape of their own (an
   * app declares it issues them in `WeappSessionTypes`, under the row's key).
   */
  readonly users: { readonly openid: string } | { readonly identity: object, readonly session: object }
  /** Its app config (`AppSecretApp` for an AppSecret app: the table gives that shape its `platform`). */
  readonly config: object
}

/** The types of a row whose users are openids, whose origin is its own and whose credential is an AppSecret. */
export interface OpenidRow<K extends string> extends RowTypes {
  readonly origin: K
  readonly users: { readonly openid: K }
  readonly config: AppSecretApp
}

/**
 * What a platform whose row a shared factory builds (the first row's login on its own origin) says
 * of itself in its own file. A generic interface, so that the table infers the row's types from
 * its type arguments alone.
 */
export interface RowData<K extends string> extends Named {
  readonly kind: AppKind
  readonly origin: { readonly key: K, readonly url: string }
  readonly referer: string
  readonly users: Users
  readonly describes: string
}

/** One row of the platform table; `T` its types (see `RowTypes`). */
export interface Platform<T extends RowTypes = RowTypes> extends Named {
  /** The table key: what `fastify.weapp.app(appId).kind` says. */
  readonly kind: AppKind
  /** The `apiBaseUrl` key whose origin its calls go to, and that origin's default. */
  readonly origin: { readonly key: T['origin'], readonly url: string }
  /** Who its users are and how its sessions say so. */
  readonly users: Users
  /**
   * The host part of the `Referer` its runtime's requests send (`https://{host}/{appid}/…`), as a
   * regular expression source, or undefined when its requests name no app.
   */
  readonly referer: string | undefined
  readonly config: ConfigShape
  /** Where other platforms host its mini programs: what they reuse of it. */
  readonly hosting?: Hosting
  /** Builds one app of this platform from its (valid, normalized) config. */
  create (config: { appId: string } & Record<string, unknown>, context: AppContext): App
  /** Its types, for the table's unions: never there at run time. */
  readonly types?: T
}

/** A building block the platform does not have: it rejects `WEAPP_UNSUPPORTED` with the reason. */
export const unsupported = (message: string) => async (): Promise<never> => { throw new UnsupportedError(message) }

type Fields = Record<string, unknown>

export function isObject (value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** A credential: a non-empty string without surrounding spaces. */
export function isSecret (value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '' && value === value.trim()
}

export const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function'

/** An AppID: short ASCII (such as `wx` + 16 hex digits). One definition for options, routes and lookups. */
export const APP_ID_PATTERN = '[A-Za-z0-9_-]{1,64}'
export const APP_ID = new RegExp(`^${APP_ID_PATTERN}$`)

/** The config shape of a platform whose credential is the app's own AppSecret. */
export function appSecretConfig (describes: string, isDefault = false): ConfigShape {
  return {
    key: 'appSecret',
    selectable: true,
    default: isDefault,
    describes,
    problem: (value) => isSecret(value) ? undefined : 'appSecret is not a non-empty string without surrounding spaces',
    normalize: (value) => value
  }
}
