package server_test

import (
	"context"
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
	"github.com/myaccount/myaccount/storage"
)

const mailWait = 10 * time.Second

func newMailEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnvWith(t, envOptions{smtp: mailtest.NewServer(t)})
}

// register fills in the registration form shown on p (answering its captcha) and posts it.
func (e *testEnv) register(b *browser, p *page, email, password, confirm string) *page {
	e.t.Helper()
	if !strings.Contains(p.body, `action="/register"`) {
		e.t.Fatalf("expected the registration page, got %d at %s:\n%.500s", p.status, p.url, p.body)
	}
	f := p.formValues()
	f.Set("email", email)
	f.Set("password", password)
	f.Set("confirm", confirm)
	f.Set("captcha", e.tape.answer(e.t))
	f.Set("action", "create")
	return b.post(e.issuer+"/register", f)
}

// followMail waits for a mail to addr and follows its first link below path.
func (e *testEnv) mailLink(addr, path string) (string, mailtest.Received) {
	e.t.Helper()
	m := e.smtp.WaitFor(e.t, addr, mailWait)
	link := mailtest.FirstLink(m.Text, e.issuer+path)
	if link == "" {
		e.t.Fatalf("no %s link in the mail %q:\n%s", path, m.Subject, m.Text)
	}
	return link, m
}

// confirmLink opens a link that asks for a click (activation, email change) and clicks.
func (b *browser) confirmLink(link string) *page {
	b.t.Helper()
	p := b.get(link)
	f := p.formValues()
	if f.Get("token") == "" {
		b.t.Fatalf("expected a confirmation page at %s, got %d:\n%.400s", link, p.status, p.body)
	}
	action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(p.body)
	return b.post(b.issuer+action[1], f)
}

var optionRE = regexp.MustCompile(`<option value="([^"]+)"`)

// completeProfile fills the profile page p: country (and its first region when asked).
func (e *testEnv) completeProfile(b *browser, p *page, country string) *page {
	e.t.Helper()
	if !strings.Contains(p.body, `action="/profile"`) {
		e.t.Fatalf("expected the profile page, got %d at %s:\n%.500s", p.status, p.url, p.body)
	}
	f := p.formValues()
	f.Set("country", country)
	f.Set("zoneinfo", "Europe/Berlin")
	f.Set("date_format", "dmy-dot")
	f.Set("action", "country")
	p = b.post(e.issuer+"/profile", f) // the page now lists the country's regions
	f = p.formValues()
	f.Set("country", country)
	f.Set("zoneinfo", "Europe/Berlin")
	f.Set("date_format", "dmy-dot")
	if i := strings.Index(p.body, `name="region"`); i >= 0 {
		if m := optionRE.FindStringSubmatch(p.body[i:]); m != nil {
			f.Set("region", m[1])
		}
	}
	return b.post(e.issuer+"/profile", f)
}

