-- 0023_sessions_idle: housekeeping finds the live sessions nobody has used for the idle
-- limit (session.idle_ttl), so that their clients are told (back-channel logout) when the
-- session falls idle, not up to the absolute lifetime later; only live rows are indexed,
-- as the revoked ones are never looked up by last use.
--
-- The other dialect's set repeats this file with the same version.
CREATE INDEX sessions_live_last_seen_at ON sessions (last_seen_at) WHERE revoked_at IS NULL;
