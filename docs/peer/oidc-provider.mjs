// A peer for `myaccount bench --peer`: oidc-provider (npm, 9.x) serving one confidential
// client for client_credentials, with introspection, from memory (or, with STORE_SQLITE, a
// SQLite file: below), on loopback.
//
//   mkdir -p /tmp/peer && cd /tmp/peer && npm init -y && npm install oidc-provider@9
//   cp docs/peer/oidc-provider.mjs /tmp/peer/ && node /tmp/peer/oidc-provider.mjs   # ESM resolves packages next to the script
//   myaccount bench ... --peer http://127.0.0.1:3000,bench,bench-secret,http://127.0.0.1:3000/bench/refresh-tokens
//
// The fourth --peer field is where the bench gets one refresh token per worker for the refresh
// scenario: POST /bench/refresh-tokens?n=N mints N, each in its own grant for one fixed account,
// as if a code flow with scope "openid offline_access" had just ended (this script's own
// endpoint, untimed; oidc-provider has no password form to sign in through). Refresh tokens
// rotate on every use (rotateRefreshToken: true, like MyAccount), and each refresh returns an
// RS256 ID token, as MyAccount's default does.
//
// PORT (default 3000), CLIENT_ID (bench), CLIENT_SECRET (bench-secret), ID_TOKEN_ALG (RS256;
// ES256 or EdDSA for the like-for-like comparison with a MyAccount client registered for it).
// FORMAT=opaque (default): opaque access tokens kept in memory (a Map, below); they can be
// introspected. FORMAT=jwt: ES256-signed JWT access tokens for a default resource (the
// like-for-like signing cost with MyAccount's ES256 access tokens); oidc-provider refuses to
// introspect JWT access tokens, so the introspection scenario fails in this mode.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;
const format = process.env.FORMAT || 'opaque';
const idTokenAlg = process.env.ID_TOKEN_ALG || 'RS256';
const resource = `${issuer}/api`;

// Fresh keys per run: nothing is persisted.
const jwk = (type, opts) => ({ ...generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }) });
const keys = [
  { ...jwk('rsa', { modulusLength: 2048 }), use: 'sig', alg: 'RS256', kid: 'rs' },
  { ...jwk('ec', { namedCurve: 'P-256' }), use: 'sig', alg: 'ES256', kid: 'es' },
  { ...jwk('ed25519'), use: 'sig', alg: 'EdDSA', kid: 'ed' },
];

