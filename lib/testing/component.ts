import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { mockApp, type MockApp } from './apps.js'
import { parseJson } from './data.js'
import { sendErrcode, sendText, type Endpoint, type MockCall } from './server.js'
import type { MockState } from './state.js'

/** Third-party platforms hosting mini programs: `api_component_token` and `sns/component/jscode2session`. */

/** An Open Platform third-party platform that hosts mini programs. */
export interface MockComponent {
  readonly appId: string
  readonly appSecret: string
  /** The latest component_verify_ticket "pushed" to the platform. */
  verifyTicket (): string
  /** Pushes a new ticket and returns it; older ones keep working until `expireTickets()`. */
  pushTicket (): string
  /** Every ticket pushed so far expires: api_component_token answers 61005 for them. */
  expireTickets (): void
  /** Hosts one more mini program (authorized to this platform) and returns it. */
  host (appId: string): MockApp
  /** The hosted mini program's current authorizer_access_token (issued on first ask), for its phone numbers. */
  authorizerAccessToken (appId: string): string
  /** Every component token issued stops working (40001). */
  revokeTokens (): void
  /** Every component token issued expires now (42001). */
  expireTokens (): void
}

interface Platform { secret: string, tickets: Map<string, boolean> }

const ERRMSG: Record<number, string> = {
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40125: 'invalid appsecret',
  42001: 'access_token expired',
  47001: 'data format error',
  40029: 'invalid code',
  40163: 'code been used',
  61003: 'component is not authorized by this account',
  61005: 'component ticket is expired',
  61006: 'component ticket is invalid',
  61011: 'invalid component'
}
const error = (res: ServerResponse, errcode: number): void => { sendErrcode(res, errcode, ERRMSG[errcode] as string) }

/** Hosted mini programs: their platform's AppID, by AppID. */
const hosted = (state: MockState): Map<string, string> => state.kind<string>('component')
/** The platforms themselves (not mini programs): kept per mock. */
const platforms = new WeakMap<MockState, Map<string, Platform>>()
function platformsOf (state: MockState): Map<string, Platform> {
  let map = platforms.get(state)
  if (map === undefined) {
    map = new Map()
    platforms.set(state, map)
  }
  return map
}

export function addComponent (state: MockState, appId: string, appSecret = `mock-component-secret-${appId}-${randomBytes(8).toString('hex')}`): MockComponent {
  const all = platformsOf(state)
  if (all.has(appId)) throw new Error(`the mock already serves the platform ${appId}`)
  all.set(appId, { secret: appSecret, tickets: new Map() })
  state.secrets.add(appSecret)
  const platform = component(state, appId)
  platform.pushTicket()
  return platform
}

export function component (state: MockState, appId: string): MockComponent {
  const record = platformsOf(state).get(appId)
  if (record === undefined) throw new Error(`the mock serves no platform ${appId}; addComponent() it first`)
  const owner = `component\n${appId}`
  return {
    appId,
    appSecret: record.secret,
    verifyTicket: () => [...record.tickets.keys()].at(-1) as string,
    pushTicket: () => {
      const ticket = `ticket@@@${randomBytes(24).toString('base64url')}`
      state.secrets.add(ticket)
      record.tickets.set(ticket, false)
      return ticket
    },
    expireTickets: () => { for (const ticket of record.tickets.keys()) record.tickets.set(ticket, true) },
    host: (app) => {
      state.unused(app, 'component')
      hosted(state).set(app, appId)
      return mockApp(state, app)
    },
    authorizerAccessToken: (app) => {
      if (hosted(state).get(app) !== appId) throw new Error(`${app} is not hosted by ${appId}`)
      return state.issueToken(app).token
    },
    revokeTokens: () => { state.revokeTokens(owner) },
    expireTokens: () => { state.expireTokens(owner) }
  }
}

function componentToken (state: MockState, { body }: MockCall, res: ServerResponse): void {
  const request = parseJson(body)
  if (request === undefined) return error(res, 47001)
  const platform = typeof request.component_appid === 'string' ? platformsOf(state).get(request.component_appid) : undefined
  if (platform === undefined) return error(res, 61011)
  if (request.component_appsecret !== platform.secret) return error(res, 40125)
  const expired = typeof request.component_verify_ticket === 'string' ? platform.tickets.get(request.component_verify_ticket) : undefined
  if (expired === undefined) return error(res, 61006)
  if (expired) return error(res, 61005)
  const { token, expiresIn } = state.issueToken(`component\n${request.component_appid as string}`)
  sendText(res, 200, { component_access_token: token, expires_in: expiresIn })
}

function componentLogin (state: MockState, { query }: MockCall, res: ServerResponse): void {
  const owner = state.tokenOwner(query.component_access_token)
  if ('error' in owner) return error(res, owner.error === 'expired' ? 42001 : 40001)
  if (owner.appId !== `component\n${query.component_appid ?? ''}`) return error(res, 40001)
  if (query.appid === undefined || hosted(state).get(query.appid) !== query.component_appid) return error(res, 61003)
  if (query.grant_type !== 'authorization_code') return error(res, 40002)
  const user = state.redeem(query.js_code, query.appid)
  if (typeof user === 'string') return error(res, user === 'used' ? 40163 : 40029)
  const answer: Record<string, string> = { session_key: user.sessionKey, openid: user.openid }
  if (user.unionid !== undefined) answer.unionid = user.unionid
  sendText(res, 200, answer)
}

export const componentEndpoints: readonly Endpoint[] = [
  { method: 'POST', path: '/cgi-bin/component/api_component_token', handle: componentToken },
  { method: 'GET', path: '/sns/component/jscode2session', handle: componentLogin }
]
