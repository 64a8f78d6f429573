package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx/softauthn"
	"github.com/myaccount/myaccount/storage"
)

// TestPasskeySignInOfAnAccountThatMayNot: a passkey signs in only an account that may sign
// in (account.MaySignIn), and the account's state is told only after the key was verified
// and its use recorded: a key that fails is answered as one, whatever the account's state.
// A locked or disabled account is told it is locked; a pending one (an operator's unlock of
// a never-activated account leaves one with a key) to activate, as its password sign-in is.
// The temporary lock after failed passwords does not stop a passkey: it holds back guesses
// at the password, and a key is none.
func TestPasskeySignInOfAnAccountThatMayNot(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), localhost: true})
	const email = "passkey.status@example.com"
	u := e.addUser(email)
	side := softauthn.Client{Origin: e.issuer, RPID: "localhost"}
	k := softauthn.New(t)
	{
		b := e.browser()
		e.passwordSignIn(b, email)
		csrf := csrfOf(t, b.get(e.issuer+"/account/security"))
		st, begin := b.postJSON(e.issuer+"/account/security/webauthn/begin", csrf, nil)
		if st != http.StatusOK {
			t.Fatalf("registration begin: %d %s", st, begin)
		}
		if st, fin := b.postJSON(e.issuer+"/account/security/webauthn/finish", csrf, map[string]any{
			"handle": jsonString(t, begin, "handle"), "name": "Key", "credential": json.RawMessage(k.Create(t, begin["options"], side)),
		}); st != http.StatusOK {
			t.Fatalf("registration finish: %d %s", st, fin)
		}
	}
	passkey := func(c softauthn.Client) (*browser, int, map[string]json.RawMessage) {
		t.Helper()
		b := e.browser()
		csrf := csrfOf(t, b.get(e.issuer+"/login"))
		st, begin := b.postJSON(e.issuer+"/passkey/begin", csrf, nil)
		if st != http.StatusOK {
			t.Fatalf("passkey begin: %d %s", st, begin)
		}
		st, res := b.postJSON(e.issuer+"/passkey/finish", csrf, map[string]any{"credential": json.RawMessage(k.Get(t, begin["options"], c))})
		return b, st, res
	}
	setStatus := func(status string) {
		t.Helper()
		if _, err := e.store.UpdateUser(context.Background(), u.ID, func(x *storage.User) error { x.Status = status; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	signCount := func() uint32 {
		t.Helper()
		rows := e.factors(u.ID)
		if len(rows) != 1 {
			t.Fatalf("%d factors, want the key", len(rows))
		}
		return rows[0].SignCount
	}
	const locked, activate = "This account is locked. Please contact support.", "Please activate your account first"
	for _, tc := range []struct{ status, want string }{
		{storage.UserLocked, locked},
		{storage.UserDisabled, locked},
		{storage.UserPending, activate},
	} {
		setStatus(tc.status)
		// A key made for another origin fails as a key, not as the account's state.
		evil := softauthn.Client{Origin: strings.Replace(e.issuer, "localhost", "evil.localhost", 1), RPID: "localhost"}
		before := signCount()
		if _, st, res := passkey(evil); st != http.StatusBadRequest || strings.Contains(string(res["error"]), "locked") ||
			strings.Contains(string(res["error"]), "activate") || signCount() != before {
			t.Errorf("%s account, a key that fails: %d %s (sign count %d → %d), want 400 telling nothing of the account",
				tc.status, st, res, before, signCount())
		}
		before = signCount()
		b, st, res := passkey(side)
		if st != http.StatusForbidden || !strings.Contains(string(res["error"]), tc.want) {
			t.Errorf("%s account: %d %s, want 403 saying %q", tc.status, st, res, tc.want)
		}
		if after := signCount(); after <= before {
			t.Errorf("%s account: the key's use was not recorded (sign count %d → %d)", tc.status, before, after)
		}
		if p := b.get(e.issuer + "/account"); p.url.Path == "/account" {
			t.Errorf("%s account: the refused passkey left a session", tc.status)
		}
	}

	// Active again, with password sign-in locked by failures: the passkey still signs in.
	setStatus(storage.UserActive)
	b := e.browser()
	for range 5 {
		b.submitLogin(b.get(e.issuer+"/login"), email, "wrong password")
	}
	if p := b.submitLogin(b.get(e.issuer+"/login"), email, testPassword); !strings.Contains(p.body, signInLockedText) {
		t.Fatalf("the right password after five wrong ones: %d at %s, want the lock:\n%.400s", p.status, p.url, p.body)
	}
	b, st, res := passkey(side)
	if st != http.StatusOK {
		t.Fatalf("passkey while password sign-in is locked: %d %s", st, res)
	}
	mustAt(t, b.get(e.issuer+jsonString(t, res, "redirect")), "/account", "Your account")
}
