// The server under test for `npm run bench`: one process (one core) holding fastify-weapp's routes,
// the baselines they are compared with, and the peers. Configured by the environment; prints its
// address once listening.
import { randomBytes } from 'node:crypto'
import { Session } from 'node:inspector/promises'
import Fastify from 'fastify'
import { jwtDecrypt } from 'jose'
import fastifyJwt from '@fastify/jwt'
import fastifySecureSession from '@fastify/secure-session'
import { Pool } from 'undici'
import { benchApps } from './apps.js'

// WEAPP_BUILD: another build's dist/index.js (bench/versus.js runs one server of each).
const { default: fastifyWeapp } = await import(process.env.WEAPP_BUILD ?? 'fastify-weapp')

const { APP_ID, APP_SECRET, KEY, API, REDIS_PORT, JWT_SECRET, COOKIE_KEY, CACHE_SIZE, STORE_SIZE = '1000' } = process.env
const app = Fastify({ logger: false })

// fastify-weapp and an app route behind the plugin's hook, in a context of their own (the 100-app
// registration below has another).
await app.register(async (scope) => {
  await scope.register(fastifyWeapp, {
    appId: APP_ID, appSecret: APP_SECRET, key: KEY, apiBaseUrl: API, sessionCacheSize: Number(CACHE_SIZE ?? 10000)
  })
  scope.get('/auth', { onRequest: scope.weapp.authenticate }, async (request) => ({ openid: request.weappSession.openid }))
})

// The login route with an onLogin that returns the app's claims at once (no database): what the
// hook and sealing 200 bytes of claims cost a login.
const CLAIMS = { userId: 1234567, roles: ['buyer', 'seller'], tenant: 't-0123456789', pad: '' }
CLAIMS.pad = 'x'.repeat(200 - Buffer.byteLength(JSON.stringify(CLAIMS)))
await app.register(async (scope) => {
  await scope.register(fastifyWeapp, {
    appId: APP_ID, appSecret: APP_SECRET, key: KEY, apiBaseUrl: API, prefix: '/claims', sessionCacheSize: Number(CACHE_SIZE ?? 10000), onLogin: () => ({ claims: CLAIMS })
  })
})

// The same route where one registration serves 100 apps of every kind, in its own
// encapsulated context: sessions of every app, one authenticate.
await app.register(async (scope) => {
  await scope.register(fastifyWeapp, { apps: benchApps, key: KEY, apiBaseUrl: API, prefix: '/multi', sessionCacheSize: Number(CACHE_SIZE ?? 10000) })
  scope.get('/multi-auth', { onRequest: scope.weapp.authenticate }, async (request) => ({ user: request.weappSession.openid ?? request.weappSession.userId }))
})

