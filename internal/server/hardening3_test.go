package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Attack tests for issue 10, items 3, 6, 8, 15 and 16 (item 21 is in cmd/myaccount).

const deviceCookieName = "myaccount_device"

// signInLockedText is what a locked sign-in (or current-password check) says.
const signInLockedText = "Too many failed sign-in attempts"

func signedInPage(p *page) bool { return p.url.Path == "/account" || p.url.Path == "/profile" }

// stealSession is a browser holding b's cookies except its device cookie: what a thief who
// copied b's session cookie has.
func (e *testEnv) stealSession(b *browser) *browser {
	e.t.Helper()
	nb := e.cloneBrowser(b)
	u, _ := url.Parse(e.issuer + "/")
	nb.c.Jar.SetCookies(u, []*http.Cookie{{Name: deviceCookieName, Value: "", Path: "/", MaxAge: -1}})
	if e.hasCookie(nb, deviceCookieName) {
		e.t.Fatal("the device cookie was not dropped")
	}
	return nb
}

func auditCount(t *testing.T, e *testEnv, userID, typ string) int {
	t.Helper()
	events, err := e.store.ListAuditEvents(context.Background(), userID, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// Item 3: wrong current passwords on the account forms count with the sign-in failures of
// the account: the fifth locks, the lock holds for sign-in too, and each is audited.
func TestHardening3CurrentPasswordThrottled(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	owner := e.browser()
	if p := e.passwordSignIn(owner, "ada@example.com"); !signedInPage(p) {
		t.Fatalf("sign-in: %d %s", p.status, p.url)
	}
	// The thief copied the session cookie, not the browser.
	thief := e.stealSession(owner)
	csrf := thief.get(e.issuer + "/account").formValues().Get("csrf_token")
	if csrf == "" {
		t.Fatal("the copied session does not reach the account page")
	}
	forms := []struct {
		path string
		form url.Values
	}{
		{"/account/email", url.Values{"email": {"thief@example.com"}}},
		{"/account/password", url.Values{"password": {"the thief's own passphrase"}, "confirm": {"the thief's own passphrase"}}},
		{"/account/delete", url.Values{}},
	}
	post := func(i int, current string) *page {
		f := forms[i%len(forms)]
		v := url.Values{"csrf_token": {csrf}, "current": {current}}
		for k, x := range f.form {
			v[k] = x
		}
		return thief.post(e.issuer+f.path, v)
	}
	for i := 0; i < 4; i++ {
		if p := post(i, "guess number "+string(rune('a'+i))); !strings.Contains(p.body, "current password is incorrect") {
			t.Fatalf("guess %d on %s: %d %.300s", i+1, forms[i%3].path, p.status, p.body)
		}
	}
	p := post(4, "guess number e")
	if !strings.Contains(p.body, signInLockedText) || p.status != http.StatusTooManyRequests {
		t.Fatalf("5th wrong current password does not lock: %d %.300s", p.status, p.body)
	}
	// Locked: the right current password is refused as well, on every form.
	for i := range forms {
		if p := post(i, testPassword); !strings.Contains(p.body, signInLockedText) {
			t.Errorf("%s with the right password while locked: %d %.300s", forms[i].path, p.status, p.body)
		}
	}
	if _, err := e.store.GetUserByEmail(ctx, "ada@example.com"); err != nil {
		t.Fatal("account deleted while locked")
	}
	// The same lock as sign-in: an unknown browser cannot sign in either.
	if p := e.passwordSignIn(e.browser(), "ada@example.com"); !strings.Contains(p.body, signInLockedText) {
		t.Errorf("sign-in not locked after 5 wrong current passwords: %d %s", p.status, p.url)
	}
	if n := auditCount(t, e, u.ID, "current_password_failed"); n != 5 {
		t.Errorf("%d current_password_failed events, want 5", n)
	}
	if auditCount(t, e, u.ID, "locked_out") == 0 {
		t.Error("lock not audited")
	}
	e.smtp.WaitFor(t, "ada@example.com", mailWait) // the lockout notice
}

// Item 3: a failure of ours on the account forms is answered as ours (5xx), not as a 200
// form error or a 400 "link expired".
func TestHardening3AccountFormsOwnFailures(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	b := e.browser()
	if p := e.passwordSignIn(b, "ada@example.com"); !signedInPage(p) {
		t.Fatalf("sign-in: %d %s", p.status, p.url)
	}
	csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
	fs.Fail("EnqueueOutbox") // the request queues the change; the worker issues the link
	p := b.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "email": {"ada.new@example.com"}})
	if p.status < 500 {
		t.Errorf("email change with the store failing: %d %.300s", p.status, p.body)
	}
	fs.Clear()
	fs.Fail("ConsumeOneTimeToken")
	p = b.post(e.issuer+"/account/email/confirm", url.Values{"csrf_token": {csrf}, "token": {"some-token-value"}})
	if p.status < 500 || strings.Contains(p.body, "expired") {
		t.Errorf("email confirmation with the store failing: %d %.300s", p.status, p.body)
	}
	fs.Clear()
	// A bad link is still the link's fault.
	if p := b.post(e.issuer+"/account/email/confirm", url.Values{"csrf_token": {csrf}, "token": {"some-token-value"}}); p.status != http.StatusBadRequest {
		t.Errorf("unknown link: %d", p.status)
	}
}

