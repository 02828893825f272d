import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import SwaggerParser from '@apidevtools/swagger-parser'
import t, { type Test } from 'tap'
import weapp from '../lib/index.js'
import { KEY } from './fixtures/app.js'

const plugin = { appId: 'wx0123456789abcdef', appSecret: 's', key: KEY, securityScheme: 'weappSession' }
const bearer = { type: 'http', scheme: 'bearer', description: 'The session from POST /weapp/login' } as const

t.test('@fastify/swagger documents every route, with tags, summaries, bodies and responses', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1' }, components: { securitySchemes: { weappSession: bearer } } } })
  await app.register(weapp, plugin)
  await app.ready()
  const spec = app.swagger() as unknown as { paths: Record<string, Record<string, Record<string, any>>> }
  for (const path of ['/weapp/login', '/weapp/decrypt', '/weapp/phone']) {
    const op = spec.paths[path]?.post
    t.ok(op, `${path} is documented`)
    t.same(op?.tags, ['weapp'])
    t.type(op?.summary, 'string')
    t.ok(op?.requestBody?.content?.['application/json']?.schema?.properties?.code ?? op?.requestBody?.content?.['application/json']?.schema?.properties?.encryptedData, 'its body')
    t.ok(op?.responses?.['200'], 'its 200 answer')
    t.ok(op?.responses?.['4XX'] ?? op?.responses?.['4xx'], 'its errors')
  }
  t.ok(spec.paths['/weapp/login']?.post?.responses['200'].content['application/json'].schema.properties.session)
  t.ok(spec.paths['/weapp/phone']?.post?.responses['200'].content['application/json'].schema.properties.phone)
  t.same(spec.paths['/weapp/decrypt']?.post?.security, [{ weappSession: [] }], 'decrypt needs the session')
  t.same(spec.paths['/weapp/phone']?.post?.security, [{ weappSession: [] }], 'phone needs the session')
  t.equal(spec.paths['/weapp/login']?.post?.security, undefined, 'login does not')
})

/** The document @fastify/swagger generates for the plugin registered with `options`. */
async function documentOf (t: Test, swaggerOptions: unknown, options: Record<string, unknown>): Promise<{ paths: Record<string, Record<string, { security?: unknown }>> }> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, swaggerOptions as never)
  await app.register(weapp, options as never)
  await app.ready()
  return structuredClone(app.swagger()) as never
}

t.test('the generated documents are valid OpenAPI 3 and Swagger 2.0', async (t) => {
  for (const options of [
    { openapi: { openapi: '3.0.3', info: { title: 'test', version: '1' }, components: { securitySchemes: { weappSession: bearer } } } },
    { openapi: { openapi: '3.1.0', info: { title: 'test', version: '1' }, components: { securitySchemes: { weappSession: bearer } } } },
    { swagger: { info: { title: 'test', version: '1' }, securityDefinitions: { weappSession: { type: 'apiKey', name: 'authorization', in: 'header' } } } }
  ] as const) {
    const name = 'openapi' in options ? `OpenAPI ${options.openapi?.openapi ?? ''}` : 'Swagger 2.0'
    await t.resolves(SwaggerParser.validate(await documentOf(t, options, plugin) as never), `${name} validates`)
  }
})

t.test('without securityScheme the routes name no scheme, and the document is valid whether one is declared or not', async (t) => {
  const { securityScheme: _s, ...plain } = plugin
  for (const options of [
    { openapi: { openapi: '3.0.3', info: { title: 'test', version: '1' } } },
    { openapi: { openapi: '3.0.3', info: { title: 'test', version: '1' }, components: { securitySchemes: { weappSession: bearer } } } },
    { swagger: { info: { title: 'test', version: '1' } } }
  ] as const) {
    const document = await documentOf(t, options, plain)
    t.equal(document.paths['/weapp/decrypt']?.post?.security, undefined, 'no scheme named')
    await t.resolves(SwaggerParser.validate(document as never), `${JSON.stringify(options)} validates`)
  }
  // Naming a scheme that is not declared is the invalid document the default avoids.
  await t.rejects(async () => await SwaggerParser.validate(await documentOf(t, { openapi: { openapi: '3.0.3', info: { title: 'test', version: '1' } } }, plugin) as never), 'an undeclared scheme makes no valid document')
})
