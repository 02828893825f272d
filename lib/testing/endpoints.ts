import { randomBytes } from 'node:crypto'
import { addAlipayApp, alipayApp, alipayEndpoints, alipayWx, type MockAlipayApp, type MockAlipayWx } from './alipay.js'
import { mockApp, SECRET_APPS, type MockApp } from './apps.js'
import { addBaiduApp, baiduApp, baiduEndpoints, type MockBaiduApp } from './baidu.js'
import { addComponent, component, componentEndpoints, type MockComponent } from './component.js'
import type { EncryptedUserData } from './data.js'
import { douyinEndpoints } from './douyin.js'
import { addFeishuApp, feishuApp, feishuEndpoints, type MockFeishuApp } from './feishu.js'
import { kuaishouEndpoints } from './kuaishou.js'
import { MockServer, type Endpoint, type MockCall, type MockFault } from './server.js'
import { MockState, type MockPhone, type MockUser } from './state.js'
import { errcodeAnswer, userApis, wechatEndpoints, type MockUserApis } from './wechat.js'
import { addWecomApp, wecomApp, wecomEndpoints, wecomRuntime, type MockWecomApp } from './wecom.js'
import { makeWx, type MockWx, type WxTarget } from './wx.js'

/**
 * The mock's endpoint table (one module per platform with its endpoints; QQ's jscode2session has
 * WeChat's shape and is served by WeChat's), and `MockPlatforms`, the facade over the server, its
 * state and the platform modules. Adding a platform to the mock is a module and a row here.
 * Kuaishou's apps, like QQ's and Douyin's, are the AppSecret apps of `addApp`.
 */
const ENDPOINTS: readonly Endpoint[] = [
  ...wechatEndpoints, ...componentEndpoints, ...wecomEndpoints, ...douyinEndpoints,
  ...kuaishouEndpoints, ...baiduEndpoints, ...feishuEndpoints, ...alipayEndpoints
]

export type { MockComponent, MockWecomApp, MockBaiduApp, MockFeishuApp, MockAlipayApp, MockAlipayWx, MockUserApis }
export type { MockApiSecurity, MockApiSecurityConfig } from './wechat-api-security.js'
export type { MockLatestUserKey } from './wechat.js'

export interface MockPlatformsOptions {
  /** The first (default) mini program. Default `'wx0123456789abcdef'`. */
  appId?: string
  /** Default a fixed test secret; read it back from `mock.appSecret`. */
  appSecret?: string
  /** More mini programs served by the same mock (see `mock.app(appId)`); a secret is made up when none is given. */
  apps?: Array<{ appId: string, appSecret?: string }>
  /** How long a code stays valid, in ms. Default 5 minutes, as on WeChat. */
  codeTtl?: number
  /** Interface to listen on. Default `'127.0.0.1'`. */
  host?: string
  /** Lifetime of the tokens it issues (stable_token's, component and WeCom tokens), in seconds. Default 7200, as on WeChat. */
  accessTokenTtl?: number
}

/**
 * A mock of every platform's server API (each row of the endpoint table above) on one loopback
 * origin: single-use login codes for identities you choose, data encrypted as the platforms do,
 * faults on demand, and a log of every call. Its default app and `addApp`'s are AppSecret apps;
 * the other kinds of app have their own `add…App`.
 */
export class MockPlatforms {
  readonly appId: string
  readonly appSecret: string
  /** Every request received, oldest first. */
  readonly calls: MockCall[]
  readonly #state: MockState
  readonly #server: MockServer

  /** Starts a mock on a free loopback port. */
  static async start (options: MockPlatformsOptions = {}): Promise<MockPlatforms> {
    const mock = new MockPlatforms(options)
    await mock.#server.listen(options.host ?? '127.0.0.1')
    return mock
  }

