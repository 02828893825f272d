import type { ServerResponse } from 'node:http'
import { SECRET_APPS } from './apps.js'
import { sendJson, type Endpoint, type MockCall } from './server.js'
import type { MockState } from './state.js'

/**
 * Kuaishou's `code2session` (its apps are the mock's AppSecret apps): a form in, `{ result: 1,
 * session_key, open_id }` out, and `{ result, error, error_msg }` for errors, HTTP 200 either way.
 */
function login (state: MockState, { body }: MockCall, res: ServerResponse): void {
  const form = new URLSearchParams(body)
  const fail = (result: number, error: string, message: string): void => { sendJson(res, { result, error, error_msg: message }) }
  const appId = form.get('app_id') ?? ''
  const secret = state.kind<string>(SECRET_APPS).get(appId)
  if (secret === undefined || form.get('app_secret') !== secret) return fail(100200101, 'unauthorized_client', 'app_id or app_secret is wrong')
  const code = form.get('js_code')
  if (code === null || code === '') return fail(100200100, 'invalid_request', 'js_code is missing')
  const user = state.redeem(code, appId)
  if (typeof user === 'string') return fail(100200105, 'invalid_grant', 'the code is invalid or used')
  const answer: Record<string, unknown> = { result: 1, session_key: user.sessionKey, open_id: user.openid }
  if (user.unionid !== undefined) answer.union_id = user.unionid
  sendJson(res, answer)
}

export const kuaishouEndpoints: readonly Endpoint[] = [
  { method: 'POST', path: '/oauth2/mp/code2session', handle: login }
]
