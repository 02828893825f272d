/**
 * The public types of the platform table's rows, under the names the package exports (part of the
 * table: a new platform adds its types here).
 */
export type {
  WechatSession as WeappWechatSession, WecomSession as WeappWecomSession,
  WechatIdentity as WeappWechatIdentity, WecomIdentity as WeappWecomIdentity,
  WeappAppConfig, WeappWechatAppConfig, WeappComponentAppConfig, WeappWecomAppConfig,
  ComponentConfig, ComponentWithTicket, ComponentWithToken, WecomCredentials, WeappPhone
} from './index.js'
