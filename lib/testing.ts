/**
 * `fastify-weapp/testing`: a mock of the platforms' server APIs on loopback, for tests and local
 * development. It answers as each platform does (errors and content types included), issues
 * single-use login codes for identities you choose, encrypts user data the way the platforms do,
 * and can be told to fail. A facade over lib/testing/: the server (faults, call log, connection
 * counter), its state, one module per platform with its endpoints, the endpoint table, `createWx`.
 */
export * from './testing/endpoints.js'
export type { MockFault, MockCall } from './testing/server.js'
export type { MockPhone, MockUser } from './testing/state.js'
export type { MockApp } from './testing/apps.js'
export type { MockWx } from './testing/wx.js'
export { encryptUserData, randomSessionKey, signRawData, type EncryptedUserData } from './testing/data.js'
export type { MockSecurityFault } from './testing/server.js'
