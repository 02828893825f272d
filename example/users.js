// The app's own users, in a real Postgres (PGlite: Postgres compiled to WASM, installed from npm,
// no server, no native build). One row per person; one row per platform identity that reaches
// them, so the customer app, the merchant app and a WeCom staff app share a user. A unionid is
// one vendor's id (WeChat's, QQ's, Douyin's and Kuaishou's are each their own namespace): the user
// is keyed by the platform and the unionid together, never by the unionid alone.
import { PGlite } from '@electric-sql/pglite'

const SCHEMA = `
create table users (
  id serial primary key,
  union_key text unique,            -- '<platform>:<unionid>': one vendor's id across its account's apps
  phone text unique,                -- what a merchant app links an account by
  roles text[] not null default '{customer}',
  banned boolean not null default false,
  created_at timestamptz not null default now()
);
create table identities (
  app_id text not null,
  subject text not null,            -- the openid, or corpId:userId for a WeCom member
  user_id integer not null references users (id),
  primary key (app_id, subject)
);`

/** The identity's unionid in its vendor's namespace ('wechat:o…', 'qq:…'), or undefined without one. */
function unionKeyOf (identity) {
  return identity.unionid === undefined ? undefined : `${identity.platform}:${identity.unionid}`
}

/** The identity's subject in its app: what onLogin's identity names the user by. */
function subjectOf (identity) {
  return identity.platform === 'wecom' ? `${identity.corpId}:${identity.userId}` : identity.openid
}

export async function openUsers () {
  const db = new PGlite() // in memory; new PGlite('./data') keeps it on disk
  await db.exec(SCHEMA)
  const one = async (sql, params) => (await db.query(sql, params)).rows[0]

  return {
    /** unionid first (one user across one vendor's apps), else this app's own id for them. */
    async find (identity) {
      const unionKey = unionKeyOf(identity)
      if (unionKey !== undefined) {
        const user = await one('select * from users where union_key = $1', [unionKey])
        if (user !== undefined) {
          await this.addIdentity(user.id, identity)
          return user
        }
      }
      return await one('select u.* from users u join identities i on i.user_id = u.id where i.app_id = $1 and i.subject = $2', [identity.appId, subjectOf(identity)])
    },

    /** The first login of someone new: the user and the identity that reaches them, in one transaction. */
    async create (identity) {
      return await db.transaction(async (tx) => {
        const user = (await tx.query('insert into users (union_key) values ($1) returning *', [unionKeyOf(identity) ?? null])).rows[0]
        await tx.query('insert into identities (app_id, subject, user_id) values ($1, $2, $3)', [identity.appId, subjectOf(identity), user.id])
        return user
      })
    },

    async addIdentity (userId, identity) {
      await db.query('insert into identities (app_id, subject, user_id) values ($1, $2, $3) on conflict do nothing', [identity.appId, subjectOf(identity), userId])
    },

    async byId (id) {
      return await one('select * from users where id = $1', [id])
    },

    async byPhone (phone) {
      return await one('select * from users where phone = $1', [phone])
    },

    async setPhone (id, phone) {
      await db.query('update users set phone = $2 where id = $1', [id, phone])
    },

    async addRole (id, role) {
      return await one('update users set roles = array_append(roles, $2) where id = $1 and not ($2 = any(roles)) returning *', [id, role]) ?? await this.byId(id)
    },

    /** Bans a user; the identities that reach them, to end their sessions. */
    async ban (id) {
      await db.query('update users set banned = true where id = $1', [id])
      return (await db.query('select app_id, subject from identities where user_id = $1', [id])).rows
    },

    /** What a session carries of the user: small, and enough for most routes to need no lookup. */
    claims (user) {
      return { userId: user.id, roles: user.roles }
    },

    close: () => db.close()
  }
}
