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

t.test('one app\'s upstream hangs: the other app\'s login takes the first socket that frees, never a 504 because the first holds them', async (t) => {
  const apps = [{ appId: A, appSecret: 'secret-of-a-0123456789' }, { appId: B, appSecret: 'secret-of-b-0123456789' }]
  const h = await harness(t, { mock: { apps }, plugin: { upstreamConnections: 4, timeout: 3000, apps } })
  let releaseB = (): void => {}
  let releaseA = (): void => {}
  const hang = new Promise<void>((resolve) => { releaseA = resolve })
  t.teardown(releaseA)
  // B's first login is in flight; then A's upstream hangs: its first calls never answer (until the test ends).
  h.mock.fail({ path: '/sns/jscode2session', until: new Promise<void>((resolve) => { releaseB = resolve }) })
  h.mock.fail(...Array.from({ length: 3 }, () => ({ path: '/sns/jscode2session', until: hang })))
  const calls = (): number => h.mock.callsTo('/sns/jscode2session').length
  const b1 = h.post('/weapp/login', { code: h.mock.app(B).login('o-bob-1'), appId: B })
  while (calls() < 1) await new Promise((resolve) => setTimeout(resolve, 10))
  const flood = Array.from({ length: 20 }, async (_, i) => await h.post('/weapp/login', { code: `junk-${i}`, appId: A }))
  // A takes the three sockets B does not hold (an app may use every free socket while nobody else is owed one).
  while (calls() < 4) await new Promise((resolve) => setTimeout(resolve, 10))
  const b2 = h.post('/weapp/login', { code: h.mock.app(B).login('o-bob-2'), appId: B })
  await new Promise((resolve) => setTimeout(resolve, 100))
  releaseB()
  t.equal((await b1).statusCode, 200, 'B\'s first login')
  const second = await b2
  t.equal(second.statusCode, 200, 'B\'s second login: 200, not a 504 behind A\'s hanging calls')
  const order = h.mock.callsTo('/sns/jscode2session').map((c) => c.query.appid)
  t.same(order.slice(0, 5), [B, A, A, A, B], 'the socket B gave back went to B\'s waiting login, not to A (over its share of 2)')
  releaseA()
  for (const res of await Promise.all(flood)) t.ok(res.statusCode === 401 || res.statusCode === 504, `A's junk: 401 or 504 (${res.statusCode})`)
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
  // A claim lasts a minute here: nothing in this test lapses while it runs.
  const gate = new FairGate(1, 60_000)
  const far = (): number => Date.now() + 10_000
  const order: string[] = []
  const enter = (lane: string, name: string, deadline = far()): (() => void) | undefined => gate.enter(gate.lane(lane), deadline, () => { order.push(name) })
  const leave = (lane: string, held = 0, answered = true): void => { gate.leave(gate.lane(lane), Date.now() - held, answered) }
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
  for (const lane of ['x', 'x', 'y', 'x']) leave(lane)
  t.same(order, ['x0', 'x1', 'y1', 'x2', 'y2'], 'lanes in turn')
  t.equal(gate.waiting, 0)
  leave('y')
  // A call answered after 100 ms: a wait behind the next one cannot meet a deadline 20 ms away.
  enter('s', 's0')
  leave('s', 100)
  enter('s', 's1')
  t.throws(() => enter('s', 's2', Date.now() + 20), QueueTooLongError, 'refused at once')
  t.equal(gate.waiting, 0, 'and never queued')
  t.not(enter('s', 's3', Date.now() + 1000), undefined, 'a wait that fits its deadline is queued')
  leave('s')
  t.same(order.slice(5), ['s0', 's1', 's3'])
  leave('s')
})

t.test('the gate shares its slots: a lane over its share waits while another is owed one; a claim lapses on its own', async (t) => {
  let now = 1_000_000
  // The gate's clock is the test's: nothing lapses until the test moves it.
  const gate = new FairGate(4, 50, () => now)
  const started: string[] = []
  const enter = (lane: string, name: string): void => { gate.enter(gate.lane(lane), now + 60_000, () => { started.push(name) }) }
  const leave = (lane: string): void => { gate.leave(gate.lane(lane), now, false) }
  const held = (lane: string): number => gate.lane(lane).busy
  enter('b', 'b0')
  enter('b', 'b1')
  leave('b')
  leave('b')
  for (let i = 0; i < 6; i++) enter('a', `a${i}`)
  t.equal(held('a'), 2, 'a takes its share; the two slots b held stay b\'s while its claim lasts')
  enter('b', 'b2')
  t.equal(held('b'), 1, 'b\'s next call starts at once')
  leave('b')
  t.equal(held('a'), 2, 'b gave it back: still b\'s')
  now += 120
  // Nothing ends and nothing asks: the gate looks again when b's claim may have lapsed.
  while (held('a') < 4) await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(started, ['b0', 'b1', 'a0', 'a1', 'b2', 'a2', 'a3'], 'b\'s claim lapsed: a alone again, every slot')
  for (let i = 0; i < 6; i++) leave('a')
  t.equal(gate.waiting, 0)
})

t.test('the estimate is optimistic: its own lane\'s waiters, the fastest answer, never a call that timed out', async (t) => {
  const gate = new FairGate(1, 60_000)
  const noop = (): void => {}
  const enter = (lane: string, deadline: number): (() => void) | undefined => gate.enter(gate.lane(lane), deadline, noop)
  // A lane whose calls hung until their timeout: nothing known of how fast its upstream answers.
  enter('h', Date.now() + 60_000)
  gate.leave(gate.lane('h'), Date.now() - 5000, false)
  enter('h', Date.now() + 60_000)
  t.not(enter('h', Date.now() + 20), undefined, 'after a hanging call, a call that would wait is queued, not refused')
  // Another gate: a lane answered once in 10 ms, then in 100: its calls are counted at 10 ms.
  const other = new FairGate(1, 60_000)
  const p = other.lane('p')
  other.enter(p, Date.now() + 60_000, noop)
  other.leave(p, Date.now() - 10, true)
  other.enter(p, Date.now() + 60_000, noop)
  other.leave(p, Date.now() - 100, true)
  const more = (lane: string, deadline: number): (() => void) | undefined => other.enter(other.lane(lane), deadline, noop)
  // Another lane's waiters are not counted ahead of it: they may all stop waiting.
  for (let i = 0; i < 21; i++) more('q', Date.now() + 60_000)
  t.equal(other.waiting, 20, 'q holds the slot, 20 more of q wait')
  t.not(more('p', Date.now() + 150), undefined, 'queued behind its own lane only')
  t.not(more('p', Date.now() + 150), undefined, 'and a second: (1 + 1) x 10 ms is before the deadline')
  t.throws(() => more('p', Date.now() + 25), QueueTooLongError, 'a third cannot be answered within 25 ms even at 10 ms a call')
})

t.test('the estimate forgets: an answer counts for 10 to 20 s', async (t) => {
  let now = 1_000_000
  const gate = new FairGate(1, 60_000, () => now)
  const lane = gate.lane('p')
  const enter = (deadline: number): (() => void) | undefined => gate.enter(lane, deadline, () => {})
  enter(now + 60_000)
  gate.leave(lane, now - 100, true)
  enter(now + 60_000)
  now += 15_000
  t.throws(() => enter(now + 50), QueueTooLongError, '15 s later, the 100 ms answer still counts')
  now += 15_000
  t.not(enter(now + 50), undefined, '30 s later, it is forgotten: nothing known, nothing refused')
})
