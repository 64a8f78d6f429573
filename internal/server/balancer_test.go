package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx/softauthn"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// balanced is two instances of one deployment behind a load balancer without sticky
// sessions, as README's "Scale out" runs them: the issuer is the balancer's address, and it
// sends each request to the instance its pattern names next.
type balanced struct {
	// a and b are the instances (their addr is their own port, their issuer the balancer's).
	a, b *testEnv
	// front is a seen through the balancer: every request it (or a browser of it) makes
	// goes to the instance the pattern names.
	front *testEnv
	lb    *balancer
}

// balancer is a reverse proxy that sends request n to backends[pattern[n % len(pattern)]]:
// "ab" alternates, "aabb" sends pairs, so a state left by one request is looked for on the
// other instance by the next request, or by the one after.
type balancer struct {
	mu       sync.Mutex
	pattern  string
	n        int
	backends map[byte]*url.URL
	// served lists, per request, the instance and the path, for failure messages.
	served []string
}

func (l *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	to := l.pattern[l.n%len(l.pattern)]
	l.n++
	l.served = append(l.served, fmt.Sprintf("%c %s %s", to, r.Method, r.URL.Path))
	target := l.backends[to]
	l.mu.Unlock()
	p := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the issuer's, as a load balancer keeps it
	}}
	p.ServeHTTP(w, r)
}

// use sets the pattern and starts it from its beginning.
func (l *balancer) use(pattern string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pattern, l.n, l.served = pattern, 0, nil
}

// trail is the last requests and where they went.
func (l *balancer) trail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.served
	if len(s) > 30 {
		s = s[len(s)-30:]
	}
	return strings.Join(s, "\n")
}

// newBalanced starts two instances on dbURL behind a balancer (pattern "ab"). o's smtp,
// configure and localhost apply to both.
func newBalanced(t *testing.T, dbURL string, o envOptions) *balanced {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	if o.localhost {
		issuer = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	}
	env := map[string]string{"MYACCOUNT_DATABASE_URL": dbURL, "MYACCOUNT_MASTER_KEY": keys.NewMasterKey()}
	for k, v := range o.env {
		env[k] = v
	}
	configure := o.configure
	o.configure = func(c *config.Config) {
		c.Keys.CacheTTL = config.Duration(time.Second)
		if configure != nil {
			configure(c)
		}
	}
	o.env, o.issuer, o.localhost, o.listen = env, issuer, false, ""
	if o.clock == nil {
		o.clock = &clock{}
	}
	if o.tape == nil {
		o.tape = &randTape{}
	}
	var a, b *testEnv
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = newEnvWith(t, o) }()
	go func() { defer wg.Done(); b = newEnvWith(t, o) }()
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	lb := &balancer{pattern: "ab", backends: map[byte]*url.URL{}}
	for k, e := range map[byte]*testEnv{'a': a, 'b': b} {
		u, _ := url.Parse(e.addr)
		lb.backends[k] = u
	}
	hs := httptest.NewUnstartedServer(lb)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	front := *a
	front.addr = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last requests through the balancer:\n%s", lb.trail())
		}
	})
	return &balanced{a: a, b: b, front: &front, lb: lb}
}

// pinned is a browser whose every request goes to instance e, whatever the balancer does
// (the issuer's URLs, cookies and redirects as usual); with like, it holds like's cookies:
// the same browser, its next request sent to e.
func (c *balanced) pinned(e *testEnv, like ...*browser) *browser {
	br := c.front.browser()
	if len(like) > 0 {
		br.c.Jar = like[0].c.Jar
	}
	to, _ := url.Parse(e.addr)
	from, _ := url.Parse(e.issuer)
	br.c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == from.Host {
			r = r.Clone(r.Context())
			r.URL.Host = to.Host // Host stays the issuer's
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	return br
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// patterns runs f once for each way of spreading requests over the two instances.
func (c *balanced) patterns(t *testing.T, f func(t *testing.T, e *testEnv, run string)) {
	for _, p := range []string{"ab", "aabb"} {
		t.Run(p, func(t *testing.T) {
			c.lb.use(p)
			e := *c.front
			e.t = t
			f(t, &e, p)
			if tr := c.lb.trail(); !strings.Contains(tr, "a ") || !strings.Contains(tr, "b ") {
				t.Errorf("the balancer did not use both instances:\n%s", tr)
			}
		})
	}
}

// Through a balancer that never sends two consecutive requests (or pairs) to one instance:
// TOTP enrolment, sign-in with password and code in an authorization request, consent to a
// third-party client, the code exchange, userinfo, a refresh, and sign-out.
func TestBalancedSignInWithTOTPAndConsent(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{smtp: mailtest.NewServer(t)})
	c.a.clock.Advance(0) // a still clock: TOTP codes are computed for the server's time
	c.patterns(t, func(t *testing.T, e *testEnv, run string) {
		ctx := context.Background()
		email := "totp." + run + "@example.com"
		e.addUser(email)
		rp := e.addClient(storage.ClientConfidential)
		b := e.browser()
		p := e.passwordSignIn(b, email)
		mustAt(t, p, "/account", "Your account")
		p = b.get(e.issuer + "/account/security")
		key, p := e.enrolTOTP(b, p, "My phone")
		mustAt(t, p, "/account/security", "The authenticator app was added.")
		e.signOut(b)
		e.nextTOTPStep()

		p, state, verifier, nonce := e.authorize(b, rp)
		p = b.submitLogin(p, email, testPassword)
		p = b.mfaPost(p, "totp", e.totpNow(key), false)
		p = b.consent(p, "allow")
		res := redirectResult(t, p, rp.Redirect)
		if res.code == "" || res.state != state {
			t.Fatalf("redirect to the client: %+v", res)
		}
		cfg := e.oauth2Config(rp)
		tok, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		prov := e.provider(ctx)
		raw, _ := tok.Extra("id_token").(string)
		idt, err := prov.Verifier(&gooidc.Config{ClientID: rp.ID}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		var cl amrClaims
		_ = idt.Claims(&cl)
		if cl.Nonce != nonce {
			t.Errorf("nonce %q, want %q", cl.Nonce, nonce)
		}
		wantMFAClaims(t, cl, mfa.AMRPassword, mfa.AMROTP)
		for i := range 3 {
			if _, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
				t.Fatalf("userinfo %d: %v", i, err)
			}
		}
		// Refresh twice in a row: each lands on another instance than the one before.
		for i := range 2 {
			next, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh %d: %v", i, err)
			}
			if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
				t.Fatalf("refresh %d: not rotated", i)
			}
			tok = next
		}
		// A second authorization needs neither sign-in nor consent.
		p, state, _, _ = e.authorize(b, rp)
		if res := redirectResult(t, p, rp.Redirect); res.code == "" || res.state != state {
			t.Fatalf("second authorization: %+v", res)
		}
		e.signOut(b)
		if p := b.get(e.issuer + "/account"); strings.Contains(p.body, email) {
			t.Error("still signed in after sign-out")
		}
	})
}

