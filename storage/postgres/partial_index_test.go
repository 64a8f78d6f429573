package postgres_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestPartialIndexesServeTheirQueries: as storage/sqlite's test of the same name, on
// PostgreSQL. Sequential scans are switched off, so an index the planner may use is used
// even on these empty tables; one it may not (its condition not implied) leaves a Seq Scan.
// Plans are generic (a prepared statement's plan for any value): with a constant such as
// 'a' the planner would prove that actor is not empty by itself, with a parameter it cannot.
func TestPartialIndexesServeTheirQueries(t *testing.T) {
	db := open(t)
	conn, err := db.SQLX().Connx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, set := range []string{"SET enable_seqscan = off", "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.ExecContext(t.Context(), set); err != nil {
			t.Fatal(err)
		}
	}
	for i, q := range []struct {
		query, index string
		arg          string // the parameter's type and value, as PREPARE and EXECUTE take them
	}{
		{`SELECT id FROM sessions WHERE revoked_at <= $1`, "sessions_revoked_at", "bigint 1"},
		{`SELECT id FROM grants WHERE revoked_at <= $1`, "grants_revoked_at", "bigint 1"},
		{`SELECT hash FROM one_time_tokens WHERE used_at <= $1`, "one_time_tokens_used_at", "bigint 1"},
		{`SELECT id FROM outbox WHERE status <> 'pending' AND done_at < $1`, "outbox_done_at", "bigint 1"},
		{`SELECT id FROM auth_requests WHERE user_id = $1`, "auth_requests_user_id", "text 'u'"},
		{`SELECT id FROM audit_events WHERE 1 = 1 AND actor = $1 AND actor <> '' ORDER BY created_at DESC, id DESC`, "audit_events_actor_created_at", "text 'a'"},
		{`SELECT id FROM audit_events WHERE 1 = 1 AND target = $1 AND target <> '' ORDER BY created_at DESC, id DESC`, "audit_events_target_created_at", "text 't'"},
	} {
		typ, val, _ := strings.Cut(q.arg, " ")
		name := fmt.Sprintf("partial_%d", i)
		if _, err := conn.ExecContext(t.Context(), "PREPARE "+name+"("+typ+") AS "+q.query); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		var plan []string
		if err := conn.SelectContext(t.Context(), &plan, "EXPLAIN EXECUTE "+name+"("+val+")"); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		if got := strings.Join(plan, "\n"); !strings.Contains(got, q.index) {
			t.Errorf("%s: plan\n%s\ndoes not use %s", q.query, got, q.index)
		}
	}
}
