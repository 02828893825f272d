import { createCipheriv, createHash } from 'node:crypto'
import { jwtDecrypt, type JWTPayload } from 'jose'
import { LinkInvalidError, platformNamed, refuseSession, SessionExpiredError, safeCause } from './errors.js'
import { createFastUnseal, headerSegment } from './fast-unseal.js'
import type { SessionKey } from './keys.js'
import { Doorkeeper, Memo } from './memo.js'
import { isBase64url } from './base64.js'
import { randomBytes } from './random.js'

import { ROWS, users, type AnyIdentity, type AnySession } from './platforms/index.js'
import { isSessionKey, type Users } from './platforms/users.js'

export type * from './platforms/index.js'
export { isSessionKey }

/**
 * Longest token an identity alone may make; the plugin's own tokens are about 400 characters (a
 * 28-character openid and unionid).
 */
export const MAX_IDENTITY_TOKEN_LENGTH = 1024

/**
 * The most an app's claims may take in a session: their JSON, in UTF-8 bytes. A user id, roles
 * and a tenant take a few dozen; 1 KiB leaves room and keeps a session a header's size.
 */
export const MAX_CLAIMS_BYTES = 1024

/**
 * Longest token unseal looks at, and so the longest seal issues: the largest identity and the
 * largest claims (1024 + 1024 bytes as base64url, and the JWE's own parts) fit.
 */
export const MAX_TOKEN_LENGTH = 2560

/**
 * An identity too large for a session token (long openids, unionids or appId): seal refuses it
 * rather than issue a token that unseal would refuse. The login route answers it as a 502: the
 * identity came from the platform.
 */
export class IdentityTooLargeError extends TypeError {
  constructor (length: number) {
    super(`seal(identity): the identity makes a token of ${length} characters, over the ${MAX_IDENTITY_TOKEN_LENGTH} a session may have`)
    this.name = 'IdentityTooLargeError'
  }
}

/** Whether a value is a plain object (what JSON.parse makes of an object, or a literal). */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * An app's claims as sealed: the JSON text of a plain object, undefined for none (`{}` too), or a
 * TypeError that says what is wrong with them (never what they hold). `who` names the caller.
 */
export function claimsText (claims: unknown, who: string): string | undefined {
  if (claims === undefined) return undefined
  if (!isPlainObject(claims)) throw new TypeError(`${who}: claims must be a plain JSON object, such as { userId: 42, roles: ['buyer'] }`)
  let text: string
  try {
    text = JSON.stringify(claims)
  } catch (err) {
    throw new TypeError(`${who}: claims must be JSON (${(err as Error).name}: a cycle, or a BigInt)`)
  }
  if (text === '{}') return undefined
  const bytes = Buffer.byteLength(text)
  if (bytes > MAX_CLAIMS_BYTES) {
    throw new TypeError(`${who}: claims take ${bytes} bytes as JSON, over the ${MAX_CLAIMS_BYTES} a session carries; keep ids and roles there and look the rest up`)
  }
  return text
}

/** The claims of a session that has none: `request.weappSession.claims` is always an object. */
export const NO_CLAIMS: Readonly<Record<string, never>> = Object.freeze({})

/** The claims of a session as sealed: their JSON, or undefined where it has none. */
export function sessionClaims (session: object): string | undefined {
  const claims = (session as { claims?: object }).claims
  return claims === undefined || claims === NO_CLAIMS ? undefined : JSON.stringify(claims)
}

/** Claims as a session reads them: the parsed JSON, frozen, or NO_CLAIMS. */
export function claimsObject (text: string | undefined): Readonly<Record<string, unknown>> {
  return text === undefined ? NO_CLAIMS : deepFreeze(JSON.parse(text) as Record<string, unknown>)
}

/** Freezes what JSON.parse made, all the way down (claims are the token's: changing them changes nothing). */
function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

