// Your users, not just openids: onLogin's decisions (claims, an answer, a refusal, a link), the
// app's claims in the stateless session and through its renewals (onRenew), link tokens and
// their redeeming, the typed helpers, and the jwt bridge carrying the app's user.
import fastifyJwt from '@fastify/jwt'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import t from 'tap'
import weapp, { MAX_CLAIMS_BYTES, type WeappLoginContext } from '../lib/index.js'
import { harness, isError, KEY, type Harness } from './fixtures/app.js'
import { claims as claimsOf, forge, open } from './fixtures/jwe.js'

const APP = 'wx0123456789abcdef'
const CLAIMS = { userId: 42, roles: ['buyer'], marker: 'claim-marker-never-in-a-reply' }

async function get (h: Harness, session: string, url = '/claims'): Promise<LightMyRequestResponse> {
  return await h.app.inject({ url, headers: { authorization: `Bearer ${session}` } })
}

/** The harness with a route that shows the session's claims, and whatever more. */
async function users (t: Parameters<typeof harness>[0], plugin: Record<string, unknown>, after?: (app: Harness['app']) => void): Promise<Harness> {
  return await harness(t, {
    plugin,
    after (app) {
      app.get('/claims', { onRequest: app.weapp.authenticate }, async (request) => ({ claims: app.weapp.sessionOf(request).claims }))
      after?.(app)
    }
  })
}

/** A session due for renewal (30 s left, renewWithin 10 min) with these claims. */
function dueSession (cl: unknown, overrides: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000)
  return forge(KEY, claimsOf(APP, { sub: 'o-due', jti: 'due-session-000000000a', lat: Date.now() - 3600_000, iat: now - 60, exp: now + 30, ...(cl === undefined ? {} : { cl }), ...overrides }))
}

t.test('without onLogin the login is today\'s: no user in the answer, no claims in the session', async (t) => {
  const h = await users(t, {})
  const res = await h.post('/weapp/login', { code: h.mock.login('o-plain') })
  t.equal(res.statusCode, 200)
  t.same(Object.keys(res.json()).sort(), ['appId', 'expiresIn', 'openid', 'session'])
  t.equal(open(res.json().session, KEY).payload.cl, undefined, 'nothing sealed beside the identity')
  t.same((await get(h, res.json().session)).json(), { claims: {} })
})

t.test('onLogin\'s claims are sealed in the session, read back on every request, never in a reply', async (t) => {
  const seen: WeappLoginContext[] = []
  const h = await users(t, {
    onLogin: async (context: WeappLoginContext) => {
      seen.push(context)
      return { claims: CLAIMS }
    }
  }, (app) => {
    app.get('/mutate', { onRequest: app.weapp.authenticate }, async (request) => {
      try {
        (app.weapp.sessionOf(request).claims as { userId: number }).userId = 7
        return { mutated: true }
      } catch (err) {
        return { mutated: false, error: (err as Error).name }
      }
    })
  })
  const res = await h.post('/weapp/login', { code: h.mock.login('o-alice', { unionid: 'u-alice' }) })
  t.equal(res.statusCode, 200)
  const { session } = res.json()
  t.same(open(session, KEY).payload.cl, CLAIMS, 'sealed in the token')
  t.notOk(res.body.includes(CLAIMS.marker), 'the login answer does not show them')
  t.equal(seen.length, 1)
  const [context] = seen as [WeappLoginContext]
  t.same(context.identity, { platform: 'wechat', appId: APP, openid: 'o-alice', unionid: 'u-alice' }, 'who logged in, and from where; no session_key')
  t.ok(Object.isFrozen(context.identity))
  t.same(context.app, { appId: APP, kind: 'wechat' })
  t.same(context.request.body, { code: (context.request.body as { code: string }).code }, 'the request it came with')
  for (let i = 0; i < 2; i++) t.same((await get(h, session)).json(), { claims: CLAIMS }, 'read back (and from the memo)')
  t.same((await get(h, session, '/mutate')).json(), { mutated: false, error: 'TypeError' }, 'frozen: changing them would change nothing')
  t.same((await get(h, session)).json().claims.userId, 42)
  const me = await get(h, session, '/me')
  t.notOk(me.body.includes(CLAIMS.marker), 'a reply that does not name them does not show them')
  t.same(h.leaks(), [])
})

