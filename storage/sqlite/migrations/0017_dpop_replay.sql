-- 0017_dpop_replay: issue 16's sender-constrained tokens and replay cache.
--   used_jtis: a JWT id seen once (a DPoP proof's jti, a client assertion's jti), by kind,
--     under its SHA-256, until it expires; a second use of one jti finds the row and is
--     refused. Housekeeping deletes rows past expires_at (the JWT is refused by its age then).
--   refresh_tokens.dpop_jkt: the RFC 7638 thumbprint of the DPoP key a public client's
--     refresh token is bound to (RFC 9449 §5); '' = not bound.
--   access_tokens.dpop_jkt: the same for a recorded (opaque or JWT) access token, so that
--     introspection reports cnf.jkt and userinfo demands a proof by that key.
--   auth_requests.resources: the resource indicators (RFC 8707) of an authorization request,
--     a JSON list of URIs registered for the client, carried to the grant's audience.
--
-- The PostgreSQL set repeats this file with the same version and columns.
CREATE TABLE used_jtis (
    kind       TEXT   NOT NULL CHECK (kind <> ''),
    jti_hash   TEXT   NOT NULL CHECK (jti_hash <> ''),
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, jti_hash)
);
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
