package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserRegistrationKeepsWhatWasTyped (issue 11, items 1 and 2): Enter submits
// "Create account" (never "New numbers"); a new picture loads in place; slips in the
// password are caught in the page before the captcha is spent; a server-side error keeps
// the fields and the solved captcha; an expired captcha says so.
func TestBrowserRegistrationKeepsWhatWasTyped(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{localhost: true})
	e.clock.Advance(0)
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)
	const email, password = "typist@example.com", "a fine long passphrase"
	value := func(id string) string {
		return tabEval[string](t, ctx, `document.getElementById("`+id+`").value`)
	}
	mark := func() { tabEval[int](t, ctx, `window.__same = 1`) }
	samePage := func() bool { return tabEval[bool](t, ctx, `window.__same === 1`) }

	tabNavigate(t, ctx, "opening /register", chromedp.Navigate(e.issuer+"/register"))
	tabExpect(t, ctx, "/register", "Create account")

	// A new picture in place: nothing typed is lost, the page does not reload.
	first := tabEval[string](t, ctx, `document.getElementById("captcha-image").src`)
	tabDo(t, ctx, "typing", chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password), chromedp.SendKeys(chromedp.ID("confirm"), password))
	mark()
	tabDo(t, ctx, "new numbers", chromedp.Click(chromedp.ID("captcha-reload")))
	for end := time.Now().Add(5 * time.Second); tabEval[string](t, ctx, `document.getElementById("captcha-image").src`) == first; {
		if time.Now().After(end) {
			t.Fatal("the picture did not change")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !samePage() || value("email") != email || value("password") != password || value("confirm") != password {
		t.Errorf("new numbers lost the page or the fields: same page %v, email %q", samePage(), value("email"))
	}
	answer := e.tape.answer(t) // the new picture's numbers

	// A mismatch is caught in the page: no request, the captcha is not spent.
	tabDo(t, ctx, "mistyping the confirmation", chromedp.SendKeys(chromedp.ID("confirm"), "x"),
		chromedp.SendKeys(chromedp.ID("captcha"), answer))
	tabDo(t, ctx, "Enter in the captcha field", chromedp.SendKeys(chromedp.ID("captcha"), kb.Enter))
	for end := time.Now().Add(5 * time.Second); !tabEval[bool](t, ctx, `!!document.getElementById("confirm-error")`); {
		if time.Now().After(end) {
			t.Fatalf("no message about the mismatch\n%s", tabState(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !samePage() {
		t.Error("the mismatch was sent to the server")
	}
	if got := tabEval[string](t, ctx, `document.activeElement.id`); got != "confirm" {
		t.Errorf("focus on %q after the mismatch, want confirm", got)
	}
	tabScreenshot(t, ctx, shots, "01-mismatch-in-page")

	// Enter in the email field submits "Create account" (not "New numbers"). The email is
	// refused by the server; everything typed comes back, and the solved numbers count.
	tabDo(t, ctx, "fixing the confirmation and spoiling the email",
		chromedp.SetValue(chromedp.ID("confirm"), password), chromedp.SetValue(chromedp.ID("email"), "typist@"))
	tabNavigate(t, ctx, "Enter in the email field", chromedp.SendKeys(chromedp.ID("email"), kb.Enter))
	tabExpect(t, ctx, "/register", "Enter a valid email address.", "You have already typed the numbers correctly.")
	if value("password") != password || value("confirm") != password || value("email") != "typist@" {
		t.Errorf("after the server's answer: email %q, passwords kept %v", value("email"), value("password") == password)
	}
	tabScreenshot(t, ctx, shots, "02-email-error-fields-kept")
	con.check(t, ctx, "register (errors)")
	tabDo(t, ctx, "fixing the email", chromedp.SetValue(chromedp.ID("email"), email))
	tabNavigate(t, ctx, "Enter again", chromedp.SendKeys(chromedp.ID("email"), kb.Enter))
	tabExpect(t, ctx, "/register", "Check your email", email)

	// An expired picture says so.
	tabNavigate(t, ctx, "a new form", chromedp.Navigate(e.issuer+"/register"))
	answer = e.tape.answer(t)
	e.clock.Advance(11 * time.Minute)
	tabDo(t, ctx, "filling in late", chromedp.SendKeys(chromedp.ID("email"), "late@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), password), chromedp.SendKeys(chromedp.ID("confirm"), password),
		chromedp.SendKeys(chromedp.ID("captcha"), answer))
	tabNavigate(t, ctx, "Enter", chromedp.SendKeys(chromedp.ID("captcha"), kb.Enter))
	tabExpect(t, ctx, "/register", "These numbers have expired. Here are new ones.")
	if body := tabEval[string](t, ctx, `document.body.innerText`); strings.Contains(body, "picture was wrong") {
		t.Error("an expired captcha is called wrong")
	}
	tabScreenshot(t, ctx, shots, "03-expired")
}