// Through the balancer: registration with its captcha (drawn by one instance, answered to the
// other), activation, the profile, the emailed code for a new browser, a password reset and
// an email change by their mailed links, and a password change.
func TestBalancedAccountFlows(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{smtp: mailtest.NewServer(t), configure: func(c *config.Config) {
		c.MFA.EmailCodeForNewBrowsers = true
	}})
	c.a.clock.Advance(0)
	c.patterns(t, func(t *testing.T, e *testEnv, run string) {
		ctx := context.Background()
		email := "new." + run + "@example.com"
		const pw = "a fine long passphrase"
		b := e.browser()
		p := e.register(b, b.get(e.issuer+"/register"), email, pw, pw)
		if p.status != http.StatusOK || !strings.Contains(p.body, email) {
			t.Fatalf("registration: %d at %s\n%.800s", p.status, p.url, p.body)
		}
		link, _ := e.mailLink(email, "/activate?token=")
		p = b.confirmLink(link)
		if p.url.Path != "/login" || !strings.Contains(p.body, "Your email address is confirmed") {
			t.Fatalf("activation: %d at %s\n%.800s", p.status, p.url, p.body)
		}
		p = b.submitLogin(b.get(e.issuer+"/login"), email, pw)
		mustEmailCodeStep(t, p, email) // every browser is new to a new account
		p = b.mfaPost(p, "email_code", e.signInCode(email), false)
		if p.url.Path != "/profile" {
			t.Fatalf("first sign-in: %d at %s\n%.800s", p.status, p.url, p.body)
		}
		if p = e.completeProfile(b, p, "DE"); p.url.Path != "/account" {
			t.Fatalf("profile: %d at %s\n%.800s", p.status, p.url, p.body)
		}

		// A new browser gets a code by mail.
		b2 := e.browser()
		p = b2.submitLogin(b2.get(e.issuer+"/login"), email, pw)
		mustEmailCodeStep(t, p, email)
		p = b2.mfaPost(p, "email_code", e.signInCode(email), true)
		mustAt(t, p, "/account", "Your account")

		// Forgot password, reset by the link.
		b3 := e.browser()
		f := b3.get(e.issuer + "/forgot").formValues()
		f.Set("email", email)
		b3.post(e.issuer+"/forgot", f)
		link, _ = e.mailLink(email, "/reset?token=")
		f = b3.get(link).formValues()
		const pw2 = "a brand new passphrase"
		f.Set("password", pw2)
		f.Set("confirm", pw2)
		if p := b3.post(e.issuer+"/reset", f); p.status != http.StatusOK || !strings.Contains(p.body, "sign in with the new one") {
			t.Fatalf("reset: %d %.500s", p.status, p.body)
		}
		e.smtp.WaitFor(t, email, mailWait) // password-changed notice
		p = b2.submitLogin(b2.get(e.issuer+"/login"), email, pw2)
		mustAt(t, p, "/account", "Your account")

		// Email change, confirmed by the link sent to the new address.
		csrf := p.formValues().Get("csrf_token")
		newEmail := "changed." + run + "@example.com"
		p = b2.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {pw2}, "email": {newEmail}})
		if p.url.RequestURI() != "/account?done=email" {
			t.Fatalf("change email: %d %s %.300s", p.status, p.url, p.body)
		}
		link, _ = e.mailLink(newEmail, "/account/email/confirm?token=")
		b2.confirmLink(link)
		if _, err := e.store.GetUserByEmail(ctx, newEmail); err != nil {
			t.Fatalf("email not changed after the confirmation: %v", err)
		}
		// Password change from the dashboard.
		p = b2.get(e.issuer + "/account")
		csrf = p.formValues().Get("csrf_token")
		const pw3 = "a third long passphrase"
		p = b2.post(e.issuer+"/account/password", url.Values{"csrf_token": {csrf}, "current": {pw2}, "password": {pw3}, "confirm": {pw3}})
		if p.url.RequestURI() != "/account?done=password" {
			t.Fatalf("change password: %d %s %.300s", p.status, p.url, p.body)
		}
	})
}

