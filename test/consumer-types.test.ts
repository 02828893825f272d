// The published types as consumers compile them: the built package (dist) installed under
// node_modules/fastify-weapp of a scratch project, a consumer file compiled strict and without
// skipLibCheck under node16, nodenext, bundler and node10 resolution (with esModuleInterop, which
// Fastify's own types need through pino).
import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, readdir, rm, symlink, writeFile, copyFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
// Six strict compiles of the whole package's types: minutes on a loaded two-core machine, far past
// tap's 150 s for other files. The file's own budget (a hang still ends it), each compile's below it.
t.setTimeout(600_000)
const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

const settings = {
  node16: { module: 'node16', moduleResolution: 'node16' },
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' },
  node10: { module: 'commonjs', moduleResolution: 'node10' }
} as const

t.test('the package\'s types under every module resolution, strict, without skipLibCheck', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-weapp-consumer-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // node_modules: the package itself, and everything it and the consumer depend on.
  const modules = join(dir, 'node_modules')
  await mkdir(modules)
  for (const name of await readdir(join(root, 'node_modules'))) {
    if (name === 'fastify-weapp' || name.startsWith('.')) continue
    await symlink(join(root, 'node_modules', name), join(modules, name))
  }
  await symlink(root, join(modules, 'fastify-weapp'))
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  for (const file of ['consumer.ts', 'wecom-consumer.ts']) await copyFile(join(root, 'test', 'fixtures', 'consumer', file), join(dir, file))

  // consumer.ts (every app a WeChat one) under every resolution; wecom-consumer.ts (which augments
  // the session types) apart, under the exports map and under node10's typesVersions.
  const programs = [
    ...Object.entries(settings).map(([name, resolution]) => [name, resolution, 'consumer.ts'] as const),
    ['nodenext, WeCom sessions', settings.nodenext, 'wecom-consumer.ts'] as const,
    ['node10, WeCom sessions', settings.node10, 'wecom-consumer.ts'] as const
  ]
  const compile = async ([name, resolution, file]: typeof programs[number], i: number): Promise<readonly [string, string]> => {
    const config = join(dir, `tsconfig.${i}.json`)
    await writeFile(config, JSON.stringify({
      compilerOptions: { ...resolution, target: 'ES2022', strict: true, skipLibCheck: false, noEmit: true, types: ['node'], esModuleInterop: true },
      files: [file]
    }))
    try {
      await run(process.execPath, [tsc, '-p', config], { cwd: dir, timeout: 300_000 })
      return [name, ''] as const
    } catch (err) {
      return [name, String((err as { stdout?: string }).stdout ?? err)] as const
    }
  }
  // As many compiles at once as there are cores: more only share them, and each holds the types in memory.
  const width = availableParallelism()
  const results: Array<readonly [string, string]> = []
  for (let i = 0; i < programs.length; i += width) results.push(...await Promise.all(programs.slice(i, i + width).map((program, j) => compile(program, i + j))))
  for (const [name, errors] of results) t.equal(errors, '', `${name}: compiles, and every @ts-expect-error is still an error`)
})
