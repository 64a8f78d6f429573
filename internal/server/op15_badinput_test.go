package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestProtocolRoutesAnswerBadInputByTheirRFC: a client's mistake on each protocol route is
// answered with that route's RFC error (status, error code, WWW-Authenticate where the RFC
// asks for it, no-store on token answers), never a 500, a stack trace or a page for a JSON
// client.
func TestProtocolRoutesAnswerBadInputByTheirRFC(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{configure: allProtocolRoutes})
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token", "client_credentials", grantDevice))
	uri, rat := registerSweepClient(t, e)
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	post := func(path string, f url.Values, user, pass string, hdr ...string) func() answer {
		return func() answer { return sweepForm(t, e, path, f, user, pass, hdr...) }
	}
	get := func(path string, hdr ...string) func() answer {
		return func() answer { return sweepGet(t, e, nil, path, hdr...) }
	}
	reg := func(method, u, token string, body any) func() answer {
		return func() answer { return sweepJSON(t, e, method, u, token, body) }
	}
	for _, tc := range []struct {
		name   string
		req    func() answer
		status int
		code   string // the JSON error; "" for none
		// auth is the WWW-Authenticate the answer must carry (a prefix), "" for any.
		auth    string
		noStore bool
	}{
		// RFC 6749 §5.2.
		{"token without grant_type", post("/oauth/token", form(), c.ID, c.Secret), 400, "invalid_request", "", true},
		{"token with an unknown grant_type", post("/oauth/token", form("grant_type", "password", "username", "a", "password", "b"), c.ID, c.Secret), 400, "unsupported_grant_type", "", true},
		{"token with a wrong secret (Basic)", post("/oauth/token", form("grant_type", "client_credentials"), c.ID, "wrong"), 401, "invalid_client", "Basic", true},
		{"token for an unknown client", post("/oauth/token", form("grant_type", "client_credentials"), "nobody", "x"), 401, "invalid_client", "Basic", true},
		{"token with a made-up code", post("/oauth/token", form("grant_type", "authorization_code", "code", "made-up", "redirect_uri", c.Redirect, "code_verifier", strings.Repeat("v", 43)), c.ID, c.Secret), 400, "invalid_grant", "", true},
		{"token with a made-up refresh token", post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", "made-up"), c.ID, c.Secret), 400, "invalid_grant", "", true},
		{"token by GET", get("/oauth/token?grant_type=client_credentials"), 405, "", "", true},
		// RFC 8628 §3.5.
		{"device poll with a made-up code", post("/oauth/token", form("grant_type", grantDevice, "device_code", "made-up"), c.ID, c.Secret), 400, "invalid_grant", "", true},
		{"device authorization with a wrong secret", post("/device_authorization", form("scope", "openid"), c.ID, "wrong"), 401, "invalid_client", "", true},
		// RFC 9449 §5, §7.1.
		{"token with a malformed DPoP proof", post("/oauth/token", form("grant_type", "client_credentials"), c.ID, c.Secret, "DPoP", "not-a-jwt"), 400, "invalid_dpop_proof", "", true},
		{"userinfo with a DPoP token and no proof", get("/userinfo", "Authorization", "DPoP made-up"), 401, "", "DPoP", false},
		// RFC 7662 §2.
		{"introspection without client authentication", post("/oauth/introspect", form("token", "x"), "", ""), 401, "invalid_client", "", true},
		{"introspection without a token", post("/oauth/introspect", form(), c.ID, c.Secret), 400, "invalid_request", "", true},
		// RFC 7009 §2.
		{"revocation without client authentication", post("/revoke", form("token", "x"), "", ""), 401, "invalid_client", "", true},
		{"revocation without a token", post("/revoke", form(), c.ID, c.Secret), 400, "invalid_request", "", true},
		{"revocation of an unknown token", post("/revoke", form("token", "made-up"), c.ID, c.Secret), 200, "", "", true},
		// RFC 6750 §3.
		{"userinfo without a token", get("/userinfo"), 401, "", "Bearer", true},
		{"userinfo with a made-up token", get("/userinfo", "Authorization", "Bearer made-up"), 401, "invalid_token", `Bearer error="invalid_token"`, true},
		// RFC 9126 §2.
		{"push without client authentication", post("/par", form("client_id", c.ID, "redirect_uri", c.Redirect, "response_type", "code"), "", ""), 401, "invalid_client", "", true},
		{"push with a request_uri", post("/par", form("redirect_uri", c.Redirect, "response_type", "code", "request_uri", "urn:x"), c.ID, c.Secret), 400, "invalid_request", "", true},
		{"push with an unregistered redirect_uri", post("/par", form("redirect_uri", "https://evil.example/cb", "response_type", "code"), c.ID, c.Secret), 400, "invalid_request", "", true},
		// RFC 7591 §3.2.2, RFC 7592 §2.
		{"registration without an initial access token", reg(http.MethodPost, e.addr+"/connect/register", "", map[string]any{"redirect_uris": []string{"https://rp.example/cb"}}), 401, "", "Bearer", true},
		{"registration with a bad redirect_uri", reg(http.MethodPost, e.addr+"/connect/register", e.initialToken(1), map[string]any{"client_name": "Bad", "redirect_uris": []string{"not a uri"}}), 400, "invalid_redirect_uri", "", true},
		{"registration with a body that is not JSON", reg(http.MethodPost, e.addr+"/connect/register", e.initialToken(1), "x"), 400, "invalid_client_metadata", "", true},
		{"management with a wrong token", reg(http.MethodGet, uri, "wrong", nil), 401, "invalid_token", `Bearer error="invalid_token"`, true},
		{"management of another client", reg(http.MethodGet, e.addr+"/connect/register/nobody", rat, nil), 401, "invalid_token", `Bearer error="invalid_token"`, true},
		// Issue 14's API: RFC 6750 §3.
		{"licence activation without a token", func() answer {
			req, _ := http.NewRequest(http.MethodPost, e.addr+"/api/v1/licences/x/activations", nil)
			return sweepSend(t, nil, req)
		}, 401, "invalid_request", "Bearer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.req()
			if a.status != tc.status {
				t.Errorf("status %d, want %d: %.300s", a.status, tc.status, a.body)
			}
			var m map[string]any
			if strings.TrimSpace(a.body) != "" {
				if err := json.Unmarshal([]byte(a.body), &m); err != nil {
					t.Errorf("body is not JSON (%s): %.300s", a.header.Get("Content-Type"), a.body)
				}
			}
			if got, _ := m["error"].(string); tc.code != "" && got != tc.code {
				t.Errorf("error %q, want %q: %.300s", got, tc.code, a.body)
			}
			// The scheme first, then the error among the parameters (a realm may come first).
			scheme, param, _ := strings.Cut(tc.auth, " ")
			if wa := a.header.Get("WWW-Authenticate"); tc.auth != "" && (!strings.HasPrefix(wa, scheme) || !strings.Contains(wa, param)) {
				t.Errorf("WWW-Authenticate %q, want %s with %s", wa, scheme, param)
			}
			// RFC 6750 §3.1: a request without any token is told the scheme, and no error code.
			if wa := a.header.Get("WWW-Authenticate"); tc.auth == "Bearer" && strings.Contains(wa, "error") {
				t.Errorf("WWW-Authenticate %q: a request without a token gets no error code in it", wa)
			}
			if cc := a.header.Get("Cache-Control"); tc.noStore && !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			for _, l := range append(leaks, "goroutine", ".go:") {
				if strings.Contains(strings.ToLower(a.body), l) {
					t.Errorf("answer leaks %q: %.300s", l, a.body)
				}
			}
		})
	}
}

