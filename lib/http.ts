import { Pool } from 'undici'

/** What one upstream call answered: its status, and its body text (undefined when over the cap). */
export interface HttpAnswer { status: number, text: string | undefined }

/**
 * The plugin's HTTP client for its upstreams: one keep-alive undici `Pool` per origin, at most
 * `connections` sockets each. A call past the bound waits in the pool's queue, under its own
 * `signal` (the caller's timeout counts from when it asked, queue included). Nothing is retried.
 */
export interface Http {
  request (url: string, init: { method: string, headers?: Record<string, string>, body?: string }, signal: AbortSignal, maxBytes: number): Promise<HttpAnswer>
  close (): Promise<void>
}

export const DEFAULT_UPSTREAM_CONNECTIONS = 32

export function createHttp (connections: number = DEFAULT_UPSTREAM_CONNECTIONS): Http {
  const pools = new Map<string, Pool>()
  return {
    async request (url, { method, headers, body }, signal, maxBytes) {
      const { origin, pathname, search } = new URL(url)
      let pool = pools.get(origin)
      if (pool === undefined) {
        pool = new Pool(origin, { connections })
        pools.set(origin, pool)
      }
      const res = await pool.request({ path: `${pathname}${search}`, method: method as 'GET', headers, body, signal })
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body) {
        size += (chunk as Buffer).byteLength
        if (size > maxBytes) {
          res.body.destroy()
          return { status: res.statusCode, text: undefined }
        }
        chunks.push(chunk as Buffer)
      }
      return { status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }
    },
    async close () {
      await Promise.all([...pools.values()].map(async (pool) => { await pool.close() }))
      pools.clear()
    }
  }
}
