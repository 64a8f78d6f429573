-- 0004_auth_requests_browser_hash: a sign-in re-issues the browser-binding cookie and moves
-- that browser's pending authorization requests to the new secret (RebindAuthRequests), by
-- browser_hash.
--
-- The PostgreSQL set repeats this file with the same version and index.
CREATE INDEX auth_requests_browser_hash ON auth_requests (browser_hash);