// Item 6: five wrong passwords from anywhere lock the address for unknown browsers, but a
// browser that signed in to the account before keeps its own count.
func TestHardening3KnownBrowserNotLockedOut(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.addUser("ada@example.com")
	owner := e.browser()
	if p := e.passwordSignIn(owner, "ada@example.com"); !signedInPage(p) {
		t.Fatalf("sign-in: %d %s", p.status, p.url)
	}
	e.signOut(owner)

	attacker := e.browser()
	try := func(b *browser, email, pw string) *page { return b.submitLogin(b.get(e.issuer+"/login"), email, pw) }
	for _, email := range []string{"ada@example.com", "ghost@example.com"} {
		for i := 0; i < 5; i++ {
			try(attacker, email, "wrong password")
		}
		// Unknown addresses lock exactly like real ones.
		if p := try(attacker, email, "wrong password"); !strings.Contains(p.body, signInLockedText) {
			t.Fatalf("%s not locked for the attacker: %.300s", email, p.body)
		}
	}
	if p := try(e.browser(), "ada@example.com", testPassword); !strings.Contains(p.body, signInLockedText) {
		t.Error("an unknown browser signs in to a locked account")
	}
	// A forged device cookie does not help: it must be signed for the account.
	forged := e.browser()
	u, _ := url.Parse(e.issuer)
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: deviceCookieName, Value: "YWRh.bm9uY2U.c2ln", Path: "/"}})
	if p := try(forged, "ada@example.com", testPassword); !strings.Contains(p.body, signInLockedText) {
		t.Error("a forged device cookie passes the lock")
	}
	// The owner's browser is not locked by the attacker's failures.
	if p := try(owner, "ada@example.com", testPassword); !signedInPage(p) {
		t.Fatalf("the owner's known browser is locked out: %d %s %.300s", p.status, p.url, p.body)
	}
	e.signOut(owner)
	// Its own failures still lock it (and only it).
	for i := 0; i < 5; i++ {
		try(owner, "ada@example.com", "the owner mistypes")
	}
	if p := try(owner, "ada@example.com", testPassword); !strings.Contains(p.body, signInLockedText) {
		t.Errorf("the known browser is not locked by its own failures: %d %s", p.status, p.url)
	}
}

