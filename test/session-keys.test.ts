import { createCipheriv, randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import fastifyWeapp, { generateKey, type FastifyWeappOptions } from '../lib/index.js'
import { MockWechat } from '../lib/testing.js'
import { createChannel, REFETCH_AFTER } from '../lib/user-keys.js'

async function setup (t: Test, options: Partial<FastifyWeappOptions> = {}): Promise<{ mock: MockWechat, app: FastifyInstance, logs: string[] }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  await app.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key: generateKey(), apiBaseUrl: mock.url, ...options } as FastifyWeappOptions)
  app.get('/me', { onRequest: app.weapp.authenticate }, async () => ({ ok: true }))
  await app.ready()
  t.teardown(() => app.close())
  return { mock, app, logs }
}

async function login (app: FastifyInstance, mock: MockWechat, openid: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.login(openid, { unionid: `u-${openid}` }) } })
  return res.json().session as string
}

const fails = async (t: Test, promise: Promise<unknown>, code: string, message: RegExp): Promise<void> => {
  const err = await promise.then(() => undefined, (e: unknown) => e) as Error & { code?: string }
  t.equal(err?.code, code)
  t.match(err?.message, message)
}

t.test('resetUserSessionKey: the old key stops working, the new one works', async (t) => {
  const { mock, app } = await setup(t)
  const old = mock.user('o-1').sessionKey
  const fresh = await app.weapp.resetUserSessionKey('o-1', old)
  t.same(fresh, { openid: 'o-1', sessionKey: mock.user('o-1').sessionKey })
  t.not(fresh.sessionKey, old)
  t.equal(await app.weapp.checkSessionKey('o-1', old), false, 'the old key is no longer the user\'s')
  t.equal(await app.weapp.checkSessionKey('o-1', fresh.sessionKey), true)
  const call = mock.callsTo('/wxa/resetusersessionkey')[0]
  t.equal(call?.query.sig_method, 'hmac_sha256')
  t.notOk(JSON.stringify(call).includes(old), 'the session_key itself is never sent, only its signature')
  await fails(t, app.weapp.resetUserSessionKey('o-1', old), 'WEAPP_UPSTREAM_ERROR', /not the user's current one \(errcode 87009/)
  await fails(t, app.weapp.resetUserSessionKey('nobody', old), 'WEAPP_UPSTREAM_ERROR', /does not know this openid/)
  await t.rejects(app.weapp.resetUserSessionKey('o-1', ''), TypeError)
  mock.fail({ path: '/wxa/resetusersessionkey', body: JSON.stringify({ errcode: 0, openid: 'o-1', session_key: 'short' }) })
  await fails(t, app.weapp.resetUserSessionKey('o-1', fresh.sessionKey), 'WEAPP_UPSTREAM_ERROR', /without a new session_key/)
  mock.fail({ path: '/wxa/resetusersessionkey', errcode: 45011 })
  await fails(t, app.weapp.resetUserSessionKey('o-1', fresh.sessionKey), 'WEAPP_RATE_LIMITED', /rate limiting/)
})

t.test('the login-state signature is keyed with the session_key string, not its bytes', async (t) => {
  const { mock, app } = await setup(t)
  const key = mock.user('o-1').sessionKey
  // A signature keyed with the decoded bytes (a common mistake, WxJava's PR #3969) is what WeChat refuses.
  const { createHmac } = await import('node:crypto')
  t.not(createHmac('sha256', Buffer.from(key, 'base64')).update('').digest('hex'), createHmac('sha256', key).update('').digest('hex'))
  t.equal(await app.weapp.checkSessionKey('o-1', key), true, 'the mock takes only the string-keyed one')
  t.equal((await app.weapp.getUserEncryptKey('o-1', key)).length, 1)
})

t.test('getUserEncryptKey: the last three keys, their versions and expiry', async (t) => {
  const { mock, app } = await setup(t)
  const a = mock.app(mock.appId)
  const first = a.latestUserKey('o-1')
  a.rotateUserKey('o-1')
  a.rotateUserKey('o-1')
  const latest = a.rotateUserKey('o-1')
  const before = Date.now()
  const keys = await app.weapp.getUserEncryptKey('o-1', mock.user('o-1').sessionKey)
  t.same(keys.map((k) => k.version), [latest.version, latest.version - 1, latest.version - 2], 'the newest three, newest first')
  t.notOk(keys.some((k) => k.version === first.version), 'not the fourth')
  t.equal(keys[0]?.encryptKey, latest.encryptKey)
  t.equal(keys[0]?.iv, latest.iv)
  t.ok((keys[0]?.expiresAt as number) >= before + 3598_000 && (keys[0]?.expiresAt as number) <= Date.now() + 3600_000, 'expire_in is seconds from now')
  await fails(t, app.weapp.getUserEncryptKey('o-1', randomBytes(16).toString('base64')), 'WEAPP_UPSTREAM_ERROR', /errcode 87009/)
  mock.fail({ path: '/wxa/business/getuserencryptkey', body: JSON.stringify({ errcode: 0, key_info_list: [{ encrypt_key: 'x', iv: 'short', version: 1, expire_in: 1, create_time: 1 }] }) })
  await fails(t, app.weapp.getUserEncryptKey('o-1', mock.user('o-1').sessionKey), 'WEAPP_UPSTREAM_ERROR', /without a usable key_info_list/)
  mock.fail({ path: '/wxa/business/getuserencryptkey', body: JSON.stringify({ errcode: 0, key_info_list: [] }) })
  await fails(t, app.weapp.getUserEncryptKey('o-1', mock.user('o-1').sessionKey), 'WEAPP_UPSTREAM_ERROR', /key_info_list/)
  for (const body of [{ errcode: 0 }, { errcode: 0, key_info_list: [null] }, { errcode: 0, key_info_list: 'k' }]) {
    mock.fail({ path: '/wxa/business/getuserencryptkey', body: JSON.stringify(body) })
    await fails(t, app.weapp.getUserEncryptKey('o-1', mock.user('o-1').sessionKey), 'WEAPP_UPSTREAM_ERROR', /without a usable key_info_list/)
  }
})

t.test('getPluginOpenPId: a plugin code, once', async (t) => {
  const { mock, app } = await setup(t)
  const code = mock.app(mock.appId).pluginCode('p-1')
  const [one, two] = await Promise.all([app.weapp.getPluginOpenPId(code), app.weapp.getPluginOpenPId(code)])
  t.equal(one, 'p-1')
  t.equal(two, 'p-1', 'identical codes in flight share one call')
  t.equal(mock.callsTo('/wxa/getpluginopenpid').length, 1)
  await fails(t, app.weapp.getPluginOpenPId(code), 'WEAPP_UPSTREAM_ERROR', /wx\.pluginLogin\(\).*not wx\.login\(\)'s/)
  await fails(t, app.weapp.getPluginOpenPId(mock.login('o-1')), 'WEAPP_UPSTREAM_ERROR', /errcode 1007/)
  await fails(t, app.weapp.getPluginOpenPId(''), 'WEAPP_INVALID_CODE', /wx\.pluginLogin\(\)/)
  await t.rejects(app.weapp.getPluginOpenPId(1 as unknown as string), TypeError)
  mock.fail({ path: '/wxa/getpluginopenpid', body: JSON.stringify({ errcode: 0 }) })
  await fails(t, app.weapp.getPluginOpenPId(mock.app(mock.appId).pluginCode('p-2')), 'WEAPP_UPSTREAM_ERROR', /without an openpid/)
})

t.test('getPaidUnionid: by transaction or by order, only after a payment', async (t) => {
  const { mock, app } = await setup(t)
  mock.user('o-1', 'u-1')
  mock.app(mock.appId).pay('o-1', { transactionId: 't-1' })
  mock.app(mock.appId).pay('o-1', { mchId: 'm-1', outTradeNo: 'n-1' })
  t.equal(await app.weapp.getPaidUnionid({ openid: 'o-1', transactionId: 't-1' }), 'u-1')
  t.equal(await app.weapp.getPaidUnionid({ openid: 'o-1', mchId: 'm-1', outTradeNo: 'n-1' }), 'u-1')
  t.same(mock.callsTo('/wxa/getpaidunionid').map((c) => { const { access_token: _t, ...q } = c.query; return q }), [
    { openid: 'o-1', transaction_id: 't-1' }, { openid: 'o-1', mch_id: 'm-1', out_trade_no: 'n-1' }
  ])
  await fails(t, app.weapp.getPaidUnionid({ openid: 'o-1', transactionId: 't-2' }), 'WEAPP_UPSTREAM_ERROR', /errcode 89300.*5 minutes/)
  mock.user('o-2')
  mock.app(mock.appId).pay('o-2', { transactionId: 't-3' })
  await fails(t, app.weapp.getPaidUnionid({ openid: 'o-2', transactionId: 't-3' }), 'WEAPP_UPSTREAM_ERROR', /errcode 89002.*Open Platform/)
  for (const bad of [null, {}, { openid: 'o-1' }, { openid: 'o-1', transactionId: 't-1', mchId: 'm' }, { openid: 'o-1', mchId: 'm-1' }, { openid: '', transactionId: 't' }]) {
    await t.rejects(app.weapp.getPaidUnionid(bad as never), TypeError)
  }
  await fails(t, app.weapp.getPaidUnionid({ openid: 'nobody', transactionId: 't-1' }), 'WEAPP_UPSTREAM_ERROR', /does not know this openid/)
  mock.fail({ path: '/wxa/getpaidunionid', body: JSON.stringify({ errcode: 0 }) })
  await fails(t, app.weapp.getPaidUnionid({ openid: 'o-1', transactionId: 't-1' }), 'WEAPP_UPSTREAM_ERROR', /without a unionid/)
})

t.test('getUserRiskRank: its body, and what it answers', async (t) => {
  const { mock, app } = await setup(t)
  mock.user('o-1').riskRank = 4
  const rank = await app.weapp.getUserRiskRank({ openid: 'o-1', scene: 1, clientIp: '1.2.3.4', mobileNo: '138', emailAddress: 'a@b.c', extendedInfo: 'x', isTest: true })
  t.equal(rank.riskRank, 4)
  t.same(JSON.parse(mock.callsTo('/wxa/getuserriskrank')[0]?.body ?? ''), { appid: mock.appId, openid: 'o-1', scene: 1, client_ip: '1.2.3.4', mobile_no: '138', email_address: 'a@b.c', extended_info: 'x', is_test: true })
  for (const bad of [null, { openid: 'o-1', scene: 2, clientIp: 'x' }, { openid: 'o-1', scene: 0 }, { openid: 'o-1', scene: 0, clientIp: 'x', isTest: 'yes' }]) {
    await t.rejects(app.weapp.getUserRiskRank(bad as never), TypeError)
  }
  mock.user('o-2')
  t.equal((await app.weapp.getUserRiskRank({ openid: 'o-2', scene: 0, clientIp: 'x' })).riskRank, 0, 'a user WeChat has no doubts about')
  await fails(t, app.weapp.getUserRiskRank({ openid: 'nobody', scene: 0, clientIp: 'x' }), 'WEAPP_UPSTREAM_ERROR', /does not know this openid/)
  mock.fail({ path: '/wxa/getuserriskrank', body: JSON.stringify({ errcode: 0, risk_rank: 0 }) })
  t.same(await app.weapp.getUserRiskRank({ openid: 'o-1', scene: 0, clientIp: 'x' }), { riskRank: 0 }, 'no unoin_id: no requestId')
  mock.fail({ path: '/wxa/getuserriskrank', body: JSON.stringify({ errcode: 0, risk_rank: '1' }) })
  await fails(t, app.weapp.getUserRiskRank({ openid: 'o-1', scene: 0, clientIp: 'x' }), 'WEAPP_UPSTREAM_ERROR', /without a risk_rank/)
  // The mock refuses a body the building block never sends, as WeChat does: 40097.
  const token = await app.weapp.accessToken()
  for (const body of [{ appid: 'wxother', openid: 'o-1', scene: 0, client_ip: 'x' }, { appid: mock.appId, openid: 'o-1', scene: 2, client_ip: 'x' }, { appid: mock.appId, openid: 'o-1', scene: 1 }]) {
    const res = await fetch(`${mock.url}/wxa/getuserriskrank?access_token=${token}`, { method: 'POST', body: JSON.stringify(body) })
    t.match(await res.json(), { errcode: 40097 }, JSON.stringify(body))
  }
})

t.test('checkEncryptedData: WeChat\'s own data is valid, anything else is not', async (t) => {
  const { mock, app } = await setup(t)
  const data = mock.encrypt('o-1', { phoneNumber: '13800138000' })
  const verdict = await app.weapp.checkEncryptedData(data.encryptedData)
  t.equal(verdict.valid, true, 'WeChat spells it vaild; read all the same')
  t.ok(typeof verdict.createdAt === 'number' && Math.abs((verdict.createdAt) - Date.now()) < 5000)
  t.same(await app.weapp.checkEncryptedData(randomBytes(32).toString('base64')), { valid: false }, 'errcode 1: not WeChat\'s')
  mock.fail({ path: '/wxa/business/checkencryptedmsg', body: JSON.stringify({ errcode: 0, valid: false }) })
  t.same(await app.weapp.checkEncryptedData(data.encryptedData), { valid: false }, 'the correct spelling too')
  mock.fail({ path: '/wxa/business/checkencryptedmsg', body: JSON.stringify({ errcode: 0 }) })
  await fails(t, app.weapp.checkEncryptedData(data.encryptedData), 'WEAPP_UPSTREAM_ERROR', /without a verdict/)
  mock.fail({ path: '/wxa/business/checkencryptedmsg', errcode: -1 })
  await fails(t, app.weapp.checkEncryptedData(data.encryptedData), 'WEAPP_UPSTREAM_ERROR', /busy/)
  await t.rejects(app.weapp.checkEncryptedData(''), TypeError)
})

t.test('platforms without these APIs answer WEAPP_UNSUPPORTED; several apps say to pick one', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.addApp('1112345678', 'qq-secret')
  const app = Fastify()
  await app.register(fastifyWeapp, { apps: [{ appId: mock.appId, appSecret: mock.appSecret }, { appId: '1112345678', appSecret: 'qq-secret', platform: 'qq' }], key: generateKey(), apiBaseUrl: mock.url })
  t.teardown(() => app.close())
  const qq = await app.weapp.app('1112345678')
  for (const name of ['resetUserSessionKey', 'getUserEncryptKey', 'getPluginOpenPId', 'getPaidUnionid', 'getUserRiskRank', 'checkEncryptedData'] as const) {
    await t.rejects((qq[name] as () => Promise<unknown>)(), { code: 'WEAPP_UNSUPPORTED', message: new RegExp(`a QQ one: QQ has no ${name} here`) })
    await t.rejects((app.weapp[name] as () => Promise<unknown>)(), { name: 'TypeError', message: new RegExp(`${name}: several apps`) })
  }
  await t.rejects(app.weapp.openEncrypted({ openid: 'o', sessionKey: 'k' }, { version: 1, iv: '', encryptedData: '' }), TypeError)
  await t.rejects(qq.openEncrypted({ openid: 'o', sessionKey: 'k' }, { version: 1, iv: '', encryptedData: '' }), { code: 'WEAPP_UNSUPPORTED' })
})

/** What the client package does with getLatestUserKey(): AES-128-CBC with a fresh IV. */
function encryptWith (key: { encryptKey: string, version: number }, data: unknown, iv = randomBytes(16)): { version: number, iv: string, encryptedData: string } {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(key.encryptKey, 'base64'), iv)
  return { version: key.version, iv: iv.toString('base64'), encryptedData: Buffer.concat([cipher.update(JSON.stringify(data)), cipher.final()]).toString('base64') }
}