t.test('onLogin\'s answer is the login answer\'s user, as userSchema declares it', async (t) => {
  const answer = { id: 42, isNew: true, nickname: 'Alice', internal: 'never-sent' }
  const open = await users(t, { onLogin: () => ({ answer }) })
  const any = await open.post('/weapp/login', { code: open.mock.login('o-alice') })
  t.same(any.json().user, answer, 'by default, the object the hook gave')
  const declared = await users(t, {
    onLogin: () => ({ answer }),
    userSchema: { type: 'object', properties: { id: { type: 'integer' }, isNew: { type: 'boolean' }, nickname: { type: 'string' } } }
  })
  const res = await declared.post('/weapp/login', { code: declared.mock.login('o-alice') })
  t.same(res.json().user, { id: 42, isNew: true, nickname: 'Alice' }, 'only what the schema declares')
  t.notOk(res.body.includes('never-sent'))
  t.same(Object.keys(res.json()).sort(), ['appId', 'expiresIn', 'openid', 'session', 'user'], 'nothing else beside it')
})

t.test('a refusal is 403 WEAPP_LOGIN_REFUSED with the app\'s message, and nothing sealed', async (t) => {
  const h = await users(t, { onLogin: ({ identity }: WeappLoginContext) => identity.openid === 'o-banned' ? { refuse: 'This account is suspended; write to support@example.com' } : undefined })
  const res = await h.post('/weapp/login', { code: h.mock.login('o-banned') })
  isError(t, res, 403, 'WEAPP_LOGIN_REFUSED')
  t.equal(res.json().message, 'This account is suspended; write to support@example.com')
  t.equal((await h.post('/weapp/login', { code: h.mock.login('o-fine') })).statusCode, 200, 'the others log in')
})

t.test('a link: 409 with a link token no route takes as a session; the app redeems it and seals the session', async (t) => {
  const h = await users(t, {
    revocation: 'memory',
    linkExpiresIn: '5m',
    onLogin: () => ({ link: true })
  }, (app) => {
    app.post('/link', async (request) => {
      const { linkToken } = request.body as { linkToken: string }
      const identity = await app.weapp.redeemLink(linkToken)
      const session = await (await app.weapp.app(identity.appId)).seal(identity, { claims: { userId: 7 } })
      return { session, identity }
    })
  })
  const res = await h.post('/weapp/login', { code: h.mock.login('o-merchant', { unionid: 'u-merchant' }) })
  t.equal(res.statusCode, 409)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['code', 'error', 'expiresIn', 'linkToken', 'message', 'statusCode'])
  t.equal(body.code, 'WEAPP_LINK_REQUIRED')
  t.equal(body.expiresIn, 300)
  t.equal(res.headers['cache-control'], 'no-store')
  const sealed = open(body.linkToken, KEY).payload
  t.equal(sealed.use, 'link', 'its own purpose claim')
  t.equal((sealed.exp as number) - (sealed.iat as number), 300, 'short-lived')
  // Refused wherever a session is taken.
  isError(t, await get(h, body.linkToken), 401, 'WEAPP_SESSION_INVALID')
  isError(t, await h.post('/weapp/decrypt', h.mock.encrypt('o-merchant', { n: 1 }), body.linkToken), 401, 'WEAPP_SESSION_INVALID')
  isError(t, await h.post('/weapp/logout', {}, body.linkToken), 401, 'WEAPP_SESSION_INVALID')
  await t.rejects(h.app.weapp.unseal(body.linkToken), { code: 'WEAPP_SESSION_INVALID' })
  // Redeemed once.
  const linked = await h.post('/link', { linkToken: body.linkToken })
  t.equal(linked.statusCode, 200)
  const { session, identity } = linked.json()
  t.same(identity, { openid: 'o-merchant', unionid: 'u-merchant', platform: 'wechat', appId: APP }, 'the identity, without its session_key when serialized')
  t.same((await get(h, session)).json(), { claims: { userId: 7 } }, 'the session the app sealed')
  t.equal((await get(h, session, '/me')).json().openid, 'o-merchant')
  const again = await h.post('/link', { linkToken: body.linkToken })
  isError(t, again, 401, 'WEAPP_LINK_EXPIRED')
  t.match(again.json().message, /already redeemed/, 'its message says why')
  t.same(h.leaks(), [])
})

