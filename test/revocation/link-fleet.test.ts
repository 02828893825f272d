// Link tokens across a fleet with a real redis-server: with revocation in Redis a link token
// redeems once, whichever instances race to redeem it; with Redis down, never silently.
import t from 'tap'
import { forge, claims } from '../fixtures/jwe.js'
import { isError, KEY } from '../fixtures/app.js'
import { instance, mockWechat } from '../fixtures/fleet.js'
import { redisServer } from '../fixtures/redis.js'

const linking = { onLogin: () => ({ link: true }) }

t.test('a link token redeems once across instances, even when they race', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const [a, b] = [await instance(t, redis, mock, linking), await instance(t, redis, mock, linking)]
  const res = await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-merchant') } })
  t.equal(res.statusCode, 409)
  const { linkToken } = res.json()
  const results = await Promise.allSettled([a, b, a, b].map(async (app) => await app.weapp.redeemLink(linkToken)))
  const redeemed = results.filter((r) => r.status === 'fulfilled')
  t.equal(redeemed.length, 1, 'one redeem wins')
  t.equal((redeemed[0] as PromiseFulfilledResult<{ openid: string }>).value.openid, 'o-merchant')
  for (const r of results.filter((r) => r.status === 'rejected')) t.match((r as PromiseRejectedResult).reason, { code: 'WEAPP_LINK_EXPIRED', statusCode: 401, message: /already redeemed/ })
  await t.rejects(b.weapp.redeemLink(linkToken), { code: 'WEAPP_LINK_EXPIRED' }, 'and stays used')
  // Another link token of the same user is its own.
  const second = (await b.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-merchant') } })).json().linkToken
  t.equal((await a.weapp.redeemLink(second)).openid, 'o-merchant')
})

t.test('with Redis down a link token is not redeemed: 503, and it still redeems once Redis is back', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock, linking)
  const { linkToken } = (await a.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login('o-merchant') } })).json()
  await redis.kill()
  await t.rejects(a.weapp.redeemLink(linkToken), { code: 'WEAPP_REVOCATION_UNAVAILABLE', statusCode: 503 })
  await redis.start()
  let identity: { openid: string } | undefined
  for (let i = 0; i < 100 && identity === undefined; i++) {
    identity = await a.weapp.redeemLink(linkToken).catch(async (err: { code?: string }) => {
      if (err.code !== 'WEAPP_REVOCATION_UNAVAILABLE') throw err
      await new Promise((resolve) => setTimeout(resolve, 100))
      return undefined
    })
  }
  t.equal(identity?.openid, 'o-merchant', 'redeemed once Redis answers')
})

t.test('onRenew ending a session with Redis down: the request ends, and the warning says it will end again', async (t) => {
  const redis = await redisServer(t)
  const mock = await mockWechat(t)
  const a = await instance(t, redis, mock, { expiresIn: '1h', renewWithin: '10m', onRenew: () => ({ end: true }) })
  const now = Math.floor(Date.now() / 1000)
  const due = forge(KEY, claims(mock.appId, { sub: 'o-due', jti: 'due-session-000000000a', lat: Date.now() - 60_000, iat: now - 60, exp: now + 30 }))
  await redis.kill()
  isError(t, await a.inject({ url: '/me', headers: { authorization: `Bearer ${due}` } }), 401, 'WEAPP_SESSION_ENDED')
  t.ok(a.logs.some((line) => line.includes('onRenew ended a session that could not be revoked')), 'logged')
  await redis.start() // the instance closes cleanly against a live Redis
})
