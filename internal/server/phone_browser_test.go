package server_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/myaccount/myaccount/internal/sms/smstest"
)

// TestBrowserPhone: in Chromium, in English, German and Russian, a person whose profile
// country is Germany follows the dashboard's link to the phone page, where Germany is
// preselected; a word for a number marks the field invalid; "030 123456" in national form
// is sent a code (the fake gateway receives +4930123456 with the localhost one-time-code
// line); the code confirms the number. axe-core checks every state in light and dark.
func TestBrowserPhone(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core: %v (see testdata/axe/README.md)", err)
	}
	ctx := newBrowser(t)
	e, g := phoneEnv(t, false, nil, envOptions{localhost: true})
	w := &a11yWalk{t: t, ctx: ctx, axe: string(src), shots: screenshotDir(t)}
	for _, lang := range a11yLangs {
		w.lang = lang
		email := "phone." + lang + "@example.com"
		e.germanUser(email)
		ok := t.Run(lang, func(t *testing.T) {
			w.open(t, e.issuer+"/lang?to="+lang+"&back=/login", 200)
			w.fill(t, "email", email, "password", testPassword)
			w.submit(t, "#email", 200)
			w.at(t, "/account")
			tabNavigate(t, ctx, "following the dashboard's link to the phone page",
				chromedp.Click(chromedp.Search(`//a[@href="/account/phone"]`)))
			w.at(t, "/account/phone")
			if got := tabEval[string](t, ctx, `document.querySelector("#country").value`); got != "DE" {
				t.Fatalf("the profile's country is not preselected: %q", got)
			}
			w.check(t, "phone (no number)")

			w.fill(t, "number", "zwei")
			w.submit(t, "#number", 422)
			if n := tabEval[int](t, ctx, `document.querySelectorAll("#number[aria-invalid=true]").length`); n != 1 {
				t.Fatalf("a word for a number: the field is not marked invalid\n%s", tabState(ctx))
			}
			w.check(t, "phone (number refused)")

			w.fill(t, "number", "030 123456")
			w.submit(t, "#number", 200)
			m := g.Wait(t)
			host, code := smstest.Code(t, m)
			if m.To != "+4930123456" || host != "localhost" {
				t.Fatalf("the gateway got %+v (host %q)", m, host)
			}
			// autofocus is applied at a rendering step after load, not at load itself.
			if !tabHoldsWithin(ctx, `document.activeElement && document.activeElement.id === "code"`, 3*time.Second) {
				t.Errorf("focus is on %q after sending, want the code field", tabEval[string](t, ctx, `document.activeElement.id`))
			}
			w.check(t, "phone (code sent)")

			w.fill(t, "code", code)
			w.submit(t, "#code", 200)
			w.at(t, "/account/phone")
			if got := tabEval[string](t, ctx, `document.querySelector("#verified-number").textContent`); got != "+49 30 123456" {
				t.Fatalf("confirmed number shown as %q\n%s", got, tabState(ctx))
			}
			w.check(t, "phone (confirmed)")

			w.submit(t, "form[action='/account/phone/remove'] button", 200)
			if n := tabEval[int](t, ctx, `document.querySelectorAll("#verified-number").length`); n != 0 {
				t.Fatalf("the number is still shown after removing it")
			}
			w.open(t, e.issuer+"/logout", 200)
			w.submit(t, "form[action='/logout'] button", 200)
		})
		if !ok && len(w.failed) == 0 {
			break
		}
	}
}
