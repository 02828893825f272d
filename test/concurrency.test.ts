import t from 'tap'
import { harness } from './fixtures/app.js'
import { open } from './fixtures/jwe.js'
import { KEY } from './fixtures/app.js'

t.test('200 logins at once all succeed with distinct sessions and distinct IVs', async (t) => {
  const h = await harness(t)
  const users = Array.from({ length: 200 }, (_, i) => `o-user-${i}`)
  const codes = users.map((openid) => h.mock.login(openid))
  const results = await Promise.all(codes.map(async (code) => await h.post('/weapp/login', { code })))
  t.same(results.map((r) => r.statusCode), results.map(() => 200), 'all 200')
  const bodies = results.map((r) => r.json())
  t.same(bodies.map((b) => b.openid), users, 'each got its own identity')
  t.equal(new Set(bodies.map((b) => b.session)).size, 200, 'distinct sessions')
  t.equal(new Set(bodies.map((b) => b.session.split('.')[2])).size, 200, 'distinct IVs')
  t.ok(bodies.every((b) => open(b.session, KEY).payload.sub === b.openid), 'each session holds its own user')
  t.equal(h.mock.callsTo('/sns/jscode2session').length, 200, 'one upstream call each')
  // and they all authenticate, concurrently
  const me = await Promise.all(bodies.map(async (b) => await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${b.session}` } })))
  t.same(me.map((r) => r.json().openid), users)
  t.same(h.leaks(), [])
})

t.test('200 identical codes in flight share one upstream call', async (t) => {
  // WeChat's answer is held until all 200 requests have reached the login handler, so the test
  // says the same thing however fast or loaded the machine is.
  let arrived = 0
  let allArrived!: () => void
  const gate = new Promise<void>((resolve) => { allArrived = resolve })
  const h = await harness(t, {
    before: (app) => {
      app.addHook('preHandler', async () => {
        if (++arrived === 200) setImmediate(allArrived) // after the 200th handler's synchronous start
      })
    }
  })
  const code = h.mock.login('o-same')
  h.mock.fail({ until: gate })
  const results = await Promise.all(Array.from({ length: 200 }, async () => await h.post('/weapp/login', { code })))
  t.equal(arrived, 200)
  t.ok(results.every((r) => r.statusCode === 200))
  t.equal(h.mock.callsTo('/sns/jscode2session').length, 1)
  t.equal(new Set(results.map((r) => r.json().session)).size, 200, 'each caller still gets its own sealed session')
})
