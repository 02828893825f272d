/**
 * Calls that share one promise while it is in flight, per key: for single-use login codes, where
 * a second upstream call with the same code would only burn it. The key only names the call; the
 * call itself is a closure, so nothing is ever parsed back out of a key.
 */
export function singleFlight<T> (): (key: string, call: () => Promise<T>) => Promise<T> {
  const inFlight = new Map<string, Promise<T>>()
  return (key, call) => {
    let pending = inFlight.get(key)
    if (pending === undefined) {
      pending = call()
      inFlight.set(key, pending)
      // Registered before any caller's await: the key is free again when they resume.
      const forget = (): void => { inFlight.delete(key) }
      pending.then(forget, forget)
    }
    return pending
  }
}
