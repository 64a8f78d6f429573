package server_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx/softauthn"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// Two-step verification end to end: enrolment on the security page, the second step of a
// sign-in, the amr and acr relying parties get, and the rules around them (replay, attempt
// limit, recovery codes, remembered browsers, step-up, fresh sign-in for removal).

var (
	totpKeyRE      = regexp.MustCompile(`id="totp-key">([A-Z2-7 ]+)<`)
	recoveryCodeRE = regexp.MustCompile(`<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>`)
	codesNextRE    = regexp.MustCompile(`<a href="([^"]+)" id="codes-continue">`)
	removeFormRE   = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]+)">`)
	csrfMetaRE     = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

// mustAt fails unless p is a 200 page at path containing every one of texts.
func mustAt(t testing.TB, p *page, path string, texts ...string) {
	t.Helper()
	if p.status != http.StatusOK || p.url.Path != path {
		t.Fatalf("expected %s, got %d at %s:\n%.1200s", path, p.status, p.url, p.body)
	}
	for _, s := range texts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("%s lacks %q:\n%.3000s", path, s, p.body)
		}
	}
}

// passwordSignIn signs in on the plain sign-in page and returns the page that follows.
func (e *testEnv) passwordSignIn(b *browser, email string) *page {
	e.t.Helper()
	return b.submitLogin(b.get(e.issuer+"/login"), email, testPassword)
}

// signOut ends the browser's session (a remembered-browser cookie stays).
func (e *testEnv) signOut(b *browser) {
	e.t.Helper()
	p := b.get(e.issuer + "/logout")
	if p := b.post(e.issuer+"/logout", p.formValues()); p.url.Path != "/logout" {
		e.t.Fatalf("sign-out ended at %s (%d)", p.url, p.status)
	}
}

// totpNow is the code the app would show now (the server's clock).
func (e *testEnv) totpNow(key []byte) string { return mfa.TOTPCode(key, e.clock.Now()) }

// nextTOTPStep moves the clock into the next 30-second step, so that the app shows a code
// the server has not accepted yet.
func (e *testEnv) nextTOTPStep() { e.clock.Advance(mfa.TOTPPeriod) }

// userWithTOTP makes an account for email with an authenticator app, signed out again in
// browser b, the clock on the app's next step; it returns b and the app's secret. With mail
// (e.smtp), the "a factor was added" notice has arrived.
func (e *testEnv) userWithTOTP(email string) (*browser, []byte) {
	e.t.Helper()
	e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	key, _ := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "")
	if e.smtp != nil {
		e.smtp.WaitFor(e.t, email, mailWait)
	}
	e.signOut(b)
	e.nextTOTPStep()
	return b, key
}

