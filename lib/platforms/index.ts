import { alipay, type AlipayAppConfig, type AlipayIdentity, type AlipaySession } from './alipay.js'
import { baidu } from './baidu.js'
import { hostedBy, type ComponentAppConfig } from './component.js'
import { douyin } from './douyin.js'
import { feishu, type FeishuIdentity, type FeishuSession } from './feishu.js'
import { kuaishou } from './kuaishou.js'
import { qq } from './qq.js'
import { wechat, wechatShaped } from './wechat.js'
import { wecom, type WecomAppConfig, type WecomIdentity, type WecomSession } from './wecom.js'
import { APP_ID_PATTERN, type AppSecretApp, type Platform } from './platform.js'
import type { WeappApiSecurity } from './wechat-api-security.js'
import { mapUsers, type OpenidIdentity, type OpenidSession, type UserMapping } from './users.js'

/**
 * The platform table: one row per kind of app, each built in its own file (a platform is data plus
 * a few functions), looked up by `platformOf`, which answers undefined the same way for everything
 * it does not know. Nothing else in the plugin names a platform: adding one is a file and a row
 * here; the kinds, origins, identities, sessions and configs below are computed from the rows.
 */
const TABLE = {
  wechat,
  component: hostedBy(wechat),
  wecom,
  qq: wechatShaped(qq),
  douyin,
  kuaishou,
  baidu,
  feishu,
  alipay
} satisfies Record<string, Platform>

export const PLATFORMS: Readonly<Record<AppKind, Platform>> = Object.freeze(TABLE)

/** Which upstream an app logs in through: a key of the table. */
export type AppKind = keyof typeof TABLE
/** What the row of a kind says of itself as types (see `RowTypes`). */
type TypesOf<K extends AppKind> = typeof TABLE[K] extends Platform<infer T> ? T : never
/** The `apiBaseUrl` keys: one origin per platform. */
export type OriginKey = { [K in AppKind]: TypesOf<K>['origin'] }[AppKind]
/** The platforms whose users are openids with a session_key (hosted mini programs' users are the first's). */
export type OpenidPlatform = { [K in AppKind]: TypesOf<K>['users'] extends { openid: infer P } ? P : never }[AppKind]
/** The users of the rows whose users have a shape of their own, by kind. */
type OwnUsers = { [K in AppKind as TypesOf<K>['users'] extends { session: object } ? K : never]: TypesOf<K>['users'] }

export const ROWS: readonly Platform[] = Object.freeze(Object.values(PLATFORMS))

/** Whether `kind` is a key of the table (an inherited name is not). */
const isKind = (kind: unknown): kind is AppKind => typeof kind === 'string' && Object.hasOwn(PLATFORMS, kind)

/** The row of a kind, or undefined for anything that is not one (an inherited name included). */
export function platformOf (kind: unknown): Platform | undefined {
  return isKind(kind) ? PLATFORMS[kind] : undefined
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
export type AnyIdentity = WechatIdentity | { [K in keyof OwnUsers]: OwnUsers[K]['identity'] }[keyof OwnUsers]
/** Any session the plugin issues. */
export type AnySession = WechatSession | { [K in keyof OwnUsers]: OwnUsers[K]['session'] }[keyof OwnUsers]
/** The sessions an app declares it issues (see `WeappSessionTypes`): a row's own shape with `{ [kind]: true }`. */
export type SessionOf<Types> = WechatSession | { [K in keyof OwnUsers]: Types extends Record<K, true> ? OwnUsers[K]['session'] : never }[keyof OwnUsers]
export type IdentityOf<Types> = WechatIdentity | { [K in keyof OwnUsers]: Types extends Record<K, true> ? OwnUsers[K]['identity'] : never }[keyof OwnUsers]

/** The kinds whose credential is the app's own AppSecret. */
type AppSecretKind = { [K in AppKind]: TypesOf<K>['config'] extends AppSecretApp ? K : never }[AppKind]

/** An app whose credential is its own AppSecret (a Baidu one's AppKey and AppSecret): the rows whose config is `AppSecretApp`. */
interface AppSecretConfig extends AppSecretApp {
  /** WeChat's API security (WeChat mini programs only): the calls that support it are encrypted and signed, their answers verified. */
  apiSecurity?: WeappApiSecurity
  /** The platform: a kind whose credential is an AppSecret (`'qq'`, `'douyin'`, …). Default `'wechat'`. */
  platform?: AppSecretKind
}

/** Each kind's app config. */
type ConfigOf<K extends AppKind> = TypesOf<K>['config'] extends AppSecretApp ? AppSecretConfig : TypesOf<K>['config']
type ConfigKey = Exclude<{ [K in AppKind]: keyof ConfigOf<K> }[AppKind], 'appId'>
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
export type WeappAppConfig = { [K in AppKind]: Only<ConfigOf<K>> }[AppKind]

export type { ComponentConfig, ComponentWithTicket, ComponentWithToken } from './component.js'
export type { WecomCredentials } from './wecom.js'
export type { AlipayKeys, AlipayIdType } from './alipay.js'
export type { WeappPhone, WeappUserEncryptKey, WeappRiskRankInput, WeappPaidQuery } from './platform.js'
export type { WeappApiSecurity } from './wechat-api-security.js'

/**
 * The public names of the rows' session and identity types (the package exports this file's types).
 * An openid session or identity is a user of any platform whose users are openids with a
 * session_key (each `OpenidPlatform`, and hosted mini programs, whose users are WeChat's);
 * `platform` says which.
 */
export type WeappOpenidSession = WechatSession
export type WeappWecomSession = WecomSession
export type WeappOpenidIdentity = WechatIdentity
export type WeappWecomIdentity = WecomIdentity
export type WeappFeishuSession = FeishuSession
export type WeappFeishuIdentity = FeishuIdentity
export type WeappAlipaySession = AlipaySession
export type WeappAlipayIdentity = AlipayIdentity
/** @deprecated Use `WeappOpenidSession`: the same type, named for what it covers: every openid platform's users, not WeChat's alone. */
export type WeappWechatSession = WeappOpenidSession
/** @deprecated Use `WeappOpenidIdentity`: the same type, named for what it covers: every openid platform's users, not WeChat's alone. */
export type WeappWechatIdentity = WeappOpenidIdentity
