package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// waitLink waits for mail to addr carrying a link below path, passing over other mail to
// addr (sign-in and lockout notices).
// resetLink asks for a reset link for addr in browser b ("Forgot your password?") and
// returns the link mailed.
func (e *testEnv) resetLink(b *browser, addr string) string {
	e.t.Helper()
	f := b.get(e.issuer + "/forgot").formValues()
	f.Set("email", addr)
	b.post(e.issuer+"/forgot", f)
	return e.waitLink(addr, "/reset?token=")
}

func (e *testEnv) waitLink(addr, path string) string {
	e.t.Helper()
	deadline := time.Now().Add(mailWait)
	for time.Now().Before(deadline) {
		m := e.smtp.WaitFor(e.t, addr, time.Until(deadline))
		if link := mailtest.FirstLink(m.Text, e.issuer+path); link != "" {
			return link
		}
	}
	e.t.Fatalf("no mail to %s with a %s link", addr, path)
	return ""
}

// is503 reports whether p is the "try again" answer to our failure.
func is503(p *page) bool {
	return p.status == http.StatusServiceUnavailable && p.header.Get("Retry-After") != ""
}

// injectOnce makes the next call of method (after skip of them) fail once, and returns a
// check that the failure happened.
func injectOnce(t *testing.T, fs *faultstore.Store, method string, skip int) func() {
	r := fs.Add(faultstore.Rule{Method: method, Skip: skip, Times: 1, Err: faultstore.ErrInjected})
	return func() {
		t.Helper()
		if n := fs.Applied(r); n != 1 {
			t.Fatalf("the %s failure was applied %d times, want 1: the test tests nothing", method, n)
		}
		fs.Clear()
	}
}

// resetWrites are the store calls a reset makes after it used up the link, each of
// which used to leave the link spent, and some a half-done reset.
var resetWrites = []struct {
	method string
	skip   int
}{
	{"UpdateUser", 0}, {"ListSessions", 0}, {"ListGrants", 0}, {"RevokeUserSessions", 0},
	{"RevokeUserClientGrants", 0},
	// Voiding the other reset links, and keeping the used one on file (voidOtherLinksIn).
	{"DeleteOneTimeTokens", 0}, {"CreateOneTimeToken", 0},
	{"ResetCounter", 0}, {"ResetCounter", 1}, // the failure count, the lock itself
	// The owner's notice, its "This wasn't me" token and the activity event (noticeIn).
	{"AddAuditEvent", 0}, {"CreateOneTimeToken", 1}, {"EnqueueOutbox", 0},
}

// TestResetLinkSurvivesOurFailure: when a store call fails after a reset link was used, the
// answer is "try again" (503), and the same link then does the whole reset: new password,
// every old session and grant ended, the lockout lifted. Before, the link was spent, and a
// failure to end the sessions left the new password in place with the old sessions alive
// and the account still locked.
func TestResetLinkSurvivesOurFailure(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, firstParty)
	for i, w := range resetWrites {
		t.Run(fmt.Sprintf("%s#%d", w.method, w.skip), func(t *testing.T) {
			e.clock.Advance(3 * time.Hour) // fresh mail limits and lock windows
			email := fmt.Sprintf("reset%d@example.com", i)
			e.addUser(email)
			old := e.browser()
			tok := e.tokens(ctx, old, c, email) // a session and a grant

			// Locked by someone else's wrong passwords.
			b := e.browser()
			for range 5 {
				b.submitLogin(b.get(e.issuer+"/login"), email, "wrong password")
			}
			if p := b.submitLogin(b.get(e.issuer+"/login"), email, testPassword); !strings.Contains(p.body, "Too many failed sign-in attempts") {
				t.Fatalf("the account is not locked: %d %s", p.status, p.url)
			}

			f := b.get(e.issuer + "/forgot").formValues()
			f.Set("email", email)
			b.post(e.issuer+"/forgot", f)
			link := e.waitLink(email, "/reset?token=")
			f = b.get(link).formValues()
			const pw = "a brand new passphrase"
			f.Set("password", pw)
			f.Set("confirm", pw)

			applied := injectOnce(t, fs, w.method, w.skip)
			if p := b.post(e.issuer+"/reset", f); !is503(p) {
				t.Fatalf("reset with %s failing: %d, want 503:\n%.300s", w.method, p.status, p.body)
			}
			applied()
			if p := b.post(e.issuer+"/reset", f); p.status != http.StatusOK || !strings.Contains(p.body, "sign in with the new one") {
				t.Fatalf("the same link after the failure: %d, want the reset done:\n%.300s", p.status, p.body)
			}
			if p := old.get(e.issuer + "/account"); strings.Contains(p.body, email) {
				t.Error("the old browser session survived the reset")
			}
			if st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret); st != http.StatusBadRequest {
				t.Errorf("the refresh token survived the reset: %d", st)
			}
			// The new password signs in: it was set, and the lock is lifted.
			nb := e.browser()
			if p := nb.submitLogin(nb.get(e.issuer+"/login"), email, pw); p.url.Path != "/account" && p.url.Path != "/profile" {
				t.Errorf("sign-in with the new password: %d %s %.200s", p.status, p.url, p.body)
			}
		})
	}
}

