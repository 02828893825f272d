import { spawn, type ChildProcess } from 'node:child_process'
import t, { type Test } from 'tap'
import { MockWechat } from '../lib/testing.js'
import { KEY, OTHER_KEY } from './fixtures/app.js'
import { eventually, redisServer } from './fixtures/redis.js'

interface Instance { url: string, child: ChildProcess }

/** Starts test/fixtures/instance.js as its own process with only these keys (and that Redis) in common. */
async function start (t: Test, mock: MockWechat, keys: string[], redisPort?: number, env: Record<string, string> = {}): Promise<Instance> {
  const child = spawn(process.execPath, [new URL('./fixtures/instance.js', import.meta.url).pathname], {
    env: { ...process.env, APP_ID: mock.appId, APP_SECRET: mock.appSecret, KEYS: keys.join(','), API: mock.url, ...(redisPort === undefined ? {} : { REDIS_PORT: String(redisPort) }), ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  // SIGKILL: the Redis this test started may be gone by now, and a graceful close would wait for it.
  t.teardown(() => { child.kill('SIGKILL') })
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => { resolve(chunk.toString().trim()) })
    child.once('exit', (code) => { reject(new Error(`instance exited with ${code}`)) })
  })
  return { url, child }
}

async function stop ({ child }: Instance): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

