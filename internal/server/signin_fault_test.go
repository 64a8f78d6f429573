package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestSignInWriteFailures fails, one at a time, every store call of a password post from a
// new browser (whose writes are one transaction, see TestHotPathSignInStoreCalls). The
// person is never told they are at fault, and the records that were always best effort (the
// "login" event and the new sign-in notice, its check included) do not fail the sign-in:
// it starts without them and they are written apart.
func TestSignInWriteFailures(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	const email = "ada@example.com"
	u := e.addUser(email)
	c := e.addClient(storage.ClientConfidential, firstParty)
	e.tokens(t.Context(), e.browser(), c, email) // the account's first sign-in: later ones are told

	// post shows the sign-in page of a new flow in a new browser and posts the password.
	post := func() answer {
		b := e.browser()
		verifier, _ := pkce()
		p := b.get(e.oauth2Config(c).AuthCodeURL(secret.RandomToken(8), oauth2.S256ChallengeOption(verifier)))
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		p = b.submitLogin(p, email, testPassword)
		return answer{p.status, p.header, p.body}
	}
	fs.ResetCalls()
	normal := post()
	if normal.status != http.StatusSeeOther {
		t.Fatalf("sign-in without failures: %d %.300s", normal.status, normal.body)
	}
	var methods []string
	seen := map[string]bool{}
	for _, m := range fs.Calls() {
		if !seen[m] && m != "CreateAuthRequest" { // the sign-in page's: the provider's
			seen[m] = true
			methods = append(methods, m)
		}
	}
	bestEffort := map[string]bool{"AddAuditEvent": true, "EnqueueOutbox": true, "CreateOneTimeToken": true, "QueryAuditEvents": true}
	for _, want := range []string{"InTx", "CreateSession", "AddAuditEvent", "EnqueueOutbox", "CreateOneTimeToken", "CompleteAuthRequest"} {
		if !seen[want] {
			t.Fatalf("the sign-in made no %s call: %v", want, methods)
		}
	}
	signedIn := func(a answer) bool {
		u, _ := url.Parse(a.header.Get("Location"))
		return a.status == http.StatusSeeOther && u != nil && u.Query().Get("code") != ""
	}
	for _, m := range methods {
		t.Run(m, func(t *testing.T) {
			// Once: the records are then written apart. Every time: they are lost (logged),
			// and still the sign-in stands.
			for _, times := range []int{1, 0} {
				logins := auditCount(t, e, u.ID, "login")
				fs.Add(faultstore.Rule{Method: m, Skip: skipFor(m), Times: times, Err: faultstore.ErrInjected})
				got := post()
				fs.Clear()
				checkFailureAnswer(t, fmt.Sprintf("password post with %s failing (times %d)", m, times), normal, got)
				if !bestEffort[m] {
					continue
				}
				if !signedIn(got) {
					t.Errorf("with %s failing (times %d) the sign-in failed: %d %q %.300s", m, times, got.status, got.header.Get("Location"), got.body)
				}
				want := logins + 1
				if m == "AddAuditEvent" && times == 0 {
					want = logins
				}
				if n := auditCount(t, e, u.ID, "login"); n != want {
					t.Errorf("with %s failing (times %d): %d new login events, want %d", m, times, n-logins, want-logins)
				}
			}
		})
	}
}

// skipFor lets through the calls of a method that come before the password post's own.
func skipFor(method string) int {
	if method == "GetAuthRequest" {
		return 1 // the sign-in page's
	}
	return 0
}
