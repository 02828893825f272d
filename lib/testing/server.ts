import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { rid } from './data.js'
import type { MockState } from './state.js'

/**
 * The mock's HTTP side, whatever the platform: a loopback server, the call log, the fault queue
 * and the connection counter. What each path answers comes from the endpoint table.
 */

/** How a fault spoils one check of a signed, encrypted answer (for an app with API security). */
export type MockSecurityFault =
  /** No signature headers at all. */
  | 'unsigned'
  /** A signature over other bytes. */
  | 'bad-signature'
  /** Signed 301 s ago. */
  | 'stale'
  /** The answer's app header (and what it signs) names another app. */
  | 'other-app'
  /** Signed and sealed correctly, but the plaintext's app is another one. */
  | 'plaintext-app'
  /** Signed with a platform key whose number the app was never given. */
  | 'unknown-serial'
  /** The ciphertext changed after sealing, then signed: the signature verifies, only the GCM tag can tell. */
  | 'tampered'

/**
 * What the next upstream request answers instead of the normal reply. Fields combine: `until`
 * and `delay` first, then `destroy`, or an HTTP answer made of `status`/`body`/`contentType`, or
 * `errcode`. A fault with only `until` or `delay` answers normally, later.
 */
export interface MockFault {
  /** Only requests to this path take the fault (e.g. `'/sns/jscode2session'`). Default any. */
  path?: string
  /**
   * Hold the answer until this settles (either way): keeps a call in flight for exactly as long
   * as a test needs, e.g. until every concurrent request has joined it. Applied before `delay`.
   */
  until?: PromiseLike<unknown>
  /** Wait this many ms before answering. */
  delay?: number
  /** Reset the connection without an answer. */
  destroy?: boolean
  /**
   * With `body`: send the headers (its full `content-length`) and the first half of the body, then
   * reset the connection: an answer cut off in the middle.
   */
  cut?: boolean
  /** Answer the error shape of `errcode` platforms: HTTP 200 `{ errcode, errmsg }`. */
  errcode?: number
  errmsg?: string
  /** Answer this HTTP status (default 200) with `body` as is. */
  status?: number
  body?: string
  contentType?: string
  /** More response headers with `status`/`body` (a `location` for a redirect, say). */
  headers?: Record<string, string>
  /** For an app with API security: answer normally, with this check of the answer spoiled. */
  security?: MockSecurityFault
}

/** One request the mock received, for asserting exactly what the code under test sent. */
export interface MockCall {
  method: string
  path: string
  query: Record<string, string>
  /** The request's headers, names in lowercase. */
  headers: Record<string, string>
  body: string
}

/** One row of the endpoint table: what a method and path answer. */
export interface Endpoint {
  method: 'GET' | 'POST'
  path: string
  handle (state: MockState, call: MockCall, res: ServerResponse, fault?: MockSecurityFault): void
}

/** JSON labelled text/plain, as the first platforms answer. */
export function sendText (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'text/plain' })
  res.end(JSON.stringify(body))
}

/** The `errcode` platforms' error: HTTP 200 `{ errcode, errmsg }`, the message ending in a request id. */
export function sendErrcode (res: ServerResponse, errcode: number, errmsg: string): void {
  sendText(res, 200, { errcode, errmsg: `${errmsg}, rid: ${rid()}` })
}

/** JSON labelled as such. */
export function sendJson (res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' })
  res.end(JSON.stringify(body))
}

export class MockServer {
  readonly calls: MockCall[] = []
  readonly #server: Server
  readonly #faults: MockFault[] = []
  readonly #sockets = { open: 0, peak: 0 }
  readonly #routes: Map<string, Endpoint>
  readonly #state: MockState
  /** How an `errcode` fault is answered. */
  readonly #errcode: (res: ServerResponse, errcode: number, errmsg: string | undefined) => void
  #url = ''

  constructor (state: MockState, endpoints: readonly Endpoint[], errcode: (res: ServerResponse, errcode: number, errmsg: string | undefined) => void) {
    this.#state = state
    this.#errcode = errcode
    this.#routes = new Map(endpoints.map((e) => [`${e.method} ${e.path}`, e]))
    this.#server = createServer((req, res) => { this.#handle(req, res) })
    this.#server.on('connection', (socket) => {
      this.#sockets.open++
      this.#sockets.peak = Math.max(this.#sockets.peak, this.#sockets.open)
      socket.once('close', () => { this.#sockets.open-- })
    })
  }

  async listen (host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(0, host, () => resolve())
    })
    const { address, port } = this.#server.address() as AddressInfo
    this.#url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`
    this.#state.origin = this.#url
  }

  get url (): string {
    return this.#url
  }

  get connections (): { open: number, peak: number } {
    return { ...this.#sockets }
  }

  fail (faults: MockFault[]): void {
    this.#faults.push(...faults)
  }

  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeAllConnections()
    await closed
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const url = new URL(req.url as string, 'http://mock')
      const call: MockCall = {
        method: req.method as string,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, String(value)])),
        body: Buffer.concat(chunks).toString('utf8')
      }
      this.calls.push(call)
      const index = this.#faults.findIndex((f) => f.path === undefined || f.path === call.path)
      const fault = index === -1 ? undefined : this.#faults.splice(index, 1)[0]
      const answer = (): void => { this.#answer(call, fault, res) }
      const later = (): void => {
        if (fault?.delay !== undefined) setTimeout(answer, fault.delay).unref()
        else answer()
      }
      if (fault?.until !== undefined) Promise.resolve(fault.until).then(later, later)
      else later()
    })
  }

  #answer (call: MockCall, fault: MockFault | undefined, res: ServerResponse): void {
    if (res.destroyed) return
    if (fault?.destroy === true) {
      res.socket?.destroy()
      return
    }
    if (fault?.errcode !== undefined) return this.#errcode(res, fault.errcode, fault.errmsg)
    if (fault?.status !== undefined || fault?.body !== undefined) {
      const body = Buffer.from(fault.body ?? '')
      res.writeHead(fault.status ?? 200, { ...fault.headers, 'content-type': fault.contentType ?? 'text/plain', 'content-length': String(body.length) })
      if (fault.cut === true) {
        res.write(body.subarray(0, body.length >> 1), () => { res.socket?.destroy() })
        return
      }
      res.end(body)
      return
    }
    const endpoint = this.#routes.get(`${call.method} ${call.path}`)
    if (endpoint !== undefined) return endpoint.handle(this.#state, call, res, fault?.security)
    res.writeHead(404, { 'content-type': 'text/html' })
    res.end('<html><body>404 Not Found</body></html>')
  }
}