// Through the balancer: a passkey registered on the security page (ceremony begun on one
// instance, finished on the other), then used as the second step after the password, and
// alone (a discoverable sign-in whose challenge travels in a sealed cookie).
func TestBalancedPasskeys(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{smtp: mailtest.NewServer(t), localhost: true})
	c.patterns(t, func(t *testing.T, e *testEnv, run string) {
		email := "key." + run + "@example.com"
		e.addUser(email)
		side := softauthn.Client{Origin: e.issuer, RPID: "localhost"}
		k := softauthn.New(t)
		b := e.browser()
		e.passwordSignIn(b, email)
		p := b.get(e.issuer + "/account/security")
		csrf := csrfOf(t, p)
		st, begin := b.postJSON(e.issuer+"/account/security/webauthn/begin", csrf, nil)
		if st != http.StatusOK {
			t.Fatalf("registration begin: %d %s", st, begin)
		}
		st, fin := b.postJSON(e.issuer+"/account/security/webauthn/finish", csrf, map[string]any{
			"handle": jsonString(t, begin, "handle"), "name": "Key", "credential": json.RawMessage(k.Create(t, begin["options"], side)),
		})
		if st != http.StatusOK {
			t.Fatalf("registration finish: %d %s", st, fin)
		}
		mustAt(t, b.get(e.issuer+jsonString(t, fin, "redirect")), "/account/security", "The security key or passkey was added.")

		// Password, then the key.
		b2 := e.browser()
		p = e.passwordSignIn(b2, email)
		st, res := e.keySignIn(b2, p, k, side)
		if st != http.StatusOK {
			t.Fatalf("key after the password: %d %s", st, res)
		}
		mustAt(t, b2.get(e.issuer+jsonString(t, res, "redirect")), "/account", "Your account")

		// The passkey alone.
		b3 := e.browser()
		p = b3.get(e.issuer + "/login")
		csrf = csrfOf(t, p)
		st, begin = b3.postJSON(e.issuer+"/passkey/begin", csrf, nil)
		if st != http.StatusOK {
			t.Fatalf("passkey begin: %d %s", st, begin)
		}
		st, res = b3.postJSON(e.issuer+"/passkey/finish", csrf, map[string]any{"credential": json.RawMessage(k.Get(t, begin["options"], side))})
		if st != http.StatusOK {
			t.Fatalf("passkey finish: %d %s", st, res)
		}
		mustAt(t, b3.get(e.issuer+jsonString(t, res, "redirect")), "/account", "Your account")
	})
}

// Through the balancer: a device asks for codes, the person enters the code and approves in
// a browser, the device polls; and a pushed authorization request completes a sign-in.
func TestBalancedDeviceAndPAR(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{})
	c.a.clock.Advance(0)
	c.patterns(t, func(t *testing.T, e *testEnv, run string) {
		ctx := context.Background()
		email := "dev." + run + "@example.com"
		e.addUser(email)
		dc := e.deviceClient(storage.ClientNative)
		da := e.authorizeDevice(dc, "openid offline_access", nil)
		e.wantPollError(dc, da.DeviceCode, "authorization_pending")
		b := e.signedInBrowser(email)
		if p := e.decideDevice(b, da.UserCode, "approve"); !strings.Contains(p.body, "You can return to your device") {
			t.Fatalf("approval: %d at %s\n%.800s", p.status, p.url, p.body)
		}
		e.clock.Advance(time.Duration(da.Interval+1) * time.Second)
		if st, m := e.pollDevice(dc, da.DeviceCode); st != http.StatusOK || m["access_token"] == nil {
			t.Fatalf("poll after approval: %d %v", st, m)
		}

		rp := e.addClient(storage.ClientConfidential, firstParty)
		f, verifier, state := parForm(rp)
		st, pushed, body := e.push(f, rp.ID, rp.Secret)
		if st != http.StatusCreated {
			t.Fatalf("push: %d %s", st, body)
		}
		p := b.get(e.issuer + "/authorize?" + url.Values{"client_id": {rp.ID}, "request_uri": {pushed.RequestURI}}.Encode())
		res := redirectResult(t, p, rp.Redirect)
		if res.code == "" || res.state != state {
			t.Fatalf("authorization by request_uri: %+v", res)
		}
		if _, err := e.oauth2Config(rp).Exchange(ctx, res.code, oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange: %v", err)
		}
	})
}

