// What npm would publish, for the server package and the client package: the file lists, the
// metadata a registry page shows, no source-map comment pointing at a file left out, and tarballs
// that install alone (offline) into an empty folder, each entry point loading.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

t.test('fastify-weapp publishes dist, the client\'s build, README, LICENSE and package.json only', async (t) => {
  const files = await packed(root)
  for (const needed of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/testing.js', 'dist/testing.d.ts', 'dist/client.js', 'dist/client.d.ts', 'dist/cli.js']) {
    t.ok(files.includes(needed), needed)
  }
  t.same(files.filter((f) => !/^dist\/(?:(?:platforms|revocation|upstream|testing)\/)?[a-z0-9-]+\.(js|d\.ts)$/.test(f) && !/^client\/dist\/esm\/(?:runtimes\/)?[a-z0-9-]+\.(js|d\.ts)$/.test(f)), ['LICENSE', 'README.md', 'client/LICENSE', 'client/README.md', 'client/dist/esm/package.json', 'package.json'], 'nothing else: no tests, sources or benchmarks; of the client, its ES module build (what fastify-weapp/client loads)')
  t.ok(files.includes('client/dist/esm/index.js') && files.includes('client/dist/esm/index.d.ts'), 'the client\'s build is carried')
  t.ok(files.includes('dist/platforms/index.js') && files.includes('dist/upstream/call.js') && files.includes('dist/testing/endpoints.js'), 'the folders of lib/ are built')
  await checkFiles(t, root, files)
  const pkg = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as Record<string, any>
  t.match(pkg, { license: 'MIT', repository: { url: /fastify-weapp/ }, homepage: /fastify-weapp/, bugs: { url: /issues/ } })
  t.same(Object.keys(pkg.dependencies).sort(), ['@fastify/error', 'fastify-plugin', 'jose', 'undici'], 'the runtime dependencies, and nothing else: not the client, which it carries')
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
  t.equal(pkg.version, server.version, 'the version of the server package that carries its build')
})

/** Installs in `dir` (a package.json and a lock already there), offline: never the network. */
async function installOffline (dir: string, args: string[] = []): Promise<{ ok: boolean, stderr: string }> {
  try {
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', ...args], { cwd: dir, timeout: 120_000 })
    return { ok: true, stderr: '' }
  } catch (err) {
    return { ok: false, stderr: String((err as { stderr?: unknown }).stderr) }
  }
}

t.test('the packed tarballs install alone, offline, into an empty folder, and every entry point loads', async (t) => {
  for (const built of ['dist/index.js', 'dist/testing.js', 'dist/client.js', 'client/dist/esm/index.js', 'client/dist/index.js']) {
    t.ok(existsSync(join(root, built)), `${built} is built (npm test builds first)`)
  }
  const dir = await mkdtemp(join(tmpdir(), 'fastify-weapp-packed-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // Both packages as npm would publish them (built already: no prepack build here).
  await Promise.all([root, join(root, 'client')].map(async (cwd) => await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd, timeout: 120_000 })))
  const server = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string, dependencies: Record<string, string> }
  const serverTgz = `fastify-weapp-${server.version}.tgz`
  const clientTgz = `fastify-weapp-client-${server.version}.tgz`

  // The server package alone. Its dependencies are pinned from this project's lock (registry
  // tarballs, fetched by integrity from the npm cache: no registry metadata needed offline); one
  // that is not a registry package (a workspace) is left for npm to find, which it cannot.
  const lock = (JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> }).packages
  const app = join(dir, 'server-app')
  await mkdir(app)
  const tarball = await readFile(join(dir, serverTgz))
  const manifest = { name: 'probe', version: '1.0.0', private: true, type: 'module', dependencies: { 'fastify-weapp': `file:../${serverTgz}` } }
  const packages: Record<string, Record<string, unknown>> = {
    '': { name: 'probe', version: '1.0.0', dependencies: manifest.dependencies },
    'node_modules/fastify-weapp': { version: server.version, resolved: `file:../${serverTgz}`, integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`, license: 'MIT', dependencies: server.dependencies }
  }
  const registry = Object.keys(server.dependencies).filter((name) => typeof lock[`node_modules/${name}`]?.integrity === 'string')
  for (const name of registry) {
    const { dev, devOptional, ...entry } = lock[`node_modules/${name}`] as Record<string, unknown>
    packages[`node_modules/${name}`] = entry
  }
  const writeLock = async (): Promise<void> => {
    await writeFile(join(app, 'package.json'), JSON.stringify(manifest))
    await writeFile(join(app, 'package-lock.json'), JSON.stringify({ name: 'probe', version: '1.0.0', lockfileVersion: 3, requires: true, packages }))
  }
  await writeLock()
  let installed = await installOffline(app)
  if (!installed.ok && /ENOTCACHED/.test(installed.stderr)) {
    // A cache without those tarballs: the same packages, packed from this project's node_modules.
    await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir, ...registry.map((name) => join(root, 'node_modules', name))], { cwd: dir, timeout: 120_000 })
    for (const name of registry) {
      const { version, license, dependencies } = packages[`node_modules/${name}`] as Record<string, unknown>
      packages[`node_modules/${name}`] = { version, resolved: `file:../${name.replace('@', '').replace('/', '-')}-${String(version)}.tgz`, license, dependencies }
    }
    await writeLock()
    installed = await installOffline(app)
  }
  t.ok(installed.ok, 'fastify-weapp installs with nothing beside it')
  if (!installed.ok) t.comment(installed.stderr)
  t.notOk(existsSync(join(app, 'node_modules/fastify-weapp-client')), 'and nothing else of this project')
  const probe = [
    "const server = await import('fastify-weapp')",
    "const testing = await import('fastify-weapp/testing')",
    "const client = await import('fastify-weapp/client')",
    'console.log(JSON.stringify([typeof server.default, typeof testing.MockWechat, typeof testing.createWx, typeof client.createWeappClient, typeof client.WeappClientError]))'
  ].join('\n')
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: app, timeout: 60_000 })
  t.same(JSON.parse(stdout), ['function', 'function', 'function', 'function', 'function'], 'fastify-weapp, fastify-weapp/testing and fastify-weapp/client load')

  // The client package alone: zero dependencies, both of its builds.
  const mini = join(dir, 'client-app')
  await mkdir(mini)
  await writeFile(join(mini, 'package.json'), JSON.stringify({ name: 'probe-client', version: '1.0.0', private: true }))
  t.ok((await installOffline(mini, [`../${clientTgz}`])).ok, 'fastify-weapp-client installs alone')
  const both = "import('fastify-weapp-client').then((esm) => { console.log(JSON.stringify([typeof require('fastify-weapp-client').createWeappClient, typeof esm.createWeappClient])) })"
  t.same(JSON.parse((await run(process.execPath, ['-e', both], { cwd: mini, timeout: 60_000 })).stdout), ['function', 'function'], 'required and imported')
})