t.test('openEncrypted: the key by its version, cached, one uniform failure', async (t) => {
  const { mock, app } = await setup(t)
  const session = { openid: 'o-1', sessionKey: mock.user('o-1').sessionKey }
  const a = mock.app(mock.appId)
  const first = a.latestUserKey('o-1')
  t.same(await app.weapp.openEncrypted(session, encryptWith(first, { amount: 12 })), { amount: 12 })
  t.same(await app.weapp.openEncrypted(session, encryptWith(first, [1, 'two'])), [1, 'two'], 'any JSON value')
  t.equal(mock.callsTo('/wxa/business/getuserencryptkey').length, 1, 'the keys are fetched once and cached')
  const second = a.rotateUserKey('o-1')
  // The clock moves on past the refetch limit (the keys live an hour: still live).
  const realNow = Date.now
  let shift = REFETCH_AFTER
  Date.now = () => realNow() + shift
  t.teardown(() => { Date.now = realNow })
  t.same(await app.weapp.openEncrypted(session, encryptWith(second, 'hi')), 'hi', 'a new version: fetched again')
  t.same(await app.weapp.openEncrypted(session, encryptWith(first, 'old')), 'old', 'an older live key still opens')
  t.equal(mock.callsTo('/wxa/business/getuserencryptkey').length, 2)
  const refusals: Array<[string, unknown]> = [
    ['an unknown version', encryptWith({ ...second, version: 99 }, 'x')],
    ['another key', encryptWith({ encryptKey: randomBytes(16).toString('base64'), version: second.version }, 'x')],
    ['a cut ciphertext', { ...encryptWith(second, 'x'), encryptedData: randomBytes(15).toString('base64') }],
    ['an IV of 12 bytes', { ...encryptWith(second, 'x'), iv: randomBytes(12).toString('base64') }],
    ['no version', { iv: 'x', encryptedData: 'y' }],
    ['not JSON inside', (() => { const c = createCipheriv('aes-128-cbc', Buffer.from(second.encryptKey, 'base64'), Buffer.alloc(16)); return { version: second.version, iv: Buffer.alloc(16).toString('base64'), encryptedData: Buffer.concat([c.update('not json'), c.final()]).toString('base64') } })()],
    ['nothing', undefined]
  ]
  for (const [what, message] of refusals) {
    const err = await app.weapp.openEncrypted(session, message as never).catch((e: unknown) => e) as Error & { code?: string, statusCode?: number }
    t.equal(err.code, 'WEAPP_DECRYPT_FAILED', what)
    t.equal(err.statusCode, 400)
  }
  t.equal(mock.callsTo('/wxa/business/getuserencryptkey').length, 2, `an unknown version does not ask WeChat again within ${REFETCH_AFTER} ms of the last fetch`)
  shift = 2 * REFETCH_AFTER
  await t.rejects(app.weapp.openEncrypted(session, encryptWith({ ...second, version: 99 }, 'x')), { code: 'WEAPP_DECRYPT_FAILED' })
  t.equal(mock.callsTo('/wxa/business/getuserencryptkey').length, 3, 'after it, once more')
  await t.rejects(app.weapp.openEncrypted({ openid: 'o-1' } as never, encryptWith(second, 'x')), TypeError)
})

