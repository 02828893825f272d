// The redis-server a test starts dies with the test process, whatever kills it: here a child
// process that starts one through the fixture's watchdog is SIGKILLed, and its server must go.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { eventually } from './fixtures/redis.js'

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('a test process killed with SIGKILL leaves no redis-server behind', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/redis-child.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const pid = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => { resolve(Number(chunk.toString().trim())) })
    child.once('exit', (code) => { reject(new Error(`the child exited (${String(code)})`)) })
  })
  t.ok(alive(pid), `redis-server ${pid} runs`)
  child.kill('SIGKILL')
  await eventually(() => !alive(pid), 5000)
  t.pass('and is gone once its test process is')
})
