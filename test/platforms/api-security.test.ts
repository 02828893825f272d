import { constants, createCipheriv, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import fastifyWeapp, { generateKey } from '../../lib/index.js'
import { apiSecurityProblem, createApiSecurity, MAX_SKEW } from '../../lib/platforms/wechat-api-security.js'
import { WECHAT } from '../../lib/platforms/wechat-api.js'
import { MockWechat, type MockSecurityFault } from '../../lib/testing.js'
import { EXAMPLE } from '../fixtures/api-signature-example.js'

const E = EXAMPLE
const config = { aesKey: E.aesKey, aesSn: E.aesSn, privateKey: E.privateKey, certificates: { [E.certificateSn]: E.certificate } }
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING }
const answerHeaders = (extra: Record<string, string> = {}): Record<string, string> => ({
  'wechatmp-appid': E.appId,
  'wechatmp-timestamp': String(E.response.timestamp),
  'wechatmp-serial': E.certificateSn,
  'wechatmp-signature': E.response.signature,
  'wechatmp-serial-deprecated': E.deprecatedSn,
  'wechatmp-signature-deprecated': E.response.deprecatedSignature,
  ...extra
})
/** The example's answer as this server sees it `skew` s after it was signed. */
const at = (skew: number) => createApiSecurity(E.appId, { ...config }, WECHAT, () => (E.response.timestamp + skew) * 1000)

t.test('the guide\'s worked example, byte for byte', async (t) => {
  const security = at(0)
  const sealed = security.seal(E.url, E.request.params, { iv: Buffer.from(E.request.iv, 'base64'), nonce: E.request.nonce, timestamp: E.request.timestamp })
  t.equal(sealed.body, E.request.body, 'its plaintext, IV and key give its ciphertext and tag')
  t.same(Object.keys(sealed.headers), ['Wechatmp-Appid', 'Wechatmp-TimeStamp', 'Wechatmp-Signature'])
  t.equal(sealed.headers['Wechatmp-Appid'], E.appId)
  t.equal(sealed.headers['Wechatmp-TimeStamp'], String(E.request.timestamp))
  const publicKey = createPublicKey(E.privateKey)
  const signed = Buffer.from(`${E.url}\n${E.appId}\n${E.request.timestamp}\n${E.request.body}`)
  t.ok(verify('sha256', signed, { key: publicKey, ...PSS, saltLength: 32 }, Buffer.from(E.request.signature, 'base64')), 'its signature verifies over urlpath\\nappid\\ntimestamp\\nbody')
  t.ok(verify('sha256', signed, { key: publicKey, ...PSS, saltLength: 32 }, Buffer.from(sealed.headers['Wechatmp-Signature'] as string, 'base64')), 'and ours, with a 32-byte salt')
  t.not(sealed.headers['Wechatmp-Signature'], E.request.signature, 'PSS is randomized: ours differs')
  t.same(await security.open(E.url, 'getuserriskrank', answerHeaders(), E.response.body), E.response.fields, 'its answer verifies with its certificate and decrypts to its fields')
})

