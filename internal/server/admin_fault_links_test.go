package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
)

// TestAdminSupportLinkFaultIsAtomic: a resend of the activation link or a reset link whose
// link token or queued mail could not be written (503) leaves nothing: no audit event, no
// mail; its retry mails one link that works, audited once. Before, the event was committed
// first and the link issued and mailed in writes of its own: a failed token write left an
// event for a link never issued, and a failed enqueue left the event and a link never
// mailed (the activation resend even answered 204 for it).
func TestAdminSupportLinkFaultIsAtomic(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	for _, tc := range []struct{ path, typ, link, purpose string }{
		{"resend-activation", "admin.user.resend_activation", "/activate?token=", storage.TokenActivation},
		{"send-reset", "admin.user.send_reset", "/reset?token=", storage.TokenReset},
	} {
		for _, method := range []string{"CreateOneTimeToken", "EnqueueOutbox"} {
			t.Run(tc.path+"/"+method, func(t *testing.T) {
				email := tc.path + "-" + strings.ToLower(method) + "@example.com"
				u := e.addUser(email)
				if _, err := e.store.UpdateUser(ctx, u.ID, func(x *storage.User) error {
					x.Status, x.ActivatedAt = storage.UserPending, nil
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				applied := injectOnce(t, fs, method, 0)
				first := e.call(t, "POST", "/users/"+u.ID+"/"+tc.path, tok, map[string]string{"reason": "asked"})
				applied()
				first.problem(t, http.StatusServiceUnavailable)
				if n := adminEvents(t, e, tc.typ, "user:"+u.ID); n != 0 {
					t.Errorf("the 503 left %d audit events of a link never sent", n)
				}
				time.Sleep(300 * time.Millisecond) // a mail, had one been queued, arrives meanwhile
				if n := mailsTo(e, email); n != 0 {
					t.Errorf("the 503 mailed %d links", n)
				}

				if a := e.call(t, "POST", "/users/"+u.ID+"/"+tc.path, tok, map[string]string{"reason": "asked"}); a.status != http.StatusNoContent {
					t.Fatalf("retry after 503: %d %s", a.status, a.body)
				}
				m := e.smtp.WaitFor(t, email, mailWait)
				link := mailtest.FirstLink(m.Text, e.issuer+tc.link)
				lu, err := url.Parse(link)
				if link == "" || err != nil {
					t.Fatalf("no %s link in the mail: %q", tc.link, m.Text)
				}
				if ok, err := e.srv.Accounts.LinkUsable(ctx, lu.Query().Get("token"), tc.purpose); err != nil || !ok {
					t.Errorf("the mailed link does not work: %t %v", ok, err)
				}
				time.Sleep(300 * time.Millisecond)
				if n := mailsTo(e, email); n != 1 {
					t.Errorf("%d mails after a 503 and its retry, want 1", n)
				}
				if n := adminEvents(t, e, tc.typ, "user:"+u.ID); n != 1 {
					t.Errorf("%d audit events after a 503 and its retry, want 1", n)
				}
			})
		}
	}
}
