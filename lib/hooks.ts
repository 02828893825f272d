import type { FastifyRequest } from 'fastify'
import { HookFailedError } from './errors.js'
import type { WeappClaims, WeappLoginIdentity, WeappSession } from './types.js'
import type { AppKind } from './platforms/index.js'
import { claimsText, isPlainObject } from './session.js'

/**
 * The app's hooks into the session's life: `onLogin` (who the platform's user is in the app) and
 * `onRenew` (whether they still are, and with which claims). What they return is checked here: a
 * decision the plugin cannot read is the app's bug, a 500 that names the hook and never a value.
 */

/** What `onLogin` is told. */
export interface WeappLoginContext {
  /** The app the login is for. */
  app: { readonly appId: string, readonly kind: AppKind }
  /** Who the platform says logged in: platform, appId, and its ids (openid and unionid, or corpId and userId). Never the session_key. */
  identity: WeappLoginIdentity
  request: FastifyRequest
}

/** What `onLogin` may decide. */
export type WeappLoginDecision =
  | undefined
  | void
  | {
    /** The app's own claims (a JSON object, at most 1 KiB as JSON), sealed in the session: `request.weappSession.claims`. */
    claims?: WeappClaims
    /** Added to the login answer as `user` (declared by the `userSchema` option). */
    answer?: Record<string, unknown>
  }
  /** `403 WEAPP_LOGIN_REFUSED` with this message. */
  | { refuse: string }
  /** `409 WEAPP_LINK_REQUIRED` with a `linkToken` the app's own route redeems (`fastify.weapp.redeemLink()`). */
  | { link: true }

export type WeappLoginHook = (context: WeappLoginContext) => WeappLoginDecision | Promise<WeappLoginDecision>

/** What `onRenew` is told: the session due for renewal, and the request it came with. */
export interface WeappRenewContext {
  session: WeappSession
  request: FastifyRequest
}

/** What `onRenew` may decide: the renewal's claims (replacing the session's), the end of the session, or the same claims. */
export type WeappRenewDecision = undefined | void | { claims: WeappClaims } | { end: true }

export type WeappRenewHook = (context: WeappRenewContext) => WeappRenewDecision | Promise<WeappRenewDecision>

/** A login's outcome, as the route acts on it. */
export type LoginOutcome =
  | { kind: 'session', claims: string | undefined, answer: Record<string, unknown> | undefined }
  | { kind: 'refuse', message: string }
  | { kind: 'link' }

/** A renewal's outcome: `claims` undefined keeps the session's. */
export type RenewOutcome = { kind: 'renew', claims: string | undefined, replaced: boolean } | { kind: 'end' }

const LOGIN_DECISIONS = "undefined, { claims?, answer? }, { refuse: 'why' } or { link: true }"
const RENEW_DECISIONS = 'undefined, { claims } or { end: true }'

/** What a value is, for a message that must not say what it holds. */
function kindOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object of another class' : `a ${typeof value}`
}

/** What a failed hook left undone, for its message. */
const UNDONE: Readonly<Record<'onLogin' | 'onRenew', string>> = { onLogin: 'nothing was sealed', onRenew: 'the session was not renewed' }

function claimsOf (hook: 'onLogin' | 'onRenew', claims: unknown): string | undefined {
  try {
    return claimsText(claims, hook)
  } catch (err) {
    throw new HookFailedError(`${(err as Error).message}; ${UNDONE[hook]}`)
  }
}

/** Runs a hook; what it throws is the cause of a 500 that names it (Fastify logs the cause, and never sends it). */
async function run<T> (hook: 'onLogin' | 'onRenew', call: () => T | Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw new HookFailedError(`${hook} threw; ${UNDONE[hook]} (the server's log has its error)`, { cause: err })
  }
}

/** Calls `onLogin` and reads its decision. */
export async function decideLogin (hook: WeappLoginHook, context: WeappLoginContext): Promise<LoginOutcome> {
  const decision: unknown = await run('onLogin', () => hook(context))
  if (decision === undefined) return { kind: 'session', claims: undefined, answer: undefined }
  if (!isPlainObject(decision)) throw new HookFailedError(`onLogin returned ${kindOf(decision)}; return ${LOGIN_DECISIONS}`)
  const keys = Object.keys(decision)
  if (keys.includes('refuse') || keys.includes('link')) {
    if (keys.length === 1 && typeof decision.refuse === 'string' && decision.refuse.trim() !== '') return { kind: 'refuse', message: decision.refuse }
    if (keys.length === 1 && decision.link === true) return { kind: 'link' }
    throw new HookFailedError(`onLogin returned { ${keys.join(', ')} }: refuse (a non-empty message) and link (true) each come alone; return ${LOGIN_DECISIONS}`)
  }
  const other = keys.find((key) => key !== 'claims' && key !== 'answer')
  if (other !== undefined) throw new HookFailedError(`onLogin returned ${other}, which it may not; return ${LOGIN_DECISIONS}`)
  if (decision.answer !== undefined && !isPlainObject(decision.answer)) {
    throw new HookFailedError(`onLogin returned an answer that is ${kindOf(decision.answer)}; answer must be a plain object (the login answer's user)`)
  }
  return { kind: 'session', claims: claimsOf('onLogin', decision.claims), answer: decision.answer as Record<string, unknown> | undefined }
}

/** Calls `onRenew` and reads its decision. */
export async function decideRenewal (hook: WeappRenewHook, context: WeappRenewContext): Promise<RenewOutcome> {
  const decision: unknown = await run('onRenew', () => hook(context))
  if (decision === undefined) return { kind: 'renew', claims: undefined, replaced: false }
  const keys = isPlainObject(decision) ? Object.keys(decision) : []
  if (keys.length === 1 && (decision as { end?: unknown }).end === true) return { kind: 'end' }
  if (keys.length === 1 && keys[0] === 'claims') {
    return { kind: 'renew', claims: claimsOf('onRenew', (decision as { claims: unknown }).claims ?? {}), replaced: true }
  }
  throw new HookFailedError(`onRenew returned ${isPlainObject(decision) ? `{ ${keys.join(', ')} }` : kindOf(decision)}; return ${RENEW_DECISIONS}`)
}
