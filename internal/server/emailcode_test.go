package server_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/storage"
)

// Emailed sign-in codes for new browsers (mfa.email_code_for_new_browsers): an account without
// an authenticator app or security key gets a 6-digit code by email when it signs in from a
// browser that is not remembered. The code is single use, resending is rate limited, a
// correct code remembers the browser, it never counts as a second factor in amr/acr, and an
// account with a real second factor is never offered it.

// signInCodeRE finds the code on a line of its own in the mail's text part.
var signInCodeRE = regexp.MustCompile(`(?m)^[ \t]*([0-9]{6})[ \t]*$`)

// signInCode waits for the next mail to `to`, checks it is a sign-in code and returns the code.
func (e *testEnv) signInCode(to string) string {
	e.t.Helper()
	m := e.smtp.WaitFor(e.t, to, mailWait)
	if !strings.Contains(m.Subject, "sign-in code") {
		e.t.Fatalf("expected a sign-in code mail, got %q:\n%s", m.Subject, m.Text)
	}
	found := signInCodeRE.FindAllStringSubmatch(m.Text, -1)
	if len(found) != 1 {
		e.t.Fatalf("want exactly one 6-digit code in the sign-in mail, found %d:\n%s", len(found), m.Text)
	}
	code := found[0][1]
	if m.HTML != "" && !strings.Contains(m.HTML, code) {
		e.t.Errorf("the HTML part of the sign-in mail lacks the code %s", code)
	}
	return code
}

// mailCount is how many messages the SMTP server has received so far. Mail goes out within the
// request that causes it, so after a response this count is final for that request.
func (e *testEnv) mailCount() int { return len(e.smtp.Messages()) }

// otherCode is a well-formed 6-digit code that is not code.
func otherCode(t testing.TB, code string) string {
	return fmt.Sprintf("%06d", (mustAtoi(t, code)+500001)%1000000)
}

// cloneBrowser returns a second browser holding the same cookies as b for the issuer: an
// attacker who copied them, or the same form posted twice.
func (e *testEnv) cloneBrowser(b *browser) *browser {
	e.t.Helper()
	c := e.browser()
	u, _ := url.Parse(e.issuer + "/")
	var cookies []*http.Cookie
	for _, ck := range b.c.Jar.Cookies(u) {
		cookies = append(cookies, &http.Cookie{Name: ck.Name, Value: ck.Value, Path: "/"})
	}
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, cookies)
	c.c.Jar = jar
	return c
}

// hasCookie reports whether b holds a cookie called name for the issuer.
func (e *testEnv) hasCookie(b *browser, name string) bool {
	u, _ := url.Parse(e.issuer + "/")
	return slices.ContainsFunc(b.c.Jar.Cookies(u), func(ck *http.Cookie) bool { return ck.Name == name })
}

// emailResend presses "Didn't get the code? Send a new one" on the /mfa page p.
func (b *browser) emailResend(p *page) *page {
	b.t.Helper()
	mustAt(b.t, p, "/mfa", "Two-step verification", `value="email_resend"`)
	return b.post(b.issuer+"/mfa", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "method": {"email_resend"}})
}

// mustEmailCodeStep fails unless p is the two-step page offering the emailed code (and only it).
func mustEmailCodeStep(t testing.TB, p *page, email string) {
	t.Helper()
	mustAt(t, p, "/mfa", "Two-step verification", `id="email-code"`, `value="email_resend"`, "Send a new one",
		"We sent a 6-digit code to "+email)
	for _, other := range []string{`id="totp-code"`, `id="webauthn-verify"`, `value="recovery_code"`} {
		if strings.Contains(p.body, other) {
			t.Errorf("the email-code step also offers %s", other)
		}
	}
}