// enrolTOTP adds an authenticator app from the security page p (the enrolment parameters,
// if any, are among its hidden fields); it types a wrong code first. It returns the secret
// and the page the confirmation ended on.
func (e *testEnv) enrolTOTP(b *browser, p *page, name string) ([]byte, *page) {
	e.t.Helper()
	mustAt(e.t, p, "/account/security", `action="/account/security/totp"`)
	f := p.formValues()
	f.Del("id")
	p = b.post(e.issuer+"/account/security/totp", f)
	mustAt(e.t, p, "/account/security/totp", `id="totp-key"`, `src="data:image/png;base64,`)
	m := totpKeyRE.FindStringSubmatch(p.body)
	if m == nil {
		e.t.Fatalf("no key in text on the enrolment page:\n%.2000s", p.body)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil || len(key) != mfa.TOTPSecretSize {
		e.t.Fatalf("key %q does not decode to a %d-byte secret: %v", m[1], mfa.TOTPSecretSize, err)
	}
	if f := p.formValues(); f.Get("pending") == "" {
		e.t.Fatal("the enrolment form carries no pending enrolment")
	}

	good := e.totpNow(key)
	wrong := e.wrongTOTP(key)
	f = p.formValues()
	f.Set("name", name)
	f.Set("code", wrong)
	p = b.post(e.issuer+"/account/security/totp/confirm", f)
	mustAt(e.t, p, "/account/security/totp/confirm", "The code is not correct", `id="totp-key"`)
	if again := totpKeyRE.FindStringSubmatch(p.body); again == nil || again[1] != m[1] {
		e.t.Fatalf("after a wrong code the page shows another key (%v, want %q)", again, m[1])
	}

	f = p.formValues()
	f.Set("name", name)
	f.Set("code", good)
	p = b.post(e.issuer+"/account/security/totp/confirm", f)
	if p.status != http.StatusOK {
		e.t.Fatalf("confirming the app: %d at %s:\n%.1500s", p.status, p.url, p.body)
	}
	return key, p
}

// wrongTOTP is a code the server refuses now: none of the steps it accepts (mfa.TOTPSkew
// either side of the current one) shows it. The code after the current one is, but for a
// one-in-a-million coincidence with a neighbouring step's code, which the sweeps' hundreds
// of enrolments met.
func (e *testEnv) wrongTOTP(key []byte) string {
	now := e.clock.Now()
	for n := mustAtoi(e.t, mfa.TOTPCode(key, now)) + 1; ; n++ {
		wrong := fmt.Sprintf("%06d", n%1000000)
		accepted := false
		for s := -mfa.TOTPSkew; s <= mfa.TOTPSkew; s++ {
			accepted = accepted || mfa.TOTPCode(key, now.Add(time.Duration(s)*mfa.TOTPPeriod)) == wrong
		}
		if !accepted {
			return wrong
		}
	}
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mfaPost answers the two-step verification page p with a code.
func (b *browser) mfaPost(p *page, method, code string, remember bool) *page {
	b.t.Helper()
	mustAt(b.t, p, "/mfa", "Two-step verification")
	f := url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "method": {method}, "code": {code}}
	if remember {
		f.Set("remember", "1")
	}
	return b.post(b.issuer+"/mfa", f)
}

// factors returns the person's stored second factors.
func (e *testEnv) factors(userID string) []*storage.MFACredential {
	e.t.Helper()
	rows, err := e.store.ListMFACredentials(context.Background(), userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

// authorize starts an authorization request for c in b and returns the first page and what
// the exchange needs.
func (e *testEnv) authorize(b *browser, c *testClient, opts ...oauth2.AuthCodeOption) (p *page, state, verifier, nonce string) {
	e.t.Helper()
	verifier = oauth2.GenerateVerifier()
	state, nonce = secret.RandomToken(8), secret.RandomToken(8)
	opts = append(opts, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce))
	return b.get(e.oauth2Config(c).AuthCodeURL(state, opts...)), state, verifier, nonce
}

type amrClaims struct {
	AMR   []string `json:"amr"`
	ACR   string   `json:"acr"`
	Nonce string   `json:"nonce"`
}

// idTokenAt takes the redirect to the client on p, exchanges the code and verifies the ID
// token with go-oidc.
func (e *testEnv) idTokenAt(p *page, c *testClient, state, verifier, nonce string) amrClaims {
	e.t.Helper()
	res := redirectResult(e.t, p, c.Redirect)
	if res.code == "" || res.state != state {
		e.t.Fatalf("redirect to the client: code %q, state %q (want %q), error %q", res.code, res.state, state, res.err)
	}
	ctx := context.Background()
	tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		e.t.Fatalf("verify ID token: %v", err)
	}
	var cl amrClaims
	if err := idt.Claims(&cl); err != nil {
		e.t.Fatal(err)
	}
	if cl.Nonce != nonce {
		e.t.Fatalf("nonce %q, want %q", cl.Nonce, nonce)
	}
	return cl
}

func wantMFAClaims(t testing.TB, cl amrClaims, amr ...string) {
	t.Helper()
	for _, v := range append(amr, mfa.AMRMFA) {
		if !slices.Contains(cl.AMR, v) {
			t.Errorf("amr %q lacks %q", cl.AMR, v)
		}
	}
	if cl.ACR != mfa.ACRMFA {
		t.Errorf("acr %q, want %q", cl.ACR, mfa.ACRMFA)
	}
}

// recoveryCodes returns the recovery codes a page shows.
func recoveryCodes(p *page) []string {
	var out []string
	for _, m := range recoveryCodeRE.FindAllStringSubmatch(p.body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestMFATOTPEnrolmentAndSignIn(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0) // a still clock: TOTP codes are computed for the server's time
	const email = "totp.person@example.com"
	u := e.addUser(email)
	c := e.addClient(storage.ClientConfidential, firstParty)

	// Enrolment through the real pages, starting from the dashboard's link.
	b := e.browser()
	p := e.passwordSignIn(b, email)
	mustAt(t, p, "/account", `href="/account/security"`)
	p = b.get(e.issuer + "/account/security")
	mustAt(t, p, "/account/security", "No authenticator app is set up.")
	key, p := e.enrolTOTP(b, p, "My phone")
	mustAt(t, p, "/account/security", "The authenticator app was added.", "My phone", "Save your recovery codes")
	codes := recoveryCodes(p)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10:\n%.3000s", len(codes), p.body)
	}
	if rows := e.factors(u.ID); len(rows) != 1 || rows[0].Kind != storage.MFATOTP || rows[0].Name != "My phone" {
		t.Fatalf("stored factors after enrolment: %+v", rows)
	}
	// Shown once: a reload of the page no longer has them.
	p = b.get(e.issuer + "/account/security")
	mustAt(t, p, "/account/security", "My phone", "Unused recovery codes: 10")
	if got := recoveryCodes(p); len(got) != 0 || strings.Contains(p.body, codes[0]) {
		t.Fatal("the recovery codes are shown a second time")
	}
	m := e.smtp.WaitFor(t, email, mailWait)
	if !strings.Contains(m.Subject, "second factor was added") || !strings.Contains(m.Text, "authenticator app") {
		t.Errorf("factor-added mail: %q\n%s", m.Subject, m.Text)
	}

	// Sign out; sign in to a product with the password, then the app's code.
	e.signOut(b)
	e.nextTOTPStep()
	p, state, verifier, nonce := e.authorize(b, c)
	p = b.submitLogin(p, email, testPassword)
	mustAt(t, p, "/mfa", "Two-step verification", `id="totp-code"`)
	if jar := b.c.Jar.Cookies(p.url); slices.ContainsFunc(jar, func(ck *http.Cookie) bool { return ck.Name == e.cfg.Session.CookieName }) {
		t.Error("a session cookie was set after the password alone")
	}
	code := e.totpNow(key)
	p = b.mfaPost(p, "totp", code, false)
	cl := e.idTokenAt(p, c, state, verifier, nonce)
	wantMFAClaims(t, cl, mfa.AMRPassword, mfa.AMROTP)

	// The same code again, in another browser within its window: refused as a replay.
	b2 := e.browser()
	p = e.passwordSignIn(b2, email)
	p = b2.mfaPost(p, "totp", code, false)
	mustAt(t, p, "/mfa", "This code was already used")

	// A recovery code works once.
	p = b2.mfaPost(p, "recovery_code", strings.ToUpper(codes[3]), false)
	mustAt(t, p, "/account", "Your account")
	e.signOut(b2)
	p = e.passwordSignIn(b2, email)
	p = b2.mfaPost(p, "recovery_code", codes[3], false)
	mustAt(t, p, "/mfa", "The code is not correct.")
	if n, _ := e.store.CountRecoveryCodes(context.Background(), u.ID); n != 9 {
		t.Errorf("%d unused recovery codes, want 9", n)
	}
}

func TestMFAAttemptLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	const email = "guesser.target@example.com"
	b, key := e.userWithTOTP(email)

	p := e.passwordSignIn(b, email)
	good := e.totpNow(key)
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, good)+500000)%1000000)
	for range 5 {
		p = b.mfaPost(p, "totp", wrong, false)
		mustAt(t, p, "/mfa", "The code is not correct.")
	}
	// The sixth attempt is refused even with the right code.
	p = b.mfaPost(p, "totp", good, false)
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many wrong codes. Try again in 15 minutes.") {
		t.Fatalf("sixth attempt: %d\n%.800s", p.status, p.body)
	}
	// After the window the right code works.
	e.clock.Advance(16 * time.Minute)
	p = e.passwordSignIn(b, email)
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account", "Your account")
}

func TestMFARememberedBrowserAndStepUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	const email = "remembered@example.com"
	u := e.addUser(email)
	strict := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.RequireMFA = true })
	b := e.browser()
	e.passwordSignIn(b, email)
	key, _ := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")
	e.signOut(b)

	// "Remember this browser" with the code …
	e.nextTOTPStep()
	p := e.passwordSignIn(b, email)
	p = b.mfaPost(p, "totp", e.totpNow(key), true)
	mustAt(t, p, "/account", "Your account")
	e.signOut(b)

	// … skips the second step next time: the password alone signs in here.
	p = e.passwordSignIn(b, email)
	mustAt(t, p, "/account", "Your account")
	p = b.get(e.issuer + "/account/security")
	mustAt(t, p, "/account/security", "This browser is remembered")

	// This password-only session cannot add another app, even posing as a sign-in's
	// enrolment step: the sign-in skipped the app the person has
	// (TestRecentSignInNeedsThePersonsFactors).
	e.nextTOTPStep()
	p = b.get(e.issuer + "/account/security?enrol=1")
	f := p.formValues()
	f.Del("id")
	if p = b.post(e.issuer+"/account/security/totp", f); p.status != http.StatusForbidden || !strings.Contains(p.body, "sign in again") {
		t.Fatalf("adding an app from a remembered browser's password-only session: %d at %s", p.status, p.url)
	}
	if n := len(e.factors(u.ID)); n != 1 {
		t.Fatalf("%d factors, want 1", n)
	}

	// But a product that requires two-step verification steps the session up.
	p, state, verifier, nonce := e.authorize(b, strict)
	mustAt(t, p, "/mfa", "Two-step verification")
	e.nextTOTPStep()
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	wantMFAClaims(t, e.idTokenAt(p, strict, state, verifier, nonce), mfa.AMRPassword, mfa.AMROTP)

	// So does acr_values asking for the MFA level, for any product: signed out, the
	// remembered browser signs in with the password and is still asked for the code.
	e.signOut(b)
	loose := e.addClient(storage.ClientConfidential, firstParty)
	p, state, verifier, nonce = e.authorize(b, loose, oauth2.SetAuthURLParam("acr_values", mfa.ACRMFA))
	p = b.submitLogin(p, email, testPassword)
	mustAt(t, p, "/mfa", "Two-step verification")
	e.nextTOTPStep()
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	wantMFAClaims(t, e.idTokenAt(p, loose, state, verifier, nonce), mfa.AMRPassword, mfa.AMROTP)
}