t.test('openEncrypted refuses a message under an expired key, cached or fetched anew', async (t) => {
  const key = { encryptKey: randomBytes(16).toString('base64'), iv: 'abcdefgh12345678', version: 7, expiresAt: 5_000, createdAt: 0 }
  let clock = 0
  let fetched = 0
  const open = createChannel({ getUserEncryptKey: async () => { fetched++; return [key] } }, { now: () => clock })
  const user = { openid: 'o-1', sessionKey: 'k' }
  t.equal(await open(user, encryptWith(key, 'live')), 'live')
  clock = 4_999
  t.equal(await open(user, encryptWith(key, 'still')), 'still', 'a millisecond before it expires')
  clock = 5_000
  await t.rejects(open(user, encryptWith(key, 'expired')), { code: 'WEAPP_DECRYPT_FAILED', statusCode: 400 }, 'the cached key has expired')
  t.equal(fetched, 1, 'within the refetch limit: not asked again')
  clock = 5_000 + REFETCH_AFTER
  await t.rejects(open(user, encryptWith(key, 'expired')), { code: 'WEAPP_DECRYPT_FAILED', statusCode: 400 }, 'the platform still lists it, expired')
  t.equal(fetched, 2)

  // End to end: the mock's keys live an hour; past it, WeChat lists them with expire_in 0.
  const { mock, app } = await setup(t)
  const session = { openid: 'o-2', sessionKey: mock.user('o-2').sessionKey }
  const first = mock.app(mock.appId).latestUserKey('o-2')
  t.same(await app.weapp.openEncrypted(session, encryptWith(first, { n: 1 })), { n: 1 })
  const realNow = Date.now
  const later = realNow() + 3600_000 + REFETCH_AFTER
  Date.now = () => later
  t.teardown(() => { Date.now = realNow })
  const err = await app.weapp.openEncrypted(session, encryptWith(first, { n: 2 })).catch((e: unknown) => e) as Error & { code?: string, statusCode?: number }
  t.same([err.code, err.statusCode], ['WEAPP_DECRYPT_FAILED', 400], 'an hour on: refused')
  t.notOk(String(err.message).includes(first.encryptKey), 'the key is in no message')
})

