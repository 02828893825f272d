#!/usr/bin/env node
// First step of npm test: the revocation tests start their own redis-server. Without it the suite
// would run for minutes and then fail. On Debian or Ubuntu, where this user may install packages
// (root, or sudo without a password), it installs redis-server and redis-tools itself, as .ci/run
// does, and says so; anywhere else it stops at once, with the command that installs them.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

const PACKAGES = ['redis-server', 'redis-tools']
const HOW = 'sudo apt-get update && sudo apt-get install -y redis-server redis-tools  (macOS: brew install redis)'

/** Whether `command args` runs and exits 0, with this environment (its PATH finds the command). */
function runs (command, args, env) {
  try {
    execFileSync(command, args, { env, stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** /etc/os-release's text, or '' where there is none. */
function readOsRelease () {
  try {
    return readFileSync('/etc/os-release', 'utf8')
  } catch {
    return ''
  }
}

/** Debian, Ubuntu or one of theirs, by os-release's ID and ID_LIKE. */
export function isDebianLike (osRelease) {
  const ids = [...osRelease.matchAll(/^ID(?:_LIKE)?=["']?([^"'\n]*)/gm)].flatMap((m) => m[1].split(/\s+/))
  return ids.some((id) => id === 'debian' || id === 'ubuntu')
}

/**
 * Checks for redis-server and redis-cli, installing them where it may; answers the exit code (0 when
 * they are there). Everything it reads of the machine can be given: the environment (whose PATH
 * finds the commands, apt-get and sudo included), the user id and os-release's text.
 */
export function checkTestEnv ({ env = process.env, uid = process.getuid?.(), osRelease = readOsRelease(), log = (line) => { console.error(line) } } = {}) {
  const present = () => runs('redis-server', ['--version'], env) && runs('redis-cli', ['--version'], env)
  if (present()) return 0
  const missing = 'npm test needs redis-server and redis-cli (the revocation tests start their own servers on free loopback ports).'
  // Root runs apt-get itself; anyone else through sudo, only where it asks no password (-n: never a prompt).
  const root = uid === 0
  const mayInstall = isDebianLike(osRelease) && runs('apt-get', ['--version'], env) && (root || runs('sudo', ['-n', 'true'], env))
  if (!mayInstall) {
    log(`${missing}\nInstall it first: ${HOW}`)
    return 1
  }
  log(`${missing}\nInstalling ${PACKAGES.join(' and ')} with apt-get${root ? '' : ' (through sudo)'}, as .ci/run does…`)
  try {
    for (const step of [['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...PACKAGES]]) {
      // sudo passes on no environment of its own: the variable goes as its argument.
      const [file, args] = root ? [step[0], step.slice(1)] : ['sudo', ['-n', 'DEBIAN_FRONTEND=noninteractive', ...step]]
      execFileSync(file, args, { env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'ignore', 'inherit'] })
    }
  } catch {
    log(`Installing ${PACKAGES.join(' and ')} failed. Install it yourself: ${HOW}`)
    return 1
  }
  if (!present()) {
    log(`apt-get installed ${PACKAGES.join(' and ')}, but redis-server or redis-cli is still not on PATH. Install it yourself: ${HOW}`)
    return 1
  }
  log(`Installed ${PACKAGES.join(' and ')}.`)
  return 0
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = checkTestEnv()