// TestActivationLinkSurvivesOurFailure: a store failure after the activation link was used
// answers "try again", and the same link then activates the account.
func TestActivationLinkSurvivesOurFailure(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	for i, method := range []string{"UpdateUser", "DeleteOneTimeTokens", "CreateOneTimeToken"} {
		t.Run(method, func(t *testing.T) {
			e.clock.Advance(3 * time.Hour)
			email := fmt.Sprintf("new%d@example.com", i)
			b := e.browser()
			e.register(b, b.get(e.issuer+"/register"), email, "a fine long passphrase", "a fine long passphrase")
			link := e.waitLink(email, "/activate?token=")

			applied := injectOnce(t, fs, method, 0)
			if p := b.confirmLink(link); !is503(p) {
				t.Fatalf("activation with %s failing: %d %s, want 503:\n%.300s", method, p.status, p.url, p.body)
			}
			applied()
			if p := b.confirmLink(link); p.url.Path != "/login" || !strings.Contains(p.body, "Your email address is confirmed") {
				t.Fatalf("the same link after the failure: %d %s, want the account activated:\n%.300s", p.status, p.url, p.body)
			}
			if p := b.submitLogin(b.get(e.issuer+"/login"), email, "a fine long passphrase"); p.url.Path != "/profile" {
				t.Errorf("sign-in after activation: %d %s", p.status, p.url)
			}
		})
	}
}

// TestEmailChangeLinkSurvivesOurFailure: a store failure after the email-change link was
// used answers "try again", and the same link then changes the address. The old address's
// notice, its "This wasn't me" token and the activity event are written with the change:
// failing them fails it too, and the old address is told once.
func TestEmailChangeLinkSurvivesOurFailure(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
	p := b.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "email": {"ada.new@example.com"}})
	if p.url.RequestURI() != "/account?done=email" {
		t.Fatalf("change email: %d %s", p.status, p.url)
	}
	link := e.waitLink("ada.new@example.com", "/account/email/confirm?token=")

	toldOld := func() int {
		n := 0
		for _, m := range e.smtp.Messages() {
			if slices.Contains(m.To, "ada@example.com") && strings.Contains(m.Text, "ada.new@example.com") {
				n++
			}
		}
		return n
	}
	before := toldOld()
	for _, method := range []string{"UpdateUser", "AddAuditEvent", "CreateOneTimeToken", "EnqueueOutbox"} {
		applied := injectOnce(t, fs, method, 0)
		if p := b.confirmLink(link); !is503(p) {
			t.Fatalf("confirmation with %s failing: %d %s, want 503:\n%.300s", method, p.status, p.url, p.body)
		}
		applied()
	}
	if p := b.confirmLink(link); p.url.RequestURI() != "/account?done=email-changed" {
		t.Fatalf("the same link after the failure: %d %s, want the address changed:\n%.300s", p.status, p.url, p.body)
	}
	if _, err := e.store.GetUserByEmail(ctx, "ada.new@example.com"); err != nil {
		t.Errorf("the address did not change: %v", err)
	}
	e.smtp.WaitFor(t, "ada@example.com", mailWait)
	if n := toldOld() - before; n != 1 {
		t.Errorf("the old address was told %d times, want once", n)
	}
}

