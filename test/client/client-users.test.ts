// The client's side of "your users": the login answer's user (kept with the session, through
// renewals and restarts), a 409 WEAPP_LINK_REQUIRED as its own typed error with the link token,
// and adopt() for the session the app's own link route issues.
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import weapp, { type WeappLoginContext } from '../../lib/index.js'
import { createWeappClient, WeappClientError, WeappLinkRequiredError } from '../../client/src/index.js'
import { createWx, MockWechat } from '../../lib/testing.js'
import { KEY } from '../fixtures/app.js'

const known = new Map([['u-alice', 1]])

async function server (t: Test, extra: Record<string, unknown> = {}): Promise<{ base: string, mock: MockWechat }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, {
    appId: mock.appId,
    appSecret: mock.appSecret,
    key: KEY,
    apiBaseUrl: mock.url,
    revocation: 'memory',
    onLogin: ({ identity }: WeappLoginContext) => {
      const id = (identity as { unionid?: string }).unionid === undefined ? undefined : known.get((identity as { unionid: string }).unionid)
      return id === undefined ? { link: true } : { claims: { userId: id }, answer: { id, name: 'Alice' } }
    },
    ...extra
  })
  app.post('/link', async (request) => {
    const { linkToken, phone } = request.body as { linkToken: string, phone: string }
    const identity = await app.weapp.redeemLink(linkToken)
    const userId = phone === '13800000000' ? 1 : 2
    const session = await (await app.weapp.app(identity.appId)).seal(identity, { claims: { userId } })
    return { session, expiresIn: 3600, user: { id: userId, linked: true } }
  })
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => app.weapp.sessionOf(request).claims)
  return { base: await app.listen({ port: 0, host: '127.0.0.1' }), mock }
}

t.test('the login answer\'s user is the client\'s, kept with the session and across a restart', async (t) => {
  const { base, mock } = await server(t)
  mock.login('o-alice', { unionid: 'u-alice' }) // the user, bound to an Open Platform account
  const wx = createWx(mock, 'o-alice')
  const client = createWeappClient({ baseUrl: base, wx })
  t.equal(client.user(), undefined, 'none before a login')
  const login = await client.login()
  t.same(login.user, { id: 1, name: 'Alice' })
  t.same(client.user(), { id: 1, name: 'Alice' })
  t.same(await client.request({ url: '/me' }), { userId: 1 }, 'the session carries the claims')
  t.same(createWeappClient({ baseUrl: base, wx }).user(), { id: 1, name: 'Alice' }, 'restored from storage')
  await client.logout()
  t.equal(client.user(), undefined, 'gone with the session')
})

t.test('WEAPP_LINK_REQUIRED is a typed error with the link token; adopt() stores what the link route answers', async (t) => {
  const { base, mock } = await server(t)
  const wx = createWx(mock, 'o-merchant')
  const client = createWeappClient({ baseUrl: base, wx })
  const err = await client.login().catch((e: unknown) => e)
  t.ok(err instanceof WeappLinkRequiredError)
  t.ok(err instanceof WeappClientError, 'a client error like the others')
  const link = err as WeappLinkRequiredError
  t.equal(link.code, 'WEAPP_LINK_REQUIRED')
  t.equal(link.statusCode, 409)
  t.equal(link.expiresIn, 600)
  t.type(link.linkToken, 'string')
  t.equal(client.session(), undefined, 'nothing stored')
  await t.rejects(client.request({ url: '/me' }), { code: 'WEAPP_LINK_REQUIRED', linkToken: String }, 'a request that needs a login says so too')
  await t.rejects(client.link({ url: 'https://evil.example/link', linkToken: link.linkToken }), { code: 'BAD_URL' }, 'the link token goes to baseUrl only')
  const answer = await client.link({ url: '/link', linkToken: link.linkToken, data: { phone: '13800000000' } })
  t.equal(client.session(), answer.session)
  t.same(client.user(), { id: 1, linked: true })
  t.same(await client.request({ url: '/me' }), { userId: 1 }, 'the linked session is used')
  const { adopt } = client
  adopt({ session: answer.session, expiresIn: 60, user: { id: 1, adopted: true } })
  t.same(client.user(), { id: 1, adopted: true }, 'adopt() stores what it is given')
  t.throws(() => { client.adopt({ session: '', expiresIn: 1 }) }, { code: 'BAD_RESPONSE' })
  t.throws(() => { client.adopt(null as never) }, { code: 'BAD_RESPONSE' })
})

t.test('a 409 without a link token is an ordinary client error', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const wx = createWx(mock, 'o-x')
  const odd = createWeappClient({ baseUrl: 'https://api.example.com', wx: { ...wx, request: (options) => { options.success?.({ statusCode: 409, data: { code: 'WEAPP_LINK_REQUIRED', message: 'no token' }, header: {} }) } } })
  const err = await odd.login().catch((e: unknown) => e)
  t.notOk(err instanceof WeappLinkRequiredError)
  t.match(err, { code: 'WEAPP_LINK_REQUIRED', statusCode: 409 })
})

t.test('the user survives a renewal; a user that is not an object is none; adopt keeps a token; a logout abandons a link', async (t) => {
  const { base, mock } = await server(t)
  mock.login('o-alice', { unionid: 'u-alice' })
  const wx = createWx(mock, 'o-alice')
  const renewing = {
    ...wx,
    request: (options: Parameters<typeof wx.request>[0]) => {
      if (options.url.endsWith('/link')) {
        held = () => { options.success?.({ statusCode: 200, data: { session: 'linked', expiresIn: 60 }, header: {} }) }
        return
      }
      if (!options.url.endsWith('/renew')) return wx.request(options)
      options.success?.({ statusCode: 200, data: {}, header: { 'X-Weapp-Session': 'renewed-session', 'X-Weapp-Session-Expires-In': '3600' } })
    }
  }
  let held = (): void => {}
  const client = createWeappClient({ baseUrl: base, wx: renewing })
  await client.login()
  await client.request({ url: '/renew' })
  t.equal(client.session(), 'renewed-session', 'renewed')
  t.same(client.user(), { id: 1, name: 'Alice' }, 'the same user')
  t.same((wx.storage.get([...wx.storage.keys()][0] as string) as { user: unknown }).user, { id: 1, name: 'Alice' }, 'and stored with it')

  for (const odd of [null, ['x'], 'alice']) {
    const stub = createWeappClient({ baseUrl: 'https://api.example.com', storageKey: 'odd', wx: { ...wx, request: (options) => { options.success?.({ statusCode: 200, data: { session: 's', expiresIn: 60, appId: 'wx', openid: 'o', user: odd }, header: {} }) } } })
    await stub.login()
    t.equal(stub.user(), undefined, `${JSON.stringify(odd)} is no user`)
  }

  client.adopt({ session: 'adopted', expiresIn: 60, token: 'a.b.c' })
  t.equal(client.token(), 'a.b.c', 'the token it is given')
  t.equal(client.user(), undefined, 'and no user where the answer has none')

  const pending = client.link({ url: '/link', linkToken: 'whatever', data: { phone: '1' } })
  await client.logout().catch(() => {})
  held() // the link route answers after the logout
  await t.rejects(pending, { code: 'LOGGED_OUT' }, 'a logout meanwhile: nothing adopted')
  t.equal(client.session(), undefined)
})