// Through the balancer: a DPoP-bound code flow (the nonce from one instance, the proof to the
// other, a proof replayed on the other refused), RP-initiated logout with the ID token, and
// "sign out other browsers" seen by the other instance at once.
func TestBalancedDPoPAndSignOut(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{})
	c.patterns(t, func(t *testing.T, e *testEnv, run string) {
		email := "dpop." + run + "@example.com"
		e.addUser(email)
		pub := e.addClient(storage.ClientPublic, firstParty)
		k := newDPoPKey(t)
		tr := &dpopTransport{t: t, key: k}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr})
		b := e.browser()
		res, verifier := e.signIn(b, pub, email)
		tok, err := e.oauth2Config(pub).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		if err != nil || tok.TokenType != "DPoP" {
			t.Fatalf("DPoP exchange: %v (token_type %q)", err, tok.TokenType)
		}
		for i := range 3 {
			next, err := e.oauth2Config(pub).TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("DPoP refresh %d: %v", i, err)
			}
			tok = next
		}
		at := tok.AccessToken
		proof := k.proof(t, "GET", e.issuer+"/userinfo", "", at)
		if st, _, body := c.a.userinfo("DPoP", at, proof); st != http.StatusOK {
			t.Fatalf("userinfo on A: %d %s", st, body)
		}
		if st, _, _ := c.b.userinfo("DPoP", at, proof); st != http.StatusUnauthorized {
			t.Errorf("a proof used on A replayed on B: %d, want 401", st)
		}

		// Two browsers; one signs the others out.
		conf := e.addClient(storage.ClientConfidential, firstParty)
		b1, b2 := e.browser(), e.browser()
		e.tokens(context.Background(), b1, conf, email)
		e.passwordSignIn(b2, email)
		p := b2.get(e.issuer + "/account/devices")
		if p := b2.post(e.issuer+"/account/signout-others", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}}); p.status >= 400 {
			t.Fatalf("sign out others: %d %.400s", p.status, p.body)
		}
		for range 2 {
			if p := b1.get(e.issuer + "/account"); strings.Contains(p.body, email) {
				t.Fatal("a browser signed out by another is still signed in")
			}
		}

		// RP-initiated logout with the ID token.
		tok2 := e.tokens(context.Background(), b2, conf, email)
		idt, _ := tok2.Extra("id_token").(string)
		p = b2.get(e.issuer + "/end_session?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {conf.c.PostLogoutRedirectURIs[0]}, "state": {"bye"}}.Encode())
		if loc := p.header.Get("Location"); !strings.HasPrefix(loc, conf.c.PostLogoutRedirectURIs[0]) {
			t.Fatalf("end_session: %d, Location %q\n%.600s", p.status, loc, p.body)
		}
		for range 2 {
			if p := b2.get(e.issuer + "/account"); strings.Contains(p.body, email) {
				t.Fatal("still signed in after end_session")
			}
		}
	})
}

// Through the balancer: a phone number confirmed by SMS, the SMS code of a sign-in in a new
// browser, and a password reset by SMS code.
func TestBalancedSMS(t *testing.T) {
	t.Parallel()
	g := smstest.New(t, []byte(hookSecret), twilioSID, twilioToken)
	c := newBalanced(t, pgtest.URL(t), envOptions{env: map[string]string{"MYACCOUNT_SMS_ALLOWED_COUNTRIES": "DE,GB",
		"MYACCOUNT_SMS_SENDER": "webhook", "MYACCOUNT_SMS_WEBHOOK_URL": g.URL + "/hook", "MYACCOUNT_SMS_WEBHOOK_SECRET": hookSecret,
		"MYACCOUNT_MFA_SMS": "fallback"}, configure: func(c *config.Config) { c.Accounts.ResetBySMS = true }})
	c.patterns(t, func(t *testing.T, e *testEnv, run string) {
		email := "sms." + run + "@example.com"
		number := map[string]string{"ab": "0151 23456789", "aabb": "0151 98765432"}[run]
		e.germanUser(email)
		e.confirmPhone(e.signedInBrowser(email), g, "DE", number)

		b := e.browser()
		p := b.submitLogin(b.get(e.issuer+"/login"), email, testPassword)
		if p.url.Path != "/mfa" || !strings.Contains(p.body, `value="sms_code"`) {
			t.Fatalf("after the password: %d at %s\n%.1000s", p.status, p.url, p.body)
		}
		_, code := smstest.Code(t, g.Wait(t))
		f := p.formValues()
		f.Set("method", "sms_code")
		f.Set("code", code)
		mustAt(t, b.post(e.issuer+"/mfa", f), "/account", "Your account")

		b2 := e.browser()
		f = b2.get(e.issuer + "/forgot/sms").formValues()
		f.Set("country", "DE")
		f.Set("number", number)
		p = b2.post(e.issuer+"/forgot/sms", f)
		_, code = smstest.Code(t, g.Wait(t))
		f = p.formValues()
		f.Set("code", code)
		p = b2.post(e.issuer+"/forgot/sms/code", f)
		if p.status != http.StatusOK || p.url.Path != "/reset" {
			t.Fatalf("after the reset code: %d at %s\n%.800s", p.status, p.url, p.body)
		}
		f = p.formValues()
		f.Set("password", "a brand new passphrase 42")
		f.Set("confirm", "a brand new passphrase 42")
		if p = b2.post(e.issuer+"/reset", f); p.status != http.StatusOK || !strings.Contains(p.body, "Your password was changed.") {
			t.Fatalf("reset: %d\n%.800s", p.status, p.body)
		}
	})
}