/** A server whose /orders route opens the encrypted channel, with a budget of `limit` failures. */
async function channelServer (t: Test, limit: number): Promise<{ mock: MockWechat, app: FastifyInstance }> {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const app = Fastify()
  await app.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key: generateKey(), apiBaseUrl: mock.url, decryptFailureLimit: limit })
  app.post('/orders', { onRequest: app.weapp.authenticate }, async (request) => ({ got: await app.weapp.openEncrypted(app.weapp.sessionOf(request), request.body as never) }))
  await app.ready()
  t.teardown(() => app.close())
  return { mock, app }
}

t.test('openEncrypted failures count against decryptFailureLimit, one budget with /decrypt; successes do not', async (t) => {
  const { mock, app } = await channelServer(t, 3)
  const token = await login(app, mock, 'o-1')
  const auth = { authorization: `Bearer ${token}` }
  const key = mock.app(mock.appId).latestUserKey('o-1')
  const order = async (payload: unknown) => await app.inject({ method: 'POST', url: '/orders', headers: auth, payload: payload as Record<string, unknown> })
  const wrong = (): unknown => encryptWith({ encryptKey: randomBytes(16).toString('base64'), version: key.version }, 'x')
  for (let i = 0; i < 2; i++) t.equal((await order(wrong())).json().code, 'WEAPP_DECRYPT_FAILED', `failure ${i + 1}`)
  for (let i = 0; i < 5; i++) t.same((await order(encryptWith(key, { i }))).json(), { got: { i } }, 'a success does not count')
  t.equal((await order(wrong())).statusCode, 400, 'the third failure: still a 400')
  const fetches = mock.callsTo('/wxa/business/getuserencryptkey').length
  const blocked = await order(encryptWith(key, { i: 9 }))
  t.equal(blocked.statusCode, 429)
  t.equal(blocked.json().code, 'WEAPP_RATE_LIMITED')
  t.match(blocked.json().message, /Too many failed attempts for this user; wait \d+ s/)
  t.notOk(blocked.body.includes(key.encryptKey) || blocked.body.includes(mock.user('o-1').sessionKey), 'no secret in the reply')
  t.equal(mock.callsTo('/wxa/business/getuserencryptkey').length, fetches, 'refused before any key is fetched')
  // One budget: the decrypt route refuses the same user too; another user is not touched.
  const decrypt = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: auth, payload: mock.encrypt('o-1', { a: 1 }) })
  t.same([decrypt.statusCode, decrypt.json().code], [429, 'WEAPP_RATE_LIMITED'], '/decrypt shares the budget')
  const other = await login(app, mock, 'o-2')
  const ok = await app.inject({ method: 'POST', url: '/orders', headers: { authorization: `Bearer ${other}` }, payload: encryptWith(mock.app(mock.appId).latestUserKey('o-2'), 'hi') })
  t.same(ok.json(), { got: 'hi' }, 'another user opens on')

  // And the other way round: failed decrypts block the channel.
  const third = await login(app, mock, 'o-3')
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'POST', url: '/weapp/decrypt', headers: { authorization: `Bearer ${third}` }, payload: { encryptedData: randomBytes(32).toString('base64'), iv: randomBytes(16).toString('base64') } })
    t.equal(res.statusCode, 400)
  }
  const after = await app.inject({ method: 'POST', url: '/orders', headers: { authorization: `Bearer ${third}` }, payload: encryptWith(mock.app(mock.appId).latestUserKey('o-3'), 'x') })
  t.same([after.statusCode, after.json().code], [429, 'WEAPP_RATE_LIMITED'], 'failed decrypts count against the channel too')
})