// Item 8: addresses have one spelling. A fullwidth "ｖictim" is victim's mailbox: mail goes
// to the canonical address, and invisible, bidi-control and mixed-script addresses are
// refused.
func TestHardening3CanonicalEmails(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	b := e.browser()
	const pw = "a fine long passphrase"
	e.register(b, b.get(e.issuer+"/register"), "ｖictim@example.com", pw, pw)
	e.mailLink("victim@example.com", "/activate?token=")
	u, err := e.store.GetUserByEmail(ctx, "victim@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "victim@example.com" {
		t.Errorf("stored address %q, want the canonical victim@example.com", u.Email)
	}
	// The real owner registering later hears about it at their own address; so does a reset.
	e.register(b, b.get(e.issuer+"/register"), "victim@example.com", pw, pw)
	e.smtp.WaitFor(t, "victim@example.com", mailWait)
	f := b.get(e.issuer + "/forgot").formValues()
	f.Set("email", "victim@example.com")
	b.post(e.issuer+"/forgot", f)
	e.mailLink("victim@example.com", "/reset?token=")

	for name, addr := range map[string]string{
		"zero-width space":   "vic\u200btim@example.com",
		"right-to-left":      "\u202emoc.elpmaxe@victim",
		"soft hyphen":        "vic\u00adtim@example.com",
		"cyrillic i":         "v\u0456ctim@example.com",
		"mixed domain":       "victim@ex\u0430mple.com",
		"bidi isolate":       "victim\u2066@example.com",
		"variation selector": "victim\ufe0f@example.com",
	} {
		p := e.register(b, b.get(e.issuer+"/register"), addr, pw, pw)
		if !strings.Contains(p.body, "Enter a valid email address") {
			t.Errorf("%s: %q accepted: %d %.200s", name, addr, p.status, p.body)
		}
		if _, err := e.store.GetUserByEmail(ctx, account.NormalizeEmail(addr)); err == nil && account.NormalizeEmail(addr) != "victim@example.com" {
			t.Errorf("%s: account created for %q", name, addr)
		}
	}
	// An internationalised domain is stored and mailed in its A-label form.
	e.register(b, b.get(e.issuer+"/register"), "Anna@BÜCHER.example", pw, pw)
	e.smtp.WaitFor(t, "Anna@xn--bcher-kva.example", mailWait)
	if u, err := e.store.GetUserByEmail(ctx, "anna@xn--bcher-kva.example"); err != nil || u.Email != "Anna@xn--bcher-kva.example" {
		t.Errorf("IDN address stored as %+v (%v)", u, err)
	}
}

