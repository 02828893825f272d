// The codebase's shape: a platform is named only in its own files and the tables. For every key of
// the platform table, a case-insensitive search of lib/ and client/src finds that name only in
// files named after it (lib/platforms/wechat.ts, lib/testing/wecom.ts, …), the platform table
// (lib/platforms/index.ts), the mock's endpoint table and the client's
// runtime table. A name counts as a word or the start of a camelCase part: `components` is not
// `component`, `WeappComponentAppConfig` is. Hostnames are data (api.weixin.qq.com is not QQ).
// The same holds for each row's title and for its login call's runtime namespace (`wx.` of
// `wx.login()`, `swan.`, `my.`, …), whose own files are its platforms' and the runtime's mock
// (lib/testing/wx.ts): a message that names a platform takes it from the session's row.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import * as errors from '../lib/errors.js'
import { aboutSession, platformNamed } from '../lib/errors.js'
import { PLATFORMS } from '../lib/platforms/index.js'
import type { Platform } from '../lib/platforms/platform.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const TABLES = ['lib/platforms/index.ts', 'lib/testing/endpoints.ts']
const RUNTIME_TABLE = 'client/src/runtimes/'

function files (dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name)
    return statSync(join(root, path)).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** Hostnames, and the built-ins whose names hold a platform's by chance. */
const HOSTNAME = /\b[\w-]+(?:\.[\w-]+)*\.(?:com|cn|net)\b|\b(?:en|de)codeURIComponent\b/g

/** Where `name` occurs in `text` as a name: case-insensitive, not followed by a lowercase letter. */
export function mentions (text: string, name: string): number[] {
  const stripped = text.replace(HOSTNAME, (host) => ' '.repeat(host.length))
  const lower = stripped.toLowerCase()
  const lines: number[] = []
  for (let at = lower.indexOf(name); at !== -1; at = lower.indexOf(name, at + 1)) {
    if (/[a-z]/.test(stripped.charAt(at + name.length))) continue
    lines.push(stripped.slice(0, at).split('\n').length)
  }
  return lines
}

const sources = [...files('lib'), ...files('client/src')].map((path) => path.split('\\').join('/'))

t.test('the rule reads names, not substrings or hostnames', async (t) => {
  t.same(mentions('const x = components.securitySchemes', 'component'), [])
  t.same(mentions('type WeappComponentAppConfig = 1', 'component'), [1])
  t.same(mentions('a\nhttps://api.weixin.qq.com/sns', 'qq'), [])
  t.same(mentions('encodeURIComponent(x)', 'component'), [])
  t.same(mentions('a\nb qq.login()', 'qq'), [2])
  t.same(mentions('isWecom(x)', 'wecom'), [1], 'a camelCase part')
})

t.test('the sources the rule reads are there', async (t) => {
  t.ok(sources.includes('lib/routes.ts') && sources.includes('client/src/client.ts') && sources.includes('lib/testing/server.ts'))
})

/**
 * Where a runtime's namespace (`wx.`, `my.`, …) is used as one in `text`: a prefix of an identifier's
 * member (`wx.login()`, `` `wx.qy` ``), not a path (`./testing/wx.js`), a member of something else
 * (`a.my.b`) or the end of a word (`thanks.x`).
 */
export function callsTo (text: string, prefix: string): number[] {
  const stripped = text.replace(HOSTNAME, (host) => ' '.repeat(host.length))
  const lines: number[] = []
  for (const m of stripped.matchAll(new RegExp(`(?<![\\w$./-])${prefix.replace('.', '\\.')}(?=[A-Za-z_$])`, 'g'))) {
    lines.push(stripped.slice(0, m.index).split('\n').length)
  }
  return lines
}

/** `path:line: text` of each line in `lines` of the file at `path`. */
function cite (path: string, text: string, lines: number[]): string[] {
  return lines.map((line) => `${relative('.', path)}:${line}: ${(text.split('\n')[line - 1] ?? '').trim()}`)
}

/** The keys whose row has this title, or whose login call has this prefix: whose files may name it. */
const keysWith = (has: (row: Platform) => boolean): string[] => Object.entries(PLATFORMS).filter(([, row]) => has(row)).map(([key]) => key)
/** A login call's runtime namespace: `wx.` of `wx.login()` and of `wx.qy.login()`. */
const prefixOf = (row: Platform): string => (/^[a-z]+\./.exec(row.loginCall) as RegExpExecArray)[0]

t.test('the rule reads runtime namespaces, not paths or other members', async (t) => {
  t.same(callsTo('a\nwx.login()', 'wx.'), [2])
  t.same(callsTo('`wx.qy`', 'wx.'), [1])
  t.same(callsTo("export type { MockWx } from './testing/wx.js'", 'wx.'), [])
  t.same(callsTo('thanks.x and a.my.b and ks.', 'ks.'), [])
  t.same(callsTo('thanks.x and a.my.b', 'my.'), [])
  t.same(callsTo('https://wx.qlogo.cn/x', 'wx.'), [], 'a hostname')
  t.same(Object.values(PLATFORMS).slice(0, 9).map(prefixOf).sort(), ['ks.', 'my.', 'qq.', 'swan.', 'tt.', 'tt.', 'wx.', 'wx.', 'wx.'], 'the first nine rows\' (a row added since reads its own)')
})

