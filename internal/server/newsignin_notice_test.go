package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// A sign-in from a browser that had not signed in to the account before is told to the owner
// with a "This wasn't me" link (issue 11 item 17), also when no emailed code was involved.
func TestNewSignInNoticeForNewBrowser(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0) // a still clock: TOTP codes are computed for the server's time
	const addr = "totp.owner@example.com"
	u := e.addUser(addr)

	// The first browser sets up an authenticator app. It is the account's first sign-in:
	// no notice, the only mail is the factor-added one.
	first := e.browser()
	mustAt(t, e.passwordSignIn(first, addr), "/account", "Your account")
	key, _ := e.enrolTOTP(first, first.get(e.issuer+"/account/security"), "My phone")
	if m := e.smtp.WaitFor(t, addr, mailWait); !strings.Contains(m.Subject, "second factor was added") {
		t.Fatalf("first mail %q, want the factor-added notice (no new-sign-in notice for the first sign-in)", m.Subject)
	}

	// Another browser signs in with password and app code: one notice, with the link.
	e.nextTOTPStep()
	before := e.mailCount()
	other := e.browser()
	p := e.passwordSignIn(other, addr)
	p = other.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account", "Your account")
	m := e.smtp.WaitFor(t, addr, mailWait)
	if !strings.HasPrefix(m.Subject, "New sign-in to your ") {
		t.Fatalf("mail after a sign-in from a new browser: %q\n%s", m.Subject, m.Text)
	}
	if got := e.mailCount(); got != before+1 {
		t.Errorf("%d mails for one new sign-in, want 1", got-before)
	}
	for _, want := range []string{"IP address: ", "Browser: Go HTTP client", e.issuer + "/account/devices", "2026"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the notice lacks %q:\n%s", want, m.Text)
		}
	}
	link := e.notMeLink(m)

	// The same browser signing in again is known: no notice.
	e.signOut(other)
	e.nextTOTPStep()
	before = e.mailCount()
	p = e.passwordSignIn(other, addr)
	p = other.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account", "Your account")
	if got := e.mailCount(); got != before {
		t.Errorf("a known browser signing in again mailed %d message(s)", got-before)
	}

	// The link works: it asks first, then the POST with its CSRF token ends every session.
	owner := e.browser()
	page := owner.get(link)
	if page.status != http.StatusOK || !strings.Contains(page.body, `action="/not-me"`) {
		t.Fatalf("the not-me page: %d\n%.1500s", page.status, page.body)
	}
	if !e.signedInAs(other, addr) || !e.signedInAs(first, addr) {
		t.Fatal("opening the link signed someone out")
	}
	done := owner.post(e.issuer+"/not-me", page.formValues())
	if done.status != http.StatusOK || !strings.Contains(done.body, "Your account is secured") {
		t.Fatalf("confirming: %d\n%.1500s", done.status, done.body)
	}
	if e.signedInAs(other, addr) || e.signedInAs(first, addr) {
		t.Error("a browser is still signed in after \"This wasn't me\"")
	}
	if evs, err := e.store.ListAuditEvents(t.Context(), u.ID, 50); err != nil || !hasEvent(evs, "not_me") {
		t.Errorf("no not_me audit event (%v)", err)
	}
}

func hasEvent(evs []*storage.AuditEvent, typ string) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}
