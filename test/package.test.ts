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
  t.same(files.filter((f) => !/^dist\/(?:(?:platforms|upstream|testing)\/)?[a-z0-9-]+\.(js|d\.ts)$/.test(f)), ['LICENSE', 'README.md', 'package.json'], 'nothing else: no tests, sources, client package or benchmarks')
  t.ok(files.includes('dist/platforms/index.js') && files.includes('dist/upstream/call.js') && files.includes('dist/testing/endpoints.js'), 'the folders of lib/ are built')
  await checkFiles(t, root, files)
  const pkg = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as Record<string, any>
  t.match(pkg, { license: 'MIT', repository: { url: /fastify-weapp/ }, homepage: /fastify-weapp/, bugs: { url: /issues/ } })
  t.same(Object.keys(pkg.dependencies).sort(), ['@fastify/error', 'fastify-plugin', 'fastify-weapp-client', 'jose', 'undici'], 'the runtime dependencies, and nothing else')
  t.match(await readFile(`${root}/${pkg.bin['fastify-weapp'] as string}`, 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the bin has its shebang')
})

t.test('fastify-weapp-client publishes its ES2017 builds, README and LICENSE', async (t) => {
  const dir = `${root}/client`
  const files = await packed(dir)
  // Both builds, each the client's modules (split by concern) and a package.json saying its module kind.
  const modules = ['aes', 'client', 'index', 'runtimes/index', 'storage', 'transport', 'types'].flatMap((m) => [`${m}.d.ts`, `${m}.js`])
  t.same(files, ['LICENSE', 'README.md', ...modules.map((m) => `dist/esm/${m}`), 'dist/esm/package.json', ...modules.map((m) => `dist/${m}`), 'dist/package.json', 'package.json'].sort())
  await checkFiles(t, dir, files)
  const pkg = JSON.parse(await readFile(`${dir}/package.json`, 'utf8')) as Record<string, any>
  t.match(pkg, { license: 'MIT', repository: { url: /fastify-weapp/, directory: 'client' }, miniprogram: 'dist' })
  t.equal(pkg.dependencies, undefined, 'zero dependencies')
  const server = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as Record<string, any>
  t.equal(server.dependencies['fastify-weapp-client'], pkg.version, 'the server package depends on exactly this client version')
})
