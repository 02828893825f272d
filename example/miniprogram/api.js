// The mini-program side of the flow. This file runs unchanged in a mini program (with the global
// `wx`) and in Node (with the shim in ../wx-shim.js); `createApi` takes whichever `wx` it is given.

const SESSION = 'weapp-session'
const TOKEN = 'app-token'

/** wx.* callback APIs as promises. */
function call (wx, name, options = {}) {
  return new Promise((resolve, reject) => {
    wx[name]({ ...options, success: resolve, fail: reject })
  })
}

/**
 * @param {object} wx the mini program's `wx`
 * @param {string} baseUrl the backend, e.g. 'https://api.example.com'
 */
export function createApi (wx, baseUrl) {
  async function post (path, data, session) {
    const res = await call(wx, 'request', {
      url: baseUrl + path,
      method: 'POST',
      data, // an object: sent as JSON, so base64's '+' is never turned into a space
      header: session ? { Authorization: `Bearer ${session}` } : {}
    })
    if (res.statusCode !== 200) {
      const err = new Error(res.data && res.data.message ? res.data.message : `HTTP ${res.statusCode}`)
      err.code = res.data && res.data.code
      err.statusCode = res.statusCode
      throw err
    }
    return res.data
  }

  return {
    /** wx.login() for a one-time code, exchanged by the backend for a session we keep in storage. */
    async login () {
      const { code } = await call(wx, 'login')
      const body = await post('/weapp/login', { code })
      wx.setStorageSync(SESSION, body.session)
      if (body.token) wx.setStorageSync(TOKEN, body.token) // the app's own JWT (jwt option)
      return body
    },

    /** The phone number behind the code of a <button open-type="getPhoneNumber"> tap. */
    async phone (code) {
      return (await post('/weapp/phone', { code }, this.session())).phone
    },

    session () {
      return wx.getStorageSync(SESSION) || undefined
    },

    /** GET an app route with the session (or, with { jwt: true }, with the app's own JWT). */
    async get (path, { jwt = false } = {}) {
      const res = await call(wx, 'request', {
        url: baseUrl + path,
        method: 'GET',
        header: { Authorization: `Bearer ${jwt ? wx.getStorageSync(TOKEN) : this.session()}` }
      })
      return { statusCode: res.statusCode, data: res.data }
    },

    /**
     * Sends encrypted data (from wx.getWeRunData, a share ticket, ...) for the backend to decrypt.
     * The data must have been fetched after the session's login, so that WeChat encrypted it with
     * the session_key the backend holds. If the backend still cannot decrypt it (a later wx.login()
     * rotated the key), take one fresh code and send it along: the backend heals the session.
     */
    async decrypt ({ encryptedData, iv }) {
      try {
        return (await post('/weapp/decrypt', { encryptedData, iv }, this.session())).data
      } catch (err) {
        if (err.code !== 'WEAPP_DECRYPT_FAILED') throw err
        const { code } = await call(wx, 'login')
        const body = await post('/weapp/decrypt', { encryptedData, iv, code }, this.session())
        wx.setStorageSync(SESSION, body.session)
        return body.data
      }
    }
  }
}