func TestMFAEnrolmentRequiredByProduct(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0)
	const email = "no.factor.yet@example.com"
	u := e.addUser(email)
	strict := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.RequireMFA = true })

	b := e.browser()
	p, state, verifier, nonce := e.authorize(b, strict)
	p = b.submitLogin(p, email, testPassword)
	mustAt(t, p, "/account/security", "requires two-step verification", html.EscapeString(strict.c.Name))
	if p.url.Query().Get("enrol") != "1" || p.url.Query().Get("authRequestID") == "" {
		t.Fatalf("stepped up to %s, want ?enrol=1&authRequestID=…", p.url)
	}
	_, p = e.enrolTOTP(b, p, "")
	mustAt(t, p, "/account/security", "Save your recovery codes", "Authenticator app")
	if n := len(recoveryCodes(p)); n != 10 {
		t.Fatalf("%d recovery codes shown, want 10", n)
	}
	next := codesNextRE.FindStringSubmatch(p.body)
	if next == nil {
		t.Fatalf("no way on to the product after the recovery codes:\n%.3000s", p.body)
	}
	p = b.get(e.issuer + html.UnescapeString(next[1]))
	cl := e.idTokenAt(p, strict, state, verifier, nonce)
	wantMFAClaims(t, cl, mfa.AMRPassword, mfa.AMROTP)
	if rows := e.factors(u.ID); len(rows) != 1 {
		t.Errorf("%d factors stored, want 1", len(rows))
	}
	e.smtp.WaitFor(t, email, mailWait) // the factor-added notice
}

