import t from 'tap'
import { InvalidCodeError, safeCause, SessionInvalidError, UpstreamTimeoutError } from '../lib/errors.js'

t.test('errors carry code, statusCode and a message that says what to do', async (t) => {
  t.match(new SessionInvalidError(), { code: 'WEAPP_SESSION_INVALID', statusCode: 401, message: /log in again/ })
  t.match(new UpstreamTimeoutError('QQ', 5000, 'qq.login()'), { code: 'WEAPP_UPSTREAM_TIMEOUT', statusCode: 504, message: 'QQ did not answer within 5000 ms; call qq.login() again and retry' })
  t.match(new InvalidCodeError('x'), { code: 'WEAPP_INVALID_CODE', statusCode: 401 })
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
