// The client's session lifecycle against the real plugin: sessions bound to (origin, app, kind),
// logout() overtaking a login in flight, a revoked session dropped for one fresh login, and a late
// renewal of an older session never stored over a newer one.
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { createWeappClient, type WeappClient, type WxLike } from '../../client/src/index.js'
import { createWx, MockWechat, type MockWx } from '../../lib/testing.js'
import { KEY } from '../fixtures/app.js'
import { claims, forge } from '../fixtures/jwe.js'

async function server (t: Test, mock: MockWechat, plugin: Record<string, unknown> = {}): Promise<{ app: FastifyInstance, base: string }> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { appId: mock.appId, appSecret: mock.appSecret, key: KEY, apiBaseUrl: mock.url, revocation: 'memory', ...plugin })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => ({ openid: request.weappSession?.openid }))
  app.get('/slow-me', { onRequest: async () => { await new Promise((resolve) => setTimeout(resolve, 200)) }, preHandler: app.weapp.authenticate }, async (request) => ({ openid: request.weappSession?.openid }))
  app.post('/link', async () => ({ session: 'linked-session', expiresIn: 600, user: { id: 1 } })) // the app's own link route
  return { app, base: await app.listen({ port: 0, host: '127.0.0.1' }) }
}

async function mockWechat (t: Test): Promise<MockWechat> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  return mock
}

t.test('two clients in one mini program never restore or send each other\'s session', async (t) => {
  const mock = await mockWechat(t)
  const [one, two] = [await server(t, mock), await server(t, mock)]
  const wx = createWx(mock, 'o-alice')
  const first = createWeappClient({ baseUrl: one.base, wx })
  await first.login()
  const second = createWeappClient({ baseUrl: two.base, wx })
  t.equal(second.session(), undefined, 'another backend restores nothing')
  const other = createWeappClient({ baseUrl: one.base, wx, appId: 'wxanotherapp000000' })
  t.equal(other.session(), undefined, 'another app restores nothing')
  const staff = createWeappClient({ baseUrl: one.base, wx, wecom: true })
  t.equal(staff.session(), undefined, 'a WeCom client restores nothing')
  t.equal(createWeappClient({ baseUrl: `${one.base}/`, wx }).session(), first.session(), 'the same backend, app and kind restores it')
})

