package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// The accessibility test walks every page state a person meets — in English, German and
// Russian, each in the light and the dark colour scheme — and runs axe-core (committed under
// testdata/axe, so it works offline) on each. Any serious or critical violation fails the
// test: contrast, missing labels and names, duplicate ids, a wrong lang, and so on. One
// browser serves the whole walk; the scheme is switched by emulating prefers-color-scheme
// on the loaded page, which restyles it without a reload (and so without re-posting forms).

// a11yLangs are the languages the walk is made in.
var a11yLangs = []string{"en", "de", "ru"}

// axeViolation is what the test keeps of an axe-core result.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeRun runs axe-core on the page (in the light scheme all the rules axe enables by default:
// WCAG 2.x A and AA and best practices; in the dark one the colour rules) and returns the
// serious and critical violations.
const axeRun = `(async () => {
  if (!matchMedia("(prefers-color-scheme: " + %q + ")").matches) throw new Error("the colour scheme is not emulated");
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); // restyled
  // The dark pass changes only colours, so only the colour rules run again.
  const opts = %q === "dark" ? {runOnly: {type: "rule", values: ["color-contrast", "link-in-text-block"]}} : {};
  const res = await axe.run(document, Object.assign({resultTypes: ["violations"]}, opts));
  return res.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 6).map(n => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\s+/g, " ").slice(0, 300)),
  }));
})()`

type a11yWalk struct {
	t       *testing.T
	ctx     context.Context
	axe     string
	lang    string
	shots   string
	checked int
	failed  []string // "state (lang, scheme): rule"
}

// scheme emulates the colour scheme preference.
func (w *a11yWalk) scheme(t *testing.T, s string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(w.ctx, browserStep)
	defer cancel()
	if _, err := chromedp.Call(sctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}}}); err != nil {
		t.Fatalf("emulating prefers-color-scheme: %s: %v", s, err)
	}
}

// check runs axe on the page in the tab, light and then dark, and records each serious or
// critical violation as a test error.
func (w *a11yWalk) check(t *testing.T, state string) {
	t.Helper()
	if lang := tabEval[string](t, w.ctx, `document.documentElement.lang`); lang != w.lang {
		t.Errorf("%s: the page is in %q, want %q", state, lang, w.lang)
	}
	if !tabEval[bool](t, w.ctx, `typeof window.axe === "object"`) {
		// Evaluated through DevTools, so the page's CSP (script-src 'self') does not apply.
		tabEval[chromedp.Void](t, w.ctx, w.axe+"\n;undefined")
	}
	for _, s := range []string{"light", "dark"} {
		w.scheme(t, s)
		sctx, cancel := context.WithTimeout(w.ctx, 2*browserStep)
		vs, err := chromedp.Run(sctx, chromedp.Evaluate[[]axeViolation](fmt.Sprintf(axeRun, s, s), chromedp.EvalAwaitPromise))
		cancel()
		if err != nil {
			t.Fatalf("%s (%s): running axe: %v\n%s", state, s, err, tabState(w.ctx))
		}
		w.checked++
		for _, v := range vs {
			w.failed = append(w.failed, fmt.Sprintf("%s (%s, %s): %s", state, w.lang, s, v.ID))
			t.Errorf("%s (%s, %s scheme): %s [%s] %s\n\t%s", state, w.lang, s, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
		}
		if len(vs) > 0 {
			tabScreenshot(t, w.ctx, w.shots, fmt.Sprintf("%s-%s-%s", strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(state), w.lang, s))
		}
	}
	w.scheme(t, "light")
}

// open navigates to path and wants the page to answer status.
func (w *a11yWalk) open(t *testing.T, url string, status int64) {
	t.Helper()
	w.navigate(t, "opening "+url, status, chromedp.Navigate(url))
}

func (w *a11yWalk) navigate(t *testing.T, what string, status int64, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(w.ctx, browserStep)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, actions...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, tabState(w.ctx))
	}
	if resp == nil || resp.Status != status {
		got := int64(0)
		if resp != nil {
			got = resp.Status
		}
		t.Fatalf("%s: the page answered %d, want %d\n%s", what, got, status, tabState(w.ctx))
	}
}

