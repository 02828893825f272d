import { createDecipheriv, randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import t from 'tap'
import fastifyWeapp, { generateKey } from '../../lib/index.js'
import { createMockWechat, createWx } from '../../lib/testing.js'
import { encryptCbc, fromBase64, toBase64, utf8 } from '../../client/src/aes.js'
import { createWeappClient, type WxLike } from '../../client/src/index.js'

t.test('AES-128-CBC matches OpenSSL for every length and key', async (t) => {
  for (let length = 0; length <= 70; length++) {
    const key = randomBytes(16)
    const iv = randomBytes(16)
    const plain = randomBytes(length)
    const ours = Buffer.from(encryptCbc(key, iv, plain))
    t.equal(ours.length, (Math.floor(length / 16) + 1) * 16, `PKCS#7 pads ${length} bytes to whole blocks`)
    const decipher = createDecipheriv('aes-128-cbc', key, iv)
    t.same(Buffer.concat([decipher.update(ours), decipher.final()]), plain, `${length} bytes decrypt with OpenSSL`)
  }
  // FIPS-197's example block (appendix C.1, through CBC with a zero IV: its first block).
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')
  const first = Buffer.from(encryptCbc(key, new Uint8Array(16), Buffer.from('00112233445566778899aabbccddeeff', 'hex'))).subarray(0, 16)
  t.equal(first.toString('hex'), '69c4e0d86a7b0430d8cdb78070b4c55a', 'the standard\'s known answer')
})

t.test('UTF-8 and base64 as Node spells them', async (t) => {
  for (const text of ['', 'ascii', 'é', '中文', '😀 emoji', 'mixed 中 é 😀', '\u007f\u0080\u07ff\u0800\uffff']) {
    t.same(Buffer.from(utf8(text)), Buffer.from(text, 'utf8'), JSON.stringify(text))
  }
  t.same(Buffer.from(utf8('\ud800')), Buffer.from('\ufffd', 'utf8'), 'a lone surrogate: U+FFFD, as TextEncoder writes it')
  for (let n = 0; n < 40; n++) {
    const bytes = randomBytes(n)
    const text = toBase64(bytes)
    t.equal(text, bytes.toString('base64'))
    t.same(Buffer.from(fromBase64(text, n) as Uint8Array), bytes)
  }
  const sixteen = randomBytes(16).toString('base64')
  t.equal(fromBase64(sixteen, 15), undefined, 'another length')
  t.equal(fromBase64(sixteen.replace(/==$/, ''), 16), undefined, 'without its padding: not canonical')
  t.equal(fromBase64(`${sixteen.slice(0, -3)}!==`, 16), undefined, 'a character that is not base64')
  t.equal(fromBase64(42, 16), undefined)
})

t.test('client.encrypt() to openEncrypted(): the encrypted channel end to end', async (t) => {
  const mock = await createMockWechat()
  t.teardown(() => mock.close())
  const app = Fastify()
  await app.register(fastifyWeapp, { appId: mock.appId, appSecret: mock.appSecret, key: generateKey(), apiBaseUrl: mock.url })
  app.post('/orders', { onRequest: app.weapp.authenticate }, async (request) => ({ got: await app.weapp.openEncrypted(app.weapp.sessionOf(request), request.body as never) }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const address = app.server.address() as { port: number }
  const wx = createWx(mock, 'o-1')
  const client = createWeappClient({ baseUrl: `http://127.0.0.1:${address.port}`, wx })
  const order = { item: '咖啡', amount: 12.5, note: '😀' }
  const sealed = await client.encrypt(order)
  t.equal(sealed.version, mock.latestUserKey('o-1').version)
  t.equal(Buffer.from(sealed.iv, 'base64').length, 16)
  t.notMatch(sealed.encryptedData, /咖啡|amount/)
  t.same(await client.request({ method: 'POST', url: '/orders', data: sealed }), { got: order })
  const again = await client.encrypt(order)
  t.not(again.iv, sealed.iv, 'a fresh IV each time')
  t.not(again.encryptedData, sealed.encryptedData)
  mock.app(mock.appId).rotateUserKey('o-1')
  const rotated = await client.encrypt([1, 2, 3])
  t.equal(rotated.version, sealed.version + 1, 'the latest key')
})

t.test('encrypt() where the runtime cannot', async (t) => {
  const base = createWx(await (async () => { const m = await createMockWechat(); t.teardown(() => m.close()); return m })(), 'o-1')
  const none = createWeappClient({ baseUrl: 'https://api.example.com', wx: { ...base, getUserCryptoManager: undefined } as WxLike })
  await t.rejects(none.encrypt({}), { name: 'WeappClientError', code: 'UNSUPPORTED', message: /getUserCryptoManager/ })
  const manager = (over: Record<string, unknown>): WxLike => ({ ...base, getUserCryptoManager: () => ({ getLatestUserKey: ({ success }: any) => success({ encryptKey: randomBytes(16).toString('base64'), iv: 'x', version: 1, expireTime: 0 }), getRandomValues: ({ success }: any) => success({ randomValues: new Uint8Array(16).buffer }), ...over }) } as unknown as WxLike)
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ getLatestUserKey: ({ fail }: any) => fail({ errMsg: 'getLatestUserKey:fail no key' }) }, /getLatestUserKey\(\) failed: getLatestUserKey:fail no key/],
    [{ getLatestUserKey: ({ success }: any) => success({ encryptKey: 'short', version: 1 }) }, /no usable key/],
    [{ getLatestUserKey: ({ success }: any) => success({ encryptKey: randomBytes(16).toString('base64'), version: '1' }) }, /no usable key/],
    [{ getRandomValues: ({ fail }: any) => fail({ errMsg: 'getRandomValues:fail' }) }, /getRandomValues\(\) failed/],
    [{ getRandomValues: ({ success }: any) => success({ randomValues: new Uint8Array(8).buffer }) }, /no 16 bytes/]
  ]
  for (const [over, message] of cases) {
    await t.rejects(createWeappClient({ baseUrl: 'https://api.example.com', wx: manager(over) }).encrypt({ a: 1 }), { code: 'ENCRYPT_FAILED', message })
  }
  await t.rejects(createWeappClient({ baseUrl: 'https://api.example.com', wx: manager({}) }).encrypt(undefined), { code: 'ENCRYPT_FAILED', message: /JSON/ })
  const ok = await createWeappClient({ baseUrl: 'https://api.example.com', wx: manager({}) }).encrypt('x')
  t.equal(ok.iv, toBase64(new Uint8Array(16)))
})
