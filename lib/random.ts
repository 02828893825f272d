import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096
const pool = Buffer.alloc(POOL_BYTES)
let used = POOL_BYTES

/**
 * `size` (at most 4096) fresh bytes from the CSPRNG, never handed out twice. Each call to the
 * CSPRNG costs about as much for 12 bytes as for 4 KiB (a system call), so bytes are drawn 4 KiB at
 * a time and handed out in order, the way Node batches them for `randomUUID()`. For values that are
 * public once used (IVs, session ids): what is left in the pool is only ever handed out once.
 */
export function randomBytes (size: number): Buffer {
  if (used + size > POOL_BYTES) {
    randomFillSync(pool)
    used = 0
  }
  const bytes = Buffer.from(pool.subarray(used, used + size))
  used += size
  return bytes
}
