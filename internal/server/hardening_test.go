package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// Attack tests for the hardening issue: each fails on the code before the fix.

// noFollow is a browser that reports redirects instead of following them.
func (e *testEnv) noFollow() *browser {
	b := e.browser()
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return b
}

// TestHardeningReturnPathsStayOnSite (1): return paths with control characters, backslashes
// or a second slash hidden behind encoding never leave the site.
func TestHardeningReturnPathsStayOnSite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	evil := []string{"/\t/evil.example/", "/\n/evil.example", "/ /evil.example", "/\\evil.example", "//evil.example",
		"/%2F/evil.example", "/%5Cevil.example", "/./\t/evil.example", "https://evil.example", "/\u00a0/evil.example", "/\x00/x"}
	for _, ret := range evil {
		b := e.noFollow()
		p := b.get(e.issuer + "/lang?to=en&back=" + url.QueryEscape(ret))
		if loc := p.header.Get("Location"); loc != "/account" {
			t.Errorf("/lang back=%q: Location %q, want /account", ret, loc)
		}
		f := b.get(e.issuer + "/login").formValues()
		f.Set("return", ret)
		f.Set("email", "ada@example.com")
		f.Set("password", testPassword)
		if loc := b.post(e.issuer+"/login", f).header.Get("Location"); loc != "/account" {
			t.Errorf("/login return=%q: Location %q, want /account", ret, loc)
		}
	}
	if loc := e.noFollow().get(e.issuer + "/lang?to=de&back=" + url.QueryEscape("/account/security?x=1")).header.Get("Location"); loc != "/account/security?x=1" {
		t.Errorf("a local path was not kept: %q", loc)
	}
}

// TestHardeningRepeatedParameters (2): a repeated parameter is refused, so our checks and
// the library read the same values.
func TestHardeningRepeatedParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientNative, firstParty, withGrants("authorization_code", "refresh_token", grantDevice))
	_, challenge := pkce()
	base := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "scope": {"openid"}, "state": {"st"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "redirect_uri": {"http://127.0.0.1:5555/callback"}}

	// Two redirect URIs: neither is trusted, the person sees our page, no code goes anywhere.
	q := url.Values{}
	for k, v := range base {
		q[k] = append([]string(nil), v...)
	}
	q.Add("redirect_uri", "http://localhost:5555/callback")
	b := e.signedInBrowser("ada@example.com")
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := b.get(e.issuer + "/authorize?" + q.Encode())
	if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
		t.Errorf("two redirect_uri: %d Location %q, want 400 and no redirect", p.status, p.header.Get("Location"))
	}
	// A repeated code_challenge_method cannot sneak plain past the S256 check.
	q = url.Values{}
	for k, v := range base {
		q[k] = append([]string(nil), v...)
	}
	q.Add("code_challenge_method", "plain")
	res := redirectResult(t, b.get(e.issuer+"/authorize?"+q.Encode()), "http://127.0.0.1:5555/callback")
	if res.err != "invalid_request" || res.code != "" {
		t.Errorf("two code_challenge_method: error %q code %q, want invalid_request", res.err, res.code)
	}
	// Token and device endpoints.
	for path, form := range map[string]url.Values{
		"/oauth/token":          {"grant_type": {"refresh_token", "refresh_token"}, "refresh_token": {"x"}, "client_id": {c.ID}},
		"/device_authorization": {"scope": {"openid", "email"}, "client_id": {c.ID}},
	} {
		st, _, body := e.postForm(path, form, "", "")
		if st != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
			t.Errorf("%s with a repeated parameter: %d %s, want 400 invalid_request", path, st, body)
		}
	}
}

