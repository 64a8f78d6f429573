package server_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/storage"
)

// TestNonObjectJWTPayload: a JWT whose payload is JSON null (or any other non-object) made
// the library's verification panic (claims decoded to a nil pointer), reachable without
// authentication. Every endpoint that reads a bearer token or an ID token hint answers it as
// it answers any other invalid token: never a 500, never a panic in the log.
func TestNonObjectJWTPayload(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	e := newEnvWith(t, envOptions{logTo: logs})
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	sig := b64("not a signature")
	// reference is an invalid JWT the library reads without trouble: no claims at all.
	reference := b64(`{"alg":"ES256"}`) + "." + b64(`{}`) + "." + sig
	bad := map[string]string{
		"null everywhere": "bnVsbA.bnVsbA.bnVsbA",
		"ES256, null":     b64(`{"alg":"ES256","kid":"x"}`) + "." + b64("null") + "." + sig,
		"RS256, null":     b64(`{"alg":"RS256","typ":"JWT"}`) + "." + b64(" null ") + "." + sig,
		"array":           b64(`{"alg":"ES256"}`) + "." + b64(`[]`) + "." + sig,
		"string":          b64(`{"alg":"ES256"}`) + "." + b64(`"x"`) + "." + sig,
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(req *http.Request) answer {
		t.Helper()
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, string(body)}
	}
	bearer := func(path, tok string) answer {
		req, _ := http.NewRequest(http.MethodGet, e.addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return do(req)
	}
	endpoints := []struct {
		name string
		ask  func(tok string) answer
		// want is the status an invalid token gets.
		want int
	}{
		{"userinfo", func(tok string) answer { return bearer("/userinfo", tok) }, http.StatusUnauthorized},
		{"introspection", func(tok string) answer {
			st, h, body := e.postForm("/oauth/introspect", url.Values{"token": {tok}}, c.ID, c.Secret)
			return answer{st, h, body}
		}, http.StatusOK},
		{"revocation", func(tok string) answer {
			st, h, body := e.postForm("/revoke", url.Values{"token": {tok}}, c.ID, c.Secret)
			return answer{st, h, body}
		}, http.StatusOK},
		{"end_session", func(tok string) answer {
			req, _ := http.NewRequest(http.MethodGet, e.addr+"/end_session?"+url.Values{"id_token_hint": {tok}}.Encode(), nil)
			return do(req)
		}, http.StatusFound}, // not our ID token: treated as no hint, the person is asked
		{"admin API", func(tok string) answer { return bearer(adminAPI+"/clients", tok) }, http.StatusUnauthorized},
	}
	for _, ep := range endpoints {
		ref := ep.ask(reference)
		if ref.status != ep.want {
			t.Fatalf("%s: an invalid token gets %d, want %d: %.300s", ep.name, ref.status, ep.want, ref.body)
		}
		for name, tok := range bad {
			got := ep.ask(tok)
			if got.status != ref.status || got.body != ref.body ||
				got.header.Get("WWW-Authenticate") != ref.header.Get("WWW-Authenticate") ||
				got.header.Get("Location") != ref.header.Get("Location") {
				t.Errorf("%s with %s: %d %q %.300s\nwant as an invalid token: %d %q %.300s", ep.name, name,
					got.status, got.header.Get("WWW-Authenticate"), got.body, ref.status, ref.header.Get("WWW-Authenticate"), ref.body)
			}
		}
	}
	if l := logs.String(); strings.Contains(l, "panic") {
		t.Errorf("the server logged a panic:\n%s", tail(l, 2000))
	}
}
