// The 100 apps of the bench's several-apps row, shared by the server and the runner: a third each
// WeChat mini programs, mini programs hosted by a third-party platform, and WeCom apps. None of them
// is ever asked upstream: the row measures authenticating their sessions.
const SESSION_KEY = 'tiihtNczf5v6AKRyjwEUhQ=='

export const benchApps = Array.from({ length: 100 }, (_, i) => {
  const appId = `wxbench${String(i).padStart(11, '0')}`
  if (i % 3 === 1) return { appId, component: { appId: 'wxbenchcomponent00', accessToken: () => 'unused' } }
  if (i % 3 === 2) return { appId, wecom: { corpId: 'wwbench', corpSecret: `secret-${i}` } }
  return { appId, appSecret: `secret-${i}` }
})

/** The identity of user `i` of an app: a WeCom member for a WeCom app, else a WeChat user. */
export function benchIdentity (app, i) {
  return app.wecom === undefined ? { openid: `o-${i}`, sessionKey: SESSION_KEY } : { corpId: 'wwbench', userId: `u-${i}`, sessionKey: SESSION_KEY }
}
