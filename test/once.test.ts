// "Accept this at most once" in one process: a name is taken once while remembered, forgotten when
// its time is up, and the set stays bounded (the oldest forgotten first).
import t from 'tap'
import { acceptOnce, digest, MAX_ONCE, memoryOnce } from '../lib/once.js'

t.test('a name is taken once while it is remembered, and again once it is forgotten', async (t) => {
  let now = 1000
  const once = memoryOnce(() => now)
  t.equal(await once('a', 100), true)
  t.equal(await once('a', 100), false, 'taken')
  now += 99
  t.equal(await once('a', 100), false, 'still remembered at its last ms')
  now += 1
  t.equal(await once('a', 100), true, 'forgotten when its time is up, then taken anew')
  t.equal(await once('a', 100), false)
})

t.test('the set is bounded: expired names go first, then the oldest live one', async (t) => {
  let now = 0
  const once = memoryOnce(() => now, 3)
  for (const name of ['a', 'b', 'c']) t.equal(await once(name, 1000), true)
  t.equal(await once('d', 1000), true, 'full: the oldest (a) is forgotten')
  t.equal(await once('b', 1000), false, 'b is still remembered')
  t.equal(await once('a', 1000), true, 'a was forgotten')
  now = 2000
  t.equal(await once('e', 10), true, 'every one expired: dropped')
  t.equal(await once('c', 1000), true, 'c expired and was dropped')
  t.equal(await once('e', 10), false)
  t.equal(MAX_ONCE, 100_000)
  t.equal(digest('x'), 'LXEWQrcmsEQBYnyp-6wy9chTD7GQPMTbAiWHF5IaSIE', 'base64url SHA-256')
})

t.test('acceptOnce: the first time passes, a second is the caller\'s error, a store that cannot say is a 503', async (t) => {
  const once = memoryOnce()
  const replayed = (): Error => new Error('seen before')
  await acceptOnce(once, 'n', 1000, 'the answer', replayed)
  await t.rejects(acceptOnce(once, 'n', 1000, 'the answer', replayed), { message: 'seen before' })
  await t.rejects(acceptOnce(async () => { throw new Error('ECONNREFUSED 10.0.0.1:6379') }, 'n', 1000, 'the answer', replayed), {
    code: 'WEAPP_REVOCATION_UNAVAILABLE',
    statusCode: 503,
    message: 'The revocation store could not say whether the answer was used before; nothing was accepted: retry in a moment'
  })
})
