/**
 * Revocations: ended sessions and users, checked on every request without I/O, and the index of
 * each user's sessions (`maxSessions`, `oneSessionPer`, `listSessions`). The rest of lib/ imports
 * this file; the files here import one another, never this one:
 * - store.ts: the `Revocations` interface, user keys, and what both stores share (the entries, the
 *   in-memory state, `revocationsOf`);
 * - memory.ts: `revocation: 'memory'`;
 * - redis.ts: `revocation: { redis }` (the set, its channel, the catch-up);
 * - devices.ts: the index's limits and eviction rule, and its in-memory form;
 * - devices-redis.ts: the index in Redis (the same rule as one script).
 */
export { userKey, type RedisLike, type RevokedUser, type Revocations, type SessionRef, type TrackedLogin } from './store.js'
export { memoryRevocations } from './memory.js'
export { redisRevocations } from './redis.js'
export { DEVICE_PATTERN, MAX_DEVICE_LENGTH, MAX_SESSIONS, deviceLabel, type OneSessionPer, type SessionLimits, type TrackedSession } from './devices.js'
