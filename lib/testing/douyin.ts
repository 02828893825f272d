import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { SECRET_APPS } from './apps.js'
import { parseJson } from './data.js'
import { sendJson, type Endpoint, type MockCall } from './server.js'
import type { MockState } from './state.js'

/**
 * Douyin's `jscode2session` (a mock on the Douyin origin serves its apps this way): JSON in, and
 * `{ err_no, err_tips, log_id, data }` out, labelled `application/json`, HTTP 200 for errors too.
 */
function login (state: MockState, { body }: MockCall, res: ServerResponse): void {
  const empty = { session_key: '', openid: '', anonymous_openid: '', unionid: '' }
  const answer = (errNo: number, tips: string, data = empty): void => {
    sendJson(res, { err_no: errNo, err_tips: tips, log_id: `${Date.now()}${randomBytes(6).toString('hex').toUpperCase()}`, data })
  }
  const request = parseJson(body)
  if (request === undefined) return answer(40014, 'bad params')
  const secret = typeof request.appid === 'string' ? state.kind<string>(SECRET_APPS).get(request.appid) : undefined
  if (secret === undefined) return answer(40015, 'bad appid')
  if (request.secret !== secret) return answer(40017, 'bad secret')
  const appId = request.appid as string
  const code = typeof request.code === 'string' && request.code !== '' ? request.code : undefined
  const anonymous = typeof request.anonymous_code === 'string' && request.anonymous_code !== '' ? request.anonymous_code : undefined
  if (code === undefined && anonymous === undefined) return answer(40014, 'bad params')
  const data = { ...empty }
  if (code !== undefined) {
    const user = state.redeem(code, appId)
    if (typeof user === 'string') return answer(40018, 'bad code')
    Object.assign(data, { session_key: user.sessionKey, openid: user.openid, unionid: user.unionid ?? '' })
  }
  if (anonymous !== undefined) {
    const issued = state.anonymousCodes.get(anonymous)
    if (issued === undefined || issued.used || issued.expires < Date.now() || issued.appId !== appId) return answer(40019, 'bad anonymous code')
    issued.used = true
    data.anonymous_openid = issued.openid
  }
  answer(0, 'success', data)
}

export const douyinEndpoints: readonly Endpoint[] = [
  { method: 'POST', path: '/api/apps/v2/jscode2session', handle: login }
]
