package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// Attack tests for the second part of the hardening issue: each fails on the code before
// its fix.

// authWith starts an authorization request in b with extra parameters and returns the first
// page it leads to.
func (e *testEnv) authWith(b *browser, c *testClient, params ...string) *page {
	e.t.Helper()
	verifier, _ := pkce()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	for i := 0; i+1 < len(params); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(params[i], params[i+1]))
	}
	return b.get(e.oauth2Config(c).AuthCodeURL("st", opts...))
}

// TestHardening2IDTokenHint (7): an id_token_hint names the only person who may answer the
// request, and only our ID tokens are hints.
func TestHardening2IDTokenHint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	bob := e.addUser("bob@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	adaTok := e.tokens(ctx, e.browser(), c, "ada@example.com")
	adaID, _ := adaTok.Extra("id_token").(string)
	b := e.browser()
	bobTok := e.tokens(ctx, b, c, "bob@example.com")
	bobID, _ := bobTok.Extra("id_token").(string)
	if adaID == "" || bobID == "" || strings.Count(bobTok.AccessToken, ".") != 2 {
		t.Fatal("expected ID tokens and a JWT access token")
	}

	t.Run("prompt=none with another person's hint is login_required", func(t *testing.T) {
		res := redirectResult(t, e.authWith(b, c, "prompt", "none", "id_token_hint", adaID), c.Redirect)
		if res.err != "login_required" || res.code != "" {
			t.Errorf("B signed in, hint for A: code %q error %q, want login_required", res.code, res.err)
		}
	})
	t.Run("the own ID token as hint still answers silently", func(t *testing.T) {
		res := redirectResult(t, e.authWith(b, c, "prompt", "none", "id_token_hint", bobID), c.Redirect)
		if res.code == "" {
			t.Errorf("own hint refused: %q", res.err)
		}
	})
	t.Run("a JWT access token is no hint", func(t *testing.T) {
		res := redirectResult(t, e.authWith(b, c, "prompt", "none", "id_token_hint", bobTok.AccessToken), c.Redirect)
		if res.code != "" || res.err == "" {
			t.Errorf("access token accepted as id_token_hint: code %q error %q", res.code, res.err)
		}
	})
	t.Run("without prompt=none the hinted person is asked to sign in", func(t *testing.T) {
		p := e.authWith(b, c, "id_token_hint", adaID)
		if !strings.Contains(p.body, `action="/login"`) {
			t.Fatalf("expected the sign-in page, got %d at %s (Location %q)", p.status, p.url, p.header.Get("Location"))
		}
		if !strings.Contains(p.body, `value="ada@example.com"`) {
			t.Error("the sign-in page does not offer the hinted account")
		}
		// Signing in as someone else does not answer the request either.
		res := redirectResult(t, b.submitLogin(p, "bob@example.com", testPassword), c.Redirect)
		if res.err != "login_required" || res.code != "" {
			t.Errorf("signed in as B for a hint naming A: code %q error %q", res.code, res.err)
		}
		// The hinted person gets a code for themselves.
		verifier, _ := pkce()
		p = b.get(e.oauth2Config(c).AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("id_token_hint", adaID)))
		res = redirectResult(t, b.submitLogin(p, "ada@example.com", testPassword), c.Redirect)
		if res.code == "" {
			t.Fatalf("hinted person got no code: %q", res.err)
		}
		tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if sub := jwtSubject(t, tok.Extra("id_token").(string)); sub == bob.ID {
			t.Error("code issued for B")
		}
	})
}

// jwtSubject reads sub from a JWT without verifying it (the tests trust their server).
func jwtSubject(t testing.TB, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	var cl struct {
		Sub string `json:"sub"`
	}
	raw2, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw2, &cl) != nil {
		t.Fatalf("bad JWT payload: %v", err)
	}
	return cl.Sub
}

// TestHardening2EndSessionNeedsTheBrowser (11): an id_token_hint at end_session ends the
// session only in the browser that holds it; anywhere else the person is asked.
func TestHardening2EndSessionNeedsTheBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	e.addUser("eve@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	victim := e.browser()
	tok := e.tokens(ctx, victim, c, "ada@example.com")
	idt, _ := tok.Extra("id_token").(string)
	bye := c.c.PostLogoutRedirectURIs[0]
	stillSignedIn := func(b *browser, who string) {
		t.Helper()
		if res := redirectResult(t, e.authWith(b, c, "prompt", "none"), c.Redirect); res.code == "" {
			t.Errorf("%s was signed out: %q", who, res.err)
		}
	}
	logout := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {bye}, "state": {"x"}}.Encode()

	// A stranger's browser, then the attacker's own signed-in browser, replay the hint.
	for _, tc := range []struct {
		name string
		b    *browser
	}{{"a browser without a session", e.browser()}, {"a browser with another session", e.signedInBrowser("eve@example.com")}} {
		p := tc.b.get(e.issuer + "/end_session?" + logout)
		if !strings.Contains(p.body, `action="/logout"`) {
			t.Errorf("%s: expected the sign-out question, got %d at %s (Location %q)", tc.name, p.status, p.url, p.header.Get("Location"))
		}
		stillSignedIn(victim, "the victim, after the hint was replayed from "+tc.name)
	}
	// The victim's own browser still signs out at once.
	p := victim.get(e.issuer + "/end_session?" + logout)
	if loc := p.location(); loc == nil || !strings.HasPrefix(loc.String(), bye) {
		t.Fatalf("own browser: got %d, Location %v, want the post-logout redirect", p.status, loc)
	}
	if res := redirectResult(t, e.authWith(victim, c, "prompt", "none"), c.Redirect); res.err != "login_required" {
		t.Errorf("after signing out in the own browser prompt=none gave %q", res.err)
	}
}

