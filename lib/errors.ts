import createError, { type FastifyErrorConstructor } from '@fastify/error'

/**
 * The type of one error class. Spelled out with a named type import, so that the published
 * declarations never refer to `createError.…` through the default import of an `export =` module,
 * which consumers compiling with `moduleResolution: bundler` (and no esModuleInterop) cannot read.
 */
export type WeappErrorClass<C extends string, S extends number> = FastifyErrorConstructor<{ code: C, statusCode: S }, [unknown?, unknown?, unknown?]>

/**
 * Every error fastify-weapp raises, defined once. Where a message names the platform, the template's
 * parameters are the platform's title and login call (lib/upstream/faults.ts writes them all). Each is a FastifyError: it carries `code` and
 * `statusCode`, Fastify's default error handler answers `{ statusCode, code, error, message }`, and
 * `instanceof` works across the app because the classes are module-level.
 */

/** What a message about a session names: the session's platform (its title) and its login call. */
export interface SessionPlatform { readonly title: string, readonly loginCall: string }

/**
 * How a message about a session says to get a new one: on the session's platform, with its login
 * call; where the token could not be read (no platform known), naming none. Not exported: a
 * message that tells the user to log in again is one of `SAYS`, built by `refuseSession`.
 */
function loginAgain (platform: SessionPlatform | undefined): string {
  return platform === undefined
    ? 'log in again (the platform\'s login call, then the login route)'
    : `log in again (${platform.title}: ${platform.loginCall} then the login route)`
}

/** A message about a session, given how to log in again (`loginAgain`) and its detail. */
type Says = (again: string, detail: string) => string

/** The messages about a session, one per reason (`refuseSession` names them); `detail` fills a link's `%s`, a block's seconds. */
const SAYS = {
  invalid: (again) => `The session is not valid; ${again}`,
  expired: (again) => `The session has expired; ${again}`,
  /** A heal past `loginAt + maxAge`: expired for good. */
  maxAge: (again) => `This login is older than maxAge, which no heal renews past; ${again}`,
  decryptFailed: (again) => `The encrypted data could not be decrypted with this session; ${again}, then fetch the encrypted data anew (or send a fresh code with it)`,
  revoked: (again) => `The session was logged out or revoked; ${again}`,
  kicked: (again) => `This session was ended by a later login of the same user (on another device, or past the number of sessions allowed); ${again} to continue here`,
  ended: (again) => `The app ended this session; ${again}`,
  link: (again, detail) => `The link token ${detail}; ${again} for a fresh one`,
  /** The user's budget of failures (`decryptFailureLimit`) is spent: `detail` is the seconds to wait. */
  blocked: (again, detail) => `Too many failed attempts for this user; wait ${detail} s, then ${again} and retry`,
  /** A heal's code (`/decrypt { code }`) of another user than the session's. */
  otherUser: (again) => `This code belongs to another user than the session; ${again}`
} as const satisfies Record<string, Says>

/**
 * The messages about a session, by code: each class's own (what `new SessionExpiredError()` says)
 * names no platform; `aboutSession` names the session's. `detail` is what fills the class's `%s`.
 */
const ABOUT_SESSION: ReadonlyMap<string, Says> = new Map([
  ['WEAPP_SESSION_INVALID', SAYS.invalid],
  ['WEAPP_SESSION_EXPIRED', SAYS.expired],
  ['WEAPP_DECRYPT_FAILED', SAYS.decryptFailed],
  ['WEAPP_SESSION_REVOKED', SAYS.revoked],
  ['WEAPP_SESSION_KICKED', SAYS.kicked],
  ['WEAPP_LINK_EXPIRED', SAYS.link],
  ['WEAPP_SESSION_ENDED', SAYS.ended]
])

/** A class's message, naming no platform. */
const neutral = (code: string): string => (ABOUT_SESSION.get(code) as Says)(loginAgain(undefined), '%s')

const kPlatform = Symbol('fastify-weapp.sessionPlatform')

/** `err` with `message`, marked with the platform it names (if any). */
function naming<E> (err: E, platform: SessionPlatform | undefined, message: string): E {
  ;(err as { message: string }).message = message
  if (platform !== undefined) Object.defineProperty(err, kPlatform, { value: platform, configurable: true })
  return err
}