/**
 * The apps a session may name: a list (the `apps` option's, or the one `appId`), or `undefined` when
 * a lookup function decides which apps exist. Then any `aud` is accepted: only this plugin's key
 * seals sessions, and it seals them for apps the lookup knew at login; unsealing never looks up.
 */
export type Audience = readonly string[] | undefined

export interface SessionCodecOptions {
  audience: Audience
  keys: readonly SessionKey[]
  /** seconds */
  expiresIn: number
  /** How many unsealed sessions to remember; 0 for none. */
  cacheSize: number
}

/** A session as the codec opens it: its user, id and times, the app's claims and the login's device label. */
export type OpenedSession = AnySession & { claims?: Readonly<Record<string, unknown>>, device?: string }

/**
 * A session's lifetime, the one rule of login, renewal, heal and seal: the exp (seconds) of a token
 * sealed at `now` (ms) is `expiresIn` seconds on, never past `notAfter` (ms: its login's
 * `loginAt + maxAge`) where one is given.
 */
export function sessionExp (now: number, expiresIn: number, notAfter?: number): number {
  const exp = Math.floor(now / 1000) + expiresIn
  return notAfter === undefined ? exp : Math.min(exp, Math.floor(notAfter / 1000))
}

/** What a renewal (or a heal) of a session seals: the same login (id, login time, device), never past loginAt + maxAge (seconds). */
export function sameLogin (session: OpenedSession, maxAge: number, now: number): SealOptions & { notAfter: number } {
  return { jti: session.jti, loginAt: session.loginAt, notAfter: session.loginAt + maxAge * 1000, now, device: session.device }
}

/** What a renewal keeps: the session's id and login time, and when the new token must expire at the latest. */
export interface SealOptions {
  jti: string
  loginAt: number
  /** ms since the epoch: the token expires then at the latest */
  notAfter?: number
  /** ms since the epoch: the time to seal at (the caller's clock reading), default now */
  now?: number
  /** The login's device label (`dv`), kept through renewals. */
  device?: string | undefined
}

export interface SessionCodec {
  /**
   * Seals an identity into a session for the app `appId`: a new session, or with `renew` a renewal
   * of one, with the app's claims (`claimsText`'s JSON). Synchronous (node:crypto): it throws a
   * TypeError for what is not an identity, and `IdentityTooLargeError` for one too large for a token.
   */
  seal (identity: AnyIdentity, appId: string, renew?: SealOptions, claims?: string): string
  unseal (token: string): Promise<OpenedSession>
  /**
   * The same, at once where the memo or the fast path decides (the authenticated path's common
   * case: no promise, no turn of the event loop), a promise only where jose must. It throws
   * synchronously what it refuses at once.
   */
  unsealNow (token: string): OpenedSession | Promise<OpenedSession>
  /** Seals an identity into a link token for `appId` (purpose `link`, refused as a session), valid `expiresIn` seconds. */
  sealLink (identity: AnyIdentity, appId: string, expiresIn: number): string
  /** Opens a link token: the identity's session fields, or `WEAPP_LINK_INVALID` / `WEAPP_LINK_EXPIRED`. */
  unsealLink (token: string): Promise<LinkFields>
}

/** What a link token holds: its user as a session would (no claims), and its own id and expiry. */
export type LinkFields = AnySession

/** The purpose claim of a link token; sessions have none. */
const LINK = 'link'

/** What seal takes, for its message: each platform's identity. */
const GIVES = [...new Set(ROWS.map((row) => row.users.gives))].join(' or ')

/** A compact JWE of the shape `dir` gives (empty encrypted key), every segment canonical base64url. */
function isCanonicalJwe (token: string): boolean {
  const parts = token.split('.')
  return parts.length === 5 && parts[1] === '' && parts.every(isBase64url)
}

/** A session id: what `randomJti` makes, or (for tokens from before ids) a digest of the token. */
const JTI = /^[A-Za-z0-9_-]{22}$/