t.test('the answer\'s checks, each failing closed', async (t) => {
  const fails = async (promise: Promise<unknown>, check: RegExp, message: string): Promise<void> => {
    const err = await promise.then(() => undefined, (e: unknown) => e) as Error & { code?: string, statusCode?: number }
    t.equal(err?.code, 'WEAPP_UPSTREAM_ERROR', message)
    t.equal(err.statusCode, 502)
    t.match(err.message, check, message)
    t.notMatch(err.message, E.aesKey)
  }
  const open = (security = at(0), headers = answerHeaders(), body: string = E.response.body) => security.open(E.url, 'getuserriskrank', headers, body)
  t.same(await open(at(MAX_SKEW)), E.response.fields, `${MAX_SKEW} s late is in the window`)
  t.same(await open(at(-MAX_SKEW)), E.response.fields, `${MAX_SKEW} s early too`)
  await fails(open(at(MAX_SKEW + 1)), /timestamp check/, 'a second past the window: stale')
  await fails(open(at(-MAX_SKEW - 1)), /timestamp check/, 'a second before it: from the future')
  await fails(open(at(0), answerHeaders({ 'wechatmp-timestamp': 'soon' })), /timestamp check/, 'a timestamp that is no number')
  await fails(open(at(0), answerHeaders({ 'wechatmp-appid': 'wx0000000000000000' })), /app check/, 'an answer for another app')
  await fails(open(at(0), answerHeaders({ 'wechatmp-signature': E.response.deprecatedSignature })), /signature check/, 'a signature by another key')
  await fails(open(at(0), answerHeaders(), E.response.body.replace('"iv"', '"iv" ')), /signature check/, 'a byte of the body changed')
  await fails(open(at(0), answerHeaders({ 'wechatmp-timestamp': String(E.response.timestamp + 1) })), /signature check/, 'a timestamp that was not the one signed')
  await fails(open(at(0), answerHeaders({ 'wechatmp-serial': 'someone-else', 'wechatmp-serial-deprecated': 'nobody' })), /certificate check/, 'a serial this server has no certificate for')
  // Only the deprecated serial is known: its own signature must be the one checked (it was made by another key).
  const onlyOld = createApiSecurity(E.appId, { ...config, certificates: { [E.deprecatedSn]: E.certificate } }, WECHAT, () => E.response.timestamp * 1000)
  await fails(open(onlyOld), /signature check/, 'during a rollover the -Deprecated signature goes with the -Deprecated serial')
  const getter = createApiSecurity(E.appId, { ...config, certificates: async () => ({ [E.certificateSn]: E.certificate }) }, WECHAT, () => E.response.timestamp * 1000)
  t.same(await open(getter), E.response.fields, 'certificates from a getter')
  // A getter's certificates are parsed once per PEM, in a bounded cache: 20 spellings of one certificate all verify.
  let spelling = 0
  // (The same answer 20 times: a memory of accepted answers that never says "seen" here.)
  const rotating = createApiSecurity(E.appId, { ...config, certificates: () => ({ [E.certificateSn]: `${E.certificate}${'\n'.repeat(spelling++ % 20)}` }) }, WECHAT, () => E.response.timestamp * 1000, async () => true)
  for (let i = 0; i < 20; i++) t.same(await open(rotating), E.response.fields, undefined as never)
  const broken = createApiSecurity(E.appId, { ...config, certificates: async () => { throw new Error('vault down') } }, WECHAT, () => E.response.timestamp * 1000)
  await fails(open(broken), /apiSecurity\.certificates\(\) failed/, 'a getter that fails')
  const otherSn = createApiSecurity(E.appId, { ...config, aesSn: 'ffffffffffffffffffffffffffffffff' }, WECHAT, () => E.response.timestamp * 1000)
  await fails(open(otherSn), /decryption/, 'the AAD names the key\'s number: another number does not open it')
})

