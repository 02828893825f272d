// The codebase's shape: a platform is named only in its own files and the tables. For every key of
// the platform table, a case-insensitive search of lib/ and client/src finds that name only in
// files named after it (lib/platforms/wechat.ts, lib/testing/wecom.ts, …), the platform table
// (lib/platforms/index.ts), the mock's endpoint table and the client's
// runtime table. A name counts as a word or the start of a camelCase part: `components` is not
// `component`, `WeappComponentAppConfig` is. Hostnames are data (api.weixin.qq.com is not QQ).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { PLATFORMS } from '../lib/platforms/index.js'

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
