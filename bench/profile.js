// npm run bench:profile: where the server's time goes under one bench load. It starts the same
// processes as `npm run bench` (the server, the mock WeChat API in its own process, redis-server
// where installed), warms the path up, then records a CPU profile of the server (V8's sampling
// profiler, through node:inspector, for the loaded seconds only) and prints the functions that
// cost the most. With PROFILE_SVG=<file> it also draws the flame graph (see bench/flame.js);
// with PROFILE_OUT=<file> it keeps the .cpuprofile (Chrome DevTools and speedscope open it).
//
// PROFILE: the load, one of login (default), relay, seed-redis, seed-map, cold (the authenticated
// route, a session new to the process each request), bare, devices (logins with maxSessions 3 in
// Redis, most evicting one) and revocation (the same logins, revocation alone). PROFILE_PATH sends the load's requests
// to another path (PROFILE=cold PROFILE_PATH=/bare: the cold row's baseline). PROFILE_SECONDS
// (default 10), PROFILE_CONNECTIONS (default 50), PROFILE_TITLE (the graph's title).
import { writeFile } from 'node:fs/promises'
import autocannon from 'autocannon'
import { generateKey } from 'fastify-weapp'
import { flameGraph, summarize } from './flame.js'
import { NEEDS_REDIS, loadOf } from './loads.js'
import { NO_REDIS, runThenStop, serverEnv, startMock, startRedis, startServer } from './processes.js'

const LOAD = process.env.PROFILE ?? 'login'
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.PROFILE_CONNECTIONS ?? 50)
const log = (...args) => console.error(...args)

const key = generateKey()
const mock = await startMock({ ahead: 12_000 * (SECONDS + 2) })
const redis = NEEDS_REDIS.includes(LOAD) ? await startRedis() : undefined
if (NEEDS_REDIS.includes(LOAD) && redis === undefined) throw new Error(NO_REDIS)
const server = await startServer(serverEnv({ mock, key, redis }))
await runThenStop(main, async () => { await server.stop(); redis?.stop(); mock.stop() })

async function main () {
  const request = await loadOf(LOAD, { mock, key, seconds: SECONDS, log })
  if (process.env.PROFILE_PATH) request.path = process.env.PROFILE_PATH
  log(`profiling ${LOAD}: ${SECONDS} s, ${CONNECTIONS} connections (after 2 s of warm-up)`)
  await request.feed?.fill()
  await autocannon({ url: server.url + request.path, connections: CONNECTIONS, duration: 2, requests: [request] })
  await request.feed?.fill()
  await fetch(`${server.url}/__profile/start`, { method: 'POST' })
  const result = await autocannon({ url: server.url + request.path, connections: CONNECTIONS, duration: SECONDS, requests: [request] })
  const profile = await (await fetch(`${server.url}/__profile/stop`, { method: 'POST' })).json()
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors: the profile would not show the path`)
  console.log(`${LOAD}: ${Math.round(result.requests.average)} req/s under the profiler\n`)
  console.log(summarize(profile))
  if (process.env.PROFILE_OUT) await writeFile(process.env.PROFILE_OUT, JSON.stringify(profile))
  if (process.env.PROFILE_SVG) {
    await writeFile(process.env.PROFILE_SVG, flameGraph(profile, { title: process.env.PROFILE_TITLE ?? `${LOAD}: ${SECONDS} s under load` }))
    log(`flame graph: ${process.env.PROFILE_SVG}`)
  }
}
