import { aboutSession, refuseSession, type SessionPlatform } from './errors.js'
import type { FailureBudget } from './failure-budget.js'
import { Memo } from './memo.js'
import { singleFlight } from './upstream/single-flight.js'
import { failed, openChannel } from './user-data.js'
import type { SessionKeyApi, WeappUserEncryptKey } from './platforms/platform.js'

/**
 * The encrypted channel (小程序加密网络通道): the mini program encrypts with the user's latest
 * encrypt key (`getUserCryptoManager().getLatestUserKey()`), and the server picks the same key by
 * its version among the user's last three (`getuserencryptkey`), cached here until they expire.
 */

/** What the client sends: the key's version, a fresh IV and the data (base64). */
export interface WeappEncryptedMessage {
  version: number
  iv: string
  encryptedData: string
}

/** Users whose keys are remembered at most. */
export const USER_KEYS_CACHE = 10_000
/** ms: a version not among the keys fetched this recently is refused without asking the platform again. */
export const REFETCH_AFTER = 10_000

interface Known { keys: readonly WeappUserEncryptKey[], fetchedAt: number }

export type OpenEncrypted = (user: { openid: string, sessionKey: string }, message: WeappEncryptedMessage) => Promise<unknown>

export interface ChannelOptions {
  /** The clock, in ms (tests give their own). */
  now?: () => number
  /**
   * The per-user budget of failures (`decryptFailureLimit`) the routes count against, keyed by the
   * user's openid (`keyedBudget` names the routes' key for it); none when undefined.
   */
  failures?: FailureBudget | undefined
  /**
   * The platform of the channel's app (its row: title and login call), named in what a refused
   * user is told; where undefined, the messages name no platform's login call.
   */
  platform?: SessionPlatform | undefined
}

export function createChannel (api: Pick<SessionKeyApi, 'getUserEncryptKey'>, { now = () => Date.now(), failures, platform }: ChannelOptions = {}): OpenEncrypted {
  const cache = new Memo<Known>(USER_KEYS_CACHE)
  const fetch = singleFlight<Known>()
  const live = (known: Known | undefined, version: number, time: number): WeappUserEncryptKey | undefined =>
    known?.keys.find((key) => key.version === version && key.expiresAt > time)

  /** The message opened, or the one uniform failure (counted against the user's budget). */
  async function open (openid: string, sessionKey: string, message: WeappEncryptedMessage): Promise<unknown> {
    // The message is the client's: any shape that is not one is the one uniform failure.
    const { version, iv, encryptedData } = (message ?? {}) as Partial<Record<keyof WeappEncryptedMessage, unknown>>
    if (!Number.isSafeInteger(version)) throw failed('malformed input')
    const time = now()
    let known = cache.get(openid)
    let key = live(known, version as number, time)
    // An unknown version: the platform is asked again, but not more often than every REFETCH_AFTER per user.
    if (key === undefined && (known === undefined || time - known.fetchedAt >= REFETCH_AFTER)) {
      known = await fetch(openid, async () => ({ keys: await api.getUserEncryptKey(openid, sessionKey), fetchedAt: now() }))
      cache.set(openid, known)
      key = live(known, version as number, time)
    }
    if (key === undefined) throw failed('no live key of that version')
    return openChannel(key.encryptKey, iv, encryptedData)
  }

  return async (user, message) => {
    const { openid, sessionKey } = (user ?? {}) as Partial<Record<'openid' | 'sessionKey', unknown>>
    if (typeof openid !== 'string' || openid === '' || typeof sessionKey !== 'string' || sessionKey === '') {
      throw new TypeError('openEncrypted(session, message) needs the session (request.weappSession) or { openid, sessionKey }')
    }
    // A user over the budget is refused before anything else: no key fetched, nothing opened.
    const wait = failures === undefined ? 0 : failures.blockedFor(openid)
    if (wait > 0) {
      throw refuseSession('blocked', platform, { wait: Math.ceil(wait / 1000) })
    }
    try {
      return await open(openid, sessionKey, message)
    } catch (err) {
      // What the user's message decided counts, as on the decrypt route; an upstream fault does not.
      if ((err as { code?: unknown }).code === 'WEAPP_DECRYPT_FAILED') failures?.fail(openid)
      // Made by a decrypt that knows no session: named here after the channel's platform.
      throw aboutSession(err, platform)
    }
  }
}