// Through the balancer: the console (its MFA step-up, CSRF and ETags across instances); a
// client secret rotated there works at once on both instances and the old one stops within
// the client cache's second; a lock ends the person's session on both at once; keys rotated
// there sign tokens that verify through the balancer's JWKS once the key cache has turned.
func TestBalancedConsole(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{smtp: mailtest.NewServer(t)})
	c.a.clock.Advance(0)
	c.patterns(t, func(t *testing.T, e *testEnv, run string) {
		ctx := context.Background()
		adm, _, _ := e.consoleStaff("admin."+run+"@example.com", storage.RoleAdmin)
		cl := e.addClient(storage.ClientConfidential, firstParty, withGrants("client_credentials", "authorization_code", "refresh_token"))
		for _, in := range []*testEnv{c.a, c.b} {
			if st, _, body := in.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, cl.ID, cl.Secret); st != http.StatusOK {
				t.Fatalf("before the rotation: %d %s", st, body)
			}
		}
		p := adm.get(e.issuer + "/admin/clients/" + cl.ID)
		p = adm.post(e.issuer+"/admin/clients/"+cl.ID+"/rotate", formAt(t, p, "/admin/clients/"+cl.ID+"/rotate"))
		m := regexp.MustCompile(`id="client-secret" class="secret">([^<]+)<`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no new secret:\n%.2000s", p.body)
		}
		for _, in := range []*testEnv{c.a, c.b} {
			if st, _, body := in.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, cl.ID, m[1]); st != http.StatusOK {
				t.Errorf("the new secret on %s: %d %s", in.addr, st, body)
			}
		}
		time.Sleep(1100 * time.Millisecond) // the client cache's bound (README, "Scale out")
		for _, in := range []*testEnv{c.a, c.b} {
			if st, _, body := in.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, cl.ID, cl.Secret); st == http.StatusOK {
				t.Errorf("the old secret on %s a second after the rotation: %d %s", in.addr, st, body)
			}
		}
		cl.Secret = m[1]

		// A lock ends the person's sessions everywhere.
		email := "person." + run + "@example.com"
		person := e.addUser(email)
		pb := e.signedInBrowser(email)
		p = adm.get(e.issuer + "/admin/users/" + person.ID)
		f := formAt(t, p, "/admin/users/"+person.ID+"/lock")
		f.Set("reason", "fraud report")
		mustAt(t, adm.post(e.issuer+"/admin/users/"+person.ID+"/lock", f), "/admin/users/"+person.ID, "The account was locked")
		for range 2 {
			if p := pb.get(e.issuer + "/account"); p.url.Path != "/login" {
				t.Fatalf("a locked person's browser: %d at %s", p.status, p.url)
			}
		}

		// Keys rotated in the console.
		p = adm.get(e.issuer + "/admin/keys")
		kf := formAt(t, p, "/admin/keys/rotate")
		kf.Set("reason", "test")
		mustAt(t, adm.post(e.issuer+"/admin/keys/rotate", kf), "/admin/keys", "New signing keys are in use.")
		e.clock.Advance(2 * time.Second) // past keys.cache_ttl (1 s here)
		other := "other." + run + "@example.com"
		e.addUser(other)
		for range 2 {
			tok := e.tokens(ctx, e.browser(), cl, other)
			raw, _ := tok.Extra("id_token").(string)
			if _, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: cl.ID}).Verify(ctx, raw); err != nil {
				t.Fatalf("ID token after the rotation: %v", err)
			}
		}
	})
}

// Replay and retry rules hold across instances: a client assertion used on A is a replay on
// B; a refresh retried on B within the grace after its rotation on A gets tokens (the lost
// response case), and the successor A issued is then retired; past the grace the family
// is revoked.
func TestBalancedReplayAndRefreshGrace(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{})
	a, b := c.a, c.b
	a.clock.Advance(0)
	key := newAssertionKey(t, "k1")
	pk := a.privateKeyJWTClient(jwksJSON(t, key), "", "client_credentials")
	f := withForm(assertionForm(key.assertion(t, pk.ID, a.issuer, nil)), "grant_type", "client_credentials", "client_id", pk.ID)
	if st, _, body := a.postForm("/oauth/token", f, "", ""); st != http.StatusOK {
		t.Fatalf("assertion on A: %d %s", st, body)
	}
	if st, _, body := b.postForm("/oauth/token", f, "", ""); st != http.StatusUnauthorized && st != http.StatusBadRequest {
		t.Errorf("assertion used on A replayed on B: %d %s", st, body)
	}

	a.addUser("ada@example.com")
	cl := a.addClient(storage.ClientConfidential, firstParty)
	tok := c.front.tokens(context.Background(), c.front.browser(), cl, "ada@example.com")
	first := a.refreshWith(cl, tok.RefreshToken) // its answer is lost on the way
	if !first.ok() {
		t.Fatalf("refresh on A: %d %q", first.status, first.err)
	}
	a.clock.Advance(5 * time.Second)
	retry := b.refreshWith(cl, tok.RefreshToken)
	if !retry.ok() {
		t.Fatalf("retry on B within the grace: %d %q", retry.status, retry.err)
	}
	if a.introspectActive(cl, first.refresh) {
		t.Error("the successor A issued is still active after B's retry: two live chains")
	}
	next := a.refreshWith(cl, retry.refresh)
	if !next.ok() {
		t.Fatalf("B's successor on A: %d %q", next.status, next.err)
	}
	a.clock.Advance(a.cfg.Tokens.RefreshReuseInterval.Std() + time.Minute)
	if got := b.refreshWith(cl, retry.refresh); got.ok() {
		t.Fatal("reuse past the grace on B got tokens")
	}
	if b.introspectActive(cl, next.refresh) || a.introspectActive(cl, next.refresh) {
		t.Error("the family survived a reuse past the grace")
	}
}

