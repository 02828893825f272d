import t from 'tap'
import { parseKeys } from '../lib/keys.js'
import { Memo } from '../lib/memo.js'
import { createSessionCodec } from '../lib/session.js'
import { KEY } from './fixtures/app.js'
import { claims, forge, wechat } from './fixtures/jwe.js'

const appId = 'wx0123456789abcdef'

t.test('the memo never holds more than its size', async (t) => {
  const memo = new Memo<number>(100)
  for (let i = 0; i < 10_000; i++) {
    memo.set(`k${i}`, i)
    if (memo.size > 100) t.fail(`size ${memo.size} after ${i}`)
  }
  t.ok(memo.size <= 100)
  t.equal(memo.get('k9999'), 9999, 'the newest is kept')
  t.equal(memo.get('k0'), undefined, 'the oldest is gone')
})

t.test('a hit in the older generation survives the next flip', async (t) => {
  const memo = new Memo<string>(4) // two generations of 2
  memo.set('a', 'A')
  memo.set('b', 'B') // flip: a, b are old
  t.equal(memo.get('a'), 'A') // promoted
  memo.set('c', 'C') // flip: a, c are old; b is gone
  t.equal(memo.get('b'), undefined)
  t.equal(memo.get('a'), 'A')
  memo.delete('a')
  t.equal(memo.get('a'), undefined)
  t.equal(new Memo<number>(0).size, 0)
})

t.test('a memoized session still expires, checked on every hit', async (t) => {
  const codec = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 100 })
  const exp = Math.floor(Date.now() / 1000) + 60
  const token = forge(KEY, claims(appId, { exp }))
  t.equal((await codec.unseal(token)).expiresAt, exp * 1000)
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  Date.now = () => exp * 1000 // the second exp names: expired, as jose has it (exp <= now)
  await t.rejects(codec.unseal(token), { code: 'WEAPP_SESSION_EXPIRED' }, 'from the memo')
  Date.now = () => exp * 1000 - 1
  // Dropped from the memo on expiry: the next unseal goes to the crypto again (and still opens).
  t.equal(wechat(await codec.unseal(token)).openid, 'o-forged')
})

t.test('memoized sessions are copies: changing one changes nothing else', async (t) => {
  const codec = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 100 })
  const token = await codec.seal({ openid: 'o-1', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }, appId)
  const first = wechat(await codec.unseal(token))
  first.openid = 'o-evil'
  ;(first as unknown as Record<string, unknown>).extra = 1
  const second = wechat(await codec.unseal(token))
  t.equal(second.openid, 'o-1')
  t.notOk('extra' in second)
  second.openid = 'x'
  t.equal(wechat(await codec.unseal(token)).openid, 'o-1')
})

t.test('with cacheSize 0 every unseal opens the token', async (t) => {
  const codec = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 0 })
  const exp = Math.floor(Date.now() / 1000) + 60
  const token = forge(KEY, claims(appId, { exp }))
  t.equal(wechat(await codec.unseal(token)).openid, 'o-forged')
  t.equal(wechat(await codec.unseal(token)).openid, 'o-forged')
})

t.test('the option: default 10000, 0 disables, bad values fail registration', async (t) => {
  const { buildSettings } = await import('../lib/options.js')
  const base = { appId, appSecret: 's', key: KEY }
  t.equal(buildSettings(base).sessionCacheSize, 10_000)
  t.equal(buildSettings({ ...base, sessionCacheSize: 0 }).sessionCacheSize, 0)
  t.equal(buildSettings({ ...base, sessionCacheSize: 500 }).sessionCacheSize, 500)
  for (const bad of [-1, 1.5, '100', 1e9]) {
    t.throws(() => buildSettings({ ...base, sessionCacheSize: bad }), { code: 'WEAPP_INVALID_OPTION', message: /sessionCacheSize/ })
  }
})