t.test('redeemLink refuses a session, a forgery, an expired link, and (without revocation) redeems again', async (t) => {
  const h = await users(t, { onLogin: () => ({ link: true }) })
  const link = (await h.post('/weapp/login', { code: h.mock.login('o-merchant') })).json().linkToken
  const session = (await h.app.weapp.app(APP)).seal({ openid: 'o-merchant', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' })
  await t.rejects(h.app.weapp.redeemLink(await session), { code: 'WEAPP_LINK_INVALID', statusCode: 401, message: /a session, not a link token/ })
  await t.rejects(h.app.weapp.redeemLink(`${link.slice(0, -4)}AAAA`), { code: 'WEAPP_LINK_INVALID' })
  await t.rejects(h.app.weapp.redeemLink(42 as never), { code: 'WEAPP_LINK_INVALID' })
  const now = Math.floor(Date.now() / 1000)
  const expired = forge(KEY, claimsOf(APP, { sub: 'o-merchant', jti: 'expired-link-00000000a', use: 'link', iat: now - 900, exp: now - 300 }))
  await t.rejects(h.app.weapp.redeemLink(expired), { code: 'WEAPP_LINK_EXPIRED', statusCode: 401, message: /The link token expired/ })
  const wrongPurpose = forge(KEY, claimsOf(APP, { sub: 'o-merchant', jti: 'other-purpose-0000000a', use: 'other' }))
  await t.rejects(h.app.weapp.redeemLink(wrongPurpose), { code: 'WEAPP_LINK_INVALID' })
  const noId = forge(KEY, claimsOf(APP, { sub: 'o-merchant', use: 'link' }))
  await t.rejects(h.app.weapp.redeemLink(noId), { code: 'WEAPP_LINK_INVALID', message: /does not hold a user/ })
  const first = await h.app.weapp.redeemLink(link)
  t.equal(first.sessionKey.length, 24, 'the session_key, for seal')
  t.notOk(JSON.stringify(first).includes(first.sessionKey), 'never in its JSON')
  t.equal((await h.app.weapp.redeemLink(link)).openid, 'o-merchant', 'without revocation a link token lives out its minutes')
})

t.test('a link token seals only for its own app', async (t) => {
  const OTHER = 'wx00000000000other'
  const h = await users(t, { apps: (appId: string) => appId === APP || appId === OTHER ? { appId, appSecret: 'mock-app-secret-0123456789abcdef' } : undefined, onLogin: () => ({ link: true }) })
  const link = (await h.post('/weapp/login', { code: h.mock.login('o-merchant'), appId: APP })).json().linkToken
  const identity = await h.app.weapp.redeemLink(link)
  await t.rejects((await h.app.weapp.app(OTHER)).seal(identity), { name: 'TypeError', message: /a user of wx0123456789abcdef, not of wx00000000000other/ })
  t.type(await (await h.app.weapp.app(APP)).seal(identity), 'string')
})

t.test('onLogin that throws, or decides what the plugin cannot read: 500, logged, nothing sealed', async (t) => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['throws', () => { throw new Error('database is down: cause-marker') }, /onLogin threw; nothing was sealed/],
    ['rejects', async () => { throw new Error('cause-marker') }, /onLogin threw/],
    ['an array', () => [], /onLogin returned an array/],
    ['null', () => null, /onLogin returned null/],
    ['a class', () => new Map(), /an object of another class/],
    ['an empty refusal', () => ({ refuse: '' }), /refuse \(a non-empty message\)/],
    ['a refusal and claims', () => ({ refuse: 'no', claims: {} }), /each come alone/],
    ['a link that is not true', () => ({ link: 'yes' }), /each come alone/],
    ['an unknown key', () => ({ claim: {} }), /onLogin returned claim, which it may not/],
    ['claims that are not an object', () => ({ claims: ['admin'] }), /claims must be a plain JSON object/],
    ['claims with a cycle', () => { const c: Record<string, unknown> = {}; c.self = c; return { claims: c } }, /claims must be JSON/],
    ['claims too large', () => ({ claims: { blob: 'x'.repeat(MAX_CLAIMS_BYTES) } }), /onLogin: claims take 1035 bytes as JSON, over the 1024 a session carries/],
    ['an answer that is not an object', () => ({ answer: 'new' }), /answer must be a plain object/]
  ]
  for (const [name, hook, message] of cases) {
    const h = await users(t, { onLogin: hook })
    const res = await h.post('/weapp/login', { code: h.mock.login('o-alice') })
    isError(t, res, 500, 'WEAPP_HOOK_FAILED')
    t.match(res.json().message, message, name)
    t.notOk(res.body.includes('cause-marker'), `${name}: what the hook threw stays in the log`)
    t.notOk(h.replies.some((r) => r.includes('"session"')), `${name}: nothing sealed`)
    const logged = h.logs.filter((line) => line.includes('WEAPP_HOOK_FAILED'))
    t.ok(logged.length > 0, `${name}: logged`)
    if (name === 'throws') t.ok(logged.some((line) => line.includes('cause-marker')), 'with its cause')
    t.same(h.leaks(), [], name)
  }
  const fits = await users(t, { onLogin: () => ({ claims: { blob: 'x'.repeat(MAX_CLAIMS_BYTES - 11) } }) })
  const res = await fits.post('/weapp/login', { code: fits.mock.login('o-alice') })
  t.equal(res.statusCode, 200, 'claims of exactly the bound fit')
  t.equal((await get(fits, res.json().session)).json().claims.blob.length, MAX_CLAIMS_BYTES - 11)
  t.ok(res.json().session.length <= 2560, `${res.json().session.length} characters`)
})

