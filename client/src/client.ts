import { encryptCbc, fromBase64, toBase64, utf8 } from './aes.js'
import { NO_GLOBAL, UNKNOWN_PLATFORM, detected, globalApi, isPlatform, labelTagOf, runtimeOf, type AnyLogin, type LoginOf } from './runtimes/index.js'
import { createStore, tokenOf } from './storage.js'
import { WeappClientError, callApi, createSend, deviceOf, hasAuthorization, originOf, ownAppId } from './transport.js'
import type { WeappAdopted, WeappClient, WeappClientOptions, WxLike } from './types.js'

type Answer = AnyLogin

/** The login answer's user, where it is an object. */
function plainUser (user: unknown): Record<string, unknown> | undefined {
  return user !== null && typeof user === 'object' && !Array.isArray(user) ? user as Record<string, unknown> : undefined
}

/**
 * Session errors after which the client drops the session and logs in once more: a revoked one too
 * (an admin's revokeUser), unless this client's own logout() ended it.
 */
const SESSION_ERRORS = new Set(['WEAPP_SESSION_MISSING', 'WEAPP_SESSION_INVALID', 'WEAPP_SESSION_EXPIRED', 'WEAPP_SESSION_REVOKED'])

export function createWeappClient<O extends WeappClientOptions> (options: O): WeappClient<LoginOf<O>>
export function createWeappClient (options: WeappClientOptions): WeappClient<Answer> {
  const base = options !== null && typeof options === 'object' && typeof options.baseUrl === 'string' && !/[?#]/.test(options.baseUrl)
    ? originOf(options.baseUrl)
    : undefined
  if (base === undefined) {
    throw new TypeError('createWeappClient({ baseUrl }): baseUrl must be an http(s) URL without credentials, query or fragment, such as \'https://api.example.com\'')
  }
  if (options.platform !== undefined && !isPlatform(options.platform)) throw new TypeError(UNKNOWN_PLATFORM)
  const given = options.wx !== undefined ? options.wx : globalApi(options.platform)
  if (given === undefined) throw new TypeError(NO_GLOBAL)
  const api: WxLike = given
  const root = base.origin + base.path.replace(/\/+$/, '')
  const prefix = (options.prefix !== undefined ? options.prefix : '/weapp').replace(/\/+$/, '')
  const appId = options.appId !== undefined ? options.appId : ownAppId(api)
  const runtime = runtimeOf(options.wx !== undefined ? options : detected(options))
  /** What each login says of the device: the app's label, none (`false`), or the host platform's and system's. */
  const device = options.device === false ? undefined : typeof options.device === 'string' ? options.device : deviceOf(api, labelTagOf(api, options, runtime))
  // What a stored session is bound to: the backend's origin, the app, the kind of login.
  const storageKey = options.storageKey !== undefined ? options.storageKey : `fastify-weapp:session:${base.origin}|${appId !== undefined ? appId : ''}|${runtime.tag}`
  /** Counts logouts: a login or request that began before the latest one stores and retries nothing. */
  let epoch = 0

  // Restored from storage on start; kept in memory after that.
  const kept = createStore(api, storageKey)
  const { store, forget, current } = kept
  /** The stored session's user (the login answer's): kept with it through renewals and heals. */
  let user = kept.stored !== undefined ? kept.stored.user : undefined
  let loggingIn: Promise<Answer> | undefined

  /** A path on baseUrl or a URL on its origin, as a full URL; undefined for anywhere else. */
  function resolve (url: unknown): string | undefined {
    if (typeof url !== 'string' || /\s/.test(url)) return undefined
    // '/x' but not '//host' or '/\\host', which browsers and some runtimes read as another origin.
    if (/^\/(?![/\\])/.test(url)) return root + url
    const target = originOf(url)
    return target !== undefined && target.origin === base?.origin ? url : undefined
  }

  /**
   * A fresh login code from the runtime's login call, or, where the platform gives a user not
   * logged in to it only an anonymous code, that.
   */
  function wxLogin (): Promise<{ code: string } | { anonymousCode: string }> {
    return new Promise((resolve, reject) => {
      const name = runtime.loginCall
      const loginApi = runtime.loginApi(api)
      if (loginApi === undefined) {
        reject(new WeappClientError('WX_LOGIN_FAILED', runtime.missing))
        return
      }
      callApi(loginApi.login({
        success: (res) => {
          const anonymousCode = (res as { anonymousCode?: unknown }).anonymousCode
          if (typeof res.code === 'string' && res.code !== '') resolve({ code: res.code })
          else if (typeof anonymousCode === 'string' && anonymousCode !== '') resolve({ anonymousCode })
          else reject(new WeappClientError('WX_LOGIN_FAILED', `${name} gave no code`))
        },
        fail: (err) => { reject(new WeappClientError('WX_LOGIN_FAILED', `${name} failed: ${err.errMsg}`)) }
      }))
    })
  }

  /**
   * A session the server renewed (its renewWithin option: `x-weapp-session` and
   * `x-weapp-session-expires-in` on a reply to a request that sent `sent`) replaces the stored one,
   * the app JWT kept; a reply to an older session than the stored one changes nothing, and so does
   * a reply to a request sent before the latest logout() (`began`: the epoch it was sent in).
   */
  function keepRenewed (sent: string, header: Record<string, any> | undefined, began: number): void {
    const stored = kept.stored
    if (began !== epoch || header === undefined || header === null || stored === undefined || stored.session !== sent) return
    let renewed: unknown
    let expiresIn: unknown
    for (const name of Object.keys(header)) {
      const lower = name.toLowerCase()
      if (lower === 'x-weapp-session') renewed = header[name]
      if (lower === 'x-weapp-session-expires-in') expiresIn = Number(header[name])
    }
    if (typeof renewed !== 'string' || renewed === '' || typeof expiresIn !== 'number' || !(expiresIn > 0)) return
    store(renewed, expiresIn, kept.token(), user)
  }

  const send = createSend(api, keepRenewed, () => epoch)

  function loggedOut (): WeappClientError {
    return new WeappClientError('LOGGED_OUT', 'logout() was called meanwhile: nothing was stored; log in again if the user wants to')
  }

  function login (): Promise<Answer> {
    if (loggingIn === undefined) {
      const started = epoch
      const attempt = (async () => {
        const given = await wxLogin()
        const sent: Record<string, string> = { ...given }
        if (appId !== undefined) sent.appId = appId
        if (device !== undefined && device !== '') sent.device = device
        const body = await send<Answer>('POST', `${root}${prefix}/login`, sent, undefined)
        if (body === null || typeof body !== 'object' || typeof body.session !== 'string' || body.session === '' || typeof body.expiresIn !== 'number' || !(body.expiresIn > 0)) {
          throw new WeappClientError('BAD_RESPONSE', 'The login route answered without a session')
        }
        if (epoch !== started) throw loggedOut()
        user = plainUser(body.user)
        store(body.session, body.expiresIn, tokenOf(body.token), user)
        return body
      })()
      loggingIn = attempt
      const done = (): void => { if (loggingIn === attempt) loggingIn = undefined }
      attempt.then(done, done)
    }
    return loggingIn
  }

  /** Runs `call` with a session; on a session error, one login (shared) and one retry. */
  async function withSession<T> (call: (session: string) => Promise<T>): Promise<T> {
    const started = epoch
    const first = current()
    const session = first !== undefined ? first : (await login()).session
    try {
      return await call(session)
    } catch (err) {
      if (err instanceof WeappClientError && err.code === 'WEAPP_SESSION_KICKED') {
        // A later login elsewhere ended it: dropped, and no login behind the user's back (it would
        // end that other session in turn). The app tells the user and calls login() if they want.
        if (kept.stored !== undefined && kept.stored.session === session) forget()
        throw err
      }
      if (!(err instanceof WeappClientError) || !SESSION_ERRORS.has(err.code)) throw err
      // A session this client's own logout() ended stays ended: no login behind the user's back.
      if (epoch !== started) throw err
      // What the server refused is dropped (a revoked session would be refused forever).
      if (kept.stored !== undefined && kept.stored.session === session) forget()
      // Another call may have logged in meanwhile: use its session rather than log in again.
      const renewed = current()
      return await call(renewed !== undefined && renewed !== session ? renewed : (await login()).session)
    }
  }

  const routes = `${root}${prefix}`

  /** Stores a session the app's own route issued. */
  function adopt (answer: WeappAdopted): void {
    if (answer === null || typeof answer !== 'object' || typeof answer.session !== 'string' || answer.session === '' || typeof answer.expiresIn !== 'number' || !(answer.expiresIn > 0)) {
      throw new WeappClientError('BAD_RESPONSE', 'adopt(answer): give the { session, expiresIn } your route answered')
    }
    user = plainUser(answer.user)
    store(answer.session, answer.expiresIn, tokenOf(typeof answer.token === 'string' ? answer.token : undefined), user)
  }

  return {
    login,

    async request ({ url, method = 'GET', data, header }) {
      const target = resolve(url)
      if (target === undefined) {
        throw new WeappClientError('BAD_URL', `request({ url }): ${String(url)} is not a path starting with '/' or a URL on ${base.origin}; the session is only sent to baseUrl's origin`)
      }
      // With your own Authorization header, no session is needed: one request, as given.
      if (hasAuthorization(header)) return await send(method, target, data, undefined, header)
      return await withSession(async (session) => await send(method, target, data, session, header))
    },

    async ensureSession () {
      if (current() !== undefined) {
        // The session of whoever issues the codes: the runtime's login API's.
        const checker = runtime.loginApi(api)
        const lapsed = await new Promise<boolean>((resolve) => {
          if (checker === undefined || checker.checkSession === undefined) resolve(true)
          else callApi(checker.checkSession({ success: () => { resolve(false) }, fail: () => { resolve(true) } }))
        })
        if (!lapsed) return
      }
      await login()
    },

    decrypt ({ encryptedData, iv }) {
      const started = epoch
      return withSession(async (session) => {
        try {
          return (await send<{ data: any }>('POST', `${routes}/decrypt`, { encryptedData, iv }, session)).data
        } catch (err) {
          if (!(err instanceof WeappClientError) || err.code !== 'WEAPP_DECRYPT_FAILED') throw err
          // The key the platform encrypted with is not the session's: one fresh code, and the server
          // decrypts with its session_key and renews the session.
          const fresh = await wxLogin()
          if (!('code' in fresh)) throw err // anonymous: no session_key to decrypt with
          const code = fresh.code
          const body = await send<{ data: any, session?: unknown, expiresIn?: unknown }>('POST', `${routes}/decrypt`, { encryptedData, iv, code }, session)
          if (typeof body.session !== 'string' || body.session === '' || typeof body.expiresIn !== 'number' || !(body.expiresIn > 0)) {
            throw new WeappClientError('BAD_RESPONSE', 'The decrypt route answered a fresh code without a renewed session')
          }
          // A logout() meanwhile: the healed session is not stored (nor the data answered).
          if (started !== epoch) throw loggedOut()
          store(body.session, body.expiresIn, kept.token(), user)
          return body.data
        }
      })
    },

    async phone (code) {
      return (await withSession(async (session) => await send<{ phone: { phoneNumber: string, purePhoneNumber: string, countryCode: string } }>('POST', `${routes}/phone`, { [runtime.phoneField !== undefined ? runtime.phoneField : 'code']: code }, session))).phone
    },

    encrypt (data) {
      return new Promise((resolve, reject) => {
        const manager = typeof api.getUserCryptoManager === 'function' ? api.getUserCryptoManager() : undefined
        const failed = (what: string) => (err: { errMsg: string }): void => { reject(new WeappClientError('ENCRYPT_FAILED', `${what} failed: ${err.errMsg}`)) }
        if (manager === undefined || manager === null) {
          reject(new WeappClientError('UNSUPPORTED', 'encrypt() needs getUserCryptoManager() (base library 2.17.3 or later)'))
          return
        }
        const text = JSON.stringify(data)
        if (typeof text !== 'string') {
          reject(new WeappClientError('ENCRYPT_FAILED', 'encrypt(data) needs data that JSON can hold'))
          return
        }
        callApi(manager.getLatestUserKey({
          success: ({ encryptKey, version }) => {
            const key = fromBase64(encryptKey, 16)
            if (key === undefined || typeof version !== 'number') {
              reject(new WeappClientError('ENCRYPT_FAILED', 'getLatestUserKey() gave no usable key'))
              return
            }
            callApi(manager.getRandomValues({
              length: 16,
              success: ({ randomValues }) => {
                const iv = new Uint8Array(randomValues)
                if (iv.length !== 16) {
                  reject(new WeappClientError('ENCRYPT_FAILED', 'getRandomValues() gave no 16 bytes'))
                  return
                }
                resolve({ version, iv: toBase64(iv), encryptedData: toBase64(encryptCbc(key, iv, utf8(text))) })
              },
              fail: failed('getRandomValues()')
            }))
          },
          fail: failed('getLatestUserKey()')
        }))
      })
    },

    session: () => current(),

    user: <U>() => (current() === undefined ? undefined : user) as U | undefined,

    adopt,

    async link ({ url, linkToken, data }) {
      const target = resolve(url)
      if (target === undefined) throw new WeappClientError('BAD_URL', `link({ url }): ${String(url)} is not a path starting with '/' or a URL on ${base.origin}`)
      const started = epoch
      const answer = await send<any>('POST', target, { ...data, linkToken }, undefined)
      if (epoch !== started) throw loggedOut()
      adopt(answer)
      return answer
    },

    token: () => current() === undefined ? undefined : (kept.stored as { token?: string }).token,

    async logout () {
      // A login in flight stores nothing now, and requests in flight retry nothing.
      epoch++
      loggingIn = undefined
      const session = kept.stored !== undefined ? kept.stored.session : undefined
      if (session === undefined) return
      try {
        await send('POST', `${routes}/logout`, {}, session)
      } catch (err) {
        // No logout route (no revocation on the server), or a session that no longer opens: nothing to end.
        const status = (err as WeappClientError).statusCode
        if (status !== 404 && status !== 401) throw err // kept: the server still takes it, retry logout()
      }
      if (kept.stored !== undefined && kept.stored.session === session) forget()
    }
  }
}
