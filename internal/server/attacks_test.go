package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// TestAuthorizeRedirectURIAttacks: a redirect URI that is not registered byte for byte gets an
// error page at MyAccount and no redirect anywhere.
func TestAuthorizeRedirectURIAttacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	web := e.addClient(storage.ClientConfidential, firstParty)
	native := e.addClient(storage.ClientNative, firstParty, func(c *storage.Client) {
		c.RedirectURIs = []string{"http://127.0.0.1/callback", "http://[::1]/callback", "http://localhost/cb", "com.example.app:/oauth"}
	})
	_, challenge := pkce()
	authorize := func(clientID, redirect string) *page {
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
			"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		return e.browser().get(e.issuer + "/authorize?" + q.Encode())
	}
	bad := []struct {
		name, client, redirect string
	}{
		{"other host", web.ID, "https://evil.example/callback"},
		{"path suffix", web.ID, web.Redirect + "/x"},
		{"extra query", web.ID, web.Redirect + "?a=1"},
		{"trailing slash", web.ID, web.Redirect + "/"},
		{"case change", web.ID, strings.ToUpper(web.Redirect[:5]) + web.Redirect[5:]},
		{"fragment", web.ID, web.Redirect + "#f"},
		{"userinfo", web.ID, strings.Replace(web.Redirect, "https://", "https://rp.example@", 1)},
		{"missing", web.ID, ""},
		{"web client any port", web.ID, strings.Replace(web.Redirect, "rp.example", "rp.example:8443", 1)},
		{"native path mismatch", native.ID, "http://127.0.0.1:5555/other"},
		{"native localhost port not relaxed", native.ID, "http://localhost:5555/cb"},
		{"native 127.0.0.1 as localhost", native.ID, "http://localhost/callback"},
		{"native https loopback", native.ID, "https://127.0.0.1:5555/callback"},
		{"native scheme mismatch", native.ID, "com.example.evil:/oauth"},
		{"unknown client", "no-such-client", web.Redirect},
		{"missing client", "", web.Redirect},
		{"sql in client_id", "' OR '1'='1", web.Redirect},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := authorize(tt.client, tt.redirect)
			if p.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", p.status)
			}
			if loc := p.header.Get("Location"); loc != "" {
				t.Errorf("redirected to %q", loc)
			}
			if !strings.Contains(p.body, "<h1>") {
				t.Errorf("want MyAccount's error page, got %.200s", p.body)
			}
		})
	}
	good := []struct{ name, client, redirect string }{
		{"exact", web.ID, web.Redirect},
		{"native ipv4 any port", native.ID, "http://127.0.0.1:51234/callback"},
		{"native ipv6 any port", native.ID, "http://[::1]:51234/callback"},
		{"native localhost exact", native.ID, "http://localhost/cb"},
		{"native private scheme", native.ID, "com.example.app:/oauth"},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			p := authorize(tt.client, tt.redirect)
			if !strings.Contains(p.body, `action="/login"`) {
				t.Errorf("want the sign-in page, got %d %.200s", p.status, p.body)
			}
		})
	}
}

// TestAuthorizeProtocolErrors: with a registered redirect URI, protocol errors go back to the
// client in the OAuth form.
func TestAuthorizeProtocolErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conf := e.addClient(storage.ClientConfidential, firstParty)
	pub := e.addClient(storage.ClientPublic, firstParty)
	_, challenge := pkce()
	tests := []struct {
		name   string
		client *testClient
		params url.Values
		want   string
	}{
		{"public without PKCE", pub, url.Values{}, "invalid_request"},
		{"plain PKCE", conf, url.Values{"code_challenge": {"abc"}, "code_challenge_method": {"plain"}}, "invalid_request"},
		{"PKCE without method", pub, url.Values{"code_challenge": {challenge}}, "invalid_request"},
		{"implicit", conf, url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		{"hybrid", conf, url.Values{"response_type": {"code id_token"}}, "unsupported_response_type"},
		{"request object", conf, url.Values{"request": {"eyJhbGciOiJub25lIn0.e30."}}, "request_not_supported"},
		{"prompt none with login", conf, url.Values{"prompt": {"none login"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"no scope", conf, url.Values{"scope": {""}}, "invalid_scope"},
		{"no openid scope", conf, url.Values{"scope": {"email"}}, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"response_type": {"code"}, "client_id": {tt.client.ID}, "redirect_uri": {tt.client.Redirect},
				"scope": {"openid"}, "state": {"st"}}
			for k, v := range tt.params {
				q[k] = v
			}
			res := redirectResult(t, e.browser().get(e.issuer+"/authorize?"+q.Encode()), tt.client.Redirect)
			if res.err != tt.want || res.state != "st" {
				t.Errorf("error %q state %q, want %q/st", res.err, res.state, tt.want)
			}
		})
	}
	// Confidential clients may skip PKCE (it is accepted, not required).
	res, _ := (func() (authResult, string) {
		e.addUser("ada@example.com")
		b := e.browser()
		q := url.Values{"response_type": {"code"}, "client_id": {conf.ID}, "redirect_uri": {conf.Redirect}, "scope": {"openid"}, "state": {"x"}}
		p := b.submitLogin(b.get(e.issuer+"/authorize?"+q.Encode()), "ada@example.com", testPassword)
		return redirectResult(t, p, conf.Redirect), ""
	})()
	if res.code == "" {
		t.Errorf("confidential client without PKCE: %q", res.err)
	}
}

