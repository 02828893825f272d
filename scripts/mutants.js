// The mutants of npm run mutate: each is one plausible bug, written as the exact text it changes.
// `equivalent`, where present, says why a survivor is not a missing test.
const sessionTests = ['test/session.test.ts', 'test/fast-unseal.test.ts', 'test/one-session-one-string.test.ts', 'test/hostile-sessions.test.ts', 'test/authenticate.test.ts', 'test/properties.test.ts', 'test/secrets.test.ts', 'test/memo.test.ts']
const decryptTests = ['test/user-data.test.ts', 'test/decrypt.test.ts', 'test/padding-oracle.test.ts', 'test/properties.test.ts', 'test/secrets.test.ts']
const upstreamTests = ['test/wechat.test.ts', 'test/login.test.ts', 'test/concurrency.test.ts', 'test/secrets.test.ts', 'test/errors.test.ts']
const kindTests = ['test/app-kinds.test.ts', 'test/mock-kinds.test.ts']
const revocationTests = ['test/revocation.test.ts', 'test/revocation-redis.test.ts']
const platformTests = ['test/platforms.test.ts']
const douyinTests = ['test/platforms.test.ts', 'test/session.test.ts', 'test/hostile-sessions.test.ts']
const routeTests = [...revocationTests, ...platformTests, 'test/app-kinds.test.ts', 'test/apps.test.ts', 'test/decrypt.test.ts', 'test/login.test.ts', 'test/phone.test.ts', 'test/jwt.test.ts', 'test/padding-oracle.test.ts', 'test/openapi.test.ts', 'test/secrets.test.ts', 'test/one-session-one-string.test.ts']
const tokenTests = ['test/phone.test.ts', 'test/access-token.test.ts', 'test/check-session.test.ts', 'test/secrets.test.ts']
const optionTests = ['test/options.test.ts', 'test/keys.test.ts', 'test/login.test.ts']
const clientTests = ['test/client.test.ts', 'test/client-safety.test.ts', 'test/platforms.test.ts']

const byFile = {
  'lib/session.ts': [...sessionTests, 'test/revocation.test.ts', 'test/seal-differential.test.ts', ...platformTests],
  'lib/fast-unseal.ts': sessionTests,
  'lib/base64.ts': [...sessionTests, ...decryptTests],
  'lib/user-data.ts': decryptTests,
  'lib/wechat.ts': upstreamTests,
  'lib/http.ts': [...upstreamTests, 'test/pool.test.ts'],
  'lib/random.ts': ['test/random.test.ts', 'test/seal-differential.test.ts'],
  'lib/errors.ts': upstreamTests,
  'lib/routes.ts': routeTests,
  'lib/failure-budget.ts': ['test/padding-oracle.test.ts'],
  'lib/apps.ts': ['test/apps.test.ts', 'test/login.test.ts', 'test/options.test.ts', ...kindTests, ...platformTests],
  'lib/wecom.ts': kindTests,
  'lib/revocation.ts': revocationTests,
  'lib/douyin.ts': douyinTests,
  'lib/component.ts': kindTests,
  'lib/user-api.ts': tokenTests,
  'lib/access-token.ts': tokenTests,
  'lib/keys.ts': optionTests,
  'lib/options.ts': optionTests,
  'lib/index.ts': [...optionTests, 'test/authenticate.test.ts', ...kindTests, ...revocationTests, ...platformTests],
  'client/src/index.ts': clientTests
}

/** The test files a mutant is judged by. */
export function testsFor (mutant) {
  return [...new Set(byFile[mutant.file])]
}

const m = (id, file, bug, find, replace, equivalent) => ({ id, file, bug, find, replace, ...(equivalent === undefined ? {} : { equivalent }) })

