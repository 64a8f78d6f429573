package server_test

import (
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage/faultstore"
)

// A failure of ours while adding an authenticator app leaves the same confirmation form good
// for a retry (the app already holds the secret), and the form still adds one app however
// often it is sent.
func TestMFAFaultTOTPEnrolmentRetry(t *testing.T) {
	e, fs := faultEnv(t, nil)
	e.clock.Advance(0)
	const email = "enrol.fault@example.com"
	u := e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	p := b.get(e.issuer + "/account/security")
	f := p.formValues()
	f.Del("id")
	p = b.post(e.issuer+"/account/security/totp", f)
	mustAt(t, p, "/account/security/totp", `id="totp-key"`)
	m := totpKeyRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no key on the enrolment page:\n%.2000s", p.body)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	confirm := p.formValues()
	confirm.Set("name", "Phone")
	confirm.Set("code", e.totpNow(key))

	fs.Add(faultstore.Rule{Method: "CreateMFACredential", Times: 1, Err: faultstore.ErrInjected})
	got := b.post(e.issuer+"/account/security/totp/confirm", confirm)
	fs.Clear()
	mustUnavailable(t, "confirming the app while it cannot be stored", got)
	if n := len(e.factors(u.ID)); n != 0 {
		t.Fatalf("%d factors stored after the failure, want 0", n)
	}

	// The same form again: the app is added.
	got = b.post(e.issuer+"/account/security/totp/confirm", confirm)
	mustAt(t, got, "/account/security", "The authenticator app was added.", "Phone")
	if rows := e.factors(u.ID); len(rows) != 1 {
		t.Fatalf("%d factors stored after the retry, want 1", len(rows))
	}
	// And once more: already set up, still one app.
	got = b.post(e.issuer+"/account/security/totp/confirm", confirm)
	mustAt(t, got, "/account/security", "The authenticator app was added.")
	if rows := e.factors(u.ID); len(rows) != 1 {
		t.Fatalf("%d factors stored after the form was sent again, want 1", len(rows))
	}

	// The app signs in.
	e.signOut(b)
	e.nextTOTPStep()
	p = e.passwordSignIn(b, email)
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account", "Your account")
}

// Replacing recovery codes when the factors cannot be read is our failure, not a silent
// return to the security page.
func TestMFAFaultRecoveryCodesRegenerateReadFailure(t *testing.T) {
	e, fs := faultEnv(t, nil)
	e.clock.Advance(0)
	const email = "regen.fault@example.com"
	e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "")
	p := b.get(e.issuer + "/account/security")
	fs.Add(faultstore.Rule{Method: "CountRecoveryCodes", Times: 1, Err: faultstore.ErrInjected})
	got := b.post(e.issuer+"/account/security/recovery-codes", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}})
	fs.Clear()
	if got.status != http.StatusServiceUnavailable {
		t.Fatalf("regenerating codes while the factors cannot be read: %d at %s, want 503", got.status, got.url)
	}
}
