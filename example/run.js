// npm run example
// Without WEAPP_APP_ID / WEAPP_APP_SECRET: starts the mock platform APIs and the example server on
// loopback, replays the mini program's flow against them, prints each step and exits.
// With them: serves the example app against the real WeChat API on PORT (default 3000).
// WEAPP_KEY holds the session key, or several comma-separated keys during a rotation: the new key
// first (it seals), the old ones after it (they still open the sessions they sealed).
import { generateKey } from 'fastify-weapp'
import { createMockPlatforms, createWx } from 'fastify-weapp/testing'
import { createWeappClient } from 'fastify-weapp-client'
import { createPage } from './miniprogram/page.js'
import { buildServer } from './server.js'

import { randomBytes } from 'node:crypto'

const { WEAPP_APP_ID, WEAPP_APP_SECRET, WEAPP_KEY, WEAPP_JWT_SECRET, PORT = '3000' } = process.env
const jwtSecret = WEAPP_JWT_SECRET || randomBytes(32).toString('base64url')

if (WEAPP_APP_ID && WEAPP_APP_SECRET) {
  if (!WEAPP_KEY) console.warn('WEAPP_KEY is not set: using a random key, so sessions end when the server stops (npx fastify-weapp keygen)')
  const keys = (WEAPP_KEY ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '')
  const app = await buildServer({ apps: [{ appId: WEAPP_APP_ID, appSecret: WEAPP_APP_SECRET }], key: keys.length > 0 ? keys : generateKey(), jwtSecret, logger: true })
  await app.listen({ port: Number(PORT), host: '0.0.0.0' })
} else {
  await replay()
}