// TestHardeningClientAuthenticationFirst (10, 14): the client is authenticated before the
// grant is looked at; unknown client and wrong secret look the same; failures are counted
// per address.
func TestHardeningClientAuthenticationFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientConfidential, withGrants("authorization_code", "refresh_token", "client_credentials"))
	bodyOf := func(form url.Values, user, pass string) (int, http.Header, map[string]any) {
		st, hdr, body := e.postForm("/oauth/token", form, user, pass)
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return st, hdr, m
	}
	cases := map[string]func() (int, http.Header, map[string]any){
		"refresh, unknown client": func() (int, http.Header, map[string]any) {
			return bodyOf(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "nobody", "secret")
		},
		"code, unknown client": func() (int, http.Header, map[string]any) {
			return bodyOf(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, "nobody", "secret")
		},
		"code, wrong secret": func() (int, http.Header, map[string]any) {
			return bodyOf(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, c.ID, "wrong")
		},
		"malformed basic": func() (int, http.Header, map[string]any) {
			req, _ := http.NewRequest(http.MethodPost, e.addr+"/oauth/token", strings.NewReader("grant_type=authorization_code&code=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Basic %%%not-base64")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			return resp.StatusCode, resp.Header, m
		},
	}
	var descs []any
	for name, run := range cases {
		st, hdr, m := run()
		if st != http.StatusUnauthorized || m["error"] != "invalid_client" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: %d %v (WWW-Authenticate %q), want 401 invalid_client with WWW-Authenticate: Basic", name, st, m, hdr.Get("WWW-Authenticate"))
		}
		if name != "malformed basic" {
			descs = append(descs, m["error_description"])
		}
	}
	for _, d := range descs[1:] {
		if d != descs[0] {
			t.Errorf("unknown client and wrong secret are told apart: %v", descs)
		}
	}
	// Guessing secrets from one address is cut off (the three failures above count too).
	var last int
	for range 40 {
		last, _, _ = bodyOf(url.Values{"grant_type": {"client_credentials"}}, c.ID, "guess")
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("after 40 wrong secrets from one address: %d, want 429", last)
	}
}

// TestHardeningUserinfoBearerErrors (12): RFC 6750 §3 answers.
func TestHardeningUserinfoBearerErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty, opaqueTokens)
	tok := e.tokens(t.Context(), e.browser(), c, "ada@example.com")
	userinfo := func(rawQuery, bearer string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, e.addr+"/userinfo"+rawQuery, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if st, _ := userinfo("", tok.AccessToken); st != http.StatusOK {
		t.Fatalf("valid token: %d", st)
	}
	if st, _, _ := e.postForm("/revoke", url.Values{"token": {tok.AccessToken}}, c.ID, c.Secret); st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	for name, tc := range map[string]struct{ query, bearer, wantChallenge string }{
		"revoked": {"", tok.AccessToken, `error="invalid_token"`},
		"forged":  {"", "not-a-token", `error="invalid_token"`},
		"missing": {"", "", `Bearer realm=`},
	} {
		st, wa := userinfo(tc.query, tc.bearer)
		if st != http.StatusUnauthorized || !strings.HasPrefix(wa, "Bearer") || !strings.Contains(wa, tc.wantChallenge) {
			t.Errorf("%s token: %d WWW-Authenticate %q, want 401 with %s", name, st, wa, tc.wantChallenge)
		}
	}
	if st, wa := userinfo("?access_token="+url.QueryEscape(tok.AccessToken), ""); st != http.StatusBadRequest || !strings.Contains(wa, "invalid_request") {
		t.Errorf("token in the query string: %d %q, want 400 invalid_request", st, wa)
	}
}

// TestHardeningCORS (13): no CORS on front-channel pages; back-channel endpoints only for
// the web origins of public clients' redirect URIs; never for "null".
func TestHardeningCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	spa := e.addClient(storage.ClientPublic, func(c *storage.Client) { c.RedirectURIs = []string{"https://spa.example:8443/cb"} })
	allowed := func(method, path, origin string) string {
		req, _ := http.NewRequest(method, e.addr+path, nil)
		req.Header.Set("Origin", origin)
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Access-Control-Allow-Origin")
	}
	for _, path := range []string{"/oauth/token", "/keys", "/userinfo", "/oauth/introspect", "/revoke"} {
		if got := allowed(http.MethodOptions, path, "https://spa.example:8443"); got != "https://spa.example:8443" {
			t.Errorf("preflight %s from the SPA: allow-origin %q", path, got)
		}
		for _, o := range []string{"https://evil.example", "null", "https://spa.example"} {
			if got := allowed(http.MethodOptions, path, o); got != "" {
				t.Errorf("preflight %s from %s: allow-origin %q, want none", path, o, got)
			}
		}
	}
	for _, path := range []string{"/authorize?client_id=" + spa.ID, "/end_session"} {
		if got := allowed(http.MethodGet, path, "https://spa.example:8443"); got != "" {
			t.Errorf("front channel %s answers CORS: %q", path, got)
		}
	}
}

