/// <reference types="miniprogram-api-typings" />
// Compile-time guarantees: `npm test` type-checks this file, so each @ts-expect-error fails the
// build if the typing it pins stops catching the mistake.
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import fastifyWeapp, { type FastifyWeappOptions, type WeappApi, type WeappAppApi, type WeappSession } from '../lib/index.js'
import type { WxLike } from '../lib/client.js'
import type { OpenidPlatform } from '../lib/platforms/index.js'
import { KEY, OTHER_KEY } from './fixtures/app.js'

t.test('types merge into Fastify\'s', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const options: FastifyWeappOptions = { appId: 'wx1', appSecret: 's', key: [KEY, Buffer.from(OTHER_KEY, 'base64url')], expiresIn: '1d' }
  await app.register(fastifyWeapp, options)
  // @ts-expect-error appSecret is required
  const missing: FastifyWeappOptions = { appId: 'wx1', key: KEY }
  // @ts-expect-error timeout is a number of ms
  const wrongType: FastifyWeappOptions = { ...options, timeout: '5s' }
  t.ok(missing !== undefined && wrongType !== undefined)

  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => {
    const session: WeappSession | null = request.weappSession
    // @ts-expect-error weappSession may be null before authenticate
    const openid: string = request.weappSession.openid
    return { openid: session?.openid ?? openid }
  })
  const several: FastifyWeappOptions = { apps: [{ appId: 'wx1', appSecret: 's' }], key: KEY }
  const looked: FastifyWeappOptions = { apps: async (appId) => appId === 'wx1' ? { appId, appSecret: 's' } : undefined, key: KEY }
  // @ts-expect-error apps or appId + appSecret, not both
  const both: FastifyWeappOptions = { apps: [{ appId: 'wx1', appSecret: 's' }], appId: 'wx1', appSecret: 's', key: KEY }
  t.ok(several !== undefined && looked !== undefined && both !== undefined)
  const kinds: FastifyWeappOptions = {
    apps: [
      { appId: 'wx1', appSecret: 's' },
      { appId: 'wx2', component: { appId: 'wxc', appSecret: 's', verifyTicket: () => 'ticket' } },
      { appId: 'wx3', component: { appId: 'wxc', accessToken: async () => 't', authorizerAccessToken: async (appId) => appId } },
      { appId: 'wx4', wecom: { corpId: 'ww1', corpSecret: 's' } }
    ],
    key: KEY,
    apiBaseUrl: { wecom: 'http://127.0.0.1:1' }
  }
  // @ts-expect-error one kind per app
  const twoKinds: FastifyWeappOptions = { apps: [{ appId: 'wx1', appSecret: 's', wecom: { corpId: 'ww1', corpSecret: 's' } }], key: KEY }
  // @ts-expect-error a platform's own token, or its secret and ticket: not both
  const mixed: FastifyWeappOptions = { apps: [{ appId: 'wx2', component: { appId: 'wxc', appSecret: 's', verifyTicket: () => 't', accessToken: () => 't' } }], key: KEY }
  // @ts-expect-error apiBaseUrl names platforms
  const unknownPlatform: FastifyWeappOptions = { ...options, apiBaseUrl: { weixin: 'https://api.weixin.qq.com' } }
  t.ok(kinds !== undefined && twoKinds !== undefined && mixed !== undefined && unknownPlatform !== undefined)
  // An ioredis client (what @fastify/redis decorates) is what revocation takes.
  const redis = new Redis({ lazyConnect: true })
  const revocable: FastifyWeappOptions = { ...options, revocation: { redis, prefix: 'app:' }, renewWithin: '1d', maxAge: '30d' }
  // @ts-expect-error revocation takes a client, not a URL
  const byUrl: FastifyWeappOptions = { ...options, revocation: { redis: 'redis://localhost' } }
  t.ok(revocable !== undefined && byUrl !== undefined)
  redis.disconnect()
  const api: WeappApi = app.weapp
  const identity = { openid: 'o', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' }
  const token: string = await api.seal(identity)
  const session: WeappSession = await api.unseal(token)
  // Without WeCom apps declared (WeappSessionTypes), a session is a WeChat user's.
  const platform: OpenidPlatform = session.platform
  // @ts-expect-error no corpId on a WeChat user's session
  t.notOk(session.corpId)
  t.equal(platform, 'wechat')
  const expiresAt: number = session.expiresAt
  const appId: string = session.appId
  const one: WeappAppApi = await api.app(appId)
  const sealed: Promise<string> = one.seal(identity)
  t.type(sealed.then, 'function')
  // @ts-expect-error decrypt takes (sessionKey, encryptedData, iv)
  t.throws(() => api.decrypt({ encryptedData: 'x', iv: 'y' }))
  t.ok(expiresAt > Date.now())
})

t.test('the client is typed against miniprogram-api-typings: the real wx fits WxLike', async (t) => {
  const fits = (wx: WechatMiniprogram.Wx): WxLike => wx
  t.type(fits, 'function')
})
