import { Pool, type Dispatcher } from 'undici'

/** What one upstream call answered: its status, headers (names in lowercase), and body text (undefined when over `MAX_ANSWER_BYTES`). */
export interface HttpAnswer { status: number, headers: Readonly<Record<string, unknown>>, text: string | undefined }

export interface HttpInit { method: string, headers?: Record<string, string>, body?: string }

/**
 * The plugin's HTTP client for its upstreams: one keep-alive undici `Pool` per origin, at most
 * `connections` sockets each. A call past the bound waits in a fair queue: one queue per lane (an
 * app, and the kind of call: its path), served in turn, and each lane takes no more than its share
 * of the sockets while another lane is owed one (`FairGate`), so one app's flood, or its slow or
 * hanging upstream, cannot take every socket from the others. A call is over within its `timeout`
 * (ms from when it is asked, the wait included): past it, it fails with `CallTimeoutError` wherever
 * it is, and a call whose wait cannot end in time even on an optimistic estimate fails at once
 * with `QueueTooLongError`. Nothing is retried.
 */
export interface Http {
  request (url: string, init: HttpInit, timeout: number): Promise<HttpAnswer>
  /** The same client, its calls queued in `lane` (an app's) and then by their path. */
  lane (name: string): Http
  close (): Promise<void>
}

export const DEFAULT_UPSTREAM_CONNECTIONS = 32

/**
 * The largest answer read (every upstream answer is a few hundred bytes): undici stops reading past
 * it and drops that connection.
 */
export const MAX_ANSWER_BYTES = 64 * 1024

/** A call that would wait past its deadline: refused before it waits at all. */
export class QueueTooLongError extends Error {
  constructor (wait: number) {
    super(`the upstream queue would hold this call about ${Math.round(wait)} ms, past its timeout`)
    this.name = 'QueueTooLongError'
  }
}

/** A call whose timeout passed, waiting for a socket or in flight. */
export class CallTimeoutError extends Error {
  constructor (timeout: number) {
    super(`the upstream call took more than ${timeout} ms`)
    this.name = 'TimeoutError'
  }
}

/** How long (ms) a lane that gave back its slots still counts, and how long it keeps a claim on as many as it held at once. */
export const LINGER_MS = 1000

/** How long (ms) an answer's time stays in a lane's estimate (two such windows are kept). */
const ESTIMATE_WINDOW_MS = 10_000

/** One lane of a gate: an app's calls of one kind. */
export class Lane {
  /** Slots it holds. */
  busy = 0
  /** Its calls waiting for a slot, first first. */
  readonly queue: Array<() => void> = []
  /** The most slots it held at once in this window of `linger` ms (from `peakAt`), and in the one before. */
  peak = 0
  before = 0
  peakAt = 0
  /** The fastest answer (ms it held its slot) in this window of the estimate and in the one before; Infinity for none. */
  fastest = Infinity
  fastestBefore = Infinity
  fastestAt = 0

  constructor (readonly name: string) {}
}

/**
 * At most `slots` calls at once, shared among lanes; the rest wait in one queue per lane, served in
 * turn (round robin). Callbacks, not promises.
 *
 * The slots are shared, not only the turns: the lanes that hold a slot, wait for one, or held one
 * in the last `linger` ms share the slots evenly (`ceil(slots / lanes)` each, the fair share). A lane
 * under its fair share may take any free slot; a lane at or over it takes a free slot only if the
 * free slots left still cover what every other lane is owed: its waiters, or, for a lane that waits
 * for nothing, as many slots as it held at once in the last `linger` to `2 × linger` ms; each up to
 * the fair share. So a lane alone may use every slot; a slow or hanging lane that took them while
 * alone keeps what it holds (a call in flight is never taken back) but gets no new slot while
 * another lane is owed one, and a lane that calls now and then keeps the few slots it uses instead
 * of losing each to the hanging lane's next waiter between its calls.
 *
 * A call whose wait cannot end in time is refused at once (`QueueTooLongError`), on an optimistic
 * estimate: only its own lane's waiters ahead of it, as if every slot of the pool served its lane,
 * each call as fast as the lane's fastest answer of the last 10 to 20 s (calls that timed out or
 * failed say nothing of how fast the upstream answers and are not counted; a lane without an
 * answer in that time is never refused). The other lanes, load, and the calls in flight (which may
 * end at once) are left out: the estimate is never longer than the real wait when the upstream
 * answers no faster than it did, so a call refused would have missed its deadline anyway.
 */