// What is good once is good once across instances: a TOTP code used on A is a replay on B,
// wrong codes on A and B count together, a captcha answered on A cannot be answered again on
// B, a reset link used on A is dead on B, a code redeemed on A is a replay on B.
func TestBalancedSingleUse(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{smtp: mailtest.NewServer(t)})
	a, b := c.a, c.b
	a.clock.Advance(0)
	const email = "once@example.com"
	a.addUser(email)
	on := func(e *testEnv, like ...*browser) *browser { return c.pinned(e, like...) }
	signIn := func(e *testEnv) (*browser, *page) {
		br := on(e)
		return br, br.submitLogin(br.get(e.issuer+"/login"), email, testPassword)
	}
	ba, _ := signIn(a)
	key, _ := a.enrolTOTP(ba, ba.get(a.issuer+"/account/security"), "")
	a.nextTOTPStep()
	code := a.totpNow(key)
	ba, p := signIn(a)
	mustAt(t, ba.mfaPost(p, "totp", code, false), "/account", "Your account")
	bb, p := signIn(b)
	mustAt(t, bb.mfaPost(p, "totp", code, false), "/mfa", "This code was already used")

	a.nextTOTPStep()
	wrong := otherCode(t, a.totpNow(key))
	ba, pa := signIn(a)
	bb, pb := signIn(b)
	for i := range 5 {
		if i%2 == 0 {
			pa = ba.mfaPost(pa, "totp", wrong, false)
		} else {
			pb = bb.mfaPost(pb, "totp", wrong, false)
		}
	}
	if p := bb.mfaPost(pb, "totp", a.totpNow(key), false); p.status != http.StatusTooManyRequests {
		t.Errorf("the sixth code, after five wrong ones on A and B: %d at %s, want 429", p.status, p.url)
	}
	a.clock.Advance(16 * time.Minute)

	// A captcha drawn and answered on A, its form posted again on B.
	br := on(a)
	f := br.get(a.issuer + "/register").formValues()
	f.Set("email", "cap@example.com")
	f.Set("password", "a fine long passphrase")
	f.Set("confirm", "a fine long passphrase")
	f.Set("captcha", a.tape.answer(t))
	f.Set("action", "create")
	if p := br.post(a.issuer+"/register", f); strings.Contains(p.body, "captcha-error") {
		t.Fatalf("first use refused: %.300s", p.body)
	}
	f.Set("email", "cap2@example.com")
	if p := on(b, br).post(b.issuer+"/register", f); !strings.Contains(p.body, `id="captcha-error"`) {
		t.Error("a captcha used on A was accepted on B")
	}
	a.tape.answer(t)

	// A reset link used on A, again on B.
	a.addUser("reset@example.com")
	bf := on(a)
	ff := bf.get(a.issuer + "/forgot").formValues()
	ff.Set("email", "reset@example.com")
	bf.post(a.issuer+"/forgot", ff)
	link, _ := a.mailLink("reset@example.com", "/reset?token=")
	rf := bf.get(link).formValues()
	rf.Set("password", "a brand new passphrase")
	rf.Set("confirm", "a brand new passphrase")
	if p := bf.post(a.issuer+"/reset", rf); p.status != http.StatusOK {
		t.Fatalf("reset on A: %d %.300s", p.status, p.body)
	}
	rf.Set("password", "an attacker's passphrase")
	rf.Set("confirm", "an attacker's passphrase")
	if p := on(b, bf).post(b.issuer+"/reset", rf); !strings.Contains(p.body, "already changed with this link") {
		t.Errorf("a reset link used on A, on B: %d %.300s", p.status, p.body)
	}
}