for (const row of Object.values(PLATFORMS)) {
  // Each title and login call once (a hosted row shares its parent's).
  if (Object.values(PLATFORMS).find((other) => other.title === row.title) !== row) continue
  t.test(`${row.title} is named only in its platforms' own files and the tables`, async (t) => {
    const keys = keysWith((other) => other.title === row.title)
    const own = (path: string): boolean => keys.some((key) => basename(path).startsWith(key)) || TABLES.includes(path) || path.startsWith(RUNTIME_TABLE)
    const found = sources.filter((path) => !own(path)).flatMap((path) => {
      const text = readFileSync(join(root, path), 'utf8')
      return cite(path, text, mentions(text, row.title.toLowerCase()))
    })
    t.same(found, [], `'${row.title}' outside its own files`)
  })
}

for (const prefix of new Set(Object.values(PLATFORMS).map(prefixOf))) {
  t.test(`${prefix} (a login call's runtime) is used only in its platforms' own files and the tables`, async (t) => {
    // The platforms whose login call is in this runtime, and the runtime's own mock (lib/testing/wx.ts).
    const keys = [...keysWith((row) => prefixOf(row) === prefix), prefix.slice(0, -1)]
    const own = (path: string): boolean => keys.some((key) => basename(path).startsWith(key)) || TABLES.includes(path) || path.startsWith(RUNTIME_TABLE)
    const found = sources.filter((path) => !own(path)).flatMap((path) => {
      const text = readFileSync(join(root, path), 'utf8')
      return cite(path, text, callsTo(text, prefix))
    })
    t.same(found, [], `'${prefix}' outside its platforms' own files`)
  })
}

for (const key of Object.keys(PLATFORMS)) {
  t.test(`${key} is named only in its own files and the tables`, async (t) => {
    const own = (path: string): boolean => basename(path).startsWith(key) || TABLES.includes(path) || path.startsWith(RUNTIME_TABLE)
    const found = sources.filter((path) => !own(path)).flatMap((path) => {
      const text = readFileSync(join(root, path), 'utf8')
      return mentions(text, key).map((line) => `${relative('.', path)}:${line}: ${(text.split('\n')[line - 1] ?? '').trim()}`)
    })
    t.same(found, [], `'${key}' outside its own files`)
    t.ok(sources.some((path) => basename(path).startsWith(key) && path.startsWith('lib/platforms/')), `lib/platforms/ has ${key}'s file`)
  })
}

/**
 * A refusal of a session is built by lib/errors.ts's `refuseSession`, which must be told the
 * session's platform or `undefined`: no other file of lib/ constructs a session-side error class
 * (those whose message `aboutSession` rewrites) or writes "log in again" itself, so no refusal can
 * name one platform for all, or forget to name the session's.
 */
const SESSION_CLASSES = Object.entries(errors).filter(([name, value]) => {
  if (typeof value !== 'function' || !/^[A-Z]\w*Error$/.test(name)) return false
  const made = new (value as new () => Error)()
  return platformNamed(aboutSession(made, { title: 'T', loginCall: 't.login()' })) !== undefined
}).map(([name]) => name)

/** Session refusals still built by hand somewhere in lib/ (none: each site calls refuseSession). */
const PENDING: string[] = []

/** The lines of `text` that are code (not a comment line) and match `pattern`. */
function codeLines (text: string, pattern: RegExp): number[] {
  return text.split('\n').flatMap((line, i) => /^\s*(?:\/\/|\*|\/\*)/.test(line) || !pattern.test(line) ? [] : [i + 1])
}

t.test('a refusal of a session is built only by refuseSession, told the platform', async (t) => {
  t.same(SESSION_CLASSES.sort(), ['DecryptFailedError', 'LinkExpiredError', 'SessionEndedError', 'SessionExpiredError', 'SessionInvalidError', 'SessionKickedError', 'SessionRevokedError'], 'the session-side classes, found by what aboutSession rewrites')
  const built = new RegExp(`(?<![\\w$.])(?:${SESSION_CLASSES.join('|')})\\s*\\(`)
  const found: string[] = []
  const pending = new Set<string>()
  for (const path of sources.filter((p) => p.startsWith('lib/') && p !== 'lib/errors.ts')) {
    const text = readFileSync(join(root, path), 'utf8')
    for (const line of codeLines(text, built)) {
      const code = (text.split('\n')[line - 1] ?? '').trim()
      if (PENDING.includes(code)) pending.add(code)
      else found.push(...cite(path, text, [line]))
    }
    found.push(...cite(path, text, codeLines(text, /log in again|loginAgain\(/i)))
  }
  t.same(found, [], 'a session-side error built, or "log in again" written, outside lib/errors.ts')
  t.same(PENDING.filter((line) => !pending.has(line)), [], 'applied: remove it from PENDING')
})