export class FairGate {
  readonly #slots: number
  readonly #linger: number
  readonly #now: () => number
  #busy = 0
  /** Every lane named so far (the plugin's lanes are its apps times its paths: a bounded set). */
  readonly #lanes = new Map<string, Lane>()
  /** Lanes with waiters, in turn order: the first is served next, then moves to the end. */
  readonly #turns = new Set<Lane>()
  /** Lanes the slots are shared among: holding, waiting, or with a claim left from the last `linger` ms. */
  readonly #present = new Set<Lane>()
  /** Wakes waiters that a lane's lapsing claim held back while slots were free. */
  #wake: NodeJS.Timeout | undefined

  /** `linger` in ms; `now`, the clock (ms since the epoch; tests give their own). */
  constructor (slots: number, linger: number = LINGER_MS, now: () => number = Date.now) {
    this.#slots = slots
    this.#linger = linger
    this.#now = now
  }

  get waiting (): number {
    let n = 0
    for (const lane of this.#turns) n += lane.queue.length
    return n
  }

  /** The lane of this name (made the first time). */
  lane (name: string): Lane {
    let lane = this.#lanes.get(name)
    if (lane === undefined) {
      lane = new Lane(name)
      this.#lanes.set(name, lane)
    }
    return lane
  }

  /**
   * Calls `start` in a slot: at once when `lane` may take a free one, else in its turn. Returns
   * undefined when started at once, else what takes the call out of the queue (for a call that stops
   * waiting). Throws `QueueTooLongError` when even the optimistic estimate of its wait and answer
   * passes `deadline` (ms since the epoch). Whoever started must `leave`.
   */
  enter (lane: Lane, deadline: number, start: () => void): (() => void) | undefined {
    const now = this.#now()
    if (!this.#present.has(lane)) {
      this.#present.add(lane)
      lane.peakAt = now
    }
    // A claim that lapsed may have freed slots for those waiting: they go first.
    if (this.#prune(now) && this.#turns.size !== 0) this.#grant(now)
    if (this.#busy < this.#slots && lane.queue.length === 0 && this.#may(lane, this.#owed())) {
      this.#take(lane)
      start()
      return undefined
    }
    const fastest = this.#fastest(lane, now)
    if (fastest !== Infinity) {
      // Optimistic: its lane's waiters ahead, served by every slot, each call as fast as the fastest answer.
      const wait = (Math.floor(lane.queue.length / this.#slots) + 1) * fastest
      if (now + wait > deadline) throw new QueueTooLongError(wait)
    }
    lane.queue.push(start)
    this.#turns.add(lane)
    // Held back by another lane's claim while slots are free: look again when it may have lapsed.
    if (this.#busy < this.#slots) this.#sleep(now)
    return () => {
      lane.queue.splice(lane.queue.indexOf(start), 1)
      // (A lane with waiters and no slot to take is at its share: it was owed nothing, nobody waited on it.)
      if (lane.queue.length === 0) this.#turns.delete(lane)
    }
  }

  /** A call of `lane` that started at `started` (ms) is over (`answered`: its time feeds the estimate); its slot goes to the next lane that may take it. */
  leave (lane: Lane, started: number, answered: boolean): void {
    const now = this.#now()
    if (answered) {
      this.#fastest(lane, now)
      lane.fastest = Math.min(lane.fastest, now - started)
    }
    this.#peak(lane, now)
    lane.busy--
    this.#busy--
    this.#grant(now)
  }

  #take (lane: Lane): void {
    lane.busy++
    this.#busy++
    if (lane.busy > lane.peak) lane.peak = lane.busy
  }

  /** The fair share: the slots split evenly among the lanes present. */
  #share (): number {
    return Math.ceil(this.#slots / this.#present.size)
  }

  /** What a lane is owed: slots up to the fair share, for its waiters, or as many as it held lately. */
  #owes (lane: Lane, share: number): number {
    const wants = lane.queue.length !== 0 ? lane.busy + lane.queue.length : Math.max(lane.peak, lane.before)
    return Math.max(0, Math.min(share, wants) - lane.busy)
  }

  #owed (): number {
    const share = this.#share()
    let owed = 0
    for (const lane of this.#present) owed += this.#owes(lane, share)
    return owed
  }

  /** May `lane` take a free slot, given what every lane is owed? */
  #may (lane: Lane, owed: number): boolean {
    const share = this.#share()
    if (lane.busy < share) return true
    return this.#slots - this.#busy - 1 >= owed - this.#owes(lane, share)
  }

  /** Free slots to waiting lanes, in turn, as long as one may take one. */
  #grant (now: number): void {
    this.#prune(now)
    while (this.#busy < this.#slots) {
      const owed = this.#owed()
      let next: Lane | undefined
      for (const lane of this.#turns) {
        if (this.#may(lane, owed)) {
          next = lane
          break
        }
      }
      if (next === undefined) {
        this.#sleep(now)
        return
      }
      const start = next.queue.shift() as () => void
      this.#turns.delete(next)
      if (next.queue.length !== 0) this.#turns.add(next)
      this.#take(next)
      start()
    }
  }

  /** Rolls `lane`'s peak over to a new window when its window has passed. */
  #peak (lane: Lane, now: number): void {
    const age = now - lane.peakAt
    if (age < this.#linger) return
    lane.before = age < 2 * this.#linger ? lane.peak : lane.busy
    lane.peak = lane.busy
    lane.peakAt = now
  }

  /** Drops the lanes that hold nothing, wait for nothing and have no claim left; true when one went. */
  #prune (now: number): boolean {
    let pruned = false
    for (const lane of this.#present) {
      this.#peak(lane, now)
      if (lane.busy === 0 && lane.queue.length === 0 && lane.peak === 0 && lane.before === 0) {
        this.#present.delete(lane)
        pruned = true
      }
    }
    return pruned
  }

