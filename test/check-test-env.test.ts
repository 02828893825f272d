// npm test's first step (scripts/check-test-env.js) on machines it cannot see here: redis present;
// missing on Debian as root, or with sudo that asks no password (it installs redis-server and
// redis-tools, as .ci/run does, and says so); missing where it may not install (another system, a
// sudo that wants a password, no apt-get): it stops at once with the command. Every command it runs
// is a fake on a temporary PATH that records its call: no test ever runs the real apt-get or sudo.
import { execFile } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'

const run = promisify(execFile)
const script = fileURLToPath(new URL('../scripts/check-test-env.js', import.meta.url))
const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'
const INSTALL = ['install', '-y', '-qq', '--no-install-recommends', 'redis-server', 'redis-tools']

interface Machine {
  bin: string
  /** Each fake command's calls: its name, arguments and DEBIAN_FRONTEND. */
  calls (): Promise<Array<{ name: string, args: string[], frontend?: string }>>
}

/** A fake command: records its call, then runs `body` (JavaScript with `args`, `bin` and `fs`). */
async function fake (bin: string, name: string, body = 'process.exit(0)'): Promise<void> {
  const path = join(bin, name)
  await writeFile(path, `#!${process.execPath}
const fs = require('node:fs'), path = require('node:path')
const args = process.argv.slice(2), bin = ${JSON.stringify(bin)}
fs.appendFileSync(path.join(bin, 'calls.log'), JSON.stringify({ name: ${JSON.stringify(name)}, args, frontend: process.env.DEBIAN_FRONTEND }) + '\\n')
${body}
`)
  await chmod(path, 0o755)
}

/** apt-get install's fake: puts working redis-server and redis-cli on the PATH. */
const INSTALLS = 'if (args[0] === \'install\') for (const name of [\'redis-server\', \'redis-cli\']) fs.writeFileSync(path.join(bin, name), \'#!/bin/sh\\nexit 0\\n\', { mode: 0o755 })'
/** sudo's fake: -n, then VAR=value arguments, then the command, run from the same PATH. */
const SUDO = `const { spawnSync } = require('node:child_process')
const rest = args.slice(1), env = { ...process.env }
while (rest[0] !== undefined && rest[0].includes('=')) { const [k, v] = rest.shift().split('='); env[k] = v }
process.exit(rest[0] === 'true' ? 0 : spawnSync(rest[0], rest.slice(1), { env, stdio: 'inherit' }).status ?? 1)`

async function machine (t: Test, commands: Record<string, string | undefined>): Promise<Machine> {
  const bin = await mkdtemp(join(tmpdir(), 'fastify-weapp-env-'))
  t.teardown(() => rm(bin, { recursive: true, force: true }))
  for (const [name, body] of Object.entries(commands)) await fake(bin, name, body)
  return {
    bin,
    async calls () {
      const text = await readFile(join(bin, 'calls.log'), 'utf8').catch(() => '')
      return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line))
    }
  }
}

/** The check, in a child whose PATH is the machine's alone, as this user on this system. */
async function check (m: Machine, uid: number, osRelease: string): Promise<{ code: number, stderr: string }> {
  const code = `import { checkTestEnv } from ${JSON.stringify(script)}; process.exitCode = checkTestEnv({ uid: ${uid}, osRelease: ${JSON.stringify(osRelease)} })`
  try {
    const { stderr } = await run(process.execPath, ['--input-type=module', '-e', code], { env: { PATH: m.bin }, timeout: 60_000 })
    return { code: 0, stderr }
  } catch (err) {
    const { code: exit, stderr } = err as { code: number, stderr: string }
    return { code: exit, stderr }
  }
}

const REDIS = { 'redis-server': undefined, 'redis-cli': undefined }
const HOW = 'sudo apt-get update && sudo apt-get install -y redis-server redis-tools'

t.test('redis present: nothing to do, nothing said', async (t) => {
  const m = await machine(t, { ...REDIS, 'apt-get': undefined, sudo: undefined })
  t.same(await check(m, 1000, DEBIAN), { code: 0, stderr: '' })
  t.same((await m.calls()).map((c) => c.name), ['redis-server', 'redis-cli'], 'only the check')
  // The script itself, as npm test's pretest runs it.
  const { stderr } = await run(process.execPath, [script], { env: { PATH: m.bin }, timeout: 60_000 })
  t.equal(stderr, '')
})