/** A new session id: 16 random bytes. */
export function randomJti (): string {
  return randomBytes(16).toString('base64url')
}

/**
 * Claims as sealed: `aud` appId, `sk` session_key, `iat`, `exp`, `jti` the session's id and `lat`
 * its login time (ms; both kept through renewals), and the user as its platform's row spells it
 * (lib/platforms/users.ts: `sub` and the platform's own claims, `pf` its tag). Tokens sealed
 * before ids existed have no `jti` and `lat`: their id is a digest of the token itself, and their
 * login time their `iat`.
 */
function toSession (payload: JWTPayload, token: string): OpenedSession {
  const { iat, jti, lat, cl, use, dv } = payload
  if (use !== undefined) throw refuseSession('invalid', undefined, { cause: new Error('a link token is not a session: the app redeems it with fastify.weapp.redeemLink()') })
  if (cl !== undefined && !isPlainObject(cl)) throw refuseSession('invalid', undefined, { cause: new Error('the token\'s claims are not an object') })
  if (dv !== undefined && typeof dv !== 'string') throw refuseSession('invalid', undefined, { cause: new Error('the token\'s device label is not a string') })
  const session = typeof iat !== 'number' || (jti !== undefined && (typeof jti !== 'string' || !JTI.test(jti))) ||
    (lat !== undefined && (typeof lat !== 'number' || !Number.isSafeInteger(lat) || lat < 0))
    ? undefined
    : users.sessionOf(payload, { jti: jti ?? createHash('sha256').update(token).digest('base64url').slice(0, 22), loginAt: lat ?? iat * 1000 })
  if (session === undefined) throw refuseSession('invalid', undefined, { cause: new Error('the token does not hold a fastify-weapp session') })
  const opened: OpenedSession = session
  opened.claims = cl === undefined ? NO_CLAIMS : deepFreeze(cl)
  if (dv !== undefined) opened.device = dv
  return opened
}

/** The platform of a genuine token's payload (for messages), or undefined where it holds no user. */
function usersOfPayload (payload: JWTPayload): Users | undefined {
  const session = users.sessionOf(payload, { jti: '', loginAt: 0 })
  return session === undefined ? undefined : users.ofPlatform(session.platform)
}

/**
 * jose's unseal, the authority on every token: `dir` + `A256GCM` only, no compression, the key by
 * `kid`, `exp`/`iat`/`sub`/`aud` required, `aud` one of the audience's apps (any app, without a
 * list). It rejects with jose's own errors.
 */
export function createJoseUnseal (keys: readonly SessionKey[], audience: Audience): (token: string, currentDate?: Date) => Promise<JWTPayload> {
  const byKid = new Map(keys.map((k) => [k.kid, k.secret]))
  const options = {
    ...(audience === undefined ? {} : { audience: [...audience] }),
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM'],
    maxDecompressedLength: 0,
    requiredClaims: ['exp', 'iat', 'sub', 'aud']
  }
  function keyFor (header: { kid?: unknown }): Uint8Array {
    const secret = typeof header.kid === 'string' ? byKid.get(header.kid) : undefined
    if (secret === undefined) throw new Error('no key has this kid')
    return secret
  }
  return async (token, currentDate) => (await jwtDecrypt(token, keyFor, currentDate === undefined ? options : { ...options, currentDate })).payload
}

/** The key seal uses, with its protected header (base64url) and that header as the AAD, made once. */
interface SealingKey { secret: Uint8Array, header: string, aad: Buffer }

/**
 * The compact JWE `dir` + `A256GCM` of a claim set, through node:crypto (jose's EncryptJWT on
 * WebCrypto cost several times as much per login): the protected header is the one the fast path
 * knows for this key, a random 96-bit IV, the header's base64url text as the AAD (RFC 7516 5.1),
 * and a 128-bit tag. jose opens every token this writes (`test/session/seal-differential.test.ts`).
 */