  /** Slots free, waiters held back by claims: try again when the first idle lane's window passes. */
  #sleep (now: number): void {
    if (this.#wake !== undefined) return
    let at = Infinity
    for (const lane of this.#present) if (lane.queue.length === 0) at = Math.min(at, lane.peakAt + this.#linger)
    if (at === Infinity) return
    this.#wake = setTimeout(() => {
      this.#wake = undefined
      this.#grant(this.#now())
    }, Math.max(1, at - now)).unref()
  }

  /** The lane's fastest answer of the last one or two windows (rolled over here). */
  #fastest (lane: Lane, now: number): number {
    const age = now - lane.fastestAt
    if (age >= ESTIMATE_WINDOW_MS) {
      lane.fastestBefore = age < 2 * ESTIMATE_WINDOW_MS ? lane.fastest : Infinity
      lane.fastest = Infinity
      lane.fastestAt = now
    }
    return Math.min(lane.fastest, lane.fastestBefore)
  }
}

/**
 * One call, as undici's dispatcher drives it (no request object, no body stream: the answer is a
 * few hundred bytes, gathered and decoded once), under one timer that ends it wherever it is.
 */
class Call implements Dispatcher.DispatchHandler {
  readonly #resolve: (answer: HttpAnswer) => void
  readonly #reject: (err: unknown) => void
  readonly #timer: NodeJS.Timeout
  #controller: Dispatcher.DispatchController | undefined
  #status = 0
  #headers: Record<string, unknown> = {}
  #chunks: Buffer[] = []
  /** Settled: answered, failed or timed out (what undici says after that is ignored). */
  #done = false
  /** Why it ended early (its timeout). */
  #reason: Error | undefined
  /** When it took its slot (ms), or 0 while it has none. */
  #started = 0
  /** Takes it out of the gate's queue while it waits. */
  dequeue: (() => void) | undefined

  constructor (readonly gate: FairGate, readonly lane: Lane, readonly pool: Upstream, readonly options: Dispatcher.DispatchOptions, timeout: number, resolve: (answer: HttpAnswer) => void, reject: (err: unknown) => void) {
    this.#resolve = resolve
    this.#reject = reject
    // Unreferenced, as AbortSignal.timeout's: a call in flight holds a socket, one waiting waits for one.
    this.#timer = setTimeout(() => { this.#timedOut(timeout) }, timeout).unref()
  }

