package server_test

import (
	"net/http"
	"testing"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
)

// TestCodeIssuedBeforeALockIsRefused: an operator's lock ends every session and grant of the
// account; an authorization code issued just before it, not yet exchanged, must not give the
// app tokens for the locked account after it (invalid_grant: the grant is no longer valid),
// through our exchange (JWT access tokens) and the library's (opaque ones) alike. Before, the
// code was used up and the client told server_error, a failure of ours.
func TestCodeIssuedBeforeALockIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	for _, c := range []*testClient{
		e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token")),
		e.addClient(storage.ClientConfidential, firstParty, opaqueTokens), // the library's exchange
	} {
		u := e.addUser("locked.later." + c.ID + "@example.com")
		res, verifier := e.signIn(e.browser(), c, u.Email)
		if res.code == "" {
			t.Fatalf("no code: %q", res.err)
		}
		if a := e.call(t, "POST", "/users/"+u.ID+"/lock", tok, map[string]string{"reason": "stolen laptop"}); a.status != http.StatusOK {
			t.Fatalf("lock: %d %s", a.status, a.body)
		}
		st, m := e.exchangeRaw(c, codeForm(res.code, verifier, c.Redirect))
		if st != http.StatusBadRequest || m["error"] != "invalid_grant" || m["access_token"] != nil {
			t.Errorf("code exchanged after the account was locked: %d %v, want 400 invalid_grant", st, m)
		}
	}
}