function sealJwe (claims: JWTPayload, { secret, header, aad }: SealingKey, appClaims?: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', secret, iv, { authTagLength: 16 })
  cipher.setAAD(aad)
  const json = JSON.stringify(claims)
  // The app's claims are already JSON (claimsText): spliced in as the last member, not serialized twice.
  const ciphertext = cipher.update(appClaims === undefined ? json : `${json.slice(0, -1)},"cl":${appClaims}}`, 'utf8')
  cipher.final() // GCM is a stream cipher: nothing more to come out, only the tag to compute
  return `${header}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`
}

/** The claims of an identity, or a TypeError that says what seal takes. */
function identityClaims (identity: AnyIdentity): JWTPayload {
  const claims = users.claimsOf(identity)
  if (claims === undefined) {
    throw new TypeError(`seal(identity) needs ${GIVES}: ids non-empty strings, sessionKey the base64 of 16 bytes`)
  }
  return claims
}

/** The token, or IdentityTooLargeError when the identity alone (without the app's claims) makes one too long. */
function sealed (claims: JWTPayload, sealing: SealingKey, appClaims: string | undefined): string {
  const token = sealJwe(claims, sealing, appClaims)
  // base64url of the claims' JSON and its `,"cl":` (6 bytes) is what they add.
  // So does a device label (`,"dv":` and its JSON, at most 72 bytes of printable ASCII).
  const device = typeof claims.dv === 'string' ? Math.floor((claims.dv.length + 8) * 4 / 3) : 0
  const own = (appClaims === undefined ? token.length : token.length - Math.floor((Buffer.byteLength(appClaims) + 6) * 4 / 3)) - device
  if (own > MAX_IDENTITY_TOKEN_LENGTH) throw new IdentityTooLargeError(own)
  return token
}

/**
 * Seals identities into JWEs (`dir` + `A256GCM`, `kid` of the first key) and opens them with any
 * key, picked by `kid`. Everything that does not open is `WEAPP_SESSION_INVALID`; a genuine token
 * past `exp` is `WEAPP_SESSION_EXPIRED`.
 *
 * Unsealing looks first in a bounded memo keyed by the exact token (with `exp` checked on every
 * hit; a session is memoized from its second unseal on), then tries the node:crypto fast path for
 * the shape the plugin writes, and leaves everything else, every rejection included, to jose.
 */
