package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
)

// "This wasn't me" (issue 11 item 17): the link in a security notice, confirmed on its page,
// locks the account down and starts a password reset.

// notMeLink returns the "This wasn't me" link of a notice, checking the HTML part has it too.
func (e *testEnv) notMeLink(m mailtest.Received) string {
	e.t.Helper()
	link := mailtest.FirstLink(m.Text, e.issuer+"/not-me?token=")
	if link == "" {
		e.t.Fatalf("no \"This wasn't me\" link in the notice %q:\n%s", m.Subject, m.Text)
	}
	if !strings.Contains(m.HTML, link) || !strings.Contains(m.HTML, "This wasn&#39;t me") {
		e.t.Errorf("the HTML part of %q lacks the \"This wasn't me\" button and link", m.Subject)
	}
	return link
}

// signedInAs reports whether browser b has a live session of addr.
func (e *testEnv) signedInAs(b *browser, addr string) bool {
	e.t.Helper()
	p := b.get(e.issuer + "/account")
	return p.url.Path == "/account" && strings.Contains(p.body, addr)
}

func TestNotMeFromPasswordChangedNotice(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	const addr, intruderPassword = "ada@example.com", "the intruder's own passphrase"
	u := e.addUser(addr)
	c := e.addClient(storage.ClientConfidential, firstParty)

	// Someone signed in as Ada changes the password: Ada gets the notice.
	intruder := e.browser()
	e.passwordSignIn(intruder, addr)
	csrf := intruder.get(e.issuer + "/account").formValues().Get("csrf_token")
	p := intruder.post(e.issuer+"/account/password", url.Values{"csrf_token": {csrf}, "current": {testPassword},
		"password": {intruderPassword}, "confirm": {intruderPassword}})
	if p.url.RequestURI() != "/account?done=password" {
		t.Fatalf("change password: %d %s", p.status, p.url)
	}
	link := e.notMeLink(e.smtp.WaitFor(t, addr, mailWait))

	// After the change: the intruder's browser holds a fresh session and an app's refresh
	// token; a second browser signs in with the new password.
	tok := e.tokens(ctx, intruder, c, addr)
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	other := e.browser()
	if p := other.submitLogin(other.get(e.issuer+"/login"), addr, intruderPassword); p.url.Path != "/account" && p.url.Path != "/profile" {
		t.Fatalf("sign-in with the changed password: %d %s", p.status, p.url)
	}
	// That browser is new to the account: its owner is told.
	if m := e.smtp.WaitFor(t, addr, mailWait); !strings.HasPrefix(m.Subject, "New sign-in to your ") {
		t.Errorf("after a sign-in from another browser: mail %q, want the new sign-in notice", m.Subject)
	}

	// Opening the link (a mail scanner, a preview) changes nothing: it shows a button.
	owner := e.browser()
	page := owner.get(link)
	if page.status != http.StatusOK || !strings.Contains(page.body, `action="/not-me"`) || !strings.Contains(page.body, "Secure my account") {
		t.Fatalf("the not-me page: %d\n%.1500s", page.status, page.body)
	}
	owner.do(mustRequest(t, http.MethodHead, link))
	if !e.signedInAs(intruder, addr) || !e.signedInAs(other, addr) {
		t.Fatal("opening the link (GET, HEAD) signed someone out")
	}
	// The POST needs the page's CSRF token.
	f := page.formValues()
	if f.Get("token") == "" || f.Get("csrf_token") == "" {
		t.Fatalf("the not-me form lacks its token or CSRF token: %v", f)
	}
	forged := url.Values{"token": {f.Get("token")}}
	if p := owner.post(e.issuer+"/not-me", forged); p.status != http.StatusForbidden {
		t.Errorf("a not-me POST without the CSRF token answered %d, want 403", p.status)
	}
	if !e.signedInAs(intruder, addr) {
		t.Fatal("a refused POST signed the intruder out")
	}

	// The click.
	done := owner.post(e.issuer+"/not-me", f)
	if done.status != http.StatusOK || !strings.Contains(done.body, "Your account is secured") || !strings.Contains(done.body, "We sent you an email") {
		t.Fatalf("confirming: %d\n%.1500s", done.status, done.body)
	}
	if e.signedInAs(intruder, addr) || e.signedInAs(other, addr) {
		t.Error("a browser is still signed in after \"This wasn't me\"")
	}
	if st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret); st != http.StatusBadRequest {
		t.Errorf("the refresh token issued before still works: %d %s", st, body)
	}
	if p := e.browser().submitLogin(e.browser().get(e.issuer+"/login"), addr, intruderPassword); p.url.Path == "/account" || p.url.Path == "/profile" {
		t.Error("the intruder's password still signs in")
	}
	evs, err := e.store.ListAuditEvents(ctx, u.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		found = found || ev.Type == "not_me"
	}
	if !found {
		t.Error("no not_me audit event")
	}

	// The link works once; used again, it says what it did (TestNotMeLinkUsedAgain).
	if p := owner.post(e.issuer+"/not-me", f); !strings.Contains(p.body, "already used to secure your account") {
		t.Errorf("the link worked twice: %d\n%.600s", p.status, p.body)
	}
	if p := owner.get(link); !strings.Contains(p.body, "already used to secure your account") || strings.Contains(p.body, `action="/not-me"`) {
		t.Errorf("a used link still offers the button:\n%.800s", p.body)
	}

	// The reset link arrives, the reset page names the account for password managers, and
	// Ada chooses a new password.
	reset, _ := e.mailLink(addr, "/reset?token=")
	rp := owner.get(reset)
	if !strings.Contains(rp.body, `<input type="email" name="username" autocomplete="username" value="`+addr+`" hidden>`) {
		t.Errorf("the reset page lacks the hidden username field:\n%.1500s", rp.body)
	}
	rf := rp.formValues()
	rf.Set("password", "ada's own new passphrase")
	rf.Set("confirm", "ada's own new passphrase")
	if p := owner.post(e.issuer+"/reset", rf); p.status != http.StatusOK {
		t.Fatalf("reset: %d %.300s", p.status, p.body)
	}
	if p := owner.submitLogin(owner.get(e.issuer+"/login"), addr, "ada's own new passphrase"); p.url.Path != "/account" && p.url.Path != "/profile" {
		t.Errorf("sign-in with the new password: %d %s", p.status, p.url)
	}
}