t.test('the decrypt route\'s heal keeps the claims, and asks onLogin nothing', async (t) => {
  let calls = 0
  const h = await users(t, { onLogin: () => { calls++; return { claims: CLAIMS } } })
  const { session } = (await h.post('/weapp/login', { code: h.mock.login('o-alice') })).json()
  const code = h.mock.login('o-alice', { rotate: true })
  const healed = await h.post('/weapp/decrypt', { ...h.mock.encrypt('o-alice', { n: 1 }), code }, session)
  t.equal(healed.statusCode, 200)
  t.same(open(healed.json().session, KEY).payload.cl, CLAIMS, 'the same user, the same claims')
  t.equal(calls, 1, 'one login, one call')
  t.notOk(healed.body.includes(CLAIMS.marker))
})

t.test('a heal that renews is a renewal: onRenew ends it (revoked) or replaces its claims; a banned user keeps no session through heals', async (t) => {
  const banned = new Set<string>()
  const asked: unknown[] = []
  // The README's ban: refused at login, ended at renewal.
  const h = await users(t, {
    expiresIn: '1h',
    renewWithin: '10m',
    maxAge: '2h',
    revocation: 'memory',
    onLogin: ({ identity }: WeappLoginContext) => banned.has((identity as { openid: string }).openid) ? { refuse: 'banned' } : { claims: { role: 'admin' } },
    onRenew: ({ session }: { session: { openid: string, claims: { role?: string } } }) => {
      asked.push(session.claims)
      if (banned.has(session.openid)) return { end: true }
      return session.claims.role === 'admin' ? { claims: { role: 'user' } } : undefined
    }
  })
  const now = Math.floor(Date.now() / 1000)
  // A session with 20 minutes left (not due: authenticate asks nothing); a heal would give it an hour.
  const session = (sub: string, jti: string, overrides: Record<string, unknown> = {}): string =>
    forge(KEY, claimsOf(APP, { sub, jti, lat: Date.now() - 40 * 60_000, iat: now - 2400, exp: now + 1200, cl: { role: 'admin' }, ...overrides }))
  const heal = async (token: string, openid: string) => {
    const code = h.mock.login(openid, { rotate: true }) // a later wx.login(): the data is encrypted with its key
    return await h.post('/weapp/decrypt', { ...h.mock.encrypt(openid, { n: 1 }), code }, token)
  }

  const mallory = session('o-mallory', 'mallory-session-00000a')
  t.equal((await get(h, mallory)).statusCode, 200)
  t.same(asked, [], 'not due: not asked')
  banned.add('o-mallory')
  const ended = await heal(mallory, 'o-mallory')
  isError(t, ended, 401, 'WEAPP_SESSION_ENDED')
  t.notOk(ended.json().session, 'no healed session')
  t.notOk(ended.body.includes('"n"'), 'nor the data')
  t.same(asked, [{ role: 'admin' }], 'onRenew decided the heal')
  isError(t, await get(h, mallory), 401, 'WEAPP_SESSION_REVOKED')
  isError(t, await heal(mallory, 'o-mallory'), 401, 'WEAPP_SESSION_REVOKED')
  isError(t, await h.post('/weapp/login', { code: h.mock.login('o-mallory') }), 403, 'WEAPP_LOGIN_REFUSED')

  const alice = await heal(session('o-alice', 'alice-session-0000000a'), 'o-alice')
  t.equal(alice.statusCode, 200)
  t.same(alice.json().data.n, 1)
  const healed = open(alice.json().session, KEY).payload
  t.same(healed.cl, { role: 'user' }, 'onRenew\'s claims are sealed in the healed token')
  t.equal(healed.jti, 'alice-session-0000000a', 'the same login')
  t.notOk(alice.body.includes('admin'), 'no claim in the reply')
  const erin = await heal(session('o-erin', 'erin-session-00000000a', { cl: { role: 'user' } }), 'o-erin')
  t.same(open(erin.json().session, KEY).payload.cl, { role: 'user' }, 'onRenew deciding nothing keeps the claims')

  // A heal that issues no later exp (its login's maxAge reached by renewals already) renews nothing: not asked.
  const capped = Math.floor((Date.now() - 110 * 60_000 + 2 * 3600_000) / 1000)
  const before = asked.length
  const last = await heal(session('o-carol', 'carol-session-0000000a', { lat: Date.now() - 110 * 60_000, exp: capped }), 'o-carol')
  t.equal(last.statusCode, 200)
  t.equal(asked.length, before, 'not asked')
  t.ok((open(last.json().session, KEY).payload.exp as number) <= capped, 'never past loginAt + maxAge')

  // Due in authenticate too: onRenew is asked once, and the heal's token is the request's only renewal.
  const due = session('o-dave', 'dave-session-00000000a', { exp: now + 30 })
  const both = await heal(due, 'o-dave')
  t.equal(both.statusCode, 200)
  t.equal(asked.length, before + 1, 'asked once')
  t.same(open(both.json().session, KEY).payload.cl, { role: 'user' }, 'what it decided is sealed')
  t.equal(both.headers['x-weapp-session'], undefined, 'no second renewal, with the rotated key')
})

