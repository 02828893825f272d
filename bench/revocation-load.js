// npm run bench:revocations: what a large revocation set costs an instance. A real redis-server is
// filled with N session entries; then, for each build, an instance registers (loading the set:
// its time, and the longest the event loop stalled meanwhile), its subscription is killed (the
// reload or catch-up after a reconnect: the longest stall in the 8 s after), and the heap the
// entries hold is read (run with --expose-gc, as the npm script does, for a stable figure).
//
// Then the catch-up: an instance starts on an empty set, N entries appear behind its back (never
// published, as when pub/sub lost them: written aside, then RENAMEd in), its subscription is
// killed, and the time until a catch-up has read them all is taken, with the longest stall
// meanwhile. Registration runs under Fastify's default pluginTimeout (10 s): a registration that
// fails is reported with its message, and measured again with pluginTimeout raised to 300 s.
// REVOCATION_WITH_USERS=0 leaves out the row of entries that carry their user.
//
// BASELINE=<path to another build's dist/index.js> measures that build too, in the same run.
// REVOCATION_SIZES (default '150000,600000'), REVOCATION_SETTLE (ms watched after the reconnect, default 8000).
import { spawn, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import Fastify from 'fastify'
import { Redis } from 'ioredis'

const SIZES = (process.env.REVOCATION_SIZES ?? '150000,600000').split(',').map(Number)
const SETTLE = Number(process.env.REVOCATION_SETTLE ?? 8000)
const port = await new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) }) })
execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
process.on('exit', () => server.kill('SIGKILL'))
const admin = new Redis({ port, host: '127.0.0.1' })
admin.on('error', () => {})
for (let i = 0; i < 100; i++) { try { await admin.ping(); break } catch { await new Promise((resolve) => setTimeout(resolve, 100)) } }

/** N session entries: as 0.1 wrote them (`["s", jti]`, which both builds read), or as this one does (with user and login time). */
async function fill (n, current) {
  await admin.del('bench:revoked')
  const now = Date.now()
  for (let i = 0; i < n; i += 10_000) {
    const args = []
    for (let j = i; j < Math.min(n, i + 10_000); j++) {
      const jti = randomBytes(16).toString('base64url')
      args.push(now + 86400_000, JSON.stringify(current ? ['s', jti, JSON.stringify(['wx0123456789abcdef', `o-${j}`]), now - 1000] : ['s', jti]))
    }
    await admin.zadd('bench:revoked', ...args)
  }
}

const gc = globalThis.gc ?? (() => {})

const MAX_AGE = 30 * 86400_000 // the plugin's default maxAge

/** An instance whose log lines are kept, with when they came. */
function instance (pluginTimeout) {
  const app = Fastify(pluginTimeout === undefined ? {} : { pluginTimeout })
  return { app }
}
const options = (client) => ({ appId: 'wx0123456789abcdef', appSecret: 'bench-secret-0123456789', key: randomBytes(32).toString('base64url'), timeout: 60_000, revocation: { redis: client, prefix: 'bench:' } })

async function measure (plugin, n, pluginTimeout) {
  gc()
  const heapBefore = process.memoryUsage().heapUsed
  const client = new Redis({ port, host: '127.0.0.1' })
  client.on('error', () => {})
  const { app } = instance(pluginTimeout)
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const started = performance.now()
  try {
    await app.register(plugin, options(client))
    await app.ready()
  } catch (err) {
    loop.disable()
    client.disconnect()
    await app.close().catch(() => {})
    return { load: performance.now() - started, loadStall: loop.max / 1e6, failed: String(err.message).slice(0, 160) }
  }
  const load = performance.now() - started
  loop.disable()
  const loadStall = loop.max / 1e6
  gc()
  const heap = process.memoryUsage().heapUsed - heapBefore
  // The subscription drops: what each build does after the reconnect, and how long it stalls.
  const after = monitorEventLoopDelay({ resolution: 10 })
  after.enable()
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await new Promise((resolve) => setTimeout(resolve, SETTLE))
  after.disable()
  await app.close()
  client.disconnect()
  return { load, loadStall, reconnectStall: after.max / 1e6, bytesPerEntry: heap / n }
}

