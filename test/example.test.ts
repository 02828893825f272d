import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'

const run = promisify(execFile)
// The example's whole flow, in a process of its own: seconds idle, over two minutes on a loaded
// two-core machine. The file's own budget, past tap's 150 s for other files (a hang still ends it).
t.setTimeout(600_000)

t.test('npm run example replays the whole flow against the mock and exits 0', async (t) => {
  const env = { ...process.env }
  delete env.WEAPP_APP_ID
  delete env.WEAPP_APP_SECRET
  const { stdout } = await run(process.execPath, ['example/run.js'], { cwd: new URL('..', import.meta.url), env, timeout: 300_000 })
  t.match(stdout, /1\. onShow: api\.ensureSession\(\) -> no session yet: wx\.login\(\) -> POST \/weapp\/login/)
  t.match(stdout, /HTTP 200: \{"appId":"wx0123456789abcdef","openid":"o-example-user"/)
  t.match(stdout, /decrypted: \{"stepInfoList":\[\{"timestamp":\d+,"step":6120\}/)
  t.match(stdout, /4\. onShow again[^\n]*\n {3}wx\.login\(\) calls: 1\n/, 'no second login while fresh')
  t.match(stdout, /6\. wx\.getWeRunData\(\) -> POST \/weapp\/decrypt fails with WEAPP_DECRYPT_FAILED/)
  t.match(stdout, /session renewed: true/)
  t.match(stdout, /phone: \{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86"\}/)
  t.match(stdout, /user \(onLogin created it in the user table\): \{"id":1,"isNew":true,"roles":\["customer"\]\}/, 'the first login creates the user')
  t.match(stdout, /HTTP 200: \{"appId":"wx0123456789abcdef","openid":"o-example-user","unionid":"u-example-user","user":\{"userId":1,"roles":\["customer"\]\}/, 'the session carries the app\'s claims')
  t.match(stdout, /recorded on the account \(POST \/account\/phone\): \{"phoneNumber":"13800138000"\}/)
  t.match(stdout, /HTTP 200: \{"owner":1,"platform":"wechat","orders":\[\]\}/, 'orders keyed by the app\'s user id, from the JWS')
  t.match(stdout, /login answered 409 WEAPP_LINK_REQUIRED; link token kept: eyJ/, 'the merchant app asks for a link')
  t.match(stdout, /POST \/link \{ linkToken, code \} -> the account with that phone number: \{"id":1,"isNew":false,"roles":\["customer","merchant"\]\}/, 'linked to the customer account by phone')
  t.match(stdout, /HTTP 200: \{"appId":"wxmerchant0000000","openid":"o-merchant-user","user":\{"userId":1,"roles":\["customer","merchant"\]\}/, 'a second app: its session says which, and the same user')
  t.match(stdout, /the next login finds the linked account: \{"id":1,"isNew":false/)
  t.match(stdout, /onLogin finds the account by unionid\n {3}user: \{"id":1,"isNew":false,"roles":\["customer","merchant"\]\}/)
  t.match(stdout, /GET \/me with their session: WEAPP_SESSION_REVOKED\n {3}login: WEAPP_LOGIN_REFUSED: This account is suspended/, 'a banned user is refused')
  t.match(stdout, /login: \{"corpId":"ww0123456789abcdef","userId":"zhangsan"\}/, 'a WeCom member logs in with wx.qy.login()')
  t.match(stdout, /HTTP 200: \{"appId":"wxstaff0000000000","corpId":"ww0123456789abcdef","userId":"zhangsan"/)
  t.match(stdout, /GET \/me with the old session: WEAPP_SESSION_REVOKED/, 'logout ends the session')
  t.match(stdout, /GET \/orders with the old token: FST_JWT_AUTHORIZATION_TOKEN_UNTRUSTED/, 'and its JWS')
  t.match(stdout, /login: \{"openid":"2088102150477652","idType":"open_id"\}/, 'the Alipay build logs in through the signed gateway')
  t.match(stdout, /HTTP 200: \{"appId":"2021000000000001","openid":"2088102150477652"/)
  t.match(stdout, /phone \(signature verified, decrypted with the content key\): \{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86"\}/)
  t.match(stdout, /HTTP 200: \{"received":\{"amount":5,"note":"thanks"\}\}/, 'the encrypted channel: client.encrypt() to openEncrypted()')
  t.match(stdout, /risk rank \(request sealed and signed, answer verified\): 0/)
  t.match(stdout, /session_key resets so far \(one per logout or ban of a user\): 1/, 'logout reset the user\'s session_key')
  t.match(stdout, /the first iPhone: WeappSessionKickedError WEAPP_SESSION_KICKED: signed in on another device \(no login behind the user's back: true\)/, 'a second iPhone ends the first one\'s session')
  t.match(stdout, /GET \/me\/devices: \["wx:ios \(this one\)","wx:ipad"\]/, 'my devices, newest first')
  t.match(stdout, /DELETE \/me\/devices\/:id \(the iPad\) -> the iPad's session: WEAPP_SESSION_REVOKED/)
  t.match(stdout, /Done: login -> protected route -> decrypt -> stale-key recovery -> phone number -> @fastify\/jwt route -> a second app linked by phone -> a WeCom app -> unionid -> a ban -> logout -> Alipay -> the encrypted channel -> sessions per device\./)
})

/** Starts the example in its real-credentials mode; resolves its port and what it printed. */
async function serve (t: Test, key: string): Promise<{ port: string, out: () => string, err: () => string }> {
  const { spawn } = await import('node:child_process')
  const child = spawn(process.execPath, ['example/run.js'], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, WEAPP_APP_ID: 'wx0123456789abcdef', WEAPP_APP_SECRET: 'example-secret-not-real', WEAPP_KEY: key, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill() })
  let out = ''
  let err = ''
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening at http:\/\/[^:]+:(\d+)/.exec(out)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    child.on('exit', (code) => { reject(new Error(`exited ${code}: ${out} ${err}`)) })
  })
  return { port, out: () => out, err: () => err }
}

t.test('with credentials in the environment it serves the app instead', async (t) => {
  const { port, out, err } = await serve(t, '')
  t.match(err(), /WEAPP_KEY is not set/, 'warns that sessions will not survive a restart')
  const res = await fetch(`http://127.0.0.1:${port}/me`)
  t.equal(res.status, 401)
  t.equal(((await res.json()) as { code: string }).code, 'WEAPP_SESSION_MISSING')
  t.notOk(out().includes('example-secret-not-real'), 'the secret is not logged')
})

t.test('WEAPP_KEY takes several comma-separated keys for a rotation', async (t) => {
  const { generateKey } = await import('../lib/keys.js')
  const { port, err } = await serve(t, ` ${generateKey()}, ${generateKey()} `)
  t.notMatch(err(), /WEAPP_KEY is not set/)
  const res = await fetch(`http://127.0.0.1:${port}/me`)
  t.equal(res.status, 401, 'serving')
})

t.test('the example\'s users: a unionid joins apps of its own vendor only', async (t) => {
  interface Users { find: (identity: object) => Promise<{ id: number } | undefined>, create: (identity: object) => Promise<{ id: number, union_key: string | null }>, close: () => Promise<void> }
  const { openUsers } = await import(new URL('../example/users.js', import.meta.url).href) as { openUsers: () => Promise<Users> }
  const users = await openUsers()
  t.teardown(() => users.close())
  const customer = await users.create({ platform: 'wechat', appId: 'wx-customer', openid: 'o-1', unionid: 'u-same' })
  t.equal(customer.union_key, 'wechat:u-same', 'keyed by the vendor and the unionid')
  t.match(await users.find({ platform: 'wechat', appId: 'wx-merchant', openid: 'o-2', unionid: 'u-same' }), { id: customer.id }, 'another WeChat app of the account: the same user')
  t.equal(await users.find({ platform: 'qq', appId: 'qq-build', openid: 'o-3', unionid: 'u-same' }), undefined, 'a QQ unionid, even an equal string, is another vendor\'s: not that user')
  const qq = await users.create({ platform: 'qq', appId: 'qq-build', openid: 'o-3', unionid: 'u-same' })
  t.not(qq.id, customer.id, 'and a QQ user of its own')
  t.match(await users.find({ platform: 'douyin', appId: 'tt-build', openid: 'o-4', unionid: 'u-same' }), undefined)
})
