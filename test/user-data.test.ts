import { createCipheriv } from 'node:crypto'
import t from 'tap'
import { decryptUserData, verifySignature } from '../lib/user-data.js'
import { encryptUserData, signRawData } from '../lib/testing.js'

// WeChat's published WXBizDataCrypt demo (the "encrypted data" documentation's sample).
const demo = {
  appId: 'wx4f4bc4dec97d474b',
  sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==',
  encryptedData: 'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==',
  iv: 'r7BXXKkLb8qrSNn05n0qiA=='
}

const options = { appId: demo.appId, watermarkMaxAge: 0 }

t.test('decrypts WeChat\'s own demo data', async (t) => {
  const data = decryptUserData(demo.sessionKey, demo.encryptedData, demo.iv, options)
  t.match(data, {
    openId: 'oGZUI0egBJY1zhBYw2KhdUfwVJJE',
    nickName: 'Band',
    unionId: 'ocMvos6NjeKLIBqg5Mr9QjxrP1FA',
    watermark: { timestamp: 1477314187, appid: 'wx4f4bc4dec97d474b' }
  })
})

t.test('verifies WeChat\'s own rawData signature example', async (t) => {
  const rawData = '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}'
  const sessionKey = 'HyVFkGl5F5OQWJZZaNzBBg=='
  t.equal(verifySignature(rawData, '75e81ceda165f4ffa64f4068af58c64b8f54b88c', sessionKey), true)
  t.equal(verifySignature(rawData, '75E81CEDA165F4FFA64F4068AF58C64B8F54B88C', sessionKey), true, 'hex in either case')
  t.equal(signRawData(rawData, sessionKey), '75e81ceda165f4ffa64f4068af58c64b8f54b88c', 'the mock signs the same way')
  t.equal(verifySignature(`${rawData} `, '75e81ceda165f4ffa64f4068af58c64b8f54b88c', sessionKey), false)
  t.equal(verifySignature(rawData, '75e81ceda165f4ffa64f4068af58c64b8f54b88d', sessionKey), false)
  t.equal(verifySignature(rawData, 'fake_sign', sessionKey), false)
  t.equal(verifySignature(rawData, '', sessionKey), false)
  t.equal(verifySignature(rawData, 7 as never, sessionKey), false)
})

t.test('round-trips what the mock encrypts, including non-ASCII text', async (t) => {
  const sessionKey = 'AAECAwQFBgcICQoLDA0ODw=='
  const value = { nickName: '微信用户 🌟', steps: [1, 2, 3], watermark: { appid: demo.appId, timestamp: 1 } }
  const { encryptedData, iv } = encryptUserData(sessionKey, value)
  t.same(decryptUserData(sessionKey, encryptedData, iv, options), value)
})

t.test('every kind of failure is one identical error', async (t) => {
  const key = 'AAECAwQFBgcICQoLDA0ODw=='
  const iv = Buffer.alloc(16, 1)
  const wrongKey = 'DwAODQwLCgkIBwYFBAMCAQ=='
  const good = encryptUserData(key, { watermark: { appid: demo.appId, timestamp: 1 } }, iv)
  const cases: Array<[string, string, string, string]> = [
    ['wrong key', wrongKey, good.encryptedData, good.iv],
    ['valid padding over non-JSON', key, encryptText(key, 'not json at all', iv), good.iv],
    ['a JSON string', key, encryptUserData(key, 'text', iv).encryptedData, good.iv],
    ['a JSON array', key, encryptUserData(key, [1], iv).encryptedData, good.iv],
    ['JSON null', key, encryptUserData(key, null, iv).encryptedData, good.iv],
    ['another appid', key, encryptUserData(key, { watermark: { appid: 'wxother', timestamp: 1 } }, iv).encryptedData, good.iv],
    ['no watermark', key, encryptUserData(key, { a: 1 }, iv).encryptedData, good.iv],
    ['a watermark that is not an object', key, encryptUserData(key, { watermark: 'x' }, iv).encryptedData, good.iv],
    ['malformed base64', key, '###', good.iv],
    ['not whole blocks', key, Buffer.alloc(20).toString('base64'), good.iv],
    ['empty', key, '', good.iv],
    ['short iv', key, good.encryptedData, Buffer.alloc(8).toString('base64')],
    ['session_key not 16 bytes', 'abc', good.encryptedData, good.iv],
    // Canonical base64 of 15 and 17 bytes: AES-128 would throw a raw RangeError, not the uniform failure.
    ['a 15-byte session_key', Buffer.alloc(15, 1).toString('base64'), good.encryptedData, good.iv],
    ['a 17-byte session_key', Buffer.alloc(17, 1).toString('base64'), good.encryptedData, good.iv],
    ['an iv of 15 bytes', key, good.encryptedData, Buffer.alloc(15, 1).toString('base64')]
  ]
  const messages = new Set<string>()
  for (const [name, k, data, v] of cases) {
    const err = (() => { try { decryptUserData(k, data, v, options) } catch (e) { return e as Error & { code: string, statusCode: number } } })()
    t.match(err, { code: 'WEAPP_DECRYPT_FAILED', statusCode: 400 }, name)
    messages.add(String(err?.message))
  }
  t.equal(messages.size, 1, 'one message for all')
  t.match([...messages][0], /log in again/)
})

