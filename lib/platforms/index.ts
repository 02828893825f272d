import { alipay, type AlipayAppConfig, type AlipayIdentity, type AlipayIdentityOf, type AlipaySession, type AlipaySessionOf } from './alipay.js'
import { baidu } from './baidu.js'
import { hostedBy, type ComponentAppConfig } from './component.js'
import { douyin } from './douyin.js'
import { feishu, type FeishuIdentity, type FeishuIdentityOf, type FeishuSession, type FeishuSessionOf } from './feishu.js'
import { kuaishou } from './kuaishou.js'
import { qq } from './qq.js'
import { wechat, wechatShaped } from './wechat.js'
import { wecom, type WecomAppConfig, type WecomIdentity, type WecomIdentityOf, type WecomSession, type WecomSessionOf } from './wecom.js'
import { APP_ID_PATTERN, type Platform } from './platform.js'
import type { WeappApiSecurity } from './wechat-api-security.js'
import { mapUsers, type OpenidIdentity, type OpenidSession, type UserMapping } from './users.js'

/**
 * The platform table: one row per kind of app, each built in its own file (a platform is data plus
 * a few functions), looked up by `platformOf`, which answers undefined the same way for everything
 * it does not know. Nothing else in the plugin names a platform: adding one is a file, a row here
 * and a row in each type below.
 */
export const PLATFORMS: Readonly<Record<string, Platform>> = Object.freeze({
  wechat,
  component: hostedBy(wechat),
  wecom,
  qq: wechatShaped(qq),
  douyin,
  kuaishou,
  baidu,
  feishu,
  alipay
})

/** Which upstream an app logs in through: a key of the table. */
export type AppKind = 'wechat' | 'component' | 'wecom' | 'qq' | 'douyin' | 'kuaishou' | 'baidu' | 'feishu' | 'alipay'
/** The `apiBaseUrl` keys: one origin per platform. */
export type OriginKey = 'wechat' | 'wecom' | 'qq' | 'douyin' | 'kuaishou' | 'baidu' | 'feishu' | 'alipay'
/** The platforms whose users are openids with a session_key (hosted mini programs' users are the first's). */
export type OpenidPlatform = 'wechat' | 'qq' | 'douyin' | 'kuaishou' | 'baidu'

export const ROWS: readonly Platform[] = Object.freeze(Object.values(PLATFORMS))

/** The row of a kind, or undefined for anything that is not one (an inherited name included). */
export function platformOf (kind: unknown): Platform | undefined {
  return typeof kind === 'string' && Object.hasOwn(PLATFORMS, kind) ? PLATFORMS[kind] : undefined
}

/** The one mapping of identities, claims, sessions, answers and JWSs, for every row's users. */
export const users: UserMapping<AnyIdentity, AnySession> = mapUsers(ROWS.map((row) => row.users))

/** One origin per platform, without a trailing slash. */
export type ApiBaseUrls = Readonly<Record<OriginKey, string>>

/** Each platform's own API origin. */
export const DEFAULT_API_BASE_URLS: ApiBaseUrls = Object.freeze(Object.fromEntries(ROWS.map((row) => [row.origin.key, row.origin.url])) as Record<OriginKey, string>)

/** The AppID in the Referer of a mini program's requests, for each platform whose runtime sends one. */
export const REFERER = new RegExp(`^https://(?:${[...new Set(ROWS.flatMap((row) => row.referer === undefined ? [] : [row.referer]))].join('|')})/(${APP_ID_PATTERN})/`)

/** A user of a mini program whose users are openids, as a login gives it and `seal` takes it. */
export type WechatIdentity = OpenidIdentity<OpenidPlatform>
/** That user's session. */
export type WechatSession = OpenidSession<OpenidPlatform>
export type { WecomIdentity, WecomSession, FeishuIdentity, FeishuSession, AlipayIdentity, AlipaySession }
/** Any identity a login yields and a session holds. */
export type AnyIdentity = WechatIdentity | WecomIdentity | FeishuIdentity | AlipayIdentity
/** Any session the plugin issues. */
export type AnySession = WechatSession | WecomSession | FeishuSession | AlipaySession
/** The sessions an app declares it issues (see `WeappSessionTypes`). */
export type SessionOf<Types> = WechatSession | WecomSessionOf<Types> | FeishuSessionOf<Types> | AlipaySessionOf<Types>
export type IdentityOf<Types> = WechatIdentity | WecomIdentityOf<Types> | FeishuIdentityOf<Types> | AlipayIdentityOf<Types>

/** An app whose credential is its own AppSecret: a mini program of WeChat, QQ, Douyin, Kuaishou, Baidu (its AppKey and AppSecret) or Feishu. */
interface AppSecretConfig {
  appId: string
  appSecret: string
  /** WeChat's API security (WeChat mini programs only): the calls that support it are encrypted and signed, their answers verified. */
  apiSecurity?: WeappApiSecurity
  /** The platform: `'qq'`, `'douyin'`, `'kuaishou'`, `'baidu'` or `'feishu'`. Default `'wechat'`. */
  platform?: 'wechat' | 'qq' | 'douyin' | 'kuaishou' | 'baidu' | 'feishu'
}

type ConfigKey = 'appSecret' | 'platform' | 'component' | 'wecom' | 'alipay' | 'apiSecurity'
/** A config that gives none of the other kinds' fields. */
type Only<T> = T & { [K in Exclude<ConfigKey, keyof T>]?: undefined }

/** A WeChat mini program (or, with `platform: 'qq'` or `'douyin'`, a QQ or Douyin one): its AppID and AppSecret. */
export type WeappWechatAppConfig = Only<AppSecretConfig>
/** A mini program hosted by a WeChat Open Platform third-party platform (it has no AppSecret of its own here). */
export type WeappComponentAppConfig = Only<ComponentAppConfig>
/** A mini program linked to a WeCom (企业微信) app, used by that company's members. */
export type WeappWecomAppConfig = Only<WecomAppConfig>
/** An Alipay mini program: its AppID and keys (requests signed, answers verified). */
export type WeappAlipayAppConfig = Only<AlipayAppConfig>
/** One app: a mini program of one of the table's platforms. */
export type WeappAppConfig = WeappWechatAppConfig | WeappComponentAppConfig | WeappWecomAppConfig | WeappAlipayAppConfig

export type { ComponentConfig, ComponentWithTicket, ComponentWithToken } from './component.js'
export type { WecomCredentials } from './wecom.js'
export type { AlipayKeys, AlipayIdType } from './alipay.js'
export type { WeappPhone, WeappUserEncryptKey, WeappRiskRankInput, WeappPaidQuery } from './platform.js'
export type { WeappApiSecurity } from './wechat-api-security.js'

/** The public names of the rows' session and identity types (the package exports this file's types). */
export type WeappWechatSession = WechatSession
export type WeappWecomSession = WecomSession
export type WeappWechatIdentity = WechatIdentity
export type WeappWecomIdentity = WecomIdentity
export type WeappFeishuSession = FeishuSession
export type WeappFeishuIdentity = FeishuIdentity
export type WeappAlipaySession = AlipaySession
export type WeappAlipayIdentity = AlipayIdentity
