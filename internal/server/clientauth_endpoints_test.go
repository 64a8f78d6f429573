package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Wrong secrets at introspection and revocation count against the caller's address as they
// do at the token endpoint (op.preClientAuth), whichever path would answer (a refresh
// token, a machine token, the library's opaque one): 30 failures from one address block it
// at every endpoint, the right secret included, with 429 and Retry-After.
func TestIntrospectionAndRevocationCountFailedClientAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token", "client_credentials"))
	tok := e.tokens(ctx, e.browser(), c, "ada@example.com")
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
	if st != http.StatusOK {
		t.Fatal(body)
	}
	machine := jsonFieldT(t, body, "access_token")
	probes := []struct{ path, token string }{
		{"/oauth/introspect", tok.RefreshToken}, {"/oauth/introspect", machine}, {"/oauth/introspect", tok.AccessToken},
		{"/revoke", tok.RefreshToken}, {"/revoke", machine},
	}
	for i := range 30 {
		p := probes[i%len(probes)]
		st, h, body := e.postForm(p.path, url.Values{"token": {p.token}}, c.ID, "wrong-secret")
		if st != http.StatusUnauthorized || jsonFieldT(t, body, "error") != "invalid_client" || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("failure %d at %s: %d %v %s, want 401 invalid_client with WWW-Authenticate", i+1, p.path, st, h, body)
		}
	}
	for _, p := range []string{"/oauth/introspect", "/revoke", "/oauth/token"} {
		form := url.Values{"token": {tok.RefreshToken}}
		if p == "/oauth/token" {
			form = url.Values{"grant_type": {"client_credentials"}}
		}
		if st, h, body := e.postForm(p, form, c.ID, c.Secret); st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Errorf("%s after 30 failures, right secret: %d %s, want 429 with Retry-After", p, st, body)
		}
	}
	// Nothing was revoked by the refused revocations.
	rt, err := e.store.GetRefreshToken(ctx, secret.HashToken(tok.RefreshToken))
	if err != nil || rt.RevokedAt != nil || rt.UsedAt != nil {
		t.Errorf("the refresh token after refused revocations: %+v, %v; want live", rt, err)
	}
}