// Through the balancer, flows that leave an authorization request and come back to it: a
// product that requires two-step verification sends the person to set one up first, and a
// person who registers from a product's sign-in page is signed in to it after activation.
func TestBalancedFlowsThatReturnToTheProduct(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{smtp: mailtest.NewServer(t)})
	c.a.clock.Advance(0)
	c.patterns(t, func(t *testing.T, e *testEnv, run string) {
		ctx := context.Background()
		email := "strict." + run + "@example.com"
		e.addUser(email)
		strict := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.RequireMFA = true })
		b := e.browser()
		p, state, verifier, nonce := e.authorize(b, strict)
		p = b.submitLogin(p, email, testPassword)
		mustAt(t, p, "/account/security", "requires two-step verification")
		_, p = e.enrolTOTP(b, p, "")
		next := codesNextRE.FindStringSubmatch(p.body)
		if next == nil {
			t.Fatalf("no way on to the product after the recovery codes:\n%.3000s", p.body)
		}
		p = b.get(e.issuer + html.UnescapeString(next[1]))
		wantMFAClaims(t, e.idTokenAt(p, strict, state, verifier, nonce), mfa.AMRPassword, mfa.AMROTP)

		app := e.addClient(storage.ClientConfidential, firstParty)
		b = e.browser()
		verifier, _ = pkce()
		cfg := e.oauth2Config(app, gooidc.ScopeOpenID, "email")
		p = b.get(cfg.AuthCodeURL("st8", oauth2.S256ChallengeOption(verifier)))
		reg := regexp.MustCompile(`href="(/register\?authRequestID=[^"]+)"`).FindStringSubmatch(p.body)
		if reg == nil {
			t.Fatalf("no registration link carrying the request:\n%.600s", p.body)
		}
		newEmail := "joined." + run + "@example.com"
		e.register(b, b.get(e.issuer+strings.ReplaceAll(reg[1], "&amp;", "&")), newEmail, "another long passphrase", "another long passphrase")
		link, _ := e.mailLink(newEmail, "/activate?token=")
		p = b.confirmLink(link)
		p = e.completeProfile(b, b.submitLogin(p, newEmail, "another long passphrase"), "FR")
		res := redirectResult(t, p, app.Redirect)
		if res.code == "" || res.state != "st8" {
			t.Fatalf("no code after registration: %+v", res)
		}
		if _, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier)); err != nil {
			t.Fatal(err)
		}
	})
}

// A client deleted through one instance stops working on the other within the client
// cache's second (README, "Scale out"), and is then refused as a client, not as a failure.
func TestClusterDeletedClientStopsWithinTheCacheBound(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{})
	a, b := c.a, c.b
	cl := a.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	ccToken(t, b, cl) // B holds the client in its cache, read no later than now
	cached := time.Now()
	if err := a.srv.Store.DeleteClient(context.Background(), cl.ID); err != nil {
		t.Fatal(err)
	}
	for {
		sent := time.Now()
		st, _, body := b.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, cl.ID, cl.Secret)
		if st != http.StatusOK {
			if st != http.StatusUnauthorized {
				t.Errorf("a deleted client's token request on B: %d %s, want 401", st, body)
			}
			break
		}
		if sent.Sub(cached) > 1100*time.Millisecond {
			t.Fatalf("a client deleted on A got tokens on B %s after B had read it", sent.Sub(cached))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// preflight asks instance e whether origin may POST to path cross-origin, and returns the
// origin it allows ("" for none).
func preflight(t *testing.T, e *testEnv, path, origin string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, e.addr+path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Access-Control-Allow-Origin")
}

// A browser app registered through one instance (RFC 7591) exchanges its first code from the
// browser moments later, through any instance: its origin is allowed within the client
// cache's second everywhere, although both instances were already answering other apps'
// cross-origin calls from their set of origins.
func TestClusterNewBrowserAppCORS(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{configure: registrationEnabled})
	a, b := c.a, c.b
	a.addClient(storage.ClientPublic, func(c *storage.Client) { c.RedirectURIs = []string{"https://old.example/cb"} })
	for _, e := range []*testEnv{a, b} {
		if got := preflight(t, e, "/oauth/token", "https://old.example"); got != "https://old.example" {
			t.Fatalf("the existing app's origin on %s: %q", e.addr, got)
		}
		if got := preflight(t, e, "/oauth/token", "https://new.example"); got != "" {
			t.Fatalf("an unregistered origin allowed on %s", e.addr)
		}
	}
	st, _, reg := a.registerReq(http.MethodPost, a.addr+"/connect/register", a.initialToken(1), map[string]any{
		"client_name": "New SPA", "redirect_uris": []string{"https://new.example/cb"}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code"}, "scope": "openid"})
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, reg)
	}
	time.Sleep(1100 * time.Millisecond)
	for _, e := range []*testEnv{a, b} {
		for _, path := range []string{"/oauth/token", "/userinfo"} {
			if got := preflight(t, e, path, "https://new.example"); got != "https://new.example" {
				t.Errorf("a second after its registration, the new app's preflight to %s on %s: allow-origin %q", path, e.addr, got)
			}
		}
	}
}

