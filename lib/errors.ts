import createError from '@fastify/error'

/**
 * Every error fastify-weapp raises, defined once. Each is a FastifyError: it carries `code` and
 * `statusCode`, Fastify's default error handler answers `{ statusCode, code, error, message }`, and
 * `instanceof` works across the app because the classes are module-level.
 */

export const InvalidCodeError = createError(
  'WEAPP_INVALID_CODE',
  '%s',
  401
)

/** WeChat's rate limit (45011), or the decrypt route's budget of failures: the message says which. */
export const RateLimitedError = createError(
  'WEAPP_RATE_LIMITED',
  '%s',
  429
)

export const RiskyUserError = createError(
  'WEAPP_RISKY_USER',
  'WeChat refused this login because it judged the user risky (errcode 40226)',
  403
)

export const UpstreamError = createError(
  'WEAPP_UPSTREAM_ERROR',
  '%s',
  502
)

export const UpstreamTimeoutError = createError(
  'WEAPP_UPSTREAM_TIMEOUT',
  'WeChat did not answer within %d ms; call wx.login() again and retry',
  504
)

export const SessionMissingError = createError(
  'WEAPP_SESSION_MISSING',
  'No session: send the session from the login route as "Authorization: Bearer <session>"',
  401
)

export const SessionInvalidError = createError(
  'WEAPP_SESSION_INVALID',
  'The session is not valid; log in again (wx.login() then the login route)',
  401
)

export const SessionExpiredError = createError(
  'WEAPP_SESSION_EXPIRED',
  'The session has expired; log in again (wx.login() then the login route)',
  401
)

export const DecryptFailedError = createError(
  'WEAPP_DECRYPT_FAILED',
  'The encrypted data could not be decrypted with this session; call wx.login(), log in again, then fetch the encrypted data anew (or send a fresh code with it)',
  400
)

export const SignatureMismatchError = createError(
  'WEAPP_SIGNATURE_MISMATCH',
  'rawData does not match its signature; fetch the user data again after logging in',
  400
)

/** A bad plugin option: registration fails (`app.ready()` rejects) and the message names the option. */
export const InvalidOptionError = createError(
  'WEAPP_INVALID_OPTION',
  'fastify-weapp: %s',
  500,
  TypeError
)

/**
 * The shape of Fastify's own request-validation error, used where the plugin checks a body more
 * strictly than Ajv's type coercion allows (a number is not a login code).
 */
export const ValidationError = createError('FST_ERR_VALIDATION', '%s', 400)

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

/**
 * A cause that is safe to log: the name, code and message of an error and of its causes, with
 * every given secret replaced. Pino logs a cause's message, stack and enumerable properties, and an
 * upstream error may carry the request URL (which holds the AppSecret) or a decrypted payload.
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
    if (secret !== '') text = text.split(secret).join('[redacted]')
  }
  const cause = new Error(text)
  cause.stack = `Error: ${text}`
  return cause
}