/**
 * `err`, its message naming the platform of the session it is about and that platform's login call
 * (`detail`: what its class's `%s` was given), for an error made below the session's level (data
 * that does not decrypt, made by a decrypt that knows no session). Unchanged where no platform is
 * known (the token could not be read) or where it is not an error about a session. lib/ builds its
 * own refusals of a session with `refuseSession`.
 */
export function aboutSession<E> (err: E, platform: SessionPlatform | undefined, detail = ''): E {
  const text = err !== null && typeof err === 'object' ? ABOUT_SESSION.get(String((err as { code?: unknown }).code)) : undefined
  if (platform === undefined || text === undefined) return err
  return naming(err, platform, text(loginAgain(platform), detail))
}

/** The platform `aboutSession` or `refuseSession` named in `err`, if any. */
export const platformNamed = (err: unknown): SessionPlatform | undefined =>
  err !== null && typeof err === 'object' ? (err as Record<symbol, SessionPlatform | undefined>)[kPlatform] : undefined

export const InvalidCodeError: WeappErrorClass<'WEAPP_INVALID_CODE', 401> = createError(
  'WEAPP_INVALID_CODE',
  '%s',
  401
)

/** The platform's rate limit, or the decrypt route's budget of failures: the message says which. */
export const RateLimitedError: WeappErrorClass<'WEAPP_RATE_LIMITED', 429> = createError(
  'WEAPP_RATE_LIMITED',
  '%s',
  429
)

export const RiskyUserError: WeappErrorClass<'WEAPP_RISKY_USER', 403> = createError(
  'WEAPP_RISKY_USER',
  '%s refused this login because it judged the user risky (%s)',
  403
)

export const UpstreamError: WeappErrorClass<'WEAPP_UPSTREAM_ERROR', 502> = createError(
  'WEAPP_UPSTREAM_ERROR',
  '%s',
  502
)

export const UpstreamTimeoutError: WeappErrorClass<'WEAPP_UPSTREAM_TIMEOUT', 504> = createError(
  'WEAPP_UPSTREAM_TIMEOUT',
  '%s did not answer within %d ms; call %s again and retry',
  504
)

export const SessionMissingError: WeappErrorClass<'WEAPP_SESSION_MISSING', 401> = createError(
  'WEAPP_SESSION_MISSING',
  'No session: send the session from the login route as "Authorization: Bearer <session>"',
  401
)

export const SessionInvalidError: WeappErrorClass<'WEAPP_SESSION_INVALID', 401> = createError(
  'WEAPP_SESSION_INVALID',
  neutral('WEAPP_SESSION_INVALID'),
  401
)

export const SessionExpiredError: WeappErrorClass<'WEAPP_SESSION_EXPIRED', 401> = createError(
  'WEAPP_SESSION_EXPIRED',
  neutral('WEAPP_SESSION_EXPIRED'),
  401
)

export const DecryptFailedError: WeappErrorClass<'WEAPP_DECRYPT_FAILED', 400> = createError(
  'WEAPP_DECRYPT_FAILED',
  neutral('WEAPP_DECRYPT_FAILED'),
  400
)

export const SignatureMismatchError: WeappErrorClass<'WEAPP_SIGNATURE_MISMATCH', 400> = createError(
  'WEAPP_SIGNATURE_MISMATCH',
  'rawData does not match its signature; fetch the user data again after logging in',
  400
)

export const UnknownAppError: WeappErrorClass<'WEAPP_UNKNOWN_APP', 400> = createError(
  'WEAPP_UNKNOWN_APP',
  '%s',
  400
)

/** The `apps` lookup function threw or answered something that is not an app: logged, retried later. */
export const AppLookupError: WeappErrorClass<'WEAPP_APP_LOOKUP_FAILED', 503> = createError(
  'WEAPP_APP_LOOKUP_FAILED',
  '%s',
  503
)

export const SessionRevokedError: WeappErrorClass<'WEAPP_SESSION_REVOKED', 401> = createError(
  'WEAPP_SESSION_REVOKED',
  neutral('WEAPP_SESSION_REVOKED'),
  401
)

