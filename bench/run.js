// npm run bench: fastify-weapp's hot paths side by side with bare Fastify and with the peers, in one
// run, on loopback. Each scenario alternates with its baseline (B S B S ...) so that both see the
// same machine; each round gives a paired ratio (the scenario over the baseline run just before
// it), and the table reports the median of those ratios with their spread, beside the median req/s.
//
// BENCH_DURATION (s per run, default 3), BENCH_ROUNDS (runs of each, default 3),
// BENCH_CONNECTIONS (default 50), BENCH_CACHE (the plugin's sessionCacheSize, default 10000),
// BENCH_COLD (sessions sealed for the cold rows, default 400000), BENCH_ONLY (a regular
// expression: only the rows whose names match), BENCH_SMOKE=1 (a few-second run that only shows
// the script still works and prints every row: npm test runs it; its numbers mean nothing).
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import fastifyWeapp, { generateKey } from 'fastify-weapp'
import { benchApps, benchIdentity } from './apps.js'
import { NO_REDIS, runThenStop, serverEnv, startMock, startRedis, startServer } from './processes.js'

const SMOKE = process.env.BENCH_SMOKE === '1'
const DURATION = Number(process.env.BENCH_DURATION ?? 3)
const ROUNDS = SMOKE ? 1 : Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = SMOKE ? 10 : Number(process.env.BENCH_CONNECTIONS ?? 50)
const CACHE = SMOKE ? 500 : Number(process.env.BENCH_CACHE ?? 10000)
const log = (...args) => console.error(...args)
/** Login codes kept at hand for the login rows (more than a run of DURATION seconds uses). */
const CODES_AHEAD = SMOKE ? 500 : 12_000 * DURATION

const key = generateKey()
const jwtSecret = randomBytes(32).toString('base64url')
const mock = await startMock({ ahead: CODES_AHEAD })
const redis = await startRedis()
const redisNote = redis ? '' : NO_REDIS
const server = await startServer(serverEnv({ mock, key, redis }, { CACHE_SIZE: String(CACHE), JWT_SECRET: jwtSecret }), ['--expose-gc'])
const base = server.url
await runThenStop(main, async () => { await server.stop(); redis?.stop(); mock.stop() })

