import { Pool } from 'undici'

/** What one upstream call answered: its status, and its body text (undefined when over `MAX_ANSWER_BYTES`). */
export interface HttpAnswer { status: number, text: string | undefined }

/**
 * The plugin's HTTP client for its upstreams: one keep-alive undici `Pool` per origin, at most
 * `connections` sockets each. A call past the bound waits in the pool's queue, under its own
 * `signal` (the caller's timeout counts from when it asked, queue included). Nothing is retried.
 */
export interface Http {
  request (url: string, init: { method: string, headers?: Record<string, string>, body?: string }, signal: AbortSignal): Promise<HttpAnswer>
  close (): Promise<void>
}

export const DEFAULT_UPSTREAM_CONNECTIONS = 32

/**
 * The largest answer read (every WeChat answer is a few hundred bytes): undici stops reading past
 * it and drops that connection.
 */
export const MAX_ANSWER_BYTES = 64 * 1024

export function createHttp (connections: number = DEFAULT_UPSTREAM_CONNECTIONS): Http {
  const pools = new Map<string, Pool>()
  return {
    async request (url, { method, headers, body }, signal) {
      // The plugin's own URLs: an origin, then a path from its first '/'.
      const slash = url.indexOf('/', url.indexOf('//') + 2)
      const origin = url.slice(0, slash)
      let pool = pools.get(origin)
      if (pool === undefined) {
        pool = new Pool(origin, { connections, maxResponseSize: MAX_ANSWER_BYTES })
        pools.set(origin, pool)
      }
      const res = await pool.request({ path: url.slice(slash), method: method as 'GET', headers, body, signal })
      try {
        return { status: res.statusCode, text: await res.body.text() }
      } catch (err) {
        if ((err as { code?: unknown }).code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return { status: res.statusCode, text: undefined }
        throw err
      }
    },
    async close () {
      await Promise.all([...pools.values()].map(async (pool) => { await pool.close() }))
      pools.clear()
    }
  }
}
