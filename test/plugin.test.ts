import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import t from 'tap'
import weapp, * as entry from '../lib/index.js'
import { KEY } from './fixtures/app.js'

const run = promisify(execFile)
const options = { appId: 'wx0123456789abcdef', appSecret: 'not-a-real-secret', key: KEY }

t.test('default and named export are the same fastify-plugin', async (t) => {
  t.equal(entry.fastifyWeapp, weapp)
  t.equal((weapp as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')], 'fastify-weapp')
  t.match((weapp as unknown as Record<symbol, { fastify: string }>)[Symbol.for('plugin-meta')], { fastify: '5.x', name: 'fastify-weapp' })
  for (const name of ['InvalidCodeError', 'RateLimitedError', 'RiskyUserError', 'UpstreamError', 'UpstreamTimeoutError', 'SessionMissingError', 'SessionInvalidError', 'SessionExpiredError', 'DecryptFailedError', 'SignatureMismatchError', 'InvalidOptionError', 'generateKey']) {
    t.type((entry as Record<string, unknown>)[name], 'function', name)
  }
})

t.test('decorates the instance (not encapsulated) and the request', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, options)
  await app.ready()
  t.same(Object.keys(app.weapp).sort(), ['accessToken', 'app', 'authenticate', 'checkEncryptedData', 'checkSessionKey', 'code2Session', 'decrypt', 'getPaidUnionid', 'getPhoneNumber', 'getPluginOpenPId', 'getUserEncryptKey', 'getUserRiskRank', 'jwtTrusted', 'listSessions', 'openEncrypted', 'redeemLink', 'resetUserSessionKey', 'revoke', 'revokeUser', 'seal', 'sessionOf', 'unseal', 'verifySignature'])
  t.ok(Object.isFrozen(app.weapp))
  t.ok(app.hasRequestDecorator('weappSession'))
  t.ok(app.hasRoute({ method: 'POST', url: '/weapp/login' }))
  t.ok(app.hasRoute({ method: 'POST', url: '/weapp/decrypt' }))
  t.ok(app.hasRoute({ method: 'POST', url: '/weapp/phone' }))
  t.notOk(JSON.stringify(app.weapp).includes(options.appSecret))
  t.notOk(app.printRoutes().includes(options.appSecret))
})

t.test('instanceof works for errors the app catches', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, options)
  const err = await app.weapp.unseal('nope').catch((e: unknown) => e)
  t.ok(err instanceof entry.SessionInvalidError)
  t.notOk(err instanceof entry.SessionExpiredError)
})

t.test('registering twice is refused by fastify-plugin', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(weapp, options)
  app.register(weapp, options)
  await t.rejects(async () => { await app.ready() })
})

t.test('the built package loads with import and with require (Node >= 20.19)', async (t) => {
  const cwd = new URL('..', import.meta.url)
  const esm = await run(process.execPath, ['--input-type=module', '-e', `
    import weapp, { fastifyWeapp, SessionInvalidError } from 'fastify-weapp'
    import { MockWechat, createMockWechat } from 'fastify-weapp/testing'
    console.log(typeof weapp, weapp === fastifyWeapp, typeof SessionInvalidError, typeof MockWechat, typeof createMockWechat)
  `], { cwd })
  t.equal(esm.stdout.trim(), 'function true function function function')
  const cjs = await run(process.execPath, ['-e', `
    const { fastifyWeapp } = require('fastify-weapp')
    const Fastify = require('fastify')
    const app = Fastify()
    app.register(fastifyWeapp, { appId: 'wx1', appSecret: 's', key: '${KEY}' })
    app.ready().then(() => { console.log(typeof app.weapp.authenticate); return app.close() })
  `], { cwd })
  t.equal(cjs.stdout.trim(), 'function')
})
