import { readdirSync } from 'node:fs'
import { basename } from 'node:path'

// The mutants of npm run mutate: each is one plausible bug, written as the exact text it changes.
// `equivalent`, where present, says why a survivor is not a missing test.

/**
 * Every test file, by its name: the test/ tree less its fixtures. A test is named by its file name
 * alone (`t('users')`), wherever in test/ it lives, so a test that moves between folders moves
 * nothing here.
 */
const testPaths = readdirSync(new URL('../test/', import.meta.url), { recursive: true, encoding: 'utf8' })
  .map((path) => path.split('\\').join('/'))
  .filter((path) => path.endsWith('.test.ts') && !path.startsWith('fixtures/'))
  .map((path) => `test/${path}`)
const byName = new Map(testPaths.map((path) => [basename(path, '.test.ts'), path]))

/** The test files of these names (a name that matches no file is a mistake here: it throws). */
function t (...names) {
  return names.map((name) => {
    const path = byName.get(name)
    if (path === undefined) throw new Error(`scripts/mutants.js: no test file test/**/${name}.test.ts`)
    return path
  })
}

/**
 * The families: a folder of the sources and the folder of tests that judges it. A mutant in
 * lib/revocation/** is judged by every test in test/revocation/**, whatever its name, so a test
 * added there counts the day it lands; `also` lists the few tests of other folders the family
 * truly needs (the routes and the client that drive it).
 */
