import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { mockApp, type MockApp } from './apps.js'
import { parseJson } from './data.js'
import { sendJson, type Endpoint, type MockCall } from './server.js'
import type { MockState } from './state.js'

/**
 * Feishu (Lark) mini programs of one tenant: `auth/v3/app_access_token/internal` and
 * `mina/v2/tokenLoginValidate` (with `Authorization: Bearer <app_access_token>`), JSON labelled as
 * such, `{ code, msg }` on every answer. Users are the tenant's members: where a method takes an
 * `openid`, give the member's open_id.
 */
export interface MockFeishuApp extends Omit<MockApp, 'encrypt' | 'signedRawData' | 'phoneCode' | 'anonymousCode'> {
  /** The tenant the members belong to. */
  readonly tenantKey: string
  /** Gives this member a user ID in the tenant, which logins answer as employee_id from then on. */
  employee (openid: string, employeeId: string): void
  /** Every app_access_token issued for this app stops working (99991663). */
  revokeTokens (): void
}

interface FeishuRecord { appSecret: string, tenantKey: string, employees: Map<string, string> }
const KIND = 'feishu'
const apps = (state: MockState): Map<string, FeishuRecord> => state.kind<FeishuRecord>(KIND)
const owner = (appId: string): string => `feishu\n${appId}`

export function addFeishuApp (state: MockState, appId: string, { appSecret = `mock-feishu-secret-${randomBytes(8).toString('hex')}`, tenantKey = `tenant-${randomBytes(6).toString('hex')}` }: { appSecret?: string, tenantKey?: string } = {}): MockFeishuApp {
  state.unused(appId, KIND)
  apps(state).set(appId, { appSecret, tenantKey, employees: new Map() })
  state.secrets.add(appSecret)
  return feishuApp(state, appId)
}

export function feishuApp (state: MockState, appId: string): MockFeishuApp {
  const record = apps(state).get(appId)
  if (record === undefined) throw new Error(`the mock serves no Feishu app ${appId}; addFeishuApp() it first`)
  const { encrypt: _e, signedRawData: _s, phoneCode: _p, anonymousCode: _a, ...app } = mockApp(state, appId)
  return {
    ...app,
    appSecret: record.appSecret,
    tenantKey: record.tenantKey,
    employee: (openid, employeeId) => { record.employees.set(openid, employeeId) },
    revokeTokens: () => { state.revokeTokens(owner(appId)) }
  }
}

function token (state: MockState, { body }: MockCall, res: ServerResponse): void {
  const request = parseJson(body) ?? {}
  const appId = typeof request.app_id === 'string' ? request.app_id : ''
  const record = apps(state).get(appId)
  if (record === undefined) return sendJson(res, { code: 10003, msg: 'invalid param' })
  if (request.app_secret !== record.appSecret) return sendJson(res, { code: 10014, msg: 'app secret invalid' })
  const { token: issued, expiresIn } = state.issueToken(owner(appId))
  sendJson(res, { code: 0, msg: 'ok', app_access_token: issued, expire: expiresIn, tenant_access_token: issued })
}

function login (state: MockState, { headers, body }: MockCall, res: ServerResponse): void {
  const bearer = /^Bearer (\S+)$/.exec(headers.authorization ?? '')?.[1]
  const tokenOwner = state.tokenOwner(bearer)
  if ('error' in tokenOwner || !tokenOwner.appId.startsWith(owner(''))) return sendJson(res, { code: 10202, msg: 'access token invalid' })
  const appId = tokenOwner.appId.slice(owner('').length)
  const record = apps(state).get(appId) as FeishuRecord
  const code = parseJson(body)?.code
  const user = state.redeem(typeof code === 'string' ? code : undefined, appId)
  if (typeof user === 'string') return sendJson(res, { code: 10213, msg: 'code appid not match' })
  const refresh = randomBytes(12).toString('hex')
  const access = `u-${randomBytes(12).toString('hex')}`
  state.secrets.add(refresh)
  state.secrets.add(access)
  const data: Record<string, unknown> = {
    open_id: user.openid,
    union_id: `on_${user.openid}`,
    session_key: randomBytes(15).toString('hex'),
    tenant_key: record.tenantKey,
    access_token: access,
    expires_in: Math.floor(Date.now() / 1000) + 7200,
    refresh_token: refresh
  }
  state.secrets.add(data.session_key as string)
  const employeeId = record.employees.get(user.openid)
  if (employeeId !== undefined) data.employee_id = employeeId
  sendJson(res, { code: 0, msg: 'success', data })
}

export const feishuEndpoints: readonly Endpoint[] = [
  { method: 'POST', path: '/open-apis/auth/v3/app_access_token/internal', handle: token },
  { method: 'POST', path: '/open-apis/mina/v2/tokenLoginValidate', handle: login }
]