async function request (base: string, path: string, session?: string, body?: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(base + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(session === undefined ? {} : { authorization: `Bearer ${session}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

t.test('three processes sharing only the key accept each other\'s sessions, also after a restart', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const [a, b, c] = await Promise.all([start(t, mock, [KEY]), start(t, mock, [KEY]), start(t, mock, [KEY])]) as [Instance, Instance, Instance]

  const login = await request(a.url, '/weapp/login', undefined, { code: mock.login('o-fleet') })
  t.equal(login.status, 200, 'logged in on A')
  const session = login.body.session as string
  const pids = new Set<unknown>()
  for (const instance of [a, b, c]) {
    const me = await request(instance.url, '/me', session)
    t.equal(me.status, 200)
    t.equal(me.body.openid, 'o-fleet')
    pids.add(me.body.pid)
  }
  t.equal(pids.size, 3, 'three different processes answered')
  const decrypted = await request(c.url, '/weapp/decrypt', session, mock.encrypt('o-fleet', { step: 1 }))
  t.equal(decrypted.status, 200, 'C decrypts with the session A issued')
  t.equal((decrypted.body.data as { step: number }).step, 1)

  await stop(b)
  const b2 = await start(t, mock, [KEY])
  t.equal((await request(b2.url, '/me', session)).body.openid, 'o-fleet', 'B after a restart')
  const fromB = (await request(b2.url, '/weapp/login', undefined, { code: mock.login('o-other') })).body.session as string
  t.equal((await request(a.url, '/weapp/decrypt', fromB, mock.encrypt('o-other', { n: 2 }))).status, 200, 'A decrypts with the session restarted B issued')
})

t.test('a fleet rotating its key in three phases never refuses a live session', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const OLD = OTHER_KEY
  const NEW = KEY
  const before = await start(t, mock, [OLD])
  const oldSession = (await request(before.url, '/weapp/login', undefined, { code: mock.login('o-1') })).body.session as string

  // Why phase 1 exists: an instance already sealing with NEW while another knows only OLD.
  const early = await start(t, mock, [NEW, OLD])
  const early1 = (await request(early.url, '/weapp/login', undefined, { code: mock.login('o-2') })).body.session as string
  t.equal((await request(before.url, '/me', early1)).body.code, 'WEAPP_SESSION_INVALID', 'skipping phase 1 bounces users during the rollout')

  // Phase 1: [OLD, NEW] everywhere: still sealing with OLD, already opening NEW.
  const phase1 = await start(t, mock, [OLD, NEW])
  const s1 = (await request(phase1.url, '/weapp/login', undefined, { code: mock.login('o-3') })).body.session as string
  t.equal((await request(before.url, '/me', s1)).status, 200, 'phase 1 sessions open on not-yet-updated instances')
  t.equal((await request(phase1.url, '/me', early1)).status, 200)
  // Phase 2: [NEW, OLD]: sealing with NEW; every instance (phase 1 or 2) opens both.
  const phase2 = await start(t, mock, [NEW, OLD])
  const s2 = (await request(phase2.url, '/weapp/login', undefined, { code: mock.login('o-4') })).body.session as string
  t.equal((await request(phase1.url, '/me', s2)).status, 200, 'phase 2 sessions open on phase 1 instances')
  t.equal((await request(phase2.url, '/me', oldSession)).status, 200, 'and old sessions on phase 2 instances')
  // Phase 3, after expiresIn: [NEW] alone; what OLD sealed is refused.
  const phase3 = await start(t, mock, [NEW])
  t.equal((await request(phase3.url, '/me', s2)).status, 200)
  t.equal((await request(phase3.url, '/me', oldSession)).body.code, 'WEAPP_SESSION_INVALID', 'the old key is gone')
})

t.test('three processes sharing the key and one Redis: a logout anywhere is refused everywhere, across restarts', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const redis = await redisServer(t)
  const [a, b, c] = await Promise.all([start(t, mock, [KEY], redis.port), start(t, mock, [KEY], redis.port), start(t, mock, [KEY], redis.port)]) as [Instance, Instance, Instance]
  const session = (await request(a.url, '/weapp/login', undefined, { code: mock.login('o-fleet') })).body.session as string
  const other = (await request(b.url, '/weapp/login', undefined, { code: mock.login('o-other') })).body.session as string
  for (const instance of [a, b, c]) t.equal((await request(instance.url, '/me', session)).status, 200)
  const out = await fetch(`${b.url}/weapp/logout`, { method: 'POST', headers: { authorization: `Bearer ${session}` } })
  t.equal(out.status, 204, 'logged out on B')
  const took = await eventually(async () => {
    const codes = await Promise.all([a, b, c].map(async (i) => (await request(i.url, '/me', session)).body.code))
    return codes.every((code) => code === 'WEAPP_SESSION_REVOKED')
  })
  t.pass(`every process refuses it (${took} ms here)`)
  t.equal((await request(c.url, '/me', other)).status, 200, 'another session is untouched')
  // A restarted process loads the revocations; a restarted Redis (empty) leaves them in every process.
  await stop(c)
  const c2 = await start(t, mock, [KEY], redis.port)
  t.equal((await request(c2.url, '/me', session)).body.code, 'WEAPP_SESSION_REVOKED', 'C after a restart still refuses it')
  await redis.kill()
  await redis.start()
  t.equal((await request(a.url, '/me', session)).body.code, 'WEAPP_SESSION_REVOKED', 'A after Redis restarted')
  await eventually(async () => (await fetch(`${a.url}/weapp/logout`, { method: 'POST', headers: { authorization: `Bearer ${other}` } })).status === 204)
  await eventually(async () => (await request(c2.url, '/me', other)).body.code === 'WEAPP_SESSION_REVOKED')
  t.pass('the processes reconnected to the new Redis and resubscribed by themselves')
})

t.test('three processes, one Redis, maxSessions: a login on one kicks the oldest session on all of them', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const redis = await redisServer(t)
  const cap = { MAX_SESSIONS: '2' }
  const [a, b, c] = await Promise.all([start(t, mock, [KEY], redis.port, cap), start(t, mock, [KEY], redis.port, cap), start(t, mock, [KEY], redis.port, cap)]) as [Instance, Instance, Instance]
  const loginOn = async (instance: Instance, device: string): Promise<string> =>
    (await request(instance.url, '/weapp/login', undefined, { code: mock.login('o-fleet'), device })).body.session as string
  const oldest = await loginOn(a, 'wx:ios')
  const middle = await loginOn(b, 'wx:android')
  for (const instance of [a, b, c]) t.equal((await request(instance.url, '/me', oldest)).status, 200, 'memoized everywhere')
  const newest = await loginOn(c, 'wx:devtools')
  const took = await eventually(async () => {
    const codes = await Promise.all([a, b, c].map(async (i) => (await request(i.url, '/me', oldest)).body.code))
    return codes.every((code) => code === 'WEAPP_SESSION_KICKED')
  })
  t.pass(`the oldest is kicked in every process (${took} ms here)`)
  for (const instance of [a, b, c]) {
    t.equal((await request(instance.url, '/me', middle)).status, 200)
    t.equal((await request(instance.url, '/me', newest)).status, 200)
  }
})
