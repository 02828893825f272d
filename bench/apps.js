// The 100 apps of the bench's several-apps row, shared by the server and the runner: spread over
// every kind of app the plugin serves (WeChat, hosted, WeCom, QQ, Douyin, Kuaishou, Baidu, Feishu,
// Alipay). None of them is ever asked upstream: the row measures authenticating their sessions.
import { generateKeyPairSync } from 'node:crypto'

const SESSION_KEY = 'tiihtNczf5v6AKRyjwEUhQ=='
const BAIDU_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3'
const own = generateKeyPairSync('rsa', { modulusLength: 2048 })
const theirs = generateKeyPairSync('rsa', { modulusLength: 2048 })
const alipay = {
  privateKey: own.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  alipayPublicKey: theirs.publicKey.export({ type: 'spki', format: 'pem' }).toString()
}

const KINDS = ['wechat', 'component', 'wecom', 'qq', 'douyin', 'kuaishou', 'baidu', 'feishu', 'alipay']

export const benchApps = Array.from({ length: 100 }, (_, i) => {
  const appId = `wxbench${String(i).padStart(11, '0')}`
  const kind = KINDS[i % KINDS.length]
  if (kind === 'component') return { appId, component: { appId: 'wxbenchcomponent00', accessToken: () => 'unused' } }
  if (kind === 'wecom') return { appId, wecom: { corpId: 'wwbench', corpSecret: `secret-${i}` } }
  if (kind === 'alipay') return { appId, platform: 'alipay', alipay }
  if (kind === 'wechat') return { appId, appSecret: `secret-${i}` }
  return { appId, appSecret: `secret-${i}`, platform: kind }
})

/** The identity of user `i` of an app, of the app's kind. */
export function benchIdentity (app, i) {
  if (app.wecom !== undefined) return { corpId: 'wwbench', userId: `u-${i}`, sessionKey: SESSION_KEY }
  if (app.platform === 'alipay') return { platform: 'alipay', openid: `2088-${i}`, idType: 'open_id' }
  if (app.platform === 'feishu') return { platform: 'feishu', openid: `ou_${i}`, tenantKey: 'tenant-bench' }
  if (app.platform === 'baidu') return { platform: 'baidu', openid: `o-${i}`, sessionKey: BAIDU_KEY }
  if (app.platform !== undefined) return { platform: app.platform, openid: `o-${i}`, sessionKey: SESSION_KEY }
  return { openid: `o-${i}`, sessionKey: SESSION_KEY }
}
