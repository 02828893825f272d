#!/usr/bin/env node
// npx fastify-weapp keygen: prints a fresh base64url 32-byte key for the `key` option.
import { generateKey } from './keys.js'

const args = process.argv.slice(2)
const usage = 'usage: fastify-weapp keygen    print a fresh 32-byte key (base64url) for the `key` option'

if (args.length === 1 && args[0] === 'keygen') {
  process.stdout.write(`${generateKey()}\n`)
} else if (args.length === 0 || args[0] === '--help' || args[0] === '-h') {
  process.stdout.write(`${usage}\n`)
} else {
  process.stderr.write(`fastify-weapp: unknown command "${args.join(' ')}"\n${usage}\n`)
  process.exitCode = 1
}
