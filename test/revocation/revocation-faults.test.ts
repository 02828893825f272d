// Redis faults that must not lose a kick, evict by a refused login, or burn a link token: a login
// or redeem Redis runs after it was answered 503 does nothing, a login waits for a replica as a
// revocation does, entries outlive their tokens by the tolerated clock skew, a catch-up reads by
// cursor, and a load that would outlast Fastify's pluginTimeout says so. Real redis-servers.
import Fastify from 'fastify'
import t from 'tap'
import weapp from '../../lib/index.js'
import { CLOCK_SKEW } from '../../lib/clock.js'
import { redisRevocations, userKey, type RedisLike } from '../../lib/revocation/index.js'
import { Known } from '../../lib/revocation/store.js'
import { isError, KEY } from '../fixtures/app.js'
import { instance, login, mockWechat, status } from '../fixtures/fleet.js'
import { eventually, redisServer } from '../fixtures/redis.js'
import { redisSentinel } from '../fixtures/redis-topologies.js'

const MAX_AGE = 30 * 86400_000
const quiet = { warn () {}, info () {} }
const capped = { maxSessions: 1 }
const jtiOf = (i: number): string => `j${String(i).padStart(21, '0')}`
const indexKey = (openid: string): string => `{test:revoked}:sessions:${JSON.stringify(['*', openid])}`

async function me (app: Awaited<ReturnType<typeof instance>>, token: string): Promise<{ statusCode: number, code?: string }> {
  const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  return { statusCode: res.statusCode, code: res.statusCode === 200 ? undefined : res.json().code }
}

t.test('Sentinel: a login answers only once a replica holds its index entry and its kicks, or is a 503 that issues nothing', async (t) => {
  const redis = await redisSentinel(t)
  const mock = await mockWechat(t)
  const a = await instance(t, { client: () => redis.client() as unknown as RedisLike }, mock, { ...capped, timeout: 1000 })
  const first = await login(a, mock, 'o-alice')
  redis.freeze(redis.replica, true)
  const res = await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-alice') } })
  redis.freeze(redis.replica, false)
  isError(t, res, 503, 'WEAPP_REVOCATION_UNAVAILABLE')
  t.notOk(res.json().session, 'no session answered')
  t.match(res.json().message, /No Redis replica confirmed the login within 1000 ms: no session was issued \(the sessions it evicted stay ended\)/)
  t.same(await me(a, first), { statusCode: 401, code: 'WEAPP_SESSION_KICKED' }, 'what it evicted is ended, as the message says')
  const master = redis.node(redis.master)
  t.same(await master.hkeys(indexKey('o-alice')), [], 'the unconfirmed login left no index entry that no token has')
  // Confirmed by the replica: answered, and the replica holds the entry and the kick.
  const second = await login(a, mock, 'o-alice')
  const session = await a.weapp.unseal(second)
  const replica = redis.node(redis.replica)
  await master.call('WAIT', 1, 1000)
  t.same(await replica.hkeys(indexKey('o-alice')), [session.jti], 'the replica holds the index entry of an answered login')
})

t.test('a login answered 503 while Redis was paused does nothing when Redis resumes', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock, { ...capped, timeout: 300 })
  const alice = await login(a, mock, 'o-alice')
  const admin = redis.client()
  t.same(await admin.hkeys(indexKey('o-alice')), [(await a.weapp.unseal(alice)).jti])
  await admin.call('CLIENT', 'PAUSE', '2500', 'WRITE')
  const res = await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-alice') } })
  isError(t, res, 503, 'WEAPP_REVOCATION_UNAVAILABLE')
  t.notOk(res.json().session)
  t.match(res.json().message, /no session was issued \(Redis drops it if it runs later\)/)
  // Redis resumes and runs the queued script: past its deadline, it does nothing.
  await eventually(async () => (await admin.set('test:resumed', '1').then(() => true, () => false)))
  const fresh = await instance(t, redis, mock, capped)
  t.same(await me(a, alice), { statusCode: 200, code: undefined }, 'the live session is not kicked here')
  t.same(await me(fresh, alice), { statusCode: 200, code: undefined }, 'nor on an instance started after')
  t.same(await admin.hkeys(indexKey('o-alice')), [(await a.weapp.unseal(alice)).jti], 'and no index entry was added')
  t.equal(await admin.zcard('test:revoked'), 0, 'nothing was stored')
})

