// The example app: fastify-weapp plus one protected route of the app's own.
import Fastify from 'fastify'
import fastifyWeapp from 'fastify-weapp'

/**
 * @param {{ appId: string, appSecret: string, key: string | string[], apiBaseUrl?: string, logger?: boolean | object }} options
 */
export async function buildServer ({ appId, appSecret, key, apiBaseUrl, logger = false }) {
  const app = Fastify({ logger })

  // POST /weapp/login and POST /weapp/decrypt, plus app.weapp.*
  await app.register(fastifyWeapp, { appId, appSecret, key, apiBaseUrl })

  // An app route protected by the plugin's hook: who is calling?
  app.get('/me', { onRequest: app.weapp.authenticate }, async (request) => {
    const { openid, unionid, expiresAt } = request.weappSession
    return { openid, unionid, sessionExpiresAt: new Date(expiresAt).toISOString() }
  })

  return app
}
