package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestSessionLookupFailureIsOurs: when the database fails while a signed-in person opens a
// page that needs the session, they get the "try again" answer (503), not the sign-in page
// (which would tell them they were signed out), and once the database is back they are still
// signed in.
func TestSessionLookupFailureIsOurs(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"GetSessionByTokenHash", "GetUser"} {
		t.Run(method, func(t *testing.T) {
			e, fs := faultEnv(t, nil)
			e.addUser("ada@example.com")
			b := e.signedInBrowser("ada@example.com")
			b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			for _, path := range []string{"/account", "/account/devices", "/account/security"} {
				fs.Add(faultstore.Rule{Method: method, Times: 1, Err: faultstore.ErrInjected})
				p := b.get(e.issuer + path)
				if p.status != http.StatusServiceUnavailable {
					t.Errorf("%s with %s failing: status %d (Location %q), want 503", path, method, p.status, p.header.Get("Location"))
				}
				if p := b.get(e.issuer + path); p.status != http.StatusOK {
					t.Errorf("%s after the failure: status %d, want 200 (still signed in)", path, p.status)
				}
			}
		})
	}
}

// TestEmailCodeLimitFailureIsOurs: when the database fails while counting emailed sign-in
// codes, the person is not told they asked too often: the answer is ours (503), and once the
// database is back, resending works.
func TestEmailCodeLimitFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, func(c *config.Config) { c.MFA.EmailCodeForNewBrowsers = true })
	const email = "code.fault@example.com"
	e.addUser(email)
	b := e.browser()
	p := b.submitLogin(b.get(e.issuer+"/login"), email, testPassword)
	mustEmailCodeStep(t, p, email)

	fs.Add(faultstore.Rule{Method: "HitCounter", Times: 1, Err: faultstore.ErrInjected})
	got := b.mfaPost(p, "email_resend", "", false)
	if got.status != http.StatusServiceUnavailable || strings.Contains(got.body, "Too many requests") {
		t.Errorf("resend with the counter failing: status %d, want 503 without 'Too many requests'", got.status)
	}
	got = b.mfaPost(p, "email_resend", "", false)
	if got.status != http.StatusOK || !strings.Contains(got.body, "We sent a new code.") {
		t.Errorf("resend after the failure: status %d, want 200 'We sent a new code.'", got.status)
	}
}

// TestPendingSignInFailureIsOurs: a database failure while reading the sign-in that waits for
// its second step is ours (503), not "sign in again"; the sign-in is still waiting afterwards.
func TestPendingSignInFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, func(c *config.Config) { c.MFA.EmailCodeForNewBrowsers = true })
	const email = "pending.fault@example.com"
	e.addUser(email)
	b := e.browser()
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := b.submitLogin(b.get(e.issuer+"/login"), email, testPassword)
	if p.status != http.StatusSeeOther || p.location().Path != "/mfa" {
		t.Fatalf("after the password: %d to %q, want 303 to /mfa", p.status, p.header.Get("Location"))
	}
	fs.Add(faultstore.Rule{Method: "GetUser", Times: 1, Err: faultstore.ErrInjected})
	if got := b.get(e.issuer + "/mfa"); got.status != http.StatusServiceUnavailable {
		t.Errorf("/mfa with GetUser failing: status %d (Location %q), want 503", got.status, got.header.Get("Location"))
	}
	if got := b.get(e.issuer + "/mfa"); got.status != http.StatusOK || !strings.Contains(got.body, "Two-step verification") {
		t.Errorf("/mfa after the failure: status %d, want the second-step page", got.status)
	}
}
