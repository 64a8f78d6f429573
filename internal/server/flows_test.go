package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

type idClaims struct {
	Sub           string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	AuthTime      int64    `json:"auth_time"`
	AMR           []string `json:"amr"`
	SID           string   `json:"sid"`
	Nonce         string   `json:"nonce"`
	Name          string   `json:"name"`
	Locale        string   `json:"locale"`
	Zoneinfo      string   `json:"zoneinfo"`
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	resp, err := http.Get(e.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != e.issuer {
		t.Errorf("issuer = %v, want %s", doc["issuer"], e.issuer)
	}
	for key, want := range map[string][]string{
		"id_token_signing_alg_values_supported": {"RS256", "ES256", "EdDSA"},
		"code_challenge_methods_supported":      {"S256"},
		"response_types_supported":              {"code"},
		"grant_types_supported":                 {"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"},
	} {
		var got []string
		for _, v := range doc[key].([]any) {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	keys, err := http.Get(e.issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Body.Close()
	var set struct {
		Keys []struct{ Kid, Alg, Kty, Use string } `json:"keys"`
	}
	if err := json.NewDecoder(keys.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	algs := map[string]string{}
	for _, k := range set.Keys {
		algs[k.Alg] = k.Kty
		if k.Use != "sig" || k.Kid == "" {
			t.Errorf("key %+v: want use=sig and a kid", k)
		}
	}
	if algs["RS256"] != "RSA" || algs["ES256"] != "EC" || algs["EdDSA"] != "OKP" {
		t.Errorf("JWKS algorithms (alg: kty) = %v, want RS256 RSA, ES256 EC and EdDSA OKP", algs)
	}
	if cc := keys.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age") {
		t.Errorf("JWKS Cache-Control = %q, want a max-age", cc)
	}
	_ = e.provider(ctx) // go-oidc accepts the document (issuer matches)
}

func TestCodeFlowConfidentialWithPKCE(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	nonce := "n-" + t.Name()
	res, verifier := e.signIn(b, c, "ada@example.com", oauth2.SetAuthURLParam("nonce", nonce))
	if res.iss != e.issuer {
		t.Errorf("iss in authorization response = %q, want %q (RFC 9207)", res.iss, e.issuer)
	}
	tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if cl.Sub != u.ID || cl.Email != "ada@example.com" || !cl.EmailVerified {
		t.Errorf("claims sub/email/verified = %q/%q/%v, want %q/ada@example.com/true", cl.Sub, cl.Email, cl.EmailVerified, u.ID)
	}
	if cl.Nonce != nonce {
		t.Errorf("nonce = %q, want %q", cl.Nonce, nonce)
	}
	if !slices.Equal(cl.AMR, []string{"pwd"}) {
		t.Errorf("amr = %v, want [pwd]", cl.AMR)
	}
	if cl.SID == "" {
		t.Error("sid missing")
	}
	if d := time.Since(time.Unix(cl.AuthTime, 0)); d < 0 || d > time.Minute {
		t.Errorf("auth_time %d is not recent", cl.AuthTime)
	}
	if cl.Name != "Ada Lovelace" || cl.Locale != "en-GB" || cl.Zoneinfo != "Europe/London" {
		t.Errorf("profile claims = %q/%q/%q", cl.Name, cl.Locale, cl.Zoneinfo)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token despite offline_access")
	}
	// The access token is a JWT signed by our keys and good at /userinfo.
	ui, err := e.provider(ctx).UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != u.ID || ui.Email != "ada@example.com" {
		t.Errorf("userinfo = %q/%q", ui.Subject, ui.Email)
	}
	if strings.Count(tok.AccessToken, ".") != 2 {
		t.Errorf("access token %q is not a JWT", tok.AccessToken)
	}
}

func TestCodeFlowPublicClientAndES256(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("bob@example.com")
	c := e.addClient(storage.ClientPublic, firstParty, func(c *storage.Client) { c.IDTokenAlg = "ES256" })
	tok := e.tokens(ctx, e.browser(), c, "bob@example.com")
	raw, _ := tok.Extra("id_token").(string)
	v := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{"ES256"}})
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatalf("ES256 ID token does not verify: %v", err)
	}
	// A public client cannot authenticate with a secret it does not have, and needs none.
	if tok.RefreshToken == "" {
		t.Fatal("public client got no refresh token")
	}
	nt, err := e.oauth2Config(c).TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("public refresh: %v", err)
	}
	if nt.RefreshToken == tok.RefreshToken {
		t.Error("refresh token did not rotate")
	}
}

func TestSSOAndSessionRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c1 := e.addClient(storage.ClientConfidential, firstParty)
	c2 := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	e.tokens(ctx, b, c1, "ada@example.com")
	sess1 := cookieValue(b, e.issuer, e.cfg.Session.CookieName)
	if sess1 == "" {
		t.Fatal("no session cookie after sign-in")
	}
	// Second client: no password page.
	verifier, _ := pkce()
	p := b.get(e.oauth2Config(c2).AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)))
	res := redirectResult(t, p, c2.Redirect)
	if res.code == "" {
		t.Fatalf("SSO did not yield a code: %q", res.err)
	}
	if _, err := e.oauth2Config(c2).Exchange(ctx, res.code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
	// prompt=login forces the password again, and a new sign-in rotates the session id.
	verifier, _ = pkce()
	p = b.get(e.oauth2Config(c1).AuthCodeURL("s3", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "login")))
	p = b.submitLogin(p, "ada@example.com", testPassword)
	redirectResult(t, p, c1.Redirect)
	sess2 := cookieValue(b, e.issuer, e.cfg.Session.CookieName)
	if sess2 == "" || sess2 == sess1 {
		t.Errorf("session cookie did not rotate on sign-in")
	}
	// The old session is revoked, not merely replaced.
	if _, err := e.store.GetSessionByTokenHash(ctx, hashOf(sess1), time.Now()); err == nil {
		t.Error("old session still live after a new sign-in")
	}
}

func cookieValue(b *browser, issuer, name string) string {
	u, _ := url.Parse(issuer)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func TestPromptAndMaxAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	fp := e.addClient(storage.ClientConfidential, firstParty)
	tp := e.addClient(storage.ClientConfidential)
	auth := func(b *browser, c *testClient, params ...string) *page {
		verifier, _ := pkce()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
		for i := 0; i+1 < len(params); i += 2 {
			opts = append(opts, oauth2.SetAuthURLParam(params[i], params[i+1]))
		}
		return b.get(e.oauth2Config(c).AuthCodeURL("st", opts...))
	}
	t.Run("prompt=none without session returns login_required", func(t *testing.T) {
		b := e.browser()
		res := redirectResult(t, auth(b, fp, "prompt", "none"), fp.Redirect)
		if res.err != "login_required" || res.state != "st" {
			t.Errorf("got error %q state %q, want login_required/st", res.err, res.state)
		}
	})
	b := e.browser()
	e.signIn(b, fp, "ada@example.com")
	t.Run("prompt=none with session returns a code", func(t *testing.T) {
		res := redirectResult(t, auth(b, fp, "prompt", "none"), fp.Redirect)
		if res.code == "" {
			t.Errorf("no code: %q", res.err)
		}
	})
	t.Run("prompt=none for an unconsented third party returns consent_required", func(t *testing.T) {
		res := redirectResult(t, auth(b, tp, "prompt", "none"), tp.Redirect)
		if res.err != "consent_required" {
			t.Errorf("error = %q, want consent_required", res.err)
		}
	})
	t.Run("consent is asked once and remembered", func(t *testing.T) {
		p := auth(b, tp)
		if !strings.Contains(p.body, `action="/consent"`) || !strings.Contains(p.body, tp.c.Name) {
			t.Fatalf("expected consent page naming the client, got %d:\n%.500s", p.status, p.body)
		}
		redirectResult(t, b.consent(p, "allow"), tp.Redirect)
		res := redirectResult(t, auth(b, tp, "prompt", "none"), tp.Redirect)
		if res.code == "" {
			t.Errorf("remembered consent not used: %q", res.err)
		}
	})
	t.Run("prompt=consent asks again; deny returns access_denied", func(t *testing.T) {
		p := auth(b, tp, "prompt", "consent")
		res := redirectResult(t, b.consent(p, "deny"), tp.Redirect)
		if res.err != "access_denied" {
			t.Errorf("error = %q, want access_denied", res.err)
		}
	})
	t.Run("max_age older than the session asks for the password", func(t *testing.T) {
		e.clock.Advance(2 * time.Minute)
		p := auth(b, fp, "max_age", "60")
		if !strings.Contains(p.body, `action="/login"`) {
			t.Fatalf("expected sign-in page, got %d", p.status)
		}
		p = auth(b, fp, "max_age", "3600")
		if res := redirectResult(t, p, fp.Redirect); res.code == "" {
			t.Errorf("max_age=3600 should reuse the session: %q", res.err)
		}
	})
	t.Run("prompt=login shows the sign-in page despite a session", func(t *testing.T) {
		p := auth(b, fp, "prompt", "login")
		if !strings.Contains(p.body, `action="/login"`) {
			t.Fatalf("expected sign-in page, got %d", p.status)
		}
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	tok := e.tokens(ctx, e.browser(), c, "ada@example.com")
	refresh := func(rt string) (int, map[string]any) {
		st, hdr, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, c.Secret)
		if cc := hdr.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("token response Cache-Control = %q, want no-store", cc)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return st, m
	}
	st, r1 := refresh(tok.RefreshToken)
	if st != 200 {
		t.Fatalf("first refresh: %d %v", st, r1)
	}
	rt2 := r1["refresh_token"].(string)
	at2 := r1["access_token"].(string)
	if rt2 == tok.RefreshToken {
		t.Fatal("refresh token not rotated")
	}
	// Refresh tokens introspect too (RFC 7662): the rotated one is inactive, the new one
	// active, and another client learns nothing.
	if e.introspectActive(c, tok.RefreshToken) || !e.introspectActive(c, rt2) {
		t.Error("refresh-token introspection: want old inactive, new active")
	}
	if other := e.addClient(storage.ClientConfidential); e.introspectActive(other, rt2) {
		t.Error("another client sees our refresh token as active")
	}
	if !e.introspectActive(c, at2) {
		t.Fatal("fresh access token inactive")
	}
	// Replaying the first token past the retry grace (within it, it is a retry: see
	// refresh_retry_test.go) is reuse: refused, and the whole family dies.
	e.clock.Advance(e.cfg.Tokens.RefreshReuseInterval.Std() + time.Second)
	st, r := refresh(tok.RefreshToken)
	if st != 400 || r["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v, want 400 invalid_grant", st, r)
	}
	if st, r := refresh(rt2); st != 400 {
		t.Errorf("descendant refresh token still works after reuse: %d %v", st, r)
	}
	if e.introspectActive(c, at2) {
		t.Error("descendant access token still active after reuse")
	}
	if e.introspectActive(c, tok.AccessToken) {
		t.Error("original access token still active after reuse")
	}
	if e.introspectActive(c, rt2) {
		t.Error("descendant refresh token introspects active after reuse")
	}
}

