-- 0003_auth_request_hint_subject: the subject of a verified id_token_hint, so that only the
-- hinted person can answer the authorization request (OIDC Core §3.1.2.1).
--
-- The PostgreSQL set repeats this file with the same version and column.
ALTER TABLE auth_requests ADD COLUMN hint_subject TEXT NOT NULL DEFAULT '';
