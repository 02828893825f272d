// The mini-program side, on fastify-weapp-client. In a mini program (npm i fastify-weapp-client, then "Build npm"):
//
//   import { createPage } from './page.js'
//   Page(createPage(wx, 'https://api.example.com'))
//
// with <button open-type="getPhoneNumber" bindgetphonenumber="onGetPhoneNumber"> in the page.
// In Node, the example runs the same code with the wx of fastify-weapp/testing.
import { createWeappClient, WeappLinkRequiredError } from 'fastify-weapp-client'

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
    // An app that links new users to existing accounts (the merchant app) answers a login with
    // 409 WEAPP_LINK_REQUIRED: the page keeps the link token and shows the phone-number button.
    async onShow () {
      try {
        await api.ensureSession()
        this.linkToken = undefined
      } catch (err) {
        if (!(err instanceof WeappLinkRequiredError)) throw err
        this.linkToken = err.linkToken // show <button open-type="getPhoneNumber" bindgetphonenumber="onLinkPhone">
      }
    },

    // The link route proves the account by its phone number; the session it answers is kept.
    async onLinkPhone (e) {
      return await api.link({ url: '/link', linkToken: this.linkToken, data: { code: e.detail.code } })
    },

    // The customer app records the user's phone number on their account.
    async onRecordPhone (e) {
      return await api.request({ url: '/account/phone', method: 'POST', data: { code: e.detail.code } })
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
