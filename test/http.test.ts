// The upstream client's one timer ends a call wherever the call is: waiting for a slot, handed to
// undici but not yet started (a connection still opening), or in flight. A stand-in for undici's
// pool holds each call until the test moves it on, so that every state is reached by order of
// events, never by how long something took.
import t from 'tap'
import type { Dispatcher } from 'undici'
import { CallTimeoutError, createHttp, type Upstream } from '../lib/upstream/http.js'

interface Held { options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler }

/** A pool that keeps what it is given; `aborted` records each abort a call asks for. */
function standIn (): { open: () => Upstream, held: Held[], aborted: unknown[], controller: () => Dispatcher.DispatchController } {
  const held: Held[] = []
  const aborted: unknown[] = []
  const controller = (): Dispatcher.DispatchController => ({
    aborted: false,
    paused: false,
    reason: null,
    abort: (reason: Error) => { aborted.push(reason) },
    pause: () => {},
    resume: () => {}
  })
  const pool: Upstream = {
    dispatch: (options, handler) => { held.push({ options, handler }); return true },
    close: async () => {}
  }
  return { open: () => pool, held, aborted, controller }
}

const URL = 'http://upstream.test/sns/jscode2session?js_code=x'
// A call's timer, like AbortSignal.timeout's, does not keep the process alive (a real call's socket
// does): this does, while the tests wait for timers.
const alive = setInterval(() => {}, 1000)
t.teardown(() => { clearInterval(alive) })
const rejection = async (p: Promise<unknown>): Promise<unknown> => await p.then(() => undefined, (err: unknown) => err)

t.test('timed out before undici started it: aborted when undici does, and its slot goes on when undici lets go', async (t) => {
  const pool = standIn()
  const http = createHttp(1, pool.open)
  const first = http.request(URL, { method: 'GET' }, 20)
  const second = http.request(URL, { method: 'GET' }, 60_000)
  t.equal(pool.held.length, 1, 'one slot: the second call waits')
  t.type(await rejection(first), CallTimeoutError, 'the first call fails at its timeout, not sent yet')
  const handler = pool.held[0]?.handler as Dispatcher.DispatchHandler
  const controller = pool.controller()
  handler.onRequestStart?.(controller, {})
  t.equal(pool.aborted.length, 1, 'undici starting it is told to abort')
  t.type(pool.aborted[0], CallTimeoutError)
  t.equal(pool.held.length, 1, 'the slot is still held while undici holds the call')
  handler.onResponseError?.(controller, pool.aborted[0] as Error)
  t.equal(pool.held.length, 2, 'undici let go: the waiting call is sent')
  const next = pool.held[1]?.handler as Dispatcher.DispatchHandler
  next.onRequestStart?.(pool.controller(), {})
  next.onResponseStart?.(pool.controller(), 200, { 'content-type': 'text/plain' }, 'OK')
  next.onResponseData?.(pool.controller(), Buffer.from('\ufeff{"openid":'))
  next.onResponseData?.(pool.controller(), Buffer.from('"o-1"}'))
  next.onResponseEnd?.(pool.controller(), {})
  t.same(await second, { status: 200, headers: { 'content-type': 'text/plain' }, text: '{"openid":"o-1"}' }, 'chunks gathered, the byte-order mark dropped')
  await http.close()
})

t.test('timed out in flight: aborted at once; what undici says after that changes nothing', async (t) => {
  const pool = standIn()
  const http = createHttp(1, pool.open)
  const call = http.request(URL, { method: 'GET' }, 20)
  const handler = pool.held[0]?.handler as Dispatcher.DispatchHandler
  const controller = pool.controller()
  handler.onRequestStart?.(controller, {})
  handler.onResponseStart?.(controller, 200, {}, 'OK')
  t.type(await rejection(call), CallTimeoutError)
  t.equal(pool.aborted.length, 1, 'the call in flight is aborted')
  handler.onResponseEnd?.(controller, {})
  t.type(await rejection(call), CallTimeoutError, 'a late answer does not turn the failure into one')
  // The slot went on: the next call is sent at once.
  const next = http.request(URL, { method: 'GET' }, 60_000)
  t.equal(pool.held.length, 2)
  pool.held[1]?.handler.onResponseError?.(pool.controller(), new Error('closed'))
  t.match(await rejection(next), { message: 'closed' })
})

