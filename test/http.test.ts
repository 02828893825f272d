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
