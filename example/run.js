// npm run example
// Without WEAPP_APP_ID / WEAPP_APP_SECRET: starts the mock WeChat API and the example server on
// loopback, replays the mini program's flow against them, prints each step and exits.
// With them: serves the example app against the real WeChat API on PORT (default 3000).
import { generateKey } from 'fastify-weapp'
import { createMockWechat } from 'fastify-weapp/testing'
import { createApi } from './miniprogram/api.js'
import { buildServer } from './server.js'
import { createWx } from './wx-shim.js'

import { randomBytes } from 'node:crypto'

const { WEAPP_APP_ID, WEAPP_APP_SECRET, WEAPP_KEY, WEAPP_JWT_SECRET, PORT = '3000' } = process.env
const jwtSecret = WEAPP_JWT_SECRET || randomBytes(32).toString('base64url')

if (WEAPP_APP_ID && WEAPP_APP_SECRET) {
  if (!WEAPP_KEY) console.warn('WEAPP_KEY is not set: using a random key, so sessions end when the server stops (npx fastify-weapp keygen)')
  const app = await buildServer({ appId: WEAPP_APP_ID, appSecret: WEAPP_APP_SECRET, key: WEAPP_KEY || generateKey(), jwtSecret, logger: true })
  await app.listen({ port: Number(PORT), host: '0.0.0.0' })
} else {
  await replay()
}

async function replay () {
  const step = (n, text) => console.log(`\n${n}. ${text}`)
  const show = (label, value) => console.log(`   ${label}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)

  console.log('fastify-weapp example: mock WeChat API + example server on loopback (no real AppID set)')
  const mock = await createMockWechat()
  const app = await buildServer({ appId: mock.appId, appSecret: mock.appSecret, key: generateKey(), jwtSecret, apiBaseUrl: mock.url })
  const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const wx = createWx(mock, 'o-example-user')
    const api = createApi(wx, baseUrl)

    step(1, 'wx.login() -> POST /weapp/login { code }')
    const login = await api.login()
    show('openid', login.openid)
    show('session', `${login.session.slice(0, 32)}... (${login.session.length} chars, sealed JWE; stored with wx.setStorageSync)`)
    show('expiresIn', `${login.expiresIn} s`)

    step(2, 'GET /me with "Authorization: Bearer <session>" (an app route behind app.weapp.authenticate)')
    const me = await api.get('/me')
    show(`HTTP ${me.statusCode}`, me.data)

    step(3, 'wx.getWeRunData() -> POST /weapp/decrypt { encryptedData, iv }')
    const steps = await api.decrypt(await promisify(wx.getWeRunData))
    show('decrypted', steps)

    step(4, 'The WeChat session lapses and the app calls wx.login() again: WeChat now encrypts with a new session_key')
    const { code: burned } = await promisify(wx.login, () => wx.lapseSession())
    show('wx.login()', `a new code (${burned.slice(0, 8)}...) the app did not send anywhere`)
    const stale = await promisify(wx.getWeRunData)
    show('wx.getWeRunData()', 'encrypted with the new key; the stored session holds the old one')

    step(5, 'POST /weapp/decrypt fails with WEAPP_DECRYPT_FAILED; the client takes one fresh code and retries with it')
    const before = api.session()
    const healed = await api.decrypt(stale)
    show('decrypted', healed)
    show('session renewed', api.session() !== before)

    step(6, 'GET /me with the renewed session')
    const again = await api.get('/me')
    show(`HTTP ${again.statusCode}`, again.data)

    step(7, '<button open-type="getPhoneNumber"> tapped -> POST /weapp/phone { code }')
    const phone = await api.phone(wx.tapPhoneButton().detail.code)
    show('phone', phone)

    step(8, 'GET /orders, an existing @fastify/jwt route, with the token the login route also answered (jwt option)')
    const orders = await api.get('/orders', { jwt: true })
    show(`HTTP ${orders.statusCode}`, orders.data)

    console.log('\nDone: login -> protected route -> decrypt -> stale-key recovery -> phone number -> @fastify/jwt route.')
  } finally {
    await app.close()
    await mock.close()
  }
}

/** A wx.* callback API as a promise; `before` runs first. */
function promisify (fn, before) {
  before?.()
  return new Promise((resolve, reject) => fn({ success: resolve, fail: reject }))
}