// What the plugin would cost without its memo and fast path: jose's jwtDecrypt on every request,
// with the plugin's own options, on the same tokens.
const joseKey = Buffer.from(KEY, 'base64url')
const joseOptions = { audience: APP_ID, keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'], maxDecompressedLength: 0, requiredClaims: ['exp', 'iat', 'sub'] }
app.get('/jose-only', async (request, reply) => {
  try {
    const { payload } = await jwtDecrypt(request.headers.authorization.slice(7), joseKey, joseOptions)
    return { openid: payload.sub }
  } catch {
    return reply.code(401).send({ code: 'WEAPP_SESSION_INVALID' })
  }
})

// Baselines: the same requests, answered without any session work.
app.get('/bare', async () => ({ openid: 'o-baseline' }))
app.post('/bare-post', async () => ({ data: { ok: true } }))
// A relay: the login route's upstream call, nothing else, through the same kind of pooled client
// (an undici Pool, 32 connections), so that the ratio measures the plugin's own work.
const relayPool = new Pool(API, { connections: 32 })
app.addHook('onClose', async () => { await relayPool.close() })
async function jscode2session (code) {
  const query = new URLSearchParams({ appid: APP_ID, secret: APP_SECRET, js_code: code, grant_type: 'authorization_code' })
  const res = await relayPool.request({ path: `/sns/jscode2session?${query}`, method: 'GET', signal: AbortSignal.timeout(5000) })
  return JSON.parse(await res.body.text())
}
app.post('/relay', async (request) => {
  const body = await jscode2session(request.body.code)
  return { openid: body.openid }
})

// The seed's own design, written by hand in a few lines as a user would instead of the plugin: the
// same pooled call to jscode2session, a random 3rd_session (128 bits), and the openid and
// session_key kept under it for 2 hours: in an in-process Map (never swept: the design's own
// leak, which the bench's minutes do not reach), or in Redis (SET ... EX, below).
const seedSessions = new Map()
async function seedLogin (request, reply, keep) {
  const code = request.body?.code
  if (typeof code !== 'string') return reply.code(400).send({ code: 'NO_CODE' })
  const body = await jscode2session(code)
  if (body.errcode !== undefined && body.errcode !== 0) return reply.code(401).send({ code: 'LOGIN_FAILED' })
  const session = randomBytes(16).toString('hex')
  await keep(session, { openid: body.openid, sessionKey: body.session_key, unionid: body.unionid })
  return { session, expiresIn: 7200 }
}
app.post('/peer/seed-map/login', (request, reply) => seedLogin(request, reply, (session, value) => {
  seedSessions.set(session, { ...value, expiresAt: Date.now() + 7_200_000 })
}))

// Peers. A server-side store: a random 3rd_session id -> session, in process and in Redis.
const store = new Map()
for (let i = 0; i < Number(STORE_SIZE); i++) store.set(`sid-${i}`, JSON.stringify({ openid: `o-${i}`, sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }))
app.get('/peer/map', async (request, reply) => {
  const raw = store.get(request.headers['x-session-id'])
  if (raw === undefined) return reply.code(401).send({ code: 'NO_SESSION' })
  return { openid: JSON.parse(raw).openid }
})
if (REDIS_PORT) {
  const { Redis } = await import('ioredis')
  const redis = new Redis({ port: Number(REDIS_PORT), host: '127.0.0.1', lazyConnect: true })
  await redis.connect()
  const pipeline = redis.pipeline()
  for (const [id, raw] of store) pipeline.set(`sess:${id}`, raw)
  await pipeline.exec()
  app.addHook('onClose', async () => { redis.disconnect() })
  app.get('/peer/redis', async (request, reply) => {
    const raw = await redis.get(`sess:${request.headers['x-session-id']}`)
    if (raw === null) return reply.code(401).send({ code: 'NO_SESSION' })
    return { openid: JSON.parse(raw).openid }
  })
  app.post('/peer/seed-redis/login', (request, reply) => seedLogin(request, reply, async (session, value) => {
    await redis.set(`sess:${session}`, JSON.stringify(value), 'EX', 7200)
  }))
}
// The authenticated route with revocation on, in Redis, a thousand users revoked: the check is in
// memory (no Redis on the path), so this should cost what the route costs without it.
if (REDIS_PORT) {
  await app.register(async (scope) => {
    const { Redis } = await import('ioredis')
    const client = new Redis({ port: Number(REDIS_PORT), host: '127.0.0.1' })
    scope.addHook('onClose', async () => { client.disconnect() })
    await scope.register(fastifyWeapp, {
      appId: APP_ID, appSecret: APP_SECRET, key: KEY, apiBaseUrl: API, prefix: '/rev', sessionCacheSize: Number(CACHE_SIZE ?? 10000), revocation: { redis: client, prefix: 'bench:' }
    })
    for (let i = 0; i < 1000; i++) await scope.weapp.revokeUser({ openid: `o-revoked-${i}` })
    scope.get('/rev-auth', { onRequest: scope.weapp.authenticate }, async (request) => ({ openid: request.weappSession.openid }))
  })
  // The same with sessions per device: maxSessions 3, so that most logins of the bench's users
  // evict one (a mark in the revocation set and a publish, in the login's script).
  await app.register(async (scope) => {
    const { Redis } = await import('ioredis')
    const client = new Redis({ port: Number(REDIS_PORT), host: '127.0.0.1' })
    scope.addHook('onClose', async () => { client.disconnect() })
    await scope.register(fastifyWeapp, {
      appId: APP_ID, appSecret: APP_SECRET, key: KEY, apiBaseUrl: API, prefix: '/dev', sessionCacheSize: Number(CACHE_SIZE ?? 10000), revocation: { redis: client, prefix: 'bench-dev:' }, maxSessions: 3
    })
    scope.get('/dev-auth', { onRequest: scope.weapp.authenticate }, async (request) => ({ openid: request.weappSession.openid }))
  })
}

// The authenticated route with renewal on (renewWithin), for requests that do not renew.
await app.register(async (scope) => {
  await scope.register(fastifyWeapp, {
    appId: APP_ID, appSecret: APP_SECRET, key: KEY, apiBaseUrl: API, prefix: '/renew', sessionCacheSize: Number(CACHE_SIZE ?? 10000), renewWithin: '1d'
  })
  scope.get('/renew-auth', { onRequest: scope.weapp.authenticate }, async (request) => ({ openid: request.weappSession.openid }))
})

// @fastify/jwt: HS256 verify of a signed (not encrypted) token.
await app.register(async (scope) => {
  await scope.register(fastifyJwt, { secret: JWT_SECRET })
  scope.get('/peer/jwt', async (request) => {
    await request.jwtVerify()
    return { openid: request.user.sub }
  })
})
// @fastify/secure-session: an encrypted cookie (libsodium secretbox).
await app.register(async (scope) => {
  await scope.register(fastifySecureSession, { key: Buffer.from(COOKIE_KEY, 'base64url'), cookie: { path: '/' } })
  scope.post('/peer/secure-session/login', async (request) => {
    request.session.set('openid', 'o-cookie')
    return { ok: true }
  })
  scope.get('/peer/secure-session', async (request, reply) => {
    const openid = request.session.get('openid')
    if (openid === undefined) return reply.code(401).send({ code: 'NO_SESSION' })
    return { openid }
  })
})

// The server's own CPU time (user + system, µs): unlike req/s, it does not count time the host
// gave to others (steal), so CPU per request compares steadily on a noisy machine.
app.get('/__cpu', async () => {
  const { user, system } = process.cpuUsage()
  return { cpu: user + system, user, system }
})

// Memory after a full collection (the server runs with --expose-gc), so that readings compare.
app.get('/__stats', async () => {
  globalThis.gc?.()
  const { rss, heapUsed } = process.memoryUsage()
  return { rss, heapUsed }
})

// A CPU profile of what the server does between start and stop (bench/profile.js): V8's sampling
// profiler through node:inspector, every 250 µs.
let profiler
app.post('/__profile/start', async () => {
  profiler = new Session()
  profiler.connect()
  await profiler.post('Profiler.enable')
  await profiler.post('Profiler.setSamplingInterval', { interval: 250 })
  await profiler.post('Profiler.start')
  return { started: true }
})
app.post('/__profile/stop', async () => {
  const { profile } = await profiler.post('Profiler.stop')
  profiler.disconnect()
  return profile
})

process.stdout.write(`${await app.listen({ port: 0, host: '127.0.0.1' })}\n`)
process.on('SIGTERM', () => { app.close().then(() => process.exit(0)) })