t.test('renewals keep the claims; onRenew refreshes them or ends the session, and is asked only when one is due', async (t) => {
  const renewing = { expiresIn: '1h', renewWithin: '10m' }
  const plain = await users(t, renewing)
  const kept = await get(plain, dueSession({ userId: 1 }))
  t.same(open(kept.headers['x-weapp-session'] as string, KEY).payload.cl, { userId: 1 }, 'a renewal keeps them')
  t.equal(open((await get(plain, dueSession(undefined))).headers['x-weapp-session'] as string, KEY).payload.cl, undefined, 'and adds none')

  const asked: unknown[] = []
  let decision: unknown
  const h = await users(t, { ...renewing, revocation: 'memory', onRenew: ({ session }: { session: { claims: unknown } }) => { asked.push(session.claims); return decision } })
  const fresh = (await h.post('/weapp/login', { code: h.mock.login('o-fresh') })).json().session
  t.equal((await get(h, fresh)).statusCode, 200)
  t.same(asked, [], 'not asked when no renewal is due')
  // Due, but at the end of its login's maxAge (30 days): no renewal would outlast it, so none is asked for.
  const lastDays = dueSession({ userId: 9 }, { jti: 'last-of-maxage-000000a', lat: Date.now() - 30 * 86400_000 + 10_000 })
  const last = await get(h, lastDays)
  t.equal(last.statusCode, 200, 'a genuine session')
  t.equal(last.headers['x-weapp-session'], undefined)
  t.same(asked, [], 'not asked when a renewal could not outlast the session')

  decision = { claims: { userId: 1, roles: ['admin'] } }
  const refreshed = await get(h, dueSession({ userId: 1, roles: [] }))
  t.same(asked, [{ userId: 1, roles: [] }], 'asked with the session\'s claims')
  t.same(refreshed.json().claims, { userId: 1, roles: ['admin'] }, 'this request sees the new claims')
  t.same(open(refreshed.headers['x-weapp-session'] as string, KEY).payload.cl, { userId: 1, roles: ['admin'] }, 'and the renewal carries them')

  decision = { claims: {} }
  t.equal(open((await get(h, dueSession({ userId: 1 }, { jti: 'cleared-claims-000000a' }))).headers['x-weapp-session'] as string, KEY).payload.cl, undefined, '{ claims: {} } clears them')

  decision = undefined
  t.same(open((await get(h, dueSession({ userId: 3 }, { jti: 'kept-claims-000000000a' }))).headers['x-weapp-session'] as string, KEY).payload.cl, { userId: 3 }, 'undefined keeps them')

  decision = { end: true }
  const banned = dueSession({ userId: 2 }, { jti: 'banned-session-000000a' })
  const ended = await get(h, banned)
  isError(t, ended, 401, 'WEAPP_SESSION_ENDED')
  t.equal(ended.headers['x-weapp-session'], undefined, 'no renewal')
  decision = undefined
  isError(t, await get(h, banned), 401, 'WEAPP_SESSION_REVOKED')
  t.equal(asked.length, 4, 'with revocation on, ended for good: not asked again')

  decision = { claims: undefined }
  t.equal(open((await get(h, dueSession({ userId: 4 }, { jti: 'undefined-claims-0000a' }))).headers['x-weapp-session'] as string, KEY).payload.cl, undefined, '{ claims: undefined } clears them too')
  for (const [odd, message] of [[{ end: 'soon' }, /onRenew returned \{ end \}/], [['end'], /onRenew returned an array/], [42, /onRenew returned a number/], [{ claims: {}, end: true }, /onRenew returned \{ claims, end \}/]] as const) {
    decision = odd
    const res = await get(h, dueSession(undefined, { jti: 'odd-decision-00000000a' }))
    isError(t, res, 500, 'WEAPP_HOOK_FAILED')
    t.match(res.json().message, message)
  }
  decision = { claims: { blob: 'x'.repeat(MAX_CLAIMS_BYTES) } }
  const big = await get(h, dueSession(undefined, { jti: 'big-claims-0000000000a' }))
  isError(t, big, 500, 'WEAPP_HOOK_FAILED')
  t.match(big.json().message, /onRenew: claims take/)
})

