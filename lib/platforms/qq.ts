import type { RowData } from './platform.js'
import { OPENID_FIELDS, type Users } from './users.js'

/**
 * QQ mini programs: `qq.login()` -> `GET /sns/jscode2session` on QQ's origin, with the query,
 * answer and errcodes of the first platform's shape (the table builds the row with that platform's
 * factory). Documented facts relied on (q.qq.com, "code2Session"): the same parameters
 * (`appid`, `secret`, `js_code`, `grant_type=authorization_code`), the answer `openid`,
 * `session_key`, `unionid`, and `errcode` 40029 for an invalid code, 45011 for the rate limit.
 * Login only: this version calls none of QQ's access-token APIs.
 */

const NAMED = { title: 'QQ', loginCall: 'qq.login()' }

const users: Users = {
  platform: 'qq',
  ...NAMED,
  tag: 'qq',
  fields: OPENID_FIELDS,
  anonymous: false,
  gives: '{ openid, sessionKey, unionid? }',
  revokes: '{ openid, appId? }',
  noPhone: 'QQ has no phone-number-by-code API here: a QQ session has no phone route'
}

export const qq: RowData<'qq'> = {
  kind: 'qq',
  ...NAMED,
  origin: { key: 'qq', url: 'https://api.q.qq.com' },
  // qq.request's Referer: https://appservice.qq.com/{appid}/{version}/page-frame.html
  referer: 'appservice\\.qq\\.com',
  users,
  describes: 'a QQ mini program'
}
