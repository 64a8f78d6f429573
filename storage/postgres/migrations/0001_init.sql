-- 0001_init: MyAccount's core tables, PostgreSQL edition.
--
-- Mirrors storage/sqlite/migrations/0001_init.sql: same version, tables, columns,
-- constraints and indexes (storage/postgres tests compare the two schemas), with native
-- types where SQLite has none: BOOLEAN for its INTEGER 0/1 and BYTEA for BLOB. Conventions
-- (see package sqlstore): times are BIGINT unix milliseconds UTC, string lists are JSON
-- arrays in TEXT, durations are BIGINT seconds, ids are TEXT. Optional references are NULL,
-- never '', so foreign keys and UNIQUE ignore them.

CREATE TABLE users (
    id               TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    email            TEXT    NOT NULL,
    email_normalized TEXT    NOT NULL UNIQUE,
    email_verified   BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash    TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL,
    name             TEXT    NOT NULL DEFAULT '',
    locale           TEXT    NOT NULL DEFAULT '',
    zoneinfo         TEXT    NOT NULL DEFAULT '',
    country          TEXT    NOT NULL DEFAULT '',
    region           TEXT    NOT NULL DEFAULT '',
    date_format      TEXT    NOT NULL DEFAULT '',
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    activated_at     BIGINT
);

CREATE TABLE clients (
    id                        TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    secret_hash               TEXT    NOT NULL DEFAULT '',
    name                      TEXT    NOT NULL DEFAULT '',
    type                      TEXT    NOT NULL,
    redirect_uris             TEXT    NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]',
    grant_types               TEXT    NOT NULL DEFAULT '[]',
    scopes                    TEXT    NOT NULL DEFAULT '[]',
    first_party               BOOLEAN NOT NULL DEFAULT FALSE,
    access_token_format       TEXT    NOT NULL DEFAULT '',
    id_token_alg              TEXT    NOT NULL DEFAULT '',
    access_token_ttl          BIGINT  NOT NULL DEFAULT 0,
    id_token_ttl              BIGINT  NOT NULL DEFAULT 0,
    refresh_token_ttl         BIGINT  NOT NULL DEFAULT 0,
    require_mfa               BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                BIGINT  NOT NULL,
    updated_at                BIGINT  NOT NULL
);

-- Browser SSO sessions; token_hash is the SHA-256 of the cookie secret.
CREATE TABLE sessions (
    id           TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    token_hash   TEXT   NOT NULL UNIQUE,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    BIGINT NOT NULL,
    amr          TEXT   NOT NULL DEFAULT '[]',
    acr          TEXT   NOT NULL DEFAULT '',
    user_agent   TEXT   NOT NULL DEFAULT '',
    ip           TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Authorization requests, with the code issued for them on the same row. session_id has
-- no foreign key: sessions are garbage-collected independently.
CREATE TABLE auth_requests (
    id                    TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    client_id             TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT    NOT NULL DEFAULT '',
    state                 TEXT    NOT NULL DEFAULT '',
    nonce                 TEXT    NOT NULL DEFAULT '',
    scopes                TEXT    NOT NULL DEFAULT '[]',
    response_type         TEXT    NOT NULL DEFAULT '',
    response_mode         TEXT    NOT NULL DEFAULT '',
    code_challenge        TEXT    NOT NULL DEFAULT '',
    code_challenge_method TEXT    NOT NULL DEFAULT '',
    prompt                TEXT    NOT NULL DEFAULT '[]',
    max_age               BIGINT,
    ui_locales            TEXT    NOT NULL DEFAULT '[]',
    login_hint            TEXT    NOT NULL DEFAULT '',
    acr_values            TEXT    NOT NULL DEFAULT '[]',
    device_name           TEXT    NOT NULL DEFAULT '',
    browser_hash          TEXT    NOT NULL DEFAULT '',
    user_id               TEXT    REFERENCES users (id) ON DELETE CASCADE,
    session_id            TEXT    NOT NULL DEFAULT '',
    auth_time             BIGINT,
    amr                   TEXT    NOT NULL DEFAULT '[]',
    acr                   TEXT    NOT NULL DEFAULT '',
    done                  BOOLEAN NOT NULL DEFAULT FALSE,
    code_hash             TEXT    UNIQUE,
    code_expires_at       BIGINT,
    code_used_at          BIGINT,
    created_at            BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL
);
CREATE INDEX auth_requests_client_id ON auth_requests (client_id);
CREATE INDEX auth_requests_user_id ON auth_requests (user_id);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

-- Token families. user_id is NULL for client_credentials; session_id has no foreign key
-- because a grant outlives the session it was issued in.
CREATE TABLE grants (
    id           TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    user_id      TEXT   REFERENCES users (id) ON DELETE CASCADE,
    client_id    TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes       TEXT   NOT NULL DEFAULT '[]',
    audience     TEXT   NOT NULL DEFAULT '[]',
    auth_time    BIGINT,
    amr          TEXT   NOT NULL DEFAULT '[]',
    acr          TEXT   NOT NULL DEFAULT '',
    session_id   TEXT   NOT NULL DEFAULT '',
    device_name  TEXT   NOT NULL DEFAULT '',
    user_agent   TEXT   NOT NULL DEFAULT '',
    ip           TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX grants_user_id_client_id ON grants (user_id, client_id);
CREATE INDEX grants_client_id ON grants (client_id);
CREATE INDEX grants_session_id ON grants (session_id);

-- Rotating refresh tokens; parent_id links the chain (no foreign key: parents expire and
-- are collected first).
CREATE TABLE refresh_tokens (
    id         TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    hash       TEXT   NOT NULL UNIQUE,
    grant_id   TEXT   NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    parent_id  TEXT   NOT NULL DEFAULT '',
    client_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL DEFAULT '',
    scopes     TEXT   NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Issued access tokens, keyed by the SHA-256 of their id. grant_id is NULL for standalone
-- tokens, which DeleteUser finds by subject.
CREATE TABLE access_tokens (
    id_hash    TEXT   NOT NULL PRIMARY KEY CHECK (id_hash <> ''),
    grant_id   TEXT   REFERENCES grants (id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject    TEXT   NOT NULL DEFAULT '',
    scopes     TEXT   NOT NULL DEFAULT '[]',
    audience   TEXT   NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_subject ON access_tokens (subject);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE consents (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT   NOT NULL DEFAULT '[]',
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

-- Private signing keys sealed under the master key; public_jwk is kept in clear so JWKS is
-- served without unsealing.
CREATE TABLE signing_keys (
    id           TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    alg          TEXT   NOT NULL,
    sealed       BYTEA   NOT NULL,
    public_jwk   BYTEA   NOT NULL,
    state        TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT,
    delete_after BIGINT
);
