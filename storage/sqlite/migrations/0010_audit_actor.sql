-- 0010_audit_actor: every admin action is an audit event naming who did it, to what, and why
-- (issue 13). actor is "user:ID", "client:ID" or "cli" ('' for a person's own events); target
-- is what the action touched ("user:ID", "client:ID"); reason is the operator's words.
-- An admin action on a person keeps user_id empty and names them in target, so the event
-- outlives the account (deleting a user deletes its user_id rows) and does not show on the
-- person's own activity list. The indexes serve the admin API's "by actor" and "by target".
--
-- The PostgreSQL set repeats this file with the same version and columns.
ALTER TABLE audit_events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN reason TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_actor_created_at ON audit_events (actor, created_at);
CREATE INDEX audit_events_target_created_at ON audit_events (target, created_at);