func (e *testEnv) introspectActive(c *testClient, token string) bool {
	e.t.Helper()
	st, _, body := e.postForm("/oauth/introspect", url.Values{"token": {token}}, c.ID, c.Secret)
	if st != 200 {
		e.t.Fatalf("introspect: %d %s", st, body)
	}
	var m struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		e.t.Fatal(err)
	}
	return m.Active
}

func TestCodeSingleUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	res, verifier := e.signIn(e.browser(), c, "ada@example.com")
	tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !asRetrieve(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("second redemption: %v, want invalid_grant", err)
	}
	if e.introspectActive(c, tok.AccessToken) {
		t.Error("access token from the first redemption still active after code replay")
	}
	st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret)
	if st != 400 {
		t.Errorf("refresh token from the first redemption still works: %d", st)
	}
}

func TestConcurrentCodeRedemption(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	res, verifier := e.signIn(e.browser(), c, "ada@example.com")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier)); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly 1", ok, n)
	}
}

// Concurrent presentations of one refresh token are, within the retry grace, retries of one
// client: each may be answered, but exactly one chain stays live.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	tok := e.tokens(ctx, e.browser(), c, "ada@example.com")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var issued []string
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret)
			var m map[string]any
			if st == 200 && json.Unmarshal([]byte(body), &m) == nil {
				mu.Lock()
				issued = append(issued, m["refresh_token"].(string))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	live := 0
	for _, rt := range issued {
		if e.introspectActive(c, rt) {
			live++
		}
	}
	if len(issued) == 0 || live != 1 {
		t.Fatalf("%d of %d concurrent refreshes answered, %d of their tokens live, want at least 1 and exactly 1", len(issued), n, live)
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = []string{"api.read"} })
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cfg := e.clientCredentials(c, style)
		tok, err := cfg.Token(ctx)
		if err != nil {
			t.Fatalf("auth style %v: %v", style, err)
		}
		if !e.introspectActive(c, tok.AccessToken) {
			t.Errorf("auth style %v: token inactive", style)
		}
		if tok.RefreshToken != "" {
			t.Error("client_credentials must not issue a refresh token")
		}
	}
	bad := e.clientCredentials(c, oauth2.AuthStyleInHeader)
	bad.ClientSecret = "wrong"
	if _, err := bad.Token(ctx); err == nil {
		t.Error("wrong secret accepted")
	}
	// A client without the grant is refused.
	other := e.addClient(storage.ClientConfidential)
	if _, err := e.clientCredentials(other, oauth2.AuthStyleInHeader).Token(ctx); err == nil {
		t.Error("client_credentials accepted for a client without the grant")
	}
}

func TestOpaqueAccessTokensAndRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty, opaqueTokens)
	tok := e.tokens(ctx, e.browser(), c, "ada@example.com")
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("access token looks like a JWT for an opaque client")
	}
	if _, err := e.provider(ctx).UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("userinfo with opaque token: %v", err)
	}
	// Revoke the access token: inactive, userinfo refuses it.
	st, _, body := e.postForm("/revoke", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}, c.ID, c.Secret)
	if st != 200 {
		t.Fatalf("revoke: %d %s", st, body)
	}
	if e.introspectActive(c, tok.AccessToken) {
		t.Error("revoked access token still active")
	}
	if _, err := e.provider(ctx).UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo accepted a revoked token")
	}
	// Revoking the refresh token ends the grant.
	if st, _, body := e.postForm("/revoke", url.Values{"token": {tok.RefreshToken}}, c.ID, c.Secret); st != 200 {
		t.Fatalf("revoke refresh: %d %s", st, body)
	}
	if st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret); st != 400 {
		t.Errorf("revoked refresh token still works: %d", st)
	}
	// Another client cannot revoke (or learn about) this client's tokens.
	tok2 := e.tokens(ctx, e.browser(), c, "ada@example.com")
	other := e.addClient(storage.ClientConfidential)
	if st, _, _ := e.postForm("/revoke", url.Values{"token": {tok2.RefreshToken}}, other.ID, other.Secret); st == 200 {
		t.Error("another client revoked our refresh token")
	}
	if st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2.RefreshToken}}, c.ID, c.Secret); st != 200 {
		t.Errorf("refresh token died after a foreign revocation attempt: %d", st)
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	tok := e.tokens(ctx, b, c, "ada@example.com")
	idt, _ := tok.Extra("id_token").(string)
	bye := c.c.PostLogoutRedirectURIs[0]
	// An unregistered post-logout URI is never redirected to.
	p := b.get(e.issuer + "/end_session?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
	if loc := p.header.Get("Location"); strings.HasPrefix(loc, "https://evil.example") {
		t.Fatalf("redirected to an unregistered URI: %s", loc)
	}
	// Sign in again (the session may have ended), then log out properly.
	tok = e.tokens(ctx, b, c, "ada@example.com")
	idt, _ = tok.Extra("id_token").(string)
	p = b.get(e.issuer + "/end_session?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {bye}, "state": {"xyz"}}.Encode())
	loc := p.location()
	if loc == nil || !strings.HasPrefix(loc.String(), bye) || loc.Query().Get("state") != "xyz" {
		t.Fatalf("logout redirect = %v, want %s?state=xyz", loc, bye)
	}
	// The SSO session is over: prompt=none now fails.
	verifier, _ := pkce()
	res := redirectResult(t, b.get(e.oauth2Config(c).AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none"))), c.Redirect)
	if res.err != "login_required" {
		t.Errorf("after logout prompt=none gave %q, want login_required", res.err)
	}
}

func TestLogoutWithoutHintAsksFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	e.signIn(b, c, "ada@example.com")
	p := b.get(e.issuer + "/end_session")
	if !strings.Contains(p.body, `action="/logout"`) {
		t.Fatalf("expected the sign-out confirmation, got %d:\n%.400s", p.status, p.body)
	}
	// Still signed in: a GET alone ended nothing.
	if p := b.get(e.issuer + "/account"); !strings.Contains(p.body, "ada@example.com") {
		t.Fatal("a GET to end_session signed the person out")
	}
	p = b.post(e.issuer+"/logout", p.formValues())
	if p := b.get(e.issuer + "/account"); strings.Contains(p.body, "ada@example.com") {
		t.Fatal("still signed in after confirming sign-out")
	}
}

func (e *testEnv) clientCredentials(c *testClient, style oauth2.AuthStyle) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: e.issuer + "/oauth/token", AuthStyle: style, Scopes: []string{"api.read"}}
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool { return errors.As(err, re) }

func hashOf(s string) string { return secret.HashToken(s) }