t.test('openEncrypted: an upstream fault does not count, and decryptFailureLimit: 0 turns the budget off', async (t) => {
  const { mock, app } = await channelServer(t, 2)
  const session = { openid: 'o-1', sessionKey: mock.user('o-1').sessionKey }
  const key = mock.app(mock.appId).latestUserKey('o-1')
  for (let i = 0; i < 3; i++) {
    mock.fail({ path: '/wxa/business/getuserencryptkey', errcode: -1 })
    await t.rejects(app.weapp.openEncrypted(session, encryptWith(key, 'x')), { code: 'WEAPP_UPSTREAM_ERROR' }, `WeChat busy (${i + 1})`)
  }
  t.equal(await app.weapp.openEncrypted(session, encryptWith(key, 'x')), 'x', 'not blocked')
  // No budget: any number of failures, then a success.
  const off = await channelServer(t, 0)
  const user = { openid: 'o-1', sessionKey: off.mock.user('o-1').sessionKey }
  const live = off.mock.app(off.mock.appId).latestUserKey('o-1')
  for (let i = 0; i < 12; i++) {
    await t.rejects(off.app.weapp.openEncrypted(user, encryptWith({ ...live, encryptKey: randomBytes(16).toString('base64') }, 'x')), { code: 'WEAPP_DECRYPT_FAILED' })
  }
  t.equal(await off.app.weapp.openEncrypted(user, encryptWith(live, 'y')), 'y')
})

