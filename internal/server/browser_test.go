package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/syncbuf"
)

// Browser tests drive a real headless Chromium against a real MyAccount: the things only a
// browser shows (the CSP refusing a script, cookies over http://localhost, Sec-Fetch-Site on a
// form post, profile.js resubmitting the form, the layout on a narrow phone) are tested here.
//
// Each browser test has a Chromium, a profile and a server of its own and runs in parallel
// (t.Parallel): a browser test mostly waits (for Chromium to start, to load and to lay out),
// on under one core of two.

const (
	// browserStart bounds starting Chromium; browserStep bounds every step after that.
	browserStart = 30 * time.Second
	browserStep  = 10 * time.Second
)

// browserCandidates are the names Chromium and Chrome go by on PATH.
var browserCandidates = []string{"chromium", "chromium-browser", "google-chrome"}

// newBrowser starts a headless Chromium with a fresh profile and returns the context of its
// first tab; the browser ends with the test. Without a browser the test is skipped, loudly,
// except on CI (CI=true), where it fails: CI installs chromium, so a missing one is a broken
// pipeline, not a reason to pass.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	path := ""
	for _, name := range browserCandidates {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("BROWSER TEST FAILED: no browser on PATH (tried %s); CI must install it: apt-get install chromium",
				strings.Join(browserCandidates, ", "))
		}
		msg := fmt.Sprintf("BROWSER TEST SKIPPED: chromium not installed (tried %s) — apt-get install chromium",
			strings.Join(browserCandidates, ", "))
		fmt.Fprintf(os.Stderr, "\n*** %s: %s ***\n\n", t.Name(), msg) // shown without -v too
		t.Skip(msg)
	}

	out := &syncbuf.Buffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("accept-lang", "en-US"),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	var logMu sync.Mutex
	ended := false // t.Logf must not run once the test is over
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !ended {
			t.Logf("chromedp: "+format, args...)
		}
	}))
	// Registered after t.TempDir, so it runs first: the browser is gone before its profile
	// directory is removed.
	t.Cleanup(func() {
		stop, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		closed := make(chan error, 1)
		go func() { closed <- chromedp.Cancel(ctx) }()
		select {
		case <-closed:
		case <-stop.Done():
			t.Log("chromium did not close within 10s; killing it")
		}
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output (tail, D-Bus noise left out):\n%s", tail(chromiumLog(out.String()), 3000))
		}
		logMu.Lock()
		ended = true
		logMu.Unlock()
	})

	// The first Do starts the browser and ties its life to ctx, so it cannot take a timeout
	// context itself; bound the wait here instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v\n%s", path, err, tail(chromiumLog(out.String()), 3000))
		}
	case <-time.After(browserStart):
		t.Fatalf("%s did not start within %v\n%s", path, browserStart, tail(chromiumLog(out.String()), 3000))
	}
	return ctx
}

// tabDo runs actions in the tab with the step timeout.
func tabDo(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, tabState(ctx))
	}
}

// tabEval evaluates a JavaScript expression in the page with the step timeout.
func tabEval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v\n%s", expr, err, tabState(ctx))
	}
	return v
}

// tabNavigate runs the actions (a click, a navigation) and waits until the page they lead to
// has loaded; the final document must answer 200.
func tabNavigate(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, actions...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, tabState(ctx))
	}
	if resp == nil || resp.Status != 200 {
		status := int64(0)
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("%s: the page answered %d\n%s", what, status, tabState(ctx))
	}
}

// tabClick clicks, like a person, the button whose visible label is label, and waits for
// the page it leads to.
func tabClick(t testing.TB, ctx context.Context, label string) {
	t.Helper()
	tabNavigate(t, ctx, "clicking "+label, chromedp.Click(chromedp.Search(`//button[normalize-space()="`+label+`"]`)))
}

