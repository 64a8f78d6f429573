package server_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// TestHotPathSignInStoreCalls pins the store calls of a password sign-in through the code
// flow (issue 12's signin scenario), request by request: in a fresh browser, which the
// account has not signed in from (its owner is sent the new sign-in notice), and in a
// returning one (signed out, device cookie kept). Everything the password post writes (the
// browser binding's new secret, the session, the notice's "This wasn't me" token and queued
// mail, the "login" event, the completed authorization request and its code) is one
// transaction: one commit on the single writer; the reads run before it. The browser goes
// from there straight to the client with the code (no trip through /authorize/callback); the
// code exchange is the provider's (op).
func TestHotPathSignInStoreCalls(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testSignInStoreCalls(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		testSignInStoreCalls(t, map[string]string{"MYACCOUNT_DATABASE_URL": pgtest.MigratedURL(t)})
	})
}

func testSignInStoreCalls(t *testing.T, env map[string]string) {
	var log callLog
	e := newEnvWith(t, envOptions{env: env, wrapStore: log.wrap})
	const email = "ada@example.com"
	e.addUser(email)
	c := e.addClient(storage.ClientConfidential, firstParty)
	// The account's first sign-in (no notice for it), in a browser of its own.
	e.tokens(context.Background(), e.browser(), c, email)

	check := func(name string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: store calls\n  %v\nwant\n  %v", name, got, want)
		}
	}
	run := func(name string, b *browser, wantPost []string) {
		t.Helper()
		verifier, _ := pkce()
		cfg := e.oauth2Config(c)
		var p *page
		check(name+": authorize and sign-in page", log.record(func() {
			p = b.get(cfg.AuthCodeURL(secret.RandomToken(8), oauth2.S256ChallengeOption(verifier)))
		}), "CreateAuthRequest", "GetAuthRequest")
		// One request at a time: the password post answers with the client's redirect.
		follow := b.c.CheckRedirect
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		check(name+": password post", log.record(func() {
			p = b.submitLogin(p, email, testPassword)
		}), wantPost...)
		b.c.CheckRedirect = follow
		if p.status != http.StatusSeeOther {
			t.Fatalf("%s: password post answered %d to %q, want 303 to the client", name, p.status, p.header.Get("Location"))
		}
		res := redirectResult(t, p, c.Redirect)
		if res.code == "" || res.iss != e.issuer {
			t.Fatalf("%s: the client's redirect %q lacks the code or iss", name, p.header.Get("Location"))
		}
		check(name+": code exchange", log.record(func() {
			if _, err := cfg.Exchange(context.Background(), res.code, oauth2.VerifierOption(verifier)); err != nil {
				t.Fatal(err)
			}
		}), "GetAuthRequestByCode", "GetUser", // the ID token's claims, read before the code is used
			"InTx", "ConsumeAuthCode", "CreateGrant", "CreateRefreshToken") // the access token has no row (it names the grant)
	}

	b := e.browser()
	run("fresh browser", b, []string{
		"GetAuthRequest",             // the flow (its client is cached)
		"CounterValue", "GetCounter", // this IP's failures, the address's lock
		"GetUserByEmail",                           // the password,
		"HitCounter", "GetCounter", "ResetCounter", // counted before its check (a parallel lock?), cleared after
		"ListMFACredentials", "CountRecoveryCodes", // the second factors
		"QueryAuditEvents",                            // the account's first sign-in? (no notice)
		"InTx", "CreateSession", "RebindAuthRequests", // one transaction: session, binding,
		"CreateOneTimeToken", "EnqueueOutbox", // the notice,
		"AddAuditEvent", "CompleteAuthRequest", "SaveAuthCode", // the event, the request and its code
	})
	e.signOut(b)
	run("returning browser", b, []string{
		"GetAuthRequest",
		"GetUserByEmail", "GetCounter", // the device cookie's account, read once; its browser's lock
		"HitCounter", "GetCounter", "ResetCounter",
		"ListMFACredentials", "CountRecoveryCodes",
		"InTx", "CreateSession", "RebindAuthRequests", "AddAuditEvent", "CompleteAuthRequest", "SaveAuthCode",
	})
}