t.test('revocation.resetSessionKey: logout resets the user\'s session_key, so a copied token decrypts nothing', async (t) => {
  const { mock, app, logs } = await setup(t, { revocation: { memory: true, resetSessionKey: { interval: '1h' } } })
  const token = await login(app, mock, 'o-1')
  const data = mock.encrypt('o-1', { stepInfoList: [] })
  const copied = await app.weapp.unseal(token)
  const out = await app.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${token}` } })
  t.equal(out.statusCode, 204)
  t.equal(mock.app(mock.appId).resets('o-1'), 1, 'reset once')
  t.equal(await app.weapp.checkSessionKey('o-1', copied.sessionKey), false, 'the key sealed in the copied token is dead')
  t.throws(() => app.weapp.decrypt(copied.sessionKey, mock.encrypt('o-1', { stepInfoList: [] }).encryptedData, data.iv), { code: 'WEAPP_DECRYPT_FAILED' }, 'data WeChat encrypts now does not open with it')
  // A second session of the same user within the interval: not reset again.
  const again = await login(app, mock, 'o-1')
  await app.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${again}` } })
  t.equal(mock.app(mock.appId).resets('o-1'), 1, 'at most once per user per interval')
  t.match(logs.join('\n'), /less than resetSessionKey\.interval ago/)
  // revoke() and revokeUser(session) too; another user is counted on their own.
  const other = await login(app, mock, 'o-2')
  await app.weapp.revokeUser(await app.weapp.unseal(other))
  t.equal(mock.app(mock.appId).resets('o-2'), 1, 'revokeUser with a session resets its key')
  const third = await login(app, mock, 'o-3')
  await app.weapp.revoke(third)
  t.equal(mock.app(mock.appId).resets('o-3'), 1, 'revoke() too')
  await app.weapp.revokeUser({ openid: 'o-4', appId: mock.appId })
  t.equal(mock.app(mock.appId).resets('o-4'), 0, 'a user without a session: nothing to sign a reset with')
  for (const line of logs) for (const secret of mock.secrets()) t.notOk(line.includes(secret), 'no secret in any log line')
})

