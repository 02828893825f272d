// npm run bench:fairness: app B's login while app A floods the login route with junk codes, the
// upstream answering every call in 250 ms (as a slow WeChat would), with the default pool (32
// sockets per origin) and timeout (5 s). Each row runs B's login alone, then again during A's flood.
//
// BASELINE=<path to another build's dist/index.js> runs the same rows against that build too, in
// the same run (the figures side by side): `git worktree add /tmp/before <commit>`, build it there,
// and point BASELINE at /tmp/before/dist/index.js.
// FAIRNESS_FLOOD (junk logins of A, default 1200), FAIRNESS_DELAY (ms per upstream answer, default 250).
//
// Then app B's login rate while app A's upstream is in trouble: B logs in from FAIRNESS_B loops
// (default 8) at once, each as soon as its last login is answered, B's upstream answering at once;
// first alone for FAIRNESS_SECONDS (default 3), then for FAIRNESS_TROUBLE_SECONDS (default 8, more
// than the 5 s timeout) while FAIRNESS_A loops (default 64) of app A log in against an upstream
// that answers A in 1.5 s (slow) or never (hang). Pool sizes FAIRNESS_POOLS (default 8,32).
import { createServer } from 'node:http'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'

const FLOOD = Number(process.env.FAIRNESS_FLOOD ?? 1200)
const DELAY = Number(process.env.FAIRNESS_DELAY ?? 250)
const A = 'wxaaaaaaaaaaaaaaaa'
const B = 'wxbbbbbbbbbbbbbbbb'

// The upstream: jscode2session after DELAY ms; codes starting 'junk' are invalid (40029). During a
// trouble row, app A's calls answer in 1.5 s or hang; B's answer at once.
let trouble
const hanging = new Set()
const upstream = createServer((req, res) => {
  const query = new URL(req.url, 'http://x').searchParams
  const code = query.get('js_code') ?? ''
  if (trouble === 'hang' && query.get('appid') === A) {
    hanging.add(res)
    res.on('close', () => hanging.delete(res))
    return
  }
  setTimeout(() => {
    res.setHeader('content-type', 'text/plain')
    res.end(JSON.stringify(code.startsWith('junk')
      ? { errcode: 40029, errmsg: 'invalid code' }
      : { openid: `o-${code}`, session_key: randomBytes(16).toString('base64') }))
  }, trouble === undefined ? DELAY : trouble === 'slow' && query.get('appid') === A ? 1500 : 0)
})
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve))
const apiBaseUrl = `http://127.0.0.1:${upstream.address().port}`

async function measure (label, plugin) {
  const app = Fastify()
  await app.register(plugin, {
    key: randomBytes(32).toString('base64url'),
    apiBaseUrl,
    apps: [{ appId: A, appSecret: 'secret-a-0123456789' }, { appId: B, appSecret: 'secret-b-0123456789' }]
  })
  await app.ready()
  let n = 0
  const loginB = async () => {
    const started = performance.now()
    const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: `b-${n++}`, appId: B } })
    return { ms: performance.now() - started, status: res.statusCode }
  }
  const alone = await loginB()
  const flood = Array.from({ length: FLOOD }, (_, i) => app.inject({ method: 'POST', url: '/weapp/login', payload: { code: `junk-${i}`, appId: A } }))
  await new Promise((resolve) => setTimeout(resolve, 50))
  const during = await loginB()
  const answers = await Promise.all(flood)
  const codes = {}
  for (const res of answers) codes[res.statusCode] = (codes[res.statusCode] ?? 0) + 1
  await app.close()
  return { label, alone, during, codes }
}

const LOOPS_B = Number(process.env.FAIRNESS_B ?? 8)
const LOOPS_A = Number(process.env.FAIRNESS_A ?? 64)
const ALONE_S = Number(process.env.FAIRNESS_SECONDS ?? 3)
const TROUBLE_S = Number(process.env.FAIRNESS_TROUBLE_SECONDS ?? 8)
const POOLS = (process.env.FAIRNESS_POOLS ?? '8,32').split(',').map(Number)

