import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import t from 'tap'
import weapp from '../lib/index.js'
import { KEY } from './fixtures/app.js'

t.test('@fastify/swagger documents every route, with tags, summaries, bodies and responses', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1' } } })
  await app.register(weapp, { appId: 'wx1', appSecret: 's', key: KEY })
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
})
