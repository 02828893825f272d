import type { preValidationHookHandler } from 'fastify'
import { ValidationError } from './errors.js'
import { orList } from './names.js'
import { APP_ID_PATTERN } from './platforms/platform.js'
import { ROWS } from './platforms/index.js'
import { MAX_CODE_LENGTH } from './upstream/call.js'
import { DEVICE_PATTERN, MAX_DEVICE_LENGTH } from './revocation/index.js'

/** The routes' JSON schemas (for validation, serialization and OpenAPI) and the checks beside them. */

/**
 * The longest `encryptedData` accepted, in base64 characters: four times the largest a platform sends
 * (WeRun's 31 days of steps, about 2 KB). A cap, because a long ciphertext is what makes a timing
 * difference in its last block measurable.
 */
export const MAX_ENCRYPTED_DATA = 8 * 1024
/** `rawData` is the user-info JSON the runtime's user-info call signs: a few hundred bytes. */
export const MAX_RAW_DATA = 2 * 1024
/** Route bodies are small: a login code, or one blob of encrypted user data. */
export const LOGIN_BODY_LIMIT = 4 * 1024
export const DECRYPT_BODY_LIMIT = 12 * 1024

const BASE64 = '^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$'

const errorResponse = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' }
  }
} as const

/** Every platform's login call, from the table, for descriptions. */
const LOGIN_CALLS = orList([...new Set(ROWS.map((row) => row.loginCall))])

const code = { type: 'string', minLength: 1, maxLength: MAX_CODE_LENGTH, pattern: '^[\\x21-\\x7e]+$', description: `A fresh code from the platform's login call (${LOGIN_CALLS})` } as const

/** The platforms whose logins may be anonymous, for messages. */
export const ANONYMOUS = orList([...new Set(ROWS.filter((row) => row.users.anonymous).map((row) => row.title))])
/** The platforms whose sessions have phone numbers by a button's code, and those whose runtime gives a signed answer, for descriptions. */
const PHONE_BY_CODE = orList([...new Set(ROWS.filter((row) => row.users.noPhone === undefined && row.users.phoneField === undefined).map((row) => row.title))])
const PHONE_BY_RESPONSE = orList([...new Set(ROWS.filter((row) => row.users.noPhone === undefined && row.users.phoneField !== undefined).map((row) => row.title))])
/** Every field a login may answer about its user, from every platform's users. */
const WHO = Object.fromEntries(ROWS.flatMap((row) => row.users.fields).map((f) => [f.name, { type: 'string', description: f.describes }]))

export const loginSchema = {
  summary: 'Log in with a code from the platform\'s login call',
  description: 'Exchanges the code with the app\'s platform (its code-to-session API) and answers a sealed session token.',
  tags: ['weapp'],
  body: {
    type: 'object',
    properties: {
      code,
      anonymousCode: { ...code, description: `${ANONYMOUS} only: the login call's anonymousCode, instead of (or beside) code` },
      appId: { type: 'string', pattern: `^${APP_ID_PATTERN}$`, description: 'The mini program\'s AppID (from the runtime\'s account info); without it, the Referer\'s, or the one app configured' },
      device: {
        type: 'string',
        minLength: 1,
        maxLength: MAX_DEVICE_LENGTH,
        pattern: DEVICE_PATTERN,
        description: 'A label of the device or build in printable ASCII without quotes or backslashes, such as "wx:ios" (the client sends its runtime and the system\'s platform): sealed in the session, shown by listSessions, and the device type of oneSessionPer: \'device\''
      }
    }
  },
  response: {
    200: {
      type: 'object',
      required: ['session', 'expiresIn', 'appId'],
      properties: {
        session: { type: 'string', description: 'Send back as "Authorization: Bearer <session>"' },
        expiresIn: { type: 'integer', description: 'Seconds until the session expires' },
        appId: { type: 'string', description: 'The app the session is for' },
        ...WHO,
        anonymous: { type: 'boolean', description: `${ANONYMOUS}: a session of the anonymous openid (a login with only anonymousCode); no decrypt` },
        token: { type: 'string', description: 'With the jwt option: a JWS from the app\'s @fastify/jwt (sub = the user\'s id in the app)' }
      }
    },
    409: {
      type: 'object',
      description: 'onLogin asked for a link: the platform\'s user has no account in the app yet',
      properties: {
        ...errorResponse.properties,
        linkToken: { type: 'string', description: 'For the app\'s own link route (fastify.weapp.redeemLink), once it knows who the user is' },
        expiresIn: { type: 'integer', description: 'Seconds the link token may be redeemed in' }
      }
    },
    '4xx': errorResponse,
    '5xx': errorResponse
  }
} as const

