package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestFinishedSignInSentAgainReadFailureIsOurs: the sign-in form of an app's sign-in sent
// again after its answer was lost, when what the repeat must read to tell the person that the
// sign-in is complete (the request, the app) cannot be read. The answer is ours, never
// "Sign-in expired … start again", which would send the person to begin a sign-in that
// worked; once the store works, the repeat says the sign-in is complete.
func TestFinishedSignInSentAgainReadFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	p, _, _, _ := e.authorize(b, c)
	f := p.formValues()
	f.Set("email", "ada@example.com")
	f.Set("password", testPassword)
	lost := e.lostAnswer(b)
	redirectResult(t, b.post(e.issuer+"/login", f), c.Redirect)
	for _, method := range []string{"GetAuthRequest", "GetClient"} {
		time.Sleep(1100 * time.Millisecond) // past the client cache: the app is read from the store
		rule := fs.Add(faultstore.Rule{Method: method, Times: 1, Err: faultstore.ErrInjected})
		p := e.lostAnswer(lost).post(e.issuer+"/login", f)
		fs.Clear()
		if fs.Applied(rule) != 1 {
			t.Fatalf("the repeat did not read %s", method)
		}
		if p.status != http.StatusServiceUnavailable || strings.Contains(p.body, "expired") {
			t.Errorf("%s failing: %d, want our 503:\n%.800s", method, p.status, p.body)
		}
	}
	if p := e.lostAnswer(lost).post(e.issuer+"/login", f); p.status != http.StatusOK || !strings.Contains(p.body, "is already complete") {
		t.Errorf("once the store works: %d\n%.800s", p.status, p.body)
	}
}

// TestResetPageShownAgainReadFailureIsOurs: the reset page shown again after a password it
// refuses carries the account's address for password managers (a hidden username field).
// When that address cannot be read, the answer is ours: not the page without the field.
func TestResetPageShownAgainReadFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	const email = "ada@example.com"
	e.addUser(email)
	b := e.browser()
	f := b.get(e.issuer + "/forgot").formValues()
	f.Set("email", email)
	if p := b.post(e.issuer+"/forgot", f); p.status != http.StatusOK {
		t.Fatalf("forgot: %d", p.status)
	}
	link, _ := e.mailLink(email, "/reset?token=")
	p := b.get(link)
	f = p.formValues()
	f.Set("password", "short")
	f.Set("confirm", "short")
	if p := b.post(e.issuer+"/reset", f); p.status != http.StatusOK || !strings.Contains(p.body, `name="username"`) {
		t.Fatalf("a refused password: %d, the address missing:\n%.800s", p.status, p.body)
	}
	rule := fs.Add(faultstore.Rule{Method: "GetUser", Times: 1, Err: faultstore.ErrInjected})
	p = b.post(e.issuer+"/reset", f)
	fs.Clear()
	if fs.Applied(rule) != 1 {
		t.Fatal("the page did not read the link's account")
	}
	if p.status != http.StatusServiceUnavailable {
		t.Errorf("the link's account unreadable: %d, want our 503 (username field: %v)", p.status, strings.Contains(p.body, `name="username"`))
	}
}
