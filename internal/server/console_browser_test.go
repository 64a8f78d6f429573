package server_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
)

// TestBrowserConsoleUnlock is the support desk's path in Chromium: an admin signs in with
// password and authenticator app, finds a person locked out after wrong passwords, unlocks
// them with a reason, sees the action in the audit log with actor and reason, and the person
// then signs in. Every console page passes axe-core (WCAG AA) in the light and dark schemes,
// the step-up page of a staff session without a second factor included.
func TestBrowserConsoleUnlock(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core: %v (see testdata/axe/README.md)", err)
	}
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), localhost: true})
	e.clock.Advance(0)
	w := &a11yWalk{t: t, ctx: ctx, axe: string(src), lang: "en", shots: screenshotDir(t)}
	e.addClient(storage.ClientConfidential, func(c *storage.Client) { c.Name = "Photo Printer" })

	// The admin's authenticator app is set up through the pages (HTTP client); the person
	// is locked out by wrong passwords.
	const adminEmail, personEmail = "desk.admin@example.com", "locked.person@example.com"
	_, adminUser, key := e.consoleStaff(adminEmail, storage.RoleAdmin)
	person := e.addUser(personEmail)
	hb := e.browser()
	for range e.cfg.Accounts.LockoutThreshold + 1 {
		hb.submitLogin(hb.get(e.issuer+"/login"), personEmail, "wrong password")
	}
	if p := hb.submitLogin(hb.get(e.issuer+"/login"), personEmail, testPassword); p.url.Path == "/account" {
		t.Fatal("the person is not locked out")
	}

	// A staff member without a second factor gets the step-up page.
	sup := e.addUser("desk.support@example.com")
	if err := e.store.GrantRole(t.Context(), sup.ID, storage.RoleSupport, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	w.open(t, e.issuer+"/login?return=/admin", 200)
	w.fill(t, "email", "desk.support@example.com", "password", testPassword)
	w.submit(t, "#email", 403)
	tabExpect(t, ctx, "/admin/users", "Verify with your second factor")
	w.check(t, "console step-up")
	w.open(t, e.issuer+"/logout", 200)
	w.submit(t, "form[action='/logout'] button", 200)

	// The admin signs in with password and app, and lands in the console.
	w.open(t, e.issuer+"/login?return=/admin", 200)
	w.fill(t, "email", adminEmail, "password", testPassword)
	w.submit(t, "#email", 200)
	w.at(t, "/mfa")
	e.nextTOTPStep()
	w.fill(t, "totp-code", e.totpNow(key))
	w.submit(t, "#totp-code", 200)
	tabExpect(t, ctx, "/admin/users", "People", "Signed in as "+adminEmail)
	w.check(t, "console people")

	// Search by the start of the address; open the person.
	w.fill(t, "q-email", "locked.")
	w.submit(t, "#q-email", 200)
	tabExpect(t, ctx, "/admin/users", personEmail)
	w.check(t, "console search result")
	tabNavigate(t, ctx, "opening the person", chromedp.Click(chromedp.Search(`//a[normalize-space()="`+personEmail+`"]`)))
	tabExpect(t, ctx, "/admin/users/"+person.ID, "Locked after failed sign-ins", "Until ", "Failed sign-in")
	w.check(t, "console person")

	// Keyboard: the reason field and the Unlock button are reached with Tab, and Enter in the
	// field submits its form.
	tabDo(t, ctx, "focusing the reason", chromedp.Focus(chromedp.ID("unlock-reason")))
	tabDo(t, ctx, "typing the reason", chromedp.SendKeys(chromedp.ID("unlock-reason"), "Called the desk, identity checked"))
	tabNavigate(t, ctx, "pressing Enter", chromedp.SendKeys(chromedp.ID("unlock-reason"), "\r"))
	tabExpect(t, ctx, "/admin/users/"+person.ID, "The account was unlocked.")
	if s := tabEval[string](t, ctx, `document.getElementById("lockout-state").innerText`); !strings.HasPrefix(s, "No") {
		t.Fatalf("lockout after unlocking: %q", s)
	}
	w.check(t, "console person unlocked")
	tabScreenshot(t, ctx, w.shots, "console-person-light")
	w.scheme(t, "dark")
	tabScreenshot(t, ctx, w.shots, "console-person-dark")
	w.scheme(t, "light")

	// The audit log shows who did it and why.
	w.open(t, e.issuer+"/admin/audit?type=admin.user.unlock", 200)
	tabExpect(t, ctx, "/admin/audit", "Unlocked by staff", "admin.user.unlock", "Called the desk, identity checked", "user:"+adminUser.ID, "user:"+person.ID)
	w.check(t, "console audit log")
	tabScreenshot(t, ctx, w.shots, "console-audit-light")
	for _, path := range []string{"/admin/keys", "/admin/clients"} {
		w.open(t, e.issuer+path, 200)
		w.check(t, "console "+path)
	}
	tabNavigate(t, ctx, "opening the client", chromedp.Click(chromedp.Search(`//a[normalize-space()="Photo Printer"]`)))
	w.check(t, "console client")

	// German too (the language switch keeps the page).
	w.lang = "de"
	w.open(t, e.issuer+"/lang?to=de&back="+url.QueryEscape("/admin/users/"+person.ID), 200)
	tabExpect(t, ctx, "/admin/users/"+person.ID, "Personen", "Grund für die Sperre", "Vom Team entsperrt")
	w.check(t, "console person (de)")
	w.open(t, e.issuer+"/lang?to=en&back=/admin/users", 200)
	w.lang = "en"

	// The person signs in.
	w.open(t, e.issuer+"/logout", 200)
	w.submit(t, "form[action='/logout'] button", 200)
	w.open(t, e.issuer+"/login", 200)
	w.fill(t, "email", personEmail, "password", testPassword)
	w.submit(t, "#email", 200)
	tabExpect(t, ctx, "/account", personEmail)
	if w.failed != nil {
		t.Fatalf("axe: %d violations: %s", len(w.failed), strings.Join(w.failed, "; "))
	}
}
