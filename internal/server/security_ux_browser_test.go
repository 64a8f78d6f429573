package server_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
)

// Issue 11 items 14 and 16 in a real browser: show-password toggles on every password field
// (the input's type flips, by mouse and by keyboard, and Enter still submits the form), the
// reset page's hidden username, and new recovery codes with copy, download and print, the
// tenth code inside the card on a phone and on a desktop.

// everyPasswordHasToggle is true when each password field of the page is followed by its
// show-password button.
const everyPasswordHasToggle = `(() => {
  const fields = Array.from(document.querySelectorAll('input[type="password"]'));
  return fields.length > 0 && fields.every(i => {
    const b = i.nextElementSibling;
    return b && b.matches('button.reveal[type="button"][aria-pressed="false"]') &&
      b.getAttribute("aria-controls") === i.id && b.getAttribute("aria-label") === "Show password";
  });
})()`

func TestBrowserSecurityUX(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), localhost: true})
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)
	const email = "toggle.person@example.com"
	e.addUser(email)
	u0, _ := url.Parse(e.issuer)
	origin := u0.Scheme + "://" + u0.Host

	// Sign-in page: the toggle follows the password field and flips its type, by mouse and
	// by keyboard (Tab from the field, then Space and Enter).
	tabNavigate(t, ctx, "opening /login", chromedp.Navigate(e.issuer+"/login"))
	tabExpect(t, ctx, "/login", "Sign in", "Show")
	if !tabEval[bool](t, ctx, everyPasswordHasToggle) {
		t.Fatalf("the sign-in page's password field has no toggle\n%s", tabState(ctx))
	}
	typeOf := func() string { return tabEval[string](t, ctx, `document.getElementById("password").type`) }
	pressed := func() string {
		return tabEval[string](t, ctx, `document.getElementById("password").nextElementSibling.getAttribute("aria-pressed")`)
	}
	tabDo(t, ctx, "typing the password", chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	tabDo(t, ctx, "clicking Show", chromedp.Click(chromedp.Search(`//input[@id="password"]/following-sibling::button[1]`)))
	if typeOf() != "text" || pressed() != "true" {
		t.Errorf("after a click the field is %q (aria-pressed %s), want text (true)", typeOf(), pressed())
	}
	if v := tabEval[string](t, ctx, `document.getElementById("password").value`); v != testPassword {
		t.Errorf("showing the password changed it to %q", v)
	}
	tabScreenshot(t, ctx, shots, "01-sign-in-shown")
	tabDo(t, ctx, "clicking Show again", chromedp.Click(chromedp.Search(`//input[@id="password"]/following-sibling::button[1]`)))
	if typeOf() != "password" || pressed() != "false" {
		t.Errorf("after a second click the field is %q (aria-pressed %s), want password (false)", typeOf(), pressed())
	}
	tabDo(t, ctx, "Tab from the password field", chromedp.Focus(chromedp.ID("password")), chromedp.KeyEvent("\t"))
	if got := tabEval[string](t, ctx, `document.activeElement.className + "|" + document.activeElement.textContent`); got != "reveal|Show" {
		t.Fatalf("Tab from the password field lands on %q, want the toggle", got)
	}
	tabDo(t, ctx, "Space on the toggle", chromedp.KeyEvent(" "))
	if typeOf() != "text" || pressed() != "true" {
		t.Errorf("Space on the toggle: the field is %q (aria-pressed %s), want text (true)", typeOf(), pressed())
	}
	tabDo(t, ctx, "Enter on the toggle", chromedp.KeyEvent("\r"))
	if typeOf() != "password" || pressed() != "false" {
		t.Errorf("Enter on the toggle: the field is %q (aria-pressed %s), want password (false)", typeOf(), pressed())
	}
	con.check(t, ctx, "sign-in")
	// The toggle is no default button: Enter in the shown password field signs in.
	tabDo(t, ctx, "showing the password", chromedp.Click(chromedp.Search(`//input[@id="password"]/following-sibling::button[1]`)))
	tabNavigate(t, ctx, "Enter in the password field", chromedp.Focus(chromedp.ID("password")), chromedp.KeyEvent("\r"))
	tabExpect(t, ctx, "/account", "Your account", email)

	// Every password field of the account page has one.
	if !tabEval[bool](t, ctx, everyPasswordHasToggle) {
		t.Errorf("a password field of the account page has no toggle\n%s", tabState(ctx))
	}
	if n := tabEval[int](t, ctx, `document.querySelectorAll("button.reveal").length`); n != tabEval[int](t, ctx, `document.querySelectorAll('input[type="password"]').length`) {
		t.Errorf("%d toggles for the account page's password fields", n)
	}
	con.check(t, ctx, "account")

	// New recovery codes: enrol an authenticator app on the security page.
	tabNavigate(t, ctx, "opening /account/security", chromedp.Navigate(e.issuer+"/account/security"))
	tabClick(t, ctx, "Add an authenticator app")
	tabExpect(t, ctx, "/account/security/totp", "Add an authenticator app")
	keyText := tabEval[string](t, ctx, `document.getElementById("totp-key").textContent`)
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(keyText, " ", ""))
	if err != nil {
		t.Fatalf("key %q: %v", keyText, err)
	}
	tabDo(t, ctx, "typing the app's code", chromedp.SendKeys(chromedp.ID("totp-code"), e.totpNow(key)))
	tabClick(t, ctx, "Add the app")
	tabExpect(t, ctx, "/account/security", "Save your recovery codes", "Copy", "Download (.txt)", "Print")
	codes := tabEval[[]string](t, ctx, `Array.from(document.querySelectorAll("#recovery-codes code")).map(c => c.textContent)`)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	con.check(t, ctx, "security with codes")

	// Download: a data: URL made in the page, holding every code.
	if name := tabEval[string](t, ctx, `document.getElementById("codes-download").getAttribute("download")`); !strings.HasSuffix(name, "recovery-codes.txt") {
		t.Errorf("the download is named %q", name)
	}
	file := tabEval[string](t, ctx, `(() => { const h = document.getElementById("codes-download").href;
		return h.startsWith("data:text/plain") ? decodeURIComponent(h.slice(h.indexOf(",") + 1)) : "not a data: URL: " + h; })()`)
	for _, c := range codes {
		if !strings.Contains(file, c) {
			t.Errorf("the download lacks the code %s:\n%s", c, file)
		}
	}
	if !strings.Contains(file, email) {
		t.Errorf("the download does not say whose codes they are:\n%s", file)
	}

	// Copy: the Clipboard API, allowed for this origin.
	{
		sctx, cancel := context.WithTimeout(ctx, browserStep)
		var err error
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err = chromedp.Call(sctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin}); err != nil {
				break
			}
		}
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	tabClick2 := func(id string) { tabDo(t, ctx, "clicking #"+id, chromedp.Click(chromedp.ID(id))) }
	tabClick2("codes-copy")
	{
		sctx, cancel := context.WithTimeout(ctx, browserStep)
		_, err := chromedp.Run(sctx, chromedp.Poll[bool](`document.getElementById("codes-status").textContent !== ""`, chromedp.WithPollingTimeout(browserStep)))
		cancel()
		if err != nil {
			t.Fatalf("waiting for the copy: %v\n%s", err, tabState(ctx))
		}
	}
	if s := tabEval[string](t, ctx, `document.getElementById("codes-status").textContent`); s != "The codes were copied." {
		t.Errorf("after Copy the page says %q", s)
	}
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	clip, err := chromedp.Run(sctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	cancel()
	if err != nil {
		t.Fatalf("reading the clipboard: %v", err)
	}
	if clip != file {
		t.Errorf("the clipboard holds %q, want the download's text %q", clip, file)
	}

	// Print: window.print, with a print stylesheet that shows the codes alone.
	tabEval[chromedp.Void](t, ctx, `window.print = () => { window.printed = true; }`)
	tabClick2("codes-print")
	if !tabEval[bool](t, ctx, `window.printed === true`) {
		t.Error("Print did not call window.print")
	}
	media := func(m string) {
		sctx, cancel := context.WithTimeout(ctx, browserStep)
		defer cancel()
		if _, err := chromedp.Call(sctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m}); err != nil {
			t.Fatalf("emulating media %q: %v", m, err)
		}
	}
	media("print")
	visible := func(sel string) bool {
		return tabEval[bool](t, ctx, fmt.Sprintf(`(() => { const el = document.querySelector(%q); return !!el && el.getClientRects().length > 0; })()`, sel))
	}
	for sel, want := range map[string]bool{"#recovery-codes": true, "#new-codes-h": true, "#new-codes .print-only": true,
		"h1": false, ".langs": false, "#code-actions": false, "#apps-h": false} {
		if got := visible(sel); got != want {
			t.Errorf("printed, %s visible = %v, want %v", sel, got, want)
		}
	}
	tabScreenshot(t, ctx, shots, "02-codes-print")
	media("")

	// The tenth code fits in the card, on a phone and on a desktop.
	for _, w := range []int64{320, 1280} {
		tabDo(t, ctx, "viewport", chromedp.EmulateViewport(w, 800))
		fit := tabEval[string](t, ctx, `(() => {
			const card = document.querySelector("main.card").getBoundingClientRect();
			const li = document.querySelectorAll("#recovery-codes li")[9], r = li.getBoundingClientRect();
			const c = li.querySelector("code").getBoundingClientRect();
			const out = [];
			if (r.left < card.left || r.right > card.right || c.right > card.right) out.push("li " + r.left + ".." + r.right + " code ..." + c.right + " card " + card.left + ".." + card.right);
			if (li.scrollWidth > li.clientWidth) out.push("li overflows: " + li.scrollWidth + " > " + li.clientWidth);
			if (document.documentElement.scrollWidth > innerWidth) out.push("page scrolls sideways: " + document.documentElement.scrollWidth);
			return out.join("; ");
		})()`)
		if fit != "" {
			t.Errorf("at %d px the tenth code does not fit: %s", w, fit)
		}
		tabScreenshot(t, ctx, shots, fmt.Sprintf("03-codes-%dpx", w))
	}
	tabDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 800))
	con.check(t, ctx, "security after copy and print")

	// Registration: both password fields have a toggle.
	tabNavigate(t, ctx, "opening /register", chromedp.Navigate(e.issuer+"/register"))
	tabExpect(t, ctx, "/register", "Create account")
	if !tabEval[bool](t, ctx, everyPasswordHasToggle) || tabEval[int](t, ctx, `document.querySelectorAll("button.reveal").length`) != 2 {
		t.Errorf("the registration page's password fields lack toggles\n%s", tabState(ctx))
	}
	con.check(t, ctx, "register")

	// Reset: toggles, and the account's address in a hidden username field.
	e.smtp.WaitFor(t, email, mailWait) // the "factor added" notice
	b := e.browser()
	f := b.get(e.issuer + "/forgot").formValues()
	f.Set("email", email)
	b.post(e.issuer+"/forgot", f)
	link, _ := e.mailLink(email, "/reset?token=")
	tabNavigate(t, ctx, "opening the reset link", chromedp.Navigate(link))
	tabExpect(t, ctx, "/reset", "Set a new password")
	if !tabEval[bool](t, ctx, everyPasswordHasToggle) {
		t.Errorf("the reset page's password fields lack toggles\n%s", tabState(ctx))
	}
	if got := tabEval[string](t, ctx, `(() => { const u = document.querySelector('input[name="username"]');
		return u ? u.type + "|" + u.autocomplete + "|" + u.hidden + "|" + u.value : "none"; })()`); got != "email|username|true|"+email {
		t.Errorf("the reset page's username field: %q", got)
	}
	tabDo(t, ctx, "phone viewport", chromedp.EmulateViewport(320, 640))
	tabScreenshot(t, ctx, shots, "04-reset-320px")
	tabDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 800))
	con.check(t, ctx, "reset")
}