async function replay () {
  const step = (n, text) => console.log(`\n${n}. ${text}`)
  const show = (label, value) => console.log(`   ${label}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)

  console.log('fastify-weapp example: mock platform APIs + example server on loopback (no real AppID set)')
  // Three mini programs on one backend: the customer app, a merchant app, and a staff app that
  // runs in WeCom (企业微信) for the company's members.
  const mock = await createMockPlatforms({ apps: [{ appId: 'wxmerchant0000000' }] })
  const merchant = mock.app('wxmerchant0000000')
  const staff = mock.addWecomApp('wxstaff0000000000', { corpId: 'ww0123456789abcdef' })
  // The customer app's Alipay build (uni-app and Taro target Alipay too): its own keys, signed both ways.
  const alipay = mock.addAlipayApp('2021000000000001')
  // The customer app has WeChat's API security on: the phone and risk calls go encrypted and signed.
  const apps = [
    { appId: mock.appId, appSecret: mock.appSecret, apiSecurity: mock.app(mock.appId).apiSecurity().config() },
    { appId: merchant.appId, appSecret: merchant.appSecret },
    { appId: staff.appId, wecom: { corpId: staff.corpId, corpSecret: staff.corpSecret } },
    { appId: alipay.appId, platform: 'alipay', alipay: { privateKey: alipay.privateKey, alipayPublicKey: alipay.alipayPublicKey, contentKey: alipay.contentKey } }
  ]
  // The merchant app is for people who already have an account: its new users link to one.
  const app = await buildServer({ apps, key: generateKey(), jwtSecret, apiBaseUrl: mock.url, linkOnly: [merchant.appId] })
  const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    mock.login('o-example-user', { unionid: 'u-example-user' }) // the user, bound to the Open Platform account
    const wx = createWx(mock, 'o-example-user') // a wx for Node, backed by the mock
    const page = createPage(wx, baseUrl) // the same code a mini program runs

    step(1, 'onShow: api.ensureSession() -> no session yet: wx.login() -> POST /weapp/login { code }')
    await page.onShow()
    show('session', `${page.api.session().slice(0, 32)}... (${page.api.session().length} chars, sealed JWE; kept in wx storage)`)
    show('wx.login() calls', wx.logins)
    show('user (onLogin created it in the user table)', page.api.user())

    step(2, 'GET /me with "Authorization: Bearer <session>" (an app route behind app.weapp.authenticate)')
    show('HTTP 200', await page.loadMe())

    step(3, 'wx.getWeRunData() -> POST /weapp/decrypt { encryptedData, iv }')
    show('decrypted', await page.loadSteps())

    step(4, 'onShow again: the session is fresh and WeChat\'s session valid, so no login')
    await page.onShow()
    show('wx.login() calls', wx.logins)

    step(5, 'WeChat\'s session lapses and the app calls wx.login() itself: WeChat now encrypts with a new session_key')
    wx.lapse()
    await promisify(wx.login)
    show('wx.login()', 'a new code the app did not send anywhere; the stored session holds the old key')

    step(6, 'wx.getWeRunData() -> POST /weapp/decrypt fails with WEAPP_DECRYPT_FAILED; the client takes one fresh code and retries with it')
    const before = page.api.session()
    show('decrypted', await page.loadSteps())
    show('session renewed', page.api.session() !== before)

    step(7, 'GET /me with the renewed session')
    show('HTTP 200', await page.loadMe())

    step(8, '<button open-type="getPhoneNumber"> tapped -> POST /weapp/phone { code }')
    show('phone', await page.onGetPhoneNumber(wx.phoneButton()))
    show('recorded on the account (POST /account/phone)', await page.onRecordPhone(wx.phoneButton()))

    step(9, 'GET /orders, an existing @fastify/jwt route, with the token the login route also answered (jwt option)')
    show('HTTP 200', await page.loadOrders())

    step(10, 'A second mini program, the merchant app, on the same backend: a new user there has no account yet, so onLogin asks for a link')
    const merchantWx = createWx(merchant, 'o-merchant-user')
    const merchantPage = createPage(merchantWx, baseUrl)
    await merchantPage.onShow()
    show('login answered 409 WEAPP_LINK_REQUIRED; link token kept', `${merchantPage.linkToken.slice(0, 24)}...`)
    const linked = await merchantPage.onLinkPhone(merchantWx.phoneButton())
    show('POST /link { linkToken, code } -> the account with that phone number', linked.user)
    show('HTTP 200', await merchantPage.loadMe())
    await merchantPage.api.logout()
    await merchantPage.onShow()
    show('the next login finds the linked account', merchantPage.api.user())

    step(11, 'A WeCom staff app: its client logs members in with wx.qy.login(); the session holds corpId + userId')
    const staffApi = createWeappClient({ baseUrl, wx: createWx(staff, 'zhangsan'), wecom: true })
    const { corpId, userId } = await staffApi.login()
    show('login', { corpId, userId })
    show('HTTP 200', await staffApi.request({ url: '/me' }))

    step(12, 'The customer logs in again (after a logout): onLogin finds the account by unionid')
    await page.api.logout()
    await page.onShow()
    show('user', page.api.user())

    step(13, 'The user is banned: their sessions end, and their next login is refused')
    const banned = page.api.session()
    await app.banUser(page.api.user().id)
    const asked0 = async (url, bearer) => (await fetch(`${baseUrl}${url}`, { headers: { authorization: `Bearer ${bearer}` } })).json()
    show('GET /me with their session', (await asked0('/me', banned)).code)
    const refused = await createWeappClient({ baseUrl, wx: createWx(mock, 'o-example-user'), storageKey: 'fresh' }).login().catch((err) => err)
    show('login', `${refused.code}: ${refused.message}`)

    step(14, 'api.logout() -> POST /weapp/logout: the session and its @fastify/jwt token both end')
    const logoutWx = createWx(mock, 'o-example-other')
    const other = createPage(logoutWx, baseUrl)
    await other.onShow()
    const token = other.api.token()
    const session = other.api.session()
    await other.api.logout()
    const asked = async (url, bearer) => (await fetch(`${baseUrl}${url}`, { headers: { authorization: `Bearer ${bearer}` } })).json()
    show('GET /me with the old session', (await asked('/me', session)).code)
    show('GET /orders with the old token', (await asked('/orders', token)).code)

    step(15, 'The Alipay build: my.getAuthCode() -> POST /weapp/login (alipay.system.oauth.token, RSA2-signed both ways); the phone from my.getPhoneNumber()')
    const my = createWx(alipay, '2088102150477652') // Alipay's my: my.getAuthCode(), my.getPhoneNumber()
    const alipayApi = createWeappClient({ baseUrl, wx: my, appId: alipay.appId, platform: 'alipay' })
    const { openid, idType } = await alipayApi.login()
    show('login', { openid, idType })
    show('HTTP 200', await alipayApi.request({ url: '/me' }))
    const { response } = await promisify((callbacks) => my.getPhoneNumber(callbacks))
    show('phone (signature verified, decrypted with the content key)', await alipayApi.phone(response))

    step(16, 'The encrypted channel: client.encrypt() with the user\'s encrypt key (wx.getUserCryptoManager()) -> POST /tips; the risk rank over API security')
    const tipper = createWeappClient({ baseUrl, wx: createWx(mock, 'o-example-tipper') })
    const sealed = await tipper.encrypt({ amount: 5, note: 'thanks' })
    show('sent', { version: sealed.version, iv: sealed.iv, encryptedData: `${sealed.encryptedData.slice(0, 16)}...` })
    show('HTTP 200', await tipper.request({ method: 'POST', url: '/tips', data: sealed }))
    const rank = await (await app.weapp.app(mock.appId)).getUserRiskRank({ openid: 'o-example-tipper', scene: 1, clientIp: '127.0.0.1' })
    show('risk rank (request sealed and signed, answer verified)', rank.riskRank)
    show('session_key resets so far (one per logout or ban of a user)', mock.app(mock.appId).resets('o-example-other'))

    step(17, 'Sessions per device (maxSessions 5, oneSessionPer \'device\'): an iPhone, an iPad, then a second iPhone; "my devices"')
    const on = (platform) => createWeappClient({ baseUrl, wx: { ...createWx(mock, 'o-example-devices'), getDeviceInfo: () => ({ platform }) } })
    const [iphone, ipad, iphone2] = [on('ios'), on('ipad'), on('ios')]
    for (const device of [iphone, ipad, iphone2]) await device.request({ url: '/me' })
    const kicked = await iphone.request({ url: '/me' }).catch((err) => err)
    show('the first iPhone', `${kicked.name} ${kicked.code}: signed in on another device (no login behind the user's back: ${iphone.session() === undefined})`)
    const devices = await iphone2.request({ url: '/me/devices' })
    show('GET /me/devices', devices.map((d) => `${d.device}${d.current ? ' (this one)' : ''}`))
    const ipadSession = ipad.session()
    await iphone2.request({ method: 'DELETE', url: `/me/devices/${devices.find((d) => d.device === 'wx:ipad').id}` })
    show('DELETE /me/devices/:id (the iPad) -> the iPad\'s session', (await asked('/me', ipadSession)).code)

    console.log('\nDone: login -> protected route -> decrypt -> stale-key recovery -> phone number -> @fastify/jwt route -> a second app linked by phone -> a WeCom app -> unionid -> a ban -> logout -> Alipay -> the encrypted channel -> sessions per device.')
  } finally {
    await app.close()
    await mock.close()
  }
}

/** A wx.* callback API as a promise. */
function promisify (fn) {
  return new Promise((resolve, reject) => fn({ success: resolve, fail: reject }))
}
