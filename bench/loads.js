// The loads bench/profile.js and bench/versus.js put on the bench server (bench/server.js): an
// autocannon request each, with the code feed it draws from for logins.
import Fastify from 'fastify'
import fastifyWeapp from 'fastify-weapp'

/** The loads that need a redis-server. */
export const NEEDS_REDIS = ['seed-redis', 'devices', 'revocation']

/**
 * The autocannon request of a load: login, relay, seed-redis, seed-map (the logins of the login
 * rows), cold (the authenticated route, a session new to the process each request: enough sealed
 * for `seconds` of load), bare, devices (logins with maxSessions 3 in Redis, most evicting one)
 * and revocation (the same logins, revocation alone).
 */
export async function loadOf (name, { mock, key, seconds, log }) {
  const json = { 'content-type': 'application/json' }
  const login = (path) => {
    const feed = mock.codeFeed('o-profile-')
    return { method: 'POST', path, headers: json, feed, setupRequest: (req) => { req.body = JSON.stringify({ code: feed.next() }); return req } }
  }
  switch (name) {
    case 'login': return login('/weapp/login')
    case 'relay': return login('/relay')
    case 'seed-redis': return login('/peer/seed-redis/login')
    case 'seed-map': return login('/peer/seed-map/login')
    case 'bare': return { method: 'GET', path: '/bare' }
    case 'devices':
    case 'revocation': {
      // The maxSessions row's logins: 200 users again and again from three devices (most logins evict one).
      const feed = mock.codeFeed('o-back-', 200)
      const devices = ['wx:ios', 'wx:android', 'wx:devtools']
      let n = 0
      return { method: 'POST', path: name === 'devices' ? '/dev/login' : '/rev/login', headers: json, feed, setupRequest: (req) => { req.body = JSON.stringify({ code: feed.next(), device: devices[n++ % 3] }); return req } }
    }
    case 'cold': {
      // Genuine sessions, each used once: more than the load sends.
      const count = Math.min(400_000, 60_000 * (seconds + 2))
      log(`sealing ${count} sessions...`)
      const sealer = Fastify()
      await sealer.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key })
      const cold = []
      for (let i = 0; i < count; i++) cold.push(`Bearer ${await sealer.weapp.seal({ openid: `o-${i}`, sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' })}`)
      await sealer.close()
      let next = 0
      return { method: 'GET', path: '/auth', setupRequest: (req) => { req.headers.authorization = cold[next++ % count]; return req } }
    }
    default: throw new Error(`${name}: not a load (login, relay, seed-redis, seed-map, cold, bare, devices, revocation)`)
  }
}
