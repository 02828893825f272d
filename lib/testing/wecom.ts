import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { mockApp, type MockApp } from './apps.js'
import { rid } from './data.js'
import { sendJson, type Endpoint, type MockCall } from './server.js'
import type { MockState } from './state.js'

/** Mini programs linked to a WeCom (企业微信) app: `cgi-bin/gettoken` and `cgi-bin/miniprogram/jscode2session`. */

/**
 * A mini program linked to a WeCom (企业微信) app. Its users are WeCom members: where a method
 * takes an `openid`, give the member's UserID.
 */
export interface MockWecomApp extends Omit<MockApp, 'appSecret' | 'phoneCode'> {
  /** The company the members belong to. */
  readonly corpId: string
  /** The secret of the WeCom app the mini program is linked to (gettoken's corpsecret). */
  readonly corpSecret: string
  /** Every token gettoken issued for this WeCom app stops working (40014). */
  revokeTokens (): void
  /** Every token gettoken issued for this WeCom app expires now (42001). */
  expireTokens (): void
}

/** The `wx.qy` runtime's answers (see `createWx`). */
export const wecomRuntime = {
  login: 'login:fail this is a WeCom app: log in with wx.qy.login()',
  checkSession: 'checkSession:fail a WeCom app checks its session with wx.qy.checkSession()',
  phone: 'a WeCom app has no getPhoneNumber button codes',
  outside: 'not running in WeCom'
}

interface Linked { corpId: string, corpSecret: string }
const linkedApps = (state: MockState): Map<string, Linked> => state.kind<Linked>('wecom')

export function addWecomApp (state: MockState, appId: string, { corpId, corpSecret = `mock-corp-secret-${corpId}-${randomBytes(8).toString('hex')}` }: { corpId: string, corpSecret?: string }): MockWecomApp {
  state.unused(appId, 'wecom')
  linkedApps(state).set(appId, { corpId, corpSecret })
  state.secrets.add(corpSecret)
  return wecomApp(state, appId)
}

export function wecomApp (state: MockState, appId: string): MockWecomApp {
  const linked = linkedApps(state).get(appId)
  if (linked === undefined) throw new Error(`the mock serves no WeCom app ${appId}; addWecomApp() it first`)
  const { appSecret: _secret, phoneCode: _phone, ...app } = mockApp(state, appId)
  const owner = `wecom\n${linked.corpId}\n${linked.corpSecret}`
  return {
    ...app,
    corpId: linked.corpId,
    corpSecret: linked.corpSecret,
    revokeTokens: () => { state.revokeTokens(owner) },
    expireTokens: () => { state.expireTokens(owner) }
  }
}

/** WeCom's error shape: JSON labelled as JSON, with a hint and a link in errmsg. */
function error (res: ServerResponse, errcode: number, errmsg: string): void {
  sendJson(res, { errcode, errmsg: `${errmsg}, hint: [${Date.now()}_${rid()}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}` })
}

function gettoken (state: MockState, { query }: MockCall, res: ServerResponse): void {
  const apps = [...linkedApps(state).values()]
  if (!apps.some((w) => w.corpId === query.corpid)) return error(res, 40013, 'invalid corpid')
  if (!apps.some((w) => w.corpId === query.corpid && w.corpSecret === query.corpsecret)) return error(res, 40001, 'invalid credential')
  const { token, expiresIn } = state.issueToken(`wecom\n${query.corpid as string}\n${query.corpsecret as string}`)
  sendJson(res, { errcode: 0, errmsg: 'ok', access_token: token, expires_in: expiresIn })
}

function login (state: MockState, { query }: MockCall, res: ServerResponse): void {
  const owner = state.tokenOwner(query.access_token)
  if ('error' in owner) return owner.error === 'expired' ? error(res, 42001, 'access_token expired') : error(res, 40014, 'invalid access_token')
  if (!owner.appId.startsWith('wecom\n')) return error(res, 40014, 'invalid access_token')
  if (query.grant_type !== 'authorization_code') return error(res, 40002, 'invalid grant_type')
  // A code is good only with the token of the WeCom app its mini program is linked to.
  const issued = query.js_code === undefined ? undefined : state.codes.get(query.js_code)
  const linked = issued === undefined ? undefined : linkedApps(state).get(issued.appId)
  if (issued === undefined || linked === undefined || owner.appId !== `wecom\n${linked.corpId}\n${linked.corpSecret}`) {
    return error(res, 40029, 'invalid code')
  }
  const user = state.redeem(query.js_code, issued.appId)
  if (typeof user === 'string') return error(res, 40029, 'invalid code')
  sendJson(res, { corpid: linked.corpId, userid: user.openid, session_key: user.sessionKey, errcode: 0, errmsg: 'ok' })
}

export const wecomEndpoints: readonly Endpoint[] = [
  { method: 'GET', path: '/cgi-bin/gettoken', handle: gettoken },
  { method: 'GET', path: '/cgi-bin/miniprogram/jscode2session', handle: login }
]
