// Every refusal of a session names the session's platform and its login call, by construction:
// for each row of the platform table (read from the table, not listed here), each reason's message
// names that row's title and login call and no other row's; where no token was read, none.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import weapp from '../../lib/index.js'
import { MockWechat } from '../../lib/testing.js'
import { aboutSession, DecryptFailedError, platformNamed, refuseSession, SESSION_REFUSALS, type SessionRefusal } from '../../lib/errors.js'
import { parseKeys } from '../../lib/keys.js'
import { ROWS } from '../../lib/platforms/index.js'
import type { Users } from '../../lib/platforms/users.js'
import { decryptSchema, loginSchema, logoutSchema, phoneSchema } from '../../lib/schemas.js'
import { createSessionCodec } from '../../lib/session.js'
import { createChannel } from '../../lib/user-keys.js'
import { createFailureBudget } from '../../lib/failure-budget.js'
import { isError, KEY } from '../fixtures/app.js'

/** Each reason's code and status: the contract's, whatever platform it names. */
const CODES: Record<SessionRefusal, [string, number]> = {
  invalid: ['WEAPP_SESSION_INVALID', 401],
  expired: ['WEAPP_SESSION_EXPIRED', 401],
  maxAge: ['WEAPP_SESSION_EXPIRED', 401],
  decryptFailed: ['WEAPP_DECRYPT_FAILED', 400],
  revoked: ['WEAPP_SESSION_REVOKED', 401],
  kicked: ['WEAPP_SESSION_KICKED', 401],
  ended: ['WEAPP_SESSION_ENDED', 401],
  linkExpired: ['WEAPP_LINK_EXPIRED', 401],
  linkRedeemed: ['WEAPP_LINK_EXPIRED', 401],
  blocked: ['WEAPP_RATE_LIMITED', 429],
  otherUser: ['WEAPP_INVALID_CODE', 401]
}

/** The titles and login calls of every row but those `row` shares (a hosted row shares its parent's). */
function othersOf (row: { title: string, loginCall: string }): string[] {
  return [...new Set(ROWS.flatMap((other) => [other.title, other.loginCall]))].filter((name) => name !== row.title && name !== row.loginCall)
}

/** `message` tells the user to log in again with `row`'s login call, on `row`, and names no other row. */
function names (t: Test, message: string, row: { title: string, loginCall: string }, what: string): void {
  t.ok(message.includes(`log in again (${row.title}: ${row.loginCall} then the login route)`), `${what}: names ${row.title} and ${row.loginCall}: ${message}`)
  t.same(othersOf(row).filter((name) => message.includes(name)), [], `${what}: no other platform's title or login call`)
}

/** `message` names no row's title or login call. */
function namesNone (t: Test, message: string, what: string): void {
  t.same([...new Set(ROWS.flatMap((row) => [row.title, row.loginCall]))].filter((name) => message.includes(name)), [], `${what}: no platform named: ${message}`)
  t.ok(message.includes('log in again (the platform\'s login call, then the login route)'), `${what}: says how, naming none`)
}

t.test('the reasons listed here are every reason there is', async (t) => {
  t.same([...SESSION_REFUSALS].sort(), Object.keys(CODES).sort())
})

for (const row of ROWS) {
  t.test(`${row.kind}: every refusal names ${row.title} and ${row.loginCall}, and no other platform`, async (t) => {
    for (const why of SESSION_REFUSALS) {
      const err = refuseSession(why, row, { wait: 7 })
      const [code, statusCode] = CODES[why]
      t.match(err, { code, statusCode }, `${why}: ${code}`)
      names(t, err.message, row, why)
      t.equal(platformNamed(err), row, `${why}: marked with what it named`)
    }
    // An error made below the session's level (a decrypt that knows no session) is named where the session is known.
    names(t, aboutSession(refuseSession('decryptFailed', undefined), row).message, row, 'decryptFailed, named later')
    // Named twice (a platform's own decrypt, then the route's session): the session's platform wins.
    const other = ROWS.find((r) => r.title !== row.title) as typeof row
    const twice = aboutSession(refuseSession('decryptFailed', other), row)
    names(t, twice.message, row, 'decryptFailed, named twice')
    t.equal(platformNamed(twice), row)
  })
}

