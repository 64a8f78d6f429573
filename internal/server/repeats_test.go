package server_test

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/storage"
)

// lostAnswer is browser b as it was before its next request: a copy holding b's cookies
// now, for the same form sent again by a browser that never received the first answer (the
// double-click, or the answer lost on a phone's network).
func (e *testEnv) lostAnswer(b *browser) *browser {
	e.t.Helper()
	c := e.browser()
	u, _ := url.Parse(e.issuer)
	c.c.Jar.SetCookies(u, b.c.Jar.Cookies(u))
	return c
}

// TestFinishedSignInSentAgain: the sign-in or consent form of an authorization request sent
// again after the first one completed it. Before, the repeat said "Sign-in expired … start
// again", as if the sign-in had failed. Now the person who completed it is told that it is
// complete, whether the browser holds the first answer's cookies (a reload, the back
// button) or not (the double-click, the answer lost) — proved by their session or by their
// password; no second code goes to the application. Anyone else is answered as before.
func TestFinishedSignInSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	e.addUser("bob@example.com")
	const done = "is already complete"
	first := e.addClient(storage.ClientConfidential, firstParty)
	third := e.addClient(storage.ClientConfidential)

	loginForm := func(b *browser, c *testClient, email, password string) url.Values {
		p, _, _, _ := e.authorize(b, c)
		f := p.formValues()
		f.Set("email", email)
		f.Set("password", password)
		return f
	}
	finishedPage := func(t *testing.T, what string, p *page) {
		t.Helper()
		if p.status != http.StatusOK || !strings.Contains(p.body, done) || p.header.Get("Location") != "" {
			t.Errorf("%s: %d at %s (Location %q), want the 'already complete' page:\n%.1200s", what, p.status, p.url, p.header.Get("Location"), p.body)
		}
	}
	expired := func(t *testing.T, what string, p *page) {
		t.Helper()
		if strings.Contains(p.body, done) || p.header.Get("Location") != "" || p.status < 400 {
			t.Errorf("%s: %d at %s (Location %q), want a refusal:\n%.1200s", what, p.status, p.url, p.header.Get("Location"), p.body)
		}
	}

	t.Run("sign-in form", func(t *testing.T) {
		b := e.browser()
		f := loginForm(b, first, "ada@example.com", testPassword)
		lost := e.lostAnswer(b)
		redirectResult(t, b.post(e.issuer+"/login", f), first.Redirect)
		finishedPage(t, "sent again", b.post(e.issuer+"/login", f))
		finishedPage(t, "sent again, the first answer lost", lost.post(e.issuer+"/login", f))
		finishedPage(t, "opened again", b.get(e.issuer+"/login?authRequestID="+url.QueryEscape(f.Get("authRequestID"))))

		wrong := url.Values{}
		for k, v := range f {
			wrong[k] = v
		}
		wrong.Set("password", "not the password")
		if p := e.lostAnswer(lost).post(e.issuer+"/login", wrong); strings.Contains(p.body, done) {
			t.Errorf("sent again with a wrong password: told it is complete:\n%.1200s", p.body)
		}
		bob := url.Values{}
		for k, v := range f {
			bob[k] = v
		}
		bob.Set("email", "bob@example.com")
		expired(t, "sent again with another person's password", e.lostAnswer(lost).post(e.issuer+"/login", bob))
		expired(t, "opened by another person", e.signedInBrowser("bob@example.com").get(e.issuer+"/login?authRequestID="+url.QueryEscape(f.Get("authRequestID"))))
	})

	t.Run("consent form", func(t *testing.T) {
		b := e.browser()
		f := loginForm(b, third, "ada@example.com", testPassword)
		p := b.post(e.issuer+"/login", f)
		if !strings.Contains(p.body, `action="/consent"`) {
			t.Fatalf("no consent page: %d at %s", p.status, p.url)
		}
		cf := p.formValues()
		cf.Set("decision", "allow")
		lost := e.lostAnswer(b)
		redirectResult(t, b.post(e.issuer+"/consent", cf), third.Redirect)
		finishedPage(t, "allowed again", b.post(e.issuer+"/consent", cf))
		finishedPage(t, "allowed again, the first answer lost", lost.post(e.issuer+"/consent", cf))

		other := e.signedInBrowser("bob@example.com")
		cf.Set("csrf_token", csrfOf(t, other.get(e.issuer+"/account")))
		expired(t, "posted by another person", other.post(e.issuer+"/consent", cf))
	})
}

