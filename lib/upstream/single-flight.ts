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
      // The key is free again before any caller resumes: the callers' promise is the one that forgets it.
      pending = call().then((value) => { inFlight.delete(key); return value }, (err: unknown) => { inFlight.delete(key); throw err })
      inFlight.set(key, pending)
    }
    return pending
  }
}
