import { Pool, type Dispatcher } from 'undici'

/** What one upstream call answered: its status, headers (names in lowercase), and body text (undefined when over `MAX_ANSWER_BYTES`). */
export interface HttpAnswer { status: number, headers: Readonly<Record<string, unknown>>, text: string | undefined }

export interface HttpInit { method: string, headers?: Record<string, string>, body?: string }

/**
 * The plugin's HTTP client for its upstreams: one keep-alive undici `Pool` per origin, at most
 * `connections` sockets each. A call past the bound waits in a fair queue: one queue per lane (an
 * app, and the kind of call: its path), served in turn, so one app's flood cannot take every
 * socket from the others. A call is over within its `timeout` (ms from when it is asked, the wait
 * included): past it, it fails with `CallTimeoutError` wherever it is, and a call whose wait
 * would outlast it fails at once with `QueueTooLongError`. Nothing is retried.
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

/**
 * At most `slots` calls at once; the rest wait in one queue per lane, and a freed slot goes to the
 * next lane in turn (round robin). It keeps a moving average of how long a call holds a slot, to
 * tell a caller at once that its wait would pass its deadline. Callbacks, not promises: a call
 * that finds a slot free costs a comparison.
 */
export class FairGate {
  readonly #slots: number
  #busy = 0
  /** Lanes with waiters, in turn order: the first is served next, then moves to the end. */
  readonly #lanes = new Map<string, Array<() => void>>()
  /** ms a call holds a slot, averaged (0 until one has finished). */
  #held = 0

  constructor (slots: number) {
    this.#slots = slots
  }

  get waiting (): number {
    let n = 0
    for (const queue of this.#lanes.values()) n += queue.length
    return n
  }

  /**
   * Calls `start` in a slot: at once when one is free and nobody waits, else in `lane`'s turn (a
   * function: the key is made only to wait). Returns undefined when started at once, else what
   * takes the call out of the queue (for a call that stops waiting). Throws `QueueTooLongError`
   * when the wait would pass `deadline` (ms since the epoch). Whoever started must `leave`.
   */
  enter (lane: () => string, deadline: number, start: () => void): (() => void) | undefined {
    if (this.#busy < this.#slots && this.#lanes.size === 0) {
      this.#busy++
      start()
      return undefined
    }
    const name = lane()
    const queue = this.#lanes.get(name) ?? []
    // Served in turn: ahead of it are its lane's waiters, and as many of every other lane's.
    let ahead = queue.length
    for (const [other, waiting] of this.#lanes) if (other !== name) ahead += Math.min(waiting.length, queue.length + 1)
    const wait = Math.ceil((ahead + 1) / this.#slots) * this.#held
    if (Date.now() + wait > deadline) throw new QueueTooLongError(wait)
    queue.push(start)
    if (queue.length === 1) this.#lanes.set(name, queue)
    return () => {
      const waiting = this.#lanes.get(name) as Array<() => void>
      waiting.splice(waiting.indexOf(start), 1)
      if (waiting.length === 0) this.#lanes.delete(name)
    }
  }

  /** A call that started at `started` (ms) is over: its time feeds the average, its slot goes to the next lane in turn. */
  leave (started: number): void {
    const held = Date.now() - started
    this.#held = this.#held === 0 ? held : 0.8 * this.#held + 0.2 * held
    const first = this.#lanes.entries().next()
    if (first.done === true) {
      this.#busy--
      return
    }
    const [lane, queue] = first.value
    const start = queue.shift() as () => void
    this.#lanes.delete(lane)
    if (queue.length !== 0) this.#lanes.set(lane, queue)
    start()
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

  constructor (readonly gate: FairGate, readonly pool: Upstream, readonly options: Dispatcher.DispatchOptions, timeout: number, resolve: (answer: HttpAnswer) => void, reject: (err: unknown) => void) {
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

  /** undici is done with it: the slot goes on. */
  #over (): void {
    this.gate.leave(this.#started)
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
    this.#over()
  }

  onResponseError (_controller: Dispatcher.DispatchController, err: Error): void {
    if ((err as { code?: unknown }).code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') this.#settle(undefined, { status: this.#status, headers: this.#headers, text: undefined })
    else this.#settle(err)
    this.#over()
  }
}

/** What a call is sent through: an undici `Pool` (tests give a stand-in that answers when they say). */
export type Upstream = Pick<Dispatcher, 'dispatch' | 'close'>

const openPool = (origin: string, options: Pool.Options): Upstream => new Pool(origin, options)

export function createHttp (connections: number = DEFAULT_UPSTREAM_CONNECTIONS, open: (origin: string, options: Pool.Options) => Upstream = openPool): Http {
  const pools = new Map<string, { pool: Upstream, gate: FairGate }>()

  function request (lane: string, url: string, { method, headers, body }: HttpInit, timeout: number): Promise<HttpAnswer> {
    // The plugin's own URLs: an origin, then a path from its first '/'.
    const slash = url.indexOf('/', url.indexOf('//') + 2)
    const origin = url.slice(0, slash)
    let upstream = pools.get(origin)
    if (upstream === undefined) {
      upstream = { pool: open(origin, { connections, maxResponseSize: MAX_ANSWER_BYTES }), gate: new FairGate(connections) }
      pools.set(origin, upstream)
    }
    const { pool, gate } = upstream
    // The lane: the app's, then the call's path (what it asks for), named only when it must wait.
    const laneOf = (): string => {
      const query = url.indexOf('?', slash)
      return `${lane} ${url.slice(slash, query === -1 ? undefined : query)}`
    }
    return new Promise<HttpAnswer>((resolve, reject) => {
      const call = new Call(gate, pool, { path: url.slice(slash), method: method as Dispatcher.HttpMethod, headers, body }, timeout, resolve, reject)
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