t.test('where no token was read, a refusal names no platform', async (t) => {
  for (const why of SESSION_REFUSALS) {
    const cause = new Error('why, for the log')
    const err = refuseSession(why, undefined, { cause, wait: 7 })
    const [code, statusCode] = CODES[why]
    t.match(err, { code, statusCode }, `${why}: ${code}`)
    t.equal(err.cause, cause, `${why}: the cause kept, for the server's log`)
    namesNone(t, err.message, why)
    t.equal(platformNamed(err), undefined)
  }
  t.equal(refuseSession('decryptFailed', undefined).message, new DecryptFailedError().message, 'the class\'s own message')
  t.match(refuseSession('blocked', undefined, { wait: 7 }).message, /^Too many failed attempts for this user; wait 7 s, then /)
  t.match(refuseSession('linkRedeemed', undefined).message, /^The link token was already redeemed; /)
  t.match(refuseSession('linkExpired', undefined).message, /^The link token expired; /)
})

/** An identity of `users`' platform, as a login gives it. */
function identityOf (users: Users): Record<string, unknown> {
  const identity: Record<string, unknown> = { platform: users.platform, sessionKey: users.keyBytes === 0 ? '' : randomBytes(users.keyBytes ?? 16).toString('base64') }
  for (const field of users.fields) if (field.optional !== true) identity[field.name] = `${field.name}-1`
  return identity
}

for (const row of ROWS) {
  t.test(`${row.kind}: the codec's refusals of a token it read name ${row.title}`, async (t) => {
    const appId = 'app-1'
    const codec = createSessionCodec({ audience: [appId], keys: parseKeys(KEY), expiresIn: 3600, cacheSize: 100 })
    const identity = identityOf(row.users) as never
    const refusal = async (token: string): Promise<Error> => await Promise.resolve().then(() => codec.unseal(token)).then(() => { throw new Error('opened') }, (err: Error) => err)

    // Past exp, opened by jose (never seen before): expired, naming the session's platform.
    const expired = await refusal(codec.seal(identity, appId, { jti: 'a'.repeat(22), loginAt: Date.now() - 7200_000, now: Date.now() - 7200_000 }))
    t.match(expired, { code: 'WEAPP_SESSION_EXPIRED', statusCode: 401 })
    names(t, expired.message, row, 'expired')

    // Remembered (its second use on), expired since: the memo's check names it too.
    const remembered = codec.seal(identity, appId)
    await codec.unseal(remembered)
    await codec.unseal(remembered)
    const now = Date.now
    Date.now = () => now() + 7200_000
    t.teardown(() => { Date.now = now })
    const late = await refusal(remembered)
    Date.now = now
    t.match(late, { code: 'WEAPP_SESSION_EXPIRED', statusCode: 401 })
    names(t, late.message, row, 'expired, remembered')

    // A link token past its time.
    const link = await codec.unsealLink(codec.sealLink(identity, appId, -60)).catch((err: Error) => err)
    t.match(link, { code: 'WEAPP_LINK_EXPIRED', statusCode: 401 })
    names(t, (link as Error).message, row, 'link expired')

    // A token that does not open names none, whoever it was sealed for.
    const damaged = await refusal(`${remembered.slice(0, -4)}AAAA`)
    t.match(damaged, { code: 'WEAPP_SESSION_INVALID', statusCode: 401 })
    namesNone(t, damaged.message, 'invalid')
  })
}

t.test('the encrypted channel names its app\'s platform, and none where it is not given', async (t) => {
  for (const row of [...ROWS, undefined]) {
    const failures = createFailureBudget({ limit: 1, window: 60_000, size: 10 })
    const api = { getUserEncryptKey: async () => [] }
    const open = createChannel(api, { failures, platform: row })
    const user = { openid: 'o-1', sessionKey: randomBytes(16).toString('base64') }
    const what = row === undefined ? 'no platform' : row.kind
    const failed = await open(user, { version: 1, iv: 'x', encryptedData: 'x' }).catch((err: Error) => err)
    t.match(failed, { code: 'WEAPP_DECRYPT_FAILED', statusCode: 400 }, what)
    const blocked = await open(user, { version: 1, iv: 'x', encryptedData: 'x' }).catch((err: Error) => err)
    t.match(blocked, { code: 'WEAPP_RATE_LIMITED', statusCode: 429 }, what)
    for (const [name, err] of [['decrypt failed', failed], ['blocked', blocked]] as const) {
      if (row === undefined) namesNone(t, (err as Error).message, `${what}: ${name}`)
      else names(t, (err as Error).message, row, `${what}: ${name}`)
    }
  }
})

