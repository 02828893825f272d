import t from 'tap'
import { createMockWechat, encryptUserData, MockWechat } from '../lib/testing.js'

async function get (url: string): Promise<{ status: number, type: string | null, text: string }> {
  const res = await fetch(url)
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

t.test('answers like WeChat: text/plain JSON, errors as HTTP 200 with errcode', async (t) => {
  const mock = await createMockWechat({ appId: 'wxmock', appSecret: 's3cret' })
  t.teardown(() => mock.close())
  t.match(mock.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const code = mock.login('o-1', { unionid: 'u-1' })
  const q = (c: string, secret = 's3cret', appid = 'wxmock', grant = 'authorization_code'): string =>
    `${mock.url}/sns/jscode2session?appid=${appid}&secret=${secret}&js_code=${c}&grant_type=${grant}`
  const ok = await get(q(code))
  t.equal(ok.status, 200)
  t.equal(ok.type, 'text/plain')
  t.same(JSON.parse(ok.text), { session_key: mock.user('o-1').sessionKey, openid: 'o-1', unionid: 'u-1' })
  const errcodeOf = async (url: string): Promise<number> => JSON.parse((await get(url)).text).errcode
  t.equal(await errcodeOf(q(code)), 40163, 'single use')
  t.equal(await errcodeOf(q('unknown')), 40029)
  t.equal(await errcodeOf(q(mock.login('o-1'), 'wrong')), 40125)
  t.equal(await errcodeOf(q(mock.login('o-1'), 's3cret', 'wxother')), 40013)
  t.equal(await errcodeOf(q(mock.login('o-1'), 's3cret', 'wxmock', 'other')), 40002)
  t.equal(await errcodeOf(q('')), 41008)
  const err = JSON.parse((await get(q('unknown'))).text)
  t.match(err.errmsg, /^invalid code, rid: /)
  t.equal((await get(`${mock.url}/nowhere`)).status, 404)
})

t.test('a user keeps the session_key across logins until it lapses', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const first = mock.user('o-1').sessionKey
  mock.login('o-1')
  t.equal(mock.user('o-1').sessionKey, first)
  mock.login('o-1', { rotate: true })
  t.not(mock.user('o-1').sessionKey, first)
  const third = mock.rotateSessionKey('o-1')
  t.equal(mock.user('o-1').sessionKey, third)
  t.match(third, /^[A-Za-z0-9+/]{22}==$/)
  t.ok(mock.secrets().includes(first) && mock.secrets().includes(third) && mock.secrets().includes(mock.appSecret))
})

t.test('faults are taken in order by matching requests', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.fail({ errcode: 45011 }, { errcode: 12345, errmsg: 'custom' }, { path: '/b', body: 'for b' }, { status: 503, body: 'down', contentType: 'text/html' })
  t.match(JSON.parse((await get(`${mock.url}/a`)).text), { errcode: 45011, errmsg: /minute-quota/ })
  t.match(JSON.parse((await get(`${mock.url}/a`)).text), { errcode: 12345, errmsg: /^custom, rid/ })
  t.same(await get(`${mock.url}/a`), { status: 503, type: 'text/html', text: 'down' }, '/a skips the fault meant for /b')
  t.equal((await get(`${mock.url}/b`)).text, 'for b')
  t.equal((await get(`${mock.url}/b`)).status, 404, 'then back to normal')
  mock.fail({ destroy: true })
  await t.rejects(fetch(`${mock.url}/a`))
  t.equal(mock.calls.length, 6)
  t.same(mock.callsTo('/b').map((c) => c.method), ['GET', 'GET'])
})

t.test('listens on IPv6 loopback too', async (t) => {
  const mock = await MockWechat.start({ host: '::1' })
  t.teardown(() => mock.close())
  t.match(mock.url, /^http:\/\/\[::1\]:\d+$/)
  mock.fail({ status: 204 })
  t.same(await get(`${mock.url}/x`), { status: 204, type: 'text/plain', text: '' })
})

t.test('encrypts like WeChat, with a watermark', async (t) => {
  const mock = await MockWechat.start({ appId: 'wxw' })
  t.teardown(() => mock.close())
  const { encryptedData, iv } = mock.encrypt('o-1', { a: 1 }, { timestamp: 5 })
  t.equal(Buffer.from(iv, 'base64').length, 16)
  t.equal(Buffer.from(encryptedData, 'base64').length % 16, 0)
  const fixedIv = Buffer.alloc(16, 3)
  t.equal(encryptUserData('AAECAwQFBgcICQoLDA0ODw==', { a: 1 }, fixedIv).encryptedData, encryptUserData('AAECAwQFBgcICQoLDA0ODw==', { a: 1 }, fixedIv).encryptedData, 'deterministic for a fixed IV')
  const signed = mock.signedRawData('o-1', { nickName: 'n' })
  t.equal(signed.rawData, '{"nickName":"n"}')
  t.match(signed.signature, /^[0-9a-f]{40}$/)
})

t.test('a request that closes before a delayed answer is left alone', async (t) => {
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  mock.fail({ delay: 30 })
  await t.rejects(fetch(`${mock.url}/x`, { signal: AbortSignal.timeout(5) }))
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.equal(mock.calls.length, 1)
})
