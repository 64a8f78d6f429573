package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// adminEvents counts the audit events of type typ about target.
func adminEvents(t *testing.T, e *testEnv, typ, target string) int {
	t.Helper()
	es, err := e.store.QueryAuditEvents(context.Background(), storage.AuditQuery{Type: typ, Target: target, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// liveSessions counts the person's sessions neither revoked nor expired.
func liveSessions(t *testing.T, e *testEnv, userID string) int {
	t.Helper()
	all, err := e.store.ListSessions(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range all {
		if s.RevokedAt == nil && time.Now().Before(s.ExpiresAt) {
			n++
		}
	}
	return n
}

// TestAdminSignOutEverywhereFaultIsAtomic: a sign-out everywhere whose audit event could not
// be written is not done either (the event is part of the action); the retry does both.
func TestAdminSignOutEverywhereFaultIsAtomic(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	app := e.addClient(storage.ClientConfidential, firstParty)
	u := e.addUser("ada@example.com")
	e.tokens(ctx, e.browser(), app, u.Email)
	fs.Add(faultstore.Rule{Method: "AddAuditEvent", Err: faultstore.ErrInjected, Times: 1})
	e.call(t, "POST", "/users/"+u.ID+"/sign-out-everywhere", tok, map[string]string{"reason": "stolen laptop"}).problem(t, http.StatusServiceUnavailable)
	if n := liveSessions(t, e, u.ID); n != 1 {
		t.Errorf("the 503 signed %s out unaudited (%d live sessions)", u.ID, n)
	}
	if a := e.call(t, "POST", "/users/"+u.ID+"/sign-out-everywhere", tok, map[string]string{"reason": "stolen laptop"}); a.status != 204 {
		t.Fatalf("retry: %d %s", a.status, a.body)
	}
	if liveSessions(t, e, u.ID) != 0 || adminEvents(t, e, "admin.user.sign_out_everywhere", "user:"+u.ID) != 1 {
		t.Errorf("after the retry: %d live sessions, %d audit events", liveSessions(t, e, u.ID),
			adminEvents(t, e, "admin.user.sign_out_everywhere", "user:"+u.ID))
	}
}
