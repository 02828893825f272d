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

t.test('the gate: slots, turns, leaving the queue, refusals', async (t) => {
  const gate = new FairGate(1)
  const far = (): number => Date.now() + 10_000
  const order: string[] = []
  const enter = (lane: string, name: string, deadline = far()): (() => void) | undefined => gate.enter(() => lane, deadline, () => { order.push(name) })
  t.equal(enter('x', 'x0'), undefined, 'a free slot: started at once, nothing to leave')
  t.same(order, ['x0'])
  enter('x', 'x1')
  enter('x', 'x2')
  enter('y', 'y1')
  enter('y', 'y2')
  const z = enter('z', 'never')
  t.equal(gate.waiting, 5)
  z?.()
  t.equal(gate.waiting, 4, 'a waiter that stops waiting (its timeout) leaves the queue')
  for (let i = 0; i < 4; i++) gate.leave(Date.now())
  t.same(order, ['x0', 'x1', 'y1', 'x2', 'y2'], 'lanes in turn')
  t.equal(gate.waiting, 0)
  gate.leave(Date.now())
  // A call that held its slot 100 ms: a wait behind the next one cannot meet a deadline 20 ms away.
  enter('s', 's0')
  gate.leave(Date.now() - 100)
  enter('s', 's1')
  t.throws(() => enter('s', 's2', Date.now() + 20), QueueTooLongError, 'refused at once')
  t.equal(gate.waiting, 0, 'and never queued')
  t.not(enter('s', 's3', Date.now() + 1000), undefined, 'a wait that fits its deadline is queued')
  gate.leave(Date.now())
  t.same(order.slice(5), ['s0', 's1', 's3'])
})
