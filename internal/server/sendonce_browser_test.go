package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// TestBrowserDoubleClickSendsOnce: a person double-clicks "Sign in" on an app's sign-in
// page in Chromium. The server sees one POST (sendonce.js holds the second), and the person
// lands at the app. Without it the server saw two, the second answered "This sign-in … is
// already complete". The sign-in is slowed, so that the second click comes while the first
// answer is on its way, as it does for a person on a slow network.
func TestBrowserDoubleClickSendsOnce(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{localhost: true})
	con := watchConsole(t, ctx)
	const email = "double.click@example.com"
	e.addUser(email)

	var posts atomic.Int32
	next := e.http.Config.Handler
	e.http.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/login" {
			posts.Add(1)
			time.Sleep(time.Second)
		}
		next.ServeHTTP(w, r)
	})
	var callbacks atomic.Int32
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		callbacks.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>App</title></head><body><h1>Back at the app</h1></body></html>`)
	}))
	t.Cleanup(rp.Close)
	app := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) {
		c.RedirectURIs = []string{rp.URL + "/callback"}
	})
	app.Redirect = rp.URL + "/callback"

	conf := e.oauth2Config(app)
	tabNavigate(t, ctx, "opening the app's authorization request",
		chromedp.Navigate(conf.AuthCodeURL(secret.RandomToken(8), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	tabExpect(t, ctx, "/login", "Sign in")
	tabDo(t, ctx, "filling the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
	)
	// The button's state while its form is on its way, told through the console: the page is
	// being replaced by then.
	tabEval[chromedp.Void](t, ctx, `(() => { const b = document.querySelector('form[action="/login"] button[type="submit"]');
		new MutationObserver(() => console.info("sendonce: aria-disabled=" + b.getAttribute("aria-disabled"))).observe(b, { attributes: true }); })()`)
	// A person's double-click: two presses of the button, 150 ms apart.
	box := tabEval[[]float64](t, ctx, `(() => { const r = document.querySelector('form[action="/login"] button[type="submit"]').getBoundingClientRect();
		return [r.x + r.width / 2, r.y + r.height / 2]; })()`)
	tabDo(t, ctx, "double-clicking Sign in",
		chromedp.MouseClickXY(box[0], box[1]),
		chromedp.Sleep(150*time.Millisecond), // Chromium merges two submissions in one task
		chromedp.MouseClickXY(box[0], box[1], chromedp.ClickCount(2)),
	)
	if _, ok := con.waitFor(browserStep, func(m chromedp.ConsoleMessage) bool { return m.Text == "sendonce: aria-disabled=true" }); !ok {
		t.Error("the pressed button was not marked aria-disabled while its form was on its way")
	}
	tabWait(t, ctx, "the app's callback", atPath(rp.URL, "/callback", "Back at the app"))
	if n := posts.Load(); n != 1 {
		t.Errorf("the server saw %d sign-in POSTs, want 1", n)
	}
	if n := callbacks.Load(); n != 1 {
		t.Errorf("the app was called %d times, want 1", n)
	}
	con.check(t, ctx, "sign-in")
}
