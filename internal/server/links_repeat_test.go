package server_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// An emailed link used a second time (a double click, a resubmitted form, or a retry after
// the first answer was lost once the change had committed) answers with what its first use
// did, not "expired". Only the link's own token decides; an expired link keeps its answer.

const deadLink = "This link has expired or was already used."

// TestActivationLinkUsedAgain: a second use of an activation link goes where the first went,
// the sign-in page saying the address is confirmed, with the authorization request the
// registration started in, and signs nobody in. Before, it said to get a new link or create
// the account again, of an account that was active.
func TestActivationLinkUsedAgain(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	verifier, _ := pkce()
	cfg := e.oauth2Config(c, gooidc.ScopeOpenID, "email")
	p := b.get(cfg.AuthCodeURL("st8", oauth2.S256ChallengeOption(verifier)))
	reg := regexp.MustCompile(`href="(/register\?authRequestID=[^"]+)"`).FindStringSubmatch(p.body)
	if reg == nil {
		t.Fatalf("sign-in page has no registration link carrying the request:\n%.600s", p.body)
	}
	const email, pw = "app.user@example.com", "another long passphrase"
	e.register(b, b.get(e.issuer+strings.ReplaceAll(reg[1], "&amp;", "&")), email, pw, pw)
	link, _ := e.mailLink(email, "/activate?token=")

	first := b.confirmLink(link)
	if first.url.Path != "/login" || first.url.Query().Get("activated") != "1" || first.url.Query().Get("authRequestID") == "" {
		t.Fatalf("activation led to %d %s, want /login?activated=1&authRequestID=…", first.status, first.url)
	}
	if p := b.confirmLink(link); p.status != http.StatusOK || p.url.RequestURI() != first.url.RequestURI() || !strings.Contains(p.body, "Your email address is confirmed") {
		t.Errorf("the link again: %d %s, want %s saying the address is confirmed:\n%.400s", p.status, p.url, first.url.RequestURI(), p.body)
	}
	// In another browser it goes the same way, where the request is refused as started
	// elsewhere, as after a first use there.
	other := e.browser()
	if p := other.confirmLink(link); p.url.RequestURI() != first.url.RequestURI() {
		t.Errorf("the link again in another browser: %d %s, want %s", p.status, p.url, first.url.RequestURI())
	}
	for _, again := range []*browser{b, other} {
		if strings.Contains(again.get(e.issuer+"/account").body, email) {
			t.Error("the link used again signed a browser in")
		}
	}

	// Locked since: the generic answer, no invitation to sign in.
	u, err := e.store.GetUserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.Status = storage.UserLocked; return nil }); err != nil {
		t.Fatal(err)
	}
	if p := e.browser().confirmLink(link); p.status != http.StatusBadRequest || !strings.Contains(p.body, deadLink) {
		t.Errorf("the link of a locked account: %d %s, want 400 %q", p.status, p.url, deadLink)
	}

	// An expired link keeps its answer.
	e.register(b, b.get(e.issuer+"/register"), "late@example.com", pw, pw)
	late, _ := e.mailLink("late@example.com", "/activate?token=")
	e.clock.Advance(6 * 24 * time.Hour)
	if p := e.browser().confirmLink(late); p.status != http.StatusBadRequest || !strings.Contains(p.body, deadLink) ||
		!strings.Contains(p.body, "create the account again") {
		t.Errorf("an expired activation link: %d %s, want 400 %q:\n%.400s", p.status, p.url, deadLink, p.body)
	}
}

// TestActivationLinkAfterAReset: an account still waiting for activation is activated by a
// password reset too (the reset link proves the address). Its activation link, opened after,
// said "expired ... create the account again" of an active account; it now goes on to the
// sign-in page as a used one does.
func TestActivationLinkAfterAReset(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	b := e.browser()
	const email, pw, newPW = "pending@example.com", "another long passphrase", "a brand new passphrase"
	e.register(b, b.get(e.issuer+"/register"), email, pw, pw)
	activation, _ := e.mailLink(email, "/activate?token=")
	f := b.get(e.resetLink(b, email)).formValues()
	f.Set("password", newPW)
	f.Set("confirm", newPW)
	if p := b.post(e.issuer+"/reset", f); p.status != http.StatusOK || !strings.Contains(p.body, "sign in with the new one") {
		t.Fatalf("reset: %d %.300s", p.status, p.body)
	}
	p := e.browser().confirmLink(activation)
	if p.url.Path != "/login" || p.url.Query().Get("activated") != "1" || strings.Contains(p.body, deadLink) {
		t.Errorf("the activation link after the reset activated the account: %d %s, want /login?activated=1:\n%.400s", p.status, p.url, p.body)
	}
}