t.test('onRenew ending a session without revocation ends it whenever it is due; a store that is down still ends the request', async (t) => {
  const h = await users(t, { expiresIn: '1h', renewWithin: '10m', onRenew: () => ({ end: true }) })
  for (let i = 0; i < 2; i++) isError(t, await get(h, dueSession(undefined)), 401, 'WEAPP_SESSION_ENDED')
  const thrower = await users(t, { expiresIn: '1h', renewWithin: '10m', onRenew: () => { throw new Error('cause-marker') } })
  const res = await get(thrower, dueSession(undefined))
  isError(t, res, 500, 'WEAPP_HOOK_FAILED')
  t.match(res.json().message, /onRenew threw; the session was not renewed/)
  t.notOk(res.body.includes('cause-marker'))
})

t.test('sessionOf is the session behind authenticate, and a TypeError for a route without it', async (t) => {
  const h = await users(t, {}, (app) => {
    app.get('/open', async (request) => app.weapp.sessionOf(request).openid)
  })
  const res = await h.app.inject({ url: '/open' })
  t.equal(res.statusCode, 500)
  t.match(res.json().message, /sessionOf\(request\): this route does not run fastify\.weapp\.authenticate/)
})

t.test('seal(identity, { claims }) on the building blocks: sealed, bounded, checked', async (t) => {
  const h = await users(t, {})
  const identity = { openid: 'o-hand', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }
  const session = await h.app.weapp.seal(identity, { claims: { userId: 9 } })
  t.same((await get(h, session)).json(), { claims: { userId: 9 } })
  t.same((await h.app.weapp.unseal(session)).claims, { userId: 9 }, 'unseal reads them too')
  await t.rejects(h.app.weapp.seal(identity, { claims: { blob: 'x'.repeat(MAX_CLAIMS_BYTES) } }), { name: 'TypeError', message: /seal\(identity, \{ claims \}\): claims take/ })
  await t.rejects(h.app.weapp.seal(identity, { claims: 'admin' as never }), { name: 'TypeError', message: /plain JSON object/ })
  t.equal(open(await h.app.weapp.seal(identity, { claims: {} }), KEY).payload.cl, undefined, 'empty claims are none')
  t.same(open(await h.app.weapp.seal(identity, { claims: Object.assign(Object.create(null), { userId: 5 }) }), KEY).payload.cl, { userId: 5 }, 'a null-prototype object is plain JSON too')
  // A token whose claims are not an object is not a session.
  isError(t, await get(h, forge(KEY, claimsOf(APP, { sub: 'o-x', cl: ['admin'] }))), 401, 'WEAPP_SESSION_INVALID')
  isError(t, await get(h, forge(KEY, claimsOf(APP, { sub: 'o-x', cl: null }))), 401, 'WEAPP_SESSION_INVALID')
})

