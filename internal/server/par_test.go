package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// parResponse is the body of a successful push (RFC 9126 §2.2).
type parResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
}

// push posts an authorization request to /par; form holds the request, user/pass the
// client's Basic credentials (none for a public client).
func (e *testEnv) push(form url.Values, user, pass string) (int, parResponse, string) {
	e.t.Helper()
	st, _, body := e.postForm("/par", form, user, pass)
	var r parResponse
	if st == http.StatusCreated {
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			e.t.Fatalf("par answer %q: %v", body, err)
		}
	}
	return st, r, body
}

// parForm is a well-formed authorization request for c with a fresh PKCE challenge.
func parForm(c *testClient) (url.Values, string, string) {
	verifier, challenge := pkce()
	state := secret.RandomToken(8)
	return url.Values{
		"client_id": {c.ID}, "redirect_uri": {c.Redirect}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "state": {state},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}, verifier, state
}

// TestPushedAuthorizationRequests: a confidential client pushes its request and sends the
// browser with request_uri alone; the sign-in completes through golang.org/x/oauth2 and
// go-oidc, with the pushed parameters (and not those added to the URL) in force. A
// request_uri is single use, short lived, bound to its client; discovery advertises the
// endpoint; a client registered with require_par cannot start a sign-in without one.
func TestPushedAuthorizationRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("par@example.com")
	c := e.addClient(storage.ClientConfidential, func(c *storage.Client) { c.RequirePAR = true })

	var disc struct {
		PAR        string `json:"pushed_authorization_request_endpoint"`
		RequirePAR *bool  `json:"require_pushed_authorization_requests"`
	}
	resp, err := http.Get(e.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if disc.PAR != e.issuer+"/par" || disc.RequirePAR == nil || *disc.RequirePAR {
		t.Fatalf("discovery: %+v", disc)
	}

	// Without PAR the client is refused, back at its own redirect URI.
	b := e.browser()
	verifier, _ := pkce()
	p := b.get(e.oauth2Config(c).AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier)))
	if res := redirectResult(t, p, c.Redirect); res.err != "invalid_request" || res.code != "" {
		t.Fatalf("a require_par client without PAR: %+v", res)
	}

	form, verifier, state := parForm(c)
	form.Set("nonce", "n-0S6")
	st, pr, body := e.push(form, c.ID, c.Secret)
	if st != http.StatusCreated || !strings.HasPrefix(pr.RequestURI, "urn:ietf:params:oauth:request_uri:") || pr.ExpiresIn != 60 {
		t.Fatalf("push: %d %s", st, body)
	}
	// Parameters added in the URL are ignored: only the pushed ones were authenticated.
	authURL := e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI},
		"redirect_uri": {"https://evil.example/cb"}, "scope": {"openid phone"}, "state": {"forged"}}.Encode()
	p = b.get(authURL)
	p = b.submitLogin(p, "par@example.com", testPassword)
	if strings.Contains(p.body, `action="/consent"`) {
		p = b.consent(p, "allow")
	}
	res := redirectResult(t, p, c.Redirect)
	if res.code == "" || res.state != state || res.iss != e.issuer {
		t.Fatalf("authorization response %+v", res)
	}
	tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID, Now: e.clock.Now}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != "n-0S6" {
		t.Errorf("nonce %q: the pushed request's nonce is not the one in force", idt.Nonce)
	}
	if tok.RefreshToken == "" {
		t.Error("offline_access was pushed but no refresh token was issued")
	}
	if sc, _ := tok.Extra("scope").(string); strings.Contains(sc, "phone") {
		t.Errorf("scope %q: a scope added in the URL was honoured", sc)
	}

	// Single use: the same request_uri again is refused, on a page (nothing to redirect to).
	p = e.browser().get(authURL)
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "already used") {
		t.Fatalf("replayed request_uri: %d %.300s", p.status, p.body)
	}

	// Bound to its client: another client cannot use it; and it expires.
	other := e.addClient(storage.ClientConfidential)
	form, _, _ = parForm(c)
	_, pr, _ = e.push(form, c.ID, c.Secret)
	p = e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {other.ID}, "request_uri": {pr.RequestURI}}.Encode())
	if p.status != http.StatusBadRequest || strings.Contains(p.header.Get("Location"), other.Redirect) {
		t.Fatalf("another client's request_uri: %d %s", p.status, p.header.Get("Location"))
	}
	form, _, _ = parForm(c)
	_, pr, _ = e.push(form, c.ID, c.Secret)
	e.clock.Advance(61 * time.Second)
	p = e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI}}.Encode())
	if p.status != http.StatusBadRequest {
		t.Fatalf("expired request_uri: %d", p.status)
	}
	// A request_uri not issued here is refused the same way (no fetching of URLs).
	p = e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {"https://rp.example/req.jwt"}}.Encode())
	if p.status != http.StatusBadRequest {
		t.Fatalf("a foreign request_uri: %d", p.status)
	}
}

