-- 0007_housekeeping_indexes: housekeeping (DeleteExpired, DeleteAuditEventsBefore) finds dead
-- rows by these columns; without an index each run scanned the whole table (EXPLAIN QUERY
-- PLAN on a seeded database: SCAN sessions, grants, one_time_tokens, audit_events): 27 ms for
-- 100k sessions and 61 ms for 500k grants on SQLite, under the write lock, growing with the
-- table; with the indexes each step reads only the dead rows.
--
-- The PostgreSQL set repeats this file with the same version and indexes.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);
CREATE INDEX grants_revoked_at ON grants (revoked_at);
CREATE INDEX one_time_tokens_used_at ON one_time_tokens (used_at);
CREATE INDEX audit_events_created_at ON audit_events (created_at);