func TestRegisterActivateProfileDashboard(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	b := e.browser()
	p := e.register(b, b.get(e.issuer+"/register"), "New.Person@example.com", "a fine long passphrase", "a fine long passphrase")
	if !strings.Contains(p.body, "New.Person@example.com") || p.status != 200 {
		t.Fatalf("after registration: %d\n%.400s", p.status, p.body)
	}
	// The account is created by the outbox worker, which mails the link (Register queues
	// the registration): the mail says it exists.
	link, m := e.mailLink("New.Person@example.com", "/activate?token=")
	// Pending: cannot sign in, and says so only with the right password.
	lp := b.submitLogin(b.get(e.issuer+"/login"), "new.person@example.com", "a fine long passphrase")
	if !strings.Contains(lp.body, "activate your account") {
		t.Errorf("pending sign-in: want the activate-first message, got %.300s", lp.body)
	}
	lp = b.submitLogin(b.get(e.issuer+"/login"), "new.person@example.com", "wrong wrong wrong")
	if strings.Contains(lp.body, "activate your account") {
		t.Error("pending state revealed without the right password")
	}
	if m.HTML == "" || !strings.Contains(m.Subject, "My Account") {
		t.Errorf("activation mail: subject %q, html %d bytes", m.Subject, len(m.HTML))
	}
	p = b.confirmLink(link)
	if p.url.Path != "/login" || !strings.Contains(p.body, "Your email address is confirmed") {
		t.Fatalf("activation led to %d %s, want the sign-in page saying the address is confirmed", p.status, p.url)
	}
	// Opening the link signed nobody in (hardening 9: no session by link).
	if ap := b.get(e.issuer + "/account"); strings.Contains(ap.body, "New.Person@example.com") {
		t.Fatal("the activation link signed the browser in")
	}
	p = b.submitLogin(b.get(e.issuer+"/login"), "new.person@example.com", "a fine long passphrase")
	if p.url.Path != "/profile" {
		t.Fatalf("first sign-in led to %d %s, want the profile page", p.status, p.url)
	}
	// The link works once; used again, it goes where it went (TestActivationLinkUsedAgain).
	if p2 := e.browser().confirmLink(link); p2.url.RequestURI() != "/login?activated=1" || !strings.Contains(p2.body, "Your email address is confirmed") {
		t.Errorf("second activation: %d %s", p2.status, p2.url)
	}
	dash := e.completeProfile(b, p, "DE")
	if dash.url.Path != "/account" {
		t.Fatalf("profile apply -> %d %s\n%.600s", dash.status, dash.url, dash.body)
	}
	for _, want := range []string{"New.Person@example.com", "Deutschland", "Berlin", "Account activated"} {
		if !strings.Contains(dash.body, want) && !(want == "Deutschland" && strings.Contains(dash.body, "Germany")) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	// Sign out, sign in again with the password.
	b.post(e.issuer+"/logout", dash.formValues())
	if p := b.get(e.issuer + "/account"); p.status != http.StatusFound && !strings.Contains(p.body, `action="/login"`) {
		t.Fatalf("still signed in after sign-out: %d", p.status)
	}
	p = b.submitLogin(b.get(e.issuer+"/login"), "new.person@example.com", "a fine long passphrase")
	if p.url.Path != "/account" || !strings.Contains(p.body, "New.Person@example.com") {
		t.Fatalf("sign-in after activation: %d %s", p.status, p.url)
	}
}

func TestRegisterFromAuthorizationRequest(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	verifier, _ := pkce()
	cfg := e.oauth2Config(c, gooidc.ScopeOpenID, "email", "profile", "address")
	p := b.get(cfg.AuthCodeURL("st8", oauth2.S256ChallengeOption(verifier)))
	regLink := regexp.MustCompile(`href="(/register\?authRequestID=[^"]+)"`).FindStringSubmatch(p.body)
	if regLink == nil {
		t.Fatalf("sign-in page has no registration link carrying the request:\n%.600s", p.body)
	}
	rp := b.get(e.issuer + strings.ReplaceAll(regLink[1], "&amp;", "&"))
	if !strings.Contains(rp.body, c.c.Name) {
		t.Error("registration page does not say which product asks")
	}
	e.register(b, rp, "app.user@example.com", "another long passphrase", "another long passphrase")
	link, _ := e.mailLink("app.user@example.com", "/activate?token=")
	p = b.confirmLink(link)
	if !strings.Contains(p.body, c.c.Name) {
		t.Errorf("sign-in after activation does not say which product asks:\n%.400s", p.body)
	}
	p = e.completeProfile(b, b.submitLogin(p, "app.user@example.com", "another long passphrase"), "FR")
	res := redirectResult(t, p, c.Redirect)
	if res.code == "" || res.state != "st8" {
		t.Fatalf("no code after registration: %+v", res)
	}
	tok, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var cl struct {
		Email    string `json:"email"`
		Zoneinfo string `json:"zoneinfo"`
		Address  struct {
			Country string `json:"country"`
		} `json:"address"`
	}
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if cl.Email != "app.user@example.com" || cl.Zoneinfo != "Europe/Berlin" || cl.Address.Country != "FR" {
		t.Errorf("ID token profile claims = %+v", cl)
	}
}

func TestRegistrationFieldErrorsAndCaptcha(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	b := e.browser()
	tests := []struct {
		name, email, pw, confirm, field string
	}{
		{"invalid email", "not-an-email", "a fine long passphrase", "a fine long passphrase", "email-error"},
		{"passwords differ", "x@example.com", "a fine long passphrase", "a different passphrase", "confirm-error"},
		{"too short", "x@example.com", "short", "short", "password-error"},
		{"too long", "x@example.com", strings.Repeat("x", 129), strings.Repeat("x", 129), "password-error"},
		{"common", "x@example.com", "password1234", "password1234", "password-error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.register(b, b.get(e.issuer+"/register"), tt.email, tt.pw, tt.confirm)
			if !strings.Contains(p.body, `id="`+tt.field+`"`) {
				t.Errorf("want %s on the page", tt.field)
			}
			if !strings.Contains(p.body, `value="`+tt.email+`"`) {
				t.Error("the typed email was not kept")
			}
			// A password that was itself fine is kept (a slip elsewhere must not cost the
			// typing); one that was the problem is not.
			if kept := strings.Contains(p.body, `value="`+tt.pw+`"`); kept != (tt.field == "email-error") {
				t.Errorf("password kept on the page: %v, want %v", kept, tt.field == "email-error")
			}
			if cc := p.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("registration page Cache-Control %q, want no-store", cc)
			}
		})
	}
	t.Run("wrong captcha", func(t *testing.T) {
		p := b.get(e.issuer + "/register")
		f := p.formValues()
		e.tape.answer(t)
		f.Set("email", "cap@example.com")
		f.Set("password", "a fine long passphrase")
		f.Set("confirm", "a fine long passphrase")
		f.Set("captcha", "000000x")
		p = b.post(e.issuer+"/register", f)
		if !strings.Contains(p.body, `id="captcha-error"`) {
			t.Error("wrong captcha accepted")
		}
	})
	t.Run("captcha reuse", func(t *testing.T) {
		p := b.get(e.issuer + "/register")
		f := p.formValues()
		f.Set("email", "reuse@example.com")
		f.Set("password", "a fine long passphrase")
		f.Set("confirm", "a fine long passphrase")
		f.Set("captcha", e.tape.answer(t))
		if p := b.post(e.issuer+"/register", f); !strings.Contains(p.body, "reuse@example.com") || strings.Contains(p.body, "captcha-error") {
			t.Fatalf("first use refused: %.300s", p.body)
		}
		f.Set("email", "reuse2@example.com")
		if p := b.post(e.issuer+"/register", f); !strings.Contains(p.body, `id="captcha-error"`) {
			t.Error("a used captcha was accepted again")
		}
	})
	t.Run("captcha expiry", func(t *testing.T) {
		p := b.get(e.issuer + "/register")
		f := p.formValues()
		f.Set("email", "late@example.com")
		f.Set("password", "a fine long passphrase")
		f.Set("confirm", "a fine long passphrase")
		f.Set("captcha", e.tape.answer(t))
		e.clock.Advance(11 * time.Minute)
		if p := b.post(e.issuer+"/register", f); !strings.Contains(p.body, `id="captcha-error"`) {
			t.Error("an expired captcha was accepted")
		}
		e.tape.answer(t) // the new picture on the error page
	})
}

