import {
  InvalidCodeError, RateLimitedError, RiskyUserError, UpstreamError, UpstreamTimeoutError
} from '../errors.js'

/**
 * Every message an upstream fault makes, written once: each names the platform (its title) and,
 * where the user must start over, the platform's own login call. The platform's file says only
 * which of its codes mean what.
 */

/** What names a platform in messages: its title and the call that gives a login code. */
export interface Named {
  readonly title: string
  readonly loginCall: string
}

/** An error code: a number (`errcode`), or a name where the platform names them (`'invalid_grant'`). */
export type UpstreamCode = number | string

/** A platform's error codes by meaning; any other code is a 502 that quotes it. */
export interface ErrorTable {
  /** The answer's field that holds the code: `'errcode'`, `'err_no'`. */
  readonly field: string
  /** Whether a success carries the field too: then an answer without it is a 502. */
  readonly required?: boolean
  /** The field's value on success. Default 0. */
  readonly success?: UpstreamCode
  readonly invalidCode?: readonly UpstreamCode[]
  readonly rateLimited?: readonly UpstreamCode[]
  readonly risky?: readonly UpstreamCode[]
  readonly busy?: readonly UpstreamCode[]
  /** Codes that mean this server's credentials (or network) are wrong, not the user's request. */
  readonly misconfigured?: readonly UpstreamCode[]
  /** What to check when misconfigured: "its appId and appSecret". */
  readonly check: string
}

/** A platform's codes, bound to its name: what an upstream call maps a non-zero code with. */
export interface Errcodes {
  readonly named: Named
  readonly field: string
  readonly required: boolean
  readonly success: UpstreamCode
  error (code: UpstreamCode): Error
}

export const invalidCode = ({ title, loginCall }: Named): Error =>
  new InvalidCodeError(`${title} says the login code is invalid, expired or already used; call ${loginCall} again and send the new code`)

export const badCode = ({ loginCall }: Named): Error =>
  new InvalidCodeError(`The code is empty or too long; send the code ${loginCall} gave`)

export const timedOut = ({ title, loginCall }: Named, ms: number): Error => new UpstreamTimeoutError(title, ms, loginCall)

export function queueTooLong ({ title, loginCall }: Named, ms: number): Error {
  const busy = new UpstreamTimeoutError(title, ms, loginCall)
  busy.message = `Too many calls to ${title} are waiting: this one would not be answered within ${ms} ms; retry in a moment`
  return busy
}

export const unreachable = ({ title }: Named, cause: Error): Error => new UpstreamError(`Could not reach the ${title} API; retry in a moment`, { cause })

export const throttledHttp = ({ title, loginCall }: Named): Error =>
  new RateLimitedError(`${title} is rate limiting this server (HTTP 429); wait a moment, then call ${loginCall} again and retry`)

export const httpStatus = ({ title }: Named, status: number): Error => new UpstreamError(`${title} answered HTTP ${status}; retry in a moment`)

export const notJson = ({ title }: Named): Error => new UpstreamError(`${title} answered something other than a JSON object`)

/** An answer that lacks what the call is for: "… answered jscode2session without a usable openid and session_key". */
export const unusable = ({ title }: Named, api: string, what: string): Error => new UpstreamError(`${title} answered ${api} without ${what}`)

/** A platform's error table as the mapping its calls use. */
export function errcodes (named: Named, table: ErrorTable): Errcodes {
  const { title, loginCall } = named
  const { field } = table
  const has = (codes: readonly UpstreamCode[] | undefined, code: UpstreamCode): boolean => codes !== undefined && codes.includes(code)
  return {
    named,
    field,
    required: table.required === true,
    success: table.success ?? 0,
    error (code) {
      const quoted = `${field} ${code}`
      if (has(table.invalidCode, code)) return invalidCode(named)
      if (has(table.rateLimited, code)) return new RateLimitedError(`${title} is rate limiting this app (${quoted}); wait a moment, then call ${loginCall} again and retry`)
      if (has(table.risky, code)) return new RiskyUserError(title, quoted)
      if (has(table.busy, code)) return new UpstreamError(`${title} is busy (${quoted}); retry in a moment`)
      return has(table.misconfigured, code)
        ? new UpstreamError(`${title} refused this server's credentials (${quoted}): the server is misconfigured; check ${table.check}`)
        : new UpstreamError(`${title} answered ${quoted}`)
    }
  }
}

/** The same mapping with some codes of its own first (a token API's): `own` answers undefined for the rest. */
export function withCodes (base: Errcodes, own: (code: UpstreamCode) => Error | undefined): Errcodes {
  return { ...base, error: (code) => own(code) ?? base.error(code) }
}