// TestHardeningPKCESyntaxAndIss (17): PKCE syntax is enforced, and the library's own
// authorization errors carry iss too.
func TestHardeningPKCESyntaxAndIss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {"abc"}, "code_challenge_method": {"S256"}}
	if res := redirectResult(t, e.browser().get(e.issuer+"/authorize?"+q.Encode()), c.Redirect); res.err != "invalid_request" || res.iss != e.issuer {
		t.Errorf("3-character challenge: error %q iss %q, want invalid_request with iss", res.err, res.iss)
	}
	// prompt=none without a session: the library's login_required carries iss.
	_, challenge := pkce()
	q.Set("code_challenge", challenge)
	q.Set("prompt", "none")
	res := redirectResult(t, e.browser().get(e.issuer+"/authorize?"+q.Encode()), c.Redirect)
	if res.err != "login_required" || res.iss != e.issuer {
		t.Errorf("prompt=none signed out: error %q iss %q, want login_required with iss %q", res.err, res.iss, e.issuer)
	}
	// Verifiers of the wrong length or alphabet are refused before any comparison.
	for _, v := range []string{strings.Repeat("a", 42), strings.Repeat("a", 129), strings.Repeat("a", 42) + "+", strings.Repeat("a", 42) + "="} {
		res, _ := e.signIn(e.browser(), c, "ada@example.com")
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {res.code},
			"redirect_uri": {c.Redirect}, "code_verifier": {v}}, c.ID, c.Secret)
		if st != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
			t.Errorf("verifier %q: %d %s, want 400 invalid_request", v, st, body)
		}
	}
}

// TestHardeningDeviceNameCleanedOnce (22): device_name is cleaned by one function on both
// paths: no control characters, no split UTF-8.
func TestHardeningDeviceNameCleanedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	name := "Kitchen\x1b[31m TV\u202e" + strings.Repeat("é", 120)
	res, verifier := e.signIn(e.browser(), c, "ada@example.com", oauthParam("device_name", name))
	tok, err := e.oauth2Config(c).Exchange(t.Context(), res.code, oauthVerifier(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_ = tok
	u, err := e.store.GetUserByEmail(t.Context(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	grants, err := e.store.ListGrants(t.Context(), u.ID)
	if err != nil || len(grants) == 0 {
		t.Fatalf("grants: %v %v", grants, err)
	}
	got := grants[0].DeviceName
	if strings.ContainsAny(got, "\x1b\u202e") || !strings.HasPrefix(got, "Kitchen[31m TV") || len([]rune(got)) != 100 {
		t.Errorf("device name stored as %q (%d runes), want control and format characters removed, 100 runes", got, len([]rune(got)))
	}
}

func oauthParam(k, v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam(k, v) }
func oauthVerifier(v string) oauth2.AuthCodeOption { return oauth2.VerifierOption(v) }

// TestHardeningEnrolmentNeedsFreshSignIn (4): a session older than five minutes cannot add
// a first factor (a session thief would lock the owner out with it), by form or by JSON.
func TestHardeningEnrolmentNeedsFreshSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	u := e.addUser("ada@example.com")
	b := e.browser()
	e.passwordSignIn(b, "ada@example.com")
	e.clock.Advance(6 * time.Minute)
	p := b.get(e.issuer + "/account/security")
	p = b.post(e.issuer+"/account/security/totp", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "sign in again") || strings.Contains(p.body, `id="totp-key"`) {
		t.Errorf("stale session starting TOTP enrolment: %d\n%.600s", p.status, p.body)
	}
	st, _ := b.postJSON(e.issuer+"/account/security/webauthn/begin", csrfOf(t, b.get(e.issuer+"/account/security")), map[string]any{})
	if st != http.StatusForbidden {
		t.Errorf("stale session starting passkey enrolment: %d, want 403", st)
	}
	if n := len(e.factors(u.ID)); n != 0 {
		t.Errorf("%d factors added from a stale session", n)
	}
	// Signed in again, enrolment works.
	b.submitLogin(b.get(e.issuer+"/login?reauth=1&return=/account/security"), "ada@example.com", testPassword)
	if _, p := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone"); len(e.factors(u.ID)) != 1 {
		t.Errorf("fresh session could not add TOTP: %d %s", p.status, p.url)
	}
}

// TestHardeningCaptchaCosts (23): new pictures are limited per form and per address, and
// wrong answers per address; beyond them no captcha is issued or checked.
func TestHardeningCaptchaCosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	p := b.get(e.issuer + "/register")
	// Reloading one form: six pictures in all, then no more.
	var last *page
	for range 6 {
		f := p.formValues()
		f.Set("action", "reload")
		last = b.post(e.issuer+"/register", f)
		if last.status != http.StatusOK {
			break
		}
		p = last
	}
	if last.status != http.StatusTooManyRequests || strings.Contains(last.body, "data:image/png") {
		t.Errorf("seventh picture of one form: %d, want 429 without a picture", last.status)
	}
	// Wrong answers from one address: after 15, even a right answer is not checked.
	for i := range 15 {
		p := b.get(e.issuer + "/register")
		f := p.formValues()
		f.Set("email", "x@example.com")
		f.Set("captcha", "000000")
		if st := b.post(e.issuer+"/register", f).status; st == http.StatusTooManyRequests {
			t.Fatalf("limited after only %d wrong answers", i)
		}
	}
	p = b.get(e.issuer + "/register")
	if p.status == http.StatusOK {
		f := p.formValues()
		f.Set("email", "x@example.com")
		f.Set("password", "a fine long passphrase")
		f.Set("confirm", "a fine long passphrase")
		f.Set("captcha", e.tape.answer(t))
		if st := b.post(e.issuer+"/register", f).status; st != http.StatusTooManyRequests {
			t.Errorf("right answer after 15 wrong ones from the address: %d, want 429", st)
		}
	}
	// New pictures per address: 60 an hour (the ones above count).
	got := 0
	for range 80 {
		if e.browser().get(e.issuer+"/register").status == http.StatusOK {
			got++
		}
	}
	if got == 80 {
		t.Error("80 fresh registration pages from one address all got a picture")
	}
	// An hour later the address may try again.
	e.clock.Advance(61 * time.Minute)
	if st := e.browser().get(e.issuer + "/register").status; st != http.StatusOK {
		t.Errorf("an hour later: %d", st)
	}
}

