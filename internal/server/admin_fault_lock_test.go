package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestAdminLockFaultRetries fails, once, each store call a lock makes after deciding to lock:
// the 503 must leave nothing done (the account unlocked, no audit event, the sessions live),
// and the retry must finish the whole lock: every session and refresh token ended, the
// relying party told (back-channel logout), one audit event. Before the lock, its audit and
// the sign-out were one transaction, a 503 left the account locked with its sessions live and
// the retry was refused as "already locked" (409).
func TestAdminLockFaultRetries(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	rp := newLogoutRP(t, e)
	app := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.srv.URL + "/bc/" + c.ID })
	for _, method := range []string{"AddAuditEvent", "ListSessions", "ListGrants", "RevokeUserSessions", "RevokeUserClientGrants"} {
		u := e.addUser(strings.ToLower(method) + "@example.com")
		rt := e.tokens(ctx, e.browser(), app, u.Email).RefreshToken
		if liveSessions(t, e, u.ID) != 1 || rt == "" {
			t.Fatalf("%s: setup: no session or refresh token", method)
		}
		r := fs.Add(faultstore.Rule{Method: method, Err: faultstore.ErrInjected, Times: 1})
		first := e.call(t, "POST", "/users/"+u.ID+"/lock", tok, map[string]string{"reason": "fraud " + method})
		if fs.Applied(r) != 1 {
			t.Fatalf("%s: the lock never called it", method)
		}
		first.problem(t, http.StatusServiceUnavailable)
		got, err := e.store.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == storage.UserLocked || adminEvents(t, e, "admin.user.lock", "user:"+u.ID) != 0 || liveSessions(t, e, u.ID) != 1 {
			t.Errorf("%s: the 503 left a half-done lock: status %s, %d audit events, %d live sessions", method,
				got.Status, adminEvents(t, e, "admin.user.lock", "user:"+u.ID), liveSessions(t, e, u.ID))
		}

		retry := e.call(t, "POST", "/users/"+u.ID+"/lock", tok, map[string]string{"reason": "fraud " + method})
		if retry.status != 200 || !strings.Contains(retry.body, `"status":"locked"`) {
			t.Fatalf("%s: retry after 503: %d %s", method, retry.status, retry.body)
		}
		if n := liveSessions(t, e, u.ID); n != 0 {
			t.Errorf("%s: %d sessions live after the lock", method, n)
		}
		if st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, app.ID, app.Secret); st == 200 {
			t.Errorf("%s: the refresh token works after the lock: %s", method, body)
		}
		if n := adminEvents(t, e, "admin.user.lock", "user:"+u.ID); n != 1 {
			t.Errorf("%s: %d lock audit events, want 1", method, n)
		}
		if got := rp.await(1)[app.ID]; len(got) != 1 || got[0].Subject != u.ID {
			t.Errorf("%s: relying party told %+v, want one logout of %s", method, got, u.ID)
		}
		// A lock of a locked account is still refused.
		e.call(t, "POST", "/users/"+u.ID+"/lock", tok, map[string]string{"reason": "again"}).problem(t, http.StatusConflict)
	}
}