// TestPasswordChangeSentAgain: the password form sent again after it changed the password
// (a reload, the back button). Before, the repeat said "The current password is incorrect"
// — the old one, which it was until a moment ago — and counted a failure toward the lock.
// Now it answers as the first did. A wrong current password is still wrong when the new one
// is not the password set by a change a moment ago, or that change is older.
func TestPasswordChangeSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	e.addUser("bob@example.com")
	const next = "a new long passphrase"
	b := e.signedInBrowser("ada@example.com")
	f := url.Values{"csrf_token": {csrfOf(t, b.get(e.issuer+"/account"))}, "current": {testPassword}, "password": {next}, "confirm": {next}}
	changed := "Your password was changed."
	if p := b.post(e.issuer+"/account/password", f); p.url.Path != "/account" || !strings.Contains(p.body, changed) {
		t.Fatalf("first answer: %d at %s:\n%.1200s", p.status, p.url, p.body)
	}
	again := b.post(e.issuer+"/account/password", f)
	if again.url.Path != "/account" || again.url.Query().Get("done") != "password" || !strings.Contains(again.body, changed) ||
		strings.Contains(again.body, "incorrect") {
		t.Errorf("sent again: %d at %s, want the first answer's page:\n%.1200s", again.status, again.url, again.body)
	}
	if nb := e.browser(); nb.submitLogin(nb.get(e.issuer+"/login"), "ada@example.com", next).url.Path != "/account" {
		t.Error("the new password does not sign in")
	}
	// Within the window, a form with two wrong passwords is two guesses, and counted as two:
	// the new-password field is no free second guess for a stolen session.
	before := e.events(t, "ada@example.com", "current_password_failed")
	f2 := url.Values{"csrf_token": {csrfOf(t, b.get(e.issuer+"/account"))}, "current": {"guess one"}, "password": {"guess two long"}, "confirm": {"guess two long"}}
	if p := b.post(e.issuer+"/account/password", f2); !strings.Contains(p.body, "The current password is incorrect.") {
		t.Errorf("two wrong passwords: %d at %s:\n%.1200s", p.status, p.url, p.body)
	}
	if n := e.events(t, "ada@example.com", "current_password_failed") - before; n != 2 {
		t.Errorf("two wrong passwords within the window counted %d failures, want 2", n)
	}

	// Someone else's form with a wrong current password and their real one as the new: no
	// change was made, so the current password is wrong, as before.
	bb := e.signedInBrowser("bob@example.com")
	g := url.Values{"csrf_token": {csrfOf(t, bb.get(e.issuer+"/account"))}, "current": {"not the password"}, "password": {testPassword}, "confirm": {testPassword}}
	if p := bb.post(e.issuer+"/account/password", g); !strings.Contains(p.body, "The current password is incorrect.") {
		t.Errorf("a wrong current password, no change made: %d at %s:\n%.1200s", p.status, p.url, p.body)
	}

	// Long after the change, the old form is answered as any wrong current password.
	e.clock.Advance(11 * time.Minute)
	f.Set("csrf_token", csrfOf(t, b.get(e.issuer+"/account")))
	if p := b.post(e.issuer+"/account/password", f); !strings.Contains(p.body, "The current password is incorrect.") {
		t.Errorf("sent again long after: %d at %s:\n%.1200s", p.status, p.url, p.body)
	}
}

// TestAppRemovalSentAgain: "Remove access" sent again after it removed the app's access.
// Before, the repeat answered 404 "There is no page at this address"; now it shows the
// first answer's page. An app that never had access, or whose access was not just removed
// by this person, is still not found.
func TestAppRemovalSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	e.addUser("bob@example.com")
	ctx := context.Background()
	a := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	e.tokens(ctx, b, a, "ada@example.com")
	f := url.Values{"csrf_token": {csrfOf(t, b.get(e.issuer+"/account"))}, "client_id": {a.ID}}
	removed := "The app no longer has access to your account."
	lost := e.lostAnswer(b)
	if p := b.post(e.issuer+"/account/apps/remove", f); !strings.Contains(p.body, removed) {
		t.Fatalf("first answer: %d at %s:\n%.1200s", p.status, p.url, p.body)
	}
	for name, br := range map[string]*browser{"sent again": b, "sent again, the first answer lost": lost} {
		if p := br.post(e.issuer+"/account/apps/remove", f); p.status != http.StatusOK || p.url.Query().Get("done") != "removed" || !strings.Contains(p.body, removed) {
			t.Errorf("%s: %d at %s, want the first answer's page:\n%.1200s", name, p.status, p.url, p.body)
		}
	}

	other := e.signedInBrowser("bob@example.com")
	g := url.Values{"csrf_token": {csrfOf(t, other.get(e.issuer+"/account"))}, "client_id": {a.ID}}
	if p := other.post(e.issuer+"/account/apps/remove", g); p.status != http.StatusNotFound {
		t.Errorf("another person removing the app: %d at %s, want 404", p.status, p.url)
	}
	e.clock.Advance(11 * time.Minute)
	f.Set("csrf_token", csrfOf(t, b.get(e.issuer+"/account")))
	if p := b.post(e.issuer+"/account/apps/remove", f); p.status != http.StatusNotFound {
		t.Errorf("sent again long after: %d at %s, want 404", p.status, p.url)
	}
}