async function main () {
  log(`fastify-weapp bench: ${os.cpus().length} cores, Node ${process.version}, ${SMOKE ? 'smoke: 200 requests' : `${DURATION}s`} x ${ROUNDS} rounds per row, ${CONNECTIONS} connections, sessionCacheSize ${CACHE}`)

  // Sessions as the login route issues them.
  const benchCodes = mock.codeFeed('o-bench-', 1) // one user: o-bench-0
  await benchCodes.fill(2)
  const login = await post('/weapp/login', { code: benchCodes.next() })
  const session = login.session
  const encrypted = await mock.ask({ encrypt: { openid: 'o-bench-0', data: { stepInfoList: Array.from({ length: 5 }, (_, i) => ({ timestamp: 1700000000 + i * 86400, step: 1000 + i })) } } })

  // Cold sessions: genuine tokens sealed by the plugin with the same key, each used once, many more
  // than the memo holds.
  const coldCount = SMOKE ? 2000 : Number(process.env.BENCH_COLD ?? 400_000)
  log(`sealing ${coldCount} sessions for the cold rows...`)
  const sealer = Fastify()
  await sealer.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key })
  const cold = []
  for (let i = 0; i < coldCount; i++) cold.push(`Bearer ${await sealer.weapp.seal({ openid: `o-${i}`, sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' })}`)
  // Sessions spread over 100 apps of every kind (one registration serving them all), and as
  // many of the one app.
  const multi = Fastify()
  await multi.register(fastifyWeapp, { apps: benchApps, key })
  const spread = await Promise.all(benchApps.map(async (app, i) => `Bearer ${await (await multi.weapp.app(app.appId)).seal(benchIdentity(app, i))}`))
  const single = await Promise.all(benchApps.map(async (_, i) => `Bearer ${await sealer.weapp.seal({ openid: `o-${i}`, sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' })}`))
  await multi.close()
  // The same user's session with 200 bytes of the app's claims (what bench/server.js's onLogin seals).
  const claimsText = JSON.stringify({ userId: 1234567, roles: ['buyer', 'seller'], tenant: 't-0123456789', pad: '' })
  const claims = { userId: 1234567, roles: ['buyer', 'seller'], tenant: 't-0123456789', pad: 'x'.repeat(200 - Buffer.byteLength(claimsText)) }
  const withClaims = await sealer.weapp.seal({ openid: 'o-bench', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }, { claims })
  log(`token sizes: ${session.length} characters without claims, ${withClaims.length} with ${Buffer.byteLength(JSON.stringify(claims))} bytes of claims`)
  await sealer.close()
  let spreadCursor = 0
  let singleCursor = 0
  let coldCursor = 0
  let bareCursor = 0

  // Peers' credentials.
  const signer = Fastify()
  await signer.register(fastifyJwt, { secret: jwtSecret })
  await signer.ready()
  const jws = signer.jwt.sign({ sub: 'o-bench' })
  await signer.close()
  const cookieRes = await fetch(`${base}/peer/secure-session/login`, { method: 'POST' })
  const cookie = cookieRes.headers.get('set-cookie').split(';')[0]
  let sid = 0
  const storeIds = { setupRequest: (req) => { req.headers['x-session-id'] = `sid-${sid++ % 1000}`; return req } }

  const auth = { authorization: `Bearer ${session}` }
  const json = { 'content-type': 'application/json' }
  const body = JSON.stringify(encrypted)
  // A new user's code for every login.
  const fresh = mock.codeFeed('o-fresh-')
  const freshCode = (req) => { req.body = JSON.stringify({ code: fresh.next() }); return req }
  /** A login row: fresh codes to `run`, alternating with the same to `base`. */
  const logins = (run, base) => ({
    feed: fresh,
    run: { method: 'POST', path: run, headers: json, setupRequest: freshCode },
    base: { method: 'POST', path: base, headers: json, setupRequest: freshCode }
  })
  // 200 users logging in again and again from one of three devices: with maxSessions 3 most logins evict one.
  let returning = 0
  const devices = ['wx:ios', 'wx:android', 'wx:devtools']
  const back = mock.codeFeed('o-back-', 200)
  const returningCode = (req) => { req.body = JSON.stringify({ code: back.next(), device: devices[returning++ % 3] }); return req }
  const devSession = redis ? (await post('/dev/login', { code: benchCodes.next(), device: 'wx:ios' })).session : undefined

  const rows = [
    {
      name: 'authenticated route, one session reused',
      target: 0.85,
      run: { path: '/auth', headers: auth },
      base: { path: '/bare', headers: auth }
    },
    {
      name: `authenticated route, cold sessions (each new, ${coldCount} > cache ${CACHE})`,
      target: 0.7,
      run: { path: '/auth', setupRequest: (req) => { req.headers.authorization = cold[coldCursor++ % cold.length]; return req } },
      base: { path: '/bare', setupRequest: (req) => { req.headers.authorization = cold[bareCursor++ % cold.length]; return req } }
    },
    {
      name: 'authenticated route, 100 apps of every kind in one registration, sessions spread over them',
      target: 0.95,
      baseName: 'the same route, one app, 100 sessions',
      run: { path: '/multi-auth', setupRequest: (req) => { req.headers.authorization = spread[spreadCursor++ % spread.length]; return req } },
      base: { path: '/auth', setupRequest: (req) => { req.headers.authorization = single[singleCursor++ % single.length]; return req } }
    },
    {
      name: 'authenticated route, revocation on (Redis, 1000 revoked users)',
      target: 0.95,
      skip: redis ? undefined : redisNote,
      baseName: 'the same route, revocation off',
      run: { path: '/rev-auth', headers: auth },
      base: { path: '/auth', headers: auth }
    },
    {
      name: 'login route, maxSessions 3 (Redis; 200 users, most logins evict one)',
      target: 0.9,
      skip: redis ? undefined : redisNote,
      baseName: 'the same logins, revocation alone (Redis)',
      feed: back,
      run: { method: 'POST', path: '/dev/login', headers: json, setupRequest: returningCode },
      base: { method: 'POST', path: '/rev/login', headers: json, setupRequest: returningCode }
    },
    {
      name: 'authenticated route, maxSessions 3 (Redis)',
      target: 0.95,
      skip: redis ? undefined : redisNote,
      baseName: 'the same route, revocation alone',
      run: { path: '/dev-auth', headers: { authorization: `Bearer ${devSession}` } },
      base: { path: '/rev-auth', headers: auth }
    },
    {
      name: 'authenticated route, a session with 200 bytes of claims',
      target: 0.95,
      baseName: 'the same route, a session without claims',
      run: { path: '/auth', headers: { authorization: `Bearer ${withClaims}` } },
      base: { path: '/auth', headers: auth }
    },
    {
      name: 'authenticated route, renewal on (renewWithin; no request renews)',
      target: 0.95,
      baseName: 'the same route, renewal off',
      run: { path: '/renew-auth', headers: auth },
      base: { path: '/auth', headers: auth }
    },
    {
      name: 'for scale: jose jwtDecrypt on every request (no memo, no fast path), cold sessions',
      run: { path: '/jose-only', setupRequest: (req) => { req.headers.authorization = cold[coldCursor++ % cold.length]; return req } },
      base: { path: '/bare', setupRequest: (req) => { req.headers.authorization = cold[bareCursor++ % cold.length]; return req } }
    },
    {
      name: 'decrypt route',
      target: 0.7,
      run: { method: 'POST', path: '/weapp/decrypt', headers: { ...auth, ...json }, body },
      base: { method: 'POST', path: '/bare-post', headers: { ...auth, ...json }, body }
    },
    {
      name: 'login route (upstream: the mock WeChat API, in its own process)',
      target: 0.9,
      ...logins('/weapp/login', '/relay')
    },
    {
      name: 'login route, against the seed design by hand (3rd_session in Redis)',
      target: 1,
      skip: redis ? undefined : redisNote,
      baseName: 'hand-written login: the same call, a random 3rd_session, SET ... EX in Redis',
      ...logins('/weapp/login', '/peer/seed-redis/login')
    },
    {
      name: 'login route, against the seed design by hand (3rd_session in a Map)',
      target: 0.85,
      baseName: 'hand-written login: the same call, a random 3rd_session in an in-process Map',
      ...logins('/weapp/login', '/peer/seed-map/login')
    },
    {
      name: 'login route, onLogin returning 200 bytes of claims at once',
      target: 0.95,
      baseName: 'the same login route, no onLogin',
      ...logins('/claims/login', '/weapp/login')
    },
    {
      name: 'peer: random id -> session in an in-process Map',
      peer: true,
      run: { path: '/peer/map', ...storeIds },
      base: { path: '/bare', ...storeIds }
    },
    {
      name: 'peer: random id -> session in redis-server (ioredis)',
      peer: true,
      skip: redis ? undefined : redisNote,
      run: { path: '/peer/redis', ...storeIds },
      base: { path: '/bare', ...storeIds }
    },
    {
      name: 'peer: @fastify/jwt HS256 verify',
      peer: true,
      run: { path: '/peer/jwt', headers: { authorization: `Bearer ${jws}` } },
      base: { path: '/bare', headers: { authorization: `Bearer ${jws}` } }
    },
    {
      name: 'peer: @fastify/secure-session cookie',
      peer: true,
      run: { path: '/peer/secure-session', headers: { cookie } },
      base: { path: '/bare', headers: { cookie } }
    }
  ]

  // Memory first, on a fresh server with an empty memo: a flood of distinct sessions, twice what
  // the memo holds (the cold rows then start where the flood stopped, so theirs are new too).
  const flood = 2 * CACHE
  await load({ path: '/bare' }, { duration: 1 })
  const before = await stats()
  await load({ path: '/auth', setupRequest: (req) => { req.headers.authorization = cold[coldCursor++ % cold.length]; return req } }, { amount: flood })
  const after = await stats()
  bareCursor = coldCursor

  const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : undefined
  const results = []
  for (const row of rows.filter((r) => only === undefined || only.test(r.name))) {
    if (row.skip) {
      results.push({ ...row })
      log(`- ${row.name}: skipped`)
      continue
    }
    log(`- ${row.name}`)
    const runs = { run: [], base: [], ratio: [], cpu: { run: [], base: [] }, user: { run: [], base: [] }, cpuRatio: [], userRatio: [] }
    const problems = []
    if (!SMOKE) {
      for (const which of ['base', 'run']) { // warm-up, not counted
        await row.feed?.fill()
        await load(row[which], { duration: 1 })
      }
    }
    for (let i = 0; i < ROUNDS; i++) {
      for (const which of ['base', 'run']) {
        await row.feed?.fill()
        const cpuBefore = await cpu()
        const r = await load(row[which])
        const cpuAfter = await cpu()
        if (r.non2xx > 0 || r.errors > 0) problems.push(`${which}: ${r.non2xx} non-2xx, ${r.errors} errors`)
        runs[which].push(r.requests.average)
        runs.cpu[which].push((cpuAfter.cpu - cpuBefore.cpu) / r.requests.total)
        runs.user[which].push((cpuAfter.user - cpuBefore.user) / r.requests.total)
      }
      runs.ratio.push(runs.run[i] / runs.base[i])
      runs.cpuRatio.push(runs.cpu.base[i] / runs.cpu.run[i])
      runs.userRatio.push(runs.user.base[i] / runs.user.run[i])
      log(`    round ${i + 1}: baseline ${Math.round(runs.base[i])} req/s ${runs.cpu.base[i].toFixed(1)} µs/req (user ${runs.user.base[i].toFixed(1)}), scenario ${Math.round(runs.run[i])} req/s ${runs.cpu.run[i].toFixed(1)} µs/req (user ${runs.user.run[i].toFixed(1)}), ratio ${runs.ratio[i].toFixed(2)}, CPU ratio ${runs.cpuRatio[i].toFixed(2)}, user CPU ratio ${runs.userRatio[i].toFixed(2)}`)
    }
    results.push({
      ...row,
      rps: median(runs.run),
      baseRps: median(runs.base),
      ratio: median(runs.ratio),
      spread: [Math.min(...runs.ratio), Math.max(...runs.ratio)],
      cpuRun: median(runs.cpu.run),
      cpuBase: median(runs.cpu.base),
      cpuRatio: median(runs.cpuRatio),
      problems
    })
  }

  printTable(results, { flood, rss: (after.rss - before.rss) / 2 ** 20, heap: (after.heapUsed - before.heapUsed) / 2 ** 20 })
}

