#!/usr/bin/env node
// First step of npm test: the revocation tests start their own redis-server. Without it the suite
// would run for minutes and then fail; say so now, with the command that installs it.
import { execFileSync } from 'node:child_process'

try {
  execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  execFileSync('redis-cli', ['--version'], { stdio: 'ignore' })
} catch {
  console.error('npm test needs redis-server and redis-cli (the revocation tests start their own servers on free loopback ports).\n' +
    'Install it first: sudo apt-get update && sudo apt-get install -y redis-server redis-tools  (macOS: brew install redis)')
  process.exit(1)
}
