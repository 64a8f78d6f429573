package server_test

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/mfa/webauthnx/softauthn"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// A failure of ours while adding an authenticator app leaves the same confirmation form good
// for a retry (the app already holds the secret), and the form still adds one app however
// often it is sent.
func TestMFAFaultTOTPEnrolmentRetry(t *testing.T) {
	t.Parallel()
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

	// The app, or the owner's notice of it and its activity event (written in the same
	// transaction: an app added untold is how an intruder's goes unnoticed).
	for _, method := range []string{"CreateMFACredential", "AddAuditEvent", "CreateOneTimeToken", "EnqueueOutbox"} {
		fs.Add(faultstore.Rule{Method: method, Times: 1, Err: faultstore.ErrInjected})
		got := b.post(e.issuer+"/account/security/totp/confirm", confirm)
		fs.Clear()
		mustUnavailable(t, "confirming the app while "+method+" fails", got)
		if n := len(e.factors(u.ID)); n != 0 {
			t.Fatalf("%s failing: %d factors stored, want 0", method, n)
		}
	}

	// The same form again: the app is added, and told once.
	got := b.post(e.issuer+"/account/security/totp/confirm", confirm)
	mustAt(t, got, "/account/security", "The authenticator app was added.", "Phone")
	if rows := e.factors(u.ID); len(rows) != 1 {
		t.Fatalf("%d factors stored after the retry, want 1", len(rows))
	}
	if n := e.events(t, email, "mfa_added"); n != 1 {
		t.Errorf("%d mfa_added events, want 1", n)
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
	t.Parallel()
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

// A failure of ours while storing a new security key or passkey leaves its registration
// ceremony good for the same answer again.
func TestMFAFaultKeyRegistrationRetry(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{localhost: true,
		wrapStore: func(s storage.Store) storage.Store { fs = faultstore.New(s); return fs }})
	const email = "key.fault@example.com"
	u := e.addUser(email)
	browserSide := softauthn.Client{Origin: e.issuer, RPID: "localhost"}
	k := softauthn.New(t)
	b := e.browser()
	e.passwordSignIn(b, email)
	csrf := csrfOf(t, b.get(e.issuer+"/account/security"))
	st, begin := b.postJSON(e.issuer+"/account/security/webauthn/begin", csrf, nil)
	if st != http.StatusOK {
		t.Fatalf("begin: %d %s", st, begin)
	}
	finish := map[string]any{"handle": jsonString(t, begin, "handle"), "name": "Key",
		"credential": json.RawMessage(k.Create(t, begin["options"], browserSide))}

	fs.Add(faultstore.Rule{Method: "CreateMFACredential", Times: 1, Err: faultstore.ErrInjected})
	raw, _ := json.Marshal(finish)
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/account/security/webauthn/finish", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	got := b.do(req) // our 503 page, not JSON
	fs.Clear()
	mustUnavailable(t, "finish while the key cannot be stored", got)
	if n := len(e.factors(u.ID)); n != 0 {
		t.Fatalf("%d factors stored after the failure, want 0", n)
	}
	st, fin := b.postJSON(e.issuer+"/account/security/webauthn/finish", csrf, finish)
	if st != http.StatusOK {
		t.Fatalf("the same finish again: %d %s, want 200", st, fin)
	}
	if n := len(e.factors(u.ID)); n != 1 {
		t.Fatalf("%d factors stored after the retry, want 1", n)
	}
	// Answered once: the ceremony is used up.
	if st, _ := b.postJSON(e.issuer+"/account/security/webauthn/finish", csrf, finish); st == http.StatusOK {
		t.Error("a registration ceremony was finished twice")
	}
}