/** B's logins per second alone, then while A's upstream is slow or hangs (A's loops start as B's window does). */
async function troubled (label, plugin, kind, connections) {
  const app = Fastify()
  await app.register(plugin, {
    key: randomBytes(32).toString('base64url'),
    apiBaseUrl,
    upstreamConnections: connections,
    apps: [{ appId: A, appSecret: 'secret-a-0123456789' }, { appId: B, appSecret: 'secret-b-0123456789' }]
  })
  await app.ready()
  let n = 0
  const login = (appId, prefix) => app.inject({ method: 'POST', url: '/weapp/login', payload: { code: `${prefix}-${n++}`, appId } })
  const loops = (count, appId, prefix, until, statuses) => Promise.all(Array.from({ length: count }, async () => {
    while (performance.now() < until) {
      const res = await login(appId, prefix)
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
    }
  }))
  const count = (statuses) => Object.values(statuses).reduce((a, b) => a + b, 0)
  trouble = 'none'
  await loops(LOOPS_B, B, 'b', performance.now() + 500, {})
  const alone = {}
  let started = performance.now()
  await loops(LOOPS_B, B, 'b', started + ALONE_S * 1000, alone)
  const aloneRate = count(alone) / ((performance.now() - started) / 1000)
  trouble = kind
  const during = {}
  const ofA = {}
  started = performance.now()
  const until = started + TROUBLE_S * 1000
  const a = loops(LOOPS_A, A, 'a', until, ofA)
  await loops(LOOPS_B, B, 'b', until, during)
  const duringRate = count(during) / ((performance.now() - started) / 1000)
  // A's calls still hanging end now (the upstream drops them: 502) and those waiting are answered
  // at once, so that the app closes at once.
  trouble = 'none'
  for (const res of hanging) res.destroy()
  await a
  trouble = undefined
  await app.close()
  return { label, kind, connections, aloneRate, duringRate, during, ofA }
}

const builds = [['this build', (await import('fastify-weapp')).default]]
if (process.env.BASELINE) builds.unshift(['baseline', (await import(process.env.BASELINE)).default])
const rows = []
for (const [label, plugin] of builds) rows.push(await measure(label, plugin))
const troubles = []
for (const connections of POOLS) {
  for (const kind of ['slow', 'hang']) {
    for (const [label, plugin] of builds) troubles.push(await troubled(label, plugin, kind, connections))
  }
}
upstream.close()

console.log(`\nApp B's login, alone and during ${FLOOD} junk logins of app A (upstream ${DELAY} ms a call, 32 sockets, timeout 5 s)\n`)
console.log('| build | B alone | B during the flood | B\'s status | A\'s answers |')
console.log('|---|---|---|---|---|')
for (const { label, alone, during, codes } of rows) {
  console.log(`| ${label} | ${alone.ms.toFixed(0)} ms | ${during.ms.toFixed(0)} ms | ${during.status} | ${Object.entries(codes).map(([code, count]) => `${count} x ${code}`).join(', ')} |`)
}

const statuses = (codes) => Object.entries(codes).map(([code, count]) => `${count} x ${code}`).join(', ')
console.log(`\nApp B's logins per second (${LOOPS_B} loops), alone for ${ALONE_S} s and then for ${TROUBLE_S} s while ${LOOPS_A} loops of app A log in against an upstream that answers A in 1.5 s (slow) or never (hang); timeout 5 s\n`)
console.log('| app A\'s upstream, pool | build | B alone | B during A\'s trouble | during / alone | B\'s answers during | A\'s answers |')
console.log('|---|---|---|---|---|---|---|')
for (const { label, kind, connections, aloneRate, duringRate, during, ofA } of troubles) {
  console.log(`| ${kind}, ${connections} sockets | ${label} | ${aloneRate.toFixed(0)}/s | ${duringRate.toFixed(1)}/s | ${(100 * duringRate / aloneRate).toFixed(0)}% | ${statuses(during)} | ${statuses(ofA)} |`)
}