// TestTokenEndpointAttacks: each bad token request gets the RFC 6749 error, never a 500.
func TestTokenEndpointAttacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	other := e.addClient(storage.ClientConfidential, firstParty)
	pub := e.addClient(storage.ClientPublic, firstParty)
	fresh := func() (string, string) {
		res, verifier := e.signIn(e.browser(), c, "ada@example.com")
		return res.code, verifier
	}
	exchange := func(code, verifier, user, pass string, extra url.Values) (int, string) {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}}
		for k, v := range extra {
			f[k] = v
		}
		st, hdr, body := e.postForm("/oauth/token", f, user, pass)
		if st >= 500 {
			t.Errorf("server error %d: %s", st, body)
		}
		if hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", hdr.Get("Cache-Control"))
		}
		var m struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &m)
		return st, m.Error
	}
	tests := []struct {
		name       string
		run        func() (int, string)
		wantStatus int
		wantErr    string
	}{
		{"wrong secret", func() (int, string) { code, v := fresh(); return exchange(code, v, c.ID, "wrong", nil) }, 401, "invalid_client"},
		{"unknown client", func() (int, string) { code, v := fresh(); return exchange(code, v, "nobody", "x", nil) }, 401, "invalid_client"},
		{"code of another client", func() (int, string) { code, v := fresh(); return exchange(code, v, other.ID, other.Secret, nil) }, 400, "invalid_grant"},
		{"wrong verifier", func() (int, string) {
			code, _ := fresh()
			v2, _ := pkce()
			return exchange(code, v2, c.ID, c.Secret, nil)
		}, 400, "invalid_grant"},
		{"missing verifier", func() (int, string) { code, _ := fresh(); return exchange(code, "", c.ID, c.Secret, nil) }, 400, "invalid_request"},
		{"wrong redirect_uri", func() (int, string) {
			code, v := fresh()
			return exchange(code, v, c.ID, c.Secret, url.Values{"redirect_uri": {c.Redirect + "x"}})
		}, 400, "invalid_grant"},
		{"garbage code", func() (int, string) { v, _ := pkce(); return exchange("garbage", v, c.ID, c.Secret, nil) }, 400, "invalid_grant"},
		{"sql in code", func() (int, string) { v, _ := pkce(); return exchange("' OR 1=1 --", v, c.ID, c.Secret, nil) }, 400, "invalid_grant"},
		{"expired code", func() (int, string) {
			code, v := fresh()
			e.clock.Advance(2 * e.cfg.Tokens.AuthCodeTTL.Std())
			return exchange(code, v, c.ID, c.Secret, nil)
		}, 400, "invalid_grant"},
		{"public client posing as confidential without PKCE", func() (int, string) {
			st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {pub.ID}, "redirect_uri": {pub.Redirect}}, "", "")
			var m struct{ Error string }
			_ = json.Unmarshal([]byte(body), &m)
			return st, m.Error
		}, 400, "invalid_grant"},
		{"unsupported grant", func() (int, string) {
			st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, c.ID, c.Secret)
			var m struct{ Error string }
			_ = json.Unmarshal([]byte(body), &m)
			return st, m.Error
		}, 400, "unsupported_grant_type"},
		{"bad refresh token", func() (int, string) {
			st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, c.ID, c.Secret)
			var m struct{ Error string }
			_ = json.Unmarshal([]byte(body), &m)
			return st, m.Error
		}, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, code := tt.run()
			if st != tt.wantStatus || code != tt.wantErr {
				t.Errorf("got %d %q, want %d %q", st, code, tt.wantStatus, tt.wantErr)
			}
		})
	}
	_ = ctx
}