/** A session a later login of its user evicted (`maxSessions`, `oneSessionPer`): not the same as logged out. */
export const SessionKickedError: WeappErrorClass<'WEAPP_SESSION_KICKED', 401> = createError(
  'WEAPP_SESSION_KICKED',
  neutral('WEAPP_SESSION_KICKED'),
  401
)

/** A logout or revocation that Redis did not store: never reported done. */
export const RevocationUnavailableError: WeappErrorClass<'WEAPP_REVOCATION_UNAVAILABLE', 503> = createError(
  'WEAPP_REVOCATION_UNAVAILABLE',
  '%s',
  503
)

/** `onLogin` refused the user (a banned account): the app's own message. */
export const LoginRefusedError: WeappErrorClass<'WEAPP_LOGIN_REFUSED', 403> = createError(
  'WEAPP_LOGIN_REFUSED',
  '%s',
  403
)

/** A link token that does not open as one: tampered, foreign, or a session given in its place. */
export const LinkInvalidError: WeappErrorClass<'WEAPP_LINK_INVALID', 401> = createError(
  'WEAPP_LINK_INVALID',
  '%s',
  401
)

/** A link token past its time, or (with the revocation option, which makes them single-use) already redeemed: the message says which. */
export const LinkExpiredError: WeappErrorClass<'WEAPP_LINK_EXPIRED', 401> = createError(
  'WEAPP_LINK_EXPIRED',
  neutral('WEAPP_LINK_EXPIRED'),
  401
)

/** `onRenew` ended the session (a banned user) when it was due for renewal. */
export const SessionEndedError: WeappErrorClass<'WEAPP_SESSION_ENDED', 401> = createError(
  'WEAPP_SESSION_ENDED',
  neutral('WEAPP_SESSION_ENDED'),
  401
)

/**
 * The app's own hook (`onLogin`, `onRenew`) threw or gave what it may not: the app's bug. The
 * message names the hook and what was wrong, never a value; what the hook threw is the `cause`,
 * which Fastify logs and never sends.
 */
export const HookFailedError: WeappErrorClass<'WEAPP_HOOK_FAILED', 500> = createError(
  'WEAPP_HOOK_FAILED',
  '%s',
  500
)

/**
 * What this kind of app cannot do (phone numbers where its platform has no such API, or where the
 * hosting platform gave no token getter). The message says which, and what would make it work.
 */
export const UnsupportedError: WeappErrorClass<'WEAPP_UNSUPPORTED', 400> = createError(
  'WEAPP_UNSUPPORTED',
  '%s',
  400
)

/** A bad plugin option: registration fails (`app.ready()` rejects) and the message names the option. */
export const InvalidOptionError: WeappErrorClass<'WEAPP_INVALID_OPTION', 500> = createError(
  'WEAPP_INVALID_OPTION',
  'fastify-weapp: %s',
  500,
  TypeError
)

/**
 * The shape of Fastify's own request-validation error, used where the plugin checks a body more
 * strictly than Ajv's type coercion allows (a number is not a login code).
 */
export const ValidationError: WeappErrorClass<'FST_ERR_VALIDATION', 400> = createError('FST_ERR_VALIDATION', '%s', 400)

/** Every refusal about a session, by why: its class, its message and (for a link token) what fills its `%s`. */
const REFUSALS = {
  invalid: { error: SessionInvalidError, says: SAYS.invalid },
  expired: { error: SessionExpiredError, says: SAYS.expired },
  maxAge: { error: SessionExpiredError, says: SAYS.maxAge },
  decryptFailed: { error: DecryptFailedError, says: SAYS.decryptFailed },
  revoked: { error: SessionRevokedError, says: SAYS.revoked },
  kicked: { error: SessionKickedError, says: SAYS.kicked },
  ended: { error: SessionEndedError, says: SAYS.ended },
  linkExpired: { error: LinkExpiredError, says: SAYS.link, detail: 'expired' },
  linkRedeemed: { error: LinkExpiredError, says: SAYS.link, detail: 'was already redeemed' },
  blocked: { error: RateLimitedError, says: SAYS.blocked },
  otherUser: { error: InvalidCodeError, says: SAYS.otherUser }
} as const satisfies Record<string, { error: WeappErrorClass<string, number>, says: Says, detail?: string }>

