package server_test

import (
	"net/http"
	"testing"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestAdminDeleteUserFaultRetries: a deletion whose audit event could not be written is not
// done; the retry deletes and audits. Before, the account was gone unaudited and the retry
// answered 404.
func TestAdminDeleteUserFaultRetries(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	u := e.addUser("ada@example.com")
	etag := e.call(t, "GET", "/users/"+u.ID, tok, nil).header.Get("ETag")
	fs.Add(faultstore.Rule{Method: "AddAuditEvent", Err: faultstore.ErrInjected, Times: 1})
	e.call(t, "DELETE", "/users/"+u.ID+"?reason=asked", tok, nil, "If-Match", etag).problem(t, http.StatusServiceUnavailable)
	if a := e.call(t, "DELETE", "/users/"+u.ID+"?reason=asked", tok, nil, "If-Match", etag); a.status != 204 {
		t.Fatalf("retry after 503: %d %s", a.status, a.body)
	}
	if n := adminEvents(t, e, "admin.user.delete", "user:"+u.ID); n != 1 {
		t.Errorf("%d delete audit events, want 1", n)
	}
}