t.test('a link redeem answered 503 while Redis was paused redeems on a retry, once', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock, { onLogin: () => ({ link: true }), timeout: 300 })
  const { linkToken } = (await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-merchant') } })).json()
  const admin = redis.client()
  await admin.call('CLIENT', 'PAUSE', '2500', 'WRITE')
  await t.rejects(a.weapp.redeemLink(linkToken), { code: 'WEAPP_REVOCATION_UNAVAILABLE', statusCode: 503, message: /Redis did not confirm the redeem within 300 ms: the link token was not redeemed; retry/ })
  await eventually(async () => (await admin.set('test:resumed', '1').then(() => true, () => false)))
  t.equal(await admin.zcard('test:revoked'), 0, 'the queued redeem ran past its deadline: nothing stored')
  t.equal((await a.weapp.redeemLink(linkToken)).openid, 'o-merchant', 'the retry redeems')
  await t.rejects(a.weapp.redeemLink(linkToken), { code: 'WEAPP_LINK_EXPIRED', message: /already redeemed/ }, 'and only once')
})

t.test('a redeem Redis refuses is a 503 that says so, and the token still redeems', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock, { onLogin: () => ({ link: true }) })
  const { linkToken } = (await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-merchant') } })).json()
  const admin = redis.client()
  await admin.set('test:revoked', 'something of the app\'s own')
  await t.rejects(a.weapp.redeemLink(linkToken), { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: /^Redis refused the redeem: the link token was not redeemed; retry$/ })
  await admin.del('test:revoked')
  t.equal((await a.weapp.redeemLink(linkToken)).openid, 'o-merchant')
})

t.test('Sentinel: a redeem no replica confirmed is undone, so the token redeems on a retry', async (t) => {
  const redis = await redisSentinel(t)
  const client = redis.client() as unknown as RedisLike
  const store = await redisRevocations({ redis: client, prefix: 'link:', timeout: 500, maxAge: MAX_AGE, log: quiet })
  t.teardown(() => store.close())
  const expiresAt = Date.now() + 600_000
  redis.freeze(redis.replica, true)
  await t.rejects(store.consume(jtiOf(1), expiresAt), { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: /No Redis replica confirmed the redeem within 500 ms: the link token was not redeemed; retry/ })
  redis.freeze(redis.replica, false)
  t.equal(await redis.node(redis.master).zcard('link:revoked'), 0, 'undone')
  t.equal(await store.consume(jtiOf(1), expiresAt), true, 'the retry redeems')
  t.equal(await store.consume(jtiOf(1), expiresAt), false, 'once')
})

t.test('a login or redeem Redis runs past its deadline does nothing, and is a 503 that says so, even when its answer arrives', async (t) => {
  const redis = await redisServer(t)
  const clock = { now: Date.now() }
  const store = await redisRevocations({ redis: redis.client() as unknown as RedisLike, prefix: 'late:', timeout: 2000, maxAge: MAX_AGE, log: quiet, limits: { maxSessions: 1, oneSessionPer: undefined }, now: () => clock.now })
  t.teardown(() => store.close())
  clock.now -= 10_000 // this clock falls back after Redis's was read: every deadline it gives has passed for Redis
  await t.rejects(store.consume(jtiOf(1), clock.now + 600_000), { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: /Redis ran the redeem after its deadline, and did nothing: the link token was not redeemed; retry/ })
  await t.rejects(store.track({ appId: 'wxa', openid: 'o-late', jti: jtiOf(2), loginAt: clock.now, platform: 'wechat', device: undefined, expiresAt: clock.now + 7200_000 }),
    { code: 'WEAPP_REVOCATION_UNAVAILABLE', message: /Redis ran the login after its deadline, and did nothing: no session was issued/ })
  const admin = redis.client()
  t.equal(await admin.zcard('late:revoked'), 0, 'nothing stored')
  t.equal(await admin.exists(`{late:revoked}:sessions:${JSON.stringify(['*', 'o-late'])}`), 0, 'nothing indexed')
})