func TestRegisterExistingEmailLooksTheSame(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.addUser("taken@example.com")
	b := e.browser()
	norm := func(p *page, email string) string {
		return hiddenRE.ReplaceAllString(strings.ReplaceAll(p.body, email, "EMAIL"), "")
	}
	pNew := e.register(b, b.get(e.issuer+"/register"), "fresh@example.com", "a fine long passphrase", "a fine long passphrase")
	pOld := e.register(b, b.get(e.issuer+"/register"), "Taken@Example.com", "a fine long passphrase", "a fine long passphrase")
	if pNew.status != pOld.status || norm(pNew, "fresh@example.com") != norm(pOld, "Taken@Example.com") {
		t.Errorf("new and existing email give different pages:\n%s\n---\n%s", norm(pNew, "fresh@example.com"), norm(pOld, "Taken@Example.com"))
	}
	m := e.smtp.WaitFor(t, "taken@example.com", mailWait)
	if !strings.Contains(strings.ToLower(m.Subject+m.Text), "sign") {
		t.Errorf("owner notice: %q\n%s", m.Subject, m.Text)
	}
	us, _ := e.store.ListUsers(context.Background())
	n := 0
	for _, u := range us {
		if u.EmailNormalized == "taken@example.com" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d accounts for taken@example.com", n)
	}
}

