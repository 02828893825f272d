// The upstream client: one keep-alive pool per origin, at most upstreamConnections sockets; a burst
// larger than the pool waits (under each call's own timeout) and never opens more, and nothing is
// retried.
import t from 'tap'
import { harness, isError } from './fixtures/app.js'

t.test('a burst of logins larger than the pool: every one answered, never more sockets than the bound', async (t) => {
  const h = await harness(t, { plugin: { upstreamConnections: 4, timeout: 10_000 } })
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  // The first four answers wait until the burst is queued: the pool is full while the rest arrive.
  h.mock.fail(...Array.from({ length: 4 }, () => ({ path: '/sns/jscode2session', until: held })))
  const logins = Array.from({ length: 60 }, async (_, i) => await h.post('/weapp/login', { code: h.mock.login(`o-${i}`) }))
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.ok(h.mock.connections.open <= 4, `at most 4 sockets while the burst waits (${h.mock.connections.open})`)
  release()
  const answers = await Promise.all(logins)
  t.ok(answers.every((res) => res.statusCode === 200), 'every login answered 200')
  t.equal(h.mock.callsTo('/sns/jscode2session').length, 60, 'one upstream call per code: nothing retried')
  t.ok(h.mock.connections.peak <= 4, `never more than 4 sockets at once (peak ${h.mock.connections.peak})`)
  t.ok(h.mock.connections.peak >= 1)
})

t.test('a call waiting for a pooled connection keeps its timeout, counted from when it asked', async (t) => {
  const h = await harness(t, { plugin: { upstreamConnections: 1, timeout: 1000 } })
  // The only connection is busy for 600 ms; the second call, queued meanwhile, then waits 600 ms
  // more for its answer: 1200 ms after it asked (504), though only 600 ms after it was sent.
  h.mock.fail({ path: '/sns/jscode2session', until: new Promise((resolve) => setTimeout(resolve, 600)) }, { path: '/sns/jscode2session', delay: 600 })
  const first = h.post('/weapp/login', { code: h.mock.login('o-1') })
  await new Promise((resolve) => setTimeout(resolve, 10))
  const second = await h.post('/weapp/login', { code: h.mock.login('o-2') })
  isError(t, second, 504, 'WEAPP_UPSTREAM_TIMEOUT')
  t.equal((await first).statusCode, 200, 'the first is answered')
  t.equal(h.mock.callsTo('/sns/jscode2session').length, 2, 'each code sent once: nothing retried')
  t.ok(h.mock.connections.peak <= 1, `one socket at most (peak ${h.mock.connections.peak})`)
})

t.test('after a stretch of hanging calls, a burst of 200 logins against a healthy upstream is queued, never refused at once', async (t) => {
  const h = await harness(t, { plugin: { timeout: 800 } })
  let release = (): void => {}
  const hang = new Promise<void>((resolve) => { release = resolve })
  t.teardown(release)
  h.mock.fail(...Array.from({ length: 4 }, () => ({ path: '/sns/jscode2session', until: hang })))
  const hung = await Promise.all(Array.from({ length: 4 }, async (_, i) => await h.post('/weapp/login', { code: h.mock.login(`o-hung-${i}`) })))
  for (const res of hung) isError(t, res, 504, 'WEAPP_UPSTREAM_TIMEOUT')
  release()
  // The upstream is healthy again. Whatever the machine's load, the estimate counts only answers
  // (a call that hung says nothing of how fast the upstream answers), at the fastest one.
  const burst = await Promise.all(Array.from({ length: 200 }, async (_, i) => await h.post('/weapp/login', { code: h.mock.login(`o-${i}`) })))
  const refused = burst.filter((res) => res.statusCode !== 200 && /are waiting/.test(String(res.json().message)))
  t.equal(refused.length, 0, 'no login refused by the estimate ("Too many calls ... are waiting")')
  const late = burst.filter((res) => res.statusCode !== 200)
  for (const res of late) isError(t, res, 504, 'WEAPP_UPSTREAM_TIMEOUT')
  t.comment(`${200 - late.length} of 200 answered 200 (the others, if any, timed out waiting or in flight: the machine's load)`)
})

t.test('upstreamConnections is checked', async (t) => {
  const { buildSettings } = await import('../lib/options.js')
  const base = { appId: 'wx1', appSecret: 's', key: (await import('./fixtures/app.js')).KEY }
  t.equal(buildSettings(base).upstreamConnections, 32, 'default 32')
  for (const bad of [0, 1025, 1.5, '8']) t.throws(() => buildSettings({ ...base, upstreamConnections: bad }), { code: 'WEAPP_INVALID_OPTION', message: /upstreamConnections/ })
})
