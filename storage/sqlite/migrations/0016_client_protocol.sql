-- 0016_client_protocol: what a client registers for the protocol features of issue 16.
--   token_endpoint_auth_method: '' keeps the type's default (client_secret_basic for
--     confidential clients, none for public ones); 'private_key_jwt' (RFC 7523) authenticates
--     with an assertion signed by a key from jwks (a JWK Set, JSON) or jwks_uri.
--   backchannel_logout_uri / _session_required: OpenID Connect Back-Channel Logout 1.0.
--   require_par: the client's authorization requests must come through /par (RFC 9126).
--   dpop_bound_access_tokens: every token request must carry a DPoP proof (RFC 9449 §5.2).
--   resources: the resource indicators (RFC 8707) the client may ask tokens for, a JSON list
--     of absolute URIs; a token's aud then names the resource.
--
-- The PostgreSQL set repeats this file with the same version and columns.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