/** Why a session (or a link token, or data sealed to a session) is refused. */
export type SessionRefusal = keyof typeof REFUSALS
/** Every reason, for tests. */
export const SESSION_REFUSALS: readonly SessionRefusal[] = Object.freeze(Object.keys(REFUSALS) as SessionRefusal[])

/** A refusal's cause (for the server's log, never sent), and for `blocked` the seconds to wait. */
export interface RefusalDetail { cause?: unknown, wait?: number }

/**
 * The one way lib/ builds a refusal of a session: `platform` must be said, the session's (its
 * users' title and login call) where the token was read, or `undefined` where it was not (no
 * token, one that does not open): the message then names no platform's login call.
 * test/layout.test.ts checks no file of lib/ but this one constructs these classes.
 */
export function refuseSession (why: SessionRefusal, platform: SessionPlatform | undefined, { cause, wait = 0 }: RefusalDetail = {}): Error & { code: string, statusCode: number } {
  const { error: Refusal, says, detail = String(wait) }: { error: WeappErrorClass<string, number>, says: Says, detail?: string } = REFUSALS[why]
  const err = cause === undefined ? new Refusal() : new Refusal({ cause })
  return naming(err, platform, says(loginAgain(platform), detail))
}

/** Every error code this package can answer with. */
export type WeappErrorCode =
  | 'WEAPP_INVALID_CODE'
  | 'WEAPP_RATE_LIMITED'
  | 'WEAPP_RISKY_USER'
  | 'WEAPP_UPSTREAM_ERROR'
  | 'WEAPP_UPSTREAM_TIMEOUT'
  | 'WEAPP_SESSION_MISSING'
  | 'WEAPP_SESSION_INVALID'
  | 'WEAPP_SESSION_EXPIRED'
  | 'WEAPP_DECRYPT_FAILED'
  | 'WEAPP_SIGNATURE_MISMATCH'
  | 'WEAPP_UNKNOWN_APP'
  | 'WEAPP_APP_LOOKUP_FAILED'
  | 'WEAPP_UNSUPPORTED'
  | 'WEAPP_SESSION_REVOKED'
  | 'WEAPP_SESSION_KICKED'
  | 'WEAPP_REVOCATION_UNAVAILABLE'
  | 'WEAPP_LOGIN_REFUSED'
  | 'WEAPP_LINK_REQUIRED'
  | 'WEAPP_LINK_INVALID'
  | 'WEAPP_LINK_EXPIRED'
  | 'WEAPP_SESSION_ENDED'
  | 'WEAPP_HOOK_FAILED'

/**
 * A cause that is safe to log: the name, code and message of an error and of its causes, with
 * every given secret replaced, as it is and as a URL spells it (percent-encoded, and form-encoded).
 * Pino logs a cause's message, stack and enumerable properties, and an upstream error may carry the
 * request URL (which holds the AppSecret and the code) or a decrypted payload.
 */
export function safeCause (err: unknown, secrets: readonly string[]): Error {
  const parts: string[] = []
  let current: unknown = err
  for (let depth = 0; depth < 4 && current != null; depth++) {
    if (typeof current === 'object') {
      const e = current as { name?: unknown, code?: unknown, message?: unknown, cause?: unknown }
      const code = typeof e.code === 'string' || typeof e.code === 'number' ? ` [${e.code}]` : ''
      parts.push(`${String(e.name ?? 'Error')}${code}: ${String(e.message ?? '')}`)
      current = e.cause
    } else {
      parts.push(String(current))
      current = undefined
    }
  }
  let text = parts.join(' <- ')
  for (const secret of secrets) {
    // Only on the way to a log: spelling a secret three ways costs nothing on a successful call.
    for (const spelling of new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)])) {
      if (spelling !== '') text = text.split(spelling).join('[redacted]')
    }
  }
  const cause = new Error(text)
  cause.stack = `Error: ${text}`
  return cause
}