func TestEmailCodeForNewBrowser(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), configure: func(c *config.Config) {
		c.MFA.EmailCodeForNewBrowsers = true
	}})
	e.clock.Advance(0) // a still clock: rate-limit windows and TOTP steps move only when the test says
	const email = "email.code@example.com"
	e.addUser(email)
	app := e.addClient(storage.ClientConfidential, firstParty)

	// 1. Browser 1 signs in to a product with the password: the emailed-code step follows,
	// with no session yet.
	b1 := e.browser()
	p, state, verifier, nonce := e.authorize(b1, app)
	p = b1.submitLogin(p, email, testPassword)
	mustEmailCodeStep(t, p, email)
	if e.hasCookie(b1, e.cfg.Session.CookieName) {
		t.Error("a session cookie was set after the password alone")
	}
	code1 := e.signInCode(email)

	// A wrong code fails.
	p = b1.mfaPost(p, "email_code", otherCode(t, code1), false)
	mustAt(t, p, "/mfa", "The code is not correct.", `id="email-code"`)

	// Someone holding a copy of this browser's cookies, posting the same code after it was used.
	replay := e.cloneBrowser(b1)
	replayPage := p

	// The right code signs in and continues the product's request.
	p = b1.mfaPost(p, "email_code", code1, false)
	cl := e.idTokenAt(p, app, state, verifier, nonce)
	t.Logf("ID token after password + emailed code: amr=%q acr=%q", cl.AMR, cl.ACR)
	for _, want := range []string{mfa.AMRPassword, mfa.AMREmail} {
		if !slices.Contains(cl.AMR, want) {
			t.Errorf("amr %q lacks %q", cl.AMR, want)
		}
	}
	for _, not := range []string{mfa.AMRMFA, mfa.AMROTP} {
		if slices.Contains(cl.AMR, not) {
			t.Errorf("amr %q claims %q, but an emailed code is no second factor", cl.AMR, not)
		}
	}
	if cl.ACR != "urn:myaccount:acr:1fa" { // mfa.ACR1FA
		t.Errorf("acr %q, want urn:myaccount:acr:1fa (emailed codes never count as MFA)", cl.ACR)
	}
	if !e.hasCookie(b1, "myaccount_trusted") {
		t.Error("the browser was not remembered after a correct emailed code")
	}

	// The same code does not work twice: the copy, which cannot be told from the browser that
	// lost the first answer, hears that the sign-in is complete (TestSignInStepsSentAgain),
	// and gets no session.
	p = replay.mfaPost(replayPage, "email_code", code1, false)
	mustAt(t, p, "/mfa", "is already complete")
	if e.hasCookie(replay, e.cfg.Session.CookieName) {
		t.Error("a used code gave the copied browser a session")
	}

	// 2. Browser 1 is remembered: signing in again asks for no code and mails none.
	e.signOut(b1)
	sent := e.mailCount()
	p = e.passwordSignIn(b1, email)
	mustAt(t, p, "/account", "Your account", email)
	if n := e.mailCount() - sent; n != 0 {
		t.Errorf("%d mails sent for a sign-in from the remembered browser", n)
	}

	// 3. Browser 2 is new: asked again. (A new ten-minute window first, so that the resend
	// limit below counts this browser's codes only.)
	e.clock.Advance(11 * time.Minute)
	b2 := e.browser()
	p = e.passwordSignIn(b2, email)
	mustEmailCodeStep(t, p, email)
	code2 := e.signInCode(email)
	if code2 != code1 {
		p = b2.mfaPost(p, "email_code", code1, false)
		mustAt(t, p, "/mfa", "The code is not correct.")
	}

	// Resending works: a new code arrives, and the previous one stops working.
	p = b2.emailResend(p)
	mustAt(t, p, "/mfa", "We sent a new code.", `id="email-code"`)
	code3 := e.signInCode(email)
	if code3 != code2 {
		p = b2.mfaPost(p, "email_code", code2, false)
		mustAt(t, p, "/mfa", "The code is not correct.")
	}

	// At most 3 codes per 10 minutes per account, the one sent at sign-in included: the second
	// resend is the third code, the third resend is refused and mails nothing.
	p = b2.emailResend(p)
	mustAt(t, p, "/mfa", "We sent a new code.")
	code4 := e.signInCode(email)
	sent = e.mailCount()
	p = b2.emailResend(p)
	mustAt(t, p, "/mfa", "Too many requests. Please try again later.", `id="email-code"`)
	if n := e.mailCount() - sent; n != 0 {
		t.Errorf("%d mails sent past the resend limit", n)
	}
	// The last code mailed still works.
	p = b2.mfaPost(p, "email_code", code4, false)
	mustAt(t, p, "/account", "Your account", email)
	if !e.hasCookie(b2, "myaccount_trusted") {
		t.Error("browser 2 was not remembered after a correct emailed code")
	}

	// 4. An account with an authenticator app is never offered the emailed code. It has none
	// yet, so its first sign-in goes through an emailed code; then it adds the app.
	const strong = "totp.user@example.com"
	e.addUser(strong)
	t1 := e.browser()
	p = e.passwordSignIn(t1, strong)
	mustEmailCodeStep(t, p, strong)
	p = t1.mfaPost(p, "email_code", e.signInCode(strong), false)
	mustAt(t, p, "/account", "Your account", strong)
	key, p := e.enrolTOTP(t1, t1.get(e.issuer+"/account/security"), "Phone")
	mustAt(t, p, "/account/security", "The authenticator app was added.", "Phone")
	if m := e.smtp.WaitFor(t, strong, mailWait); !strings.Contains(m.Subject, "second factor was added") {
		t.Errorf("after enrolment, mail %q, want the factor-added notice", m.Subject)
	}
	e.signOut(t1)

	// A new browser gets the app's step, no emailed code, and no mail.
	e.nextTOTPStep()
	t2 := e.browser()
	sent = e.mailCount()
	p = e.passwordSignIn(t2, strong)
	mustAt(t, p, "/mfa", "Two-step verification", `id="totp-code"`)
	for _, s := range []string{`id="email-code"`, `value="email_resend"`, "Send a new one", "We sent a 6-digit code"} {
		if strings.Contains(p.body, s) {
			t.Errorf("an account with an authenticator app is offered the emailed code (%s)", s)
		}
	}
	// Nor can the emailed code be asked for or used by posting the form anyway.
	f := url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "method": {"email_resend"}}
	if q := t2.post(e.issuer+"/mfa", f); q.status != http.StatusBadRequest || !strings.Contains(q.body, "Choose one of the ways offered.") {
		t.Errorf("a forced email_resend: %d at %s, want 400 %q", q.status, q.url, "Choose one of the ways offered.")
	}
	f.Set("method", "email_code")
	f.Set("code", "123456")
	if q := t2.post(e.issuer+"/mfa", f); q.status != http.StatusBadRequest || !strings.Contains(q.body, "Choose one of the ways offered.") {
		t.Errorf("a forced email_code: %d at %s, want 400 %q", q.status, q.url, "Choose one of the ways offered.")
	}
	if n := e.mailCount() - sent; n != 0 {
		for _, m := range e.smtp.Messages()[sent:] {
			t.Logf("mail to %v: %q", m.To, m.Subject)
		}
		t.Errorf("%d mails sent to an account with an authenticator app during its sign-in", n)
	}
	p = t2.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/account", "Your account", strong)

	// The browser remembered through the emailed code does not skip the new factor.
	e.nextTOTPStep()
	p = e.passwordSignIn(t1, strong)
	mustAt(t, p, "/mfa", "Two-step verification", `id="totp-code"`)
}