// TestResetLinkUsedAgain: a second use of a reset link, posted again or opened again, says
// that the password was changed with it and offers sign-in; it signs nobody in and changes
// nothing. A store failure on the way is a 503, not that answer; an expired link keeps its.
func TestResetLinkUsedAgain(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	const email, pw = "ada@example.com", "a brand new passphrase"
	e.addUser(email)
	b := e.browser()
	link := e.resetLink(b, email)
	f := b.get(link).formValues()
	f.Set("password", pw)
	f.Set("confirm", pw)
	if p := b.post(e.issuer+"/reset", f); p.status != http.StatusOK || !strings.Contains(p.body, "sign in with the new one") {
		t.Fatalf("reset: %d %.300s", p.status, p.body)
	}

	const already = "Your password was already changed with this link. Sign in with your new password."
	other := url.Values{}
	for k, v := range f {
		other[k] = v
	}
	other.Set("password", "yet another passphrase")
	other.Set("confirm", "yet another passphrase")
	for name, again := range map[string]func() *page{
		"posted again":                 func() *page { return b.post(e.issuer+"/reset", f) },
		"posted with another password": func() *page { return b.post(e.issuer+"/reset", other) },
		"opened again":                 func() *page { return e.browser().get(link) },
	} {
		p := again()
		if p.status != http.StatusOK || !strings.Contains(p.body, already) ||
			!strings.Contains(p.body, `href="/login"`) || !strings.Contains(p.body, `href="/forgot"`) || strings.Contains(p.body, `id="password"`) {
			t.Errorf("%s: %d, want 200 %q with the sign-in and forgot-password links:\n%.800s", name, p.status, already, p.body)
		}
	}
	if strings.Contains(b.get(e.issuer+"/account").body, email) {
		t.Error("the link used again signed the browser in")
	}
	nb := e.browser()
	if p := nb.submitLogin(nb.get(e.issuer+"/login"), email, other.Get("password")); p.url.Path == "/account" || p.url.Path == "/profile" {
		t.Error("the password posted with the used link was set")
	}
	if p := nb.submitLogin(nb.get(e.issuer+"/login"), email, pw); p.url.Path != "/account" && p.url.Path != "/profile" {
		t.Errorf("the password set by the first use no longer signs in: %d %s", p.status, p.url)
	}

	// Ours to fail: looking up the link's account fails, and the answer is "try again".
	applied := injectOnce(t, fs, "GetUser", 0)
	if p := e.browser().get(link); !is503(p) || strings.Contains(p.body, "already changed") {
		t.Errorf("the used link with the store failing: %d, want 503:\n%.300s", p.status, p.body)
	}
	applied()

	// An expired link keeps its answer.
	late := e.resetLink(b, email)
	e.clock.Advance(2 * time.Hour)
	if p := e.browser().get(late); p.status != http.StatusOK || !strings.Contains(p.body, deadLink) || strings.Contains(p.body, "already changed") {
		t.Errorf("an expired reset link: %d, want %q:\n%.400s", p.status, deadLink, p.body)
	}
	lf := url.Values{"csrf_token": {b.get(e.issuer + "/forgot").formValues().Get("csrf_token")}, "token": {tokenOf(t, late)},
		"password": {pw}, "confirm": {pw}}
	if p := b.post(e.issuer+"/reset", lf); p.status != http.StatusBadRequest || !strings.Contains(p.body, deadLink) {
		t.Errorf("an expired reset link, posted: %d, want 400 %q:\n%.400s", p.status, deadLink, p.body)
	}
}