  /** In its slot: sent. */
  readonly start = (): void => {
    this.dequeue = undefined
    this.#started = Date.now()
    this.pool.dispatch(this.options, this)
  }

  /** Refused before it took a slot. */
  refuse (err: unknown): void {
    this.#settle(err)
  }

  #timedOut (timeout: number): void {
    this.#reason = new CallTimeoutError(timeout)
    this.#settle(this.#reason)
    // Waiting: out of the queue. Sent: aborted (undici then reports the abort, which frees the slot).
    if (this.dequeue !== undefined) this.dequeue()
    else this.#controller?.abort(this.#reason)
  }

  #settle (err: unknown, answer?: HttpAnswer): void {
    if (this.#done) return
    this.#done = true
    clearTimeout(this.#timer)
    if (answer === undefined) this.#reject(err)
    else this.#resolve(answer)
  }

  /** undici is done with it: the slot goes on (an answer's time feeds the gate's estimate). */
  #over (answered: boolean): void {
    this.gate.leave(this.lane, this.#started, answered)
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    // Timed out before undici took it (waiting for a connection to open): never sent.
    if (this.#reason !== undefined) controller.abort(this.#reason)
  }

  onResponseStart (_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, unknown>): void {
    this.#status = statusCode
    this.#headers = headers
  }

  onResponseData (_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#chunks.push(chunk)
  }

  onResponseEnd (): void {
    const bytes = this.#chunks.length === 1 ? this.#chunks[0] as Buffer : Buffer.concat(this.#chunks)
    // As fetch and undici's body.text() decode: UTF-8, a byte-order mark dropped.
    const text = bytes.toString('utf8')
    this.#settle(undefined, { status: this.#status, headers: this.#headers, text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text })
    this.#over(true)
  }

  onResponseError (_controller: Dispatcher.DispatchController, err: Error): void {
    const tooBig = (err as { code?: unknown }).code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE'
    if (tooBig) this.#settle(undefined, { status: this.#status, headers: this.#headers, text: undefined })
    else this.#settle(err)
    this.#over(tooBig)
  }
}

/** What a call is sent through: an undici `Pool` (tests give a stand-in that answers when they say). */
export type Upstream = Pick<Dispatcher, 'dispatch' | 'close'>

const openPool = (origin: string, options: Pool.Options): Upstream => new Pool(origin, options)

/** `linger`: the gate's (ms; tests give their own). */
export function createHttp (connections: number = DEFAULT_UPSTREAM_CONNECTIONS, open: (origin: string, options: Pool.Options) => Upstream = openPool, linger: number = LINGER_MS): Http {
  const pools = new Map<string, { pool: Upstream, gate: FairGate }>()

  function request (lane: string, url: string, { method, headers, body }: HttpInit, timeout: number): Promise<HttpAnswer> {
    // The plugin's own URLs: an origin, then a path from its first '/'.
    const slash = url.indexOf('/', url.indexOf('//') + 2)
    const origin = url.slice(0, slash)
    let upstream = pools.get(origin)
    if (upstream === undefined) {
      upstream = { pool: open(origin, { connections, maxResponseSize: MAX_ANSWER_BYTES }), gate: new FairGate(connections, linger) }
      pools.set(origin, upstream)
    }
    const { pool, gate } = upstream
    // The lane: the app's, then the call's path (what it asks for).
    const query = url.indexOf('?', slash)
    const laneOf = gate.lane(`${lane} ${url.slice(slash, query === -1 ? undefined : query)}`)
    return new Promise<HttpAnswer>((resolve, reject) => {
      const call = new Call(gate, laneOf, pool, { path: url.slice(slash), method: method as Dispatcher.HttpMethod, headers, body }, timeout, resolve, reject)
      try {
        call.dequeue = gate.enter(laneOf, Date.now() + timeout, call.start)
      } catch (err) {
        call.refuse(err)
      }
    })
  }

  function view (name: string): Http {
    return {
      request: (url, init, timeout) => request(name, url, init, timeout),
      lane: view,
      close
    }
  }

  async function close (): Promise<void> {
    await Promise.all([...pools.values()].map(async ({ pool }) => { await pool.close() }))
    pools.clear()
  }

  return view('')
}