// The bundled development adapter is an LRU of 1,000 entries: under load the token the
// introspection scenario checks is evicted and comes back inactive. This one is a plain Map
// that only forgets expired entries (swept once a minute), so nothing is evicted mid-run.
const store = new Map();
setInterval(() => {
  const now = Date.now();
  for (const [k, v] of store) if (v.exp && v.exp < now) store.delete(k);
}, 60_000).unref();
// STORE_SQLITE=path keeps everything in a SQLite file instead (better-sqlite3: npm install
// better-sqlite3), WAL with synchronous=NORMAL as MyAccount's default: oidc-provider with a
// durable store, as its documentation asks of a deployment (the Map is for development).
// One table; each adapter call is one statement, committed on its own.
let sql;
if (process.env.STORE_SQLITE) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(process.env.STORE_SQLITE);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS oidc (model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL,
      grant_id TEXT, user_code TEXT, uid TEXT, expires_at INTEGER, PRIMARY KEY (model, id));
    CREATE INDEX IF NOT EXISTS oidc_grant_id ON oidc (grant_id);
    CREATE INDEX IF NOT EXISTS oidc_uid ON oidc (uid);
    CREATE INDEX IF NOT EXISTS oidc_user_code ON oidc (user_code);
    CREATE INDEX IF NOT EXISTS oidc_expires_at ON oidc (expires_at);`);
  sql = {
    upsert: db.prepare(`INSERT INTO oidc (model, id, payload, grant_id, user_code, uid, expires_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload,
      grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`),
    find: db.prepare('SELECT payload, expires_at FROM oidc WHERE model = ? AND id = ?'),
    findBy: (col) => db.prepare(`SELECT payload, expires_at FROM oidc WHERE model = ? AND ${col} = ?`),
    consume: db.prepare(`UPDATE oidc SET payload = json_set(payload, '$.consumed', ?) WHERE model = ? AND id = ?`),
    destroy: db.prepare('DELETE FROM oidc WHERE model = ? AND id = ?'),
    revoke: db.prepare('DELETE FROM oidc WHERE grant_id = ?'),
  };
  sql.byUid = sql.findBy('uid');
  sql.byUserCode = sql.findBy('user_code');
}
const live = (row) => (row && (!row.expires_at || row.expires_at > Date.now()) ? JSON.parse(row.payload) : undefined);
class SQLiteAdapter {
  constructor(model) { this.model = model; }
  async upsert(id, payload, expiresIn) {
    sql.upsert.run(this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null,
      payload.uid ?? null, expiresIn ? Date.now() + expiresIn * 1000 : null);
  }
  async find(id) { return live(sql.find.get(this.model, id)); }
  async findByUid(uid) { return live(sql.byUid.get(this.model, uid)); }
  async findByUserCode(code) { return live(sql.byUserCode.get(this.model, code)); }
  async consume(id) { sql.consume.run(Math.floor(Date.now() / 1000), this.model, id); }
  async destroy(id) { sql.destroy.run(this.model, id); }
  async revokeByGrantId(grantId) { sql.revoke.run(grantId); }
}

class MapAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
  }
  async find(id) {
    const v = store.get(this.key(id));
    return v && (!v.exp || v.exp > Date.now()) ? v.payload : undefined;
  }
  async findByUid(uid) {
    for (const [k, v] of store) if (k.startsWith(`${this.model}:`) && v.payload.uid === uid) return v.payload;
    return undefined;
  }
  async findByUserCode(code) {
    for (const [k, v] of store) if (k.startsWith(`${this.model}:`) && v.payload.userCode === code) return v.payload;
    return undefined;
  }
  async consume(id) { const v = store.get(this.key(id)); if (v) v.payload.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const [k, v] of store) if (v.payload.grantId === grantId) store.delete(k);
  }
}

const features = {
  devInteractions: { enabled: false },
  clientCredentials: { enabled: true },
  introspection: { enabled: true },
};
if (format === 'jwt') {
  features.resourceIndicators = {
    enabled: true,
    defaultResource: () => resource,
    useGrantedResource: () => true,
    getResourceServerInfo: () => ({
      scope: '', audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
    }),
  };
}

const clientId = process.env.CLIENT_ID || 'bench';
const provider = new Provider(issuer, {
  adapter: sql ? SQLiteAdapter : MapAdapter,
  jwks: { keys },
  features,
  rotateRefreshToken: true,
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  clients: [{
    client_id: clientId,
    client_secret: process.env.CLIENT_SECRET || 'bench-secret',
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['https://app.example/cb'],
    id_token_signed_response_alg: idTokenAlg,
  }],
});

// Refresh tokens for the bench, as a finished code flow would leave them.
async function mintRefreshToken() {
  const client = await provider.Client.find(clientId);
  const grant = new provider.Grant({ accountId: 'bench-user', clientId });
  grant.addOIDCScope('openid offline_access');
  const grantId = await grant.save();
  const rt = new provider.RefreshToken({
    accountId: 'bench-user', client, grantId, gty: 'authorization_code',
    scope: 'openid offline_access', authTime: Math.floor(Date.now() / 1000),
  });
  return rt.save();
}
provider.use(async (ctx, next) => {
  if (ctx.path !== '/bench/refresh-tokens' || ctx.method !== 'POST') return next();
  const n = Math.min(Math.max(Number(ctx.query.n) || 1, 1), 256);
  const tokens = [];
  for (let i = 0; i < n; i++) tokens.push(await mintRefreshToken());
  ctx.body = tokens;
});
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider ${format} access tokens at ${issuer}, ${sql ? 'SQLite ' + process.env.STORE_SQLITE : 'in memory'}`));