function printTable (results, memory) {
  const fmt = (n) => Math.round(n).toLocaleString('en-US')
  const lines = [
    '',
    '| scenario | req/s | baseline | baseline req/s | ratio (median of rounds) | spread | CPU µs/req (baseline) | CPU ratio | target |',
    '|---|---:|---|---:|---:|---:|---:|---:|---|'
  ]
  for (const r of results) {
    if (r.skip) { lines.push(`| ${r.name} | — | — | — | skipped | | | | ${r.skip} |`); continue }
    const baseName = r.baseName ?? (r.base.path === '/relay' ? 'relay (same upstream call)' : `bare ${r.base.method ?? 'GET'}, same headers${r.base.body ? ' and body' : ''}`)
    const target = r.target ? `>= ${r.target}x ${r.ratio >= r.target ? 'met' : 'MISSED'}` : ''
    lines.push(`| ${r.name} | ${fmt(r.rps)} | ${baseName} | ${fmt(r.baseRps)} | ${r.ratio.toFixed(2)}x | ${r.spread[0].toFixed(2)}–${r.spread[1].toFixed(2)} | ${r.cpuRun.toFixed(1)} (${r.cpuBase.toFixed(1)}) | ${r.cpuRatio.toFixed(2)}x | ${target}${r.problems.length ? ` (${r.problems.join('; ')})` : ''} |`)
  }
  lines.push('', 'ratio: scenario req/s over the baseline run just before it, median of the rounds (spread: lowest and highest round).',
    'CPU ratio: the baseline\'s CPU time per request over the scenario\'s, read from the server process; it leaves out time the host gave to others.')
  lines.push('', `Memory: ${memory.flood.toLocaleString('en-US')} distinct sessions (2x sessionCacheSize) sent to a fresh server grew the server's RSS by ${memory.rss.toFixed(1)} MB and its live heap by ${memory.heap.toFixed(1)} MB, both read after a full GC (target: RSS < 64 MB).`)
  if (SMOKE) lines.push('', '(smoke run: a few seconds to show the script works; these numbers mean nothing)')
  console.log(lines.join('\n'))
}

async function load (request, extra = {}) {
  const { path, ...rest } = request
  // The smoke run counts requests instead of seconds (autocannon still takes a second a run).
  const span = SMOKE && extra.amount === undefined ? { amount: 200 } : { duration: DURATION, ...extra }
  return await autocannon({ url: base + path, connections: CONNECTIONS, ...span, requests: [{ method: 'GET', ...rest }] })
}

async function post (path, data) {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(data) })
  return await res.json()
}

async function cpu () {
  return await (await fetch(`${base}/__cpu`)).json()
}

async function stats () {
  return await (await fetch(`${base}/__stats`)).json()
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}
