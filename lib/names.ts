/** How many single-character edits (letter case aside) turn `a` into `b`. */
function distance (a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_v, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase()
      next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (same ? 0 : 1))
    }
    row = next
  }
  return row[b.length] as number
}

/**
 * Why `given` has a name `known` lacks (a misspelled option would otherwise be ignored, and its
 * default used: `apiBaseURL` would send a test's logins to the real API), or undefined.
 */
/** "a, b or c": a list of names for a message. */
export function orList (items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1) as string}`
}

export function unknownName (given: object, known: readonly string[], path = ''): string | undefined {
  const name = Object.keys(given).find((key) => !known.includes(key))
  if (name === undefined) return undefined
  const closest = [...known].sort((a, b) => distance(name, a) - distance(name, b))[0] as string
  const hint = distance(name, closest) <= Math.max(2, Math.floor(closest.length / 3)) ? `did you mean ${path}${closest}?` : `known: ${known.join(', ')}`
  return `${path}${name} is not an option; ${hint}`
}
