import t from 'tap'
import { parseKeys } from '../../lib/keys.js'
import { Doorkeeper, Memo } from '../../lib/memo.js'
import { createSessionCodec } from '../../lib/session.js'
import { KEY } from '../fixtures/app.js'
import { claims, forge, wechat } from '../fixtures/jwe.js'

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
  await codec.unseal(token) // the second unseal memoizes it
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  Date.now = () => exp * 1000 // the second exp names: expired, as jose has it (exp <= now)
  await t.rejects(codec.unseal(token), { code: 'WEAPP_SESSION_EXPIRED' }, 'from the memo')
  Date.now = () => exp * 1000 - 1
  // Dropped from the memo on expiry: the next unseal goes to the crypto again (and still opens).
  t.equal(wechat(await codec.unseal(token)).openid, 'o-forged')
})

/**
 * Whether the codec answers `token` from its memo: the memo checks exp against Date.now, jose (the
 * path a token past the fast path's clock takes) reads its own clock. With Date.now at exp, a memo
 * hit is WEAPP_SESSION_EXPIRED, and anything else opens.
 */
async function fromMemo (codec: ReturnType<typeof createSessionCodec>, token: string, exp: number): Promise<boolean> {
  const realNow = Date.now
  Date.now = () => exp * 1000
  try {
    await codec.unseal(token)
    return false
  } catch (err) {
    if ((err as { code?: string }).code === 'WEAPP_SESSION_EXPIRED') return true
    throw err
  } finally {
    Date.now = realNow
  }
}

t.test('a session is memoized from its second unseal on, never on its first', async (t) => {
  const codec = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 100 })
  const exp = Math.floor(Date.now() / 1000) + 60
  const token = forge(KEY, claims(appId, { exp }))
  await codec.unseal(token)
  t.notOk(await fromMemo(codec, token, exp), 'used once: not memoized')
  await codec.unseal(token)
  t.ok(await fromMemo(codec, token, exp), 'used again: memoized')
})

t.test('a flood of sessions each used once evicts no returning client from the memo', async (t) => {
  const codec = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 100 })
  const exp = Math.floor(Date.now() / 1000) + 60
  const returning = forge(KEY, claims(appId, { exp }))
  await codec.unseal(returning)
  await codec.unseal(returning)
  // Ten times the memo's size in one-use sessions.
  for (let i = 0; i < 1000; i++) await codec.unseal(codec.seal({ openid: `o-${i}`, sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }, appId))
  t.ok(await fromMemo(codec, returning, exp), 'still memoized')
})

t.test('the doorkeeper: seen on the second sight, a fixed table whatever the number of keys', async (t) => {
  const door = new Doorkeeper(100)
  t.notOk(door.seen('token-a.tag-0123456789abcdef'))
  t.ok(door.seen('token-a.tag-0123456789abcdef'), 'the second sight')
  t.notOk(door.seen('token-b.tag-0123456789abcdef0'), 'another key')
  let falseSightings = 0
  for (let i = 0; i < 100_000; i++) if (door.seen(`tok.${i.toString(36).padStart(16, 'x')}`)) falseSightings++
  t.ok(falseSightings < 10, `distinct keys are new (${falseSightings} of 100000 collided)`)
  t.ok(new Doorkeeper(0).seen('a') === false, 'a minimal table works')
})

t.test('memoized sessions are copies: changing one changes nothing else', async (t) => {
  const codec = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 100 })
  const token = await codec.seal({ openid: 'o-1', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }, appId)
  await codec.unseal(token)
  await codec.unseal(token) // memoized from here on: the rest are memo hits
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
  const { buildSettings } = await import('../../lib/options.js')
  const base = { appId, appSecret: 's', key: KEY }
  t.equal(buildSettings(base).sessionCacheSize, 10_000)
  t.equal(buildSettings({ ...base, sessionCacheSize: 0 }).sessionCacheSize, 0)
  t.equal(buildSettings({ ...base, sessionCacheSize: 500 }).sessionCacheSize, 500)
  for (const bad of [-1, 1.5, '100', 1e9]) {
    t.throws(() => buildSettings({ ...base, sessionCacheSize: bad }), { code: 'WEAPP_INVALID_OPTION', message: /sessionCacheSize/ })
  }
})
