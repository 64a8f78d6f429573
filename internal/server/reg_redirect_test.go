package server_test

import (
	"net/http"
	"testing"
)

// TestRegistrationHTTPRedirectOnlyForNative: an anonymous registrant gets a plain http
// redirect URI only for a native client and only on a loopback IP literal (RFC 8252 §7.3,
// §8.3); a web or public client, or "localhost", is invalid_redirect_uri.
func TestRegistrationHTTPRedirectOnlyForNative(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{configure: registrationEnabled})
	endpoint := e.issuer + "/connect/register"
	cases := []struct {
		name, app, method, uri string
		want                   int
	}{
		{"web localhost", "web", "", "http://localhost:8080/cb", http.StatusBadRequest},
		{"web 127.0.0.1", "web", "", "http://127.0.0.1:8080/cb", http.StatusBadRequest},
		{"web [::1]", "web", "", "http://[::1]:8080/cb", http.StatusBadRequest},
		{"public localhost", "web", "none", "http://localhost:8080/cb", http.StatusBadRequest},
		{"public 127.0.0.1", "web", "none", "http://127.0.0.1/cb", http.StatusBadRequest},
		{"native localhost", "native", "none", "http://localhost/cb", http.StatusBadRequest},
		{"native 127.0.0.1", "native", "none", "http://127.0.0.1/cb", http.StatusCreated},
		{"native [::1]", "native", "none", "http://[::1]/cb", http.StatusCreated},
		{"web https", "web", "", "https://app.example/cb", http.StatusCreated},
	}
	for _, c := range cases {
		md := map[string]any{"client_name": "App", "application_type": c.app, "redirect_uris": []string{c.uri}}
		if c.method != "" {
			md["token_endpoint_auth_method"] = c.method
		}
		status, _, body := e.registerReq(http.MethodPost, endpoint, e.initialToken(1), md)
		if status != c.want {
			t.Errorf("%s (%s): %d %v, want %d", c.name, c.uri, status, body, c.want)
			continue
		}
		if c.want == http.StatusBadRequest && body["error"] != "invalid_redirect_uri" {
			t.Errorf("%s: error %v, want invalid_redirect_uri", c.name, body["error"])
		}
	}
}
