package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/myaccount/myaccount/storage"
)

// TestBrowserPersonPathFixes (issue 11, items 4, 5 and 7): no passkey UI (nor its red "Not
// found") where passkeys cannot work; the language switcher works after a failed form post;
// a dead reset link says so before any typing.
func TestBrowserPersonPathFixes(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t) // issuer on 127.0.0.1: WebAuthn cannot use an IP address
	e.addUser("ada@example.com")
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)

	// 5. Sign-in page without passkeys: no button, no autofill request, no error on arrival.
	tabNavigate(t, ctx, "opening /login", chromedp.Navigate(e.issuer+"/login"))
	tabExpect(t, ctx, "/login", "Sign in")
	if tabEval[bool](t, ctx, `!!document.getElementById("passkey-signin")`) {
		t.Error("the passkey button is on a page where passkeys cannot work")
	}
	if ac := tabEval[string](t, ctx, `document.getElementById("email").getAttribute("autocomplete")`); strings.Contains(ac, "webauthn") {
		t.Errorf("email autocomplete %q asks for passkeys", ac)
	}
	if body := tabEval[string](t, ctx, `document.body.innerText`); strings.Contains(body, "Not found") {
		t.Errorf("the sign-in page shows an error on arrival:\n%s", body)
	}
	con.check(t, ctx, "login without passkeys")

	// 4. A failed change on the account page, then the language switcher.
	tabDo(t, ctx, "signing in", chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword))
	tabClick(t, ctx, "Sign in")
	tabExpect(t, ctx, "/account", "Your account")
	tabDo(t, ctx, "opening Change password", chromedp.Click(chromedp.Search(`//summary[normalize-space()="Change password"]`)))
	tabDo(t, ctx, "a wrong current password", chromedp.SendKeys(chromedp.ID("current"), "not my password"),
		chromedp.SendKeys(chromedp.ID("new-password"), "another fine passphrase"), chromedp.SendKeys(chromedp.ID("confirm"), "another fine passphrase"))
	tabNavigate(t, ctx, "sending the change", chromedp.SendKeys(chromedp.ID("current"), kb.Enter))
	tabNavigate(t, ctx, "switching to German", chromedp.Click(chromedp.Search(`//a[@hreflang="de"]`)))
	tabExpect(t, ctx, "/account", "Ihr Konto")
	if body := tabEval[string](t, ctx, `document.body.innerText`); strings.Contains(body, "Not allowed") || strings.Contains(body, "Nicht erlaubt") {
		t.Errorf("language switch after a post: %s", body)
	}
	tabScreenshot(t, ctx, shots, "01-account-de-after-failed-post")

	// 7. A dead reset link: said at once, with the way to a new one; no password form.
	tabNavigate(t, ctx, "back to English", chromedp.Click(chromedp.Search(`//a[@hreflang="en"]`)))
	// 3. The country list, typed into from the keyboard, updates the regions in place: no
	// reload on each key press (typing "Ger" must land on Germany, not reload on "G").
	tabNavigate(t, ctx, "editing the profile", chromedp.Navigate(e.issuer+"/profile"))
	tabExpect(t, ctx, "/profile", "Country")
	if tabEval[bool](t, ctx, `!document.getElementById("show-regions").hidden`) {
		t.Error("the no-script \"Show regions\" button is shown although the list updates itself")
	}
	tabEval[int](t, ctx, `window.__same = 1`)
	tabDo(t, ctx, "typing Ger in the country list", chromedp.Focus(chromedp.ID("country")),
		chromedp.SendKeys(chromedp.ID("country"), "Ger"))
	// Wait for Germany's regions, not just any: "Ge" passes Georgia on the way, whose list
	// (12 regions) can arrive first, and choosing Bavaria from it fails.
	for end := time.Now().Add(5 * time.Second); !tabEval[bool](t, ctx, `!document.getElementById("region-field").hidden && !!document.querySelector('#region option[value="BY"]')`); {
		if time.Now().After(end) {
			t.Fatalf("the region list did not update\n%s", tabState(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c := tabEval[string](t, ctx, `document.getElementById("country").value`); c != "DE" {
		t.Errorf("typing Ger chose %q, want DE", c)
	}
	if !tabEval[bool](t, ctx, `window.__same === 1`) {
		t.Error("the page reloaded while typing in the country list")
	}
	if got := tabEval[string](t, ctx, `document.activeElement.id`); got != "country" {
		t.Errorf("focus moved to %q while typing", got)
	}
	tabDo(t, ctx, "choosing a region", chromedp.SetValue(chromedp.ID("region"), "BY"))
	tabClick(t, ctx, "Apply")
	tabExpect(t, ctx, "/account", "Your account")
	tabScreenshot(t, ctx, shots, "03-after-profile")

	tabNavigate(t, ctx, "opening a dead reset link", chromedp.Navigate(e.issuer+"/reset?token=used-or-expired"))
	tabExpect(t, ctx, "/reset", "This link has expired or was already used.", "Get a new link")
	if tabEval[bool](t, ctx, `!!document.getElementById("password")`) {
		t.Error("a dead reset link still shows the password form")
	}
	tabScreenshot(t, ctx, shots, "02-dead-reset-link")
	con.check(t, ctx, "dead reset link")
}

// TestBrowserDeviceCodeAskedOnce (issue 11, items 6 and 4): a person who opens the device's
// link enters the code once, signs in, and lands on the confirmation; the result after
// "Approve" is a page of its own, so the language switcher works there.
func TestBrowserDeviceCodeAskedOnce(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientNative)
	da := e.authorizeDevice(c, "openid offline_access", url.Values{"device_name": {"Living room TV"}})
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)

	tabNavigate(t, ctx, "opening the device's link", chromedp.Navigate(da.VerificationURIComplete))
	tabExpect(t, ctx, "/device", "Connect a device")
	tabClick(t, ctx, "Continue")
	tabExpect(t, ctx, "/login", "Sign in")
	tabDo(t, ctx, "signing in", chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword))
	tabClick(t, ctx, "Sign in")
	// Straight to the confirmation: no second code form, no second "Continue".
	tabExpect(t, ctx, "/device", "Living room TV", "Approve")
	if tabEval[bool](t, ctx, `!!document.getElementById("user_code") && document.getElementById("user_code").type !== "hidden"`) {
		t.Error("the code is asked for a second time after sign-in")
	}
	tabScreenshot(t, ctx, shots, "01-confirm-after-sign-in")
	tabClick(t, ctx, "Approve")
	tabExpect(t, ctx, "/device", "Device connected")
	tabNavigate(t, ctx, "switching to German on the result", chromedp.Click(chromedp.Search(`//a[@hreflang="de"]`)))
	tabExpect(t, ctx, "/device", "Gerät verbunden")
	con.check(t, ctx, "device flow")
	if st, m := e.pollDevice(c, da.DeviceCode); st != http.StatusOK || m["access_token"] == nil {
		t.Errorf("the device's poll after approval: %d %v", st, m)
	}
}