// A forced rotation on A (the CLI's, the admin API's, the console's) signs with the new key
// at once there. B, whose copy of the keys is not yet due for reloading (keys.cache_ttl),
// must still take A's new tokens as what they are: live at introspection and userinfo, a
// valid id_token_hint at end_session; and then publish the key in its JWKS too.
func TestClusterForcedRotationVerifiedEverywhere(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{configure: func(c *config.Config) {
		c.Keys.CacheTTL = config.Duration(keys.DefaultCacheTTL)
	}})
	a, b := c.a, c.b
	ctx := context.Background()
	a.clock.Advance(0) // B's copy of the keys, loaded at its start, stays fresh for 30 s
	a.addUser("ada@example.com")
	cl := a.addClient(storage.ClientConfidential, firstParty, withGrants("client_credentials", "authorization_code", "refresh_token"))
	if !b.introspectActive(cl, ccToken(t, a, cl)) {
		t.Fatal("a token of A's inactive on B before the rotation")
	}
	before := jwksKids(t, b.addr)
	if _, err := a.srv.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(2 * time.Second)

	cc := ccToken(t, a, cl)
	if kid := jwtHeader(t, cc)["kid"]; slices.Contains(before, kid.(string)) {
		t.Fatalf("A signs with %v, a key from before the rotation", kid)
	}
	if !b.introspectActive(cl, cc) {
		t.Error("a machine token A signed with its new key is inactive on B")
	}
	browserA := c.pinned(a)
	onA := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: browserA.c.Transport})
	tok := a.tokens(onA, browserA, cl, "ada@example.com")
	if kid := jwtHeader(t, tok.AccessToken)["kid"]; slices.Contains(before, kid.(string)) {
		t.Fatalf("A signs with %v, a key from before the rotation", kid)
	}
	if !b.userTokenLive(cl, tok.AccessToken) {
		t.Error("a person's token A signed with its new key is not live on B")
	}
	idt, _ := tok.Extra("id_token").(string)
	p := c.pinned(b, browserA).get(b.issuer + "/end_session?" + url.Values{"id_token_hint": {idt},
		"post_logout_redirect_uri": {cl.c.PostLogoutRedirectURIs[0]}}.Encode())
	if loc := p.header.Get("Location"); !strings.HasPrefix(loc, cl.c.PostLogoutRedirectURIs[0]) {
		t.Errorf("end_session on B with A's new ID token: %d, Location %q\n%.400s", p.status, loc, p.body)
	}
	if after := jwksKids(t, b.addr); !slices.Contains(after, jwtHeader(t, cc)["kid"].(string)) {
		t.Errorf("B's JWKS lacks the key it verified A's tokens with: %v", after)
	}
}

// After a forced rotation on A, a relying party verifying A's new ID token may fetch the JWKS
// from B (go-oidc fetches again on an unknown kid, and the balancer picks the instance): B
// must publish the new key within a second, not keys.cache_ttl.
func TestClusterForcedRotationPublishedEverywhere(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{configure: func(c *config.Config) {
		c.Keys.CacheTTL = config.Duration(keys.DefaultCacheTTL)
	}})
	a, b := c.a, c.b
	ctx := context.Background()
	a.clock.Advance(0)
	a.addUser("ada@example.com")
	cl := a.addClient(storage.ClientConfidential, firstParty)
	jwksKids(t, b.addr) // B has served the JWKS from its copy of the keys
	if _, err := a.srv.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(2 * time.Second)
	browserA := c.pinned(a)
	onA := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: browserA.c.Transport})
	tok := a.tokens(onA, browserA, cl, "ada@example.com")
	idt, _ := tok.Extra("id_token").(string)
	ks := gooidc.NewRemoteKeySet(ctx, b.addr+"/keys")
	v := gooidc.NewVerifier(a.issuer, ks, &gooidc.Config{ClientID: cl.ID})
	if _, err := v.Verify(ctx, idt); err != nil {
		t.Errorf("A's new ID token against B's JWKS two seconds after the rotation: %v", err)
	}
}

// A forced rotation on A in the second after B last read the keys (B serves the JWKS from
// keys at most a second old, so under any JWKS traffic its copy is always that young; a
// token with a made-up kid makes it so too): A's new tokens must still verify on B from the
// first one, as README promises, not be inactive until B's copy is a second old.
func TestClusterForcedRotationJustAfterBReadTheKeys(t *testing.T) {
	t.Parallel()
	c := newBalanced(t, pgtest.URL(t), envOptions{configure: func(c *config.Config) {
		c.Keys.CacheTTL = config.Duration(keys.DefaultCacheTTL)
	}})
	a, b := c.a, c.b
	ctx := context.Background()
	a.clock.Advance(0)
	cl := a.addClient(storage.ClientConfidential, firstParty, withGrants("client_credentials"))
	if !b.introspectActive(cl, ccToken(t, a, cl)) {
		t.Fatal("a token of A's inactive on B before the rotation")
	}
	a.clock.Advance(2 * time.Second)
	before := jwksKids(t, b.addr) // a relying party fetches B's JWKS: B reads the keys
	if _, err := a.srv.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(100 * time.Millisecond)
	cc := ccToken(t, a, cl)
	if kid := jwtHeader(t, cc)["kid"]; slices.Contains(before, kid.(string)) {
		t.Fatalf("A signs with %v, a key from before the rotation", kid)
	}
	if !b.introspectActive(cl, cc) {
		t.Error("a machine token A signed with its new key, 100 ms after B served its JWKS, is inactive on B")
	}
}