func TestMFARemovalNeedsFreshSignIn(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0)
	const email = "remover@example.com"
	u := e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	key, _ := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Old phone")
	e.smtp.WaitFor(t, email, mailWait) // added

	remove := func() *page {
		t.Helper()
		p := b.get(e.issuer + "/account/security")
		m := removeFormRE.FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no remove button:\n%.2000s", p.body)
		}
		return b.post(e.issuer+"/account/security/remove", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "id": {m[1]}})
	}

	// Six minutes after the sign-in: sign in again first.
	e.clock.Advance(6 * time.Minute)
	p := remove()
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "sign in again") ||
		!strings.Contains(p.body, `href="/login?reauth=1&amp;return=%2Faccount%2Fsecurity"`) {
		t.Fatalf("stale removal: %d\n%.2000s", p.status, p.body)
	}
	if len(e.factors(u.ID)) != 1 {
		t.Fatal("the factor was removed from a stale session")
	}
	// Another person's factor id is not removable either (nothing happens).
	other := e.addUser("other@example.com")
	b2 := e.browser()
	e.passwordSignIn(b2, other.Email)
	e.enrolTOTP(b2, b2.get(e.issuer+"/account/security"), "")
	theirs := e.factors(other.ID)[0].ID

	// The fresh sign-in goes through two-step verification, and returns here.
	p = b.get(e.issuer + "/login?reauth=1&return=/account/security")
	p = b.submitLogin(p, email, testPassword)
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account/security", "Old phone")
	p = b.post(e.issuer+"/account/security/remove", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "id": {theirs}})
	if len(e.factors(other.ID)) != 1 {
		t.Fatal("another person's factor was removed")
	}
	p = remove()
	mustAt(t, p, "/account/security", "The sign-in method was removed.", "No authenticator app is set up.")
	if rows := e.factors(u.ID); len(rows) != 0 {
		t.Fatalf("%d factors left", len(rows))
	}
	if n, _ := e.store.CountRecoveryCodes(context.Background(), u.ID); n != 0 {
		t.Errorf("%d recovery codes left after the last factor went", n)
	}
	m := e.smtp.WaitFor(t, email, mailWait)
	if !strings.Contains(m.Subject, "second factor was removed") || !strings.Contains(m.Text, "authenticator app") {
		t.Errorf("factor-removed mail: %q\n%s", m.Subject, m.Text)
	}
}

func TestMFARecoveryCodesRegenerateAndForgetBrowsers(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0)
	const email = "codes@example.com"
	u := e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	key, p := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "")
	old := recoveryCodes(p)
	e.smtp.WaitFor(t, email, mailWait)

	p = b.get(e.issuer + "/account/security")
	p = b.post(e.issuer+"/account/security/recovery-codes", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}})
	mustAt(t, p, "/account/security", "You have new recovery codes.", "Save your recovery codes")
	fresh := recoveryCodes(p)
	if len(fresh) != 10 || slices.Contains(fresh, old[0]) {
		t.Fatalf("regenerated codes: %q (old %q)", fresh, old)
	}
	m := e.smtp.WaitFor(t, email, mailWait)
	if !strings.Contains(m.Text, "recovery codes") {
		t.Errorf("regeneration mail: %q\n%s", m.Subject, m.Text)
	}
	e.signOut(b)

	// The old set is void, the new one works; remember this browser.
	p = e.passwordSignIn(b, email)
	p = b.mfaPost(p, "recovery_code", old[0], false)
	mustAt(t, p, "/mfa", "The code is not correct.")
	p = b.mfaPost(p, "recovery_code", fresh[0], true)
	mustAt(t, p, "/account", "Your account")
	e.signOut(b)
	p = e.passwordSignIn(b, email)
	mustAt(t, p, "/account", "Your account") // remembered

	// Forgetting browsers needs a fresh sign-in too; then the next sign-in asks again.
	e.clock.Advance(6 * time.Minute)
	p = b.get(e.issuer + "/account/security")
	p = b.post(e.issuer+"/account/security/browsers/forget", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "sign in again") {
		t.Fatalf("stale forget: %d", p.status)
	}
	// The sign-in again asks for the second step, remembered browser or not: the password
	// alone at a remembered browser does not change the factors (TestRecentSignInNeedsThePersonsFactors).
	p = b.get(e.issuer + "/login?reauth=1&return=/account/security")
	p = b.submitLogin(p, email, testPassword)
	e.nextTOTPStep()
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account/security")
	p = b.post(e.issuer+"/account/security/browsers/forget", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}})
	mustAt(t, p, "/account/security", "All remembered browsers were forgotten")
	e.signOut(b)
	p = e.passwordSignIn(b, email)
	e.nextTOTPStep()
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account", "Your account")
	_ = u
}