t.test('a failed reset is logged and never fails the logout', async (t) => {
  const { mock, app, logs } = await setup(t, { revocation: { memory: true, resetSessionKey: true } })
  const token = await login(app, mock, 'o-1')
  mock.fail({ path: '/wxa/resetusersessionkey', status: 500, body: 'down' })
  const out = await app.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${token}` } })
  t.equal(out.statusCode, 204, 'logged out all the same')
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).json().code, 'WEAPP_SESSION_REVOKED')
  t.match(logs.join('\n'), /could not be reset/)
  // A key the user already replaced (they logged in again since): nothing to reset, said at info.
  const stale = await login(app, mock, 'o-2')
  mock.rotateSessionKey('o-2')
  await app.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${stale}` } })
  t.match(logs.join('\n'), /no longer the user's; nothing to reset/)
  const plain = await setup(t, { revocation: 'memory' })
  const kept = await login(plain.app, plain.mock, 'o-1')
  await plain.app.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${kept}` } })
  t.equal(plain.mock.callsTo('/wxa/resetusersessionkey').length, 0, 'without resetSessionKey, nothing is reset')
})

t.test('resetSessionKey options', async (t) => {
  for (const bad of [{ memory: true, resetSessionKey: 'yes' }, { memory: true, resetSessionKey: { every: 1 } }, { memory: true, extra: 1 }, { memory: true, resetSessionKey: { interval: -1 } }]) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(fastifyWeapp, { appId: 'wx0123456789abcdef', appSecret: 's', key: generateKey(), revocation: bad as never }).ready() }, { code: 'WEAPP_INVALID_OPTION' })
  }
  const app = Fastify()
  await app.register(fastifyWeapp, { appId: 'wx0123456789abcdef', appSecret: 's', key: generateKey(), revocation: { memory: true, resetSessionKey: false } })
  await app.ready()
  await app.close()
})

t.test('ending sessions that have nothing to reset', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.addApp('1112345678', 'qq-secret')
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { logs.push(line) } } } })
  await app.register(fastifyWeapp, { apps: [{ appId: mock.appId, appSecret: mock.appSecret }, { appId: '1112345678', appSecret: 'qq-secret', platform: 'qq' }], key: generateKey(), apiBaseUrl: { wechat: mock.url, qq: mock.url }, revocation: { memory: true, resetSessionKey: true } })
  t.teardown(() => app.close())
  const qq = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: mock.app('1112345678').login('q-1'), appId: '1112345678' } })
  const out = await app.inject({ method: 'POST', url: '/weapp/logout', headers: { authorization: `Bearer ${qq.json().session as string}` } })
  t.equal(out.statusCode, 204, 'a platform without the API: logged out, nothing reset')
  await app.weapp.revokeUser({ corpId: 'ww0', userId: 'u', appId: 'wxnotserved00000' })
  t.equal(mock.callsTo('/wxa/resetusersessionkey').length, 0)
  const gone = { jti: 'A'.repeat(22), loginAt: Date.now(), appId: 'wxnotserved00000', openid: 'o-1', sessionKey: mock.user('o-1').sessionKey }
  await app.weapp.revoke(gone as never)
  t.match(logs.join('\n'), /could not be reset/, 'an app no longer served: logged, and the revocation stands')
})

t.test('memory claims are bounded: past MAX_CLAIMS live ones, a new name is refused', async (t) => {
  const { memoryClaims, MAX_CLAIMS } = await import('../lib/revocation/store.js')
  let now = 0
  const claim = memoryClaims(() => now)
  let taken = 0
  for (let i = 0; i < MAX_CLAIMS; i++) if (await claim(`n${i}`, 1000)) taken++
  t.equal(taken, MAX_CLAIMS)
  t.equal(await claim('one more', 1000), false, 'full of live claims: refused (the rate holds)')
  t.equal(await claim('n0', 1000), false, 'a held name')
  now = 1000
  t.equal(await claim('one more', 1000), true, 'expired ones are dropped to make room')
  t.equal(await claim('n0', 1000), true, 'and may be claimed again')
})

t.test('apiSecurity beside appId is checked; beside apps it is refused', async (t) => {
  for (const [options, message] of [
    [{ appId: 'wx0123456789abcdef', appSecret: 's', apiSecurity: { aesKey: 'x' } }, /apiSecurity\.aesKey/],
    [{ apps: [{ appId: 'wx0123456789abcdef', appSecret: 's' }], apiSecurity: {} }, /apps and appId\/appSecret/]
  ] as const) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(fastifyWeapp, { ...options, key: generateKey() } as never).ready() }, { code: 'WEAPP_INVALID_OPTION', message })
  }
  const app = Fastify()
  await app.register(fastifyWeapp, { appId: 'wx0123456789abcdef', appSecret: 's', key: generateKey() })
  await t.rejects(app.weapp.openEncrypted(undefined as never, { version: 1, iv: '', encryptedData: '' }), TypeError)
  await app.close()
})
