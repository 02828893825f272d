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