// An account with a second factor never gets a session from the password alone.
func TestMFANoPasswordOnlySession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	const email = "strong@example.com"
	u := e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "")
	e.signOut(b)
	before, err := e.store.ListSessions(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}

	b = e.browser()
	p := e.passwordSignIn(b, email)
	mustAt(t, p, "/mfa", "Two-step verification")
	for _, ck := range b.c.Jar.Cookies(p.url) {
		if ck.Name == e.cfg.Session.CookieName {
			t.Errorf("a session cookie after the password alone: %s", ck.Name)
		}
	}
	after, err := e.store.ListSessions(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d sessions after the password alone, %d before", len(after), len(before))
	}
	for _, path := range []string{"/account", "/account/security", "/account/devices"} {
		if p := b.get(e.issuer + path); p.url.Path != "/login" {
			t.Errorf("%s after the password alone: %d at %s, want the sign-in page", path, p.status, p.url)
		}
	}
}

// postJSON posts a script's request (CSRF token in X-CSRF-Token) and decodes the answer.
func (b *browser) postJSON(u, csrf string, body any) (int, map[string]json.RawMessage) {
	b.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		b.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json") // as webauthn.js asks
	req.Header.Set("X-CSRF-Token", csrf)
	p := b.do(req)
	var out map[string]json.RawMessage
	if err := json.Unmarshal([]byte(p.body), &out); err != nil {
		b.t.Fatalf("%s: %d, not JSON: %.400s", u, p.status, p.body)
	}
	return p.status, out
}

func jsonString(t testing.TB, m map[string]json.RawMessage, key string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(m[key], &s); err != nil {
		t.Fatalf("%q is not a string in %v", key, m)
	}
	return s
}

func csrfOf(t testing.TB, p *page) string {
	t.Helper()
	m := csrfMetaRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf-token meta on %s", p.url)
	}
	return html.UnescapeString(m[1])
}

// keySignIn answers the security-key step of the /mfa page p with k from client c.
func (e *testEnv) keySignIn(b *browser, p *page, k *softauthn.Key, c softauthn.Client) (int, map[string]json.RawMessage) {
	e.t.Helper()
	mustAt(e.t, p, "/mfa", "Use your security key or passkey")
	csrf := csrfOf(e.t, p)
	st, begin := b.postJSON(e.issuer+"/mfa/webauthn/begin", csrf, nil)
	if st != http.StatusOK {
		e.t.Fatalf("/mfa/webauthn/begin: %d %s", st, begin)
	}
	return b.postJSON(e.issuer+"/mfa/webauthn/finish", csrf, map[string]any{
		"handle": jsonString(e.t, begin, "handle"), "credential": json.RawMessage(k.Get(e.t, begin["options"], c)),
	})
}