  private constructor (options: MockPlatformsOptions) {
    this.#state = new MockState({ codeTtl: options.codeTtl ?? 5 * 60 * 1000, accessTokenTtl: options.accessTokenTtl ?? 7200 })
    this.#server = new MockServer(this.#state, ENDPOINTS, errcodeAnswer)
    this.calls = this.#server.calls
    this.appId = options.appId ?? 'wx0123456789abcdef'
    this.appSecret = options.appSecret ?? 'mock-app-secret-0123456789abcdef'
    this.addApp(this.appId, this.appSecret)
    for (const app of options.apps ?? []) this.addApp(app.appId, app.appSecret)
  }

  /** Client connections open now, and the most ever open at once (to check a pool's bound). */
  get connections (): { open: number, peak: number } { return this.#server.connections }

  /** The origin to pass as `apiBaseUrl`. */
  get url (): string { return this.#server.url }

  /** Serves one more mini program (its AppSecret made up when not given) and returns it. */
  addApp (appId: string, appSecret = `mock-secret-${appId}-${randomBytes(8).toString('hex')}`): MockApp {
    const apps = this.#state.kind<string>(SECRET_APPS)
    if (apps.has(appId) && apps.get(appId) !== appSecret) throw new Error(`the mock already serves ${appId} with another secret`)
    this.#state.unused(appId, SECRET_APPS)
    apps.set(appId, appSecret)
    this.#state.secrets.add(appSecret)
    return this.app(appId)
  }

  /** Serves a third-party platform (its secret made up when not given) and returns it. */
  addComponent (appId: string, appSecret?: string): MockComponent { return addComponent(this.#state, appId, appSecret) }

  /** One of the mock's third-party platforms. */
  component (appId: string): MockComponent { return component(this.#state, appId) }

  /** Serves a mini program linked to a WeCom app (its corpSecret made up when not given) and returns it. */
  addWecomApp (appId: string, linked: { corpId: string, corpSecret?: string }): MockWecomApp { return addWecomApp(this.#state, appId, linked) }

  /** One of the mock's WeCom mini programs. */
  wecomApp (appId: string): MockWecomApp { return wecomApp(this.#state, appId) }

  /** Serves a Baidu smart program (`appId` its AppKey; its AppSecret made up when not given) and returns it. */
  addBaiduApp (appId: string, appSecret?: string): MockBaiduApp { return addBaiduApp(this.#state, appId, appSecret) }

  /** One of the mock's Baidu smart programs. */
  baiduApp (appId: string): MockBaiduApp { return baiduApp(this.#state, appId) }

  /** Serves a Feishu mini program of one tenant (its App Secret and tenant made up when not given) and returns it. */
  addFeishuApp (appId: string, options?: { appSecret?: string, tenantKey?: string }): MockFeishuApp { return addFeishuApp(this.#state, appId, options) }

  /** One of the mock's Feishu mini programs. */
  feishuApp (appId: string): MockFeishuApp { return feishuApp(this.#state, appId) }

  /** Serves an Alipay mini program with its own test keys (the app's, "Alipay's", a content key) and returns it. */
  addAlipayApp (appId: string, options?: { idType?: 'open_id' | 'user_id' }): MockAlipayApp { return addAlipayApp(this.#state, appId, options) }

  /** One of the mock's Alipay mini programs. */
  alipayApp (appId: string): MockAlipayApp { return alipayApp(this.#state, appId) }

  /** One of the mock's mini programs: its users, codes and encrypted data (and WeChat's user APIs for them). */
  app (appId: string): MockApp & MockUserApis { return { ...mockApp(this.#state, appId), ...userApis(this.#state, appId) } }

  /** The user with this openid in the default app, created on first use (with `unionid` when given). */
  user (openid: string, unionid?: string): MockUser { return this.app(this.appId).user(openid, unionid) }

  /**
   * What `wx.login()` does for this user of the default app: a fresh single-use code. The
   * session_key stays as it is while the WeChat session is valid; `rotate: true` models a login
   * after it lapsed (a new key). For another app, `mock.app(appId).login(...)`.
   */
  login (openid: string, options: { unionid?: string, rotate?: boolean } = {}): string { return this.app(this.appId).login(openid, options) }

  /** What `wx.getUserCryptoManager().getLatestUserKey()` gives this user of the default app (see `MockApp`). */
  latestUserKey (openid: string): ReturnType<MockUserApis['latestUserKey']> { return this.app(this.appId).latestUserKey(openid) }

  /** Gives the user a new session_key (their WeChat session lapsed) and returns it. */
  rotateSessionKey (openid: string): string { return this.app(this.appId).rotateSessionKey(openid) }

  /**
   * Encrypted data as the mini program receives it for this user (`wx.getWeRunData`,
   * `wx.getUserProfile`, share info): the data plus a watermark, under the current session_key.
   */
  encrypt (openid: string, data: Record<string, unknown>, watermark: { appid?: string, timestamp?: number } = {}): EncryptedUserData {
    return this.app(this.appId).encrypt(openid, data, watermark)
  }

  /** `rawData` and its `signature` as `wx.getUserInfo` returns them for this user. */
  signedRawData (openid: string, info: Record<string, unknown>): { rawData: string, signature: string } {
    return this.app(this.appId).signedRawData(openid, info)
  }

  /**
   * A code as `<button open-type="getPhoneNumber">` gives it: single use, valid 5 minutes, for this
   * user's phone (default a mainland number, with countryCode as the number WeChat sends).
   */
  phoneCode (openid: string, phone: Partial<MockPhone> = {}): string { return this.app(this.appId).phoneCode(openid, phone) }

  /**
   * Every access token issued (of one app, or of all) stops working (40001), as after a force
   * refresh elsewhere. (For platforms and WeCom apps: `component(id).revokeTokens()`, `wecomApp(id).revokeTokens()`.)
   */
  revokeAccessTokens (appId?: string): void { this.#state.revokeTokens(appId) }

  /** Every access token issued (of one app, or of all) expires now (42001). */
  expireAccessTokens (appId?: string): void { this.#state.expireTokens(appId) }

  /**
   * Everything that must never appear in a reply or a log line: the AppSecret, every session_key,
   * login or phone code and access token this mock has issued.
   */
  secrets (): string[] { return [...this.#state.secrets] }

  /** Queues faults: each of the next matching requests takes one, in order. */
  fail (...faults: MockFault[]): void { this.#server.fail(faults) }

  /** Calls received on one path. */
  callsTo (path: string): MockCall[] { return this.calls.filter((c) => c.path === path) }

  async close (): Promise<void> { await this.#server.close() }
}

/** Starts a mock of every platform's API on a free loopback port: `MockPlatforms.start`. */
export async function createMockPlatforms (options?: MockPlatformsOptions): Promise<MockPlatforms> {
  return await MockPlatforms.start(options)
}

/** @deprecated Use `MockPlatforms`: the same class, named for what it serves: every platform's API, not WeChat's alone. */
export const MockWechat = MockPlatforms
/** @deprecated Use `MockPlatforms`: the same class, named for what it serves: every platform's API, not WeChat's alone. */
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the old name's type beside its value, as a class has both
export type MockWechat = MockPlatforms
/** @deprecated Use `MockPlatformsOptions`: the same options, of `MockPlatforms`. */
export interface MockWechatOptions extends MockPlatformsOptions {}
/** @deprecated Use `createMockPlatforms`: the same function, named for what it starts: every platform's API. */
export const createMockWechat = createMockPlatforms

/**
 * A `wx` for one user of the mock: see `makeWx`. A WeCom app's (`mock.wecomApp(appId)`) runs in
 * WeCom; an Alipay app's (`mock.alipayApp(appId)`) is Alipay's `my`, with `getAuthCode` and
 * `getPhoneNumber` (see `MockAlipayWx`).
 */
export function createWx<M extends MockPlatforms | MockApp | MockWecomApp | MockAlipayApp> (mock: M, openid: string): M extends MockAlipayApp ? MockAlipayWx : MockWx {
  const wx = 'alipayPublicKey' in mock ? alipayWx(mock as MockAlipayApp, openid) : makeWx(mock as WxTarget, openid, wecomRuntime, 'corpId' in mock)
  return wx as M extends MockAlipayApp ? MockAlipayWx : MockWx
}
