// Revocation on the Redis setups a team grows into, with real servers on loopback: a 3-master
// Redis Cluster (ioredis Cluster) and a master + replica + Sentinel. Nothing revoked is missed
// after a subscriber moves, and nothing reported done is lost in a failover.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Cluster, Redis } from 'ioredis'
import t from 'tap'
import { RECONCILE_INTERVAL, type RedisLike } from '../../lib/revocation/store.js'
import { KEY } from '../fixtures/app.js'
import { instance, login, mockWechat, status } from '../fixtures/fleet.js'
import { claims, forge } from '../fixtures/jwe.js'
import { eventually } from '../fixtures/redis.js'
import { redisCluster, redisSentinel } from '../fixtures/redis-topologies.js'

const run = promisify(execFile)
// Both kinds of ioredis client are what the option takes.
const asOption = (client: Cluster | Redis): RedisLike => client

t.test('Redis Cluster: logout, revoke and revokeUser reach every instance; none is missed when subscribers move', async (t) => {
  const cluster = await redisCluster(t)
  const mock = await mockWechat(t)
  const fleet = async (): ReturnType<typeof instance> => await instance(t, { client: () => asOption(cluster.client()) }, mock)
  const [a, b] = [await fleet(), await fleet()]
  const alice = await login(a, mock, 'o-alice')
  t.equal((await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${alice}` } })).statusCode, 204, 'no CROSSSLOT, no MOVED')
  await eventually(async () => (await status(b, alice)) === 401)
  const bob = await login(b, mock, 'o-bob')
  await b.weapp.revokeUser({ openid: 'o-bob' })
  await eventually(async () => (await status(a, bob)) === 401)
  const c = await fleet()
  t.equal(await status(c, alice), 401, 'an instance started later loads them')
  t.equal(await status(c, bob), 401)

  // b's subscriptions are killed on every node, again and again, while a revokes 300 users.
  const before = Date.now() - 1000
  const state = { killing: true }
  const killer = (async () => {
    while (state.killing) {
      for (const port of cluster.ports) await cluster.node(port).call('CLIENT', 'KILL', 'TYPE', 'pubsub').catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 30))
    }
  })()
  for (let i = 0; i < 300; i++) await a.weapp.revokeUser({ openid: `o-${i}` })
  state.killing = false
  await killer
  const missed = async (): Promise<number> => {
    let n = 0
    for (let i = 0; i < 300; i += 1) {
      const token = forge(KEY, claims(mock.appId, { sub: `o-${i}`, jti: `cluster-jti-${String(i).padStart(10, '0')}`, lat: before }))
      if (await status(b, token) !== 401) n++
    }
    return n
  }
  await eventually(async () => (await missed()) === 0, 4 * RECONCILE_INTERVAL)
  t.pass('every one of 300 revocations reached b, its subscriber killed throughout')
})

t.test('Sentinel: a revocation reported done survives a failover; one no replica confirmed is a 503 that says so', async (t) => {
  const redis = await redisSentinel(t)
  const mock = await mockWechat(t)
  const a = await instance(t, { client: () => asOption(redis.client()) }, mock, { timeout: 1000 })
  // A replica that stops acknowledging: the revocation applies, and the 503 says what is not promised.
  redis.freeze(redis.replica, true)
  const carol = await login(a, mock, 'o-carol')
  const out = await a.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${carol}` } })
  redis.freeze(redis.replica, false)
  t.equal(out.statusCode, 503)
  t.match(out.json().message, /No Redis replica confirmed the revocation .* it applies now, but a failover/)
  t.equal(await status(a, carol), 401, 'it applies')

  const done: string[] = []
  let refused = 0
  const promoted = async (): Promise<boolean> => {
    const { stdout } = await run('redis-cli', ['-p', String(redis.sentinel), 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'weapp'])
    return stdout.includes(String(redis.replica))
  }
  // Revocations one after another, before, during and after the failover (until 300 after the switch).
  let after = -1
  for (let i = 0; after < 300 && i < 100_000; i++) {
    if (i === 50) await run('redis-cli', ['-p', String(redis.sentinel), 'SENTINEL', 'FAILOVER', 'weapp'])
    if (after < 0 && i % 25 === 0 && i > 50 && await promoted()) after = 0
    if (after >= 0) after++
    try {
      await a.weapp.revokeUser({ openid: `o-${i}` })
      done.push(`o-${i}`)
    } catch (err) {
      if ((err as { code?: string }).code !== 'WEAPP_REVOCATION_UNAVAILABLE') throw err
      refused++
    }
  }
  t.ok(after >= 300, 'the failover happened while revocations were made')
  const members = (await redis.node(redis.replica).zrange('test:revoked', '0', '-1')).map((m) => JSON.parse(m) as [string, string])
  const kept = new Set(members.filter(([kind]) => kind === 'u').map(([, user]) => (JSON.parse(user) as string[])[1]))
  const lost = done.filter((openid) => !kept.has(openid))
  t.same(lost, [], `${done.length} reported done, ${refused} refused with 503 during the failover, none of the done lost`)
})