// tabExpect waits until the tab shows path with each of texts visible, and fails otherwise.
func tabExpect(t testing.TB, ctx context.Context, path string, texts ...string) {
	t.Helper()
	var err error
	// A navigation that lands while the poll runs destroys its JavaScript context
	// ("Cannot find context with specified id"); that is a retry, not a failure. The pause
	// lets chromedp learn the new page's context first: under the race detector three
	// immediate retries all met the old one.
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		sctx, cancel := context.WithTimeout(ctx, browserStep)
		_, err = chromedp.Run(sctx, chromedp.PollFunction[bool](`(path, texts) =>
			location.pathname === path && document.readyState === "complete" &&
			texts.every(s => document.body.innerText.includes(s))`,
			chromedp.WithPollingArgs(path, texts), chromedp.WithPollingTimeout(5*time.Second)))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Cannot find context") {
			break
		}
	}
	if err != nil {
		t.Fatalf("want the page %s showing %q: %v\n%s", path, texts, err, tabState(ctx))
	}
}

// tabState describes where the tab is and what it shows, for failure messages.
func tabState(ctx context.Context) string {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](
		`location.href + "\n--- visible text ---\n" + (document.body ? document.body.innerText.slice(0, 1500) : "(no body)")`))
	if err != nil {
		return "(page state unavailable: " + err.Error() + ")"
	}
	return "at " + s
}

// screenshotDir is where screenshots go: $MYACCOUNT_ARTIFACTS, else artifacts/screenshots at
// the repository root; one folder per test, emptied first so no stale picture stays.
func screenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MYACCOUNT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "artifacts", "screenshots")
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// repoRoot is the directory holding go.mod above the test's working directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "..", "..") // internal/server → the root
		}
	}
}

// tabScreenshot saves a full-page PNG of the tab as dir/name.png.
func tabScreenshot(t testing.TB, ctx context.Context, dir, name string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	return p
}

// consoleWatch collects what the tab writes to its console: console API calls, uncaught
// exceptions and browser log entries (failed loads, CSP refusals). A listener added to every
// document also reports each securitypolicyviolation event as a console error, so a CSP
// violation is seen even if Chrome changes how it logs them.
type consoleWatch struct {
	mu      sync.Mutex
	msgs    []chromedp.ConsoleMessage
	arrived chan struct{} // closed and replaced on each message
	n       int           // barriers sent
}

const cspReporter = `document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber);
});`

func watchConsole(t testing.TB, ctx context.Context) *consoleWatch {
	t.Helper()
	w := &consoleWatch{arrived: make(chan struct{})}
	msgs := chromedp.Console(ctx) // subscribed from here on
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			close(w.arrived)
			w.arrived = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if _, err := chromedp.Call(sctx, cdppage.AddScriptToEvaluateOnNewDocument,
		cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter}); err != nil {
		t.Fatal(err)
	}
	return w
}

// waitFor waits until a collected message satisfies ok and returns it.
func (w *consoleWatch) waitFor(timeout time.Duration, ok func(chromedp.ConsoleMessage) bool) (chromedp.ConsoleMessage, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		for _, m := range w.msgs {
			if ok(m) {
				w.mu.Unlock()
				return m, true
			}
		}
		arrived := w.arrived
		w.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			return chromedp.ConsoleMessage{}, false
		}
	}
}

