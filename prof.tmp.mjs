import { spawn } from 'node:child_process'
import autocannon from 'autocannon'
import { MockWechat } from 'fastify-weapp/testing'
import { generateKey } from 'fastify-weapp'
const mock = await MockWechat.start()
const key = generateKey()
const path = process.argv[2]
const server = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof', 'bench/server.js'], { env: { ...process.env, APP_ID: mock.appId, APP_SECRET: mock.appSecret, KEY: key, API: mock.url, JWT_SECRET: 'x'.repeat(32), COOKIE_KEY: Buffer.alloc(32).toString('base64url') }, stdio: ['ignore', 'pipe', 'inherit'] })
const base = await new Promise((r) => server.stdout.once('data', (c) => r(c.toString().trim())))
const login = await (await fetch(base + '/weapp/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: mock.login('o-b') }) })).json()
const enc = mock.encrypt('o-b', { stepInfoList: Array.from({ length: 5 }, (_, i) => ({ timestamp: 1700000000 + i, step: i })) })
const r = await autocannon({ url: base + path, connections: 50, duration: 6, requests: [{ method: 'POST', headers: { authorization: 'Bearer ' + login.session, 'content-type': 'application/json' }, body: JSON.stringify(enc) }] })
console.log(path, r.requests.average, r.non2xx)
server.kill('SIGTERM'); await new Promise((r) => server.once('exit', r)); await mock.close()