// TestRegistrationNoticesAreLimited: each registration of a taken address mails its owner a
// notice; someone solving captchas must not get to fill that mailbox. The owner hears of at
// most three an hour; every attempt is still in their activity log, and the page is the same.
func TestRegistrationNoticesAreLimited(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	owner := e.addUser("taken@example.com")
	const pw = "a fine long passphrase"
	attempt := func() {
		b := e.browser()
		if p := e.register(b, b.get(e.issuer+"/register"), "taken@example.com", pw, pw); p.status != http.StatusOK {
			t.Fatalf("registration: %d", p.status)
		}
	}
	attempts := func() int {
		evs, err := e.store.ListAuditEvents(context.Background(), owner.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Type == "registration_attempt" {
				n++
			}
		}
		return n
	}
	// settled waits until the worker has handled every attempt, then until a new account's
	// activation mail, queued after them, went out: a notice allowed to them would be out too.
	settled := func(want int, fresh string) {
		t.Helper()
		deadline := time.Now().Add(mailWait)
		for attempts() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d attempts recorded, want %d", attempts(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		b := e.browser()
		e.register(b, b.get(e.issuer+"/register"), fresh, pw, pw)
		e.smtp.WaitFor(t, fresh, mailWait)
	}
	notices := func() int {
		n := 0
		for _, m := range e.smtp.Messages() {
			if slices.Contains(m.To, "taken@example.com") {
				n++
			}
		}
		return n
	}
	for range 6 {
		attempt()
	}
	settled(6, "fresh1@example.com")
	if n := notices(); n != 3 {
		t.Fatalf("six registrations of a taken address mailed its owner %d notices, want 3", n)
	}
	e.clock.Advance(time.Hour + time.Minute)
	attempt()
	settled(7, "fresh2@example.com")
	if n := notices(); n != 4 {
		t.Fatalf("an hour later the owner got %d notices in all, want 4", n)
	}
}

func TestPasswordResetFlow(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	old := e.browser()
	tok := e.tokens(ctx, old, c, "ada@example.com")
	b := e.browser()
	forgot := func(email string) *page {
		f := b.get(e.issuer + "/forgot").formValues()
		f.Set("email", email)
		return b.post(e.issuer+"/forgot", f)
	}
	known, unknown := forgot("ada@example.com"), forgot("nobody@example.com")
	if known.status != unknown.status || strings.ReplaceAll(hiddenRE.ReplaceAllString(known.body, ""), "ada@example.com", "E") !=
		strings.ReplaceAll(hiddenRE.ReplaceAllString(unknown.body, ""), "nobody@example.com", "E") {
		t.Error("forgot-password answers differ for known and unknown emails")
	}
	link, _ := e.mailLink("ada@example.com", "/reset?token=")
	rp := b.get(link)
	if rp.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("reset page Referrer-Policy = %q", rp.header.Get("Referrer-Policy"))
	}
	f := rp.formValues()
	f.Set("password", "a brand new passphrase")
	f.Set("confirm", "a brand new passphrase")
	if p := b.post(e.issuer+"/reset", f); p.status != 200 || !strings.Contains(p.body, "sign in with the new one") {
		t.Fatalf("reset: %d %.300s", p.status, p.body)
	}
	if p := b.post(e.issuer+"/reset", f); !strings.Contains(p.body, "already changed with this link") {
		t.Errorf("reset link reused: %d %.300s", p.status, p.body)
	}
	// Old sessions and refresh tokens are gone.
	if st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret); st != 400 {
		t.Errorf("refresh token survived the reset: %d", st)
	}
	if p := old.get(e.issuer + "/account"); strings.Contains(p.body, "ada@example.com") {
		t.Error("old browser session survived the reset")
	}
	e.smtp.WaitFor(t, "ada@example.com", mailWait) // password-changed notice
	p := b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", "a brand new passphrase")
	if p.url.Path != "/account" && p.url.Path != "/profile" {
		t.Errorf("sign-in with the new password: %d %s", p.status, p.url)
	}
}

