// A small `wx` for Node, backed by fastify-weapp/testing's mock WeChat API: just enough of
// wx.login, wx.request, storage and wx.getWeRunData to run the mini-program code unchanged.

/**
 * @param {import('fastify-weapp/testing').MockWechat} mock
 * @param {string} openid the WeChat user this "phone" belongs to
 */
export function createWx (mock, openid) {
  const storage = new Map()
  let lapsed = false
  const done = (options, fn) => {
    Promise.resolve().then(fn).then(options.success, options.fail)
  }
  return {
    /** The WeChat session lapses: the next wx.login() gets a new session_key from WeChat. */
    lapseSession () { lapsed = true },

    login (options) {
      done(options, () => {
        const code = mock.login(openid, { rotate: lapsed })
        lapsed = false
        return { code, errMsg: 'login:ok' }
      })
    },

    request ({ url, method = 'GET', data, header = {}, success, fail }) {
      done({ success, fail }, async () => {
        const res = await fetch(url, {
          method,
          headers: { ...(data === undefined ? {} : { 'content-type': 'application/json' }), ...header },
          body: data === undefined ? undefined : JSON.stringify(data)
        })
        const text = await res.text()
        let body = text
        try { body = JSON.parse(text) } catch {}
        return { statusCode: res.status, data: body, header: Object.fromEntries(res.headers) }
      })
    },

    getWeRunData (options) {
      done(options, () => ({
        ...mock.encrypt(openid, { stepInfoList: [{ timestamp: Math.floor(Date.now() / 1000) - 86400, step: 6120 }, { timestamp: Math.floor(Date.now() / 1000), step: 10342 }] }),
        errMsg: 'getWeRunData:ok'
      }))
    },

    /** What the bindgetphonenumber handler of <button open-type="getPhoneNumber"> receives. */
    tapPhoneButton () {
      return { detail: { code: mock.phoneCode(openid), errMsg: 'getPhoneNumber:ok' } }
    },

    getStorageSync (key) { return storage.get(key) ?? '' },
    setStorageSync (key, value) { storage.set(key, value) }
  }
}