export function createSessionCodec ({ audience, keys, expiresIn, cacheSize }: SessionCodecOptions): SessionCodec {
  const first = keys[0] as SessionKey
  const header = headerSegment(first.kid)
  const sealing: SealingKey = { secret: first.secret, header, aad: Buffer.from(header, 'latin1') }
  const memo = cacheSize > 0 ? new Memo<Readonly<OpenedSession>>(cacheSize) : undefined
  // A session enters the memo on its second unseal: a token used once (a client each instance sees
  // once, a flood of distinct sessions) never costs an entry, evicts a returning client's or
  // lingers for the garbage collector.
  const doorkeeper = cacheSize > 0 ? new Doorkeeper(cacheSize) : undefined
  const fastUnseal = createFastUnseal(keys, audience)
  const joseUnseal = createJoseUnseal(keys, audience)

  /**
   * The payload of a token that opens, whatever it holds: at once where the fast path opens it, a
   * promise where jose decides. Throws (or rejects) WEAPP_SESSION_INVALID or _EXPIRED otherwise.
   */
  function open (token: string): JWTPayload | Promise<JWTPayload> {
    // The fast path opens only the canonical spelling of the one shape seal writes (its own
    // header, an empty key, canonical IV, ciphertext and tag), so what it accepts needs no more.
    const payload = fastUnseal(token)
    if (payload !== undefined) return payload
    // One session, one string: jose would also open a token with '=' padding, whitespace or
    // stray low bits, each a new memo entry. Only the canonical spelling (what seal writes) opens.
    if (!isCanonicalJwe(token)) {
      throw refuseSession('invalid', undefined, { cause: new Error('the token is not a compact JWE in canonical base64url') })
    }
    return joseOpen(token)
  }

  async function joseOpen (token: string): Promise<JWTPayload> {
    try {
      return await joseUnseal(token)
    } catch (err) {
      // jose's claim errors carry the decrypted payload (the session_key): never pass them on.
      // Expired but genuine: its platform is read (never anything else of the payload), for the message.
      if ((err as { code?: unknown }).code === 'ERR_JWT_EXPIRED') throw refuseSession('expired', usersOfPayload((err as { payload: JWTPayload }).payload))
      throw refuseSession('invalid', undefined, { cause: safeCause(err, []) })
    }
  }

  /** The session a payload holds, remembered from the token's second use on. */
  function remember (token: string, payload: JWTPayload): OpenedSession {
    const session = toSession(payload, token)
    if (memo !== undefined && (doorkeeper as Doorkeeper).seen(token)) memo.set(token, Object.freeze({ ...session }))
    return session
  }

  function unsealNow (token: string): OpenedSession | Promise<OpenedSession> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw refuseSession('invalid', undefined, { cause: new Error('the token is empty, not a string or longer than any session') })
    }
    const known = memo === undefined ? undefined : memo.get(token)
    if (known !== undefined) {
      // exp is enforced on every hit, exactly as jose would: expired when exp <= now (seconds).
      if (known.expiresAt <= Math.floor(Date.now() / 1000) * 1000) {
        (memo as Memo<Readonly<OpenedSession>>).delete(token)
        throw refuseSession('expired', users.ofPlatform(known.platform))
      }
      return { ...known }
    }
    const payload = open(token)
    return payload instanceof Promise ? payload.then((opened) => remember(token, opened)) : remember(token, payload)
  }

  return {
    seal (identity, appId, renew, appClaims) {
      const claims = identityClaims(identity)
      const nowMs = renew?.now ?? Date.now()
      const now = Math.floor(nowMs / 1000)
      claims.jti = renew?.jti ?? randomJti()
      claims.lat = renew?.loginAt ?? nowMs
      const exp = sessionExp(nowMs, expiresIn, renew?.notAfter)
      claims.aud = appId
      claims.iat = now
      claims.exp = exp
      if (renew?.device !== undefined) claims.dv = renew.device
      return sealed(claims, sealing, appClaims)
    },

    sealLink (identity, appId, seconds) {
      const claims = identityClaims(identity)
      const now = Math.floor(Date.now() / 1000)
      claims.jti = randomJti()
      claims.use = LINK
      claims.aud = appId
      claims.iat = now
      claims.exp = now + seconds
      return sealed(claims, sealing, undefined)
    },

    async unsealLink (token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw new LinkInvalidError('The link token is empty, not a string or too long: send the linkToken the login route answered')
      }
      let payload: JWTPayload
      try {
        payload = await open(token)
      } catch (err) {
        if (err instanceof SessionExpiredError) throw refuseSession('linkExpired', platformNamed(err))
        throw new LinkInvalidError('The link token is not valid: send the linkToken the login route answered, unchanged', { cause: (err as Error).cause })
      }
      if (payload.use !== LINK) throw new LinkInvalidError('This is a session, not a link token: send the linkToken of a 409 WEAPP_LINK_REQUIRED')
      const link = typeof payload.iat === 'number' && typeof payload.jti === 'string' && JTI.test(payload.jti)
        ? users.sessionOf(payload, { jti: payload.jti, loginAt: payload.iat * 1000 })
        : undefined
      if (link === undefined) throw new LinkInvalidError('The link token does not hold a user: send the linkToken the login route answered')
      return link
    },

    async unseal (token) {
      return await unsealNow(token)
    },

    unsealNow
  }
}
