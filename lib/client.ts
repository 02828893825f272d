/**
 * `fastify-weapp/client`: the mini-program side, re-exported from its own zero-dependency package,
 * `fastify-weapp-client`, for tests and tools in Node. A mini program installs that package itself.
 */
export * from 'fastify-weapp-client'