export const decryptSchema = {
  summary: 'Decrypt encryptedData from the mini program',
  description: 'Decrypts encryptedData + iv with the session_key the bearer session holds (or, with code, a fresh one).',
  tags: ['weapp'],
  body: {
    type: 'object',
    required: ['encryptedData', 'iv'],
    properties: {
      encryptedData: { type: 'string', minLength: 24, maxLength: MAX_ENCRYPTED_DATA, pattern: BASE64 },
      iv: { type: 'string', pattern: '^[A-Za-z0-9+/]{22}==$' },
      rawData: { type: 'string', maxLength: MAX_RAW_DATA, description: 'With signature: the rawData of the runtime\'s user-info call, checked against it' },
      signature: { type: 'string', pattern: '^[0-9a-fA-F]{40}$', description: 'With rawData: sha1(rawData + session_key) in hex' },
      code
    }
    // rawData and signature come together: checked by the route, since OpenAPI 3.0 has no
    // `dependencies` keyword and a generated document with it is invalid.
  },
  response: {
    200: {
      type: 'object',
      required: ['data'],
      properties: {
        // Untyped on purpose: serialized with one JSON.stringify, not field by field (a third of
        // the route's own CPU in the bench). The route only ever puts a decrypted JSON object here.
        data: { description: 'The decrypted JSON object, watermark included' },
        session: { type: 'string' },
        expiresIn: { type: 'integer' }
      }
    },
    '4xx': errorResponse,
    '5xx': errorResponse
  }
} as const

/** The longest signed answer a runtime gives for the phone route (a phone call's `response`). */
export const MAX_PHONE_RESPONSE = 3072

export const phoneSchema = {
  summary: 'Get the user\'s phone number from a getPhoneNumber button\'s code, or the signed answer of the runtime\'s phone-number call',
  description: `${PHONE_BY_CODE}: exchanges the code from <button open-type="getPhoneNumber"> through the platform's phone-number API, bound to the session's openid. ${PHONE_BY_RESPONSE}: the runtime hands over a signed answer instead (the response of its phone-number call); send it as response: its signature is verified and it is decrypted with the app's content key.`,
  tags: ['weapp'],
  body: {
    type: 'object',
    // code, or (for the platforms whose runtime hands over a signed answer) response: checked by the route, which says which the session needs.
    properties: {
      code: { ...code, description: `${PHONE_BY_CODE}: the code from the getPhoneNumber button` },
      response: { type: 'string', minLength: 1, maxLength: MAX_PHONE_RESPONSE, description: `${PHONE_BY_RESPONSE}, instead of code: the response string its phone-number call gave, as is` }
    }
  },
  response: {
    200: {
      type: 'object',
      required: ['phone'],
      properties: {
        phone: {
          type: 'object',
          required: ['phoneNumber', 'purePhoneNumber', 'countryCode'],
          properties: {
            phoneNumber: { type: 'string', description: 'With the country code outside mainland China' },
            purePhoneNumber: { type: 'string' },
            countryCode: { type: 'string' }
          }
        }
      }
    },
    '4xx': errorResponse,
    '5xx': errorResponse
  }
} as const

export const logoutSchema = {
  summary: 'Log out: end this session and its renewals on every instance',
  description: 'With the revocation option. The session answers 401 WEAPP_SESSION_REVOKED from then on.',
  tags: ['weapp'],
  response: {
    204: { type: 'null', description: 'Logged out' },
    '4xx': errorResponse,
    '5xx': errorResponse
  }
} as const

/**
 * Fastify's Ajv coerces types (`{ "code": 42 }` would pass as `"42"` and reach the platform). This runs
 * before validation and refuses a top-level field whose JSON type is not the declared one.
 */
export function exactTypes (schema: { properties: Record<string, { type: string }> }): preValidationHookHandler {
  const fields = Object.entries(schema.properties).map(([name, s]) => [name, s.type] as const)
  // A callback hook, not an async one: it runs on every request and never waits for anything.
  return function exactTypesHook (request, _reply, done) {
    const body = request.body
    if (body !== null && typeof body === 'object') { // otherwise Ajv reports it
      for (const [name, type] of fields) {
        const value = (body as Record<string, unknown>)[name]
        // The declared type is a schema's 'string' (each field's own), compared as a value.
        const actual: string = typeof value
        if (value !== undefined && actual !== type) {
          done(validation(`body/${name} must be ${type}`))
          return
        }
      }
    }
    done()
  }
}

/** A request-shape error the schema cannot express, in Fastify's own shape. */
export function validation (message: string): Error {
  return Object.assign(new ValidationError(message), { validationContext: 'body' })
}

/** The login route's schema with the answer's `user` (what onLogin answers) declared by `userSchema`. */
export function loginSchemaWith (user: Readonly<Record<string, unknown>>): typeof loginSchema {
  const ok = loginSchema.response[200]
  const described = { description: 'What the app\'s onLogin answered about its user', ...user }
  return { ...loginSchema, response: { ...loginSchema.response, 200: { ...ok, properties: { ...ok.properties, user: described } } } } as typeof loginSchema
}
