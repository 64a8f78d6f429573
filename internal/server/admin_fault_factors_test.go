package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// mailsTo counts the mails delivered to addr so far.
func mailsTo(e *testEnv, addr string) int {
	n := 0
	for _, m := range e.smtp.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				n++
			}
		}
	}
	return n
}

// TestAdminRemoveFactorsFaultRetries: a removal of second factors that failed (503) removed
// nothing, and its retry removes every factor, forgets the remembered browsers, voids the
// recovery codes, audits the true count once and tells the owner, once (the notice is
// written in the removal's transaction: after it, a failure lost it). Before, each factor was
// deleted in its own writes and the event written after them: a failed event left the factors
// gone unaudited and the retry audited "all (0)" and told no one; a failed forgetting of the
// browsers left the credential deleted and the browsers trusted.
func TestAdminRemoveFactorsFaultRetries(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	// The owner's notice, its "This wasn't me" token and queued mail, commit with the removal.
	for _, method := range []string{"AddAuditEvent", "DeleteTrustedBrowsers", "CreateOneTimeToken", "EnqueueOutbox"} {
		u := e.addUser(strings.ToLower(method) + "@example.com")
		now := time.Now().UTC()
		for _, id := range []string{"t1", "t2"} {
			if err := e.store.CreateMFACredential(ctx, &storage.MFACredential{ID: id + u.ID[:6], UserID: u.ID, Kind: storage.MFATOTP, Name: id, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.store.ReplaceRecoveryCodes(ctx, u.ID, []string{"h1", "h2"}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateTrustedBrowser(ctx, &storage.TrustedBrowser{TokenHash: "tb" + u.ID, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		state := func() (creds, codes int, trusted bool) {
			cs, err := e.store.ListMFACredentials(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			n, err := e.store.CountRecoveryCodes(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.store.GetTrustedBrowser(ctx, "tb"+u.ID, u.ID, time.Now())
			return len(cs), n, err == nil
		}
		r := fs.Add(faultstore.Rule{Method: method, Err: faultstore.ErrInjected, Times: 1})
		first := e.call(t, "POST", "/users/"+u.ID+"/remove-factors", tok, map[string]string{"reason": "lost phone"})
		if fs.Applied(r) != 1 {
			t.Fatalf("%s: the removal never called it", method)
		}
		first.problem(t, http.StatusServiceUnavailable)
		if creds, codes, trusted := state(); creds != 2 || codes != 2 || !trusted || adminEvents(t, e, "admin.user.remove_factors", "user:"+u.ID) != 0 {
			t.Errorf("%s: the 503 left a half-done removal: %d factors, %d codes, browser trusted %t", method, creds, codes, trusted)
		}
		retry := e.call(t, "POST", "/users/"+u.ID+"/remove-factors", tok, map[string]string{"reason": "lost phone"})
		if retry.status != 200 || !strings.Contains(retry.body, `"removed":2`) {
			t.Fatalf("%s: retry after 503: %d %s", method, retry.status, retry.body)
		}
		if creds, codes, trusted := state(); creds != 0 || codes != 0 || trusted {
			t.Errorf("%s: after the retry: %d factors, %d codes, browser trusted %t", method, creds, codes, trusted)
		}
		es, err := e.store.QueryAuditEvents(ctx, storage.AuditQuery{Type: "admin.user.remove_factors", Target: "user:" + u.ID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Detail != "all (2)" {
			t.Errorf("%s: audit events %+v, want one saying all (2)", method, es)
		}
		e.smtp.WaitFor(t, u.Email, mailWait) // the owner is told, once
		settle()
		if n := mailsTo(e, u.Email); n != 1 {
			t.Errorf("%s: %d notices to the owner, want 1", method, n)
		}
	}
}

// TestAdminSupportMailFaultRetries: a resend of the activation link or a reset link whose
// audit event failed (503) sent nothing, and its retry sends one link, audited once. Before,
// the link was mailed before the event was written: the 503 had sent a link unaudited, and
// the retry sent a second one.
func TestAdminSupportMailFaultRetries(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	for _, tc := range []struct{ path, typ string }{
		{"resend-activation", "admin.user.resend_activation"},
		{"send-reset", "admin.user.send_reset"},
	} {
		u := e.addUser(tc.path + "@example.com")
		if _, err := e.store.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.Status, x.ActivatedAt = storage.UserPending, nil; return nil }); err != nil {
			t.Fatal(err)
		}
		r := fs.Add(faultstore.Rule{Method: "AddAuditEvent", Err: faultstore.ErrInjected, Times: 1})
		first := e.call(t, "POST", "/users/"+u.ID+"/"+tc.path, tok, map[string]string{"reason": "asked"})
		if fs.Applied(r) != 1 {
			t.Fatalf("%s: never audited", tc.path)
		}
		first.problem(t, http.StatusServiceUnavailable)
		if a := e.call(t, "POST", "/users/"+u.ID+"/"+tc.path, tok, map[string]string{"reason": "asked"}); a.status != 204 {
			t.Fatalf("%s: retry after 503: %d %s", tc.path, a.status, a.body)
		}
		e.smtp.WaitFor(t, u.Email, mailWait)
		time.Sleep(500 * time.Millisecond) // a second mail, had one been queued, arrives meanwhile
		if n := mailsTo(e, u.Email); n != 1 {
			t.Errorf("%s: %d mails after a 503 and its retry, want 1", tc.path, n)
		}
		if n := adminEvents(t, e, tc.typ, "user:"+u.ID); n != 1 {
			t.Errorf("%s: %d audit events, want 1", tc.path, n)
		}
	}
}
