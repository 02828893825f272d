/**
 * A bounded memo: at most `size` entries in two generations (the quick-lru scheme). A hit in the
 * older generation moves the entry to the newer one; when the newer one is full it becomes the
 * older one and the oldest entries are dropped wholesale. Every operation is O(1), and no entry
 * outlives two generation flips, so a flood of distinct keys cannot grow it.
 */
export class Memo<V> {
  readonly #half: number
  #current = new Map<string, V>()
  #previous = new Map<string, V>()

  constructor (size: number) {
    this.#half = Math.max(1, Math.ceil(size / 2))
  }

  get (key: string): V | undefined {
    const value = this.#current.get(key)
    if (value !== undefined) return value
    const old = this.#previous.get(key)
    if (old !== undefined) {
      this.#previous.delete(key)
      this.set(key, old)
    }
    return old
  }

  set (key: string, value: V): void {
    this.#current.set(key, value)
    if (this.#current.size >= this.#half) {
      this.#previous = this.#current
      this.#current = new Map()
    }
  }

  delete (key: string): void {
    this.#current.delete(key)
    this.#previous.delete(key)
  }

  get size (): number {
    return this.#current.size + this.#previous.size
  }
}

/**
 * Which keys were seen before, approximately and without keeping them: a table of 32-bit
 * fingerprints of the keys' last characters, one slot per fingerprint's low bits, overwritten on
 * collision. It answers "seen" for a key it saw recently (unless another key took its slot since),
 * and, rarely, for a key it never saw (two fingerprints equal): fit only for a decision that is
 * safe either way, such as whether a key is worth a memo entry. It allocates nothing per key.
 *
 * The keys must end in characters an attacker cannot choose freely for keys that reach it: the
 * session codec feeds it only tokens that opened, whose last 22 characters are their GCM tag.
 */
export class Doorkeeper {
  readonly #slots: Uint32Array
  readonly #mask: number

  /** About `size` keys remembered: the table has the next power of two at or above 2 x size slots. */
  constructor (size: number) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(64, 2 * size)))
    this.#slots = new Uint32Array(slots)
    this.#mask = slots - 1
  }

  /** Whether `key` was seen before (approximately); it is remembered as seen from now on. */
  seen (key: string): boolean {
    // FNV-1a over the last 16 characters (the tag's, for a token: 96 random bits).
    let hash = 0x811c9dc5
    for (let i = Math.max(0, key.length - 16); i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
    const fingerprint = (hash | 1) >>> 0 // never 0, the empty slot
    const slot = hash & this.#mask
    if (this.#slots[slot] === fingerprint) return true
    this.#slots[slot] = fingerprint
    return false
  }
}