const bindingCookie = "myaccount_browser"

// TestHardening2BindingReissuedAtSignIn (19): a browser-binding value planted in the victim's
// browser before sign-in does not let its planter finish the victim's flow.
func TestHardening2BindingReissuedAtSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	issuer, _ := url.Parse(e.issuer)

	// The attacker learns a binding value of its own and plants it in the victim's browser
	// (a sibling subdomain, a plain-http response, a shared machine).
	attacker := e.noFollow()
	attacker.get(e.oauth2Config(c).AuthCodeURL("a"))
	planted := cookieValue(attacker, e.issuer, bindingCookie)
	if planted == "" {
		t.Fatal("no binding cookie from /authorize")
	}
	victim := e.noFollow()
	victim.c.Jar.SetCookies(issuer, []*http.Cookie{{Name: bindingCookie, Value: planted, Path: "/"}})

	verifier, _ := pkce()
	p := victim.get(e.oauth2Config(c).AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	loginURL := resolve(e.issuer, p.header.Get("Location"))
	p = victim.get(loginURL)
	p = victim.submitLogin(p, "ada@example.com", testPassword)
	// The sign-in hands the code straight to the client: no callback URL to leak.
	res := redirectResult(t, p, c.Redirect)
	if res.code == "" {
		t.Fatalf("victim got no code: %q", res.err)
	}
	if now := cookieValue(victim, e.issuer, bindingCookie); now == planted || now == "" {
		t.Error("the binding cookie was not re-issued at sign-in")
	}
	// The sign-in page's URL leaks (history, a proxy log); the planter of the binding value
	// calls the provider's callback with its request id, and gets no code.
	u, _ := url.Parse(loginURL)
	stolen := attacker.get(e.issuer + "/authorize/callback?id=" + url.QueryEscape(u.Query().Get("authRequestID")))
	if strings.Contains(stolen.header.Get("Location"), "code=") {
		t.Fatalf("the planter of the binding value received a code: %s", stolen.header.Get("Location"))
	}
	if stolen.status != http.StatusForbidden {
		t.Errorf("callback in the planter's browser: %d, want 403", stolen.status)
	}
}

// resolve makes a Location absolute against the issuer.
func resolve(issuer, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return issuer + loc
	}
	return loc
}

// httpsTransport serves an https issuer from the plain-http test listener, so that a cookie
// jar treats the site as secure.
type httpsTransport struct {
	to      *url.URL
	mu      sync.Mutex
	cookies []string
}

func (t *httpsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host = t.to.Scheme, t.to.Host
	resp, err := http.DefaultTransport.RoundTrip(r2)
	if err == nil {
		t.mu.Lock()
		t.cookies = append(t.cookies, resp.Header.Values("Set-Cookie")...)
		t.mu.Unlock()
	}
	return resp, err
}

// TestHardening2HostPrefixedCookies (19): on an https issuer every cookie is __Host-
// prefixed, Secure, Path=/ and without Domain.
func TestHardening2HostPrefixedCookies(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{issuer: "https://myaccount.test"})
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	to, _ := url.Parse(e.addr)
	tr := &httpsTransport{to: to}
	b := e.browser()
	b.c.Transport = tr
	b.get(e.issuer + "/lang?to=de&back=/login")
	res, _ := e.signIn(b, c, "ada@example.com")
	if res.code == "" {
		t.Fatalf("no code over the https issuer: %q", res.err)
	}
	names := map[string]bool{}
	for _, raw := range tr.cookies {
		ck, err := http.ParseSetCookie(raw)
		if err != nil {
			t.Fatalf("bad Set-Cookie %q: %v", raw, err)
		}
		names[ck.Name] = true
		if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("cookie not __Host- safe: %q", raw)
		}
	}
	for _, want := range []string{"__Host-" + e.cfg.Session.CookieName, "__Host-" + bindingCookie, "__Host-myaccount_csrf", "__Host-myaccount_lang"} {
		if !names[want] {
			t.Errorf("cookie %s was not set (got %v)", want, names)
		}
	}
	// The session works under its new name: a second sign-in is silent.
	if res := redirectResult(t, e.authWith(b, c, "prompt", "none"), c.Redirect); res.code == "" {
		t.Errorf("SSO under __Host- names: %q", res.err)
	}
}