t.test('logout() abandons a login in flight: it stores nothing', async (t) => {
  const mock = await mockWechat(t)
  const { app, base } = await server(t, mock)
  const wx = createWx(mock, 'o-alice')
  const api = createWeappClient({ baseUrl: base, wx })
  mock.fail({ path: '/sns/jscode2session', delay: 200 })
  const pending = api.login()
  await new Promise((resolve) => setTimeout(resolve, 50))
  await api.logout()
  await t.rejects(pending, { code: 'LOGGED_OUT' })
  t.equal(api.session(), undefined, 'no session after logout')
  t.equal([...wx.storage.keys()].length, 0, 'and none stored')
  const again = await api.login()
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${again.session}` } })).statusCode, 200, 'a login after logout works')
})

t.test('a revoked session is dropped and one fresh login tried; a logout the user asked for is not undone', async (t) => {
  const mock = await mockWechat(t)
  const { app, base } = await server(t, mock)
  const wx = createWx(mock, 'o-alice')
  const api = createWeappClient({ baseUrl: base, wx })
  const { session } = await api.login()
  await app.weapp.revokeUser({ openid: 'o-alice' })
  await new Promise((resolve) => setTimeout(resolve, 2)) // a login after the revocation is later than it
  t.same(await api.request({ url: '/me' }), { openid: 'o-alice' }, 'answered, after one fresh login')
  t.not(api.session(), session)
  t.equal(wx.logins, 2)
  // A request in flight while the user logs out: refused, and no login behind the user's back.
  const inFlight = api.request({ url: '/slow-me' })
  await new Promise((resolve) => setTimeout(resolve, 50))
  await api.logout()
  await t.rejects(inFlight, { code: 'WEAPP_SESSION_REVOKED' })
  t.equal(wx.logins, 2, 'no third login')
  t.equal(api.session(), undefined)
})

t.test('a late renewal of an older session is never stored over a newer login', async (t) => {
  const mock = await mockWechat(t)
  const { base } = await server(t, mock, { expiresIn: '1h', renewWithin: '10m' })
  const wx = createWx(mock, 'o-alice')
  const now = Math.floor(Date.now() / 1000)
  const near = forge(KEY, claims(mock.appId, { sub: 'o-alice', sk: mock.user('o-alice').sessionKey, iat: now - 3300, exp: now + 300, jti: 'latereplyjti0000000000', lat: Date.now() - 3300_000 }))
  wx.setStorageSync(`fastify-weapp:session:${new URL(base).origin}|${mock.appId}|wx`, { session: near, expiresAt: Date.now() + 300_000, refreshAt: Date.now() + 270_000 })
  const api = createWeappClient({ baseUrl: base, wx })
  const slow = api.request({ url: '/slow-me' }) // sent with the old session; its reply renews it
  await new Promise((resolve) => setTimeout(resolve, 50))
  const fresh = await api.login()
  await slow
  t.equal(api.session(), fresh.session, 'the newer login\'s session stays')
})

/**
 * The mock's wx with the answers to requests whose URL matches `hold` held back (the server has
 * answered; the client has not heard yet) until `release()`; `held(n)` waits for n of them.
 */
function holding (wx: MockWx, hold: RegExp): { api: WxLike, held: (n: number) => Promise<void>, release: () => void } {
  const answers: Array<() => void> = []
  const api: WxLike = {
    ...wx,
    request: (options) => {
      if (!hold.test(options.url)) return wx.request(options)
      wx.request({
        ...options,
        success: (res) => { answers.push(() => options.success?.(res)) },
        fail: (err) => { answers.push(() => options.fail?.(err)) }
      })
    }
  }
  let released = 0
  return {
    api,
    held: async (n) => { while (answers.length - released < n) await new Promise((resolve) => setTimeout(resolve, 5)) },
    release: () => { for (const answer of answers.slice(released)) answer(); released = answers.length }
  }
}

t.test('no answer to a request begun before logout() stores anything: login, link, heal, renewal', async (t) => {
  const mock = await mockWechat(t)
  const { base } = await server(t, mock, { expiresIn: '1h', renewWithin: '10m' })
  const key = `fastify-weapp:session:${new URL(base).origin}|${mock.appId}|wx`
  /** What is stored, and what a client restarted on the same storage restores. */
  const left = (wx: MockWx, api: WeappClient): unknown[] => [api.session(), api.user(), wx.storage.get(key), createWeappClient({ baseUrl: base, wx }).session()]

  await t.test('the login answer', async (t) => {
    const wx = createWx(mock, 'o-login')
    const { api: held, held: answered, release } = holding(wx, /\/weapp\/login$/)
    const api = createWeappClient({ baseUrl: base, wx: held })
    const pending = api.login()
    await answered(1)
    await api.logout()
    release()
    await t.rejects(pending, { code: 'LOGGED_OUT' })
    t.same(left(wx, api), [undefined, undefined, undefined, undefined], 'nothing stored')
  })

  await t.test('the link answer', async (t) => {
    const wx = createWx(mock, 'o-link')
    const { api: held, held: answered, release } = holding(wx, /\/link$/)
    const api = createWeappClient({ baseUrl: base, wx: held })
    const pending = api.link({ url: '/link', linkToken: 'a-link-token' })
    await answered(1)
    await api.logout()
    release()
    await t.rejects(pending, { code: 'LOGGED_OUT' })
    t.same(left(wx, api), [undefined, undefined, undefined, undefined], 'nothing stored')
  })

  await t.test('the decrypt heal\'s renewed session', async (t) => {
    const wx = createWx(mock, 'o-heal')
    const api0 = createWeappClient({ baseUrl: base, wx })
    await api0.login()
    // A rotated session_key: the data opens only with a fresh code, and the answer heals the session.
    wx.lapse()
    await new Promise((resolve) => { wx.login({ success: resolve }) })
    const encrypted = await new Promise((resolve, reject) => { wx.getWeRunData({ success: resolve, fail: reject }) }) as { encryptedData: string, iv: string }
    const { api: held, held: answered, release } = holding(wx, /\/weapp\/decrypt$/)
    const api = createWeappClient({ baseUrl: base, wx: held })
    const pending = api.decrypt(encrypted)
    await answered(1)
    release() // the first attempt: refused with the session's key
    await answered(1) // the second, with a fresh code: answered with a healed session
    await api.logout()
    release()
    await t.rejects(pending, { code: 'LOGGED_OUT' })
    t.same(left(wx, api), [undefined, undefined, undefined, undefined], 'nothing stored')
  })

  await t.test('the x-weapp-session renewal header', async (t) => {
    const wx = createWx(mock, 'o-renew')
    const now = Math.floor(Date.now() / 1000)
    const near = forge(KEY, claims(mock.appId, { sub: 'o-renew', sk: mock.user('o-renew').sessionKey, iat: now - 3300, exp: now + 300, jti: 'renewedafterlogout0000', lat: Date.now() - 3300_000 }))
    wx.setStorageSync(key, { session: near, expiresAt: Date.now() + 300_000, refreshAt: Date.now() + 270_000 })
    const { api: held, held: answered, release } = holding(wx, /\/(me|weapp\/logout)$/)
    const api = createWeappClient({ baseUrl: base, wx: held })
    const pending = api.request({ url: '/me' }) // its answer renews the session
    await answered(1)
    const out = api.logout()
    await answered(2) // and the logout route's: it has ended the session; the client has not heard yet
    release()
    t.same(await pending, { openid: 'o-renew' }, 'the request is answered')
    await out
    t.same(left(wx, api), [undefined, undefined, undefined, undefined], 'the renewal is not stored, and logout() forgets the session')
  })
})
