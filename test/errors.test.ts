import t from 'tap'
import { aboutSession, InvalidCodeError, LinkExpiredError, platformNamed, safeCause, SessionExpiredError, SessionInvalidError, UpstreamTimeoutError } from '../lib/errors.js'

t.test('errors carry code, statusCode and a message that says what to do', async (t) => {
  t.match(new SessionInvalidError(), { code: 'WEAPP_SESSION_INVALID', statusCode: 401, message: /log in again/ })
  t.match(new UpstreamTimeoutError('QQ', 5000, 'qq.login()'), { code: 'WEAPP_UPSTREAM_TIMEOUT', statusCode: 504, message: 'QQ did not answer within 5000 ms; call qq.login() again and retry' })
  t.match(new InvalidCodeError('x'), { code: 'WEAPP_INVALID_CODE', statusCode: 401 })
})

t.test('a message about a session names its platform and login call, or none where it is not known', async (t) => {
  const baidu = { title: 'Baidu', loginCall: 'swan.getLoginCode()' }
  t.equal(new SessionExpiredError().message, 'The session has expired; log in again (the platform\'s login call, then the login route)', 'the class alone names none')
  const named = aboutSession(new SessionExpiredError(), baidu)
  t.match(named, { code: 'WEAPP_SESSION_EXPIRED', statusCode: 401, message: 'The session has expired; log in again (Baidu: swan.getLoginCode() then the login route)' })
  t.equal(platformNamed(named), baidu, 'what it named, for an error made from it (a link token\'s)')
  t.equal(aboutSession(new LinkExpiredError('expired'), baidu, 'expired').message, 'The link token expired; log in again (Baidu: swan.getLoginCode() then the login route) for a fresh one')
  t.equal(aboutSession(new SessionExpiredError(), undefined).message, new SessionExpiredError().message, 'no platform known: none named')
  t.equal(platformNamed(aboutSession(new SessionExpiredError(), undefined)), undefined)
  const other = new InvalidCodeError('Baidu says the code is invalid')
  t.equal(aboutSession(other, baidu).message, 'Baidu says the code is invalid', 'not about a session: as it is')
  t.equal(aboutSession('text', baidu), 'text')
  t.equal(aboutSession(null, baidu), null)
  t.equal(platformNamed(null), undefined)
  t.equal(platformNamed('text'), undefined)
})

t.test('safeCause keeps the chain and scrubs every secret', async (t) => {
  const inner = Object.assign(new Error('connect ECONNREFUSED for s3cr3t'), { code: 'ECONNREFUSED', payload: { sk: 'KEY' } })
  const outer = new TypeError('fetch failed: https://x/?secret=s3cr3t', { cause: inner })
  const cause = safeCause(outer, ['s3cr3t', ''])
  t.equal(cause.message, 'TypeError: fetch failed: https://x/?secret=[redacted] <- Error [ECONNREFUSED]: connect ECONNREFUSED for [redacted]')
  t.notOk(JSON.stringify(cause).includes('KEY'), 'other properties are dropped')
  t.notOk(String(cause.stack).includes('s3cr3t'))
  t.equal(safeCause('plain s3cr3t', ['s3cr3t']).message, 'plain [redacted]')
  t.equal(safeCause({ name: 'WechatError', code: 40125 }, []).message, 'WechatError [40125]: ')
  t.equal(safeCause({}, []).message, 'Error: ')
})

t.test('safeCause scrubs a secret as a URL spells it too: percent-encoded and form-encoded', async (t) => {
  // A code may hold any printable character; in a request URL it is encoded.
  const code = 'a+b/c=d e&f'
  const url = `https://api.weixin.qq.com/sns/jscode2session?${new URLSearchParams({ js_code: code }).toString()}`
  const message = safeCause(new Error(`failed: ${url} and ${encodeURIComponent(code)} and ${code}`), [code]).message
  t.equal(message, 'Error: failed: https://api.weixin.qq.com/sns/jscode2session?js_code=[redacted] and [redacted] and [redacted]')
})
