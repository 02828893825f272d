// npm run bench:versus: this build beside another one, on the same loads, in one run. Two bench
// servers (bench/server.js), one of each build, take turns (baseline, this, baseline, this ...)
// on the same mock WeChat API, so both see the same machine; each round gives a paired ratio.
//
// BASELINE: the other build's dist/index.js (`git worktree add /tmp/before <commit>`, build it
// there). VERSUS: the loads, comma-separated (default login,cold; see bench/loads.js).
// VERSUS_ROUNDS (default 7), VERSUS_DURATION (s a run, default 3), VERSUS_CONNECTIONS (default 50).
import { resolve } from 'node:path'
import autocannon from 'autocannon'
import { generateKey } from 'fastify-weapp'
import { NEEDS_REDIS, loadOf } from './loads.js'
import { NO_REDIS, runThenStop, serverEnv, startMock, startRedis, startServer } from './processes.js'

if (!process.env.BASELINE) throw new Error('BASELINE=<another build\'s dist/index.js>: the build to compare this one with')
const BASELINE = resolve(process.env.BASELINE)
const LOADS = (process.env.VERSUS ?? 'login,cold').split(',')
const ROUNDS = Number(process.env.VERSUS_ROUNDS ?? 7)
const DURATION = Number(process.env.VERSUS_DURATION ?? 3)
const CONNECTIONS = Number(process.env.VERSUS_CONNECTIONS ?? 50)
const log = (...args) => console.error(...args)

const key = generateKey()
const mock = await startMock({ ahead: 12_000 * DURATION })
const redis = LOADS.some((l) => NEEDS_REDIS.includes(l)) ? await startRedis() : undefined
if (LOADS.some((l) => NEEDS_REDIS.includes(l)) && redis === undefined) throw new Error(NO_REDIS)
const env = serverEnv({ mock, key, redis })
const builds = [
  { name: 'baseline', server: await startServer({ ...env, WEAPP_BUILD: BASELINE }) },
  { name: 'this build', server: await startServer(env) }
]
await runThenStop(main, async () => { await Promise.all(builds.map(async (b) => { await b.server.stop() })); redis?.stop(); mock.stop() })

async function main () {
  log(`this build against ${BASELINE}: ${LOADS.join(', ')}; ${DURATION} s x ${ROUNDS} rounds each, ${CONNECTIONS} connections`)
  const lines = [
    '| load | this build req/s | baseline req/s | ratio (median of rounds) | spread | CPU µs/req, this build (baseline) | CPU ratio |',
    '|---|---:|---:|---:|---:|---:|---:|'
  ]
  for (const name of LOADS) {
    const request = await loadOf(name, { mock, key, seconds: 2 * ROUNDS * DURATION, log })
    const runs = builds.map(() => ({ rps: [], cpu: [] }))
    const run = async (build, seconds) => {
      await request.feed?.fill()
      const before = await cpu(build.server.url)
      const r = await autocannon({ url: build.server.url + request.path, connections: CONNECTIONS, duration: seconds, requests: [request] })
      const after = await cpu(build.server.url)
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name} on ${build.name}: ${r.non2xx} non-2xx, ${r.errors} errors`)
      return { rps: r.requests.average, cpu: (after - before) / r.requests.total }
    }
    for (const build of builds) await run(build, 1) // warm-up, not counted
    for (let i = 0; i < ROUNDS; i++) {
      for (const [j, build] of builds.entries()) {
        const r = await run(build, DURATION)
        runs[j].rps.push(r.rps)
        runs[j].cpu.push(r.cpu)
      }
      log(`  ${name} round ${i + 1}: baseline ${Math.round(runs[0].rps[i])} req/s ${runs[0].cpu[i].toFixed(1)} µs/req, this build ${Math.round(runs[1].rps[i])} req/s ${runs[1].cpu[i].toFixed(1)} µs/req`)
    }
    const ratios = runs[1].rps.map((rps, i) => rps / runs[0].rps[i])
    const cpuRatios = runs[0].cpu.map((c, i) => c / runs[1].cpu[i])
    lines.push(`| ${name} | ${fmt(median(runs[1].rps))} | ${fmt(median(runs[0].rps))} | ${median(ratios).toFixed(2)}x | ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} | ${median(runs[1].cpu).toFixed(1)} (${median(runs[0].cpu).toFixed(1)}) | ${median(cpuRatios).toFixed(2)}x |`)
  }
  lines.push('', 'ratio: this build\'s req/s over the baseline\'s run just before it, median of the rounds; CPU ratio: the baseline\'s server CPU per request over this build\'s.')
  console.log(lines.join('\n'))
}

async function cpu (url) {
  return (await (await fetch(`${url}/__cpu`)).json()).cpu
}

function fmt (n) {
  return Math.round(n).toLocaleString('en-US')
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}
