// The upstream of `npm run bench`: the package's mock WeChat API in a process of its own, so that
// answering jscode2session competes neither with the server under test nor with the load
// generator. The runner asks it over IPC for login codes (in batches, ahead of the load) and for
// encrypted data; it exits when the runner does (the IPC channel closes), whatever ends the runner.
import { MockPlatforms } from 'fastify-weapp/testing'

const mock = await MockPlatforms.start()

process.on('message', ({ id, codes, encrypt }) => {
  if (codes !== undefined) {
    // `count` fresh codes of the users `${prefix}${n}`, n counting from `from` (modulo `users`, where given).
    const { prefix, from, count, users } = codes
    const out = new Array(count)
    for (let i = 0; i < count; i++) out[i] = mock.login(`${prefix}${users === undefined ? from + i : (from + i) % users}`)
    process.send({ id, value: out })
  } else {
    process.send({ id, value: mock.encrypt(encrypt.openid, encrypt.data) })
  }
})
process.on('disconnect', () => { mock.close().then(() => process.exit(0)) })
process.send({ ready: { url: mock.url, appId: mock.appId, appSecret: mock.appSecret } })