func TestMFASecurityKeyEndToEnd(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), localhost: true, wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	const email = "key.person@example.com"
	u := e.addUser(email)
	origin := e.issuer
	browserSide := softauthn.Client{Origin: origin, RPID: "localhost"}
	k := softauthn.New(t)

	// Register a key on the security page, through its JSON endpoints.
	b := e.browser()
	e.passwordSignIn(b, email)
	p := b.get(e.issuer + "/account/security")
	mustAt(t, p, "/account/security", `id="passkey-name"`, `id="passkey-register"`, "No security key or passkey is set up.")
	csrf := csrfOf(t, p)
	if st, _ := b.postJSON(e.issuer+"/account/security/webauthn/begin", "forged", nil); st != http.StatusForbidden {
		t.Errorf("begin without the CSRF token: %d, want 403", st)
	}
	st, begin := b.postJSON(e.issuer+"/account/security/webauthn/begin", csrf, nil)
	if st != http.StatusOK {
		t.Fatalf("begin: %d %s", st, begin)
	}
	var opts struct {
		PublicKey struct {
			RP struct {
				ID string `json:"id"`
			} `json:"rp"`
			AuthenticatorSelection struct {
				ResidentKey string `json:"residentKey"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(begin["options"], &opts); err != nil || opts.PublicKey.RP.ID != "localhost" || opts.PublicKey.AuthenticatorSelection.ResidentKey != "required" {
		t.Errorf("registration options: rp %q, residentKey %q (%v)", opts.PublicKey.RP.ID, opts.PublicKey.AuthenticatorSelection.ResidentKey, err)
	}
	st, fin := b.postJSON(e.issuer+"/account/security/webauthn/finish", csrf, map[string]any{
		"handle": jsonString(t, begin, "handle"), "name": "  YubiKey\tblue ", "credential": json.RawMessage(k.Create(t, begin["options"], browserSide)),
	})
	if st != http.StatusOK {
		t.Fatalf("finish: %d %s", st, fin)
	}
	p = b.get(e.issuer + jsonString(t, fin, "redirect"))
	mustAt(t, p, "/account/security", "YubiKey blue", "The security key or passkey was added.", "Save your recovery codes")
	rows := e.factors(u.ID)
	if len(rows) != 1 || rows[0].Kind != storage.MFAWebAuthn || !bytes.Equal(rows[0].CredentialID, k.CredID) || rows[0].Name != "YubiKey blue" {
		t.Fatalf("stored factors: %+v", rows)
	}
	if m := e.smtp.WaitFor(t, email, mailWait); !strings.Contains(m.Subject, "second factor was added") || !strings.Contains(m.Text, "security key") {
		t.Errorf("key-added mail: %q\n%s", m.Subject, m.Text)
	}
	// The same ceremony cannot be finished twice.
	if st, _ := b.postJSON(e.issuer+"/account/security/webauthn/finish", csrf, map[string]any{
		"handle": jsonString(t, begin, "handle"), "credential": json.RawMessage(k.Create(t, begin["options"], browserSide)),
	}); st == http.StatusOK {
		t.Error("a registration ceremony was finished twice")
	}

	// Password + key signs in.
	b2 := e.browser()
	p = e.passwordSignIn(b2, email)
	st, res := e.keySignIn(b2, p, k, browserSide)
	if st != http.StatusOK {
		t.Fatalf("key sign-in: %d %s", st, res)
	}
	mustAt(t, b2.get(e.issuer+jsonString(t, res, "redirect")), "/account", "Your account")

	// A response made for another origin fails.
	b3 := e.browser()
	p = e.passwordSignIn(b3, email)
	evil := softauthn.Client{Origin: strings.Replace(origin, "localhost", "evil.localhost", 1), RPID: "localhost"}
	if st, res := e.keySignIn(b3, p, k, evil); st == http.StatusOK {
		t.Fatalf("a response from another origin signed in: %s", res)
	}

	// A cloned authenticator (its counter behind the stored one) fails and is flagged, in
	// one transaction with the activity event that tells of it: when the event cannot be
	// written, the answer is ours and nothing is flagged; sent again, both are.
	clone := *k
	clone.Counter = 1
	clonedEvents := func() int {
		evs, err := e.store.ListAuditEvents(context.Background(), u.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Type == "mfa_cloned_key" {
				n++
			}
		}
		return n
	}
	p = e.passwordSignIn(b3, email)
	rule := fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected})
	st, res = e.keySignIn(b3, p, &clone, browserSide)
	fs.Clear()
	if fs.Applied(rule) != 1 || st != http.StatusServiceUnavailable || e.factors(u.ID)[0].Flagged || clonedEvents() != 0 {
		t.Fatalf("cloned key with its event failing: %d %s, flagged %v, %d events", st, res, e.factors(u.ID)[0].Flagged, clonedEvents())
	}
	p = e.passwordSignIn(b3, email)
	st, res = e.keySignIn(b3, p, &clone, browserSide)
	if st != http.StatusForbidden || !strings.Contains(string(res["error"]), "copied") {
		t.Fatalf("cloned key: %d %s", st, res)
	}
	if rows := e.factors(u.ID); !rows[0].Flagged || clonedEvents() != 1 {
		t.Errorf("the cloned key's credential is not flagged (%v) with one event (%d)", rows[0].Flagged, clonedEvents())
	}
	p = b.get(e.issuer + "/account/security")
	mustAt(t, p, "/account/security", "YubiKey blue", "may have been copied")
}
