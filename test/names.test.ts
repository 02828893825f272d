// The public names say what they cover: `WeappOpenidSession` and `WeappOpenidIdentity` are the users
// of every platform whose users are openids with a session_key, `MockPlatforms` serves every
// platform's API. The names they replace stay, deprecated, as the very same types and values. Each
// expected type error below fails the type-check if a name stops catching the mistake it pins.
import t from 'tap'
import type { WeappOpenidIdentity, WeappOpenidSession, WeappWechatIdentity, WeappWechatSession } from '../lib/index.js'
import type { OpenidPlatform } from '../lib/platforms/index.js'
import { createMockPlatforms, createMockWechat, MockPlatforms, MockWechat, type MockPlatformsOptions, type MockWechatOptions } from '../lib/testing.js'

/** True where A and B are the same type, and only there. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const same = <A, B>(yes: Same<A, B>): Same<A, B> => yes

t.test('an openid session and identity: every openid platform\'s, under the new names and the old', async (t) => {
  t.ok(same<WeappOpenidSession, WeappWechatSession>(true), 'the old session name is the same type')
  t.ok(same<WeappOpenidIdentity, WeappWechatIdentity>(true), 'the old identity name is the same type')
  t.ok(same<WeappOpenidSession['platform'], OpenidPlatform>(true), 'a session says any openid platform')
  t.ok(same<Required<WeappOpenidIdentity>['platform'], OpenidPlatform>(true), 'an identity says any openid platform (or none: the first)')
  // @ts-expect-error a session is not an identity: the check tells types apart
  t.ok(same<WeappOpenidSession, WeappOpenidIdentity>(true))

  // @ts-expect-error a WeCom member's session is not an openid session
  const wecom: WeappOpenidSession['platform'] = 'wecom'
  // @ts-expect-error nor is an Alipay user's
  const alipay: WeappOpenidIdentity['platform'] = 'alipay'
  t.same([wecom, alipay], ['wecom', 'alipay'])
  // @ts-expect-error an openid session has an openid, not a corpId
  const corpIdOf = (session: WeappOpenidSession): unknown => session.corpId
  t.type(corpIdOf, 'function')
})

t.test('MockPlatforms, and under its old names MockWechat and createMockWechat the same class and function', async (t) => {
  t.equal(MockWechat, MockPlatforms, 'the old class name is the class itself')
  t.equal(createMockWechat, createMockPlatforms, 'the old function name is the function itself')
  t.equal(MockPlatforms.name, 'MockPlatforms')
  t.equal(createMockPlatforms.name, 'createMockPlatforms')
  t.ok(same<MockWechat, MockPlatforms>(true), 'the old type name is the class\'s instance type')
  t.ok(same<MockWechatOptions, MockPlatformsOptions>(true), 'the old options name is the same type')

  const options: MockPlatformsOptions = { appId: 'wxnames0000000001', apps: [{ appId: 'ks671234567890123456' }] }
  // @ts-expect-error codeTtl is a number of ms
  const wrong: MockPlatformsOptions = { codeTtl: '5m' }
  t.ok(wrong !== undefined)
  const mock: MockPlatforms = await createMockPlatforms(options)
  t.teardown(() => mock.close())
  t.ok(mock instanceof MockPlatforms && mock instanceof MockWechat, 'an instance of the class under both names')
  t.equal(mock.appId, 'wxnames0000000001')
  const old: MockWechat = await MockWechat.start()
  t.teardown(() => old.close())
  t.ok(old instanceof MockPlatforms, 'the old name starts the same mock')
  t.match(mock.url, /^http:\/\/127\.0\.0\.1:\d+$/)
})
