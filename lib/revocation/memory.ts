import { MemoryIndex, type TrackedSession } from './devices.js'
import { Known, refOf, revocationsOf, type RevocationOptions, type Revocations } from './store.js'

/** `revocation: 'memory'`: one process (and tests). */
export function memoryRevocations (options: RevocationOptions): Revocations {
  const known = new Known(options.maxAge, (message) => { options.log.warn(message) })
  const index = new MemoryIndex(options.maxAge)
  const limits = options.limits
  const ended = (user: string) => (s: TrackedSession): boolean => known.isRevoked(refOf(user, s))
  return revocationsOf(known, options, async ({ member, expiresAt, once, unindex }, time) => {
    if (once !== undefined && known.sessions.has(once)) return false
    known.apply(member, expiresAt, time)
    if (unindex !== undefined) index.drop(unindex.index, unindex)
    return true
  }, async () => {}, undefined, limits === undefined
    ? undefined
    : {
        track: async (user, login, time) => index.track(user, login, limits, time, ended(user)),
        touch: (user, jti, expiresAt, renewedAt) => { index.touch(user, jti, expiresAt, renewedAt) },
        list: async (user, time) => index.list(user, time, ended(user))
      })
}
