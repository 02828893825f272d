/**
 * `fastify-weapp-client`: the mini-program side of fastify-weapp's login, with no dependencies and
 * ES2017 code only (no later syntax or built-ins: older mini-program engines and bundlers that do
 * not transpile node_modules run it as is). It runs in a mini program (the global `wx`), under
 * Taro and uni-app (their `wx`-shaped API objects, promise-returning or callback-only), and in Node
 * (an injected `wx`, such as `createWx` from `fastify-weapp/testing`). It makes the flow hard to
 * get wrong:
 *
 * - one login in flight at a time, whatever the number of callers;
 * - the session restored from storage on start;
 * - an expired or refused session renewed once, transparently; one a later login elsewhere ended
 *   (`WeappSessionKickedError`) dropped and never renewed behind the user's back;
 * - `ensureSession()` before asking the platform for encrypted data, so that the session the server
 *   holds carries the key the platform encrypts with; `decrypt()` never calls the login call before its first
 *   attempt, and heals a rotated key with one fresh code;
 * - JSON bodies only (a form body turns base64's `+` into a space);
 * - the session goes to `baseUrl`'s origin and nowhere else.
 */

export type { WxLike, WeappClientOptions, WeappRequestOptions, WeappLogin, WeappClient, WeappAdopted } from './types.js'
export type * from './runtimes/index.js'
export { WeappClientError, WeappLinkRequiredError, WeappSessionKickedError } from './transport.js'
export { createWeappClient } from './client.js'
