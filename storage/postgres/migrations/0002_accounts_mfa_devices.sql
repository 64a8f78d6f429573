-- 0002_accounts_mfa_devices: account lifecycle, rate limits, audit log, second factors,
-- device authorization and cluster leases.
--
-- PostgreSQL edition of storage/sqlite/migrations/0002_accounts_mfa_devices.sql: same
-- tables and columns, BOOLEAN and BYTEA where SQLite has INTEGER 0/1 and BLOB; conventions
-- as in 0001. Every table owned by a person references users (id) ON DELETE CASCADE so that
-- DeleteUser erases everything in one statement.

-- Reminder, temporary lockout and MFA preference. NOT NULL columns need a default to be
-- added to existing rows.
ALTER TABLE users ADD COLUMN reminder_sent_at BIGINT;
ALTER TABLE users ADD COLUMN locked_until BIGINT;
ALTER TABLE users ADD COLUMN lockout_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN preferred_mfa TEXT NOT NULL DEFAULT '';
-- ListPendingUsers / DeletePendingUsers scan by status and age.
CREATE INDEX users_status_created_at ON users (status, created_at);

-- Activation and reset links, email-change confirmations and emailed sign-in codes; hash is
-- the SHA-256 of the secret sent.
CREATE TABLE one_time_tokens (
    hash       TEXT   NOT NULL PRIMARY KEY CHECK (hash <> ''),
    purpose    TEXT   NOT NULL,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data       TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX one_time_tokens_user_id_purpose ON one_time_tokens (user_id, purpose);
CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);

CREATE TABLE captchas (
    id          TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    answer_hash TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX captchas_expires_at ON captchas (expires_at);

-- Fixed-window counters for rate limits and lockouts (one row per key).
CREATE TABLE counters (
    key          TEXT   NOT NULL PRIMARY KEY CHECK (key <> ''),
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL
);
CREATE INDEX counters_window_start ON counters (window_start);

-- Security activity. user_id is NULL for events about no known account.
CREATE TABLE audit_events (
    id         TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    user_id    TEXT   REFERENCES users (id) ON DELETE CASCADE,
    type       TEXT   NOT NULL,
    ip         TEXT   NOT NULL DEFAULT '',
    user_agent TEXT   NOT NULL DEFAULT '',
    client_id  TEXT   NOT NULL DEFAULT '',
    detail     TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_events_user_id_created_at ON audit_events (user_id, created_at);

-- Second factors. credential_id is the WebAuthn credential id, NULL for TOTP (UNIQUE
-- allows many NULLs); secret is the sealed TOTP secret or the WebAuthn credential JSON.
CREATE TABLE mfa_credentials (
    id            TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    name          TEXT    NOT NULL DEFAULT '',
    credential_id BYTEA   UNIQUE,
    secret        BYTEA   NOT NULL,
    sign_count    BIGINT  NOT NULL DEFAULT 0,
    last_step     BIGINT  NOT NULL DEFAULT 0,
    flagged       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX mfa_credentials_user_id ON mfa_credentials (user_id);

CREATE TABLE recovery_codes (
    user_id TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash    TEXT   NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, hash)
);

-- "Remember this browser": token_hash is the SHA-256 of the cookie secret.
CREATE TABLE trusted_browsers (
    token_hash TEXT   NOT NULL PRIMARY KEY CHECK (token_hash <> ''),
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX trusted_browsers_user_id ON trusted_browsers (user_id);
CREATE INDEX trusted_browsers_expires_at ON trusted_browsers (expires_at);

-- RFC 8628 device authorization. user_id is NULL until someone decides; a deleted user's
-- approvals go with the user so they can never yield tokens.
CREATE TABLE device_codes (
    device_code_hash TEXT   NOT NULL PRIMARY KEY CHECK (device_code_hash <> ''),
    user_code        TEXT   NOT NULL UNIQUE,
    client_id        TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes           TEXT   NOT NULL DEFAULT '[]',
    device_name      TEXT   NOT NULL DEFAULT '',
    state            TEXT   NOT NULL,
    user_id          TEXT   REFERENCES users (id) ON DELETE CASCADE,
    auth_time        BIGINT,
    amr              TEXT   NOT NULL DEFAULT '[]',
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    last_polled_at   BIGINT,
    consumed_at      BIGINT
);
CREATE INDEX device_codes_client_id ON device_codes (client_id);
CREATE INDEX device_codes_user_id ON device_codes (user_id);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);

-- Cluster leases: one instance at a time runs a named job.
CREATE TABLE leases (
    name       TEXT   NOT NULL PRIMARY KEY CHECK (name <> ''),
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