// TestSignInStepsSentAgain: the profile form and the second step's code of an app's sign-in
// sent again after they completed it. Before, the profile form sent again went to the
// account page; the code sent again went to the account page with the first answer's
// cookies, and without them (the answer lost) said "This code was already used", counted a
// failed second step and mailed the owner that someone was stuck at it. Now both say that the
// sign-in to the app is complete; no second code goes to the app, nothing is counted. The
// code of a sign-in still open is refused as before, and a sign-in without an app goes on to
// the account as before.
func TestSignInStepsSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0) // a still clock: the TOTP codes are the server's
	const done = "is already complete"
	c := e.addClient(storage.ClientConfidential, firstParty)
	finishedPage := func(t *testing.T, what string, p *page) {
		t.Helper()
		if p.status != http.StatusOK || !strings.Contains(p.body, done) || p.header.Get("Location") != "" {
			t.Errorf("%s: %d at %s (Location %q), want the 'already complete' page:\n%.1200s", what, p.status, p.url, p.header.Get("Location"), p.body)
		}
	}

	t.Run("profile form", func(t *testing.T) {
		u := e.addUser("newcomer@example.com")
		if _, err := e.store.UpdateUser(context.Background(), u.ID, func(x *storage.User) error { x.Country, x.Region = "", ""; return nil }); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		p, _, _, _ := e.authorize(b, c)
		p = b.submitLogin(p, "newcomer@example.com", testPassword)
		f := p.formValues()
		if p.url.Path != "/profile" || f.Get("authRequestID") == "" {
			t.Fatalf("no profile page in the sign-in: %d at %s", p.status, p.url)
		}
		f.Set("country", "DE")
		f.Set("action", "country")
		regions := b.post(e.issuer+"/profile", f)
		f.Del("action")
		if i := strings.Index(regions.body, `name="region"`); i >= 0 {
			if m := optionRE.FindStringSubmatch(regions.body[i:]); m != nil {
				f.Set("region", m[1])
			}
		}
		lost := e.lostAnswer(b)
		redirectResult(t, b.post(e.issuer+"/profile", f), c.Redirect)
		finishedPage(t, "sent again", b.post(e.issuer+"/profile", f))
		finishedPage(t, "sent again, the first answer lost", lost.post(e.issuer+"/profile", f))

		// Without an app's sign-in the profile form still goes to the account page.
		g := url.Values{"csrf_token": {f.Get("csrf_token")}, "country": {"DE"}, "region": {f.Get("region")}}
		if p := b.post(e.issuer+"/profile", g); p.url.Path != "/account" {
			t.Errorf("profile form without a sign-in: %d at %s, want /account", p.status, p.url)
		}
	})

	t.Run("second step", func(t *testing.T) {
		b, key := e.userWithTOTP("twostep@example.com")
		u, err := e.store.GetUserByEmail(context.Background(), "twostep@example.com")
		if err != nil {
			t.Fatal(err)
		}
		p, _, _, _ := e.authorize(b, c)
		p = b.submitLogin(p, "twostep@example.com", testPassword)
		mustAt(t, p, "/mfa", "Two-step verification")
		f := url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "authRequestID": {p.formValues().Get("authRequestID")},
			"method": {"totp"}, "code": {e.totpNow(key)}}
		if f.Get("authRequestID") == "" {
			t.Fatalf("the second step's form does not name its sign-in:\n%.2000s", p.body)
		}
		lost := e.lostAnswer(b)
		redirectResult(t, b.post(e.issuer+"/mfa", f), c.Redirect)
		finishedPage(t, "sent again", b.post(e.issuer+"/mfa", f))
		finishedPage(t, "sent again, the first answer lost", lost.post(e.issuer+"/mfa", f))
		if n := auditCount(t, e, u.ID, "mfa_failed"); n != 0 {
			t.Errorf("%d failed second steps counted, want 0", n)
		}
		if n := auditCount(t, e, u.ID, "mfa_passed"); n != 1 {
			t.Errorf("%d passed second steps, want 1", n)
		}

		// Another sign-in of the same browser, still open: a spent code is refused as before.
		e.signOut(b)
		p, _, _, _ = e.authorize(b, c)
		p = b.submitLogin(p, "twostep@example.com", testPassword)
		f.Set("csrf_token", p.formValues().Get("csrf_token"))
		f.Set("authRequestID", p.formValues().Get("authRequestID"))
		if p := b.post(e.issuer+"/mfa", f); p.url.Path != "/mfa" || !strings.Contains(p.body, "This code was already used") {
			t.Errorf("a spent code in an open sign-in: %d at %s:\n%.1200s", p.status, p.url, p.body)
		}
	})
}

