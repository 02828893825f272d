import t from 'tap'
import { harness } from '../fixtures/app.js'
import { loginStateSignature } from '../../lib/platforms/wechat-api.js'

t.test('the login-state signature matches WeChat\'s documented example', async (t) => {
  // WeChat's "user login state signature" documentation: session_key 'o0q0otL8aEzpcZL/FT9WsQ=='.
  t.equal(loginStateSignature('o0q0otL8aEzpcZL/FT9WsQ==', '{"foo":"bar"}'), '654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b')
  t.match(loginStateSignature('o0q0otL8aEzpcZL/FT9WsQ=='), /^[0-9a-f]{64}$/, 'a GET signs the empty string')
})

t.test('checkSessionKey: true for the current key, false once it was rotated', async (t) => {
  const h = await harness(t)
  const { sessionKey } = h.mock.user('o-alice')
  t.equal(await h.app.weapp.checkSessionKey('o-alice', sessionKey), true)
  const call = h.mock.callsTo('/wxa/checksession')[0]
  t.equal(call?.method, 'GET')
  t.same(Object.keys(call?.query ?? {}).sort(), ['access_token', 'openid', 'sig_method', 'signature'])
  t.match(call?.query, { openid: 'o-alice', sig_method: 'hmac_sha256', signature: loginStateSignature(sessionKey) })
  h.mock.rotateSessionKey('o-alice')
  t.equal(await h.app.weapp.checkSessionKey('o-alice', sessionKey), false)
  t.equal(h.mock.callsTo('/cgi-bin/stable_token').length, 1, 'one access token for both')
  t.same(h.leaks(), [])
})

t.test('with a session from the login route, and through a refused token', async (t) => {
  const h = await harness(t)
  const { session } = await h.login('o-bob')
  const { openid, sessionKey } = await h.app.weapp.unseal(session)
  h.mock.expireAccessTokens()
  t.equal(await h.app.weapp.checkSessionKey(openid, sessionKey), true)
})

t.test('errors: unknown user, upstream faults, bad arguments', async (t) => {
  const h = await harness(t)
  await t.rejects(h.app.weapp.checkSessionKey('o-unknown', 'AAAAAAAAAAAAAAAAAAAAAA=='), { code: 'WEAPP_UPSTREAM_ERROR' })
  h.mock.fail({ errcode: -1, path: '/wxa/checksession' })
  await t.rejects(h.app.weapp.checkSessionKey('o-unknown', 'AAAAAAAAAAAAAAAAAAAAAA=='), { code: 'WEAPP_UPSTREAM_ERROR', message: /busy/ })
  await t.rejects(h.app.weapp.checkSessionKey('', 'x'), TypeError)
  await t.rejects(h.app.weapp.checkSessionKey('o', 5 as never), TypeError)
})
