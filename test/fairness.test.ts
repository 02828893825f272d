// The upstream pool is shared fairly: each app's calls (and each kind of call) queue in a lane of
// their own, served in turn, so one app's flood of junk logins cannot take every socket from the
// others; a call whose wait would pass its timeout fails at once. Judged by the order calls reach
// the mock, never by how long they took.
import t from 'tap'
import { FairGate, QueueTooLongError } from '../lib/upstream/http.js'
import { harness, isError } from './fixtures/app.js'

const A = 'wxaaaaaaaaaaaaaaaa'
const B = 'wxbbbbbbbbbbbbbbbb'

t.test('a flood of one app\'s logins: the other app\'s login is served in the next turn, not after the flood', async (t) => {
  const h = await harness(t, {
    mock: { apps: [{ appId: A, appSecret: 'secret-of-a-0123456789' }, { appId: B, appSecret: 'secret-of-b-0123456789' }] },
    plugin: { upstreamConnections: 4, timeout: 20_000, apps: [{ appId: A, appSecret: 'secret-of-a-0123456789' }, { appId: B, appSecret: 'secret-of-b-0123456789' }] }
  })
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  h.mock.fail(...Array.from({ length: 4 }, () => ({ path: '/sns/jscode2session', until: held })))
  const flood = Array.from({ length: 40 }, async (_, i) => await h.post('/weapp/login', { code: `junk-${i}`, appId: A }))
  // Every socket is held by A, 36 more of A's wait; then B asks.
  await new Promise((resolve) => setTimeout(resolve, 100))
  const b = h.post('/weapp/login', { code: h.mock.app(B).login('o-bob'), appId: B })
  await new Promise((resolve) => setTimeout(resolve, 100))
  release()
  t.equal((await b).statusCode, 200, 'B logs in')
  for (const res of await Promise.all(flood)) isError(t, res, 401, 'WEAPP_INVALID_CODE')
  const order = h.mock.callsTo('/sns/jscode2session').map((c) => c.query.appid)
  const at = order.indexOf(B)
  t.ok(at >= 4 && at <= 6, `B's call reached WeChat ${at + 1}th of ${order.length}: the 4 held, then at most one of A's per turn`)
})

t.test('a call whose wait would pass its timeout fails at once with 504, and reaches no upstream', async (t) => {
  const h = await harness(t, { plugin: { upstreamConnections: 1, timeout: 1000 } })
  h.mock.fail({ path: '/sns/jscode2session', delay: 300 })
  t.equal((await h.post('/weapp/login', { code: h.mock.login('o-0') })).statusCode, 200, 'a call that held the socket 300 ms')
  let release = (): void => {}
  h.mock.fail({ path: '/sns/jscode2session', until: new Promise<void>((resolve) => { release = resolve }) })
  const holding = h.post('/weapp/login', { code: h.mock.login('o-1') })
  await new Promise((resolve) => setTimeout(resolve, 50))
  const first = h.post('/weapp/login', { code: h.mock.login('o-2') })
  const queued = []
  for (let i = 0; i < 8; i++) queued.push(h.post('/weapp/login', { code: h.mock.login(`o-q${i}`) }))
  // The last ones would wait 8 x 300 ms behind the held call: refused before the socket is free.
  const last = await queued[7] as Awaited<typeof first>
  isError(t, last, 504, 'WEAPP_UPSTREAM_TIMEOUT')
  t.match(last.json().message, /Too many calls to WeChat are waiting/)
  release()
  t.equal((await holding).statusCode, 200)
  t.equal((await first).statusCode, 200, 'a call whose wait fits its timeout was kept')
  const calls = h.mock.callsTo('/sns/jscode2session').length
  t.ok(calls < 11, `refused calls never reached WeChat (${calls} calls for 11 logins)`)
})

t.test('the gate: slots, turns, aborts', async (t) => {
  // AbortSignal.timeout's timers do not keep the process alive: this does, while the test waits.
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => { clearInterval(alive) })
  const gate = new FairGate(1)
  const limit = (ms = 10_000): { signal: AbortSignal, deadline: number } => ({ signal: AbortSignal.timeout(ms), deadline: Date.now() + ms })
  const order: string[] = []
  let open = (): void => {}
  const first = gate.run('x', limit(), async () => { await new Promise<void>((resolve) => { open = resolve }); order.push('x0') })
  const rest = [
    gate.run('x', limit(), async () => { order.push('x1') }),
    gate.run('x', limit(), async () => { order.push('x2') }),
    gate.run('y', limit(), async () => { order.push('y1') }),
    gate.run('y', limit(), async () => { order.push('y2') })
  ]
  const aborted = gate.run('z', limit(50), async () => { order.push('never') })
  await t.rejects(aborted, { name: 'TimeoutError' }, 'a waiter whose signal aborts leaves the queue')
  t.equal(gate.waiting, 4)
  open()
  await Promise.all([first, ...rest])
  t.same(order, ['x0', 'x1', 'y1', 'x2', 'y2'], 'lanes in turn')
  t.equal(gate.waiting, 0)
  // Past a deadline that the average hold says it cannot meet: refused at once.
  const slow = gate.run('s', limit(), async () => await new Promise((resolve) => setTimeout(resolve, 100)))
  await slow
  const hold = gate.run('s', limit(), async () => await new Promise((resolve) => setTimeout(resolve, 100)))
  await t.rejects(gate.run('s', limit(20), async () => {}), QueueTooLongError)
  await hold
})