t.test('the jwt bridge carries the claims the jwt option names, and no others', async (t) => {
  for (const [jwt, expected] of [[{ claims: ['userId'] }, { userId: 42 }], [{ claims: true }, CLAIMS], [true, undefined], [{ claims: ['absent'] }, undefined]] as const) {
    const h = await harness(t, {
      before: async (app) => { await app.register(fastifyJwt, { secret: 'jwt-secret-for-tests-0123456789' }) },
      plugin: { jwt: jwt as never, onLogin: () => ({ claims: CLAIMS }) }
    })
    const { token } = (await h.post('/weapp/login', { code: h.mock.login('o-alice') })).json()
    const decoded = h.app.jwt.decode(token) as Record<string, unknown>
    t.equal(decoded.sub, 'o-alice')
    t.same(decoded.claims, expected, JSON.stringify(jwt))
  }
})

t.test('a WeCom member\'s identity names the company and the member', async (t) => {
  const { kinds, STAFF, CORP } = await import('./fixtures/kinds.js')
  const seen: unknown[] = []
  const h = await kinds(t, { plugin: { onLogin: ({ identity, app }: WeappLoginContext) => { seen.push({ identity, app }); return { claims: { staff: true } } } } })
  const res = await h.post('/weapp/login', { code: h.mock.wecomApp(STAFF).login('zhangsan'), appId: STAFF })
  t.equal(res.statusCode, 200)
  t.same(seen, [{ identity: { platform: 'wecom', appId: STAFF, corpId: CORP, userId: 'zhangsan' }, app: { appId: STAFF, kind: 'wecom' } }])
})

t.test('hook options are checked at registration', async (t) => {
  const base = { appId: APP, appSecret: 'secret', key: KEY }
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ onLogin: 'yes' }, /onLogin must be a function/],
    [{ onRenew: {} }, /onRenew must be a function/],
    [{ onRenew: () => undefined }, /onRenew needs renewWithin/],
    [{ linkExpiresIn: '2h' }, /linkExpiresIn must be a number of seconds from 1 to 3600/],
    [{ userSchema: { type: 'string' } }, /userSchema must be a JSON schema of type 'object'/],
    [{ jwt: { claims: [] } }, /jwt.claims must be true/],
    [{ jwt: { claims: 'userId' } }, /jwt.claims must be true/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    await app.register(fastifyJwt, { secret: 'jwt-secret-for-tests-0123456789' })
    app.register(weapp, { ...base, ...options } as never)
    await t.rejects(async () => { await app.ready() }, { code: 'WEAPP_INVALID_OPTION', message }, JSON.stringify(Object.keys(options)))
    await app.close()
  }
})