// at fails unless the tab shows path.
func (w *a11yWalk) at(t *testing.T, path string) {
	t.Helper()
	if got := tabEval[string](t, w.ctx, `location.pathname`); got != path {
		t.Fatalf("at %s, want %s\n%s", got, path, tabState(w.ctx))
	}
}

// submit posts the form holding the element sel with its primary button, the way the server
// sees a click on it, but without the page's own checks in JavaScript (form.submit() skips
// them): the test wants the server's answer, e.g. its error messages.
func (w *a11yWalk) submit(t *testing.T, sel string, status int64) {
	t.Helper()
	w.navigate(t, "submitting the form of "+sel, status, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
  const f = document.querySelector(%q).form;
  const b = Array.from(f.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]"))
    .filter(b => !b.classList.contains("secondary-button") && !b.classList.contains("link-button") && !b.formNoValidate).pop();
  if (b && b.name) { const i = document.createElement("input"); i.type = "hidden"; i.name = b.name; i.value = b.value; f.appendChild(i); }
  f.submit();
})()`, sel)))
}

// fill sets the value of the inputs with the given ids.
func (w *a11yWalk) fill(t *testing.T, idValues ...string) {
	t.Helper()
	for i := 0; i+1 < len(idValues); i += 2 {
		tabDo(t, w.ctx, "filling #"+idValues[i], chromedp.SetValue(chromedp.ID(idValues[i]), idValues[i+1]))
	}
}

func TestBrowserA11yAxe(t *testing.T) {
	t.Parallel()
	start := time.Now()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core: %v (see testdata/axe/README.md)", err)
	}
	ctx := newBrowser(t)
	var faults *faultstore.Store
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), localhost: true,
		wrapStore: func(s storage.Store) storage.Store { faults = faultstore.New(s); return faults }})
	app := e.addClient(storage.ClientConfidential, func(c *storage.Client) { c.Name = "Photo Printer" })
	w := &a11yWalk{t: t, ctx: ctx, axe: string(src), shots: screenshotDir(t)}

	for _, lang := range a11yLangs {
		w.lang = lang
		email := "a11y." + lang + "@example.com"
		e.addUser(email)
		ok := t.Run(lang, func(t *testing.T) {
			// Signed out.
			w.open(t, e.issuer+"/lang?to="+lang+"&back=/login", 200)
			w.at(t, "/login")
			w.check(t, "sign-in")
			if lang == "en" {
				tabScreenshot(t, ctx, w.shots, "sign-in-light")
				w.scheme(t, "dark")
				tabScreenshot(t, ctx, w.shots, "sign-in-dark")
				w.scheme(t, "light")
			}

			w.open(t, e.issuer+"/register", 200)
			w.check(t, "registration")
			w.fill(t, "email", "new."+lang+"@example.com", "password", "short", "confirm", "different", "captcha", "0")
			w.submit(t, "#email", 200)
			w.at(t, "/register")
			if n := tabEval[int](t, ctx, `document.querySelectorAll("[aria-invalid=true]").length`); n == 0 {
				t.Fatalf("registration with errors: no field is marked invalid\n%s", tabState(ctx))
			}
			w.check(t, "registration with errors")

			w.open(t, e.issuer+"/activate?token=a11y-test-token", 200)
			w.check(t, "activation")

			w.open(t, e.issuer+"/device", 200)
			w.check(t, "device-code entry")

			w.open(t, e.issuer+"/forgot", 200)
			w.check(t, "forgot password")
			w.fill(t, "email", email)
			w.submit(t, "#email", 200)
			w.check(t, "forgot password (sent)")
			m := e.smtp.WaitFor(t, email, mailWait)
			link := mailtest.FirstLink(m.Text, e.issuer+"/reset?token=")
			if link == "" {
				t.Fatalf("no reset link in the mail %q:\n%s", m.Subject, m.Text)
			}
			w.open(t, link, 200)
			w.check(t, "reset password")
			// The link used, and opened again: the page saying what it did.
			const newPassword = "a new a11y passphrase"
			w.fill(t, "password", newPassword, "confirm", newPassword)
			w.submit(t, "#password", 200)
			w.open(t, link, 200)
			w.check(t, "reset link used again")

			w.open(t, e.issuer+"/no-such-page", 404)
			w.check(t, "error page")

			// Signed in.
			w.open(t, e.issuer+"/login", 200)
			w.fill(t, "email", email, "password", newPassword)
			w.submit(t, "#email", 200)
			w.at(t, "/account")
			w.check(t, "account dashboard")
			for _, p := range []struct{ path, state string }{
				{"/profile", "profile"},
				{"/account/security", "security"},
				{"/account/devices", "devices"},
				{"/account/apps", "apps"},
			} {
				w.open(t, e.issuer+p.path, 200)
				w.at(t, p.path)
				w.check(t, p.state)
			}

			verifier := oauth2.GenerateVerifier()
			w.open(t, e.oauth2Config(app).AuthCodeURL("a11y", oauth2.S256ChallengeOption(verifier)), 200)
			w.at(t, "/consent")
			w.check(t, "consent")

			// The database fails: the 503 page. (A client not read before: one read in the
			// last second would come from the client cache.)
			unread := e.addClient(storage.ClientConfidential)
			faults.Fail("GetClient")
			w.open(t, e.oauth2Config(unread).AuthCodeURL("a11y", oauth2.S256ChallengeOption(verifier)), 503)
			faults.Clear()
			w.check(t, "503 page")

			w.open(t, e.issuer+"/logout", 200)
			w.check(t, "sign-out")
			w.submit(t, "form[action='/logout'] button", 200)
			w.check(t, "signed out")
		})
		if !ok && len(w.failed) == 0 {
			break // the walk itself broke (not a violation): the other languages would too
		}
	}

	// An operator's light accent (amber: white text on it would be 2.15:1, amber links on
	// white too): the derived theme must hold in both schemes. The pages where the accent
	// shows most: buttons and links, alerts, the badges of the devices page.
	if len(w.failed) == 0 && !t.Failed() {
		amber := newEnvWith(t, envOptions{localhost: true, configure: func(c *config.Config) { c.UI.AccentColor = "#f59e0b" }})
		const email = "a11y.amber@example.com"
		amber.addUser(email)
		w.lang = "en"
		t.Run("amber accent", func(t *testing.T) {
			w.open(t, amber.issuer+"/lang?to=en&back=/login", 200)
			w.check(t, "sign-in (amber)")
			tabScreenshot(t, ctx, w.shots, "amber-sign-in-light")
			w.scheme(t, "dark")
			tabScreenshot(t, ctx, w.shots, "amber-sign-in-dark")
			w.scheme(t, "light")
			w.fill(t, "email", "nobody@example.com", "password", "wrong password")
			w.submit(t, "#email", 200)
			w.check(t, "sign-in with an error (amber)")
			w.fill(t, "email", email, "password", testPassword)
			w.submit(t, "#email", 200)
			w.at(t, "/account")
			w.check(t, "account dashboard (amber)")
			w.open(t, amber.issuer+"/account/devices", 200)
			w.check(t, "devices (amber)")
		})
	}

	t.Logf("axe-core checked %d page states × schemes in %v", w.checked, time.Since(start).Round(time.Millisecond))
	if len(w.failed) > 0 {
		t.Logf("serious or critical violations:\n%s", strings.Join(w.failed, "\n"))
	}
	// Budget: about 30 s on an idle 2-core machine. Far beyond it something hangs or the walk
	// has grown too long for .ci/run.
	if d := time.Since(start); d > time.Minute {
		t.Logf("NOTE: the accessibility test took %v (a busy machine?); it should take well under a minute", d.Round(time.Second))
	}
}