func TestLockoutAndUnlockByReset(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.addUser("ada@example.com")
	b := e.browser()
	try := func(email, pw string) *page { return b.submitLogin(b.get(e.issuer+"/login"), email, pw) }
	for _, email := range []string{"ada@example.com", "ghost@example.com"} {
		for i := 0; i < 4; i++ {
			if p := try(email, "wrong password"); !strings.Contains(p.body, "incorrect") {
				t.Fatalf("%s attempt %d: %.200s", email, i+1, p.body)
			}
		}
		if p := try(email, "wrong password"); !strings.Contains(p.body, "Too many failed sign-in attempts") {
			t.Fatalf("%s: 5th failure does not lock: %.300s", email, p.body)
		}
	}
	// Locked: even the right password is refused, with the same message.
	if p := try("ada@example.com", testPassword); !strings.Contains(p.body, "Too many failed sign-in attempts") {
		t.Error("right password accepted while locked")
	}
	m := e.smtp.WaitFor(t, "ada@example.com", mailWait)
	if mailtest.FirstLink(m.Text, e.issuer+"/forgot") == "" {
		t.Errorf("lockout mail has no reset link: %s", m.Text)
	}
	// A reset lifts the lock.
	f := b.get(e.issuer + "/forgot").formValues()
	f.Set("email", "ada@example.com")
	b.post(e.issuer+"/forgot", f)
	link, _ := e.mailLink("ada@example.com", "/reset?token=")
	f = b.get(link).formValues()
	f.Set("password", "a brand new passphrase")
	f.Set("confirm", "a brand new passphrase")
	b.post(e.issuer+"/reset", f)
	signedIn := func(p *page) bool { return p.url.Path == "/account" || p.url.Path == "/profile" }
	if p := try("ada@example.com", "a brand new passphrase"); !signedIn(p) {
		t.Errorf("still locked after reset: %d %.200s", p.status, p.body)
	}
	b.post(e.issuer+"/logout", b.get(e.issuer+"/logout").formValues())
	// The lock expires by itself too.
	for i := 0; i < 5; i++ {
		try("ada@example.com", "wrong password")
	}
	if p := try("ada@example.com", "a brand new passphrase"); signedIn(p) {
		t.Error("not locked again after 5 more failures")
	}
	e.clock.Advance(16 * time.Minute)
	if p := try("ada@example.com", "a brand new passphrase"); !signedIn(p) {
		t.Errorf("lock did not expire: %d %.200s", p.status, p.body)
	}
}

func TestResendLimitAndPurge(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	b := e.browser()
	e.register(b, b.get(e.issuer+"/register"), "slow@example.com", "a fine long passphrase", "a fine long passphrase")
	e.smtp.WaitFor(t, "slow@example.com", mailWait)
	count := func() int {
		n := 0
		for _, m := range e.smtp.Messages() {
			for _, to := range m.To {
				if to == "slow@example.com" {
					n++
				}
			}
		}
		return n
	}
	for i := 0; i < 6; i++ {
		b.post(e.issuer+"/activate/resend", url.Values{"csrf_token": {b.get(e.issuer + "/login").formValues().Get("csrf_token")}, "email": {"slow@example.com"}})
	}
	time.Sleep(300 * time.Millisecond)
	if n := count(); n != 1+3 {
		t.Errorf("%d activation mails after 6 resends, want 4 (1 + 3 allowed per hour)", n)
	}
	// Day 4 and a bit: the reminder. Day 5 and a bit: the account is gone.
	e.clock.Advance(4*24*time.Hour + time.Hour)
	e.srv.PurgePending(ctx)
	time.Sleep(300 * time.Millisecond)
	if n := count(); n != 5 {
		t.Errorf("no reminder mail (%d mails)", n)
	}
	e.srv.PurgePending(ctx) // runs twice (two instances): one reminder only
	if n := count(); n != 5 {
		t.Errorf("reminder sent twice (%d mails)", n)
	}
	active := e.addUser("kept@example.com")
	e.clock.Advance(24 * time.Hour)
	e.srv.PurgePending(ctx)
	if _, err := e.store.GetUserByEmail(ctx, "slow@example.com"); err == nil {
		t.Error("unactivated account not deleted after 5 days")
	}
	if _, err := e.store.GetUser(ctx, active.ID); err != nil {
		t.Errorf("active account deleted: %v", err)
	}
}

