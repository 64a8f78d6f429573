package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestAdminUnlockFaultRetries: an unlock that failed (503) can be retried with the same
// If-Match and finishes, audited once. Before, the account was unlocked before the password
// lockout was cleared and the event recorded: the 503 had changed the account's ETag, and the
// retry was refused (412).
func TestAdminUnlockFaultRetries(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	for _, method := range []string{"AddAuditEvent", "ResetCounter"} {
		u := e.addUser(strings.ToLower(method) + "@example.com")
		if a := e.call(t, "POST", "/users/"+u.ID+"/lock", tok, map[string]string{"reason": "fraud"}); a.status != 200 {
			t.Fatalf("lock: %d %s", a.status, a.body)
		}
		etag := e.call(t, "GET", "/users/"+u.ID, tok, nil).header.Get("ETag")
		r := fs.Add(faultstore.Rule{Method: method, Err: faultstore.ErrInjected, Times: 1})
		first := e.call(t, "POST", "/users/"+u.ID+"/unlock", tok, map[string]string{"reason": "verified"}, "If-Match", etag)
		if fs.Applied(r) != 1 {
			t.Fatalf("%s: the unlock never called it", method)
		}
		first.problem(t, http.StatusServiceUnavailable)
		if got, _ := e.store.GetUser(ctx, u.ID); got.Status != storage.UserLocked || adminEvents(t, e, "admin.user.unlock", "user:"+u.ID) != 0 {
			t.Errorf("%s: the 503 left a half-done unlock: status %s", method, got.Status)
		}
		retry := e.call(t, "POST", "/users/"+u.ID+"/unlock", tok, map[string]string{"reason": "verified"}, "If-Match", etag)
		if retry.status != 200 || !strings.Contains(retry.body, `"status":"active"`) {
			t.Fatalf("%s: retry after 503: %d %s", method, retry.status, retry.body)
		}
		if n := adminEvents(t, e, "admin.user.unlock", "user:"+u.ID); n != 1 {
			t.Errorf("%s: %d unlock audit events, want 1", method, n)
		}
	}
}