// TestEmailChangeLinkUsedAgain: a second use of an email-change link says the address is
// already changed to the one the link confirmed (its own mail named it), while it still is;
// once the address changed again, or for an expired link, the answer is the generic one.
func TestEmailChangeLinkUsedAgain(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.addUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	change := func(to string) string {
		t.Helper()
		csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
		p := b.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "email": {to}})
		if p.url.RequestURI() != "/account?done=email" {
			t.Fatalf("change email to %s: %d %s", to, p.status, p.url)
		}
		return e.waitLink(to, "/account/email/confirm?token=")
	}
	link := change("ada.new@example.com")
	if p := b.confirmLink(link); p.url.RequestURI() != "/account?done=email-changed" {
		t.Fatalf("confirming: %d %s", p.status, p.url)
	}

	const already = "Your email address is already changed to ada.new@example.com."
	for name, again := range map[string]*browser{"signed in": b, "another browser": e.browser()} {
		if p := again.confirmLink(link); p.status != http.StatusOK || !strings.Contains(p.body, already) {
			t.Errorf("%s, the link again: %d %s, want 200 %q:\n%.400s", name, p.status, p.url, already, p.body)
		}
	}

	// Changed again since: the first link no longer tells the address.
	third := change("ada.third@example.com")
	if p := b.confirmLink(third); p.url.RequestURI() != "/account?done=email-changed" {
		t.Fatalf("confirming the second change: %d %s", p.status, p.url)
	}
	if p := e.browser().confirmLink(link); p.status != http.StatusBadRequest || !strings.Contains(p.body, deadLink) ||
		strings.Contains(p.body, "example.com") {
		t.Errorf("the first link after another change: %d, want 400 %q naming no address:\n%.400s", p.status, deadLink, p.body)
	}

	// An expired link keeps its answer.
	late := change("ada.late@example.com")
	e.clock.Advance(25 * time.Hour)
	if p := e.browser().confirmLink(late); p.status != http.StatusBadRequest || !strings.Contains(p.body, deadLink) {
		t.Errorf("an expired email-change link: %d, want 400 %q:\n%.400s", p.status, deadLink, p.body)
	}
}

// TestNotMeLinkUsedAgain: a second use of a "This wasn't me" link, posted again or opened
// again, says the account was already secured and what that did; an expired link keeps its
// answer.
func TestNotMeLinkUsedAgain(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	const addr = "ada@example.com"
	e.addUser(addr)
	b := e.browser()
	e.passwordSignIn(b, addr)
	password := testPassword
	changePassword := func(to string) string {
		t.Helper()
		csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
		p := b.post(e.issuer+"/account/password", url.Values{"csrf_token": {csrf}, "current": {password},
			"password": {to}, "confirm": {to}})
		if p.url.RequestURI() != "/account?done=password" {
			t.Fatalf("change password: %d %s", p.status, p.url)
		}
		password = to
		return e.notMeLink(e.smtp.WaitFor(t, addr, mailWait))
	}
	link := changePassword("the intruder's own passphrase")
	late := changePassword("the intruder's next passphrase")

	owner := e.browser()
	f := owner.get(link).formValues()
	if p := owner.post(e.issuer+"/not-me", f); p.status != http.StatusOK || !strings.Contains(p.body, "Your account is secured") {
		t.Fatalf("confirming: %d\n%.600s", p.status, p.body)
	}

	const already = "This link was already used to secure your account"
	for name, again := range map[string]func() *page{
		"posted again": func() *page { return owner.post(e.issuer+"/not-me", f) },
		"opened again": func() *page { return e.browser().get(link) },
	} {
		p := again()
		if p.status != http.StatusOK || !strings.Contains(p.body, "Your account is already secured") || !strings.Contains(p.body, already) ||
			!strings.Contains(p.body, `href="/forgot"`) || strings.Contains(p.body, `action="/not-me"`) {
			t.Errorf("%s: %d, want 200 %q without the button:\n%.800s", name, p.status, already, p.body)
		}
	}

	// An expired link keeps its answer.
	e.clock.Advance(8 * 24 * time.Hour)
	if p := e.browser().get(late); p.status != http.StatusOK || !strings.Contains(p.body, deadLink) || strings.Contains(p.body, already) {
		t.Errorf("an expired not-me link: %d, want %q:\n%.600s", p.status, deadLink, p.body)
	}
}

// tokenOf is the token of an emailed link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("no token in %q", link)
	}
	return u.Query().Get("token")
}
