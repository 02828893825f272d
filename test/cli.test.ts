import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { parseKeys } from '../lib/keys.js'

const run = promisify(execFile)
const cli = new URL('../dist/cli.js', import.meta.url).pathname

t.test('keygen prints a fresh key the plugin accepts', async (t) => {
  const a = (await run(process.execPath, [cli, 'keygen'])).stdout.trim()
  const b = (await run(process.execPath, [cli, 'keygen'])).stdout.trim()
  t.match(a, /^[A-Za-z0-9_-]{43}$/)
  t.not(a, b)
  t.equal(parseKeys(a).length, 1)
})

t.test('help, and unknown commands fail', async (t) => {
  t.match((await run(process.execPath, [cli])).stdout, /usage: fastify-weapp keygen/)
  t.match((await run(process.execPath, [cli, '--help'])).stdout, /usage/)
  const err = await run(process.execPath, [cli, 'frobnicate']).catch((e: { code: number, stderr: string }) => e)
  t.match(err, { code: 1, stderr: /unknown command "frobnicate"/ })
})
