-- 0022_partial_indexes: indexes on a column that is empty when the row is inserted, and
-- stays so for most rows, hold only the rows that have it (issue 12). An index entry for
-- a NULL or '' is one more B-tree page written by every insert, and these tables are
-- written by every sign-in (a session, a grant, a one-time token, a mail, a login event,
-- an authorization request) while nothing looks those rows up by the empty value:
-- housekeeping asks for revoked_at/used_at/done_at <= T, which only rows with a value
-- match, and the admin API asks for an actor or a target by name (with "<> ''" in the
-- query, so that both planners see the index applies). On SQLite this saves seven of the
-- sixty-odd pages a sign-in writes to the log.
--
-- The other dialect's set repeats this file with the same version.
DROP INDEX sessions_revoked_at;
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
DROP INDEX grants_revoked_at;
CREATE INDEX grants_revoked_at ON grants (revoked_at) WHERE revoked_at IS NOT NULL;
DROP INDEX one_time_tokens_used_at;
CREATE INDEX one_time_tokens_used_at ON one_time_tokens (used_at) WHERE used_at IS NOT NULL;
DROP INDEX outbox_done_at;
CREATE INDEX outbox_done_at ON outbox (done_at) WHERE done_at IS NOT NULL;
DROP INDEX auth_requests_user_id;
CREATE INDEX auth_requests_user_id ON auth_requests (user_id) WHERE user_id IS NOT NULL;
DROP INDEX audit_events_actor_created_at;
CREATE INDEX audit_events_actor_created_at ON audit_events (actor, created_at) WHERE actor <> '';
DROP INDEX audit_events_target_created_at;
CREATE INDEX audit_events_target_created_at ON audit_events (target, created_at) WHERE target <> '';