// take returns and forgets the messages collected so far, after a barrier message written
// now has come through, so everything the page logged before this call is included.
func (w *consoleWatch) take(t testing.TB, ctx context.Context) []chromedp.ConsoleMessage {
	t.Helper()
	w.n++
	barrier := fmt.Sprintf("myaccount-test-barrier-%d", w.n)
	tabEval[chromedp.Void](t, ctx, `console.debug("`+barrier+`")`)
	if _, ok := w.waitFor(browserStep, func(m chromedp.ConsoleMessage) bool { return m.Text == barrier }); !ok {
		t.Fatalf("console barrier %s did not come through", barrier)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []chromedp.ConsoleMessage
	for i, m := range w.msgs {
		if m.Text == barrier {
			w.msgs = append([]chromedp.ConsoleMessage(nil), w.msgs[i+1:]...)
			return out
		}
		if !strings.HasPrefix(m.Text, "myaccount-test-barrier-") {
			out = append(out, m)
		}
	}
	panic("unreachable: barrier seen but not found")
}

// isCSP reports whether m is a Content Security Policy refusal.
func isCSP(m chromedp.ConsoleMessage) bool {
	return m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") ||
		strings.HasPrefix(m.Text, "CSP violation")
}

// isFaviconMiss reports whether m is the browser's own request for /favicon.ico failing.
func isFaviconMiss(m chromedp.ConsoleMessage) bool {
	return m.Source == "network" && strings.HasSuffix(m.URL, "/favicon.ico")
}

// check fails the test for every console error, uncaught exception or CSP violation the
// page produced since the last check, and logs the rest.
func (w *consoleWatch) check(t testing.TB, ctx context.Context, pageName string) {
	t.Helper()
	for _, m := range w.take(t, ctx) {
		where := ""
		if m.URL != "" {
			where = fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
		}
		switch {
		case isFaviconMiss(m):
			// The browser asks for /favicon.ico on its own; MyAccount serves none (yet).
			t.Logf("%s page: NOTE: no favicon: %s%s", pageName, m, where)
		case isCSP(m):
			t.Errorf("%s page: CSP violation: %s%s", pageName, m, where)
		case m.Type == chromedp.ConsoleError || m.IsException():
			t.Errorf("%s page: console %s%s", pageName, m, where)
		default:
			t.Logf("%s page: console %s%s", pageName, m, where)
		}
	}
}

func TestBrowserRegisterAndActivate(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), localhost: true})
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)
	const email, password = "Browser.Person@example.com", "a fine long passphrase"

	// The browser's time zone: profile.js preselects it on the profile page.
	tzctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if _, err := chromedp.Call(tzctx, emulation.SetTimezoneOverride,
		emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}

	// Registration, first on a 320 px wide phone: nothing may stick out sideways.
	tabDo(t, ctx, "phone viewport", chromedp.EmulateViewport(320, 640))
	tabNavigate(t, ctx, "opening /register", chromedp.Navigate(e.issuer+"/register"))
	tabExpect(t, ctx, "/register", "Create account", "Email", "Password", "Confirm password")
	if lang := tabEval[string](t, ctx, `document.documentElement.lang`); lang != "en" && !strings.HasPrefix(lang, "en-") {
		t.Errorf("page language %q, want English (the browser asks for en-US)", lang)
	}
	tabScreenshot(t, ctx, shots, "01-register-320px")
	if w := tabEval[int](t, ctx, `document.documentElement.scrollWidth`); w > 320 {
		wide := tabEval[string](t, ctx, `Array.from(document.querySelectorAll("body *"))
			.filter(el => el.getBoundingClientRect().right > 320)
			.map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "") +
				" right=" + Math.round(el.getBoundingClientRect().right)).slice(0, 10).join(", ")`)
		t.Errorf("at 320 px the register page is %d px wide (scrolls sideways); too wide: %s", w, wide)
	}
	tabDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 800))
	tabScreenshot(t, ctx, shots, "02-register")
	con.check(t, ctx, "register")

	answer := e.tape.answer(t) // the captcha this page shows
	tabDo(t, ctx, "filling the registration form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("confirm"), password),
		chromedp.SendKeys(chromedp.ID("captcha"), answer),
	)
	tabClick(t, ctx, "Create account")
	tabExpect(t, ctx, "/register", "Check your email", email)
	tabScreenshot(t, ctx, shots, "03-check-email")
	con.check(t, ctx, "check-email")

	// The activation link, as delivered over SMTP.
	m := e.smtp.WaitFor(t, email, mailWait)
	link := mailtest.FirstLink(m.Text, e.issuer+"/activate?token=")
	if link == "" {
		t.Fatalf("no activation link in the mail %q:\n%s", m.Subject, m.Text)
	}
	tabNavigate(t, ctx, "opening the activation link", chromedp.Navigate(link))
	tabExpect(t, ctx, "/activate", "Activate your account")
	tabScreenshot(t, ctx, shots, "04-activate")
	con.check(t, ctx, "activate")
	tabClick(t, ctx, "Activate")

	// Activation confirms the address; signing in still takes the password.
	tabExpect(t, ctx, "/login", "Your email address is confirmed")
	tabDo(t, ctx, "signing in after activation",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	tabClick(t, ctx, "Sign in")

	// The profile: choosing a country updates its regions in place (profile.js).
	tabExpect(t, ctx, "/profile", "Complete your profile", "Country")
	if got := tabEval[bool](t, ctx, `!document.getElementById("region-field").hidden`); got {
		t.Error("the profile page lists regions before a country is chosen")
	}
	if tz := tabEval[string](t, ctx, `document.getElementById("zoneinfo").value`); tz != "Europe/Berlin" {
		t.Errorf("profile.js preselected the time zone %q, want the browser's Europe/Berlin", tz)
	}
	tabScreenshot(t, ctx, shots, "05-profile")
	con.check(t, ctx, "profile")
	tabEval[bool](t, ctx, `(function(){ var c = document.getElementById("country"); c.value = "DE";
		return c.dispatchEvent(new Event("change")); })()`)
	tabExpect(t, ctx, "/profile", "Region")
	for end := time.Now().Add(5 * time.Second); tabEval[int](t, ctx, `document.getElementById("region").options.length`) < 2; {
		if time.Now().After(end) {
			t.Fatalf("no regions for DE\n%s", tabState(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	region := tabEval[string](t, ctx, `(document.querySelector('#region option:not([value=""])') || {}).value || ""`)
	if region == "" {
		t.Fatalf("no regions for DE\n%s", tabState(ctx))
	}
	tabDo(t, ctx, "choosing the region", chromedp.SetValue(chromedp.ID("region"), region))
	tabScreenshot(t, ctx, shots, "06-profile-regions")
	con.check(t, ctx, "profile (regions)")
	tabClick(t, ctx, "Apply")

	// The dashboard.
	tabExpect(t, ctx, "/account", "Your account", email, "Berlin", "Recent activity")
	if country := tabEval[string](t, ctx, `document.querySelector("dl.facts").innerText`); !strings.Contains(country, "Germany") && !strings.Contains(country, "Deutschland") {
		t.Errorf("the profile facts do not name the country:\n%s", country)
	}
	if act := tabEval[string](t, ctx, `document.querySelector("table.activity").innerText`); !strings.Contains(act, "Account activated") {
		t.Errorf("recent activity lacks %q:\n%s", "Account activated", act)
	}
	tabScreenshot(t, ctx, shots, "07-account")
	con.check(t, ctx, "account")
	// The dashboard has the widest content (the activity table): it too must fit a phone.
	tabDo(t, ctx, "phone viewport", chromedp.EmulateViewport(320, 640))
	if w := tabEval[int](t, ctx, `document.documentElement.scrollWidth`); w > 320 {
		t.Errorf("at 320 px the account page is %d px wide (scrolls sideways)", w)
	}
	tabScreenshot(t, ctx, shots, "07-account-320px")
	tabDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 800))

	// Sign out, and in again through the sign-in page.
	tabClick(t, ctx, "Sign out")
	tabExpect(t, ctx, "/logout", "Signed out")
	con.check(t, ctx, "signed-out")
	tabNavigate(t, ctx, "opening /account signed out", chromedp.Navigate(e.issuer+"/account"))
	tabExpect(t, ctx, "/login", "Sign in", "Forgot your password?")
	tabScreenshot(t, ctx, shots, "08-sign-in")
	con.check(t, ctx, "sign-in")
	tabDo(t, ctx, "filling the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), strings.ToLower(email)),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	tabClick(t, ctx, "Sign in")
	tabExpect(t, ctx, "/account", "Your account", email)
	con.check(t, ctx, "account after sign-in")

	// The console watch itself: an image from another origin must be reported as refused.
	tabEval[chromedp.Void](t, ctx, `(() => { const i = new Image(); i.src = "http://192.0.2.1/csp-probe.png"; document.body.appendChild(i); })()`)
	if m, ok := con.waitFor(browserStep, isCSP); !ok {
		t.Error("the console watch did not see a deliberate CSP violation; it would miss real ones")
	} else {
		t.Logf("the console watch sees CSP violations: %s", m)
	}

	if d := time.Since(start); d > 60*time.Second {
		t.Logf("NOTE: the browser test took %v; it should stay under a minute (a note, not a failure: speed is measured in benchmarks)", d.Round(time.Second))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// chromiumLog drops the D-Bus complaints a container without a session bus makes Chromium
// print, which bury anything useful.
func chromiumLog(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.Contains(line, "dbus") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