// TestResetRefusesPasswordFromAddress: a reset refuses a password built from the account's
// address, as registration and a password change do; the link stays usable.
func TestResetRefusesPasswordFromAddress(t *testing.T) {
	t.Parallel()
	e, _ := faultMailEnv(t)
	const email = "marguerite.yourcenar@example.com"
	e.addUser(email)
	b := e.browser()
	link := e.resetLink(b, email)
	f := b.get(link).formValues()
	const weak = "marguerite.yourcenar"
	f.Set("password", weak)
	f.Set("confirm", weak)
	p := b.post(e.issuer+"/reset", f)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Do not build the password from your email address") {
		t.Fatalf("reset to a password made of the address: %d, want the form refusing it:\n%.400s", p.status, p.body)
	}
	f.Set("password", "a brand new passphrase")
	f.Set("confirm", "a brand new passphrase")
	if p := b.post(e.issuer+"/reset", f); p.status != http.StatusOK || !strings.Contains(p.body, "sign in with the new one") {
		t.Fatalf("the same link with a good password: %d:\n%.300s", p.status, p.body)
	}
}

// TestMailRequestFailureIsOurs: when a store call fails while a reset link, an activation
// link or an email-change link is being asked for, the page does not claim that a mail went:
// the answer is "try again" (503), for a registered address and an unknown one alike, and
// the retry sends the link.
func TestMailRequestFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	e.addUser("ada@example.com")
	forgot := func(b *browser, email string) *page {
		f := b.get(e.issuer + "/forgot").formValues()
		f.Set("email", email)
		return b.post(e.issuer+"/forgot", f)
	}
	for _, method := range []string{"HitCounter", "EnqueueOutbox"} {
		t.Run("forgot/"+method, func(t *testing.T) {
			e.clock.Advance(3 * time.Hour)
			b := e.browser()
			for _, email := range []string{"nobody@example.com", "ada@example.com"} {
				applied := injectOnce(t, fs, method, 0)
				if p := forgot(b, email); !is503(p) {
					t.Errorf("forgot for %s with %s failing: %d, want 503:\n%.300s", email, method, p.status, p.body)
				}
				applied()
			}
			if p := forgot(b, "ada@example.com"); p.status != http.StatusOK {
				t.Fatalf("forgot after the failure: %d", p.status)
			}
			e.waitLink("ada@example.com", "/reset?token=")
		})
	}

	t.Run("activation resend", func(t *testing.T) {
		e.clock.Advance(3 * time.Hour)
		b := e.browser()
		e.register(b, b.get(e.issuer+"/register"), "slow@example.com", "a fine long passphrase", "a fine long passphrase")
		e.waitLink("slow@example.com", "/activate?token=")
		resend := func() *page {
			return b.post(e.issuer+"/activate/resend", url.Values{"csrf_token": {b.get(e.issuer + "/login").formValues().Get("csrf_token")}, "email": {"slow@example.com"}})
		}
		// The request counts and queues; the worker looks the address up (and retries).
		for _, method := range []string{"HitCounter", "EnqueueOutbox"} {
			applied := injectOnce(t, fs, method, 0)
			if p := resend(); !is503(p) {
				t.Errorf("resend with %s failing: %d, want 503:\n%.300s", method, p.status, p.body)
			}
			applied()
		}
		if p := resend(); p.status != http.StatusOK {
			t.Fatalf("resend after the failures: %d", p.status)
		}
		e.waitLink("slow@example.com", "/activate?token=")
	})

	t.Run("email change", func(t *testing.T) {
		e.clock.Advance(3 * time.Hour)
		b := e.signedInBrowser("ada@example.com")
		csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
		change := func() *page {
			b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			defer func() { b.c.CheckRedirect = nil }()
			return b.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "email": {"ada.new@example.com"}})
		}
		// The request checks the password and the limit and queues; the worker looks the
		// address up (and retries).
		applied := injectOnce(t, fs, "EnqueueOutbox", 0)
		if p := change(); !is503(p) {
			t.Errorf("email change with EnqueueOutbox failing: %d %s, want 503", p.status, p.header.Get("Location"))
		}
		applied()
		if p := change(); p.status != http.StatusSeeOther || p.header.Get("Location") != "/account?done=email" {
			t.Fatalf("email change after the failure: %d %s", p.status, p.header.Get("Location"))
		}
		e.waitLink("ada.new@example.com", "/account/email/confirm?token=")
	})
}