t.test('watermarkMaxAge rejects stale data', async (t) => {
  const key = 'AAECAwQFBgcICQoLDA0ODw=='
  const now = Math.floor(Date.now() / 1000)
  const fresh = encryptUserData(key, { watermark: { appid: demo.appId, timestamp: now - 10 } })
  const stale = encryptUserData(key, { watermark: { appid: demo.appId, timestamp: now - 700 } })
  const noTime = encryptUserData(key, { watermark: { appid: demo.appId } })
  const strict = { appId: demo.appId, watermarkMaxAge: 600 }
  t.ok(decryptUserData(key, fresh.encryptedData, fresh.iv, strict))
  t.throws(() => decryptUserData(key, stale.encryptedData, stale.iv, strict), { code: 'WEAPP_DECRYPT_FAILED' })
  t.throws(() => decryptUserData(key, noTime.encryptedData, noTime.iv, strict), { code: 'WEAPP_DECRYPT_FAILED' })
  t.ok(decryptUserData(key, stale.encryptedData, stale.iv, options), 'off by default')
})

t.test('an optional watermark (Kuaishou\'s) that is there is held to watermarkMaxAge all the same', async (t) => {
  const key = 'AAECAwQFBgcICQoLDA0ODw=='
  const now = Math.floor(Date.now() / 1000)
  const optional = { appId: demo.appId, watermarkMaxAge: 600, watermarkOptional: true }
  const open = (data: unknown): unknown => { const sealed = encryptUserData(key, data); return decryptUserData(key, sealed.encryptedData, sealed.iv, optional) }
  t.same(open({ a: 1 }), { a: 1 }, 'no watermark: accepted')
  t.ok(open({ watermark: { appid: demo.appId, timestamp: now - 10 } }), 'a fresh one: accepted')
  t.throws(() => open({ watermark: { appid: demo.appId, timestamp: now - 3600 } }), { code: 'WEAPP_DECRYPT_FAILED' }, 'a stale one')
  t.throws(() => open({ watermark: { appid: demo.appId, timestamp: now + 3600 } }), { code: 'WEAPP_DECRYPT_FAILED' }, 'one from the future')
  t.throws(() => open({ watermark: { appid: demo.appId } }), { code: 'WEAPP_DECRYPT_FAILED' }, 'one without a timestamp')
})

/** Raw text under AES-128-CBC: valid padding, but not JSON. */
function encryptText (key: string, text: string, iv: Buffer): string {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(key, 'base64'), iv)
  return Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]).toString('base64')
}

t.test('the encrypted channel refuses bad padding even where the plaintext would still parse', async (t) => {
  const { openChannel } = await import('../lib/user-data.js')
  const key = Buffer.alloc(16, 7)
  const iv = Buffer.alloc(16, 9)
  const seal = (plain: Buffer): string => {
    const cipher = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false)
    return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64')
  }
  // JSON, then spaces to the block's end: 0x20 is no PKCS#7 padding, and JSON.parse would skip it.
  const spaced = Buffer.from('{"item":"coffee"}'.padEnd(32, ' '))
  t.throws(() => openChannel(key.toString('base64'), iv.toString('base64'), seal(spaced)), { code: 'WEAPP_DECRYPT_FAILED' })
  const padded = Buffer.concat([Buffer.from('{"item":"coffee"}'), Buffer.alloc(15, 15)])
  t.same(openChannel(key.toString('base64'), iv.toString('base64'), seal(padded)), { item: 'coffee' }, 'the same JSON, padded, opens')
})
