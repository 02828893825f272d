import { Memo } from './memo.js'

export interface FailureBudgetOptions {
  /** Failures allowed in one window before the key is blocked. */
  limit: number
  /** ms: the window failures are counted in, and how long a first block lasts. */
  window: number
  /** How many keys to remember at most (counting, and blocked, each). */
  size: number
  /** The clock, in ms (tests give their own). */
  now?: () => number
}

export interface FailureBudget {
  /** ms until `key` may try again, or 0 when it is not blocked. */
  blockedFor (key: string): number
  /** Counts a failure of `key`; the `limit`-th in one window blocks it. */
  fail (key: string): void
}

/** The longest block, and how long a key's past blocks count against it. */
export const MAX_BLOCK = 24 * 3600_000

interface Count { since: number, failures: number }
interface Block { until: number, strikes: number }

/**
 * A small per-key budget of failures (defence in depth for the authenticated routes: an attacker
 * who probes ciphertexts or codes fails far more often than a user whose session_key rotated). The
 * `limit`-th failure in a window blocks the key for a window; each block within a day of the last
 * doubles, up to a day (a key is forgiven a day after its last block ended). In memory, per process, bounded: counts and blocks live in two memos of
 * `size` keys, so keys that only fail once (anyone's) never evict a blocked one.
 */
export function createFailureBudget ({ limit, window, size, now = Date.now }: FailureBudgetOptions): FailureBudget {
  const counts = new Memo<Count>(size)
  const blocks = new Memo<Block>(size)
  return {
    blockedFor (key) {
      const block = blocks.get(key)
      return block === undefined ? 0 : Math.max(0, block.until - now())
    },
    fail (key) {
      const time = now()
      let count = counts.get(key)
      if (count === undefined || time - count.since >= window) {
        count = { since: time, failures: 0 }
        counts.set(key, count)
      }
      if (++count.failures < limit) return
      counts.delete(key)
      const past = blocks.get(key)
      // A block counts against the key until a day after it ended.
      const strikes = past !== undefined && time - past.until < MAX_BLOCK ? past.strikes + 1 : 1
      blocks.set(key, { until: time + Math.min(MAX_BLOCK, window * 2 ** (strikes - 1)), strikes })
    }
  }
}

/** The per-user budget's window (`decryptFailureLimit`): failures count a minute, and a first block lasts a minute. */
export const USER_FAILURE_WINDOW = 60_000

/**
 * The per-user budget of failures (`decryptFailureLimit` a minute) that the authenticated routes
 * and `openEncrypted` share, one per registration; undefined when `limit` is 0 (off).
 */
export function userFailureBudget (limit: number): FailureBudget | undefined {
  return limit === 0 ? undefined : createFailureBudget({ limit, window: USER_FAILURE_WINDOW, size: 10_000 })
}

/** The same budget, its keys named by `keyOf(name)` (undefined stays undefined). */
export function keyedBudget (failures: FailureBudget | undefined, keyOf: (name: string) => string): FailureBudget | undefined {
  return failures === undefined ? undefined : { blockedFor: (name) => failures.blockedFor(keyOf(name)), fail: (name) => { failures.fail(keyOf(name)) } }
}

/** A user's key in that budget: an app and its user (as `users.userOf` names them), as the routes' `budgetOf` keys it. */
export function userBudgetKey (appId: string, user: string): string {
  return JSON.stringify([appId, user])
}
