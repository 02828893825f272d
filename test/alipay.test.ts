// Alipay's quirks: requests signed RSA2 with the app's key, answers verified with Alipay's (fail
// closed: a tampered, unsigned or wrongly signed success is a 502), user ids of two kinds, keys
// checked at registration, and phone numbers from my.getPhoneNumber()'s signed, encrypted response.
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import weapp, { type AlipayKeys } from '../lib/index.js'
import { memberText, signContent } from '../lib/platforms/alipay.js'
import { MockWechat, type MockAlipayApp } from '../lib/testing.js'
import { isError, KEY } from './fixtures/app.js'

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
  const node = '{"open_id":"victim","access_token":"x","expires_in":1296000}'
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
  const spaced = '{ "open_id" : "spaced\\/user", "access_token": "x" }'
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
