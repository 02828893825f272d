// The benchmarks cannot rot: npm test runs each in its smoke mode (a few seconds) and checks that
// it completes and prints every row. It asserts no timing: the numbers of a smoke run mean nothing.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
// Every bench, each a few seconds idle and minutes on a loaded two-core machine: the file's own
// budget, past tap's 150 s for other files (a hang still ends it), each run's below it.
t.setTimeout(900_000)
const cwd = new URL('..', import.meta.url)

/** The table rows a script printed: `| name | ...` lines after the header. */
function rows (stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| scenario') && !l.startsWith('| route')).map((l) => l.split(' | ')[0]?.slice(2) ?? '')
}

t.test('npm run bench completes in smoke mode and prints every row', async (t) => {
  const { stdout } = await run(process.execPath, ['bench/run.js'], { cwd, env: { ...process.env, BENCH_SMOKE: '1' }, timeout: 300_000 })
  const printed = rows(stdout)
  const expected = [
    'authenticated route, one session reused',
    'authenticated route, cold sessions (each new, 2000 > cache 500)',
    'authenticated route, 100 apps of every kind in one registration, sessions spread over them',
    'authenticated route, revocation on (Redis, 1000 revoked users)', // run or skipped
    'login route, maxSessions 3 (Redis; 200 users, most logins evict one)', // run or skipped
    'authenticated route, maxSessions 3 (Redis)', // run or skipped
    'authenticated route, a session with 200 bytes of claims',
    'authenticated route, renewal on (renewWithin; no request renews)',
    'for scale: jose jwtDecrypt on every request (no memo, no fast path), cold sessions',
    'decrypt route',
    'login route (upstream: the mock WeChat API, in its own process)',
    'login route, against the seed design by hand (3rd_session in Redis)', // run or skipped
    'login route, against the seed design by hand (3rd_session in a Map)',
    'login route, onLogin returning 200 bytes of claims at once',
    'peer: random id -> session in an in-process Map',
    'peer: random id -> session in redis', // the Redis row, run or skipped
    'peer: @fastify/jwt HS256 verify',
    'peer: @fastify/secure-session cookie'
  ]
  t.equal(printed.length, expected.length, printed.join('\n'))
  expected.forEach((name, i) => { t.ok(printed[i]?.startsWith(name), `row ${i + 1}: ${name}`) })
  t.notMatch(stdout, /non-2xx|errors\)/, 'every request of every row was answered 2xx')
  t.match(stdout, /Memory: 1,000 distinct sessions/)
})

t.test('npm run bench:profile records a profile of the login route and draws its flame graph', async (t) => {
  const dir = t.testdir()
  const svg = join(dir, 'login.svg')
  const out = join(dir, 'login.cpuprofile')
  const { stdout } = await run(process.execPath, ['bench/profile.js'], { cwd, env: { ...process.env, PROFILE_SECONDS: '1', PROFILE_SVG: svg, PROFILE_OUT: out }, timeout: 300_000 })
  t.match(stdout, /^login: \d+ req\/s under the profiler/m)
  t.match(stdout, /\| self \| function \(file:line\) \|/, 'the costliest functions')
  t.match(stdout, /\| [\d.]+% \| fastify-weapp \|/, 'the work by origin names the plugin')
  const graph = await readFile(svg, 'utf8')
  t.match(graph, /^<svg [^>]*>/, 'an SVG')
  t.match(graph, /<title>[^<]*routes\.js:\d+: [\d.]+% \(fastify-weapp\)<\/title>/, 'with the login route\'s frames, named and measured')
  const profile = JSON.parse(await readFile(out, 'utf8')) as { nodes: unknown[], samples: unknown[] }
  t.ok(profile.nodes.length > 0 && profile.samples.length > 0, 'and the .cpuprofile kept')
})

t.test('npm run bench:versus puts two builds side by side and prints every load', async (t) => {
  const { stdout } = await run(process.execPath, ['bench/versus.js'], { cwd, env: { ...process.env, BASELINE: 'dist/index.js', VERSUS: 'login,relay', VERSUS_ROUNDS: '1', VERSUS_DURATION: '1' }, timeout: 300_000 })
  t.same(rows(stdout).filter((r) => r !== 'load' && !r.startsWith('---')), ['login', 'relay'])
  t.match(stdout, /\| login \| [\d,]+ \| [\d,]+ \| [\d.]+x \| [\d.]+–[\d.]+ \| [\d.]+ \([\d.]+\) \| [\d.]+x \|/)
})

t.test('npm run bench:oracle completes in smoke mode and prints every row', async (t) => {
  const { stdout } = await run(process.execPath, ['bench/oracle.js'], { cwd, env: { ...process.env, ORACLE_SMOKE: '1' }, timeout: 300_000 })
  t.same(rows(stdout), [
    'before the fix, ~46 KB ciphertext (the reported attack)',
    'before the fix, at the new 8 KiB cap (6 KB)',
    'fastify-weapp, at its cap (6 KB)'
  ])
  t.match(stdout, /\d+\.\d%/, 'accuracies printed')
})

t.test('npm run bench:fairness and bench:revocations complete on small sizes and print every row', async (t) => {
  const fairness = await run(process.execPath, ['bench/fairness.js'], { cwd, env: { ...process.env, FAIRNESS_FLOOD: '40', FAIRNESS_DELAY: '20', FAIRNESS_POOLS: '8', FAIRNESS_SECONDS: '0.5', FAIRNESS_TROUBLE_SECONDS: '1', FAIRNESS_A: '16', FAIRNESS_B: '2' }, timeout: 300_000 })
  t.same(rows(fairness.stdout).filter((r) => r !== 'build' && r !== '---' && r !== 'app A\'s upstream, pool'), ['this build', 'slow, 8 sockets', 'hang, 8 sockets'])
  t.match(fairness.stdout, /\| this build \| \d+ ms \| \d+ ms \| 200 \|/, "B's login answered during the flood")
  const revocations = await run(process.execPath, ['--expose-gc', 'bench/revocation-load.js'], { cwd, env: { ...process.env, REVOCATION_SIZES: '2000', REVOCATION_SETTLE: '300' }, timeout: 300_000 })
  t.same(rows(revocations.stdout).filter((r) => r !== 'entries' && r !== 'entries never published' && r !== '---'), ['2,000', '2,000', '2,000'])
  t.match(revocations.stdout, /\| 2,000 \| this build \| [\d.]+ s \| \d+ ms \| \d+ ms \| -?\d+ B \|/)
  t.match(revocations.stdout, /\| 2,000 \| this build \| [\d.]+ s \| \d+ ms \|\n/, 'the catch-up of entries never published')
})
