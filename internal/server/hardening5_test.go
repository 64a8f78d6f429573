package server_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHardening5RecoveryCodesNeedFreshSignIn (issue 10 item 4): replacing the recovery codes
// from a session older than 5 minutes is refused and leaves the old codes working; right
// after a fresh sign-in it works.
func TestHardening5RecoveryCodesNeedFreshSignIn(t *testing.T) {
	e := newEnv(t)
	e.clock.Advance(0)
	const addr = "ada@example.com"
	e.addUser(addr)
	b := e.browser()
	e.passwordSignIn(b, addr)
	_, p := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")
	old := recoveryCodes(p)
	if len(old) != 10 {
		t.Fatalf("%d recovery codes after enrolment, want 10", len(old))
	}

	e.clock.Advance(6 * time.Minute)
	p = b.post(e.issuer+"/account/security/recovery-codes", url.Values{"csrf_token": {csrfOf(t, b.get(e.issuer+"/account/security"))}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "sign in again") || len(recoveryCodes(p)) != 0 {
		t.Fatalf("stale session replacing recovery codes: %d\n%.600s", p.status, p.body)
	}

	// A fresh sign-in with one of the old codes: they were not replaced.
	p = b.submitLogin(b.get(e.issuer+"/login?reauth=1&return=/account/security"), addr, testPassword)
	p = b.mfaPost(p, "recovery_code", old[0], false)
	mustAt(t, p, "/account/security")
	p = b.post(e.issuer+"/account/security/recovery-codes", url.Values{"csrf_token": {csrfOf(t, p)}})
	fresh := recoveryCodes(p)
	if len(fresh) != 10 || slices.Contains(fresh, old[1]) {
		t.Fatalf("fresh session replacing recovery codes: %d %s, %d codes\n%.600s", p.status, p.url, len(fresh), p.body)
	}
}
