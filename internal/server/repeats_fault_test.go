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
