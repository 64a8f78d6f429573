package server_test

import (
	"net/http"
	"testing"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestPassedStepCommitsWithTheSession: what a passed second step leaves behind (here, the
// browser an emailed code proved, trusted so that it is not asked again) commits with the
// session and the code's use (mfa.Service.Passed). When it cannot be stored, the sign-in
// answers our 503 and the same code signs in once the store works, after which the browser
// is trusted. Before, the failure was ignored: the person was signed in, and asked for a
// code again at the next sign-in in that browser.
func TestPassedStepCommitsWithTheSession(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t),
		configure: func(c *config.Config) { c.MFA.EmailCodeForNewBrowsers = true },
		wrapStore: func(s storage.Store) storage.Store {
			fs = faultstore.New(s)
			return fs
		}})
	const email = "passed.step@example.com"
	e.addUser(email)
	b := e.browser()
	p := e.passwordSignIn(b, email)
	mustEmailCodeStep(t, p, email)
	code := e.signInCode(email)

	fail := fs.Add(faultstore.Rule{Method: "CreateTrustedBrowser", Times: 1, Err: faultstore.ErrInjected})
	got := b.mfaPost(p, "email_code", code, false)
	fs.Clear()
	if fs.Applied(fail) != 1 {
		t.Fatal("the trusted browser was not written: the test tests nothing")
	}
	if !is503(got) {
		t.Fatalf("with the trusted browser not stored: %d at %s, want our 503\n%.600s", got.status, got.url, got.body)
	}
	if e.signedInAs(b, email) {
		t.Fatal("signed in although the sign-in's writes failed")
	}
	mustAt(t, b.mfaPost(p, "email_code", code, false), "/account", "Your account")

	e.signOut(b)
	if p := e.passwordSignIn(b, email); p.status != http.StatusOK || p.url.Path != "/account" {
		t.Fatalf("the next sign-in in this browser: %d at %s, want the account page without a code", p.status, p.url)
	}
}
