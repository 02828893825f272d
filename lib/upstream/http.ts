import { Pool } from 'undici'

/** What one upstream call answered: its status, headers (names in lowercase), and body text (undefined when over `MAX_ANSWER_BYTES`). */
export interface HttpAnswer { status: number, headers: Readonly<Record<string, unknown>>, text: string | undefined }

/** How long a call may take: its signal (aborted at the timeout) and that moment, in ms since the epoch. */
export interface CallLimit { signal: AbortSignal, deadline: number }

/**
 * The plugin's HTTP client for its upstreams: one keep-alive undici `Pool` per origin, at most
 * `connections` sockets each. A call past the bound waits, under its own `signal` (the caller's
 * timeout counts from when it asked, the wait included), in a fair queue: one queue per lane (an
 * app, and the kind of call: its path), served in turn, so one app's flood cannot take every
 * socket from the others. A call whose wait would outlast its deadline fails at once. Nothing is
 * retried.
 */
export interface Http {
  request (url: string, init: { method: string, headers?: Record<string, string>, body?: string }, limit: CallLimit): Promise<HttpAnswer>
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

interface Waiter { start: () => void, lane: string }

/**
 * At most `slots` calls at once; the rest wait in one queue per lane, and a freed slot goes to the
 * next lane in turn (round robin). It keeps a moving average of how long a call holds a slot, to
 * tell a caller at once that its wait would pass its deadline.
 */
export class FairGate {
  readonly #slots: number
  #busy = 0
  /** Lanes with waiters, in turn order: the first is served next, then moves to the end. */
  readonly #lanes = new Map<string, Waiter[]>()
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

  /** Runs `call` in a slot: at once when one is free and nobody waits, else in `lane`'s turn (a function: the key is made only to wait). */
  run<T> (lane: string | (() => string), { signal, deadline }: CallLimit, call: () => Promise<T>): Promise<T> {
    if (this.#busy < this.#slots && this.#lanes.size === 0) {
      this.#busy++
      return this.#hold(call)
    }
    return this.#wait(typeof lane === 'string' ? lane : lane(), signal, deadline).then(() => this.#hold(call))
  }

  /** The call in its slot; the slot goes on when it settles, and its time feeds the average. */
  #hold<T> (call: () => Promise<T>): Promise<T> {
    const started = Date.now()
    const release = (): void => {
      const held = Date.now() - started
      this.#held = this.#held === 0 ? held : 0.8 * this.#held + 0.2 * held
      this.#next()
    }
    return call().then((value) => { release(); return value }, (err: unknown) => { release(); throw err })
  }

  async #wait (lane: string, signal: AbortSignal, deadline: number): Promise<void> {
    const queue = this.#lanes.get(lane) ?? []
    // Served in turn: ahead of it are its lane's waiters, and as many of every other lane's.
    let ahead = queue.length
    for (const [name, other] of this.#lanes) if (name !== lane) ahead += Math.min(other.length, queue.length + 1)
    const wait = Math.ceil((ahead + 1) / this.#slots) * this.#held
    if (Date.now() + wait > deadline) throw new QueueTooLongError(wait)
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        lane,
        start: () => {
          signal.removeEventListener('abort', abort)
          resolve()
        }
      }
      const abort = (): void => {
        const waiting = this.#lanes.get(lane) as Waiter[]
        waiting.splice(waiting.indexOf(waiter), 1)
        if (waiting.length === 0) this.#lanes.delete(lane)
        reject(signal.reason)
      }
      signal.addEventListener('abort', abort, { once: true })
      queue.push(waiter)
      if (queue.length === 1) this.#lanes.set(lane, queue)
    })
  }

  /** Hands the freed slot to the next lane's first waiter, and sends that lane to the back. */
  #next (): void {
    const first = this.#lanes.entries().next()
    if (first.done === true) {
      this.#busy--
      return
    }
    const [lane, queue] = first.value
    const waiter = queue.shift() as Waiter
    this.#lanes.delete(lane)
    if (queue.length !== 0) this.#lanes.set(lane, queue)
    waiter.start()
  }
}

export function createHttp (connections: number = DEFAULT_UPSTREAM_CONNECTIONS): Http {
  const pools = new Map<string, { pool: Pool, gate: FairGate }>()

  async function request (lane: string, url: string, { method, headers, body }: { method: string, headers?: Record<string, string>, body?: string }, limit: CallLimit): Promise<HttpAnswer> {
    // The plugin's own URLs: an origin, then a path from its first '/'.
    const slash = url.indexOf('/', url.indexOf('//') + 2)
    const origin = url.slice(0, slash)
    let upstream = pools.get(origin)
    if (upstream === undefined) {
      upstream = { pool: new Pool(origin, { connections, maxResponseSize: MAX_ANSWER_BYTES }), gate: new FairGate(connections) }
      pools.set(origin, upstream)
    }
    const { pool, gate } = upstream
    // The lane: the app's, then the call's path (what it asks for), named only when it must wait.
    const laneOf = (): string => {
      const query = url.indexOf('?', slash)
      return `${lane} ${url.slice(slash, query === -1 ? undefined : query)}`
    }
    return await gate.run(laneOf, limit, async () => {
      const res = await pool.request({ path: url.slice(slash), method: method as 'GET', headers, body, signal: limit.signal })
      try {
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
      } catch (err) {
        if ((err as { code?: unknown }).code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return { status: res.statusCode, headers: res.headers, text: undefined }
        throw err
      }
    })
  }

  function view (name: string): Http {
    return {
      request: async (url, init, limit) => await request(name, url, init, limit),
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