t.test('an answer past the size bound is an answer without text; other errors are the call\'s', async (t) => {
  const pool = standIn()
  const http = createHttp(2, pool.open)
  const big = http.request(URL, { method: 'GET' }, 60_000)
  const broken = http.request(URL, { method: 'GET' }, 60_000)
  const [one, two] = pool.held.map((h) => h.handler)
  one?.onResponseStart?.(pool.controller(), 200, { a: 'b' }, 'OK')
  one?.onResponseError?.(pool.controller(), Object.assign(new Error('too big'), { code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' }))
  t.same(await big, { status: 200, headers: { a: 'b' }, text: undefined })
  two?.onResponseError?.(pool.controller(), Object.assign(new Error('socket hang up'), { code: 'UND_ERR_SOCKET' }))
  t.match(await rejection(broken), { code: 'UND_ERR_SOCKET' })
})

t.test('timed out while waiting for a slot: out of the queue, never sent', async (t) => {
  const pool = standIn()
  const http = createHttp(1, pool.open)
  const holding = http.request(URL, { method: 'GET' }, 60_000)
  const waiting = http.request('http://upstream.test/cgi-bin/stable_token', { method: 'POST', body: '{}' }, 20)
  t.type(await rejection(waiting), CallTimeoutError)
  pool.held[0]?.handler.onResponseEnd?.(pool.controller(), {})
  t.same(await holding, { status: 0, headers: {}, text: '' })
  t.equal(pool.held.length, 1, 'the slot freed found nobody waiting: the timed-out call was never sent')
})

t.test('waited for a slot, then timed out in flight: aborted, and its slot goes on when undici lets go', async (t) => {
  const pool = standIn()
  const http = createHttp(1, pool.open)
  const first = http.request(URL, { method: 'GET' }, 60_000)
  const second = http.request(URL, { method: 'GET' }, 20)
  t.equal(pool.held.length, 1, 'one slot: the second call waits')
  pool.held[0]?.handler.onResponseEnd?.(pool.controller(), {})
  t.equal(pool.held.length, 2, 'the slot freed: the waiting call is sent')
  await first
  const handler = pool.held[1]?.handler as Dispatcher.DispatchHandler
  const controller = pool.controller()
  handler.onRequestStart?.(controller, {})
  t.type(await rejection(second), CallTimeoutError, 'it fails at its timeout, in flight')
  t.equal(pool.aborted.length, 1, 'the call in flight is aborted, though it once waited in the queue')
  t.type(pool.aborted[0], CallTimeoutError)
  handler.onResponseError?.(controller, pool.aborted[0] as Error)
  const third = http.request(URL, { method: 'GET' }, 60_000)
  t.equal(pool.held.length, 3, 'undici let go: its slot went on, the next call is sent at once')
  pool.held[2]?.handler.onResponseEnd?.(pool.controller(), {})
  await third
})

/**
 * Two apps on one pool of 4 (their claims last a minute: nothing lapses while a test runs). Each
 * grant is recorded with the slots each app held and the calls each had waiting at that moment.
 */
function twoApps (slots = 4, linger = 60_000): {
  pool: ReturnType<typeof standIn>
  ask: (app: 'A' | 'B', timeout?: number) => Promise<unknown>
  end: (app: 'A' | 'B') => void
  held: Record<'A' | 'B', number>
  grants: Array<{ app: 'A' | 'B', held: Record<'A' | 'B', number>, waiting: Record<'A' | 'B', number> }>
} {
  const pool = standIn()
  const asked = { A: 0, B: 0 }
  const sent = { A: 0, B: 0 }
  const held = { A: 0, B: 0 }
  const grants: Array<{ app: 'A' | 'B', held: Record<'A' | 'B', number>, waiting: Record<'A' | 'B', number> }> = []
  const inFlight: Record<'A' | 'B', Dispatcher.DispatchHandler[]> = { A: [], B: [] }
  const appOf = (options: Dispatcher.DispatchOptions): 'A' | 'B' => String(options.path).endsWith('appid=A') ? 'A' : 'B'
  const open = (): Upstream => ({
    dispatch: (options, handler) => {
      const app = appOf(options)
      sent[app]++
      held[app]++
      inFlight[app].push(handler)
      grants.push({ app, held: { ...held }, waiting: { A: asked.A - sent.A, B: asked.B - sent.B } })
      return pool.open().dispatch(options, handler)
    },
    close: async () => {}
  })
  const http = createHttp(slots, open, linger)
  const lanes = { A: http.lane('A'), B: http.lane('B') }
  return {
    pool,
    ask: (app, timeout = 60_000) => {
      asked[app]++
      return rejection(lanes[app].request(`http://upstream.test/sns/jscode2session?appid=${app}`, { method: 'GET' }, timeout))
    },
    // A call of the app ends (the oldest in flight): a hanging one at last reset, or one answered.
    end: (app) => {
      held[app]--
      inFlight[app].shift()?.onResponseError?.(pool.controller(), new Error('socket hang up'))
    },
    held,
    grants
  }
}

t.test('an app whose upstream hangs holds every slot: the other app takes the first slot that frees, and the hanging app no new one while over its share', async (t) => {
  const { ask, end, held, grants } = twoApps()
  const hanging = Array.from({ length: 8 }, () => ask('A'))
  t.same(held, { A: 4, B: 0 }, 'an app alone may use every slot')
  const b = [ask('B'), ask('B'), ask('B')]
  t.same(held, { A: 4, B: 0 }, 'no slot is free: B waits')
  end('A')
  t.same(held, { A: 3, B: 1 }, 'the first slot that frees goes to B, not to A\'s next waiter')
  end('A')
  t.same(held, { A: 2, B: 2 }, 'and the next: A is over its share (2 of 4) while B waits')
  end('A')
  t.same(held, { A: 2, B: 2 }, 'A under its share again: it takes the next, B keeps its share')
  for (const grant of grants) {
    const other = grant.app === 'A' ? 'B' : 'A'
    if (grant.waiting[other] > 0) t.ok(grant.held[grant.app] <= 2, `a grant to ${grant.app} while ${other} waits leaves ${grant.app} with at most its share (${grant.held[grant.app]})`)
  }
  end('B')
  t.same(held, { A: 2, B: 2 }, 'B\'s last waiter takes the slot B gave back')
  while (held.A + held.B > 0) {
    if (held.B > 0) end('B')
    else end('A')
  }
  await Promise.all([...hanging, ...b])
})

t.test('an app that called lately keeps the slots it used: a hanging app\'s flood does not take them between its calls', async (t) => {
  const { pool, ask, end, held } = twoApps()
  const first = [ask('B'), ask('B')]
  end('B')
  end('B')
  await Promise.all(first)
  t.same(held, { A: 0, B: 0 }, 'B used two slots and gave them back')
  const hanging = Array.from({ length: 8 }, () => ask('A'))
  t.same(held, { A: 2, B: 0 }, 'A takes its share; the two B used stay B\'s while its claim lasts')
  const b = ask('B')
  t.same(held, { A: 2, B: 1 }, 'B\'s next call is sent at once')
  t.equal(pool.held.length, 5)
  while (held.A + held.B > 0) {
    if (held.B > 0) end('B')
    else end('A')
  }
  await Promise.all([...hanging, b])
})