// TestHardeningSecondStepCapAndNotice (18): beyond a daily cap the second step stays shut
// even for the right code, and the owner hears (once an hour) that someone passed the
// password but failed the second step.
func TestHardeningSecondStepCapAndNotice(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0)
	const email = "capped@example.com"
	b, key := e.userWithTOTP(email)

	notices := func() int {
		n := 0
		for _, m := range e.smtp.Messages() {
			if strings.Contains(m.Subject, "entered your") {
				n++
			}
		}
		return n
	}
	// Four windows of five wrong codes: twenty attempts, the day's cap.
	for round := range 4 {
		p := e.passwordSignIn(b, email)
		wrong := fmt.Sprintf("%06d", (mustAtoi(t, e.totpNow(key))+500000)%1000000)
		for range 5 {
			p = b.mfaPost(p, "totp", wrong, false)
		}
		if round == 0 {
			m := e.smtp.WaitFor(t, email, mailWait)
			if !strings.Contains(m.Subject, "entered your") || !strings.Contains(m.Text, "did not pass the second step") {
				t.Errorf("notice mail: %q\n%s", m.Subject, m.Text)
			}
		}
		e.clock.Advance(16 * time.Minute)
	}
	if n := notices(); n != 1 {
		t.Errorf("%d notices within the hour, want 1", n)
	}
	p := e.passwordSignIn(b, email)
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "closed for a day") {
		t.Fatalf("right code after the day's cap: %d\n%.600s", p.status, p.body)
	}
	// A day later the owner gets in.
	e.clock.Advance(24 * time.Hour)
	e.nextTOTPStep()
	p = e.passwordSignIn(b, email)
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account", "Your account")
}

// TestDocumentsPrecomputedWithETag: discovery and JWKS are answered from bytes made once, with
// a strong ETag (304 on If-None-Match), and still with CORS for browser apps.
func TestDocumentsPrecomputedWithETag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addClient(storage.ClientPublic, func(c *storage.Client) { c.RedirectURIs = []string{"https://spa.example/cb"} })
	for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
		get := func(etag string) *http.Response {
			req, _ := http.NewRequest(http.MethodGet, e.addr+path, nil)
			req.Header.Set("Origin", "https://spa.example")
			if etag != "" {
				req.Header.Set("If-None-Match", etag)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		first := get("")
		etag := first.Header.Get("ETag")
		if first.StatusCode != 200 || etag == "" || first.Header.Get("Cache-Control") == "" {
			t.Errorf("%s: %d ETag %q Cache-Control %q", path, first.StatusCode, etag, first.Header.Get("Cache-Control"))
		}
		if got := first.Header.Get("Access-Control-Allow-Origin"); got != "https://spa.example" {
			t.Errorf("%s: allow-origin %q for a public client's origin", path, got)
		}
		if again := get(""); again.Header.Get("ETag") != etag {
			t.Errorf("%s: ETag changed between requests", path)
		}
		if nm := get(etag); nm.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d, want 304", path, nm.StatusCode)
		}
	}
	// A rotation changes the key set, and so the JWKS document.
	before := probeETag(t, e.addr+"/keys")
	if _, err := e.srv.Keys.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if after := probeETag(t, e.addr+"/keys"); after == before {
		t.Error("JWKS unchanged after a rotation")
	}
}

func probeETag(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("ETag")
}
