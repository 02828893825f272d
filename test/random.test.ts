import t from 'tap'
import { randomBytes } from '../lib/random.js'

t.test('pooled random bytes are never handed out twice, across refills', async (t) => {
  const seen = new Set<string>()
  let total = 0
  let wrongSize = 0
  // 12-byte IVs and 16-byte session ids, interleaved, through many refills of the 4 KiB pool.
  for (let i = 0; i < 4000; i++) {
    const size = i % 2 === 0 ? 12 : 16
    const bytes = randomBytes(size)
    if (bytes.length !== size) wrongSize++
    seen.add(bytes.toString('hex'))
    total += size
  }
  t.equal(wrongSize, 0, 'each draw of the size asked')
  t.equal(seen.size, 4000, 'every draw is new')
  t.ok(total > 8 * 4096, 'the pool was refilled several times')
})

t.test('a draw is the caller\'s own copy: refilling the pool never changes it', async (t) => {
  const iv = randomBytes(12)
  const before = iv.toString('hex')
  t.equal(randomBytes(4096).length, 4096, 'a whole pool in one draw (a refill)')
  randomBytes(12) // and another
  t.equal(iv.toString('hex'), before)
})