t.test('replay check: each signed answer is accepted once, whatever call it comes back for', async (t) => {
  const security = at(0)
  t.same(await security.open(E.url, 'getuserriskrank', answerHeaders(), E.response.body), E.response.fields, 'the first time')
  const again = await security.open(E.url, 'getuserriskrank', answerHeaders(), E.response.body).then(() => undefined, (e: unknown) => e) as Error & { code?: string, statusCode?: number }
  t.match(again, { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502, message: /failed API security's replay check \(the same signed answer was accepted before\)/ })
  t.notMatch(again.message, E.aesKey)
  const down = createApiSecurity(E.appId, { ...config }, WECHAT, () => E.response.timestamp * 1000, async () => { throw new Error('redis down') })
  await t.rejects(down.open(E.url, 'getuserriskrank', answerHeaders(), E.response.body), { code: 'WEAPP_REVOCATION_UNAVAILABLE', statusCode: 503, message: /could not say whether WeChat's answer to getuserriskrank was used before; nothing was accepted/ })
})

t.test('user A\'s signed phone answer, delivered again for user B\'s call, is refused', async (t) => {
  const { mock, app, security } = await secured(t)
  const url = `${mock.url}/wxa/business/getuserphonenumber`
  const sealed = security.seal(url, { errcode: 0, errmsg: 'ok', phone_info: { phoneNumber: '13800000001', purePhoneNumber: '13800000001', countryCode: '86', watermark: { timestamp: Math.floor(Date.now() / 1000), appid: mock.appId } } })
  const captured = { path: '/wxa/business/getuserphonenumber', body: sealed.body, headers: sealed.headers, contentType: 'application/json' }
  mock.fail(captured)
  t.equal((await app.weapp.getPhoneNumber(mock.phoneCode('o-a'))).phoneNumber, '13800000001', 'A\'s answer, for A\'s call')
  for (const user of ['o-b', 'o-b']) {
    mock.fail(captured)
    const err = await app.weapp.getPhoneNumber(mock.phoneCode(user)).then(() => undefined, (e: unknown) => e) as Error & { code?: string, statusCode?: number }
    t.match(err, { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502, message: /replay check/ }, 'A\'s answer for B\'s call: refused')
    t.notMatch(err.message, /13800000001/)
  }
  t.equal((await app.weapp.getPhoneNumber(mock.phoneCode('o-b'))).phoneNumber, '13800138000', 'B\'s own answer goes through')
})

t.test('a signed answer that is no sealed JSON is refused at decryption', async (t) => {
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = platform.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const security = createApiSecurity(E.appId, { ...config, certificates: { s1: pem } }, WECHAT, () => E.response.timestamp * 1000)
  for (const body of ['not json', '{"iv":1}', '[]']) {
    const signature = sign('sha256', Buffer.from(`${E.url}\n${E.appId}\n${E.response.timestamp}\n${body}`), { key: platform.privateKey, ...PSS, saltLength: 32 }).toString('base64')
    const headers = { 'wechatmp-appid': E.appId, 'wechatmp-timestamp': String(E.response.timestamp), 'wechatmp-serial': 's1', 'wechatmp-signature': signature }
    await t.rejects(security.open(E.url, 'getuserriskrank', headers, body), { code: 'WEAPP_UPSTREAM_ERROR', message: /decryption/ }, body)
  }
  const sealed = (text: string): string => {
    const iv = Buffer.alloc(12, 1)
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(E.aesKey, 'base64'), iv)
    cipher.setAAD(Buffer.from(`${E.url}|${E.appId}|${E.response.timestamp}|${E.aesSn}`))
    const data = Buffer.concat([cipher.update(text), cipher.final()])
    return JSON.stringify({ iv: iv.toString('base64'), data: data.toString('base64'), authtag: cipher.getAuthTag().toString('base64') })
  }
  const body = sealed('plain text, not JSON')
  const signature = sign('sha256', Buffer.from(`${E.url}\n${E.appId}\n${E.response.timestamp}\n${body}`), { key: platform.privateKey, ...PSS, saltLength: 32 }).toString('base64')
  await t.rejects(security.open(E.url, 'getuserriskrank', { 'wechatmp-appid': E.appId, 'wechatmp-timestamp': String(E.response.timestamp), 'wechatmp-serial': 's1', 'wechatmp-signature': signature }, body),
    { message: /decryption \(not a JSON object\)/ }, 'a plaintext that is not JSON')
  await t.rejects(security.open(E.url, 'getuserriskrank', { 'wechatmp-appid': E.appId, 'wechatmp-timestamp': String(E.response.timestamp), 'wechatmp-serial': 's1', 'wechatmp-signature': signature }, undefined),
    { message: /signature check/ }, 'an answer too large to read')
})

t.test('apiSecurity is checked at registration, and no message repeats a key', async (t) => {
  t.equal(apiSecurityProblem(config), undefined)
  const cases: Array<[unknown, RegExp]> = [
    [null, /not an object/],
    [{ ...config, extra: 1 }, /apiSecurity\.extra/],
    [{ ...config, aesKey: Buffer.alloc(16).toString('base64') }, /aesKey.*32 bytes/],
    [{ ...config, aesSn: ' ' }, /aesSn/],
    [{ ...config, privateKey: 'MIIE...' }, /privateKey is not a PEM RSA private key/],
    [{ ...config, privateKey: E.certificate }, /privateKey/],
    [{ ...config, certificates: 'pem' }, /certificates is not an object/],
    [{ ...config, certificates: {} }, /holds no certificate/],
    [{ ...config, certificates: { 'a b': E.certificate } }, /not a certificate number/],
    [{ ...config, certificates: { [E.certificateSn]: E.privateKey } }, /is not a PEM certificate/],
    [{ ...config, certificates: { [E.certificateSn]: 42 } }, /is not a PEM certificate/],
    [{ ...config, privateKey: 42 }, /privateKey/],
    [{ ...config, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, /privateKey is not a PEM RSA private key/],
    [{ ...config, certificates: { [E.certificateSn]: createPublicKey(E.privateKey).export({ type: 'spki', format: 'pem' }).toString() } }, /the app's own public key/]
  ]
  for (const [value, problem] of cases) {
    const said = apiSecurityProblem(value) as string
    t.match(said, problem)
    t.notMatch(said, /MII|BEGIN|otUpng/, 'no key material in the message')
  }
  t.equal(apiSecurityProblem({ ...config, certificates: () => ({}) }), undefined, 'a getter is taken as it is')
  const app = Fastify()
  await t.rejects(async () => { await app.register(fastifyWeapp, { apps: [{ appId: 'wx0123456789abcdef', appSecret: 's', apiSecurity: { ...config, aesSn: '' } }], key: generateKey() }).ready() }, { code: 'WEAPP_INVALID_OPTION', message: /aesSn/ })
  const qq = Fastify()
  await t.rejects(async () => { await qq.register(fastifyWeapp, { apps: [{ appId: '1112345678', appSecret: 's', platform: 'qq', apiSecurity: config }], key: generateKey() }).ready() }, { code: 'WEAPP_INVALID_OPTION', message: /apiSecurity is only for a WeChat mini program, not for an app of kind 'qq'/ })
})

async function secured (t: Test, options: { certificates?: (mock: MockWechat) => Record<string, string> | (() => Record<string, string>) } = {}) {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const security = mock.app(mock.appId).apiSecurity()
  const apiSecurity = { ...security.config(), ...(options.certificates === undefined ? {} : { certificates: options.certificates(mock) }) }
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  await app.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, apiSecurity, key: generateKey(), apiBaseUrl: mock.url })
  await app.ready()
  t.teardown(() => app.close())
  mock.user('o-1').riskRank = 3
  return { mock, app, security, apiSecurity, logs }
}

const risk = { openid: 'o-1', scene: 0 as const, clientIp: '10.0.0.1' }

t.test('with apiSecurity, calls go sealed and signed, and answers are opened', async (t) => {
  const { mock, app } = await secured(t)
  const first = await app.weapp.getUserRiskRank(risk)
  t.equal(first.riskRank, 3)
  t.type(first.requestId, 'number', 'WeChat\'s unoin_id, as requestId')
  await app.weapp.getUserRiskRank(risk)
  const call = mock.callsTo('/wxa/getuserriskrank')[0]
  const body = JSON.parse(call?.body ?? '') as Record<string, unknown>
  t.same(Object.keys(body), ['iv', 'data', 'authtag'], 'the body is the sealed envelope only')
  t.notMatch(call?.body, /o-1|10\.0\.0\.1|access_token/, 'no parameter and no token in clear')
  t.equal(Buffer.from(body.iv as string, 'base64').length, 12, 'a 12-byte IV')
  t.ok(call?.query.access_token, 'the token rides in the URL only')
  t.equal(call?.headers['wechatmp-appid'], mock.appId)
  const calls = mock.callsTo('/wxa/getuserriskrank')
  t.not(JSON.parse(calls[0]?.body ?? '').iv, JSON.parse(calls[1]?.body ?? '').iv, 'a fresh IV per call')
  const phone = await app.weapp.getPhoneNumber(mock.phoneCode('o-1'))
  t.equal(phone.phoneNumber, '13800138000', 'the phone route\'s API goes through it too')
  t.equal(mock.callsTo('/wxa/business/getuserphonenumber')[0]?.headers['wechatmp-appid'], mock.appId)
})

t.test('each of the mock\'s API security faults is the documented 502', async (t) => {
  const { mock, app, apiSecurity, logs } = await secured(t)
  const faults: Array<[MockSecurityFault, RegExp]> = [
    ['unsigned', /signature check \(it is unsigned\)/],
    ['bad-signature', /signature check/],
    ['stale', /timestamp check/],
    ['other-app', /app check/],
    ['plaintext-app', /plaintext check/],
    ['unknown-serial', /certificate check/],
    ['tampered', /decryption/]
  ]
  for (const [security, check] of faults) {
    mock.fail({ path: '/wxa/getuserriskrank', security })
    const err = await app.weapp.getUserRiskRank(risk).catch((e: unknown) => e) as Error & { code?: string, statusCode?: number }
    t.equal(err.code, 'WEAPP_UPSTREAM_ERROR', security)
    t.equal(err.statusCode, 502)
    t.match(err.message, check, security)
  }
  const seen = logs.join('\n')
  for (const secret of [apiSecurity.aesKey, apiSecurity.privateKey.split('\n')[1] as string, ...mock.secrets()]) t.notOk(seen.includes(secret), 'no key in any log line')
  t.equal((await app.weapp.getUserRiskRank(risk)).riskRank, 3, 'the next answer is taken again')
})

t.test('with apiSecurity, WeChat\'s errcodes arrive sealed; an unsigned one is refused, quoted', async (t) => {
  const { app, mock } = await secured(t)
  await t.rejects(app.weapp.getUserRiskRank({ ...risk, openid: 'nobody' }), { code: 'WEAPP_UPSTREAM_ERROR', message: /does not know this openid/ }, 'a sealed errcode 40003 is opened and mapped')
  mock.fail({ path: '/wxa/getuserriskrank', errcode: -1 })
  await t.rejects(app.weapp.getUserRiskRank(risk), { code: 'WEAPP_UPSTREAM_ERROR', message: /signature check \(it is unsigned, errcode -1\)/ }, 'an unsigned errcode is not believed')
})

t.test('a certificate rollover: either certificate the server holds verifies', async (t) => {
  let held: Record<string, string> = {}
  const { mock, app, security } = await secured(t, { certificates: () => () => held })
  held = security.certificates()
  security.rollover()
  const [newSn, oldSn] = Object.keys(security.certificates()).sort((a) => a in held ? 1 : -1)
  t.equal((await app.weapp.getUserRiskRank(risk)).riskRank, 3, 'the old certificate alone: the -Deprecated pair')
  held = { [newSn as string]: security.certificates()[newSn as string] as string }
  t.equal((await app.weapp.getUserRiskRank(risk)).riskRank, 3, 'the new one alone')
  t.equal(mock.callsTo('/wxa/getuserriskrank').at(-1)?.path, '/wxa/getuserriskrank')
  security.endRollover()
  held = { [oldSn as string]: security.certificates()[newSn as string] === undefined ? '' : held[newSn as string] as string }
  await t.rejects(app.weapp.getUserRiskRank(risk), { code: 'WEAPP_UPSTREAM_ERROR', message: /certificate check/ }, 'after it, an old certificate alone verifies nothing')
})

t.test('WeChat refusing the request\'s security is a 502 that says what to check', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.app(mock.appId).apiSecurity()
  const app = Fastify()
  await app.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key: generateKey(), apiBaseUrl: mock.url })
  t.teardown(() => app.close())
  await t.rejects(app.weapp.getUserRiskRank(risk), { code: 'WEAPP_UPSTREAM_ERROR', message: /refused this server's API security \(errcode 40231\)/ }, 'a plain call to an app that has it on')
  const other = await MockWechat.start()
  t.teardown(() => other.close())
  const wrong = Fastify()
  await wrong.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key: generateKey(), apiBaseUrl: mock.url, apiSecurity: other.app(other.appId).apiSecurity().config() })
  t.teardown(() => wrong.close())
  await t.rejects(wrong.weapp.getUserRiskRank(risk), { code: 'WEAPP_UPSTREAM_ERROR', message: /errcode 40234/ }, 'keys the console does not have: the signature')
  const aes = Fastify()
  await aes.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key: generateKey(), apiBaseUrl: mock.url, apiSecurity: { ...mock.app(mock.appId).apiSecurity().config(), aesKey: Buffer.alloc(32, 7).toString('base64') } })
  t.teardown(() => aes.close())
  await t.rejects(aes.weapp.getUserRiskRank(risk), { code: 'WEAPP_UPSTREAM_ERROR', message: /errcode 40235/ }, 'the right signature, another symmetric key: the encryption')
  mock.revokeAccessTokens()
  await t.rejects(wrong.weapp.getUserRiskRank(risk), { message: /errcode 4023[45]/ }, 'a refused token, answered unsigned, is fetched anew first')
})

