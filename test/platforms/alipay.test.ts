// Alipay's quirks: requests signed RSA2 with the app's key, answers verified with Alipay's (fail
// closed: a tampered, unsigned or wrongly signed success is a 502), user ids of two kinds, keys
// checked at registration, and phone numbers from my.getPhoneNumber()'s signed, encrypted response.
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp, { type AlipayKeys } from '../../lib/index.js'
import { duplicated, memberText, members, PHONE_ONCE, signContent, signedMember } from '../../lib/platforms/alipay.js'
import { MockWechat, type MockAlipayApp } from '../../lib/testing.js'
import { isError, KEY } from '../fixtures/app.js'
import { eventually, redisServer } from '../fixtures/redis.js'

const APP = '2021000000000001'
const OLD = '2016000000000002'

async function backend (t: Test, options: { contentKey?: boolean } = {}): Promise<{ app: FastifyInstance, mock: MockWechat, alipay: MockAlipayApp, logs: string[] }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const alipay = mock.addAlipayApp(APP)
  const old = mock.addAlipayApp(OLD, { idType: 'user_id' })
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  t.teardown(() => app.close())
  const keys = (a: MockAlipayApp, content: boolean): AlipayKeys =>
    ({ privateKey: a.privateKey, alipayPublicKey: a.alipayPublicKey, ...(content ? { contentKey: a.contentKey } : {}) })
  await app.register(weapp, {
    apps: [{ appId: APP, platform: 'alipay', alipay: keys(alipay, options.contentKey !== false) }, { appId: OLD, alipay: keys(old, false) }],
    key: KEY,
    apiBaseUrl: mock.url,
    timeout: 2000
  })
  app.get('/whoami', { onRequest: app.weapp.authenticate }, async (request) => {
    const { platform, openid, idType, sessionKey } = request.weappSession as unknown as Record<string, unknown>
    return { platform, openid, idType, sessionKey }
  })
  await app.ready()
  return { app, mock, alipay, logs }
}

