-- 0012_client_registration: dynamic client registration (RFC 7591/7592, issue 13), off by
-- default. initial_access_tokens gate registration: an admin issues one with a number of uses
-- and an expiry; only its SHA-256 is kept. client_registrations holds the hash of each
-- dynamically registered client's registration access token; it goes with the client.
--
-- PostgreSQL edition of storage/sqlite/migrations/0012_client_registration.sql.
CREATE TABLE initial_access_tokens (
    hash       TEXT    NOT NULL PRIMARY KEY CHECK (hash <> ''),
    uses_left  BIGINT  NOT NULL CHECK (uses_left >= 0),
    created_by TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX initial_access_tokens_expires_at ON initial_access_tokens (expires_at);

CREATE TABLE client_registrations (
    client_id  TEXT   NOT NULL PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    token_hash TEXT   NOT NULL UNIQUE CHECK (token_hash <> ''),
    updated_at BIGINT NOT NULL
);