func TestNotMeRestoresAChangedEmail(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	const addr, taken = "grace@example.com", "intruder@example.net"
	u := e.addUser(addr)

	intruder := e.browser()
	e.passwordSignIn(intruder, addr)
	csrf := intruder.get(e.issuer + "/account").formValues().Get("csrf_token")
	if p := intruder.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "email": {taken}}); p.url.RequestURI() != "/account?done=email" {
		t.Fatalf("change email: %d %s", p.status, p.url)
	}
	confirm, _ := e.mailLink(taken, "/account/email/confirm?token=")
	intruder.confirmLink(confirm)
	if got, _ := e.store.GetUser(ctx, u.ID); got.Email != taken {
		t.Fatalf("the email is %q, want %q", got.Email, taken)
	}

	// The notice went to the old address; its link puts that address back.
	link := e.notMeLink(e.smtp.WaitFor(t, addr, mailWait))
	owner := e.browser()
	done := owner.post(e.issuer+"/not-me", owner.get(link).formValues())
	if !strings.Contains(done.body, "Your account is secured") || !strings.Contains(done.body, addr) {
		t.Fatalf("confirming: %d\n%.1500s", done.status, done.body)
	}
	if got, _ := e.store.GetUser(ctx, u.ID); got.Email != addr {
		t.Errorf("after \"This wasn't me\" the email is %q, want %q back", got.Email, addr)
	}
	if e.signedInAs(intruder, taken) || e.signedInAs(intruder, addr) {
		t.Error("the intruder is still signed in")
	}
	e.mailLink(addr, "/reset?token=") // the reset link goes to the restored address
}

func mustRequest(t testing.TB, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