// Item 15: the password policy knows the account's address, the product's name and
// keyboard walks; passwords are compared in NFC, and hashes of un-normalised passwords
// still verify (and are upgraded).
func TestHardening3PasswordPolicyAndNFC(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	e.addUser("ada.lovelace@example.com")
	b := e.browser()
	if p := e.passwordSignIn(b, "ada.lovelace@example.com"); !signedInPage(p) {
		t.Fatalf("sign-in: %d %s", p.status, p.url)
	}
	csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
	for _, bad := range []string{"ada.lovelace@example.com", "Ada.Lovelace2024", "qwertyuiopas", "MyAccount2024!", "My Account 1234", "asdfghjkl;'zxcvb"} {
		p := b.post(e.issuer+"/account/password", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "password": {bad}, "confirm": {bad}})
		if p.url.Query().Get("done") == "password" {
			t.Errorf("password %q accepted", bad)
			// Put the known password back for the next round.
			csrf = b.get(e.issuer + "/account").formValues().Get("csrf_token")
			b.post(e.issuer+"/account/password", url.Values{"csrf_token": {csrf}, "current": {bad}, "password": {testPassword}, "confirm": {testPassword}})
			csrf = b.get(e.issuer + "/account").formValues().Get("csrf_token")
			continue
		}
		if p.status != http.StatusOK || !strings.Contains(p.body, `id="password"`) && !strings.Contains(p.body, "password") {
			t.Errorf("password %q: %d %.200s", bad, p.status, p.body)
		}
	}

	// NFC: set as one code point, typed as e + combining accent.
	nfc := "Café crème au lait"
	nfd := norm.NFD.String(nfc)
	if nfc == nfd {
		t.Fatal("test strings are not different")
	}
	svc := e.accounts()
	if _, err := svc.Create(ctx, "cafe@example.com", nfc, storage.UserActive); err != nil {
		t.Fatal(err)
	}
	cb := e.browser()
	if p := cb.submitLogin(cb.get(e.issuer+"/login"), "cafe@example.com", nfd); !signedInPage(p) {
		t.Errorf("NFD spelling of an NFC password refused: %d %s", p.status, p.url)
	}
	// A hash made before normalisation (of the NFD string) still verifies, and is upgraded.
	legacy, err := secret.HashPassword(nfd)
	if err != nil {
		t.Fatal(err)
	}
	old, err := svc.Create(ctx, "old@example.com", "a placeholder passphrase", storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(ctx, old.ID, func(x *storage.User) error { x.PasswordHash = legacy; return nil }); err != nil {
		t.Fatal(err)
	}
	lb := e.browser()
	if p := lb.submitLogin(lb.get(e.issuer+"/login"), "old@example.com", nfd); !signedInPage(p) {
		t.Fatalf("legacy hash no longer verifies: %d %s", p.status, p.url)
	}
	if u, _ := e.store.GetUser(ctx, old.ID); u == nil || u.PasswordHash == legacy {
		t.Error("legacy hash not upgraded after sign-in")
	}
	nb := e.browser()
	if p := nb.submitLogin(nb.get(e.issuer+"/login"), "old@example.com", nfc); !signedInPage(p) {
		t.Errorf("NFC spelling refused after the upgrade: %d %s", p.status, p.url)
	}
}

// Item 16: a newer reset or activation link voids the older ones of its purpose.
func TestHardening3NewerLinkVoidsOlder(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	b := e.browser()
	forgot := func() {
		f := b.get(e.issuer + "/forgot").formValues()
		f.Set("email", "ada@example.com")
		b.post(e.issuer+"/forgot", f)
	}
	forgot()
	first, _ := e.mailLink("ada@example.com", "/reset?token=")
	forgot()
	second, _ := e.mailLink("ada@example.com", "/reset?token=")
	reset := func(link string) *page {
		f := b.get(link).formValues()
		f.Set("password", "a brand new passphrase")
		f.Set("confirm", "a brand new passphrase")
		return b.post(e.issuer+"/reset", f)
	}
	// The older link's page already says it is dead (no form to send).
	if p := b.get(first); !strings.Contains(p.body, "expired or was already used") || strings.Contains(p.body, `id="password"`) {
		t.Errorf("older reset link still offers a form: %d %.200s", p.status, p.body)
	}
	if p := reset(second); p.status != http.StatusOK || !strings.Contains(p.body, "sign in with the new one") {
		t.Errorf("newest reset link refused: %d %.200s", p.status, p.body)
	}

	const pw = "a fine long passphrase"
	e.register(b, b.get(e.issuer+"/register"), "new@example.com", pw, pw)
	firstAct, _ := e.mailLink("new@example.com", "/activate?token=")
	b.post(e.issuer+"/activate/resend", url.Values{"csrf_token": {b.get(e.issuer + "/login").formValues().Get("csrf_token")}, "email": {"new@example.com"}})
	secondAct, _ := e.mailLink("new@example.com", "/activate?token=")
	if p := b.confirmLink(firstAct); p.status != http.StatusBadRequest {
		t.Errorf("older activation link still works: %d %s", p.status, p.url)
	}
	if u, _ := e.store.GetUserByEmail(ctx, "new@example.com"); u == nil || u.Status != storage.UserPending {
		t.Fatal("account activated by the older link")
	}
	b.confirmLink(secondAct)
	if u, _ := e.store.GetUserByEmail(ctx, "new@example.com"); u == nil || u.Status != storage.UserActive {
		t.Error("newest activation link did not activate")
	}
}
