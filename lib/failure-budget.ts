import { Memo } from './memo.js'

export interface FailureBudgetOptions {
  /** Failures allowed in one window before the key is blocked. */
  limit: number
  /** ms: the window failures are counted in, and how long a block lasts. */
  window: number
  /** How many keys to remember at most. */
  size: number
  /** The clock, in ms (tests give their own). */
  now?: () => number
}

export interface FailureBudget {
  /** ms until `key` may try again, or 0 when it is not blocked. */
  blockedFor (key: string): number
  /** Counts a failure of `key`; the `limit`-th in one window blocks it for a `window`. */
  fail (key: string): void
}

interface Entry { since: number, failures: number, blockedUntil: number }

/**
 * A small per-key budget of failures (defence in depth for the decrypt route: an attacker who
 * probes ciphertexts fails far more often than a user whose session_key rotated). In memory, per
 * process, bounded: it never grows past `size` keys, whatever the number of callers.
 */
export function createFailureBudget ({ limit, window, size, now = Date.now }: FailureBudgetOptions): FailureBudget {
  const entries = new Memo<Entry>(size)
  return {
    blockedFor (key) {
      const entry = entries.get(key)
      return entry === undefined ? 0 : Math.max(0, entry.blockedUntil - now())
    },
    fail (key) {
      const time = now()
      let entry = entries.get(key)
      if (entry === undefined || time - entry.since >= window) {
        entry = { since: time, failures: 0, blockedUntil: entry?.blockedUntil ?? 0 }
        entries.set(key, entry)
      }
      entry.failures++
      if (entry.failures >= limit) entry.blockedUntil = time + window
    }
  }
}
