import { createHash } from 'node:crypto'
import { RevocationUnavailableError, safeCause } from './errors.js'

/**
 * "Accept this at most once": a signed answer that anyone who saw it could deliver again (a replay)
 * is taken the first time only. `once(name, ms)` resolves true the first time `name` is given while
 * it is remembered (for `ms`), false when it was given already; it rejects where the store that
 * remembers could not be asked. With `revocation: { redis }` the plugin gives the revocation
 * store's `claim` (fleet-wide); otherwise an in-process set (`memoryOnce`).
 */
export type Once = (name: string, ms: number) => Promise<boolean>

/** Names one process remembers at most; past it, the oldest are forgotten first. */
export const MAX_ONCE = 100_000

/**
 * Names remembered in this process, at most `max`: expired ones are dropped from the oldest, and
 * when all are live the oldest is forgotten (a bounded set; a fleet needs the Redis one).
 */
export function memoryOnce (now: () => number = Date.now, max = MAX_ONCE): Once {
  const held = new Map<string, number>()
  return async (name, ms) => {
    const time = now()
    const until = held.get(name)
    if (until !== undefined && until > time) return false
    held.delete(name)
    for (const [other, end] of held) {
      if (end > time && held.size < max) break
      held.delete(other)
    }
    held.set(name, time + ms)
    return true
  }
}

/** A short name for signed bytes (or a signature): the base64url SHA-256 of them. */
export const digest = (bytes: string): string => createHash('sha256').update(bytes, 'utf8').digest('base64url')

/**
 * Takes a signed answer once: `replayed()` is thrown where it was taken before, and a 503
 * (WEAPP_REVOCATION_UNAVAILABLE) where the store could not say, so nothing is accepted unchecked.
 */
export async function acceptOnce (once: Once, name: string, ms: number, what: string, replayed: () => Error): Promise<void> {
  let first: boolean
  try {
    first = await once(name, ms)
  } catch (err) {
    throw new RevocationUnavailableError(`The revocation store could not say whether ${what} was used before; nothing was accepted: retry in a moment`, { cause: safeCause(err, []) })
  }
  if (!first) throw replayed()
}
