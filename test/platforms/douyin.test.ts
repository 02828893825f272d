// Douyin's quirks: anonymous logins, the client finding tt, its answers and errors.
import t from 'tap'
import type { MockFault } from '../../lib/testing.js'
import { isError } from '../fixtures/app.js'
import { WX, TT, backend } from '../fixtures/platforms.js'

t.test('douyin: a login with only an anonymous code is an anonymous session; a real code later is a normal one', async (t) => {
  const { app, mocks } = await backend(t)
  const tt = mocks.douyin
  const login = async (payload: Record<string, unknown>): Promise<Awaited<ReturnType<typeof app.inject>>> => await app.inject({ method: 'POST', url: '/weapp/login', payload: { appId: TT, ...payload } })
  const anon = await login({ anonymousCode: tt.app(TT).anonymousCode('a-1') })
  t.equal(anon.statusCode, 200)
  const body = anon.json()
  t.match(body, { appId: TT, openid: 'a-1', anonymous: true })
  t.notOk('unionid' in body)
  t.match(app.jwt.decode(body.token), { sub: 'a-1', anonymous: true })
  const session = await app.weapp.unseal(body.session)
  t.match(session, { platform: 'douyin', openid: 'a-1', anonymous: true, sessionKey: '' })
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${body.session}` } })).statusCode, 200, 'it authenticates')
  const decrypt = await app.inject({ method: 'POST', url: '/weapp/decrypt', payload: tt.encrypt('o-1', { a: 1 }), headers: { authorization: `Bearer ${body.session}` } })
  isError(t, decrypt, 400, 'WEAPP_UNSUPPORTED')
  t.match(decrypt.json().message, /anonymous Douyin session has no session_key/)
  // Renewal keeps it anonymous.
  const renewedToken = await (await app.weapp.app(TT)).seal({ openid: 'a-1', sessionKey: '', anonymous: true, platform: 'douyin' } as never)
  t.match(await app.weapp.unseal(renewedToken), { anonymous: true })
  isError(t, await login({ anonymousCode: tt.app(TT).anonymousCode('a-1').replace(/./, 'x') }), 401, 'WEAPP_INVALID_CODE')
  // A code with the anonymous code (the user logged in to Douyin): a normal session.
  const both = await login({ code: tt.login('o-1'), anonymousCode: tt.app(TT).anonymousCode('a-1') })
  t.match(both.json(), { openid: 'o-1' })
  t.notOk('anonymous' in both.json())
  t.match(JSON.parse(tt.callsTo('/api/apps/v2/jscode2session').at(-1)?.body ?? '{}'), { appid: TT, code: String, anonymous_code: String })
  // anonymousCode is Douyin's; and a login needs one of the two.
  isError(t, await app.inject({ method: 'POST', url: '/weapp/login', payload: { anonymousCode: 'x', appId: WX } }), 400, 'FST_ERR_VALIDATION')
  isError(t, await login({}), 400, 'FST_ERR_VALIDATION')
  isError(t, await app.inject({ method: 'POST', url: '/weapp/login', payload: { appId: WX } }), 400, 'FST_ERR_VALIDATION')
  await t.rejects((await app.weapp.app(WX)).seal({ openid: 'a', sessionKey: '', anonymous: true } as never), TypeError, 'anonymous sessions are Douyin\'s')
})

t.test('the client finds Douyin\'s global tt, and sends the anonymous code when tt.login() gives only that', async (t) => {
  const { createWeappClient } = await import('../../client/src/index.js')
  const { createWx } = await import('../../lib/testing.js')
  const { app, mocks } = await backend(t)
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const globals = globalThis as { tt?: unknown }
  const douyinWx = createWx(mocks.douyin, 'o-tt')
  // tt.login() for a user not logged in to Douyin: an empty code and an anonymous code.
  let loggedIn = false
  const tt = { ...douyinWx, login: ({ success }: { success?: (res: { code: string, anonymousCode?: string }) => void }) => { setTimeout(() => success?.(loggedIn ? { code: mocks.douyin.login('o-tt') } : { code: '', anonymousCode: mocks.douyin.app(TT).anonymousCode('a-tt') })) } }
  globals.tt = tt
  t.teardown(() => { delete globals.tt })
  const api = createWeappClient({ baseUrl: base, appId: TT, storageKey: 'tt' })
  t.match(await api.login(), { appId: TT, openid: 'a-tt', anonymous: true })
  t.same(await api.request({ url: '/me' }), { platform: 'douyin', appId: TT, openid: 'a-tt' })
  // Encrypted data needs a real login: the decrypt fails, and an anonymous fresh code cannot heal it.
  await t.rejects(api.decrypt(mocks.douyin.encrypt('o-tt', { a: 1 })), { code: 'WEAPP_UNSUPPORTED' })
  loggedIn = true
  t.match(await api.login(), { openid: 'o-tt' })
  t.match(await api.decrypt(mocks.douyin.encrypt('o-tt', { a: 1 })), { a: 1 })
  // A rotated key heals only with a real code: an anonymous one leaves the decrypt failure as it is.
  mocks.douyin.rotateSessionKey('o-tt')
  loggedIn = false
  await t.rejects(api.decrypt(mocks.douyin.encrypt('o-tt', { a: 2 })), { code: 'WEAPP_DECRYPT_FAILED' })
  // tt.login() with no code at all is a clear error.
  const none = createWeappClient({ baseUrl: base, appId: TT, storageKey: 'none', wx: { ...douyinWx, login: ({ success }) => { setTimeout(() => success?.({ code: '' })) } } })
  await t.rejects(none.login(), { code: 'WX_LOGIN_FAILED', message: /gave no code/ })
})

t.test('douyin: answers without a usable identity are 502s', async (t) => {
  const { app, mocks } = await backend(t)
  const tt = mocks.douyin
  const ok = (data: Record<string, unknown>): MockFault => ({ body: JSON.stringify({ err_no: 0, err_tips: 'success', data }), contentType: 'application/json' })
  for (const [fault, payload, message] of [
    [ok({ session_key: '', openid: 'o', anonymous_openid: '', unionid: '' }), { code: 'c' }, /without a usable openid and session_key/],
    [ok({ session_key: tt.user('o').sessionKey, openid: '', anonymous_openid: '', unionid: '' }), { code: 'c' }, /without a usable openid/],
    [ok({ session_key: tt.user('o').sessionKey, openid: 'o', anonymous_openid: '', unionid: 7 }), { code: 'c' }, /without a usable openid/],
    [ok({ session_key: '', openid: '', anonymous_openid: '', unionid: '' }), { anonymousCode: 'a' }, /without a usable anonymous_openid/],
    [{ body: JSON.stringify({ err_no: 0 }), contentType: 'application/json' }, { anonymousCode: 'a' }, /without a usable anonymous_openid/],
    [{ body: JSON.stringify({ data: {} }), contentType: 'application/json' }, { code: 'c' }, /without an err_no/]
  ] as const) {
    tt.fail(fault)
    const res = await app.inject({ method: 'POST', url: '/weapp/login', payload: { appId: TT, ...payload } })
    isError(t, res, 502, 'WEAPP_UPSTREAM_ERROR')
    t.match(res.json().message, message)
  }
})

t.test('douyin: the mock answers Douyin\'s errors', async (t) => {
  const { mocks } = await backend(t)
  const tt = mocks.douyin
  const ask = async (body: unknown): Promise<{ type: string | null, json: Record<string, unknown> }> => {
    const res = await fetch(`${tt.url}/api/apps/v2/jscode2session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
    return { type: res.headers.get('content-type'), json: await res.json() as Record<string, unknown> }
  }
  const base = { appid: TT, secret: tt.appSecret }
  t.match(await ask('not json'), { type: 'application/json; charset=UTF-8', json: { err_no: 40014 } })
  t.match((await ask({ ...base, appid: 'ttnope' })).json, { err_no: 40015, err_tips: 'bad appid', data: { openid: '' } })
  t.match((await ask({ secret: tt.appSecret, code: 'c' })).json, { err_no: 40015 }, 'no appid')
  t.match((await ask({ ...base, secret: 'wrong', code: 'c' })).json, { err_no: 40017 })
  t.match((await ask({ ...base, code: '', anonymous_code: '' })).json, { err_no: 40014 })
  t.match((await ask({ ...base, code: 'made-up' })).json, { err_no: 40018 })
  const anonymous = tt.app(TT).anonymousCode('a-1')
  t.match((await ask({ ...base, anonymous_code: anonymous })).json, { err_no: 0, data: { anonymous_openid: 'a-1', openid: '', session_key: '' } })
  t.match((await ask({ ...base, anonymous_code: anonymous })).json, { err_no: 40019 }, 'an anonymous code is single-use too')
  t.match((await ask({ ...base, anonymous_code: tt.addApp('ttother00000000001').anonymousCode('a-2') })).json, { err_no: 40019 }, 'another app\'s anonymous code')
  t.match((await ask({ ...base, anonymous_code: 'made-up' })).json, { err_no: 40019 })
})