// TestEndSessionWithABadHintAsksThePerson: end_session is a browser's page. An
// id_token_hint that is not one of our ID tokens (garbage, another issuer's, cut short) is
// not trusted, and the person is asked whether to sign out, as without a hint, instead of
// being shown the library's JSON error; the client's post-logout URI, registered, is kept.
func TestEndSessionWithABadHintAsksThePerson(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	idt, _ := e.tokens(t.Context(), b, c, "ada@example.com").Extra("id_token").(string)
	bye := c.c.PostLogoutRedirectURIs[0]
	for name, hint := range map[string]string{
		"garbage":     "garbage",
		"cut short":   idt[:len(idt)-10],
		"unsigned":    unsignedJWT(map[string]any{"iss": e.issuer, "sub": "x", "aud": c.ID}),
		"three parts": "a.b.c",
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			q := url.Values{"id_token_hint": {hint}, "client_id": {c.ID}, "post_logout_redirect_uri": {bye}, "state": {"s"}}
			var p *page
			if method == http.MethodGet {
				p = b.get(e.issuer + "/end_session?" + q.Encode())
			} else {
				p = b.post(e.issuer+"/end_session", q)
			}
			if p.status != http.StatusOK || !strings.Contains(p.body, `action="/logout"`) {
				t.Errorf("%s hint by %s: %d at %s, want the sign-out question:\n%.300s", name, method, p.status, p.url, p.body)
				continue
			}
			if f := p.formValues(); f.Get("post_logout_redirect_uri") != bye {
				t.Errorf("%s hint by %s: the question's form %v does not go back to %s", name, method, f, bye)
			}
		}
	}
}