t.test('Redis\'s clock unreadable (TIME refused): logged, and calls carry no deadline', async (t) => {
  const warnings: string[] = []
  const subscriber = { subscribe: async () => 1, on () {}, disconnect () {} }
  const calls: unknown[][] = []
  const fake = {
    status: 'ready',
    zscan: async () => ['0', []],
    zrangebyscore: async () => [],
    eval: async (...args: unknown[]) => { calls.push(args); return 1 },
    call: async () => { throw new Error("ERR unknown command 'TIME'") },
    duplicate: () => subscriber,
    on () {},
    quit: async () => 'OK',
    disconnect () {}
  }
  const store = await redisRevocations({ redis: fake as unknown as RedisLike, prefix: 'p:', timeout: 1000, maxAge: MAX_AGE, log: { warn: (_o: unknown, msg?: string) => { warnings.push(msg ?? '') }, info () {} } })
  t.teardown(() => store.close())
  t.match(warnings, [/could not read Redis's clock \(TIME\): logins and link redeems Redis runs after their 503 may still apply/])
  t.equal(await store.consume(jtiOf(1), Date.now() + 60_000), true)
  t.equal(calls[0]?.[13], '', 'no deadline')
})

t.test(`a redeemed link token stays redeemed on an instance whose clock is behind (up to CLOCK_SKEW, ${CLOCK_SKEW} ms)`, async (t) => {
  const redis = await redisServer(t)
  const right = { now: Date.now() }
  const behind = { now: right.now - 20_000 }
  const limits = { maxSessions: 1, oneSessionPer: undefined }
  const open = async (clock: { now: number }): Promise<Awaited<ReturnType<typeof redisRevocations>>> => {
    const store = await redisRevocations({ redis: redis.client() as unknown as RedisLike, prefix: 'skew:', timeout: 2000, maxAge: MAX_AGE, log: quiet, limits, now: () => clock.now })
    t.teardown(() => store.close())
    return store
  }
  const [a, b] = [await open(right), await open(behind)]
  const expiresAt = right.now + 10_000 // the link token's expiry
  t.equal(await b.consume(jtiOf(1), expiresAt), true)
  right.now += 15_000 // past the token's expiry on a's clock; on b's (20 s behind) it still has 15 s
  behind.now += 15_000
  await a.revokeSession({ appId: 'wxa', openid: 'o-x', jti: jtiOf(2), loginAt: right.now }) // a revocation trims
  await a.track({ appId: 'wxa', openid: 'o-y', jti: jtiOf(3), loginAt: right.now, platform: 'wechat', device: undefined, expiresAt: right.now + 7200_000 }) // and so does a login
  t.equal(await b.consume(jtiOf(1), expiresAt), false, 'still redeemed for b, whose clock says the token lives')
  const ttl = await redis.client().pttl(`{skew:revoked}:sessions:${JSON.stringify(['*', 'o-y'])}`)
  t.ok(ttl > MAX_AGE, 'a user\'s index outlives maxAge by the skew too')
  // What b knows, and what a sweep keeps: until CLOCK_SKEW past the entry's expiry.
  const known = new Known(MAX_AGE, () => {})
  known.apply(JSON.stringify(['s', jtiOf(4)]), 1000, 1000 + CLOCK_SKEW - 1)
  t.ok(known.sessions.has(jtiOf(4)), 'applied within the skew past its expiry')
  known.sweep(1000 + CLOCK_SKEW - 1)
  t.ok(known.sessions.has(jtiOf(4)), 'and kept by a sweep until then')
  known.sweep(1000 + CLOCK_SKEW)
  t.notOk(known.sessions.has(jtiOf(4)), 'gone after')
})

t.test('a catch-up reads by cursor: equal scores across a page boundary are neither lost nor read twice', async (t) => {
  const redis = await redisServer(t)
  const admin = redis.client()
  const client = redis.client()
  const asked: Array<{ offset: number, out: string[] }> = []
  const spy = new Proxy(client, {
    get (target, prop) {
      if (prop === 'zrangebyscore') {
        return async (...args: unknown[]) => {
          const out = await (target.zrangebyscore as (...a: unknown[]) => Promise<string[]>)(...args)
          asked.push({ offset: Number(args[5]), out })
          return out
        }
      }
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const store = await redisRevocations({ redis: spy as unknown as RedisLike, prefix: 'cur:', timeout: 2000, maxAge: MAX_AGE, log: quiet, page: 4 })
  t.teardown(() => store.close())
  // Runs of equal scores of 1 to 9 members (page 4): every boundary case, written while the subscription is away.
  const base = Date.now() + MAX_AGE
  const runs = [1, 3, 4, 5, 2, 9, 1, 8, 4]
  const members: string[] = []
  let n = 0
  const args: Array<string | number> = []
  runs.forEach((length, run) => {
    for (let i = 0; i < length; i++) {
      const member = JSON.stringify(['s', jtiOf(n++)])
      members.push(member)
      args.push(base + run, member)
    }
  })
  await admin.zadd('cur:revoked', ...args)
  asked.length = 0
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  const applied = (): boolean => members.every((_m, i) => store.isRevoked({ appId: 'wxa', openid: 'o', jti: jtiOf(i), loginAt: 0 }))
  await eventually(applied)
  t.pass(`all ${members.length} entries applied`)
  // The first catch-up that read them: its pages up to the first short one.
  const first = asked.findIndex((a) => a.out.length > 0)
  const end = asked.findIndex((a, i) => i >= first && a.out.length < 2 * 4)
  const pages = asked.slice(first, end + 1)
  const read = pages.flatMap((a) => a.out.filter((_x, i) => i % 2 === 0))
  t.same([...read].sort(), [...members].sort(), `each of ${members.length} entries read once, over ${pages.length} pages`)
  // Each page starts at a score, past only the members of that score already read: never an offset into the set.
  const longest = Math.max(...runs)
  t.ok(pages.every((a) => a.offset <= longest), `offsets ${pages.map((a) => a.offset).join(',')} stay within one run of equal scores`)
})

t.test('a load that would outlast Fastify\'s pluginTimeout fails first, naming pluginTimeout and the entries read', async (t) => {
  const subscriber = { subscribe: async () => 1, on () {}, disconnect () {} }
  let page = 0
  // A set that takes ever longer: pages of 1000 entries, 100 ms each, never ending.
  const slow = {
    status: 'ready',
    zscan: async () => {
      await new Promise((resolve) => setTimeout(resolve, 100))
      const members: string[] = []
      for (let i = 0; i < 1000; i++) members.push(JSON.stringify(['s', jtiOf(page * 1000 + i)]), String(Date.now() + 60_000))
      page++
      return ['7', members]
    },
    zrangebyscore: async () => [],
    eval: async () => 1,
    duplicate: () => subscriber,
    on () {},
    quit: async () => 'OK',
    disconnect () {}
  }
  const app = Fastify({ pluginTimeout: 2000 })
  t.teardown(() => app.close())
  app.register(weapp, { appId: 'wx0123456789abcdef', appSecret: 'secret-0123456789abcdef', key: KEY, timeout: 5000, revocation: { redis: slow as unknown as RedisLike } })
  const err = await app.ready().then(() => undefined, (err: Error) => err)
  t.match(err, { message: /loading the revocations would outlast Fastify's pluginTimeout of 2000 ms \(\d+ entries read in \d+ ms, more to read\): raise pluginTimeout/ })
  t.notMatch(String(err?.message), /Plugin did not start in time/, 'not Fastify\'s generic message')
  t.notMatch(String(err?.message), /secret-0123456789abcdef/)
})

t.test('an evicted session is stored, not only published: an instance started after the login refuses it', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock, capped)
  const first = await login(a, mock, 'o-alice')
  const second = await login(a, mock, 'o-alice')
  const later = await instance(t, redis, mock, capped)
  t.same(await me(later, first), { statusCode: 401, code: 'WEAPP_SESSION_KICKED' })
  t.equal(await status(later, second), 200)
})

t.test('an older user revocation applied after a newer one does not lower "logins until"', async (t) => {
  const known = new Known(MAX_AGE, () => {})
  const user = userKey('wxa', { openid: 'o-alice' })
  const now = 10_000_000
  known.apply(JSON.stringify(['u', user, now]), now + MAX_AGE, now)
  known.apply(JSON.stringify(['u', user, now - 5000]), now - 5000 + MAX_AGE, now) // older, arriving later (a catch-up, a reload)
  t.ok(known.isRevoked({ appId: 'wxa', openid: 'o-alice', jti: jtiOf(1), loginAt: now - 1000 }), 'a login between the two stays ended')
  t.equal(known.users.get(user)?.expiresAt, now + MAX_AGE, 'kept as long as the newer asks')
})