func TestAccountFormsNeedCSRF(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.addUser("ada@example.com")
	b := e.browser()
	b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", testPassword)
	for _, path := range []string{"/register", "/activate", "/activate/resend", "/forgot", "/reset", "/profile",
		"/account/password", "/account/email", "/account/email/confirm", "/account/delete", "/consent", "/logout", "/login"} {
		p := b.post(e.issuer+path, url.Values{"email": {"ada@example.com"}, "current": {testPassword}, "csrf_token": {"forged"}})
		if p.status != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: %d, want 403", path, p.status)
		}
	}
	if _, err := e.store.GetUserByEmail(context.Background(), "ada@example.com"); err != nil {
		t.Error("account changed by a forged post")
	}
}

func TestDashboardChangesAndDelete(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	b := e.browser()
	b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", testPassword)
	dash := b.get(e.issuer + "/account")
	csrf := dash.formValues().Get("csrf_token")
	// Change password needs the current one.
	p := b.post(e.issuer+"/account/password", url.Values{"csrf_token": {csrf}, "current": {"wrong"}, "password": {"a new long passphrase"}, "confirm": {"a new long passphrase"}})
	if !strings.Contains(p.body, "current password is incorrect") {
		t.Errorf("wrong current password accepted: %.200s", p.body)
	}
	p = b.post(e.issuer+"/account/password", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "password": {"a new long passphrase"}, "confirm": {"a new long passphrase"}})
	if p.url.RequestURI() != "/account?done=password" {
		t.Fatalf("change password: %d %s", p.status, p.url)
	}
	// Change email: verified on the new address first, notice to the old one.
	p = b.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {"a new long passphrase"}, "email": {"ada.new@example.com"}})
	if p.url.RequestURI() != "/account?done=email" {
		t.Fatalf("change email: %d %s %.300s", p.status, p.url, p.body)
	}
	if u, _ := e.store.GetUserByEmail(ctx, "ada@example.com"); u == nil {
		t.Fatal("email changed before verification")
	}
	link, _ := e.mailLink("ada.new@example.com", "/account/email/confirm?token=")
	b.confirmLink(link)
	if _, err := e.store.GetUserByEmail(ctx, "ada.new@example.com"); err != nil {
		t.Fatal("email not changed after verification")
	}
	// Delete needs the password and removes everything.
	p = b.post(e.issuer+"/account/delete", url.Values{"csrf_token": {csrf}, "current": {"nope"}})
	if !strings.Contains(p.body, "current password is incorrect") {
		t.Error("delete without the right password")
	}
	b.post(e.issuer+"/account/delete", url.Values{"csrf_token": {csrf}, "current": {"a new long passphrase"}})
	if _, err := e.store.GetUserByEmail(ctx, "ada.new@example.com"); err == nil {
		t.Error("account not deleted")
	}
}

func TestLanguages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/login", nil)
	req.Header.Set("Accept-Language", "de-CH,de;q=0.9,en;q=0.5")
	b := e.browser()
	if p := b.do(req); !strings.Contains(p.body, `lang="de"`) || !strings.Contains(p.body, "Anmelden") {
		t.Errorf("German not chosen from Accept-Language: %.300s", p.body)
	}
	p := b.get(e.issuer + "/lang?to=ru&back=/login")
	if p.url.Path != "/login" || !strings.Contains(p.body, `lang="ru"`) {
		t.Fatalf("switcher: %d %s", p.status, p.url)
	}
	if p := b.get(e.issuer + "/login"); !strings.Contains(p.body, `lang="ru"`) {
		t.Error("switcher choice not remembered")
	}
	for _, evil := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		if p := b.get(e.issuer + "/lang?to=en&back=" + url.QueryEscape(evil)); !strings.HasPrefix(p.url.String(), e.issuer) {
			t.Errorf("open redirect via %q to %s", evil, p.url)
		}
	}
}

func TestAuditRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	b := e.browser()
	b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", testPassword)
	if evs, _ := e.store.ListAuditEvents(ctx, u.ID, 0); len(evs) == 0 {
		t.Fatal("sign-in left no activity")
	}
	e.srv.Housekeeping(ctx)
	if evs, _ := e.store.ListAuditEvents(ctx, u.ID, 0); len(evs) == 0 {
		t.Fatal("housekeeping deleted fresh activity")
	}
	e.clock.Advance(e.cfg.Accounts.AuditRetention.Std() + time.Hour)
	e.srv.Housekeeping(ctx)
	if evs, _ := e.store.ListAuditEvents(ctx, u.ID, 0); len(evs) != 0 {
		t.Errorf("%d events older than the retention period kept", len(evs))
	}
}
