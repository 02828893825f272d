// The mini-program side, on fastify-weapp-client. In a mini program (npm i fastify-weapp-client, then "Build npm"):
//
//   import { createPage } from './page.js'
//   Page(createPage(wx, 'https://api.example.com'))
//
// with <button open-type="getPhoneNumber" bindgetphonenumber="onGetPhoneNumber"> in the page.
// In Node, the example runs the same code with the wx of fastify-weapp/testing.
import { createWeappClient } from 'fastify-weapp-client'

/** wx.* callback APIs as promises. */
function call (wx, name, options = {}) {
  return new Promise((resolve, reject) => { wx[name]({ ...options, success: resolve, fail: reject }) })
}

export function createPage (wx, baseUrl) {
  const api = createWeappClient({ baseUrl, wx }) // prefix '/weapp'; the session is kept in wx storage

  return {
    api,

    // On showing the page, before anything asks WeChat for encrypted data: logs in again only if the
    // session is missing, expired, or WeChat's own session lapsed, so that the session the server
    // holds carries the key WeChat encrypts with.
    async onShow () {
      await api.ensureSession()
    },

    // An app route behind app.weapp.authenticate: the session is attached (and renewed once if the
    // server refuses it).
    async loadMe () {
      return await api.request({ url: '/me' })
    },

    // Encrypted data, sent as JSON for the server to decrypt with the session's key. If a login
    // rotated the key meanwhile, the client takes one fresh code and the server heals the session.
    async loadSteps () {
      const { encryptedData, iv } = await call(wx, 'getWeRunData')
      return await api.decrypt({ encryptedData, iv })
    },

    // <button open-type="getPhoneNumber" bindgetphonenumber="onGetPhoneNumber">
    async onGetPhoneNumber (e) {
      return await api.phone(e.detail.code)
    },

    // An existing @fastify/jwt route of the app, with the token the login route also answered.
    async loadOrders () {
      return await api.request({ url: '/orders', header: { Authorization: `Bearer ${api.token()}` } })
    }
  }
}