t.test('the mock refuses requests as WeChat documents', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const security = mock.app(mock.appId).apiSecurity()
  t.equal(mock.app(mock.appId).apiSecurity(), security, 'made once')
  const url = `${mock.url}/wxa/getuserriskrank`
  const sealed = createApiSecurity(mock.appId, security.config(), WECHAT).seal(url, { openid: 'o-1' })
  const headers = { 'wechatmp-appid': mock.appId, 'wechatmp-timestamp': sealed.headers['Wechatmp-TimeStamp'], 'wechatmp-signature': sealed.headers['Wechatmp-Signature'] }
  t.same(security.open(url, headers, sealed.body), { openid: 'o-1' }, 'a sealed, signed request opens')
  t.equal(security.open(url, { ...headers, 'wechatmp-timestamp': undefined }, sealed.body), 40231, 'no timestamp')
  t.equal(security.open(url, { ...headers, 'wechatmp-signature': undefined }, sealed.body), 40232, 'no signature')
  t.equal(security.open(url, { ...headers, 'wechatmp-appid': undefined }, sealed.body), 40233, 'no appid')
  t.equal(security.open(url, { ...headers, 'wechatmp-appid': 'wx0000000000000000' }, sealed.body), 40236, 'another appid')
  t.equal(security.open(url, { ...headers, 'wechatmp-timestamp': String(Number(headers['wechatmp-timestamp']) - 301) }, sealed.body), 40240, 'stale')
  t.equal(security.open(`${url}x`, headers, sealed.body), 40234, 'signed for another URL')
  const stale = createApiSecurity(mock.appId, security.config(), WECHAT)
  const replay = stale.seal(url, { openid: 'o-1' }, { nonce: '' })
  t.same(security.open(url, { 'wechatmp-appid': mock.appId, 'wechatmp-timestamp': replay.headers['Wechatmp-TimeStamp'], 'wechatmp-signature': replay.headers['Wechatmp-Signature'] }, replay.body), { openid: 'o-1' })
  for (const [field, spoiled] of [['_appid', 'wx0000000000000000'], ['_timestamp', 1], ['_n', 5]] as const) {
    // Signed and sealed correctly over a plaintext whose own fields are wrong: WeChat's 40235.
    const odd = createApiSecurity(mock.appId, security.config(), WECHAT).seal(url, { [field]: spoiled, openid: 'o-1' })
    t.equal(security.open(url, { 'wechatmp-appid': mock.appId, 'wechatmp-timestamp': odd.headers['Wechatmp-TimeStamp'], 'wechatmp-signature': odd.headers['Wechatmp-Signature'] }, odd.body), 40235, `a plaintext with ${field} ${spoiled}`)
  }
})
