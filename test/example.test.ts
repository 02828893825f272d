import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)

t.test('npm run example replays the whole flow against the mock and exits 0', async (t) => {
  const env = { ...process.env }
  delete env.WEAPP_APP_ID
  delete env.WEAPP_APP_SECRET
  const { stdout } = await run(process.execPath, ['example/run.js'], { cwd: new URL('..', import.meta.url), env, timeout: 30_000 })
  t.match(stdout, /1\. wx\.login\(\) -> POST \/weapp\/login/)
  t.match(stdout, /openid: o-example-user/)
  t.match(stdout, /HTTP 200: \{"openid":"o-example-user"/)
  t.match(stdout, /decrypted: \{"stepInfoList":\[\{"timestamp":\d+,"step":6120\}/)
  t.match(stdout, /5\. POST \/weapp\/decrypt fails with WEAPP_DECRYPT_FAILED/)
  t.match(stdout, /session renewed: true/)
  t.match(stdout, /Done: login -> protected route -> decrypt -> stale-key recovery\./)
})
