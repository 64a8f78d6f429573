-- 0008_access_token_denylist: a client_credentials JWT access token has no access_tokens row
-- (issuing one writes nothing); revoking one (RFC 7009) puts the hash of its jti here until it
-- expires, and introspection checks this table. Housekeeping deletes entries past expires_at.
-- No foreign key to clients: a deleted client's tokens are refused because the client is gone.
--
-- PostgreSQL edition of storage/sqlite/migrations/0008_access_token_denylist.sql.
CREATE TABLE revoked_access_tokens (
    id_hash    TEXT   NOT NULL PRIMARY KEY CHECK (id_hash <> ''),
    client_id  TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
