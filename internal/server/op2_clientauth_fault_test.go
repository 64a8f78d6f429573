package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestClientReadFailureIsNoFailedAuthentication: a client with the right secret whose row
// cannot be read has not failed to authenticate. Such a read was counted against the
// caller's address as a wrong secret: after 30 of them, with the store back, the client's
// valid requests got 429 invalid_client "too many failed attempts" for 15 minutes, and during
// the outage the 429 was not even ours (no failure recorded in the request). Every answer
// during the outage must be our 503, at each endpoint that authenticates clients, and the
// first request after it must succeed.
func TestClientReadFailureIsNoFailedAuthentication(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials", grantDevice, "authorization_code"))
	key := newAssertionKey(t, "k1")
	pk := e.privateKeyJWTClient(jwksJSON(t, key), "", "client_credentials")

	type request struct {
		name string
		send func() (int, http.Header, string)
		ok   int
	}
	secretPost := func(path string, form url.Values) func() (int, http.Header, string) {
		return func() (int, http.Header, string) { return e.postForm(path, form, c.ID, c.Secret) }
	}
	requests := []request{
		{"client_credentials", secretPost("/oauth/token", url.Values{"grant_type": {"client_credentials"}}), http.StatusOK},
		{"introspection", secretPost("/oauth/introspect", url.Values{"token": {"not-a-token"}}), http.StatusOK},
		{"revocation", secretPost("/revoke", url.Values{"token": {"not-a-token"}}), http.StatusOK},
		{"device authorization", secretPost("/device_authorization", url.Values{"scope": {"openid"}}), http.StatusOK},
		{"par", func() (int, http.Header, string) {
			form, _, _ := parForm(c)
			return e.postForm("/par", form, c.ID, c.Secret)
		}, http.StatusCreated},
		{"client_credentials by private_key_jwt", func() (int, http.Header, string) {
			return e.postForm("/oauth/token", withForm(assertionForm(key.assertion(t, pk.ID, e.issuer, nil)),
				"grant_type", "client_credentials"), "", "")
		}, http.StatusOK},
	}
	// Past the per-address limit (30) at every endpoint together.
	fs.Fail("GetClient")
	for i := range 36 {
		r := requests[i%len(requests)]
		st, hdr, body := r.send()
		if st != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") || hdr.Get("Retry-After") == "" {
			t.Fatalf("%s %d with the client unreadable: %d %s, want 503 temporarily_unavailable", r.name, i+1, st, body)
		}
	}
	fs.Clear()
	for _, r := range requests {
		if st, _, body := r.send(); st != r.ok {
			t.Errorf("%s once the store is back: %d %s, want %d", r.name, st, body, r.ok)
		}
	}
}
