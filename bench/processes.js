// The processes a bench starts, shared by `npm run bench` (run.js) and `npm run bench:profile`
// (profile.js): the mock WeChat API (bench/mock.js), a redis-server where installed, and the
// server under test (bench/server.js). Each dies with the bench: the mock when its IPC channel
// closes, the others by `stop()` (also on Ctrl-C).
import { fork, spawn, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'

/**
 * The mock in its own process, so that answering jscode2session competes neither with the server
 * under test nor with the load generator. `codeFeed` hands out its login codes, fetched in
 * batches of `ahead` over IPC; `ask` gets any other answer (encrypted data).
 */
export async function startMock ({ ahead }) {
  const child = fork(new URL('./mock.js', import.meta.url).pathname, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const mock = await new Promise((resolve, reject) => {
    child.once('message', (message) => resolve(message.ready))
    child.once('exit', (code) => reject(new Error(`the bench's mock exited with ${code}`)))
  })
  const answers = new Map()
  let asked = 0
  child.on('message', ({ id, value }) => { answers.get(id)?.(value); answers.delete(id) })
  const ask = (message) => new Promise((resolve) => { const id = asked++; answers.set(id, resolve); child.send({ id, ...message }) })

  /**
   * Login codes of the users `${prefix}${n}` (n counting up, modulo `users` where given):
   * `fill(n)` waits until n are at hand (before each run), `next()` hands one out at once and asks
   * for more in the background when a quarter of `ahead` is left.
   */
  function codeFeed (prefix, users) {
    const batches = []
    let at = 0
    let left = 0
    let from = 0
    let pending
    const more = () => {
      if (pending === undefined) {
        pending = ask({ codes: { prefix, from, count: ahead, users } }).then((codes) => { batches.push(codes); left += codes.length; pending = undefined })
        from += ahead
      }
      return pending
    }
    const fill = async (n = ahead) => { if (left < n) { await more(); await fill(n) } }
    return {
      fill,
      next () {
        if (left < ahead / 4) more()
        if (left === 0) throw new Error('the mock fell behind the load: keep more codes ahead')
        const code = batches[0][at++]
        if (at === batches[0].length) { batches.shift(); at = 0 }
        left--
        return code
      }
    }
  }

  return { ...mock, ask, codeFeed, stop: () => { child.disconnect() } }
}

/** A real redis-server on a free loopback port, without persistence; undefined where none is installed. */
export async function startRedis () {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  } catch {
    return undefined
  }
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  await waitForPort(port)
  return { port, stop: () => { child.kill() } }
}

export const NO_REDIS = 'redis-server is not installed (apt-get install redis-server): the Redis rows are skipped'

/** bench/server.js with `env` (and Node's `flags`); resolves with its address once it listens. */
export async function startServer (env, flags = []) {
  const child = spawn(process.execPath, [...flags, new URL('./server.js', import.meta.url).pathname], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const url = await new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve(chunk.toString().trim()))
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)))
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return { url, stop: async () => { child.kill('SIGTERM'); await exited } }
}

/**
 * The bench server's environment: the mock's app, the sealing key, fresh secrets for the peers
 * (@fastify/jwt, @fastify/secure-session), Redis where one runs, and `more`.
 */
export function serverEnv ({ mock, key, redis }, more = {}) {
  const secret = () => randomBytes(32).toString('base64url')
  return { APP_ID: mock.appId, APP_SECRET: mock.appSecret, KEY: key, API: mock.url, JWT_SECRET: secret(), COOKIE_KEY: secret(), ...(redis ? { REDIS_PORT: String(redis.port) } : {}), ...more }
}

/** Runs `main`, then `stop` however it ends (an error, Ctrl-C, a SIGTERM). */
export async function runThenStop (main, stop) {
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { Promise.resolve(stop()).finally(() => process.exit(130)) })
  try {
    await main()
  } finally {
    await stop()
  }
}

async function freePort () {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

async function waitForPort (port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const socket = createServer().listen(port, '127.0.0.1', () => { socket.close(() => resolve(false)) }).on('error', () => resolve(true))
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('redis-server did not start')
}