// TestPhoneFormsSentAgain: the phone number and its code sent again after they were done.
// Before, the number sent again answered 429 "You can ask for another code in …" beside the
// number, and the code sent again 422 "This code no longer works: it expired …" about a
// number just confirmed. Now each answers as the first did, and no second SMS goes out. A
// code whose verification expired is still refused as before, and so is an old form.
func TestPhoneFormsSentAgain(t *testing.T) {
	t.Parallel()
	e, g := phoneEnv(t, false, nil, envOptions{})
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	f := b.get(e.issuer + "/account/phone").formValues()
	f.Set("country", "DE")
	f.Set("number", "030 123456")
	lost := e.lostAnswer(b)
	p := b.post(e.issuer+"/account/phone", f)
	if p.status != http.StatusOK || fieldError(p) != "" || !strings.Contains(p.body, `autocomplete="one-time-code"`) {
		t.Fatalf("first answer: %d %q", p.status, fieldError(p))
	}
	for name, br := range map[string]*browser{"number sent again": b, "number sent again, the first answer lost": lost} {
		if again := br.post(e.issuer+"/account/phone", f); again.status != http.StatusOK || fieldError(again) != "" ||
			!strings.Contains(again.body, `autocomplete="one-time-code"`) {
			t.Errorf("%s: %d %q, want the first answer's code step", name, again.status, fieldError(again))
		}
	}
	_, code := smstest.Code(t, g.Wait(t))
	if n := len(g.Messages()); n != 1 {
		t.Errorf("%d SMS sent, want 1", n)
	}

	v := p.formValues()
	v.Set("code", code)
	lost = e.lostAnswer(b)
	confirmed := "Your phone number was confirmed."
	if p := b.post(e.issuer+"/account/phone/verify", v); p.status != http.StatusOK || !strings.Contains(p.body, confirmed) {
		t.Fatalf("first confirmation: %d at %s %q", p.status, p.url, fieldError(p))
	}
	for name, br := range map[string]*browser{"code sent again": b, "code sent again, the first answer lost": lost} {
		if again := br.post(e.issuer+"/account/phone/verify", v); again.status != http.StatusOK || again.url.Query().Get("done") != "verified" ||
			!strings.Contains(again.body, confirmed) {
			t.Errorf("%s: %d at %s %q, want the first answer's page", name, again.status, again.url, fieldError(again))
		}
	}

	// Long after (signed in again: the change needs a recent sign-in), the old form finds no
	// code, as before.
	e.clock.Advance(11 * time.Minute)
	b = e.signedInBrowser("ada@example.com")
	v.Set("csrf_token", csrfOf(t, b.get(e.issuer+"/account/phone")))
	f.Set("csrf_token", v.Get("csrf_token"))
	if again := b.post(e.issuer+"/account/phone/verify", v); again.status != http.StatusUnprocessableEntity || !strings.Contains(again.body, "no longer works") {
		t.Errorf("code sent again long after: %d at %s", again.status, again.url)
	}
	// A code for a new number that expired unused is not taken for the confirmed one.
	f.Set("number", "030 654321")
	if p := b.post(e.issuer+"/account/phone", f); p.status != http.StatusOK {
		t.Fatalf("second number: %d %q", p.status, fieldError(p))
	}
	g.Wait(t)
	e.clock.Advance(phone.CodeTTL)
	b = e.signedInBrowser("ada@example.com")
	v.Set("csrf_token", csrfOf(t, b.get(e.issuer+"/account/phone")))
	if again := b.post(e.issuer+"/account/phone/verify", v); again.status != http.StatusUnprocessableEntity || !strings.Contains(again.body, "no longer works") {
		t.Errorf("code of an expired verification: %d at %s", again.status, again.url)
	}
}