t.test('missing on Debian as root: apt-get installs redis-server and redis-tools, and says so', async (t) => {
  const m = await machine(t, { 'apt-get': INSTALLS, sudo: undefined })
  const { code, stderr } = await check(m, 0, DEBIAN)
  t.equal(code, 0)
  t.match(stderr, /Installing redis-server and redis-tools with apt-get, as \.ci\/run does/)
  t.match(stderr, /Installed redis-server and redis-tools\./)
  const calls = (await m.calls()).filter((c) => c.name === 'apt-get' || c.name === 'sudo')
  t.same(calls, [
    { name: 'apt-get', args: ['--version'] },
    { name: 'apt-get', args: ['update', '-qq'], frontend: 'noninteractive' },
    { name: 'apt-get', args: INSTALL, frontend: 'noninteractive' }
  ], 'root runs apt-get itself, never sudo')
})

t.test('missing on Ubuntu with sudo that asks no password: installed through sudo -n', async (t) => {
  const m = await machine(t, { 'apt-get': INSTALLS, sudo: SUDO })
  const { code, stderr } = await check(m, 1000, 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n')
  t.equal(code, 0)
  t.match(stderr, /Installing redis-server and redis-tools with apt-get \(through sudo\)/)
  const calls = (await m.calls()).filter((c) => c.name === 'apt-get' || c.name === 'sudo').map(({ name, args }) => ({ name, args }))
  t.same(calls, [
    { name: 'apt-get', args: ['--version'] },
    { name: 'sudo', args: ['-n', 'true'] },
    { name: 'sudo', args: ['-n', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-qq'] },
    { name: 'apt-get', args: ['update', '-qq'] },
    { name: 'sudo', args: ['-n', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...INSTALL] },
    { name: 'apt-get', args: INSTALL }
  ], 'never a prompt: sudo -n')
  t.ok((await m.calls()).filter((c) => c.name === 'apt-get' && c.args[0] !== '--version').every((c) => c.frontend === 'noninteractive'))
})

t.test('where it may not install, it stops at once with the command, and installs nothing', async (t) => {
  const cases: Array<[string, Record<string, string | undefined>, number, string]> = [
    ['a sudo that wants a password', { 'apt-get': INSTALLS, sudo: 'process.exit(1)' }, 1000, DEBIAN],
    ['no sudo', { 'apt-get': INSTALLS }, 1000, DEBIAN],
    ['another system', { 'apt-get': INSTALLS, sudo: SUDO }, 0, 'NAME="Fedora Linux"\nID=fedora\n'],
    ['no os-release', { 'apt-get': INSTALLS, sudo: SUDO }, 0, ''],
    ['no apt-get', { sudo: SUDO }, 0, DEBIAN]
  ]
  for (const [name, commands, uid, osRelease] of cases) {
    const m = await machine(t, commands)
    const { code, stderr } = await check(m, uid, osRelease)
    t.equal(code, 1, name)
    t.match(stderr, /^npm test needs redis-server and redis-cli/, name)
    t.ok(stderr.includes(`Install it first: ${HOW}`), `${name}: the command`)
    t.notMatch(stderr, /Installing/, name)
    const installs = (await m.calls()).filter((c) => !(c.name === 'apt-get' && c.args[0] === '--version') && !(c.name === 'sudo' && c.args.join(' ') === '-n true') && !c.name.startsWith('redis'))
    t.same(installs, [], `${name}: nothing but the checks ran`)
  }
})

t.test('an install that fails, or leaves redis missing, stops with the command', async (t) => {
  const failing = await machine(t, { 'apt-get': "if (args[0] !== '--version') process.exit(100)" })
  const failed = await check(failing, 0, DEBIAN)
  t.equal(failed.code, 1)
  t.ok(failed.stderr.includes(`Installing redis-server and redis-tools failed. Install it yourself: ${HOW}`))

  const empty = await machine(t, { 'apt-get': undefined })
  const still = await check(empty, 0, DEBIAN)
  t.equal(still.code, 1)
  t.ok(still.stderr.includes(`but redis-server or redis-cli is still not on PATH. Install it yourself: ${HOW}`))
})