export const mutants = [
  // Sessions
  m('session-length-cap', 'lib/session.ts', 'unseal without its length cap', "typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH", "typeof token !== 'string' || token.length === 0"),
  m('seal-bound', 'lib/session.ts', 'seal issues tokens unseal refuses', 'if (token.length > MAX_TOKEN_LENGTH) throw new IdentityTooLargeError(token.length)', ''),
  m('session-canonical', 'lib/session.ts', 'non-canonical spellings of a token open it', 'if (!isCanonicalJwe(token)) {', 'if (false) {'),
  m('memo-exp', 'lib/session.ts', 'a memo hit skips the exp check', 'if (known.expiresAt <= Math.floor(Date.now() / 1000) * 1000) {', 'if (false) {'),
  m('memo-admit-first', 'lib/session.ts', 'a session used once takes a memo entry (a flood of them evicts returning clients)', '(doorkeeper as Doorkeeper).seen(token)', 'true'),
  m('doorkeeper-forgets', 'lib/memo.ts', 'the doorkeeper never remembers a key (nothing is ever memoized)', '    this.#slots[slot] = fingerprint\n', ''),
  m('memo-copy', 'lib/session.ts', 'a memo hit returns the shared object', 'return { ...known }', 'return known as WeappSession'),
  m('expired-code', 'lib/session.ts', 'an expired token is reported as invalid', "if ((err as { code?: unknown }).code === 'ERR_JWT_EXPIRED') throw new SessionExpiredError()", ''),
  m('jose-cause', 'lib/session.ts', "jose's error (with the decrypted payload) kept as the cause", 'throw new SessionInvalidError({ cause: safeCause(err, []) })', 'throw new SessionInvalidError({ cause: err as Error })'),
  m('jose-audience', 'lib/session.ts', 'jose without the audience check', '...(audience === undefined ? {} : { audience: [...audience] }),', ''),
  m('jose-enc', 'lib/session.ts', 'jose accepts any content encryption', "contentEncryptionAlgorithms: ['A256GCM'],", ''),
  m('jose-alg', 'lib/session.ts', 'jose accepts any key management', "keyManagementAlgorithms: ['dir'],", '',
    'the codec refuses any token whose encrypted-key segment is not empty before jose sees it, and of the algorithms with an empty one only dir works with a symmetric key: jose never meets another alg (session.test.ts checks that A256KW and A256GCMKW tokens under the right key are refused)'),
  m('jose-zip', 'lib/session.ts', 'jose inflates compressed tokens', 'maxDecompressedLength: 0,', ''),
  m('jose-claims', 'lib/session.ts', 'no claims required', "requiredClaims: ['exp', 'iat', 'sub', 'aud']", 'requiredClaims: []'),
  m('session-sk', 'lib/session.ts', 'a token without a session_key is a session', "(an === undefined ? !isSessionKey(sk) : ", "(an === undefined ? false : "),
  m('fast-aud', 'lib/fast-unseal.ts', 'the fast path ignores aud', "(apps !== undefined && !apps.has(aud)) || ", ''),
  m('session-aud-list', 'lib/session.ts', 'a session names an audience list', "typeof exp !== 'number' || !isId(aud) || ", "typeof exp !== 'number' || "),
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
  m('pkcs7-range', 'lib/user-data.ts', 'a padding byte of 0 or over 16 accepted', 'let bad = ((pad - 1) | (16 - pad)) >>> 31', 'let bad = 0'),
  m('padding-early-exit', 'lib/user-data.ts', 'bad padding returns early (a timing oracle)', 'const valid = paddingValid(plain)\n', "const valid = paddingValid(plain)\n  if (valid !== 1) throw failed('bad padding')\n"),
  m('watermark-appid', 'lib/user-data.ts', "another app's watermark accepted", "if (appid !== options.appId) throw failed('watermark of another appid')", ''),
  m('watermark-future', 'lib/user-data.ts', 'a future watermark is fresh', '&& age >= -WATERMARK_SKEW', ''),
  m('watermark-stale', 'lib/user-data.ts', 'a stale watermark is fresh', 'fresh = age <= options.watermarkMaxAge && ', 'fresh = '),
  m('key-length', 'lib/user-data.ts', 'a session_key of another length reaches AES', 'if (length === 0 ? bytes.length % 16 !== 0 : bytes.length !== length) return undefined', 'if (length === 0 && bytes.length % 16 !== 0) return undefined'),
  m('data-canonical', 'lib/user-data.ts', 'non-canonical base64 decrypts', "if (typeof text !== 'string' || text === '' || !isBase64(text)) return undefined", "if (typeof text !== 'string' || text === '') return undefined"),
  m('signature', 'lib/user-data.ts', 'any signature matches', "return timingSafeEqual(expected, Buffer.from(signature, 'hex'))", 'return expected.length > 0'),
  // The upstream client
  m('redirect', 'lib/wechat.ts', 'a redirect answer read as an answer', 'if (response.status < 200 || response.status > 299) {', 'if (response.status < 200 || response.status > 399) {'),
  m('body-cap', 'lib/http.ts', 'a body of any size read', 'maxResponseSize: MAX_ANSWER_BYTES', 'maxResponseSize: -1'),
  m('network-message', 'lib/wechat.ts', "a network error's message copied into the reply", "throw new UpstreamError(`Could not reach the ${service} API; retry in a moment`, { cause: safeCause(err, secrets) })", "throw new UpstreamError(`Could not reach the ${service} API: ${String((err as Error).message)}`, { cause: safeCause(err, secrets) })"),
  m('network-cause', 'lib/wechat.ts', 'the raw network error (with the URL) as the cause', '{ cause: safeCause(err, secrets) })\n  }\n  if (response.status', '{ cause: err as Error })\n  }\n  if (response.status'),
  m('used-code', 'lib/wechat.ts', 'a used code is a 502', '    case 40163:\n', ''),
  m('rate-limit', 'lib/wechat.ts', '45011 is a 502', '    case 45011:\n', '    case 45012:\n'),
  m('risky', 'lib/wechat.ts', '40226 is a 502', '    case 40226:\n', '    case 40227:\n'),
  m('single-flight', 'lib/wechat.ts', 'identical codes each reach WeChat', 'shared(code, () => exchange(code))', 'exchange(code)'),
  m('timeout-504', 'lib/wechat.ts', 'a timeout is a 502', 'if (signal.aborted) throw new UpstreamTimeoutError(timeout)', ''),
  m('http-status', 'lib/wechat.ts', 'HTTP errors read as answers', 'if (response.status < 200 || response.status > 299) {', 'if (false) {'),
  m('upstream-sk', 'lib/wechat.ts', 'an answer without a usable session_key accepted', "typeof openid !== 'string' || openid === '' || !isSessionKey(sessionKey) ||", "typeof openid !== 'string' || openid === '' ||"),
  m('errcode-minus-one', 'lib/wechat.ts', 'errcode -1 read as success', 'if (errcode !== undefined && errcode !== 0) {', 'if (errcode !== undefined && errcode !== 0 && errcode !== -1) {'),
  m('scrub-list', 'lib/wechat.ts', 'nothing scrubbed from causes', 'secrets: [appSecret, code], service, http', 'secrets: [], service, http'),
  m('scrub', 'lib/errors.ts', 'safeCause keeps secrets', "if (spelling !== '') text = text.split(spelling).join('[redacted]')", ''),
  m('scrub-spellings', 'lib/errors.ts', 'safeCause scrubs a secret only as it is, not as a URL spells it', 'new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)])', 'new Set([secret])'),
  // Routes
  m('budget-check', 'lib/routes.ts', 'no budget of failed decrypts', 'const wait = failures === undefined ? 0 : failures.blockedFor(user)', 'const wait = 0'),
  m('budget-count', 'lib/routes.ts', 'failed decrypts not counted', 'failures?.fail(user)', ''),
  m('budget-per-app', 'lib/routes.ts', 'the budget counts an openid across apps', 'const user = `${current.appId}\\n${userOf(current)}`', 'const user = userOf(current)'),
  m('phone-app', 'lib/routes.ts', 'the phone route uses the login app, not the session\'s', 'await (await registry.get(current.appId)).getPhoneNumber', 'await (await registry.get(registry.audience?.[0] ?? current.appId)).getPhoneNumber'),
  m('decrypt-watermark-app', 'lib/routes.ts', "decrypt checks the first app's watermark, not the session's", 'openUserData(sessionKey, encryptedData, iv, { appId: current.appId, watermarkMaxAge })', 'openUserData(sessionKey, encryptedData, iv, { appId: registry.audience?.[0] ?? current.appId, watermarkMaxAge })'),
  m('login-app', 'lib/routes.ts', 'the Referer is ignored', "const appId = body.appId ?? (referer === undefined ? undefined : REFERER.exec(referer)?.[1])", 'const appId = body.appId'),
  m('lookup-cache', 'lib/apps.ts', 'every login looks the app up again', 'known !== undefined && known.until > now() ? known.app', 'known !== undefined && known.until < 0 ? known.app'),
  m('lookup-validate', 'lib/apps.ts', "a lookup answer for another app accepted", "((answer as WeappAppConfig).appId === appId ? undefined : 'it is the config of another appId')", 'undefined'),
  m('lookup-token-kept', 'lib/apps.ts', 'a new App (and token) on every lookup', 'previous?.app !== undefined && sameConfig(previous.config, config) ? previous.app : ', ''),
  m('heal-user', 'lib/routes.ts', "another user's code heals a session", 'if (userOf(identity) !== userOf(current)) {', 'if (false) {'),
  m('heal-key', 'lib/routes.ts', 'heal decrypts with the old key', '      sessionKey = identity.sessionKey\n', ''),
  m('heal-signature', 'lib/routes.ts', "heal checks rawData with the old key", '!weapp.verifySignature(rawData, signature as string, sessionKey)', '!weapp.verifySignature(rawData, signature as string, current.sessionKey)'),
  m('raw-pair', 'lib/routes.ts', 'rawData without signature skips the check', 'if ((rawData === undefined) !== (signature === undefined)) throw', 'if (false) throw'),
  m('exact-types', 'lib/routes.ts', 'coerced body types accepted', 'if (value !== undefined && typeof value !== type) {', 'if (false) {'),
  m('jwt-aud', 'lib/routes.ts', 'the JWS names no app', '...jwt.sign, aud: appId, clockTimestamp', '...jwt.sign, clockTimestamp'),
  m('jwt-exp', 'lib/routes.ts', 'the JWS outlives its session', ', expiresIn: Math.min(jwt.expiresIn ?? left, left)', ', ...(jwt.expiresIn === undefined ? {} : { expiresIn: jwt.expiresIn })'),
  m('phone-openid', 'lib/routes.ts', "the phone route does not bind the code to the caller", '.getPhoneNumber(request.body.code, current.openid)', '.getPhoneNumber(request.body.code)'),
  m('seal-502', 'lib/routes.ts', 'an unsealable identity is a 500', "throw new UpstreamError('WeChat answered an openid or unionid too long to hold in a session', { cause: new Error((err as Error).message) })", 'throw err'),
  // Tokens and phone numbers
  m('phone-flight', 'lib/user-api.ts', 'phone single-flight keyed by the code alone', 'shared(JSON.stringify([code, openid]), async', 'shared(code, async'),
  m('phone-watermark', 'lib/user-api.ts', "another app's phone answer accepted", "(typeof countryCode !== 'string' && typeof countryCode !== 'number') || watermark?.appid !== appId) {", "(typeof countryCode !== 'string' && typeof countryCode !== 'number')) {"),
  m('phone-body', 'lib/user-api.ts', 'the openid not sent to WeChat', 'JSON.stringify(openid === undefined ? { code } : { code, openid })', 'JSON.stringify({ code })'),
  m('force-refresh', 'lib/access-token.ts', 'force_refresh: true', 'force_refresh: false', 'force_refresh: true'),
  m('token-flight', 'lib/access-token.ts', 'a token fetch per caller', 'fetching ??= fetchToken()', 'fetching = fetchToken()'),
  m('token-drop', 'lib/access-token.ts', 'a refusal drops a newer token', 'if (current?.token === token) current = undefined', 'current = undefined'),
  // Options and keys
  m('weak-key', 'lib/keys.ts', 'non-random keys accepted', 'if (new Set(key).size < 16 || periodic(key)) {', 'if (false) {'),
  m('key-canonical', 'lib/keys.ts', 'a key with stray bits accepted', "bytes.toString('base64url') !== url", 'false'),
  m('prefix', 'lib/options.ts', 'route syntax in prefix', 'if (typeof value !== \'string\' || !PREFIX.test(value)) {', "if (typeof value !== 'string') {"),
  m('base-url-query', 'lib/options.ts', 'an empty ? or # in apiBaseUrl', "url = typeof value === 'string' && !/[?#]/.test(value) ? new URL(value) : undefined", "url = typeof value === 'string' ? new URL(value) : undefined"),
  m('cleartext', 'lib/options.ts', 'no warning for plain http', "if (url.protocol !== 'http:' || LOOPBACK.test(url.hostname)) continue", 'continue'),
  m('twice', 'lib/index.ts', 'a second registration gets no clear error', "if (fastify.hasDecorator('weapp')) {", 'if (false) {'),
  m('budget-window', 'lib/failure-budget.ts', 'failures counted forever', 'if (entry === undefined || time - entry.since >= window) {', 'if (entry === undefined) {'),
  m('budget-limit', 'lib/failure-budget.ts', 'one failure more than the limit allowed', 'if (entry.failures >= limit)', 'if (entry.failures > limit)'),
  // Kinds of app: WeCom and third-party platforms
  m('wecom-refetch', 'lib/wecom.ts', "WeCom's 40014 not answered with a new token", 'new Set([40014, 42001])', 'new Set([42001])'),
  m('wecom-identity', 'lib/wecom.ts', 'a WeCom answer without a corpid accepted', "typeof corpId !== 'string' || corpId === '' || ", ''),
  m('wecom-rate', 'lib/wecom.ts', "WeCom's rate limit answered as a 502", '    case 45009:\n', ''),
  m('wecom-pool', 'lib/apps.ts', "a WeCom app's token shared with another secret's", 'pool(`wecom\\n${corpId}\\n${corpSecret}`', 'pool(`wecom\\n${corpId}`'),
  m('component-pool', 'lib/apps.ts', "a platform's token shared with another secret's", 'pool(`component\\n${component.appId}\\n${component.appSecret}`', 'pool(`component\\n${component.appId}`'),
  m('component-refetch', 'lib/component.ts', 'a refused component token kept', 'const errors = tokenErrors(WECHAT_TOKEN_REJECTED)', 'const errors = tokenErrors(new Set())'),
  m('component-ticket', 'lib/component.ts', 'an expired ticket not named as the fault', '    case 61005:\n', ''),
  m('component-authorizer', 'lib/apps.ts', "a hosted app's phone call made with the component token", 'createAuthorizerTokens(appId, component), settings)', 'componentTokens, settings)'),
  m('app-one-kind', 'lib/apps.ts', 'a config of two kinds accepted', 'if (kinds !== 1)', 'if (kinds === 0)'),
  m('seal-kind', 'lib/index.ts', "a WeChat app seals a WeCom member's session", "isWecom(identity as AnyIdentity) !== (app.kind === 'wecom')", 'false'),
  m('session-cid-uid', 'lib/session.ts', 'a WeCom session with a unionid opens', '(cid !== undefined && (!isId(cid) || uid !== undefined))', '(cid !== undefined && !isId(cid))'),
  m('phone-wecom', 'lib/routes.ts', "a WeCom member's session reaches WeChat's phone API", 'if (isWecom(current)) {', 'if (false) {'),
  m('client-qy', 'client/src/index.ts', 'a WeCom client logs in with wx.login()', 'const loginApi = wecom ? api.qy : api', 'const loginApi = api'),
  m('client-qy-check', 'client/src/index.ts', "a WeCom client checks WeChat's session, not WeCom's", 'const checker = wecom ? api.qy : api', 'const checker = api'),
  // Ending and renewing sessions
  m('revoked-check', 'lib/index.ts', 'a revoked session accepted', 'if (revocations?.isRevoked(session) === true) throw new SessionRevokedError()', ''),
  m('revoke-user-any', 'lib/revocation.ts', "revokeUser without appId ends nothing", ' || (inAny !== undefined && session.loginAt <= inAny.before)', ''),
  m('revoke-user-before', 'lib/revocation.ts', 'a revoked user can never log in again', '(inApp !== undefined && session.loginAt <= inApp.before)', '(inApp !== undefined)'),
  m('revocation-reload', 'lib/revocation.ts', 'no reload after the subscription reconnects', "subscriber.on('ready', () => {", "subscriber.on('never', () => {"),
  m('logout-unstored', 'lib/routes.ts', 'a 204 before the revocation is stored', 'await store.revokeSession(request.weappSession as AnySession)', 'store.revokeSession(request.weappSession as AnySession).catch(() => {})'),
  m('renew-max-age', 'lib/session.ts', 'a renewal past maxAge', 'Math.min(now + expiresIn, Math.floor(renew.notAfter / 1000))', 'now + expiresIn'),
  m('renew-jti', 'lib/session.ts', 'a renewal gets a new id (logout misses it)', 'claims.jti = renew?.jti ?? randomJti()', 'claims.jti = randomJti()'),
  m('client-keep-renewed', 'client/src/index.ts', 'a renewed session not stored', 'if (session !== undefined) keepRenewed(session, res.header)', ''),
  m('client-logout-route', 'client/src/index.ts', 'logout() only forgets locally', "        await send('POST', `${routes}/logout`, {}, session)\n", ''),
  m('seal-aad', 'lib/session.ts', 'the seal authenticates no header', "  cipher.setAAD(aad)\n", ''),
  m('random-copy', 'lib/random.ts', 'pooled random bytes handed out as a view that the next refill overwrites', 'Buffer.from(pool.subarray(used, used + size))', 'pool.subarray(used, used + size)'),
  m('random-advance', 'lib/random.ts', 'the same pooled random bytes handed out twice', '  used += size\n', ''),
  m('seal-iv', 'lib/session.ts', 'the seal reuses an IV', 'const iv = randomBytes(12)', 'const iv = Buffer.alloc(12)'),
  // Other platforms
  m('session-pf', 'lib/session.ts', 'a token naming any platform opens', "(pf !== undefined && ((pf !== 'qq' && pf !== 'douyin') || cid !== undefined))", 'false'),
  m('qq-origin', 'lib/apps.ts', "QQ's login sent to WeChat's origin", 'apiBaseUrl: upstream.apiBaseUrl.qq', 'apiBaseUrl: upstream.apiBaseUrl.wechat'),
  m('phone-qq', 'lib/routes.ts', "a QQ session reaches WeChat's phone API", "if (current.platform !== 'wechat') {", 'if (false) {'),
  m('qq-seal', 'lib/index.ts', "a QQ or Douyin app seals WeChat sessions", "app.kind === 'qq' || app.kind === 'douyin' ? { ...(identity as WechatIdentity), platform: app.kind } : identity", 'identity'),
  m('douyin-bad-code', 'lib/douyin.ts', 'a used Douyin code answered as a 502', 'const BAD_CODE = new Set([40018, 40019])', 'const BAD_CODE = new Set([40019])'),
  m('douyin-anonymous-decrypt', 'lib/routes.ts', 'an anonymous session reaches the decrypt', "if (!isWecom(current) && current.anonymous === true) {", 'if (false) {'),
  m('session-anonymous', 'lib/session.ts', 'an anonymous token of another platform opens', "an !== true || sk !== undefined || pf !== 'douyin'", "an !== true || sk !== undefined"),
  m('client-tt-global', 'client/src/index.ts', "Douyin's global not found", ": typeof tt !== 'undefined' ? tt : undefined", ': undefined'),
  m('client-tt-anonymous', 'client/src/index.ts', "tt.login()'s anonymous code not sent", "else if (typeof anonymousCode === 'string' && anonymousCode !== '') resolve({ anonymousCode })", ''),
  m('client-qq-global', 'client/src/index.ts', "QQ's global not found", ": typeof qq !== 'undefined' ? qq : typeof tt", ': typeof tt'),
  // The client
  m('client-origin', 'client/src/index.ts', 'the session sent to any URL', 'return target !== undefined && target.origin === base?.origin ? url : undefined', 'return url'),
  m('client-slash', 'client/src/index.ts', "'//host' read as a path", 'if (/^\\/(?![/\\\\])/.test(url)) return root + url', 'if (/^\\//.test(url)) return root + url'),
  m('client-own-auth', 'client/src/index.ts', 'the session sent beside your own Authorization', 'if (hasAuthorization(header)) return await send(method, target, data, undefined, header)', ''),
  m('client-heal', 'client/src/index.ts', 'a heal reply without a session stored', "          if (typeof body.session !== 'string' || body.session === '' || typeof body.expiresIn !== 'number' || !(body.expiresIn > 0)) {", '          if (false) {'),
  m('client-margin', 'client/src/index.ts', 'a fixed minute of margin', 'return expiresAt - Math.min(60000, (expiresAt - now) / 10)', 'return expiresAt - 60000'),
  m('client-no-margin', 'client/src/index.ts', 'no margin at all', 'return expiresAt - Math.min(60000, (expiresAt - now) / 10)', 'return expiresAt'),
  m('client-taro', 'client/src/index.ts', "Taro's rejected promise left unhandled", '(result as PromiseLike<unknown>).then(undefined, () => {})', 'void result'),
  m('client-jws', 'client/src/index.ts', 'an expired JWS kept', ' || (stored.tokenRefreshAt !== undefined && now >= stored.tokenRefreshAt)', ''),
  m('client-no-expiry', 'client/src/index.ts', 'a stored session without expiry used', ' && (value as Stored).expiresAt > 0', '')
]