// TestTOTPConfirmationSentAgainLater: the authenticator app's confirmation sent again once
// its code's 30 seconds had passed (the answer lost, then a retry; a reload later) said "The
// code is not correct" although the app was added. The one rule of an enrolment confirmed
// twice (mfa.FinishTOTP: ErrEnrolmentDone) now answers it, with the page the first answer
// showed; a wrong code of an enrolment not stored still is one.
func TestTOTPConfirmationSentAgainLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.addUser("ada@example.com")
	b := e.browser()
	e.passwordSignIn(b, "ada@example.com")
	p := b.get(e.issuer + "/account/security")
	f := p.formValues()
	f.Del("id")
	p = b.post(e.issuer+"/account/security/totp", f)
	m := totpKeyRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no key on the enrolment page:\n%.1500s", p.body)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	form := p.formValues()
	form.Set("code", e.totpNow(key))
	if first := b.post(e.issuer+"/account/security/totp/confirm", form); first.status != http.StatusOK || strings.Contains(first.body, "The code is not correct") {
		t.Fatalf("confirming: %d at %s:\n%.1200s", first.status, first.url, first.body)
	}
	e.clock.Advance(2 * time.Minute)
	form.Set("csrf_token", csrfOf(t, b.get(e.issuer+"/account/security")))
	again := b.post(e.issuer+"/account/security/totp/confirm", form)
	if again.url.Query().Get("done") != "totp" || strings.Contains(again.body, "The code is not correct") {
		t.Errorf("sent again two minutes later: %d at %s, want the page the first answer showed:\n%.1200s", again.status, again.url, again.body)
	}
	if n := len(e.factors(u.ID)); n != 1 {
		t.Errorf("%d factors after the repeat, want 1", n)
	}
}

// TestSecondStepSentAgainAnswerLost: the second step of a sign-in to the account (no app)
// sent again by a browser that never got the first answer. Before, the spent code was taken
// for someone at the second step: "This code was already used", a failed step counted, and
// the owner mailed that someone had entered their password. The pending sign-in now names
// the session it made (its id is derived from the sealed pending cookie), so its own repeat
// is told the sign-in is complete, and nobody is warned; no session is given again. The same
// code sent by another sign-in (someone who knows the password and saw the code) is still
// refused, counted and reported.
func TestSecondStepSentAgainAnswerLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const email = "lost.step@example.com"
	b, key := e.userWithTOTP(email)
	u, err := e.store.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	stranger := e.browser()
	sp := e.passwordSignIn(stranger, email) // the password known to someone else too
	mustAt(t, sp, "/mfa", "Two-step verification")

	p := e.passwordSignIn(b, email)
	mustAt(t, p, "/mfa", "Two-step verification")
	code := e.totpNow(key)
	f := url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "method": {"totp"}, "code": {code}}
	lost := e.lostAnswer(b)
	if first := b.post(e.issuer+"/mfa", f); first.url.Path != "/account" {
		t.Fatalf("the second step: %d at %s", first.status, first.url)
	}
	again := lost.post(e.issuer+"/mfa", f)
	if again.status != http.StatusOK || !strings.Contains(again.body, "This sign-in is already complete") || !strings.Contains(again.body, `href="/login"`) {
		t.Errorf("sent again, the first answer lost: %d at %s, want the sign-in complete page:\n%.1200s", again.status, again.url, again.body)
	}
	if strings.Contains(lost.get(e.issuer+"/account").body, email) {
		t.Error("the repeat gave the browser that lost the answer a session")
	}
	if n := auditCount(t, e, u.ID, "mfa_failed"); n != 0 {
		t.Errorf("%d failed second steps counted for the person's own repeat, want 0", n)
	}

	// The stranger's sign-in with the code the person just used: refused and reported.
	g := url.Values{"csrf_token": {sp.formValues().Get("csrf_token")}, "method": {"totp"}, "code": {code}}
	if sp := stranger.post(e.issuer+"/mfa", g); !strings.Contains(sp.body, "This code was already used") {
		t.Errorf("another sign-in with the spent code: %d at %s:\n%.1200s", sp.status, sp.url, sp.body)
	}
	if n := auditCount(t, e, u.ID, "mfa_failed"); n != 1 {
		t.Errorf("%d failed second steps counted after the stranger's, want 1", n)
	}
}