const families = [
  // (test/instances.test.ts runs the built dist: not in a scratch copy)
  { name: 'revocation', sources: /^lib\/revocation\//, also: t('users', 'client-devices', 'seeded-bugs') },
  {
    name: 'platforms',
    sources: /^lib\/platforms\//,
    also: t('app-kinds', 'mock-kinds', 'login', 'concurrency', 'secrets', 'errors', 'phone', 'options', 'keys', 'apps', 'seeded-bugs', 'revocation-store')
  },
  {
    name: 'session',
    sources: /^lib\/(session|fast-unseal|memo)\.ts$/,
    also: t('users', 'link-fleet', 'session-ends', 'session-keys', 'authenticate', 'properties', 'secrets', 'revocation', 'platforms', 'qq', 'douyin')
  },
  { name: 'client', sources: /^client\/src\//, also: t('platforms') }
]
/** The tests of a family's folder (none is a mistake here: it throws). */
function family (name) {
  const tests = testPaths.filter((path) => path.startsWith(`test/${name}/`))
  if (tests.length === 0) throw new Error(`scripts/mutants.js: no test in test/${name}/`)
  return tests
}

// The tests of files that belong to no family, by what they touch (and a few a family's file needs beyond its folder).
const sessionTests = [...family('session'), ...t('authenticate', 'properties', 'secrets')]
const decryptTests = t('user-data', 'decrypt', 'padding-oracle', 'properties', 'secrets')
const upstreamTests = t('wechat', 'login', 'concurrency', 'secrets', 'errors')
const kindTests = t('app-kinds', 'mock-kinds', 'wecom', 'component')
const revocationTests = t('revocation', 'revocation-redis')
const platformTests = t('platforms', 'qq', 'douyin')
const routeTests = [...revocationTests, ...platformTests, ...t('app-kinds', 'apps', 'decrypt', 'login', 'phone', 'jwt', 'padding-oracle', 'openapi', 'secrets', 'one-session-one-string')]
const tokenTests = t('phone', 'access-token', 'check-session', 'secrets')
const optionTests = t('options', 'keys', 'login')
const userTests = t('users', 'link-fleet')
const deviceTests = t('devices', 'devices-index', 'client-devices')
const conformance = t('conformance')
const pluginTests = [...userTests, ...optionTests, ...t('authenticate'), ...kindTests, ...revocationTests, ...platformTests, ...conformance, ...t('session-ends', 'revocation-store', 'edges', 'seeded-bugs', 'jwt')]

/**
 * The tests a file's mutants are judged by beyond its family's, from its path alone (a new file
 * under a folder is covered the day it lands).
 */
const rules = [
  [/^lib\/hooks\.ts$/, userTests],
  [/^lib\/base64\.ts$/, [...sessionTests, ...decryptTests]],
  [/^lib\/user-data\.ts$/, decryptTests],
  [/^lib\/random\.ts$/, t('random', 'seal-differential')],
  [/^lib\/(errors|upstream\/(call|faults|single-flight))\.ts$/, [...upstreamTests, ...conformance]],
  [/^lib\/upstream\/http\.ts$/, [...upstreamTests, ...t('pool', 'fairness')]],
  [/^lib\/upstream\/tokens\.ts$/, tokenTests],
  [/^lib\/platforms\/users\.ts$/, [...sessionTests, ...kindTests, ...t('users', 'revocation', 'jwt')]],
  [/^lib\/(routes|schemas|failure-budget)\.ts$/, [...userTests, ...routeTests, ...deviceTests, ...t('abuse', 'session-ends', 'fairness'), ...conformance]],
  [/^lib\/apps\.ts$/, [...t('apps', 'login', 'options'), ...kindTests, ...platformTests, ...t('edges', 'seeded-bugs', 'fairness')]],
  [/^lib\/names\.ts$/, t('edges', 'options')],
  [/^lib\/(keys|options)\.ts$/, [...optionTests, ...t('edges', 'abuse')]],
  [/^lib\/(index|authenticate|app-api|ending)\.ts$/, [...pluginTests, ...deviceTests, ...t('session-keys', 'revocation-faults')]],
  [/^lib\/user-keys\.ts$/, t('session-keys')],
  [/^lib\/platforms\/wechat-api(-security)?\.ts$/, t('session-keys')],
  [/^lib\/once\.ts$/, t('alipay', 'api-security')],
  [/^lib\/testing(\.ts|\/)/, [...t('testing', 'mock-kinds'), ...conformance]],
  [/^lib\/(errors|session|index|authenticate|app-api|ending|routes)\.ts$/, t('session-messages')],
  [/^lib\/(errors|session|routes|schemas|user-keys|user-data|app-api|authenticate)\.ts$/, t('session-refusals')],
  [/^(lib|client\/src)\//, t('layout')]
]

/**
 * The test files a mutant is judged by: its family's folder and the tests it needs beyond it, the
 * rules its path matches, and, for a file of no family, every test file named after it (lib/once.ts:
 * once.test.ts and once-*.test.ts, in any folder of test/).
 */
export function testsFor (mutant) {
  const stem = basename(mutant.file, '.ts')
  const of = families.filter(({ sources }) => sources.test(mutant.file))
  const named = of.length !== 0 || stem === 'index' ? [] : testPaths.filter((path) => basename(path) === `${stem}.test.ts` || basename(path).startsWith(`${stem}-`))
  const tests = [...of.flatMap(({ name, also }) => [...family(name), ...also]), ...rules.filter(([path]) => path.test(mutant.file)).flatMap(([, files]) => files), ...named]
  if (tests.length === 0) throw new Error(`${mutant.id}: no family or path rule gives tests for ${mutant.file}`)
  return [...new Set(tests)]
}

const m = (id, file, bug, find, replace, equivalent) => ({ id, file, bug, find, replace, ...(equivalent === undefined ? {} : { equivalent }) })

export const mutants = [
  // Your users: onLogin, claims, link tokens, onRenew
  m('hook-identity-key', 'lib/routes.ts', 'onLogin is told the session_key', 'Object.freeze({ platform: app.platform.users.platform, appId, ...who })', 'Object.freeze({ platform: app.platform.users.platform, appId, ...identity })'),
  m('hook-refuse-ignored', 'lib/routes.ts', 'a refused user gets a session', "if (outcome.kind === 'refuse') throw new LoginRefusedError(outcome.message)", ''),
  m('hook-cause-sent', 'lib/hooks.ts', 'what the hook threw reaches the reply', "`${hook} threw; ${UNDONE[hook]} (the server's log has its error)`", '`${hook} threw: ${String((err as Error).message)}`'),
  m('hook-decision-unchecked', 'lib/hooks.ts', 'a refusal beside claims is taken as claims', "throw new HookFailedError(`onLogin returned { ${keys.join(', ')} }", "if (keys.length > 99) throw new HookFailedError(`onLogin returned { ${keys.join(', ')} }"),
  m('claims-bound', 'lib/session.ts', 'claims of any size are sealed', 'if (bytes > MAX_CLAIMS_BYTES) {', 'if (false) {'),
  m('claims-plain', 'lib/session.ts', 'claims that are not an object are sealed', 'if (!isPlainObject(claims)) throw new TypeError(`${who}: claims', 'if (false) throw new TypeError(`${who}: claims'),
  m('claims-unsealed-shape', 'lib/session.ts', 'a token whose claims are not an object is a session', 'if (cl !== undefined && !isPlainObject(cl)) throw', 'if (false) throw'),
  m('claims-frozen', 'lib/session.ts', "a handler's change to claims changes the memo's", 'opened.claims = cl === undefined ? NO_CLAIMS : deepFreeze(cl)', 'opened.claims = cl === undefined ? NO_CLAIMS : cl'),
  m('claims-renewal-dropped', 'lib/authenticate.ts', 'a renewal drops the claims', 'sessions.seal(users.identityOf(session), session.appId, sameLogin(session, maxAge, now), sessionClaims(session))', 'sessions.seal(users.identityOf(session), session.appId, sameLogin(session, maxAge, now))'),
  m('claims-heal-dropped', 'lib/routes.ts', "the decrypt route's heal drops the claims", 'sessions.seal(fresh, app.appId, id, claims)', 'sessions.seal(fresh, app.appId, id)'),
  m('link-as-session', 'lib/session.ts', 'a link token opens as a session', "if (use !== undefined) throw refuseSession('invalid'", "if (false) throw refuseSession('invalid'"),
  m('session-as-link', 'lib/session.ts', 'a session redeems as a link token', 'if (payload.use !== LINK) throw new LinkInvalidError', 'if (false) throw new LinkInvalidError'),
  m('link-expired-code', 'lib/session.ts', 'an expired link token is reported as invalid', "if (err instanceof SessionExpiredError) throw refuseSession('linkExpired', platformNamed(err))", ''),
  m('link-reusable', 'lib/app-api.ts', 'a link token redeems again with revocation on', "if (revocations !== undefined && !(await revocations.consume(link.jti, link.expiresAt))) throw refuseSession('linkRedeemed', users.ofPlatform(link.platform))", ''),
  m('link-race-memory', 'lib/revocation/memory.ts', 'consume stores what was already there', 'if (once !== undefined && known.sessions.has(once)) return false', ''),
  m('link-race-redis', 'lib/revocation/redis.ts', "Redis's consume is not atomic: two instances redeem one link", "if ARGV[6] == '1' and redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end\n", ''),
  m('link-json-key', 'lib/app-api.ts', "the redeemed identity's JSON shows the session_key", "Object.defineProperty(identity, 'toJSON',", "Object.defineProperty({}, 'toJSON',"),
  m('link-other-app', 'lib/app-api.ts', "a link token's identity seals for another app", 'if (from !== undefined && from !== app.appId) {', 'if (false) {'),
  m('renew-asked-needlessly', 'lib/authenticate.ts', 'onRenew is asked for a session no renewal can outlast', 'if (onRenew !== undefined && renewedExp(session, Date.now()) !== undefined) {', 'if (onRenew !== undefined) {'),
  m('renew-end-ignored', 'lib/authenticate.ts', 'onRenew cannot end a session', "if (outcome.kind === 'end') {", 'if (false) {'),
  m('renew-end-not-revoked', 'lib/authenticate.ts', 'an ended session renews again once onRenew changes its mind', 'await revocations?.revokeSession(session).catch(', 'await Promise.resolve().catch('),
  m('renew-claims-late', 'lib/authenticate.ts', "onRenew's claims reach the renewal but not this request", 'if (outcome.replaced) session = ', 'if (outcome.replaced) void '),
  m('jwt-claims-all', 'lib/routes.ts', 'the JWS carries every claim, not the named ones', '  if (names === true) return claims\n', '  return claims\n'),
  // Sessions
  m('session-length-cap', 'lib/session.ts', 'unseal without its length cap', "typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {\n      throw refuseSession('invalid'", "typeof token !== 'string' || token.length === 0) {\n      throw refuseSession('invalid'"),
  m('seal-bound', 'lib/session.ts', 'seal issues tokens unseal refuses', 'if (own > MAX_IDENTITY_TOKEN_LENGTH) throw new IdentityTooLargeError(own)', ''),
  m('session-canonical', 'lib/session.ts', 'non-canonical spellings of a token open it', 'if (!isCanonicalJwe(token)) {', 'if (false) {'),
  m('memo-exp', 'lib/session.ts', 'a memo hit skips the exp check', 'if (known.expiresAt <= Math.floor(Date.now() / 1000) * 1000) {', 'if (false) {'),
  m('memo-admit-first', 'lib/session.ts', 'a session used once takes a memo entry (a flood of them evicts returning clients)', '(doorkeeper as Doorkeeper).seen(token)', 'true'),
  m('doorkeeper-forgets', 'lib/memo.ts', 'the doorkeeper never remembers a key (nothing is ever memoized)', '    this.#slots[slot] = fingerprint\n', ''),
  m('memo-copy', 'lib/session.ts', 'a memo hit returns the shared object', 'return { ...known }', 'return known as WeappSession'),
  m('expired-code', 'lib/session.ts', 'an expired token is reported as invalid', "if ((err as { code?: unknown }).code === 'ERR_JWT_EXPIRED') throw refuseSession('expired', usersOfPayload((err as { payload: JWTPayload }).payload))", ''),
  m('jose-cause', 'lib/session.ts', "jose's error (with the decrypted payload) kept as the cause", "throw refuseSession('invalid', undefined, { cause: safeCause(err, []) })", "throw refuseSession('invalid', undefined, { cause: err as Error })"),
  m('jose-audience', 'lib/session.ts', 'jose without the audience check', '...(audience === undefined ? {} : { audience: [...audience] }),', ''),
  m('jose-enc', 'lib/session.ts', 'jose accepts any content encryption', "contentEncryptionAlgorithms: ['A256GCM'],", ''),
  m('jose-alg', 'lib/session.ts', 'jose accepts any key management', "keyManagementAlgorithms: ['dir'],", '',
    'the codec refuses any token whose encrypted-key segment is not empty before jose sees it, and of the algorithms with an empty one only dir works with a symmetric key: jose never meets another alg (session.test.ts checks that A256KW and A256GCMKW tokens under the right key are refused)'),
  m('jose-zip', 'lib/session.ts', 'jose inflates compressed tokens', 'maxDecompressedLength: 0,', ''),
  m('jose-claims', 'lib/session.ts', 'no claims required', "requiredClaims: ['exp', 'iat', 'sub', 'aud']", 'requiredClaims: []'),
  m('session-sk', 'lib/platforms/users.ts', 'a token without a session_key is a session', '(keyBytesOf(u) === 0 ? sk !== undefined : !isSessionKey(sk, keyBytesOf(u)))', '(keyBytesOf(u) === 0 ? sk !== undefined : false)'),
  m('fast-aud', 'lib/fast-unseal.ts', 'the fast path ignores aud', '(apps !== undefined && !apps.has(aud)) || ', ''),
  m('session-aud-list', 'lib/platforms/users.ts', 'a session names an audience list', 'typeof exp !== \'number\' || !isId(aud) ||', 'typeof exp !== \'number\' ||'),
  m('fast-exp', 'lib/fast-unseal.ts', 'the fast path ignores exp', "!Object.hasOwn(claims, 'sub') || exp <= now) {", "!Object.hasOwn(claims, 'sub')) {"),
  m('fast-nbf', 'lib/fast-unseal.ts', 'the fast path ignores nbf', "typeof exp !== 'number' || nbf !== undefined ||", "typeof exp !== 'number' ||"),
  m('fast-sub', 'lib/fast-unseal.ts', 'the fast path does not require sub', "!Object.hasOwn(claims, 'sub') || exp", 'exp'),
  m('fast-utf8', 'lib/fast-unseal.ts', 'the fast path decodes invalid UTF-8 leniently', 'if (!isUtf8(plain)) return undefined // jose decodes strictly', ''),
  m('fast-base64', 'lib/fast-unseal.ts', 'the fast path decodes any base64', 'if (!isBase64url(iv) || !isBase64url(tag) || !isBase64url(ciphertext)) return undefined', '',
    'the codec refuses non-canonical tokens before the fast path; a direct fast-path test covers a stray character only where Buffer would read it the same'),
  m('fast-tag', 'lib/fast-unseal.ts', 'the fast path never checks the GCM tag', 'decipher.final() //', '//'),
  m('fast-aad', 'lib/fast-unseal.ts', 'the fast path does not authenticate the header', 'decipher.setAAD(known.aad)', ''),
  m('b64-bits', 'lib/base64.ts', 'stray low bits accepted', 'return (last & (rest === 2 ? 0x0f : 0x03)) === 0', 'return true'),
  m('b64-length', 'lib/base64.ts', 'an impossible base64 length accepted', 'if (rest === 1) return false', ''),
  // User data
  m('pkcs7-fill', 'lib/user-data.ts', 'PKCS#7 fill bytes never checked', 'bad |= inPadding & differs', 'bad |= 0'),
  m('pkcs7-range', 'lib/user-data.ts', 'a padding byte of 0 or over 16 accepted', 'let bad = ((pad - 1) | (blockSize - pad)) >>> 31', 'let bad = 0'),
  m('padding-early-exit', 'lib/user-data.ts', 'bad padding returns early (a timing oracle)', 'const valid = paddingValid(plain)\n', "const valid = paddingValid(plain)\n  if (valid !== 1) throw failed('bad padding')\n"),
  m('watermark-appid', 'lib/user-data.ts', "another app's watermark accepted", "if (marked && appid !== options.appId) throw failed('watermark of another appid')", ''),
  m('watermark-future', 'lib/user-data.ts', 'a future watermark is fresh', '&& age >= -WATERMARK_SKEW', ''),
  m('watermark-stale', 'lib/user-data.ts', 'a stale watermark is fresh', 'fresh = age <= options.watermarkMaxAge && ', 'fresh = '),
  m('key-length', 'lib/user-data.ts', 'a session_key of another length reaches AES', 'if (length === 0 ? bytes.length % 16 !== 0 : bytes.length !== length) return undefined', 'if (length === 0 && bytes.length % 16 !== 0) return undefined'),
  m('data-canonical', 'lib/user-data.ts', 'non-canonical base64 decrypts', "if (typeof text !== 'string' || text === '' || !isBase64(text)) return undefined", "if (typeof text !== 'string' || text === '') return undefined"),
  m('signature', 'lib/user-data.ts', 'any signature matches', "return timingSafeEqual(expected, Buffer.from(signature, 'hex'))", 'return expected.length > 0'),
  // The upstream client
  m('redirect', 'lib/upstream/call.ts', 'a redirect answer read as an answer', 'response.status > 299) throw httpStatus', 'response.status > 399) throw httpStatus'),
  m('body-cap', 'lib/upstream/http.ts', 'a body of any size read', 'maxResponseSize: MAX_ANSWER_BYTES', 'maxResponseSize: -1'),
  m('network-message', 'lib/upstream/call.ts', 'a network error\'s message copied into the reply', 'throw unreachable(named, safeCause(err, secrets))', 'throw new UpstreamError(`Could not reach the ${named.title} API: ${String((err as Error).message)}`, { cause: safeCause(err, secrets) })'),
  m('network-cause', 'lib/upstream/call.ts', 'the raw network error (with the URL) as the cause', 'throw unreachable(named, safeCause(err, secrets))', 'throw unreachable(named, err as Error)'),
  m('used-code', 'lib/platforms/wechat-api.ts', 'a used code is a 502', 'invalidCode: [40029, 40163],', 'invalidCode: [40029],'),
  m('rate-limit', 'lib/platforms/wechat-api.ts', '45011 is a 502', 'rateLimited: [45011],', 'rateLimited: [45012],'),
  m('risky', 'lib/platforms/wechat-api.ts', '40226 is a 502', 'risky: [40226],', 'risky: [40227],'),
  m('single-flight', 'lib/upstream/call.ts', 'identical codes each reach WeChat', 'shared(code, () => exchange(code))', 'exchange(code)'),
  m('timeout-504', 'lib/upstream/call.ts', 'a timeout is a 502', 'if (err instanceof CallTimeoutError) throw timedOut(named, timeout)', ''),
  m('timer-in-flight', 'lib/upstream/http.ts', 'a call in flight past its timeout is not aborted (its socket and slot held)', 'else this.#controller?.abort(this.#reason)', 'else void this.#reason'),
  m('timer-waiting', 'lib/upstream/http.ts', 'a call that timed out waiting for a slot is still sent later', 'if (this.dequeue !== undefined) this.dequeue()', 'if (false) this.dequeue()'),
  m('timer-before-start', 'lib/upstream/http.ts', 'a call that timed out before undici started it is sent anyway', 'if (this.#reason !== undefined) controller.abort(this.#reason)', ''),
  m('timer-never', 'lib/upstream/http.ts', 'a call has no timeout', 'setTimeout(() => { this.#timedOut(timeout) }, timeout)', 'setTimeout(() => {}, timeout)'),
  m('answer-bom', 'lib/upstream/http.ts', 'a byte-order mark kept at the start of an answer', 'text.charCodeAt(0) === 0xfeff ? text.slice(1) : text', 'text'),
  m('answer-chunks', 'lib/upstream/http.ts', 'an answer in several chunks read as its first', 'this.#chunks.length === 1 ? this.#chunks[0] as Buffer : Buffer.concat(this.#chunks)', 'this.#chunks[0] ?? Buffer.alloc(0)'),
  m('slot-kept-on-error', 'lib/upstream/http.ts', 'a call that failed keeps its slot', 'else this.#settle(err)\n    this.#over(tooBig)', 'else this.#settle(err)'),
  m('unseal-now-revoked', 'lib/authenticate.ts', 'a revoked session that opened at once is accepted', 'return opened instanceof Promise ? opened.then(notEnded) : notEnded(opened)', 'return opened instanceof Promise ? opened.then(notEnded) : opened'),
  m('http-status', 'lib/upstream/call.ts', 'HTTP errors read as answers', 'if (response.status < 200 || response.status > 299) throw httpStatus(named, response.status)', ''),
  m('upstream-sk', 'lib/platforms/wechat.ts', 'an answer without a usable session_key accepted', 'typeof openid !== \'string\' || openid === \'\' || !isSessionKey(sessionKey) ||', 'typeof openid !== \'string\' || openid === \'\' ||'),
  m('errcode-minus-one', 'lib/upstream/call.ts', 'errcode -1 read as success', 'if (code === undefined ? errors.required : code !== errors.success) {', 'if (code === undefined ? errors.required : code !== errors.success && code !== -1) {'),
  m('scrub-list', 'lib/platforms/wechat.ts', 'nothing scrubbed from causes', 'secrets: [appSecret, code], errors, http', 'secrets: [], errors, http'),
  m('scrub', 'lib/errors.ts', 'safeCause keeps secrets', "if (spelling !== '') text = text.split(spelling).join('[redacted]')", ''),
  m('scrub-spellings', 'lib/errors.ts', 'safeCause scrubs a secret only as it is, not as a URL spells it', 'new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)])', 'new Set([secret])'),
  // Routes
  m('budget-check', 'lib/routes.ts', 'no budget of failed decrypts', 'const wait = failures === undefined ? 0 : failures.blockedFor(user)', 'const wait = 0'),
  m('budget-count', 'lib/routes.ts', 'failed decrypts not counted', 'failures?.fail(user)', ''),
  m('budget-per-app', 'lib/routes.ts', 'the budget counts an openid across apps', 'const user = JSON.stringify([current.appId, users.userOf(who, current)])', 'const user = users.userOf(who, current)'),
  m('phone-app', 'lib/routes.ts', 'the phone route uses the login app, not the session\'s', '    const app = await registry.get(current.appId)\n    const budget', '    const app = await registry.get(registry.audience?.[0] ?? current.appId)\n    const budget'),
  m('decrypt-watermark-app', 'lib/routes.ts', "decrypt checks the first app's watermark, not the session's", '(sessionKey, encryptedData, iv, { appId: current.appId, watermarkMaxAge })', '(sessionKey, encryptedData, iv, { appId: registry.audience?.[0] ?? current.appId, watermarkMaxAge })'),
  m('login-app', 'lib/routes.ts', 'the Referer is ignored', 'const appId = body.appId ?? (referer === undefined ? undefined : REFERER.exec(referer)?.[1])', 'const appId = body.appId'),
  m('lookup-cache', 'lib/apps.ts', 'every login looks the app up again', 'known !== undefined && known.until > now() ? known.app', 'known !== undefined && known.until < 0 ? known.app'),
  m('lookup-validate', 'lib/apps.ts', 'a lookup answer for another app accepted', "((answer as WeappAppConfig).appId === appId ? undefined : 'it is the config of another appId')", 'undefined'),
  m('lookup-token-kept', 'lib/apps.ts', 'a new App (and token) on every lookup', 'previous?.app !== undefined && sameConfig(previous.config, config) ? previous.app : ', ''),
  m('heal-user', 'lib/routes.ts', 'another user\'s code heals a session', 'if (users.userOf(who, identity) !== users.userOf(who, current)) {', 'if (false) {'),
  m('heal-key', 'lib/routes.ts', 'heal decrypts with the old key', '      sessionKey = identity.sessionKey as string\n', ''),
  m('heal-signature', 'lib/routes.ts', 'heal checks rawData with the old key', '!weapp.verifySignature(rawData, signature as string, sessionKey)', '!weapp.verifySignature(rawData, signature as string, current.sessionKey)'),
  m('raw-pair', 'lib/routes.ts', 'rawData without signature skips the check', 'if ((rawData === undefined) !== (signature === undefined)) throw', 'if (false) throw'),
  m('exact-types', 'lib/schemas.ts', 'coerced body types accepted', 'if (value !== undefined && actual !== type) {', 'if (false) {'),
  m('jwt-aud', 'lib/routes.ts', 'the JWS names no app', '...jwt.sign, aud: appId, clockTimestamp', '...jwt.sign, clockTimestamp'),
  m('jwt-exp', 'lib/routes.ts', 'the JWS outlives its session', ', expiresIn: Math.min(jwt.expiresIn ?? left, left)', ', ...(jwt.expiresIn === undefined ? {} : { expiresIn: jwt.expiresIn })'),
  m('phone-openid', 'lib/routes.ts', 'the phone route does not bind the code to the caller', '.getPhoneNumber(given, (current as { openid: string }).openid)', '.getPhoneNumber(given)'),
  m('seal-502', 'lib/routes.ts', 'an unsealable identity is a 500', 'throw new UpstreamError(`${app.platform.title} answered an openid or unionid too long to hold in a session`, { cause: new Error((err as Error).message) })', 'throw err'),
  // Tokens and phone numbers
  m('phone-flight', 'lib/platforms/wechat-api.ts', 'phone single-flight keyed by the code alone', 'shared(JSON.stringify([code, openid]), async', 'shared(code, async'),
  m('phone-watermark', 'lib/platforms/wechat-api.ts', 'another app\'s phone answer accepted', '(typeof countryCode !== \'string\' && typeof countryCode !== \'number\') || watermark?.appid !== appId) {', '(typeof countryCode !== \'string\' && typeof countryCode !== \'number\')) {'),
  m('phone-body', 'lib/platforms/wechat-api.ts', 'the openid not sent to WeChat', '{ body: openid === undefined ? { code } : { code, openid } }', '{ body: { code } }'),
  m('force-refresh', 'lib/platforms/wechat-api.ts', 'force_refresh: true', 'force_refresh: false', 'force_refresh: true'),
  m('token-flight', 'lib/upstream/tokens.ts', 'a token fetch per caller', 'fetching ??= fetchToken()', 'fetching = fetchToken()'),
  m('token-drop', 'lib/upstream/tokens.ts', 'a refusal drops a newer token', 'if (current?.token === token) current = undefined', 'current = undefined'),
  // Options and keys
  m('weak-key', 'lib/keys.ts', 'non-random keys accepted', 'if (new Set(key).size < 16 || periodic(key)) {', 'if (false) {'),
  m('key-canonical', 'lib/keys.ts', 'a key with stray bits accepted', "bytes.toString('base64url') !== url", 'false'),
  m('prefix', 'lib/options.ts', 'route syntax in prefix', 'if (typeof value !== \'string\' || !PREFIX.test(value)) {', "if (typeof value !== 'string') {"),
  m('base-url-query', 'lib/options.ts', 'an empty ? or # in apiBaseUrl', "url = typeof value === 'string' && !/[?#]/.test(value) ? new URL(value) : undefined", "url = typeof value === 'string' ? new URL(value) : undefined"),
  m('cleartext', 'lib/options.ts', 'no warning for plain http', "if (url.protocol !== 'http:' || LOOPBACK.test(url.hostname)) continue", 'continue'),
  m('twice', 'lib/index.ts', 'a second registration gets no clear error', "if (fastify.hasDecorator('weapp')) {", 'if (false) {'),
  m('budget-window', 'lib/failure-budget.ts', 'failures counted forever', 'if (count === undefined || time - count.since >= window) {', 'if (count === undefined) {'),
  m('budget-limit', 'lib/failure-budget.ts', 'one failure more than the limit allowed', 'if (++count.failures < limit) return', 'if (++count.failures <= limit) return'),
  m('budget-escalate', 'lib/failure-budget.ts', 'every block lasts one window, however often the key is blocked', 'Math.min(MAX_BLOCK, window * 2 ** (strikes - 1))', 'window'),
  m('budget-blocks-apart', 'lib/failure-budget.ts', 'blocked keys share the memo with the counts (a flood of one-time failures evicts them)', 'const blocks = new Memo<Block>(size)', 'const blocks = counts as unknown as Memo<Block>'),
  // Kinds of app: WeCom and third-party platforms
  m('wecom-refetch', 'lib/platforms/wecom.ts', 'WeCom\'s 40014 not answered with a new token', 'new Set([40014, 42001])', 'new Set([42001])'),
  m('wecom-identity', 'lib/platforms/wecom.ts', 'a WeCom answer without a corpid accepted', 'typeof corpId !== \'string\' || corpId === \'\' || ', ''),
  m('wecom-rate', 'lib/platforms/wecom.ts', 'WeCom\'s rate limit answered as a 502', 'rateLimited: [45009, 45033],', 'rateLimited: [45033],'),
  m('wecom-pool', 'lib/platforms/wecom.ts', 'a WeCom app\'s token shared with another secret\'s', 'pool(`wecom\\n${corpId}\\n${corpSecret}`', 'pool(`wecom\\n${corpId}`'),
  m('component-pool', 'lib/platforms/component.ts', 'a platform\'s token shared with another secret\'s', 'pool(`component\\n${component.appId}\\n${component.appSecret}`', 'pool(`component\\n${component.appId}`'),
  m('component-refetch', 'lib/platforms/component.ts', 'a refused component token kept', 'const errors = withCodes(hosting.errors, (code) => hosting.tokenRejected.has(code) ? new AccessTokenRejected(code) : undefined)', 'const errors = hosting.errors'),
  m('component-ticket', 'lib/platforms/component.ts', 'an expired ticket not named as the fault', '    case 61005:\n', ''),
  m('component-authorizer', 'lib/platforms/component.ts', 'a hosted app\'s phone call made with the component token', 'const tokens = createAuthorizerTokens(appId, component)', 'const tokens = componentTokens'),
  m('app-one-kind', 'lib/apps.ts', 'a config of two kinds accepted', 'if (given.length !== 1) return', 'if (given.length === 0) return'),
  m('seal-kind', 'lib/app-api.ts', 'a WeChat app seals a WeCom member\'s session', 'if (given !== undefined && shape?.fields !== own.fields) {', 'if (false) {'),
  m('session-cid-uid', 'lib/platforms/users.ts', 'a WeCom session with a unionid opens', 'if (u === undefined || !hasNoForeign(u, payload) || ', 'if (u === undefined || '),
  m('phone-wecom', 'lib/routes.ts', 'a WeCom member\'s session reaches WeChat\'s phone API', 'if (who.noPhone !== undefined) throw new UnsupportedError(who.noPhone)', ''),
  m('client-qy', 'client/src/runtimes/index.ts', 'a WeCom client logs in with wx.login()', 'loginApi: (api) => api.qy,', 'loginApi: (api) => api,'),
  m('client-qy-check', 'client/src/client.ts', 'a WeCom client checks WeChat\'s session, not WeCom\'s', 'const checker = runtime.loginApi(api)', 'const checker = api'),
  // Ending and renewing sessions
  m('revoked-check', 'lib/authenticate.ts', 'a revoked session accepted', "if (revocations?.isRevoked(session) === true) throw refuseSession(revocations.isKicked(session.jti) ? 'kicked' : 'revoked', users.ofPlatform(session.platform))", ''),
  m('revoke-user-any', 'lib/revocation/store.ts', 'revokeUser without appId ends nothing', 'return inAny !== undefined && session.loginAt <= inAny.before', 'return false'),
  m('revoke-user-before', 'lib/revocation/store.ts', 'a revoked user can never log in again', '(inApp !== undefined && session.loginAt <= inApp.before)', '(inApp !== undefined)'),
  m('revocation-reload', 'lib/revocation/redis.ts', 'no reload after the subscription reconnects', "subscriber.on('ready', () => {", "subscriber.on('never', () => {"),
  m('logout-unstored', 'lib/routes.ts', 'a 204 before the revocation is stored', 'await store.revokeSession(request.weappSession as AnySession)', 'store.revokeSession(request.weappSession as AnySession).catch(() => {})'),
  m('renew-max-age', 'lib/session.ts', 'a renewal past maxAge', 'const exp = sessionExp(nowMs, expiresIn, renew?.notAfter)', 'const exp = sessionExp(nowMs, expiresIn)'),
  m('renew-jti', 'lib/session.ts', 'a renewal gets a new id (logout misses it)', 'claims.jti = renew?.jti ?? randomJti()', 'claims.jti = randomJti()'),
  m('client-keep-renewed', 'client/src/transport.ts', 'a renewed session not stored', 'if (session !== undefined) renewed(session, res.header, began)', ''),
  m('client-logout-route', 'client/src/client.ts', 'logout() only forgets locally', '        await send(\'POST\', `${routes}/logout`, {}, session)\n', ''),
  m('seal-aad', 'lib/session.ts', 'the seal authenticates no header', '  cipher.setAAD(aad)\n', ''),
  m('random-copy', 'lib/random.ts', 'pooled random bytes handed out as a view that the next refill overwrites', 'Buffer.from(pool.subarray(used, used + size))', 'pool.subarray(used, used + size)'),
  m('random-advance', 'lib/random.ts', 'the same pooled random bytes handed out twice', '  used += size\n', ''),
  m('seal-iv', 'lib/session.ts', 'the seal reuses an IV', 'const iv = randomBytes(12)', 'const iv = Buffer.alloc(12)'),
  // Other platforms
  m('session-pf', 'lib/platforms/users.ts', 'a token naming any platform opens', ': byTag.get(pf as string)', ': byTag.get(pf as string) ?? untagged.at(-1)'),
  m('qq-origin', 'lib/platforms/qq.ts', 'QQ\'s login sent to WeChat\'s origin', 'origin: { key: \'qq\', url:', 'origin: { key: \'wechat\', url:'),
  m('phone-qq', 'lib/platforms/wechat.ts', 'a QQ session reaches WeChat\'s phone API', 'getPhoneNumber: none, checkSessionKey: none', 'getPhoneNumber: async () => ({ phoneNumber: \'1\', purePhoneNumber: \'1\', countryCode: \'86\' }), checkSessionKey: none'),
  m('qq-seal', 'lib/app-api.ts', 'a QQ or Douyin app seals WeChat sessions', '{ ...(identity as object), platform: own.platform }', '{ ...(identity as object) }'),
  m('douyin-bad-code', 'lib/platforms/douyin.ts', 'a used Douyin code answered as a 502', 'invalidCode: [40018, 40019],', 'invalidCode: [40019],'),
  m('douyin-anonymous-decrypt', 'lib/routes.ts', 'an anonymous session reaches the decrypt', 'if ((current as { anonymous?: true }).anonymous === true) {', 'if (false) {'),
  m('session-anonymous', 'lib/platforms/users.ts', 'an anonymous token of another platform opens', 'an !== true || sk !== undefined || !u.anonymous', 'an !== true || sk !== undefined'),
  m('client-tt-global', 'client/src/runtimes/index.ts', 'Douyin\'s global not found', 'douyin: { global: \'tt\', api: () => typeof tt !== \'undefined\' ? tt : undefined', 'douyin: { global: \'tt\', api: () => undefined'),
  m('client-tt-anonymous', 'client/src/client.ts', 'tt.login()\'s anonymous code not sent', 'else if (typeof anonymousCode === \'string\' && anonymousCode !== \'\') resolve({ anonymousCode })', ''),
  m('client-qq-global', 'client/src/runtimes/index.ts', 'QQ\'s global not found', 'qq: { global: \'qq\', api: () => typeof qq !== \'undefined\' ? qq : undefined', 'qq: { global: \'qq\', api: () => undefined'),
  // The client
  m('client-origin', 'client/src/client.ts', 'the session sent to any URL', 'return target !== undefined && target.origin === base?.origin ? url : undefined', 'return url'),
  m('client-slash', 'client/src/client.ts', '\'//host\' read as a path', 'if (/^\\/(?![/\\\\])/.test(url)) return root + url', 'if (/^\\//.test(url)) return root + url'),
  m('client-own-auth', 'client/src/client.ts', 'the session sent beside your own Authorization', 'if (hasAuthorization(header)) return await send(method, target, data, undefined, header)', ''),
  m('client-heal', 'client/src/client.ts', 'a heal reply without a session stored', '          if (typeof body.session !== \'string\' || body.session === \'\' || typeof body.expiresIn !== \'number\' || !(body.expiresIn > 0)) {', '          if (false) {'),
  m('client-margin', 'client/src/storage.ts', 'a fixed minute of margin', 'return expiresAt - Math.min(60000, (expiresAt - now) / 10)', 'return expiresAt - 60000'),
  m('client-no-margin', 'client/src/storage.ts', 'no margin at all', 'return expiresAt - Math.min(60000, (expiresAt - now) / 10)', 'return expiresAt'),
  m('client-taro', 'client/src/transport.ts', 'Taro\'s rejected promise left unhandled', '(result as PromiseLike<unknown>).then(undefined, () => {})', 'void result'),
  m('client-jws', 'client/src/storage.ts', 'an expired JWS kept', ' || (stored.tokenRefreshAt !== undefined && now >= stored.tokenRefreshAt)', ''),
  m('client-no-expiry', 'client/src/storage.ts', 'a stored session without expiry used', ' && (value as Stored).expiresAt > 0', ''),
  // Sessions that stay ended (lineage, renewal, the jwt bridge)
  m('lineage-exp', 'lib/revocation/store.ts', "a revoked session's entry lives only until the revoked token's exp", "return { member: JSON.stringify(['s', session.jti, user, session.loginAt]), expiresAt: now + maxAge, replaces: [], unindex }", "return { member: JSON.stringify(['s', session.jti, user, session.loginAt]), expiresAt: (session as { expiresAt?: number }).expiresAt ?? now + maxAge, replaces: [], unindex }"),
  m('user-entry-lifetime', 'lib/revocation/store.ts', 'a user entry kept for a token lifetime, not maxAge', 'expiresAt: before + maxAge, replaces: known.sessionsOf(user)', 'expiresAt: before + 7 * 86400_000, replaces: known.sessionsOf(user)'),
  m('user-entry-seconds', 'lib/index.ts', 'maxAge handed to the store in seconds, not ms', 'const revocationOptions = { maxAge: maxAge * 1000, log: fastify.log, limits }', 'const revocationOptions = { maxAge, log: fastify.log, limits }'),
  m('user-before-strict', 'lib/revocation/store.ts', 'a login in the same millisecond as a user revocation survives it', 'if (inApp !== undefined && session.loginAt <= inApp.before) return true', 'if (inApp !== undefined && session.loginAt < inApp.before) return true'),
  m('renew-non-2xx', 'lib/authenticate.ts', 'renewals on error replies', 'reply.statusCode < 200 || reply.statusCode > 299 || ', ''),
  m('renew-revoked', 'lib/authenticate.ts', 'a reply that ended the session (logout) carries its renewal', ' || revocations?.isRevoked(session) === true) {', ') {'),
  m('renew-shared-cache', 'lib/authenticate.ts', 'a renewal on a reply a shared cache may keep', 'if (SHARED_CACHE.test(cacheControl)) {', 'if (false) {'),
  m('renew-no-store', 'lib/authenticate.ts', 'a renewal on a reply any cache may store', "if (!/\\bno-store\\b/i.test(cacheControl)) reply.header('cache-control', 'private, no-store')", ''),
  m('renew-app-gone', 'lib/authenticate.ts', 'a session of an app the lookup dropped renewed', 'registry.get(session.appId).then(() => {', 'Promise.resolve().then(() => {'),
  m('renew-expires-in', 'lib/authenticate.ts', 'x-weapp-session-expires-in says the full lifetime when maxAge caps the renewal', 'return { token, expiresIn: exp - Math.floor(now / 1000) }', 'return { token, expiresIn: settings.expiresIn }'),
  m('unseal-revoked', 'lib/index.ts', 'unseal() opens ended sessions', 'unseal: (async (token: string) => await auth.open(token)) as WeappApi', 'unseal: sessions.unseal as WeappApi'),
  m('jws-trusted', 'lib/ending.ts', 'the JWS of an ended session trusted', '  return user !== undefined && revocations.isRevoked({ jti, loginAt: lat, appId: aud, ...user } as SessionRef)', '  return false'),
  m('jws-wecom-sub', 'lib/platforms/wecom.ts', 'a WeCom member\'s JWS subject reads like an openid', 'subject: (user) => `${user.corpId as string}:${user.userId as string}`,', 'subject: (user) => user.userId as string,'),
  m('jws-session-id', 'lib/platforms/users.ts', 'the JWS carries its own id, not the session\'s', 'platform: u.platform, jti, lat: loginAt }', 'platform: u.platform, jti: \'a-fresh-jws-id-0000000\', lat: loginAt }'),
  m('heal-lineage', 'lib/routes.ts', 'a healed session is a new login: logging it out leaves the token before the heal alive', 'const id = sameLogin(current, maxAge, now)', 'const id = { ...newLogin(current.device), notAfter: now + maxAge * 1000, now }'),
  m('heal-max-age', 'lib/routes.ts', 'a heal renews a login past maxAge', 'const exp = sessionExp(now, expiresIn, id.notAfter)', 'const exp = sessionExp(now, expiresIn)'),
  m('revoke-user-kind', 'lib/ending.ts', 'revokeUser takes an openid for a WeCom app (and ends nothing)', 'if (app !== undefined && !users.fits(app.platform.users, user)) {', 'if (false) {'),
  // The revocation store
  m('store-publish-first', 'lib/revocation/redis.ts', 'the script publishes before it stores: a refused revocation still applies elsewhere', "then return -1 end\nredis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])", "then return -1 end\nredis.call('PUBLISH', ARGV[4], ARGV[5])\nredis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])"),
  m('store-planted-future', 'lib/revocation/store.ts', "a planted 'logins until' in the future accepted", 'if (inBounds && user !== undefined && isTime(third) && third <= now + CLOCK_SKEW) {', 'if (inBounds && user !== undefined && isTime(third)) {'),
  m('store-planted-expiry', 'lib/revocation/store.ts', 'an entry kept past maxAge accepted', "const inBounds = typeof expiresAt === 'number' && expiresAt <= now + this.#maxAge + CLOCK_SKEW", "const inBounds = typeof expiresAt === 'number'"),
  m('store-per-user', 'lib/revocation/store.ts', 'no bound per user: every logout is one more entry', 'if ((known.byUser.get(user)?.length ?? 0) >= MAX_REVOKED_PER_USER) return', 'if (false) return'),
  m('store-collapse-drop', 'lib/revocation/store.ts', 'a user entry leaves the session entries it covers', '      if ((this.sessions.get(jti) as Revoked).loginAt <= before) this.#dropSession(jti)\n', ''),
  m('store-key-alias', 'lib/revocation/store.ts', 'user keys joined with a newline (an openid aliases a WeCom member)', "return 'corpId' in user ? JSON.stringify([appId, user.corpId, user.userId]) : JSON.stringify([appId ?? '*', user.openid])", "return 'corpId' in user ? `${appId}\\n${user.corpId}\\n${user.userId}` : `${appId ?? '*'}\\n${user.openid}`"),
  m('store-sweep-all', 'lib/revocation/store.ts', 'expired entries never swept', '    this.sweep(now)\n', ''),
  m('store-paged', 'lib/revocation/redis.ts', 'the load reads one page only', "    } while (cursor !== '0')", '    } while (false)'),
  m('store-reconcile', 'lib/revocation/redis.ts', 'no periodic catch-up: a message lost without a reconnect event is lost for good', "    catchUp('interval')\n", ''),
  m('store-wait-replica', 'lib/revocation/redis.ts', 'a revocation reported done before any replica has it (a failover loses it)', '    if (replicas === 0) return true\n', '    return true\n'),
  m('store-replicas-sticky', 'lib/revocation/redis.ts', 'a master that lost its replicas (the old one, after a failover) takes revocations unconfirmed', 'replicas = Math.max(replicas, Number(', 'replicas = (0, Number('),
  m('store-timeout-message', 'lib/revocation/redis.ts', 'a store that timed out claims nothing was revoked', '      if (err instanceof RedisTimeout) {', '      if (false) {'),
  // Abuse and fairness
  m('budget-codes', 'lib/routes.ts', "junk codes on decrypt don't count against the user", 'const identity = await app.code2Session(code).catch((err: unknown) => counted(budget, err))', 'const identity = await app.code2Session(code)'),
  m('budget-phone', 'lib/routes.ts', 'junk phone codes don\'t count against the user', '.getPhoneNumber(given, (current as { openid: string }).openid).catch((err: unknown) => counted(budget, err))', '.getPhoneNumber(given, (current as { openid: string }).openid)'),
  m('fair-lanes', 'lib/upstream/http.ts', 'one queue for every app (a flood starves the others)', 'gate.lane(`${lane} ${url.slice(slash, query === -1 ? undefined : query)}`)', 'gate.lane(\'\')'),
  m('fair-turns', 'lib/upstream/http.ts', 'a lane keeps its turn (first come, first served)', '      this.#turns.delete(next)\n      if (next.queue.length !== 0) this.#turns.add(next)\n', '      if (next.queue.length === 0) this.#turns.delete(next)\n'),
  m('fair-fail-fast', 'lib/upstream/http.ts', 'a call waits past its deadline before it fails', 'if (now + wait > deadline) throw new QueueTooLongError(wait)', ''),
  m('route-config', 'lib/routes.ts', "the app's route config ignored", '...(routeConfig[name] === undefined ? {} : { config: routeConfig[name] })', ''),
  m('logout-body-limit', 'lib/routes.ts', 'logout parses a 1 MB body', "options('logout', logoutSchema, LOGIN_BODY_LIMIT, true)", "options('logout', logoutSchema, 1024 * 1024, true)"),
  m('openapi-default', 'lib/routes.ts', 'the routes name a scheme the user never declared', 'authenticated && securityScheme !== undefined ? ', "authenticated ? { ...schema, security: [{ [securityScheme ?? 'weappSession']: [] }] } : authenticated && securityScheme !== undefined ? "),
  m('unknown-option', 'lib/options.ts', 'a misspelled option silently ignored', '  refuseUnknown(o, OPTION_NAMES)\n', ''),
  m('unknown-app-field', 'lib/apps.ts', 'a misspelled app field silently ignored', '  const extra = unknownName(config, [\'appId\', \'platform\', ...KEYS, ...Object.keys(OPTIONAL_FIELDS)])\n  if (extra !== undefined) return extra\n', ''),
  m('lookup-missing-apart', 'lib/apps.ts', 'made-up appIds evict known apps from the lookup cache', 'const missing = new Memo<number>(APP_CACHE_SIZE)', 'const missing = cache as unknown as Memo<number>'),
  m('wechat-pool', 'lib/platforms/wechat.ts', 'a WeChat app\'s token cache kept when its AppSecret changes', 'context.pool(`${data.kind}\\n${appId}\\n${appSecret}`', 'context.pool(`${data.kind}\\n${appId}`'),
  m('scrub-ticket', 'lib/platforms/component.ts', 'the verify ticket left in error causes', 'secrets: [appSecret, ticket], errors, http', 'secrets: [appSecret], errors, http'),
  m('scrub-corp-secret', 'lib/platforms/wecom.ts', 'the corpSecret left in error causes', 'secrets: [corpSecret], errors: wecomErrors, http', 'secrets: [], errors: wecomErrors, http'),
  m('douyin-flight', 'lib/platforms/douyin.ts', 'Douyin\'s single-flight keyed without the anonymous code', 'shared(JSON.stringify([code, anonymousCode])', 'shared(JSON.stringify([code])'),
  // The client's session lifecycle
  m('client-binding', 'client/src/client.ts', 'two clients share one stored session', '`fastify-weapp:session:${base.origin}|${appId !== undefined ? appId : \'\'}|${runtime.tag}`', '\'fastify-weapp:session\''),
  m('client-logout-cancels', 'client/src/client.ts', 'a login in flight stores its session after logout()', '        if (epoch !== started) throw loggedOut()\n', ''),
  m('client-revoked-relogin', 'client/src/client.ts', 'a revoked session is refused forever: no fresh login', '\'WEAPP_SESSION_EXPIRED\', \'WEAPP_SESSION_REVOKED\'])', '\'WEAPP_SESSION_EXPIRED\'])'),
  m('client-logout-no-relogin', 'client/src/client.ts', 'a request refused after the user\'s logout logs in again', '      if (epoch !== started) throw err\n', ''),
  m('client-logout-keeps', 'client/src/client.ts', 'logout() forgets the session before the server ended it', '        if (status !== 404 && status !== 401) throw err // kept', '        forget()\n        if (status !== 404 && status !== 401) throw err // kept'),
  m('client-late-renewal', 'client/src/client.ts', 'a late renewal of an older session stored over a newer login\'s', ' || stored.session !== sent) return', ') return'),
  // The four later platforms: each guard of theirs
  m('alipay-verify-success', 'lib/platforms/alipay.ts', 'an unsigned or tampered Alipay success is used', 'if ((!failed || body.sign !== undefined) && !verified(member.raw, body.sign, alipayPublicKey)) {', 'if (failed && body.sign !== undefined && !verified(member.raw, body.sign, alipayPublicKey)) {'),
  m('alipay-verify-refusal', 'lib/platforms/alipay.ts', 'a signed Alipay refusal is believed without its signature', 'if ((!failed || body.sign !== undefined) && !verified(', 'if (!failed && !verified('),
  m('alipay-signed-text', 'lib/platforms/alipay.ts', 'the signature checked over re-serialized JSON, not the bytes Alipay signed', '  const raw = memberText(text, name)\n', '  const raw = JSON.stringify((JSON.parse(text) as Record<string, unknown>)[name])\n'),
  m('alipay-public-required', 'lib/platforms/alipay.ts', 'an Alipay app registers without Alipay\'s public key', "  if (alipayPublicKey === undefined) return 'alipay.alipayPublicKey is required: without Alipay\\'s public key no answer can be verified'\n", '  if (alipayPublicKey === undefined) return undefined\n'),
  m('alipay-own-key', 'lib/platforms/alipay.ts', 'the app\'s own public key accepted as Alipay\'s', '  if (spki(theirs) === spki(createPublicKey(own))) return', '  if (spki(theirs) === \'\') return'),
  m('alipay-phone-verify', 'lib/platforms/alipay.ts', 'a phone response decrypted without its signature checked', "  if (!verified(JSON.stringify(encrypted), given.sign, alipayPublicKey)) throw refused('the signature does not verify')\n", ''),
  m('alipay-phone-padding', 'lib/platforms/alipay.ts', 'a phone response with bad padding read', "if (valid !== 1 || !isObject(value)) throw refused('does not decrypt with the content key')", "if (!isObject(value)) throw refused('does not decrypt with the content key')"),
  m('alipay-request-sign', 'lib/platforms/alipay.ts', 'a request signed over unsorted parameters', ".filter((k) => k !== 'sign' && params[k] !== '').sort().map(", ".filter((k) => k !== 'sign' && params[k] !== '').map("),
  m('baidu-app-key', 'lib/platforms/baidu.ts', 'Baidu data of another app (its AppKey) accepted', "  if (!keyMatches) throw failed('the AppKey of another app')\n", ''),
  m('baidu-length', 'lib/platforms/baidu.ts', 'Baidu\'s length field not checked', ' || declared !== dataEnd - PREFIX) throw', ') throw'),
  m('baidu-padding', 'lib/platforms/baidu.ts', 'Baidu data with bad padding read', "  if (valid !== 1) throw failed('bad padding')\n", ''),
  m('baidu-key-size', 'lib/platforms/baidu.ts', 'a 16-byte Baidu session_key accepted', '!isSessionKey(sessionKey, KEY_BYTES)', '!isSessionKey(sessionKey, 16) && !isSessionKey(sessionKey, KEY_BYTES)'),
  m('kuaishou-success', 'lib/platforms/kuaishou.ts', 'Kuaishou\'s result 0 read as success', '  success: 1,\n', '  success: 0,\n'),
  m('kuaishou-watermark-optional', 'lib/platforms/kuaishou.ts', 'Kuaishou data without a watermark refused', 'openUserData(sessionKey, encryptedData, iv, { ...options, watermarkOptional: true })', 'openUserData(sessionKey, encryptedData, iv, options)'),
  m('feishu-tenant', 'lib/platforms/feishu.ts', 'a Feishu login without a tenant_key', ' || !isText(tenantKey) || ', ' || '),
  m('feishu-token-refused', 'lib/platforms/feishu.ts', 'a refused Feishu app token is never fetched anew', 'TOKEN_REJECTED.has(code) ? new AccessTokenRejected(code) : undefined', 'undefined'),
  m('keyless-claims', 'lib/platforms/users.ts', 'a session_key sealed into a session that holds none', "        if (given.sessionKey !== undefined && given.sessionKey !== '') return undefined\n", ''),
  m('phone-field', 'lib/routes.ts', 'the phone route takes code and response together', " || request.body[field === 'code' ? 'response' : 'code'] !== undefined) {", ') {'),
  m('decrypt-keyless', 'lib/routes.ts', 'the decrypt route tries a keyless session', '    if (who.noDecrypt !== undefined) throw new UnsupportedError(who.noDecrypt)\n', ''),
  // One platform, one file: every message names the platform it is about
  m('fault-timeout-names', 'lib/upstream/faults.ts', 'a timeout names the first platform whatever the app', 'new UpstreamTimeoutError(title, ms, loginCall)\n\nexport', 'new UpstreamTimeoutError(\'WeChat\', ms, \'wx.login()\')\n\nexport'),
  m('fault-rate-names', 'lib/upstream/faults.ts', 'a rate limit tells every app to call wx.login()', 'wait a moment, then call ${loginCall} again and retry`)\n      if', 'wait a moment, then call wx.login() again and retry`)\n      if'),
  m('fault-invalid-names', 'lib/upstream/faults.ts', 'an invalid code names the first platform whatever the app', 'new InvalidCodeError(`${title} says the login code', 'new InvalidCodeError(`WeChat says the login code'),
  m('referer-table', 'lib/platforms/index.ts', 'the Referer of the second platform\'s runtime is not read', 'row.referer === undefined ? [] : [row.referer]', 'row.referer === undefined || row.kind === \'qq\' ? [] : [row.referer]'),
  m('origin-table', 'lib/platforms/index.ts', 'every platform calls the first platform\'s origin by default', 'ROWS.map((row) => [row.origin.key, row.origin.url])', 'ROWS.map((row) => [row.origin.key, (ROWS[0] as Platform).origin.url])'),
  // WeChat's API security and the session_key's lifecycle
  m('sec-signature-skipped', 'lib/platforms/wechat-api-security.ts', 'an answer is read without its signature verified', "        throw refused(api, 'signature check')\n", ''),
  m('sec-window-future', 'lib/platforms/wechat-api-security.ts', 'an answer dated in the future is fresh forever', 'if (!(Math.abs(Math.floor(now() / 1000) - timestamp) <= MAX_SKEW)) {', 'if (!(Math.floor(now() / 1000) - timestamp <= MAX_SKEW)) {'),
  m('sec-window-wide', 'lib/platforms/wechat-api-security.ts', 'the timestamp window is wider than 300 s', 'if (!(Math.abs(Math.floor(now() / 1000) - timestamp) <= MAX_SKEW)) {', 'if (!(Math.abs(Math.floor(now() / 1000) - timestamp) <= MAX_SKEW + 1)) {'),
  m('sec-serial-choice', 'lib/platforms/wechat-api-security.ts', 'the current signature checked with the outgoing certificate', '        signature = headers[H.oldSignature]\n', ''),
  m('sec-appid-header', 'lib/platforms/wechat-api-security.ts', 'an answer naming another app is read', "      if (headers[H.appId] !== appId) return await Promise.reject(refused(api, 'app check (the answer names another app)'))\n", ''),
  m('sec-plaintext-appid', 'lib/platforms/wechat-api-security.ts', "the plaintext's _appid is not checked", 'if (ownApp !== appId || ownTime !== timestamp)', 'if (ownTime !== timestamp)'),
  m('sec-aad-order', 'lib/platforms/wechat-api-security.ts', 'the request AAD in another order', '      cipher.setAAD(Buffer.from(`${url}|${appId}|${timestamp}|${sn}`))', '      cipher.setAAD(Buffer.from(`${appId}|${url}|${timestamp}|${sn}`))'),
  m('sec-own-key', 'lib/platforms/wechat-api-security.ts', "the app's own public key accepted as the platform certificate", 'if (own !== undefined && samePublicKey(key, createPublicKey(own))) {', 'if (false) {'),
  m('sec-unsigned', 'lib/platforms/wechat-api.ts', 'an unsigned answer is opened as if signed', '      if (!isSigned(answer.headers)) throw unsignedAnswer(jsonObject(answer.text, WECHAT), api, errors)\n', ''),
  m('sig-key-bytes', 'lib/platforms/wechat-api.ts', 'the login-state signature keyed with the decoded session_key', "return createHmac('sha256', sessionKey).update(data).digest('hex')", "return createHmac('sha256', Buffer.from(sessionKey, 'base64')).update(data).digest('hex')"),
  m('reset-rate', 'lib/ending.ts', 'a user\'s session_key reset on every logout', 'if (!(await store.claim(`reset:${userKey(appId, { openid })}`, interval))) {', 'if (false) {'),
  m('reset-fails-logout', 'lib/ending.ts', 'a failed reset fails the logout', "      else log.warn({ err, appId }, 'fastify-weapp: the session ended, but", "      else throw err; log.warn({ err, appId }, 'fastify-weapp: the session ended, but"),
  m('channel-refetch', 'lib/user-keys.ts', 'every unknown version asks WeChat', '(known === undefined || time - known.fetchedAt >= REFETCH_AFTER)', '(true)'),
  m('channel-padding', 'lib/user-data.ts', 'channel data with bad padding read', "  if (valid !== 1) throw failed('bad padding')\n  if (value === undefined) throw failed('not JSON')", "  if (value === undefined) throw failed('not JSON')"),
  // Sessions per device: maxSessions, oneSessionPer, kicked told apart from revoked
  m('kick-as-revoked', 'lib/authenticate.ts', 'an evicted session answers WEAPP_SESSION_REVOKED', "revocations.isKicked(session.jti) ? 'kicked' : 'revoked'", "'revoked'"),
  m('kick-ignored', 'lib/revocation/store.ts', "an eviction's entry is ignored: the evicted session lives on", "if (inBounds && kind === 'k' && ", "if (false && kind === 'k' && "),
  m('cap-off-by-one', 'lib/revocation/devices.ts', 'a user keeps one session more than maxSessions (memory)', 'kept.length - i + 1 > limits.maxSessions', 'kept.length - i > limits.maxSessions'),
  m('evict-newest', 'lib/revocation/devices.ts', 'the newest session is evicted instead of the oldest', 'kept.sort((a, b) => a.loginAt - b.loginAt ||', 'kept.sort((a, b) => b.loginAt - a.loginAt ||'),
  m('device-any-app', 'lib/revocation/devices.ts', "oneSessionPer 'device' ends the same device type's session in every app", "return s.appId === login.appId && (per === 'app' || s.device === login.device)", "return per === 'app' || s.device === login.device"),
  m('device-label-quotes', 'lib/revocation/devices.ts', 'a device label may hold quotes and backslashes', '\\\\x20\\\\x21\\\\x23-\\\\x5b\\\\x5d-\\\\x7e', '\\\\x20-\\\\x7e'),
  m('lua-cap', 'lib/revocation/devices-redis.ts', 'a user keeps one session more than maxSessions (Redis)', 'while #kept - i + 2 > max do', 'while #kept - i + 1 > max do'),
  m('lua-revoked-counted', 'lib/revocation/devices-redis.ts', 'a session revoked by its id still counts toward the cap (Redis)', " or redis.call('ZSCORE', KEYS[1], '[\"s\",\"' .. jti .. '\"]')", ''),
  m('lua-order', 'lib/revocation/devices-redis.ts', 'Redis evicts the newest session instead of the oldest', 'if a[2] ~= b[2] then return a[2] < b[2] end', 'if a[2] ~= b[2] then return a[2] > b[2] end'),
  m('unindex-redis', 'lib/revocation/redis.ts', 'a logged-out session still counts toward the cap (Redis)', 'unindex(KEYS[2], ARGV[7], ARGV[8], ARGV[9])\n', ''),
  m('login-untracked', 'lib/routes.ts', 'a login is not indexed: no cap, nothing evicted', '    if (track !== undefined) await track(trackedLogin(', '    if (false) await track(trackedLogin('),
  m('seal-untracked', 'lib/app-api.ts', 'a session issued by seal() escapes the cap', '      if (track !== undefined) await track(trackedLogin(own,', '      if (false) await track(trackedLogin(own,'),
  m('renewal-device', 'lib/authenticate.ts', 'a renewal drops the device label', 'session.appId, sameLogin(session, maxAge, now), sessionClaims', 'session.appId, { ...sameLogin(session, maxAge, now), device: undefined }, sessionClaims'),
  m('renewal-untouched', 'lib/authenticate.ts', 'the index never learns of renewals', '    revocations?.touch(session, exp * 1000, now)\n', ''),
  m('client-kicked-kept', 'client/src/client.ts', 'a kicked session is kept and reused', "if (err instanceof WeappClientError && err.code === 'WEAPP_SESSION_KICKED') {", "if (err instanceof WeappClientError && err.code === 'NEVER') {"),
  m('client-kicked-relogin', 'client/src/client.ts', 'the client logs in again after a kick, ending the other device in turn', '        if (kept.stored !== undefined && kept.stored.session === session) forget()\n        throw err\n      }', '        if (kept.stored !== undefined && kept.stored.session === session) forget()\n        return await call((await login()).session)\n      }'),
  m('untagged-order', 'lib/platforms/users.ts', 'an untagged member session read as an openid user (the wrong shape first)', 'required(b).length - required(a).length', 'required(a).length - required(b).length'),
  // The upstream gate shares its slots (issue 33, items 5 and 7): a per-lane share, claims, an optimistic estimate
  m('gate-share-whole', 'lib/upstream/http.ts', 'every lane\'s share is the whole pool: a hanging app keeps taking the sockets', 'return Math.ceil(this.#slots / this.#present.size)', 'return this.#slots'),
  m('gate-share-cap', 'lib/upstream/http.ts', 'a lane over its share takes a free slot another lane is owed', 'return this.#slots - this.#busy - 1 >= owed - this.#owes(lane, share)', 'return true'),
  m('gate-claims', 'lib/upstream/http.ts', 'a lane between its calls is owed nothing: a hanging app takes its slots', ': Math.max(lane.peak, lane.before)\n', ': lane.busy\n'),
  m('estimate-timeouts', 'lib/upstream/http.ts', 'calls that hung until their timeout feed the estimate: a healthy burst refused after them', '    if (answered) {\n', '    if (true) {\n'),
  m('estimate-all-lanes', 'lib/upstream/http.ts', 'the estimate counts every lane\'s waiters ahead of a call', 'Math.floor(lane.queue.length / this.#slots) + 1', 'Math.floor(this.waiting / this.#slots) + 1'),
  m('estimate-latest', 'lib/upstream/http.ts', 'the estimate takes the latest answer\'s time, not the fastest', 'lane.fastest = Math.min(lane.fastest, now - started)', 'lane.fastest = now - started'),
  m('timer-waited-in-flight', 'lib/upstream/http.ts', 'a call that waited for a slot and then timed out in flight is not aborted', '    this.dequeue = undefined\n', ''),
  // Issue 33, the client: no answer begun before logout() stores anything; the host's tag in labels
  m('client-heal-after-logout', 'client/src/client.ts', 'a decrypt heal answered after logout() stores its session', '          if (started !== epoch) throw loggedOut()\n', ''),
  m('client-renewal-after-logout', 'client/src/client.ts', 'a renewal header answered after logout() stores its session', 'if (began !== epoch || header === undefined', 'if (header === undefined'),
  m('client-renewal-epoch-late', 'client/src/transport.ts', 'a renewal is judged by the epoch of its answer, not of its request', 'renewed(session, res.header, began)', 'renewed(session, res.header, epochOf())'),
  m('client-link-after-logout', 'client/src/client.ts', 'a link answered after logout() adopts its session', '      if (epoch !== started) throw loggedOut()\n      adopt(answer)', '      adopt(answer)'),
  m('client-label-runtime-tag', 'client/src/client.ts', 'every WeChat-shaped build labels its sessions wx', 'deviceOf(api, labelTagOf(api, options, runtime))', 'deviceOf(api, runtime.tag)'),
  m('client-label-uni', 'client/src/runtimes/index.ts', "uni-app's build platform is not read", "  return row !== undefined ? tagOf(row) : built.replace(/^mp-/, '')", '  return runtime.tag'),
  m('client-label-uni-unknown', 'client/src/runtimes/index.ts', "a uni-app build of another host is labelled WeChat's", "tagOf(row) : built.replace(/^mp-/, '')", 'tagOf(row) : runtime.tag'),
  m('client-label-base-info', 'client/src/runtimes/index.ts', "uni-app 4.33's getAppBaseInfo() is not asked", "for (const call of ['getAppBaseInfo', 'getSystemInfoSync'])", "for (const call of ['getSystemInfoSync'])"),
  m('client-label-built', 'client/src/runtimes/index.ts', "the build's process.env.UNI_PLATFORM is not read", 'const built = process.env.UNI_PLATFORM', 'const built = process.env.UNI_PLATFORM_UNSET'),
  m('client-label-option', 'client/src/runtimes/index.ts', 'the platform option does not name the host', '  if (named !== undefined) return tagOf(named)\n', ''),
  m('client-label-global', 'client/src/runtimes/index.ts', "a native QQ, Douyin or Kuaishou build found by its global is labelled WeChat's", 'return tagOf(host !== undefined ? host : DEFAULT)', 'return tagOf(DEFAULT)'),
  // Issue 33 (Baidu's padding, Kuaishou's watermark age, the encrypted channel's expired keys and failure budget)
  m('baidu-pad-16', 'lib/platforms/baidu.ts', 'Baidu data padded past 16 bytes refused (PKCS#7 of 16-byte blocks)', 'const valid = paddingValid(plain, PAD_BLOCK)', 'const valid = paddingValid(plain)'),
  m('baidu-pad-early-exit', 'lib/platforms/baidu.ts', 'bad Baidu padding returns early (a timing oracle)', 'const valid = paddingValid(plain, PAD_BLOCK)\n', "const valid = paddingValid(plain, PAD_BLOCK)\n  if (valid !== 1) throw failed('bad padding')\n"),
  m('baidu-short-input', 'lib/platforms/baidu.ts', 'Baidu data shorter than one 32-byte block read (its length field past the end: a 500)', " || data.length < PAD_BLOCK) throw failed('malformed input')", ") throw failed('malformed input')"),
  m('pkcs7-block-fill', 'lib/user-data.ts', 'a 32-byte pad checked on its last 16 bytes only', 'for (let i = 0; i < blockSize; i++) {', 'for (let i = 0; i < 16; i++) {'),
  m('pkcs7-block-range', 'lib/user-data.ts', 'a pad one over the block accepted where its fill matches', 'let bad = ((pad - 1) | (blockSize - pad)) >>> 31', 'let bad = ((pad - 1) | (blockSize + 1 - pad)) >>> 31'),
  m('mock-baidu-pad-16', 'lib/testing/baidu.ts', 'the mock pads Baidu data to 16-byte blocks (as the plugin once unpadded it)', 'const pad = PAD_BLOCK - (plain.length % PAD_BLOCK)', 'const pad = 16 - (plain.length % 16)'),
  m('kuaishou-watermark-age', 'lib/platforms/kuaishou.ts', "Kuaishou's watermark timestamp never checked: stale data accepted under watermarkMaxAge", 'openUserData(sessionKey, encryptedData, iv, { ...options, watermarkOptional: true })', 'openUserData(sessionKey, encryptedData, iv, { ...options, watermarkMaxAge: 0, watermarkOptional: true })'),
  m('optional-watermark-age', 'lib/user-data.ts', 'an optional watermark that is there is not held to watermarkMaxAge', 'if (options.watermarkMaxAge > 0 && marked) {', 'if (options.watermarkMaxAge > 0 && marked && options.watermarkOptional !== true) {'),
  m('channel-key-expiry', 'lib/user-keys.ts', 'the encrypted channel opens messages under an expired user encrypt key', 'key.version === version && key.expiresAt > time', 'key.version === version'),
  m('channel-budget-unchecked', 'lib/user-keys.ts', 'a user over decryptFailureLimit still opens the channel', '    if (wait > 0) {\n', '    if (false) {\n'),
  m('channel-budget-uncounted', 'lib/user-keys.ts', "openEncrypted's failures count against no budget", "      if ((err as { code?: unknown }).code === 'WEAPP_DECRYPT_FAILED') failures?.fail(openid)\n", ''),
  m('channel-budget-upstream', 'lib/user-keys.ts', "an upstream fault of getuserencryptkey counts against the user's budget", "(err as { code?: unknown }).code === 'WEAPP_DECRYPT_FAILED'", '(err as { code?: unknown }).code !== undefined'),
  m('channel-budget-own-key', 'lib/app-api.ts', 'the channel keeps a budget apart from the routes\' (another key for the same user)', 'keyedBudget(failures, (openid) => userBudgetKey(app.appId, users.userOf(app.platform.users, { openid })))', 'keyedBudget(failures, (openid) => openid)'),
  // Signed answers: forged, replayed or stale Alipay answers, re-delivered API-security answers (issue 33)
  m('alipay-duplicate', 'lib/platforms/alipay.ts', 'an Alipay answer with a member twice is read (the forged one or the signed one)', '      if (twice !== undefined) {\n', '      if (false) {\n'),
  m('alipay-duplicate-escaped', 'lib/platforms/alipay.ts', 'member names compared as spelled: an escaped duplicate goes unseen', 'found.push([JSON.parse(text.slice(at, end)) as string, value])', 'found.push([text.slice(at + 1, end - 1), value])'),
  m('alipay-read-whole', 'lib/platforms/alipay.ts', 'the user read from a parse of the whole answer (the last member), not the signed text', 'return raw === undefined ? undefined : { raw, value: JSON.parse(raw) }', 'return raw === undefined ? undefined : { raw, value: (JSON.parse(text) as Record<string, unknown>)[name] }'),
  m('alipay-once', 'lib/platforms/alipay.ts', 'a signed Alipay answer is accepted again, for any code', '      await acceptOnce(once, `alipay:login:', '      if (false) await acceptOnce(once, `alipay:login:'),
  m('alipay-window-end', 'lib/platforms/alipay.ts', 'an Alipay answer past its token\'s life is accepted', 'if (!(start - CLOCK_SKEW <= time && time < end)) {', 'if (!(start - CLOCK_SKEW <= time)) {'),
  m('alipay-window-start', 'lib/platforms/alipay.ts', 'an Alipay answer dated in the future is accepted', 'if (!(start - CLOCK_SKEW <= time && time < end)) {', 'if (!(time < end)) {'),
  m('alipay-window-units', 'lib/platforms/alipay.ts', 'expires_in read as ms: answers refused long before their end', 'seconds(node.expires_in) * 1000 + CLOCK_SKEW', 'seconds(node.expires_in) + CLOCK_SKEW'),
  m('alipay-phone-once', 'lib/platforms/alipay.ts', 'an Alipay phone response is accepted again, for any session', '  await acceptOnce(once, `alipay:phone:', '  if (false) await acceptOnce(once, `alipay:phone:'),
  m('sec-replay', 'lib/platforms/wechat-api-security.ts', 'a signed API-security answer is accepted again, for another call', '      await acceptOnce(once, `wechat:api:', '      if (false) await acceptOnce(once, `wechat:api:'),
  m('once-forgets', 'lib/once.ts', 'a name taken is never remembered', 'if (until !== undefined && until > time) return false', 'if (false) return false'),
  m('once-unbounded', 'lib/once.ts', 'the in-process set grows without bound', 'if (end > time && held.size < max) break', 'if (end > time) break'),
  m('once-fail-open', 'lib/once.ts', 'a store that cannot say lets the answer through', '    first = await once(name, ms)\n', '    first = await once(name, ms).catch(() => true)\n'),
  // Issue 33 item 3 and item 6 (listSessions): a heal is a renewal of its login; the index outlives lost renewals
  m('heal-asks-no-hook', 'lib/authenticate.ts', 'a heal that renews asks onRenew nothing (a banned user heals on)', 'if (onRenew === undefined || marks[kAsked] === true || exp * 1000 <= session.expiresAt) return sessionClaims(session)', 'return sessionClaims(session)'),
  m('heal-asks-twice', 'lib/authenticate.ts', 'a heal asks onRenew again after authenticate asked in the same request', ' || marks[kAsked] === true || ', ' || '),
  m('heal-end-ignored', 'lib/authenticate.ts', 'a heal goes on when onRenew ended the session', "    if (outcome.kind === 'end') throw await endedByHook(session, request, reply)\n", ''),
  m('heal-claims-ignored', 'lib/authenticate.ts', 'a heal seals the old claims where onRenew replaced them', 'return outcome.replaced ? outcome.claims : sessionClaims(session)', 'return sessionClaims(session)'),
  m('heal-second-renewal', 'lib/authenticate.ts', 'a healed reply also carries a header renewal holding the rotated session_key', '    marks[kRenew] = undefined\n', ''),
  m('heal-past-max-age', 'lib/routes.ts', 'a heal of a login past maxAge answers 200 with a dead token, not "log in again"', 'if (exp <= Math.floor(now / 1000)) {', 'if (false) {'),
  m('heal-untouched', 'lib/routes.ts', "the index never learns of a heal's expiry", '    if (renewed !== undefined) revocations?.touch(current, renewed.exp * 1000, renewed.now)\n', ''),
  m('index-life-memory', 'lib/revocation/devices.ts', 'a session renewed past its first expiry stops counting and is not listed (memory)', 'if (s.loginAt + this.#maxAge <= now || ended(s)) sessions.delete(s.jti)', 'if (s.expiresAt <= now || ended(s)) sessions.delete(s.jti)'),
  m('index-life-sweep', 'lib/revocation/devices.ts', 'a sweep drops a session renewed past its first expiry (memory)', 'for (const s of sessions.values()) if (s.loginAt + this.#maxAge <= now) sessions.delete(s.jti)', 'for (const s of sessions.values()) if (s.expiresAt <= now) sessions.delete(s.jti)'),
  m('index-life-lua', 'lib/revocation/devices-redis.ts', 'a session whose renewals were lost stops counting (Redis)', 'e[4] + tonumber(ARGV[10]) <= now', 'e[5] <= now'),
  m('index-life-list', 'lib/revocation/devices-redis.ts', 'a session whose renewals were lost is not listed (Redis)', 'if (s !== undefined && s.loginAt + maxAge > time) sessions.push(s)', 'if (s !== undefined && s.expiresAt > time) sessions.push(s)'),
  m('list-needs-cap', 'lib/index.ts', 'listSessions and the index need maxSessions or oneSessionPer', 'const limits = settings.limits ?? (revocation === undefined ? undefined : UNCAPPED)', 'const limits = settings.limits'),
  // Session-side messages name the session's platform and its login call (issue 33, item 6)
  m('msg-expired-jose', 'lib/session.ts', 'an expired session tells every platform to call wx.login()', "throw refuseSession('expired', usersOfPayload((err as { payload: JWTPayload }).payload))", "throw refuseSession('expired', undefined)"),
  m('msg-expired-memo', 'lib/session.ts', 'an expired session the memo held names no platform', "throw refuseSession('expired', users.ofPlatform(known.platform))", "throw refuseSession('expired', undefined)"),
  m('msg-link-expired', 'lib/session.ts', 'an expired link token names no platform', "refuseSession('linkExpired', platformNamed(err))", "refuseSession('linkExpired', undefined)"),
  m('msg-revoked', 'lib/authenticate.ts', 'a revoked or kicked session names no platform', "'revoked', users.ofPlatform(session.platform))", "'revoked', undefined)"),
  m('msg-ended', 'lib/authenticate.ts', 'a session onRenew ended names no platform', "return refuseSession('ended', users.ofPlatform(session.platform))", "return refuseSession('ended', undefined)"),
  m('msg-redeemed', 'lib/app-api.ts', 'a spent link token names no platform', "refuseSession('linkRedeemed', users.ofPlatform(link.platform))", "refuseSession('linkRedeemed', undefined)"),
  m('msg-counted', 'lib/routes.ts', 'data that does not decrypt names no platform', '  throw aboutSession(err, budget.who)', '  throw err'),
  m('msg-blocked', 'lib/routes.ts', 'a blocked user is told to call wx.login()', "throw refuseSession('blocked', who, { wait: seconds })", "throw refuseSession('blocked', { title: 'WeChat', loginCall: 'wx.login()' }, { wait: seconds })"),
  m('msg-named-text', 'lib/errors.ts', "a named message gives the first platform's login call", ': `log in again (${platform.title}: ${platform.loginCall} then the login route)`', ": 'log in again (wx.login() then the login route)'"),
  m('msg-named-title', 'lib/errors.ts', 'a named message gives the login call but not the platform', '(${platform.title}: ${platform.loginCall} then', '(${platform.loginCall} then'),
  m('layout-schema-call', 'lib/schemas.ts', "the OpenAPI summary tells every platform's user to call wx.login()", "summary: 'Log in with a code from the platform\\'s login call',", "summary: 'Log in with a wx.login() code',"),
  m('layout-phone-call', 'lib/schemas.ts', "the phone route's description names one platform's runtime call", '(the response of its phone-number call)', "(my.getPhoneNumber()\\'s response)"),
  m('layout-error-call', 'lib/errors.ts', 'a message that cannot know the platform names wx.login()', "'log in again (the platform\\'s login call, then the login route)'", "'log in again (wx.login() then the login route)'"),
  // Redis faults (issue 33, item 4) and two seeded bugs of item 7: test/revocation/revocation-faults.test.ts
  m('login-no-replica', 'lib/revocation/devices-redis.ts', 'a login answers before a replica holds its index entry and kicks', '      if (!(await replicated())) {\n        // Not answered', '      if (false) {\n        // Not answered'),
  m('login-unconfirmed-kept', 'lib/revocation/devices-redis.ts', 'a login no replica confirmed leaves an index entry no token has', '        await withTimeout(redis.eval(FORGET,', '        if (false) await withTimeout(redis.eval(FORGET,'),
  m('login-late-runs', 'lib/revocation/devices-redis.ts', 'a login answered 503 still runs when Redis resumes', 'if late(ARGV[11]) then return -1 end\n', ''),
  m('login-late-answered', 'lib/revocation/devices-redis.ts', 'a login Redis ran past its deadline is answered as issued', "      if (!Array.isArray(out)) throw new RevocationUnavailableError('Redis ran the login after its deadline", "      if (false) throw new RevocationUnavailableError('Redis ran the login after its deadline"),
  m('redeem-late-runs', 'lib/revocation/redis.ts', 'a link redeem answered 503 still burns the token when Redis resumes', "if ARGV[6] == '1' and late(ARGV[10]) then return -1 end\n", ''),
  m('redeem-late-answered', 'lib/revocation/redis.ts', 'a redeem Redis ran past its deadline is answered as redeemed', '    if (Number(stored) === -1) throw notRedeemed(', '    if (false) throw notRedeemed('),
  m('redeem-unconfirmed-burnt', 'lib/revocation/redis.ts', 'a redeem no replica confirmed burns the token', "      await withTimeout(redis.eval(UNCONSUME, 1, key, member), timeout, 'undoing a redeem').catch(ignore)\n", ''),
  m('deadline-none', 'lib/revocation/redis.ts', 'calls carry no deadline', "const deadline = (): number | '' => offset === undefined ? '' : now() + offset + timeout", "const deadline = (): number | '' => ''"),
  m('trim-no-skew', 'lib/revocation/redis.ts', 'a revocation trims entries the moment they expire, whatever other clocks say', 'member, time - CLOCK_SKEW, channel,', 'member, time, channel,'),
  m('trim-no-skew-login', 'lib/revocation/devices-redis.ts', 'a login trims entries the moment they expire, whatever other clocks say', "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[12]))", "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)"),
  m('index-ttl-no-skew', 'lib/revocation/devices-redis.ts', "a user's index expires maxAge after the login, whatever other clocks say", "redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[10]) + tonumber(ARGV[12]))", "redis.call('PEXPIRE', KEYS[2], ARGV[10])"),
  m('known-no-skew', 'lib/revocation/store.ts', 'an entry read just past its expiry is not kept for the clocks behind', 'if (!(expiresAt + CLOCK_SKEW > now)) return', 'if (!(expiresAt > now)) return'),
  m('sweep-no-skew', 'lib/revocation/store.ts', 'a sweep drops entries the moment they expire', 'if (entry.expiresAt + CLOCK_SKEW <= now) this.#dropSession(jti)', 'if (entry.expiresAt <= now) this.#dropSession(jti)'),
  m('catchup-equal-scores', 'lib/revocation/redis.ts', 'a catch-up page that ends inside a run of equal scores reads part of it again', '      let atLast = 0\n      for (let i = members.length - 1; i > 0 && Number(members[i]) === last; i -= 2) atLast++\n', '      const atLast = 1\n'),
  m('load-past-plugin-timeout', 'lib/revocation/redis.ts', "a load outlasts Fastify's pluginTimeout and fails with Fastify's generic message", '      if (now() - begun > pluginBudget) {', '      if (false) {'),
  m('plugin-timeout-unread', 'lib/index.ts', "registration does not tell the store Fastify's pluginTimeout", ', pluginTimeout: fastify.initialConfig.pluginTimeout })', ' })'),
  m('kick-published-not-stored', 'lib/revocation/devices-redis.ts', 'an evicted session is published but not stored: an instance started later accepts it', "  redis.call('ZADD', KEYS[1], ARGV[8], member)\n", ''),
  m('user-before-lowered', 'lib/revocation/store.ts', 'an older user revocation applied after a newer one lowers "logins until"', 'this.users.set(user, { before: Math.max(before, known?.before ?? 0),', 'this.users.set(user, { before,'),
  // Issue 33, the merge: the uncapped index only lists; a cap is a promise
  m('uncapped-track-fails-login', 'lib/app-api.ts', 'without a cap, a login Redis could not record is a 503 all the same', '  if (capped) return store.track\n', '  return store.track\n'),
  m('capped-track-best-effort', 'lib/app-api.ts', 'with a cap, a login Redis could not record is answered (its evictions lost)', '  if (capped) return store.track\n', '  if (false) return store.track\n'),
  // Issue 34, item 2 (plat): the client's runtime table, from which detection and lookups are computed
  m('runtime-searched-every-row', 'client/src/runtimes/index.ts', 'a row whose global an earlier row has is searched again (and named twice in the message)', 'const SEARCHED = ROWS.filter((row, i) => ROWS.findIndex((other) => other.global === row.global) === i)', 'const SEARCHED = ROWS'),
  m('runtime-row-inherited', 'client/src/runtimes/index.ts', "an inherited name ('toString') is taken for a row of the table", 'Object.prototype.hasOwnProperty.call(RUNTIMES, platform) ? RUNTIMES[platform as WeappPlatform] : undefined', 'RUNTIMES[platform as WeappPlatform]'),
  m('runtime-detect-shaped', 'client/src/runtimes/index.ts', 'a WeChat-shaped global found is taken as the platform named (a native QQ build labelled wx)', 'found === undefined || found.login === undefined ? options', 'found === undefined ? options', 'detected() only feeds runtimeOf(), which answers the default login for every WeChat-shaped row, named or not; the device label reads the options as given'),
  // Issue 34, item 3: messages name the platform by construction (refuseSession)
  m('refuse-names-none', 'lib/errors.ts', 'a refusal told the platform names none', 'return naming(err, platform, says(loginAgain(platform), detail))', 'return naming(err, platform, says(loginAgain(undefined), detail))'),
  m('refuse-drops-cause', 'lib/errors.ts', "a refusal's cause is lost from the server's log", 'const err = cause === undefined ? new Refusal() : new Refusal({ cause })', 'const err = new Refusal()'),
  m('refuse-name-once', 'lib/errors.ts', 'an error named twice (a platform\'s own decrypt, then the session\'s) throws a 500', 'Object.defineProperty(err, kPlatform, { value: platform, configurable: true })', 'Object.defineProperty(err, kPlatform, { value: platform })'),
  m('refuse-other-user', 'lib/routes.ts', "a heal's code of another user names no platform", "counted(budget, refuseSession('otherUser', who))", "counted(budget, refuseSession('otherUser', undefined))"),
  m('refuse-max-age', 'lib/routes.ts', 'a heal past maxAge names no platform', "throw refuseSession('maxAge', who)", "throw refuseSession('maxAge', undefined)"),
  m('channel-blocked-names-none', 'lib/user-keys.ts', "the encrypted channel's blocked user is told no platform", "throw refuseSession('blocked', platform, { wait: Math.ceil(wait / 1000) })", "throw refuseSession('blocked', undefined, { wait: Math.ceil(wait / 1000) })"),
  m('channel-failure-names-none', 'lib/user-keys.ts', "the encrypted channel's decrypt failure names no platform", '      throw aboutSession(err, platform)\n', '      throw err\n'),
  m('alipay-phone-names-none', 'lib/platforms/alipay.ts', "Alipay's phone building block, given an answer that does not open, names no platform", "refuseSession('decryptFailed', NAMED, { cause: new Error(reason) })", "refuseSession('decryptFailed', undefined, { cause: new Error(reason) })"),
  m('schema-phone-wechat', 'lib/schemas.ts', "the phone route's description names WeChat's API for every platform", 'through the platform\'s phone-number API', 'through getuserphonenumber'),
  m('schema-phone-platforms', 'lib/schemas.ts', "the phone route's code description names no platform", 'description: `${PHONE_BY_CODE}: the code from the getPhoneNumber button` }', "description: 'The code from the getPhoneNumber button' }"),
  m('schema-login-wechat', 'lib/schemas.ts', "the login description names WeChat's API for every platform", '(its code-to-session API)', '(jscode2session)'),
  m('channel-platform', 'lib/app-api.ts', "the encrypted channel is not told its app's platform: its refusals name none", '{ platform: app.platform, failures:', '{ failures:'),
  m('client-platform-unchecked', 'client/src/client.ts', 'a platform the table does not have (toString, a typo) logs in with wx.login() where an API object is given', '  if (options.platform !== undefined && !isPlatform(options.platform)) throw new TypeError(UNKNOWN_PLATFORM)\n', '')
]
