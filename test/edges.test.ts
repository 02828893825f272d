// Edges a new user and an operator meet: a misspelled option fails registration naming the right
// one, made-up appIds never flush the lookup's known apps, an app removed from the lookup renews
// nothing.
import Fastify from 'fastify'
import t from 'tap'
import weapp from '../lib/index.js'
import { createRegistry } from '../lib/apps.js'
import { harness, KEY } from './fixtures/app.js'
import { claims, forge } from './fixtures/jwe.js'
import { everyOrigin } from './fixtures/tables.js'

const APP = 'wx0123456789abcdef'
const base = { appId: APP, appSecret: 'mock-app-secret-0123456789abcdef', key: KEY }

t.test('a misspelled option fails registration, naming it and the closest known one', async (t) => {
  for (const [options, message] of [
    [{ ...base, apiBaseURL: 'http://127.0.0.1:1' }, /apiBaseURL is not an option; did you mean apiBaseUrl\?/],
    [{ ...base, expireIn: '1h' }, /expireIn is not an option; did you mean expiresIn\?/],
    [{ ...base, revocations: 'memory' }, /revocations is not an option; did you mean revocation\?/],
    [{ ...base, zzzzzzzzzzzzzzz: 1 }, /zzzzzzzzzzzzzzz is not an option; known: appId, appSecret/],
    [{ key: KEY, apps: [{ appId: APP, appSecret: 's', platfrom: 'qq' }] }, /apps\[0\]: platfrom is not an option; did you mean platform\?/],
    [{ key: KEY, apps: [{ appId: APP, wecom: { corpId: 'ww1', corpSecret: 's', agentId: 1 } }] }, /apps\[0\]: wecom\.agentId is not an option/],
    [{ key: KEY, apps: [{ appId: APP, component: { appId: 'wxc', appSecret: 's', verifyTicket: () => 't', verifyTiket: 1 } }] }, /component\.verifyTiket is not an option; did you mean component\.verifyTicket/]
  ] as const) {
    const app = Fastify()
    app.register(weapp, options as never)
    await t.rejects(async () => { await app.ready() }, { code: 'WEAPP_INVALID_OPTION', message }, JSON.stringify(options))
    await app.close()
  }
  // What Fastify's register() itself takes beside a plugin's options is not refused.
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { ...base, logLevel: 'warn' })
  await app.ready()
  t.pass('logLevel is Fastify\'s')
})

t.test('a lookup answer with a misspelled field is an unusable config, not a silent default', async (t) => {
  const registry = createRegistry(() => ({ appId: APP, appSecret: 's', platfrom: 'qq' }) as never, { apiBaseUrl: everyOrigin('http://127.0.0.1:1'), timeout: 100 })
  await t.rejects(registry.get(APP), { code: 'WEAPP_APP_LOOKUP_FAILED', message: /platfrom is not an option/ })
})

t.test('made-up appIds are cached apart: a flood of them never evicts a known app', async (t) => {
  let lookups = 0
  const known = new Map([[APP, { appId: APP, appSecret: 's' }]])
  const registry = createRegistry((appId) => { lookups++; return known.get(appId) }, { apiBaseUrl: everyOrigin('http://127.0.0.1:1'), timeout: 100 })
  const app = await registry.get(APP)
  let refused = 0
  for (let i = 0; i < 3000; i++) await registry.get(`wxmadeup${i}`).catch((err: { code?: string }) => { if (err.code === 'WEAPP_UNKNOWN_APP') refused++ })
  t.equal(refused, 3000)
  lookups = 0
  t.equal(await registry.get(APP), app, 'the same App, not rebuilt')
  t.equal(lookups, 0, 'and not looked up again')
  await t.rejects(registry.get('wxmadeup2999'), { code: 'WEAPP_UNKNOWN_APP' })
  t.equal(lookups, 0, '"no such app" is still cached')
})

t.test('an app removed from the lookup renews none of its sessions', async (t) => {
  const apps = new Map([[APP, { appId: APP, appSecret: 'mock-app-secret-0123456789abcdef' }]])
  const h = await harness(t, { plugin: { apps: (appId: string) => apps.get(appId), expiresIn: '1h', renewWithin: '10m' } })
  const now = Math.floor(Date.now() / 1000)
  const near = forge(KEY, claims(APP, { sub: 'o-alice', jti: 'removed-jti-0000000000', lat: Date.now() - 60_000, iat: now - 3000, exp: now + 60 }))
  const me = async (): Promise<{ statusCode: number, headers: Record<string, unknown> }> => await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${near}` } })
  t.type((await me()).headers['x-weapp-session'], 'string', 'renewed while the app is served')
  apps.delete(APP)
  const other = forge(KEY, claims('wxremovedapp000000', { sub: 'o-bob', jti: 'removed-jti-0000000001', lat: Date.now() - 60_000, iat: now - 3000, exp: now + 60 }))
  const res = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${other}` } })
  t.equal(res.statusCode, 200, 'a session of an app the lookup does not know works until it expires')
  t.notOk('x-weapp-session' in res.headers, 'and is not renewed')
})
