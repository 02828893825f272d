// npm run bench:fairness: app B's login while app A floods the login route with junk codes, the
// upstream answering every call in 250 ms (as a slow WeChat would), with the default pool (32
// sockets per origin) and timeout (5 s). Each row runs B's login alone, then again during A's flood.
//
// BASELINE=<path to another build's dist/index.js> runs the same rows against that build too, in
// the same run (the figures side by side): `git worktree add /tmp/before <commit>`, build it there,
// and point BASELINE at /tmp/before/dist/index.js.
// FAIRNESS_FLOOD (junk logins of A, default 1200), FAIRNESS_DELAY (ms per upstream answer, default 250).
import { createServer } from 'node:http'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'

const FLOOD = Number(process.env.FAIRNESS_FLOOD ?? 1200)
const DELAY = Number(process.env.FAIRNESS_DELAY ?? 250)
const A = 'wxaaaaaaaaaaaaaaaa'
const B = 'wxbbbbbbbbbbbbbbbb'

// The upstream: jscode2session after DELAY ms; codes starting 'junk' are invalid (40029).
const upstream = createServer((req, res) => {
  const code = new URL(req.url, 'http://x').searchParams.get('js_code') ?? ''
  setTimeout(() => {
    res.setHeader('content-type', 'text/plain')
    res.end(JSON.stringify(code.startsWith('junk')
      ? { errcode: 40029, errmsg: 'invalid code' }
      : { openid: `o-${code}`, session_key: randomBytes(16).toString('base64') }))
  }, DELAY)
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

const builds = [['this build', (await import('fastify-weapp')).default]]
if (process.env.BASELINE) builds.unshift(['baseline', (await import(process.env.BASELINE)).default])
const rows = []
for (const [label, plugin] of builds) rows.push(await measure(label, plugin))
upstream.close()

console.log(`\nApp B's login, alone and during ${FLOOD} junk logins of app A (upstream ${DELAY} ms a call, 32 sockets, timeout 5 s)\n`)
console.log('| build | B alone | B during the flood | B\'s status | A\'s answers |')
console.log('|---|---|---|---|---|')
for (const { label, alone, during, codes } of rows) {
  console.log(`| ${label} | ${alone.ms.toFixed(0)} ms | ${during.ms.toFixed(0)} ms | ${during.status} | ${Object.entries(codes).map(([code, count]) => `${count} x ${code}`).join(', ')} |`)
}
