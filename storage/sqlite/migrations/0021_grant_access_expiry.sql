-- 0021_grant_access_expiry: a person's JWT access token has no access_tokens row (issue 12):
-- it names its grant (the gid claim), and the grant decides whether it is live. The grant
-- records when the last of those tokens expires, written by the statement that already
-- inserts or updates the grant when the token is issued, so that housekeeping keeps the
-- grant while one of them can be live. NULL: no row-less token was issued from the grant.
--
-- The other dialect's set repeats this file with the same version and column.
ALTER TABLE grants ADD COLUMN access_expires_at BIGINT;
