/**
 * `fastify-weapp/client`: the mini-program side for tests and tools in Node, the build of the
 * zero-dependency `fastify-weapp-client` package (client/) that this package carries (its ES module
 * build, published with it): no other package to install. A mini program installs
 * `fastify-weapp-client` itself.
 */
export * from '../client/dist/esm/index.js'
