// The upstream call on its own, with a stand-in HTTP client: what an error of the client carries
// (a URL holding the AppSecret and the code, as fetch's errors do) never reaches the contract's
// error, its message or its cause.
import t from 'tap'
import { callUpstream } from '../lib/upstream/call.js'
import type { Http } from '../lib/upstream/http.js'
import { wechatErrors } from '../lib/platforms/wechat.js'

const secret = 'app-secret-in-the-url-0123'
const code = 'a+login/code=1'
const url = `https://api.example.test/sns/jscode2session?${new URLSearchParams({ secret, js_code: code }).toString()}`

/** A client whose every call fails with an error that names the URL, here and in its cause. */
const failing: Http = {
  async request (requested) {
    throw new TypeError(`request to ${requested} failed`, { cause: Object.assign(new Error(`connect ECONNREFUSED while fetching ${requested}`), { code: 'ECONNREFUSED', url: requested }) })
  },
  lane () { return failing },
  async close () {}
}

t.test('a client error that names the URL is a 502 whose message and cause hold neither secret nor code', async (t) => {
  const err = await callUpstream(url, { method: 'GET' }, { timeout: 1000, secrets: [secret, code], errors: wechatErrors, http: failing }).catch((e: unknown) => e) as Error & { cause?: Error & Record<string, unknown> }
  t.match(err, { code: 'WEAPP_UPSTREAM_ERROR', statusCode: 502, message: 'Could not reach the WeChat API; retry in a moment' })
  t.match(err.cause?.message, /ECONNREFUSED/, 'the cause still says why')
  const seen = [err.message, err.stack, err.cause?.message, err.cause?.stack, JSON.stringify(err.cause), JSON.stringify(Object.entries(err.cause ?? {}))].join('\n')
  for (const spelling of [secret, code, encodeURIComponent(code), new URLSearchParams({ c: code }).toString().slice(2)]) {
    t.notOk(seen.includes(spelling), `no ${spelling} in what the error carries`)
  }
  t.equal(err.cause?.url, undefined, 'the client error\'s own fields are not kept')
})