/** A time as Alipay's answers write it (Beijing, `yyyy-MM-dd HH:mm:ss`), `ms` from now. */
const beijing = (ms = 0): string => new Date(Date.now() + ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
/** A success node as the gateway signs it: its token's life starting `startIn` ms from now. */
const success = (openId: string, startIn = 0, expiresIn: number | string = 1296000): string =>
  JSON.stringify({ open_id: openId, access_token: `authusrB${openId}${startIn}`, expires_in: expiresIn, refresh_token: 'r', re_expires_in: 2592000, auth_start: beijing(startIn) })
/** The gateway's answer around a node, signed by the mock's "Alipay" key. */
const signed = (alipay: MockAlipayApp, node: string, name = 'alipay_system_oauth_token_response'): string => `{"${name}":${node},"sign":${JSON.stringify(alipay.sign(node))}}`

const login = async (app: FastifyInstance, code: string, appId = APP) => await app.inject({ method: 'POST', url: '/weapp/login', payload: { code, appId } })

t.test('a login is one gateway call, signed RSA2 over the sorted parameters with the app\'s key', async (t) => {
  const { app, mock, alipay } = await backend(t)
  const res = await login(app, alipay.login('2088-alice'))
  t.equal(res.statusCode, 200)
  t.match(res.json(), { appId: APP, openid: '2088-alice', idType: 'open_id' })
  const [call] = mock.callsTo('/gateway.do')
  const params = Object.fromEntries(new URLSearchParams(call?.body))
  t.match(params, { app_id: APP, method: 'alipay.system.oauth.token', format: 'JSON', charset: 'utf-8', sign_type: 'RSA2', version: '1.0', grant_type: 'authorization_code' })
  t.match(params.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, 'gateway time format')
  const beijing = new Date(Date.parse(`${params.timestamp?.replace(' ', 'T') as string}Z`) - 8 * 3600_000)
  t.ok(Math.abs(beijing.getTime() - Date.now()) < 60_000, 'the timestamp is Beijing time (UTC+8)')
  const appPublic = createPublicKey(alipay.privateKey)
  t.ok(verify('sha256', Buffer.from(signContent(params), 'utf8'), appPublic, Buffer.from(params.sign as string, 'base64')), 'the signature verifies with the app\'s public key')
  t.same(call?.query, {}, 'the code is in the body, not the URL')
  const me = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${res.json().session as string}` } })
  t.same(me.json(), { platform: 'alipay', openid: '2088-alice', idType: 'open_id', sessionKey: '' }, 'an Alipay session says which id it holds and has no session_key')
})

t.test('an app in UserID mode gets user_id, and the session says so', async (t) => {
  const { app, mock } = await backend(t)
  const res = await login(app, mock.alipayApp(OLD).login('2088102150477652'), OLD)
  t.match(res.json(), { appId: OLD, openid: '2088102150477652', idType: 'user_id' })
})

t.test('fail closed: a success that is tampered with, unsigned or signed by another key is a 502', async (t) => {
  const { app, alipay, mock } = await backend(t)
  const node = `{"open_id":"victim","access_token":"x","expires_in":1296000,"auth_start":"${beijing()}"}`
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const { sign } = await import('node:crypto')
  const cases: Array<[string, string]> = [
    ['tampered', `{"alipay_system_oauth_token_response":${node.replace('victim', 'attacker')},"sign":${JSON.stringify(alipay.sign(node))}}`],
    ['unsigned', `{"alipay_system_oauth_token_response":${node}}`],
    ['signed by another key', `{"alipay_system_oauth_token_response":${node},"sign":${JSON.stringify(sign('sha256', Buffer.from(node), other).toString('base64'))}}`],
    ['a signature that is not base64', `{"alipay_system_oauth_token_response":${node},"sign":"not base64!"}`],
    ['a signed refusal whose signature does not verify', `{"error_response":{"code":"40002","sub_code":"isv.code-invalid"},"sign":${JSON.stringify(alipay.sign(node))}}`]
  ]
  for (const [what, body] of cases) {
    mock.fail({ path: '/gateway.do', body })
    const res = await login(app, alipay.login('2088-bob'))
    isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, /signature check/, `${what}: the message names the check that failed`)
  }
  // Alipay's bytes are what it signed: spacing or escapes that re-serializing would change must verify as sent.
  const spaced = `{ "open_id" : "spaced\\/user", "access_token": "x", "expires_in": "1296000", "auth_start": "${beijing()}" }`
  mock.fail({ path: '/gateway.do', body: `{"alipay_system_oauth_token_response":${spaced},"sign":${JSON.stringify(alipay.sign(spaced))}}` })
  t.match((await login(app, alipay.login('2088-bob'))).json(), { openid: 'spaced/user' }, 'verified over the exact text, not a re-serialization')
  // The genuine answer, signed as the mock signs it, still passes.
  mock.fail({ path: '/gateway.do', body: `{"alipay_system_oauth_token_response":${node},"sign":${JSON.stringify(alipay.sign(node))}}` })
  t.match((await login(app, alipay.login('2088-bob'))).json(), { openid: 'victim' }, 'the signed text is what verifies, byte for byte')
})

t.test('refusals map to the contract: a used code is 401, a bad signature setup is "misconfigured"', async (t) => {
  const { app, alipay, mock } = await backend(t)
  const code = alipay.login('2088-carol')
  t.equal((await login(app, code)).statusCode, 200)
  const again = await login(app, code)
  isError(t, again, 401, 'WEAPP_INVALID_CODE')
  t.match(again.json().message, /my\.getAuthCode\(\)/)
  const refusal = (subCode: string, code = '40002'): string => {
    const node = JSON.stringify({ code, msg: 'x', sub_code: subCode, sub_msg: 'y' })
    return `{"error_response":${node},"sign":${JSON.stringify(alipay.sign(node))}}`
  }
  mock.fail({ path: '/gateway.do', body: refusal('isv.invalid-signature') })
  const bad = await login(app, alipay.login('2088-carol'))
  isError(t, bad, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(bad.json().message, /misconfigured; check its appId, privateKey/)
  mock.fail({ path: '/gateway.do', body: refusal('isp.unknow-error', '20000') })
  t.match((await login(app, alipay.login('2088-carol'))).json(), { statusCode: 502, message: /busy/ })
  // A refusal in the method's own node (code without sub_code) is a refusal too.
  const node = JSON.stringify({ code: '40004', msg: 'Business Failed' })
  mock.fail({ path: '/gateway.do', body: `{"alipay_system_oauth_token_response":${node},"sign":${JSON.stringify(alipay.sign(node))}}` })
  t.match((await login(app, alipay.login('2088-carol'))).json(), { statusCode: 502, message: /sub_code 40004/ })
  // An answer with neither node, or a success without a user id.
  mock.fail({ path: '/gateway.do', body: '{"sign":"x"}' })
  t.match((await login(app, alipay.login('2088-carol'))).json(), { statusCode: 502, message: /without a alipay_system_oauth_token_response/ })
  const empty = '{"access_token":"x"}'
  mock.fail({ path: '/gateway.do', body: `{"alipay_system_oauth_token_response":${empty},"sign":${JSON.stringify(alipay.sign(empty))}}` })
  t.match((await login(app, alipay.login('2088-carol'))).json(), { statusCode: 502, message: /without a usable open_id or user_id/ })
})

t.test('the phone route verifies and decrypts my.getPhoneNumber()\'s response', async (t) => {
  const { app, alipay, logs } = await backend(t)
  const session = (await login(app, alipay.login('2088-dan'))).json().session as string
  const auth = { authorization: `Bearer ${session}` }
  const response = alipay.phoneResponse('13912345678')
  const res = await app.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { response } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { phone: { phoneNumber: '13912345678', purePhoneNumber: '13912345678', countryCode: '86' } })
  const given = JSON.parse(response) as { response: string, sign: string }
  const tampered = [
    JSON.stringify({ ...given, response: Buffer.from(Buffer.from(given.response, 'base64').map((b, i) => i === 0 ? b ^ 1 : b)).toString('base64') }),
    JSON.stringify({ response: given.response }),
    JSON.stringify({ ...given, sign: alipay.sign('something else') }),
    'not json',
    JSON.stringify({ response: 42, sign: given.sign })
  ]
  for (const body of tampered) {
    const refused = await app.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { response: body } })
    isError(t, refused, 400, 'WEAPP_DECRYPT_FAILED')
  }
  isError(t, await app.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { code: 'abc' } }), 400, 'FST_ERR_VALIDATION')
  const both = await app.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { code: 'abc', response } })
  isError(t, both, 400, 'FST_ERR_VALIDATION')
  t.match(both.json().message, /response alone for a Alipay session: the response string my\.getPhoneNumber\(\) gave/)
  t.notOk(logs.some((line) => line.includes(alipay.contentKey)), 'the content key is in no log line')
})

t.test('an Alipay phone answer that opens to a refusal is a 502 naming it; without contentKey the phone route is unsupported', async (t) => {
  const { app, alipay, mock } = await backend(t)
  const { createCipheriv } = await import('node:crypto')
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(alipay.contentKey, 'base64'), Buffer.alloc(16))
  const encrypted = Buffer.concat([cipher.update(JSON.stringify({ code: '40003', msg: 'Insufficient Conditions', subCode: 'isv.invalid-auth-relations', subMsg: '无效的授权关系' })), cipher.final()]).toString('base64')
  const response = JSON.stringify({ response: encrypted, sign: alipay.sign(JSON.stringify(encrypted)) })
  const session = (await login(app, alipay.login('2088-erin'))).json().session as string
  const res = await app.inject({ method: 'POST', url: '/weapp/phone', headers: { authorization: `Bearer ${session}` }, payload: { response } })
  isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(res.json().message, /Alipay answered code 40003/)
  // Signed by Alipay, yet not a phone answer: not whole blocks, not JSON, bad padding, no mobile.
  const signedAs = (bytes: Buffer): string => { const b64 = bytes.toString('base64'); return JSON.stringify({ response: b64, sign: alipay.sign(JSON.stringify(b64)) }) }
  const encrypt = (plain: Buffer, pad = true): Buffer => { const c = createCipheriv('aes-128-cbc', Buffer.from(alipay.contentKey, 'base64'), Buffer.alloc(16)).setAutoPadding(pad); return Buffer.concat([c.update(plain), c.final()]) }
  const auth = { authorization: `Bearer ${session}` }
  for (const [what, response, status, code] of [
    ['not whole blocks', signedAs(Buffer.from('12345')), 400, 'WEAPP_DECRYPT_FAILED'],
    ['not JSON', signedAs(encrypt(Buffer.from('not json at all'))), 400, 'WEAPP_DECRYPT_FAILED'],
    ['bad padding', signedAs(encrypt(Buffer.alloc(16, 0), false)), 400, 'WEAPP_DECRYPT_FAILED'],
    ['bad padding around a JSON object', signedAs(encrypt(blockAligned('{"code":"10000","msg":"Success","mobile":"13800000000"'), false)), 400, 'WEAPP_DECRYPT_FAILED'],
    ['no mobile', signedAs(encrypt(Buffer.from(JSON.stringify({ code: '10000', msg: 'Success', mobile: 42 })))), 502, 'WEAPP_UPSTREAM_ERROR']
  ] as const) {
    isError(t, await app.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { response } }), status, code)
    t.pass(what)
  }
  const old = (await login(app, mock.alipayApp(OLD).login('2088-old'), OLD)).json().session as string
  const none = await app.inject({ method: 'POST', url: '/weapp/phone', headers: { authorization: `Bearer ${old}` }, payload: { response: alipay.phoneResponse() } })
  isError(t, none, 400, 'WEAPP_UNSUPPORTED')
  t.match(none.json().message, /has no alipay\.contentKey/)
})

t.test('an app seals only identities of its own platform', async (t) => {
  const { app } = await backend(t)
  const alipay = await app.weapp.app(APP)
  const token = await alipay.seal({ platform: 'alipay', openid: '2088-h', idType: 'user_id' } as never) // typed where WeappSessionTypes declares alipay
  t.match(await app.weapp.unseal(token), { platform: 'alipay', openid: '2088-h', idType: 'user_id' })
  await t.rejects(alipay.seal({ openid: 'o', sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==' } as never), { name: 'TypeError', message: /is a Alipay app: give \{ platform: 'alipay', openid, idType \}/ })
  await t.rejects(alipay.seal({ platform: 'nope', openid: 'o' } as never), { name: 'TypeError', message: /give/ })
  await t.rejects(alipay.seal(null as never), TypeError)
})

t.test('an Alipay session has nothing for the decrypt route', async (t) => {
  const { app, alipay } = await backend(t)
  const session = (await login(app, alipay.login('2088-fay'))).json().session as string
  const res = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization: `Bearer ${session}` }, payload: { encryptedData: 'A'.repeat(24), iv: 'A'.repeat(22) + '==' } })
  isError(t, res, 400, 'WEAPP_UNSUPPORTED')
  t.match(res.json().message, /phone route/)
})

t.test('keys are checked at registration: the app is refused, and the message never repeats a key', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const a = mock.addAlipayApp(APP)
  const own = createPublicKey(a.privateKey).export({ type: 'spki', format: 'pem' }).toString()
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const cases: Array<[unknown, RegExp]> = [
    [{ privateKey: a.privateKey }, /alipayPublicKey is required/],
    [{ privateKey: 42, alipayPublicKey: a.alipayPublicKey }, /privateKey is not an RSA private key/],
    [{ privateKey: a.privateKey, alipayPublicKey: 42 }, /alipayPublicKey is not an RSA public key/],
    ['keys', /alipay is not an object/],
    [{ privateKey: '   ', alipayPublicKey: a.alipayPublicKey }, /privateKey is not an RSA private key/],
    [{ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), alipayPublicKey: a.alipayPublicKey }, /privateKey is not an RSA private key/],
    [{ privateKey: 'nonsense', alipayPublicKey: a.alipayPublicKey }, /privateKey is not an RSA private key/],
    [{ privateKey: small, alipayPublicKey: a.alipayPublicKey }, /2048 bits/],
    [{ privateKey: a.privateKey, alipayPublicKey: 'nonsense' }, /alipayPublicKey is not an RSA public key/],
    [{ privateKey: a.privateKey, alipayPublicKey: own }, /the app's own public key/],
    [{ privateKey: a.privateKey, alipayPublicKey: a.alipayPublicKey, contentKey: 'short' }, /contentKey is not the base64 of a 16-byte AES key/],
    [{ privateKey: a.privateKey, alipayPublicKey: a.alipayPublicKey, publicKey: 'x' }, /alipay\.publicKey is not an option/]
  ]
  for (const [alipay, message] of cases) {
    const app = Fastify()
    const err = await app.register(weapp, { apps: [{ appId: APP, platform: 'alipay', alipay } as never], key: KEY }).ready().then(() => undefined, (e: Error) => e)
    t.match(err, { code: 'WEAPP_INVALID_OPTION', message }, String(message))
    t.notOk(String(err?.message).includes(a.privateKey.split('\n')[1] as string), 'no key material in the message')
    await app.close()
  }
  const bare = (pem: string): string => pem.split('\n').filter((l) => !l.startsWith('-----')).join('')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: APP, platform: 'alipay', alipay: { privateKey: bare(a.privateKey), alipayPublicKey: bare(a.alipayPublicKey) } }], key: KEY, apiBaseUrl: mock.url })
  t.equal((await login(app, a.login('2088-gus'))).statusCode, 200, 'the bare base64 the console\'s tool gives is accepted')
})

t.test('duplicate check: a member beside the signed one is refused, whatever its place or spelling', async (t) => {
  const { app, alipay, mock, logs } = await backend(t)
  // The attacker's own genuine answer (to their own code), and a node naming the victim.
  const own = success('2088-attacker')
  const forged = JSON.stringify({ open_id: '2088-victim', access_token: 'x', expires_in: 1296000, auth_start: beijing() })
  const sign = JSON.stringify(alipay.sign(own))
  const cases: Array<[string, string, string]> = [
    ['an appended duplicate node', `{"alipay_system_oauth_token_response":${own},"sign":${sign},"alipay_system_oauth_token_response":${forged}}`, 'alipay_system_oauth_token_response'],
    ['an escaped duplicate node', `{"alipay_system_oauth_token_response":${own},"sign":${sign},"\\u0061lipay_system_oauth_token_response":${forged}}`, 'alipay_system_oauth_token_response'],
    ['the duplicate first', `{"alipay_system_oauth_token_response":${forged},"alipay_system_oauth_token_response":${own},"sign":${sign}}`, 'alipay_system_oauth_token_response'],
    ['a duplicated sign', `{"alipay_system_oauth_token_response":${own},"sign":"${'A'.repeat(344)}","sign":${sign}}`, 'sign'],
    ['a duplicated error_response', `{"error_response":{"code":"40002","sub_code":"isv.code-invalid"},"error_response":{"code":"10000"},"sign":${sign}}`, 'error_response']
  ]
  for (const [what, body, name] of cases) {
    mock.fail({ path: '/gateway.do', body })
    const res = await login(app, alipay.login('2088-attacker'))
    isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, new RegExp(`duplicate check \\(${name} twice`), `${what}: refused, naming the check`)
    t.notOk(res.body.includes('2088-victim') || res.body.includes(alipay.contentKey), `${what}: no user and no secret in the reply`)
  }
  // The same signed answer alone is genuine: it logs its own user in (once).
  mock.fail({ path: '/gateway.do', body: signed(alipay, own) })
  t.match((await login(app, alipay.login('2088-attacker'))).json(), { openid: '2088-attacker' })
  t.notOk(logs.some((line) => line.includes('authusrB')), 'no access token in any log line')
})

t.test('the user is read from the signed text itself, the first member of its name', async (t) => {
  const text = '{"a":{"user":"signed"},"a":{"user":"last"}}'
  t.same(signedMember(text, 'a'), { raw: '{"user":"signed"}', value: { user: 'signed' } }, 'not what JSON.parse of the whole keeps (the last)')
  t.equal(signedMember(text, 'b'), undefined)
  t.same(members('{"\\u0061":1,"b":[2],"a":"3"}'), [['a', '1'], ['b', '[2]'], ['a', '"3"']], 'names unescaped, values as sent')
  t.equal(duplicated('{"\\u0061":1,"a":2}', ['b', 'a']), 'a')
  t.equal(duplicated('{"a":1,"b":2}', ['a', 'b']), undefined)
  t.equal(duplicated('{"a":1,"a', ['a']), undefined, 'text that does not end has no members to count')
})

t.test('replay check: a signed answer is accepted once, whatever code it comes back for', async (t) => {
  const { app, alipay, mock } = await backend(t)
  const body = signed(alipay, success('2088-alice'))
  mock.fail({ path: '/gateway.do', body })
  t.match((await login(app, alipay.login('2088-alice'))).json(), { openid: '2088-alice' }, 'the first time, for its own code')
  mock.fail({ path: '/gateway.do', body })
  const replayed = await login(app, alipay.login('2088-mallory'))
  isError(t, replayed, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(replayed.json().message, /replay check \(the same signed answer was accepted before\)/)
  t.notOk(replayed.body.includes('2088-alice'), 'the reply names no user')
  // Genuine answers are new bytes each time (a new access token): the same user logs in again.
  t.match((await login(app, alipay.login('2088-alice'))).json(), { openid: '2088-alice' })
  t.match((await login(app, alipay.login('2088-alice'))).json(), { openid: '2088-alice' })
})

t.test('time check: an answer is accepted only from auth_start to auth_start + expires_in, with the tolerated skew', async (t) => {
  const { app, alipay, mock } = await backend(t)
  const day = 86400_000
  const cases: Array<[string, string, RegExp]> = [
    ['past its token\'s life', success('2088-old', -16 * day), /time check/],
    ['an hour past it', success('2088-old', -3600_000 - 120_000, 3600), /time check/],
    ['starting in the future, past the skew', success('2088-early', 5 * 60_000), /time check/],
    ['without auth_start', JSON.stringify({ open_id: '2088-none', access_token: 'x', expires_in: 1296000 }), /without a usable auth_start and expires_in/],
    ['with a made-up auth_start', JSON.stringify({ open_id: '2088-none', access_token: 'x', expires_in: 1296000, auth_start: 'yesterday' }), /without a usable auth_start and expires_in/],
    ['without expires_in', JSON.stringify({ open_id: '2088-none', access_token: 'x', auth_start: beijing() }), /without a usable auth_start and expires_in/],
    ['with expires_in 0', success('2088-none', 0, 0), /without a usable auth_start and expires_in/],
    ['with expires_in not a number', success('2088-none', 0, '15 days'), /without a usable auth_start and expires_in/]
  ]
  for (const [what, node, message] of cases) {
    mock.fail({ path: '/gateway.do', body: signed(alipay, node) })
    const res = await login(app, alipay.login('2088-someone'))
    isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, message, what)
  }
  // Inside the window: near its end, within the skew before its start, expires_in as a string (as the Java SDK types it).
  for (const [what, node] of [['near its end', success('2088-in', -15 * day + 120_000)], ['30 s early', success('2088-in', 30_000)], ['expires_in a string', success('2088-in', 0, '1296000')]]) {
    mock.fail({ path: '/gateway.do', body: signed(alipay, node as string) })
    t.equal((await login(app, alipay.login('2088-in'))).statusCode, 200, what as string)
  }
})

t.test('with revocation on Redis, an answer is accepted once across the fleet; with Redis down, no session (503)', async (t) => {
  const redis = await redisServer(t)
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const alipay = mock.addAlipayApp(APP)
  const instance = async (): Promise<FastifyInstance> => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(weapp, {
      apps: [{ appId: APP, platform: 'alipay', alipay: { privateKey: alipay.privateKey, alipayPublicKey: alipay.alipayPublicKey, contentKey: alipay.contentKey } }],
      key: KEY,
      apiBaseUrl: mock.url,
      timeout: 1000,
      revocation: { redis: redis.client() }
    })
    await app.ready()
    return app
  }
  const [a, b] = [await instance(), await instance()]
  const body = signed(alipay, success('2088-alice'))
  mock.fail({ path: '/gateway.do', body })
  t.equal((await login(a, alipay.login('2088-alice'))).statusCode, 200)
  mock.fail({ path: '/gateway.do', body })
  const replayed = await login(b, alipay.login('2088-mallory'))
  isError(t, replayed, 502, 'WEAPP_UPSTREAM_ERROR')
  t.match(replayed.json().message, /replay check/, 'another instance refuses it too')
  const session = (await login(b, alipay.login('2088-bob'))).json().session as string
  const phone = alipay.phoneResponse('13900001111')
  const auth = { authorization: `Bearer ${session}` }
  t.equal((await b.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { response: phone } })).statusCode, 200)
  isError(t, await a.inject({ method: 'POST', url: '/weapp/phone', headers: auth, payload: { response: phone } }), 401, 'WEAPP_INVALID_CODE')
  await redis.kill()
  const down = await login(a, alipay.login('2088-carol'))
  isError(t, down, 503, 'WEAPP_REVOCATION_UNAVAILABLE')
  t.match(down.json().message, /could not say whether Alipay's answer to the login was used before; nothing was accepted/)
  t.notOk(down.body.includes('2088-carol'))
  await redis.start()
  await eventually(async () => (await login(a, alipay.login('2088-carol'))).statusCode === 200)
  await Promise.all([a.close(), b.close()])
})

t.test('an Alipay phone response is accepted once (it proves only that someone held it)', async (t) => {
  const { app, alipay } = await backend(t)
  const session = async (user: string): Promise<Record<string, string>> => ({ authorization: `Bearer ${(await login(app, alipay.login(user))).json().session as string}` })
  const response = alipay.phoneResponse('13912345678')
  t.equal((await app.inject({ method: 'POST', url: '/weapp/phone', headers: await session('2088-a'), payload: { response } })).statusCode, 200)
  for (const user of ['2088-a', '2088-b']) {
    const again = await app.inject({ method: 'POST', url: '/weapp/phone', headers: await session(user), payload: { response } })
    isError(t, again, 401, 'WEAPP_INVALID_CODE')
    t.match(again.json().message, /accepted before, and each is accepted once/, `${user}: refused`)
    t.notOk(again.body.includes('13912345678'), 'the number is not repeated')
  }
  t.equal(PHONE_ONCE, 10 * 60_000, 'remembered 10 minutes (docs/platforms.md)')
  t.equal(alipay.phoneResponse('13912345678'), response, 'one number\'s response is the same bytes each time, as Alipay makes it')
  t.equal((await app.inject({ method: 'POST', url: '/weapp/phone', headers: await session('2088-a'), payload: { response: alipay.phoneResponse('13912345679') } })).statusCode, 200, 'another number\'s is another response')
})

t.test('memberText finds the exact text of a top-level member', async (t) => {
  t.equal(memberText('{"a":{"b":"}"},"sign":"s"}', 'a'), '{"b":"}"}')
  t.equal(memberText('{"sign":"s", "a" : {"x":[1,{"y":"\\"a\\":"}]} }', 'a'), '{"x":[1,{"y":"\\"a\\":"}]}')
  t.equal(memberText('{"x":{"a":1},"a":2}', 'a'), '2', 'a nested member of the same name is not it')
  t.equal(memberText('{"a":"str"}', 'a'), '"str"')
  t.equal(memberText('{"b":1}', 'a'), undefined)
  t.equal(memberText('{"a', 'a'), undefined, 'an unterminated string')
  t.equal(memberText('{"a":"x', 'a'), undefined)
  t.equal(memberText('{"a":{"b":1', 'a'), undefined, 'an unterminated object')
  t.equal(memberText('{"a":]', 'a'), undefined)
  t.equal(memberText('{"a" 1}', 'a'), undefined, 'a name without a colon')
})

/** `json` and a closing brace, spaced to whole AES blocks: valid JSON whose last byte is no valid padding. */
function blockAligned (open: string): Buffer {
  const spaces = (16 - ((open.length + 1) % 16)) % 16
  return Buffer.from(`${open}${' '.repeat(spaces)}}`)
}