// TestForgedTokens: alg=none and tokens signed by someone else are refused everywhere.
func TestForgedTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	tok := e.tokens(ctx, b, c, "ada@example.com")
	parts := strings.Split(tok.AccessToken, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	none := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	// Re-sign the payload with a different header kid: signature no longer matches.
	tampered := parts[0] + "." + b64([]byte(`{"sub":"`+u.ID+`","iss":"`+e.issuer+`","exp":4102444800,"jti":"x"}`)) + "." + parts[2]
	for name, forged := range map[string]string{"alg none": none, "tampered payload": tampered, "random": "abc.def.ghi"} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+forged)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("userinfo status %d, want 401", resp.StatusCode)
			}
			if e.introspectActive(c, forged) {
				t.Error("introspection says active")
			}
		})
	}
	// A forged id_token_hint at end_session is not trusted and ends nothing: the person is
	// asked, as without a hint, and stays signed in until they answer.
	p := b.post(e.issuer+"/end_session", url.Values{"id_token_hint": {none}})
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="/logout"`) {
		t.Errorf("forged id_token_hint: %d at %s, want the sign-out question", p.status, p.url)
	}
	if res := redirectResult(t, e.authWith(b, c, "prompt", "none"), c.Redirect); res.code == "" {
		t.Errorf("after a forged id_token_hint, prompt=none gave %q: the person was signed out", res.err)
	}
}

// TestBrowserBinding: a leaked authRequestID or callback URL cannot be finished in another
// browser.
func TestBrowserBinding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	e.addUser("eve@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	victim, attacker := e.browser(), e.browser()
	_, challenge := pkce()
	_ = challenge
	verifier, _ := pkce()
	p := victim.get(e.oauth2Config(c).AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	authReqID := p.formValues().Get("authRequestID")
	if authReqID == "" {
		t.Fatal("no authRequestID on the sign-in page")
	}
	// The attacker opens the victim's sign-in link (e.g. to sign the victim into the
	// attacker's account, or to complete it with a stolen session).
	ap := attacker.get(e.issuer + "/login?authRequestID=" + url.QueryEscape(authReqID))
	if ap.status != http.StatusForbidden || strings.Contains(ap.body, `action="/login"`) {
		t.Errorf("foreign browser got %d with a sign-in form", ap.status)
	}
	// Even posting credentials there fails.
	csrf := attacker.get(e.issuer + "/login").formValues().Get("csrf_token")
	ap = attacker.post(e.issuer+"/login", url.Values{"csrf_token": {csrf}, "authRequestID": {authReqID}, "email": {"eve@example.com"}, "password": {testPassword}})
	if ap.status != http.StatusForbidden {
		t.Errorf("foreign browser post got %d, want 403", ap.status)
	}
	// The victim completes; the callback URL leaks; the attacker replays it.
	victimDone := victim.submitLogin(p, "ada@example.com", testPassword)
	_ = victimDone
	ar, err := e.store.GetAuthRequest(context.Background(), authReqID)
	if err != nil {
		t.Fatal(err)
	}
	_ = ar
	cb := attacker.get(e.issuer + "/authorize/callback?id=" + url.QueryEscape(authReqID))
	if cb.status != http.StatusForbidden && cb.status != http.StatusBadRequest {
		t.Errorf("callback in a foreign browser: %d (Location %q)", cb.status, cb.header.Get("Location"))
	}
	if strings.Contains(cb.header.Get("Location"), "code=") {
		t.Error("foreign browser received a code")
	}
}

// TestLoginEnumerationResistance: unknown email and wrong password look the same. That they
// cost the same (one password hash, the same store calls) is TestEnumerationSignIn's: counted,
// not timed, so a busy CI host cannot fail it and a small difference cannot hide in the noise.
func TestLoginEnumerationResistance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	b := e.browser()
	form := b.get(e.issuer + "/login")
	known := b.submitLogin(form, "ada@example.com", "wrong password here")
	unknown := b.submitLogin(form, "nobody@example.com", "wrong password here")
	if known.status != unknown.status {
		t.Errorf("status %d vs %d", known.status, unknown.status)
	}
	norm := func(p *page, email string) string {
		s := strings.ReplaceAll(p.body, email, "EMAIL")
		return hiddenRE.ReplaceAllString(s, "")
	}
	if norm(known, "ada@example.com") != norm(unknown, "nobody@example.com") {
		t.Errorf("pages differ:\n%s\n---\n%s", norm(known, "ada@example.com"), norm(unknown, "nobody@example.com"))
	}
}

// TestCSRF: every form post needs the token, and cross-site posts are refused.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential)
	b := e.browser()
	verifier, _ := pkce()
	p := b.get(e.oauth2Config(c).AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	good := p.formValues()
	good.Set("email", "ada@example.com")
	good.Set("password", testPassword)
	for name, mutate := range map[string]func(url.Values){
		"missing token": func(v url.Values) { v.Del("csrf_token") },
		"forged token":  func(v url.Values) { v.Set("csrf_token", "AAAA") },
		"other browser's token": func(v url.Values) {
			v.Set("csrf_token", e.browser().get(e.issuer+"/login").formValues().Get("csrf_token"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range good {
				f[k] = v
			}
			mutate(f)
			p := b.post(e.issuer+"/login", f)
			if p.status != http.StatusForbidden {
				t.Errorf("status %d, want 403", p.status)
			}
			if _, err := e.store.GetUserByEmail(context.Background(), "ada@example.com"); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("cross-site origin", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(good.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		if p := b.do(req); p.status != http.StatusForbidden {
			t.Errorf("status %d, want 403", p.status)
		}
	})
	// The consent and logout forms are protected the same way.
	consent := b.submitLogin(p, "ada@example.com", testPassword)
	cf := consent.formValues()
	if cf.Get("authRequestID") == "" {
		t.Fatalf("expected the consent page, got %d", consent.status)
	}
	cf.Set("decision", "allow")
	cf.Set("csrf_token", "forged")
	if p := b.post(e.issuer+"/consent", cf); p.status != http.StatusForbidden {
		t.Errorf("consent with forged token: %d, want 403", p.status)
	}
	if p := b.post(e.issuer+"/logout", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("logout without token: %d, want 403", p.status)
	}
	if p := b.get(e.issuer + "/account"); !strings.Contains(p.body, "ada@example.com") {
		t.Error("a logout post without a token signed the person out")
	}
}

// TestBadInputNeverCrashes: oversized bodies, odd methods and SQL metacharacters get clean
// errors and change no rows.
func TestBadInputNeverCrashes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	big := strings.Repeat("a", 2<<20)
	st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {big}}, c.ID, c.Secret)
	if st != http.StatusBadRequest && st != http.StatusRequestEntityTooLarge && st != http.StatusUnauthorized {
		t.Errorf("oversized token request: %d", st)
	}
	b := e.browser()
	form := b.get(e.issuer + "/login").formValues()
	form.Set("email", big)
	form.Set("password", "x")
	if p := b.post(e.issuer+"/login", form); p.status >= 500 && p.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized login: %d", p.status)
	}
	for _, evil := range []string{"' OR '1'='1", "ada@example.com'; DROP TABLE users; --", "\x00", "ada@example.com\" OR \"\"=\""} {
		f := b.get(e.issuer + "/login").formValues()
		f.Set("email", evil)
		f.Set("password", evil)
		p := b.post(e.issuer+"/login", f)
		if p.status != http.StatusOK || !strings.Contains(p.body, "incorrect") {
			t.Errorf("email %q: %d", evil, p.status)
		}
	}
	if _, err := e.store.GetUserByEmail(context.Background(), "ada@example.com"); err != nil {
		t.Errorf("user row changed: %v", err)
	}
	for _, path := range []string{"/login?authRequestID=%27%20OR%201=1", "/consent?authRequestID=x", "/authorize/callback?id=%00", "/nope", "/authorize?client_id=%ff"} {
		p := b.get(e.issuer + path)
		if p.status >= 500 {
			t.Errorf("GET %s: %d", path, p.status)
		}
		if strings.Contains(p.body, "goroutine") || strings.Contains(p.body, ".go:") {
			t.Errorf("GET %s leaks internals: %.200s", path, p.body)
		}
	}
}

// TestSecurityHeaders: every response carries the strict headers; cookies are HttpOnly+Lax.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientConfidential)
	verifier, _ := pkce()
	for _, path := range []string{"/login", "/account", "/logout", "/nope", "/.well-known/openid-configuration", "/keys",
		strings.TrimPrefix(e.oauth2Config(c).AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), e.issuer)} {
		resp, err := http.Get(e.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: missing nosniff/Referrer-Policy", path)
		}
		for _, ck := range resp.Cookies() {
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
				t.Errorf("%s: cookie %s HttpOnly=%v SameSite=%v", path, ck.Name, ck.HttpOnly, ck.SameSite)
			}
		}
	}
}
