package sqlite_test

import (
	"strings"
	"testing"
)

// partialIndexQueries are the lookups the partial indexes of migrations 0022 and 0023 serve, with the
// index each must use: housekeeping's conditions (storage/sqlstore/gc.go, outbox.go) and the
// admin API's actor and target filters (roles.go), as those files write them.
var partialIndexQueries = []struct{ query, index string }{
	{`SELECT id FROM sessions WHERE revoked_at <= 1`, "sessions_revoked_at"},
	{`SELECT id FROM grants WHERE revoked_at <= 1`, "grants_revoked_at"},
	{`SELECT hash FROM one_time_tokens WHERE used_at <= 1`, "one_time_tokens_used_at"},
	{`SELECT id FROM outbox WHERE status <> 'pending' AND done_at < 1`, "outbox_done_at"},
	{`SELECT id FROM auth_requests WHERE user_id = 'u'`, "auth_requests_user_id"},
	{`SELECT id FROM audit_events WHERE 1 = 1 AND actor = 'a' AND actor <> '' ORDER BY created_at DESC, id DESC`, "audit_events_actor_created_at"},
	{`SELECT id FROM audit_events WHERE 1 = 1 AND target = 't' AND target <> '' ORDER BY created_at DESC, id DESC`, "audit_events_target_created_at"},
	// Migration 0023: housekeeping's idle sessions (sessions.go).
	{`SELECT id FROM sessions WHERE last_seen_at <= 1 AND revoked_at IS NULL ORDER BY last_seen_at, id LIMIT 500`, "sessions_live_last_seen_at"},
}

// TestPartialIndexesServeTheirQueries: an index that holds only the rows with a value
// (migration 0022) is used only when the query's terms imply its condition; a query the
// planner could not match would scan the table instead, silently.
func TestPartialIndexesServeTheirQueries(t *testing.T) {
	db := openTemp(t)
	for _, q := range partialIndexQueries {
		var plan []struct {
			ID      int    `db:"id"`
			Parent  int    `db:"parent"`
			NotUsed int    `db:"notused"`
			Detail  string `db:"detail"`
		}
		if err := db.SQLX().SelectContext(t.Context(), &plan, "EXPLAIN QUERY PLAN "+q.query); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		var details []string
		for _, p := range plan {
			details = append(details, p.Detail)
		}
		if got := strings.Join(details, "; "); !strings.Contains(got, "INDEX "+q.index) {
			t.Errorf("%s: plan %q does not use %s", q.query, got, q.index)
		}
	}
}