t.test('a Baidu session healed with another user\'s code is told swan.getLoginCode(), not wx.login()', async (t) => {
  const BAIDU = '4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c'
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const baidu = mock.addBaiduApp(BAIDU, 'baidu-secret-0123456789')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: BAIDU, appSecret: 'baidu-secret-0123456789', platform: 'baidu' }], key: KEY, apiBaseUrl: mock.url })
  const login = await app.inject({ method: 'POST', url: '/weapp/login', payload: { code: baidu.login('user-1'), appId: BAIDU } })
  t.equal(login.statusCode, 200)
  const res = await app.inject({
    method: 'POST',
    url: '/weapp/decrypt',
    headers: { authorization: `Bearer ${login.json().session as string}` },
    payload: { ...baidu.encrypt('user-2', { a: 1 }), code: baidu.login('user-2') }
  })
  isError(t, res, 401, 'WEAPP_INVALID_CODE')
  const row = ROWS.find((r) => r.kind === 'baidu') as (typeof ROWS)[number]
  t.equal(res.json().message, `This code belongs to another user than the session; log in again (${row.title}: ${row.loginCall} then the login route)`)
  names(t, res.json().message, row, 'another user\'s code')
  t.notOk(res.body.includes(baidu.appSecret), 'no secret in the reply')
})

t.test('the OpenAPI text names no one platform\'s API for all: the phone route names its platforms from the table', async (t) => {
  const text = JSON.stringify([loginSchema, decryptSchema, phoneSchema, logoutSchema])
  t.same(['jscode2session', 'getuserphonenumber'].filter((api) => text.includes(api)), [], 'no WeChat API name for every platform')
  const byCode = ROWS.filter((row) => row.users.noPhone === undefined && row.users.phoneField === undefined).map((row) => row.title)
  const byResponse = ROWS.filter((row) => row.users.noPhone === undefined && row.users.phoneField !== undefined).map((row) => row.title)
  const none = ROWS.filter((row) => row.users.noPhone !== undefined && !byCode.includes(row.title) && !byResponse.includes(row.title)).map((row) => row.title)
  t.ok(byCode.length > 0 && byResponse.length > 0 && none.length > 0)
  const { code, response } = phoneSchema.body.properties
  t.same(byCode.filter((title) => !code.description.includes(title) || !phoneSchema.description.includes(title)), [], `the code's platforms: ${code.description}`)
  t.same(byResponse.filter((title) => !response.description.includes(title) || !phoneSchema.description.includes(title)), [], `the response's platforms: ${response.description}`)
  t.same(none.filter((title) => JSON.stringify(phoneSchema).includes(title)), [], 'no platform without phone numbers named on the phone route')
})

t.test('Alipay\'s phone building block, given an answer that does not open, names Alipay and its login call', async (t) => {
  const ALIPAY = '2021000000000001'
  const mock = await MockWechat.start()
  t.teardown(() => mock.close())
  const alipay = mock.addAlipayApp(ALIPAY)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(weapp, { apps: [{ appId: ALIPAY, platform: 'alipay', alipay: { privateKey: alipay.privateKey, alipayPublicKey: alipay.alipayPublicKey, contentKey: alipay.contentKey } }], key: KEY, apiBaseUrl: mock.url })
  await app.ready()
  const err = await (await app.weapp.app(ALIPAY)).getPhoneNumber(JSON.stringify({ response: 'bm90IGEgcGhvbmU=', sign: 'AAAA' })).catch((e: Error) => e)
  t.match(err, { code: 'WEAPP_DECRYPT_FAILED', statusCode: 400 })
  names(t, (err as Error).message, ROWS.find((r) => r.kind === 'alipay') as (typeof ROWS)[number], 'no session: the app\'s own platform')
})

t.test('openEncrypted names the app\'s platform (the entry gives the channel its row)', async (t) => {
  const { harness } = await import('../fixtures/app.js')
  const h = await harness(t)
  const { session } = await h.login('o-alice')
  const opened = await h.app.weapp.unseal(session)
  const err = await h.app.weapp.openEncrypted(opened as never, { version: 99, iv: 'x', encryptedData: 'x' }).catch((e: Error) => e)
  t.match(err, { code: 'WEAPP_DECRYPT_FAILED', statusCode: 400 })
  names(t, (err as Error).message, ROWS.find((r) => r.kind === 'wechat') as (typeof ROWS)[number], 'the channel of a WeChat app')
})