// TestPushedAuthorizationRequestRefusals: what /par refuses, each with the protocol's error.
func TestPushedAuthorizationRequestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conf := e.addClient(storage.ClientConfidential)
	pub := e.addClient(storage.ClientPublic)
	good := func(c *testClient, change func(url.Values)) url.Values {
		f, _, _ := parForm(c)
		if change != nil {
			change(f)
		}
		return f
	}
	cases := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		err        string
	}{
		{"confidential without its secret", good(conf, nil), "", "", 401, "invalid_client"},
		{"wrong secret", good(conf, nil), conf.ID, "nope", 401, "invalid_client"},
		{"unregistered redirect_uri", good(conf, func(f url.Values) { f.Set("redirect_uri", "https://evil.example/cb") }), conf.ID, conf.Secret, 400, "invalid_request"},
		{"request_uri inside a push", good(conf, func(f url.Values) { f.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }), conf.ID, conf.Secret, 400, "invalid_request"},
		{"request object", good(conf, func(f url.Values) { f.Set("request", "eyJ.x.y") }), conf.ID, conf.Secret, 400, "request_not_supported"},
		{"no openid scope", good(conf, func(f url.Values) { f.Set("scope", "email") }), conf.ID, conf.Secret, 400, "invalid_scope"},
		{"implicit", good(conf, func(f url.Values) { f.Set("response_type", "token") }), conf.ID, conf.Secret, 400, "unsupported_response_type"},
		{"public client without PKCE", good(pub, func(f url.Values) { f.Del("code_challenge"); f.Del("code_challenge_method") }), "", "", 400, "invalid_request"},
		{"repeated parameter", good(conf, func(f url.Values) { f.Add("scope", "openid") }), conf.ID, conf.Secret, 400, "invalid_request"},
	}
	for _, tc := range cases {
		st, _, body := e.postForm("/par", tc.form, tc.user, tc.pass)
		var er struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &er)
		if st != tc.status || er.Error != tc.err {
			t.Errorf("%s: %d %s, want %d %s", tc.name, st, body, tc.status, tc.err)
		}
	}
	// A public client pushes with client_id alone, and the pushed request works.
	st, pr, body := e.push(good(pub, nil), "", "")
	if st != http.StatusCreated || pr.RequestURI == "" {
		t.Fatalf("public client push: %d %s", st, body)
	}
	// GET is not a push, and parameters in the URL are refused rather than ignored.
	resp, err := http.Get(e.issuer + "/par?client_id=" + pub.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /par: %d", resp.StatusCode)
	}
	st, _, _ = e.postForm("/par?scope=openid", good(pub, nil), "", "")
	if st != http.StatusBadRequest {
		t.Errorf("parameters in the URL: %d", st)
	}
}

// TestPushedAuthorizationRequestStoreFailures: a failing store is ours: 503 at /par and a
// 503 page at /authorize, never invalid_request or "expired".
func TestPushedAuthorizationRequestStoreFailures(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{wrapStore: func(s storage.Store) storage.Store { fs = faultstore.New(s); return fs }})
	c := e.addClient(storage.ClientConfidential)
	form, _, _ := parForm(c)
	fs.Fail("PutPushedRequest")
	st, hdr, body := e.postForm("/par", form, c.ID, c.Secret)
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") || hdr.Get("Retry-After") == "" {
		t.Errorf("push with a failing store: %d %s", st, body)
	}
	fs.Clear()
	_, pr, _ := e.push(form, c.ID, c.Secret)
	// Reading the pushed request fails: nothing is known good enough to redirect to.
	fs.Fail("GetPushedRequest")
	p := e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI}}.Encode())
	if p.status != http.StatusServiceUnavailable || strings.Contains(p.body, "already used") {
		t.Errorf("authorize with a failing store: %d %.300s", p.status, p.body)
	}
	// Taking it with the auth request fails: the request was read and its redirect URI
	// checked, so the client hears temporarily_unavailable.
	fs.Clear()
	fs.Fail("TakePushedRequest")
	p = e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI}}.Encode())
	if res := redirectResult(t, p, c.Redirect); res.err != "temporarily_unavailable" {
		t.Errorf("authorize with the take failing: error %q, want temporarily_unavailable", res.err)
	}
	// The request was not consumed by the failures: it still works once the store is back.
	fs.Clear()
	p = e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI}}.Encode())
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="/login"`) {
		t.Errorf("after the store is back: %d %.300s", p.status, p.body)
	}
}
