// What npm would publish, for the server package and the client package: the file lists, the
// metadata a registry page shows, and no source-map comment pointing at a file left out.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

async function packed (dir: string): Promise<string[]> {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, timeout: 60_000 })
  return (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path).sort() ?? []
}

async function checkFiles (t: Test, dir: string, files: string[]): Promise<void> {
  for (const file of files.filter((f) => /\.(js|d\.ts)$/.test(f))) {
    const text = await readFile(`${dir}/${file}`, 'utf8')
    t.notMatch(text, /sourceMappingURL/, `${file}: no source-map comment (the maps are not published)`)
  }
  t.notOk(files.some((f) => f.endsWith('.map')), 'no source maps')
}

t.test('fastify-weapp publishes dist, README, LICENSE and package.json only', async (t) => {
  const files = await packed(root)
  for (const needed of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/testing.js', 'dist/testing.d.ts', 'dist/client.js', 'dist/client.d.ts', 'dist/cli.js']) {
    t.ok(files.includes(needed), needed)
  }
  t.same(files.filter((f) => !/^dist\/[a-z0-9-]+\.(js|d\.ts)$/.test(f)), ['LICENSE', 'README.md', 'package.json'], 'nothing else: no tests, sources, client package or benchmarks')
  await checkFiles(t, root, files)
  const pkg = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as Record<string, any>
  t.match(pkg, { license: 'MIT', repository: { url: /fastify-weapp/ }, homepage: /fastify-weapp/, bugs: { url: /issues/ } })
  t.same(Object.keys(pkg.dependencies).sort(), ['@fastify/error', 'fastify-plugin', 'fastify-weapp-client', 'jose', 'undici'], 'the runtime dependencies, and nothing else')
  t.match(await readFile(`${root}/${pkg.bin['fastify-weapp'] as string}`, 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the bin has its shebang')
})

t.test('fastify-weapp-client publishes its ES2017 builds, README and LICENSE', async (t) => {
  const dir = `${root}/client`
  const files = await packed(dir)
  t.same(files, ['LICENSE', 'README.md', 'dist/esm/index.d.ts', 'dist/esm/index.js', 'dist/esm/package.json', 'dist/index.d.ts', 'dist/index.js', 'dist/package.json', 'package.json'])
  await checkFiles(t, dir, files)
  const pkg = JSON.parse(await readFile(`${dir}/package.json`, 'utf8')) as Record<string, any>
  t.match(pkg, { license: 'MIT', repository: { url: /fastify-weapp/, directory: 'client' }, miniprogram: 'dist' })
  t.equal(pkg.dependencies, undefined, 'zero dependencies')
  const server = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as Record<string, any>
  t.equal(server.dependencies['fastify-weapp-client'], pkg.version, 'the server package depends on exactly this client version')
})
