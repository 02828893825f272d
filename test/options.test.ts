import Fastify from 'fastify'
import t from 'tap'
import weapp from '../lib/index.js'
import { buildSettings, DEFAULT_API_BASE_URL, DEFAULT_EXPIRES_IN, DEFAULT_PREFIX, DEFAULT_TIMEOUT, parseTimeSpan } from '../lib/options.js'
import { KEY } from './fixtures/app.js'

const valid = { appId: 'wx0123456789abcdef', appSecret: 'secret-that-must-not-leak', key: KEY }

t.test('defaults', async (t) => {
  const s = buildSettings(valid)
  t.equal(s.expiresIn, DEFAULT_EXPIRES_IN)
  t.equal(s.expiresIn, 604800, 'seven days')
  t.equal(s.prefix, DEFAULT_PREFIX)
  t.equal(s.apiBaseUrl, DEFAULT_API_BASE_URL)
  t.equal(s.timeout, DEFAULT_TIMEOUT)
  t.equal(s.watermarkMaxAge, 0, 'watermark age not checked')
  t.ok(Object.isFrozen(s))
  t.equal(s.keys.length, 1)
})

t.test('normalises', async (t) => {
  const s = buildSettings({ ...valid, prefix: '/auth/wx/', apiBaseUrl: 'http://127.0.0.1:8080/proxy/', expiresIn: '12h', timeout: 800, watermarkMaxAge: 0 })
  t.equal(s.prefix, '/auth/wx')
  t.equal(s.apiBaseUrl, 'http://127.0.0.1:8080/proxy')
  t.equal(s.expiresIn, 43200)
  t.equal(s.timeout, 800)
  t.equal(s.watermarkMaxAge, 0)
  t.equal(buildSettings({ ...valid, prefix: '' }).prefix, '')
  t.equal(buildSettings({ ...valid, prefix: '/' }).prefix, '')
  t.equal(buildSettings({ ...valid, expiresIn: 3600 }).expiresIn, 3600)
  t.equal(buildSettings({ ...valid, watermarkMaxAge: 600 }).watermarkMaxAge, 600)
})

t.test('time spans', async (t) => {
  t.equal(parseTimeSpan('90s'), 90)
  t.equal(parseTimeSpan('30 minutes'), 1800)
  t.equal(parseTimeSpan('2h'), 7200)
  t.equal(parseTimeSpan('7d'), 604800)
  t.equal(parseTimeSpan('1 week'), 604800)
  t.equal(parseTimeSpan('1y'), undefined)
  t.equal(parseTimeSpan('-5m'), undefined)
  t.equal(parseTimeSpan('soon'), undefined)
})

t.test('does not mutate the caller\'s options', async (t) => {
  const keyBytes = Buffer.alloc(32, 1)
  const options = { ...valid, key: [keyBytes] }
  const copy = structuredClone(options)
  const s = buildSettings(options)
  t.same(options, copy)
  keyBytes.fill(2)
  t.equal(s.keys[0]?.secret[0], 1, 'the key is copied, not referenced')
})

const bad: Array<[string, Record<string, unknown>]> = [
  ['appId', { appId: undefined }],
  ['appId', { appId: '' }],
  ['appId', { appId: ' wx1 ' }],
  ['appId', { appId: 42 }],
  ['appSecret', { appSecret: undefined }],
  ['appSecret', { appSecret: '' }],
  ['key', { key: undefined }],
  ['key', { key: [] }],
  ['key', { key: 'short' }],
  ['key', { key: Buffer.alloc(16) }],
  ['key', { key: 42 }],
  ['key[1]', { key: [KEY, 'nope'] }],
  ['key[1]', { key: [KEY, KEY] }],
  ['expiresIn', { expiresIn: 0 }],
  ['expiresIn', { expiresIn: -1 }],
  ['expiresIn', { expiresIn: 1.5 }],
  ['expiresIn', { expiresIn: 'forever' }],
  ['expiresIn', { expiresIn: '400d' }],
  ['prefix', { prefix: 'weapp' }],
  ['prefix', { prefix: '/has space' }],
  ['prefix', { prefix: 7 }],
  ['apiBaseUrl', { apiBaseUrl: 'not a url' }],
  ['apiBaseUrl', { apiBaseUrl: 'ftp://api.weixin.qq.com' }],
  ['apiBaseUrl', { apiBaseUrl: 'https://api.weixin.qq.com/?x=1' }],
  ['apiBaseUrl', { apiBaseUrl: 'https://user:pw@api.weixin.qq.com' }],
  ['apiBaseUrl', { apiBaseUrl: 42 }],
  ['timeout', { timeout: 0 }],
  ['timeout', { timeout: '5s' }],
  ['timeout', { timeout: Infinity }],
  ['timeout', { timeout: 10 ** 9 }],
  ['watermarkMaxAge', { watermarkMaxAge: -5 }],
  ['watermarkMaxAge', { watermarkMaxAge: '1h' }]
]

t.test('a bad option fails registration with an error naming it', async (t) => {
  for (const [name, change] of bad) {
    const app = Fastify()
    app.register(weapp, { ...valid, ...change } as never)
    const err = await app.ready().then(() => undefined, (e: Error & { code?: string }) => e)
    t.equal(err?.code, 'WEAPP_INVALID_OPTION', `${name}: ${JSON.stringify(change)}`)
    t.ok(err?.message.includes(name), `message names ${name}: ${err?.message}`)
    t.ok(err instanceof TypeError, 'a TypeError')
    t.notOk(err?.message.includes(valid.appSecret), 'the secret is not in the message')
    await app.close()
  }
})

t.test('options must be an object', async (t) => {
  t.throws(() => buildSettings(undefined), { code: 'WEAPP_INVALID_OPTION' })
  t.throws(() => buildSettings('x'), { code: 'WEAPP_INVALID_OPTION' })
})