/** N entries that were never published, written after the instance started: how long its catch-up takes. */
async function catchUp (plugin, n) {
  await admin.del('bench:revoked', 'bench:aside')
  const client = new Redis({ port, host: '127.0.0.1' })
  client.on('error', () => {})
  // What the instance's catch-ups read: done once one has read all N and come to its last page.
  const seen = { read: 0, done: undefined }
  const watched = new Proxy(client, {
    get (target, prop) {
      if (prop === 'zrangebyscore') {
        return async (...args) => {
          const out = await target.zrangebyscore(...args)
          seen.read += out.length / 2
          if (seen.done === undefined && seen.read >= n && out.length < 2 * Number(args.at(-1))) seen.done = performance.now()
          return out
        }
      }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const { app } = instance()
  await app.register(plugin, options(watched))
  await app.ready()
  const now = Date.now()
  for (let i = 0; i < n; i += 10_000) {
    const args = []
    // Scored as made from now on: twenty to a millisecond (equal scores, as a busy fleet makes).
    for (let j = i; j < Math.min(n, i + 10_000); j++) args.push(now + MAX_AGE + Math.floor(j / 20), JSON.stringify(['s', randomBytes(16).toString('base64url')]))
    await admin.zadd('bench:aside', ...args)
  }
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  await admin.rename('bench:aside', 'bench:revoked')
  seen.read = 0
  const started = performance.now()
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  while (seen.done === undefined && performance.now() - started < 300_000) await new Promise((resolve) => setTimeout(resolve, 20))
  const done = seen.done
  loop.disable()
  await app.close()
  client.disconnect()
  return { catchUp: done === undefined ? undefined : done - started, catchUpStall: loop.max / 1e6 }
}

const builds = [['this build', (await import('fastify-weapp')).default]]
if (process.env.BASELINE) builds.unshift(['baseline', (await import(process.env.BASELINE)).default])
const rows = []
const catchUps = []
for (const n of SIZES) {
  await fill(n, false)
  for (const [label, plugin] of builds) {
    const row = { n, label, ...await measure(plugin, n) }
    rows.push(row)
    if (row.failed !== undefined) rows.push({ n, label: `${label}, pluginTimeout 300 s`, ...await measure(plugin, n, 300_000) })
  }
  if (process.env.REVOCATION_WITH_USERS !== '0') {
    await fill(n, true)
    rows.push({ n, label: 'this build, entries with their user (one per user)', ...await measure(builds.at(-1)[1], n) })
  }
  for (const [label, plugin] of builds) catchUps.push({ n, label, ...await catchUp(plugin, n) })
}
admin.disconnect()
const s = (ms) => `${(ms / 1000).toFixed(2)} s`
console.log('\n| entries | build | registration load | longest stall while loading | longest stall after a reconnect | heap per entry |')
console.log('|---|---|---|---|---|---|')
for (const r of rows) {
  if (r.failed !== undefined) console.log(`| ${r.n.toLocaleString('en')} | ${r.label} | failed after ${s(r.load)}: ${r.failed} | ${r.loadStall.toFixed(0)} ms | | |`)
  else console.log(`| ${r.n.toLocaleString('en')} | ${r.label} | ${s(r.load)} | ${r.loadStall.toFixed(0)} ms | ${r.reconnectStall.toFixed(0)} ms | ${r.bytesPerEntry.toFixed(0)} B |`)
}
console.log('\n| entries never published | build | catch-up after a reconnect | longest stall meanwhile |')
console.log('|---|---|---|---|')
for (const r of catchUps) console.log(`| ${r.n.toLocaleString('en')} | ${r.label} | ${r.catchUp === undefined ? 'not within 300 s' : s(r.catchUp)} | ${r.catchUpStall.toFixed(0)} ms |`)
process.exit(0)
