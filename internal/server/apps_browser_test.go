package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Apps with access, in a real browser: a person signs in to a third-party web app through
// the consent page; the dashboard (two columns on a desktop, one on a phone, the activity
// table stacked) and the Apps page list it with its scopes in words; the devices page does
// not. "Remove access" kills the app's refresh token and forgets the consent, so the next
// authorization asks again.

// appRowButton is the "Remove access" button in the row of the app named name.
func appRowButton(name string) string {
	return fmt.Sprintf(`//ul[contains(concat(" ", normalize-space(@class), " "), " apps ")]/li[h2[normalize-space()=%q]]//button[normalize-space()="Remove access"]`, name)
}

func TestBrowserAppsWithAccess(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{localhost: true})
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)
	axeSrc, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core: %v (see testdata/axe/README.md)", err)
	}
	axe := &a11yWalk{t: t, ctx: ctx, axe: string(axeSrc), lang: "en", shots: shots}
	const email, appName, vaultName = "apps.person@example.com", "Photo Printer", "Encrypted Vault"
	e.addUser(email)

	// The third-party web app: a confidential client, no firstParty, its callback a local
	// server standing in for the app.
	got := make(chan url.Values, 4)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case got <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Photo Printer</title></head><body><h1>Back at the app</h1></body></html>`)
	}))
	t.Cleanup(rp.Close)
	app := e.addClient(storage.ClientConfidential, func(c *storage.Client) {
		c.Name = appName
		c.RedirectURIs = []string{rp.URL + "/callback"}
		c.ClientURI = "https://photoprinter.example/"
	})
	app.Redirect = rp.URL + "/callback"

	// A first-party desktop product (a native client) installed on a laptop: an installation,
	// shown under Devices and not under Apps.
	vault := e.addClient(storage.ClientNative, firstParty, func(c *storage.Client) { c.Name = vaultName })
	hctx, cancel := context.WithTimeout(context.Background(), 2*browserStep)
	defer cancel()
	if tok := e.tokens(hctx, e.browser(), vault, email, oauth2.SetAuthURLParam("device_name", "Office laptop")); tok.RefreshToken == "" {
		t.Fatal("the installation got no refresh token")
	}

	// 1. Sign in to the app in Chromium: sign-in, then the consent page with the scopes.
	conf := e.oauth2Config(app)
	authorize := func(what string) {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		tabNavigate(t, ctx, what, chromedp.Navigate(conf.AuthCodeURL(secret.RandomToken(8), oauth2.S256ChallengeOption(verifier))))
	}
	verifier := oauth2.GenerateVerifier()
	state := secret.RandomToken(8)
	tabNavigate(t, ctx, "opening the app's authorization request",
		chromedp.Navigate(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))))
	tabExpect(t, ctx, "/login", "Sign in")
	tabDo(t, ctx, "filling the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
	)
	tabClick(t, ctx, "Sign in")
	tabExpect(t, ctx, "/consent", appName, "See your email address", "Stay signed in when you are not using it")
	con.check(t, ctx, "consent")
	tabClick(t, ctx, "Allow")
	tabWait(t, ctx, "the app's callback", atPath(rp.URL, "/callback", "Back at the app"))
	var cb url.Values
	select {
	case cb = <-got:
	case <-time.After(browserStep):
		t.Fatal("the app's redirect URI was never called")
	}
	if cb.Get("error") != "" || cb.Get("state") != state {
		t.Fatalf("authorization: error %q (%s), state %q want %q", cb.Get("error"), cb.Get("error_description"), cb.Get("state"), state)
	}
	ectx, cancel2 := context.WithTimeout(context.Background(), browserStep)
	defer cancel2()
	tok, err := conf.Exchange(ectx, cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchanging the code: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("the app got no refresh token")
	}

	// 2. The dashboard at 1280 px: two columns, the app under Apps, the laptop under Devices.
	tabNavigate(t, ctx, "opening the dashboard", chromedp.Navigate(e.issuer+"/account"))
	tabExpect(t, ctx, "/account", "Your account", "Profile", "Security", "Devices", "Apps", "Recent activity")
	section := func(id string) string {
		return tabEval[string](t, ctx, fmt.Sprintf(`document.querySelector('section[aria-labelledby=%q]').innerText`, id))
	}
	if s := section("apps-h"); !strings.Contains(s, appName) || strings.Contains(s, vaultName) {
		t.Errorf("the dashboard's Apps section should name %s and not %s:\n%s", appName, vaultName, s)
	}
	if s := section("devices-h"); !strings.Contains(s, vaultName) || !strings.Contains(s, "This browser") || strings.Contains(s, appName) {
		t.Errorf("the dashboard's Devices section should name %s and this browser, not %s:\n%s", vaultName, appName, s)
	}
	columns := func() int {
		return tabEval[int](t, ctx, `getComputedStyle(document.querySelector(".dashboard")).gridTemplateColumns.split(" ").length`)
	}
	if n := columns(); n != 2 {
		t.Errorf("at 1280 px the dashboard has %d columns, want 2", n)
	}
	tabScreenshot(t, ctx, shots, "01-dashboard-1280px")
	con.check(t, ctx, "dashboard")
	axe.check(t, "dashboard with devices and apps")

	// 3. On a 390 px phone: one column, nothing sideways, the activity table stacked, each
	// cell labelled, and no date broken over two lines.
	tabDo(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844))
	if n := columns(); n != 1 {
		t.Errorf("at 390 px the dashboard has %d columns, want 1", n)
	}
	if w := tabEval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390 px the dashboard is %d px wide (scrolls sideways)", w)
	}
	if d := tabEval[string](t, ctx, `getComputedStyle(document.querySelector("table.activity tr")).display`); d != "block" {
		t.Errorf("at 390 px an activity row is display:%s, want block (stacked)", d)
	}
	if l := tabEval[string](t, ctx, `getComputedStyle(document.querySelector("table.activity td"), "::before").content`); !strings.Contains(l, "What") {
		t.Errorf("at 390 px the first activity cell is labelled %s, want What", l)
	}
	broken := tabEval[[]string](t, ctx, `Array.from(document.querySelectorAll('table.activity td[data-label="When"]')).filter(td => {
		const r = document.createRange(); r.selectNodeContents(td);
		return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size > 1;
	}).map(td => td.textContent)`)
	if len(broken) > 0 {
		t.Errorf("at 390 px these dates break over lines: %q", broken)
	}
	tabScreenshot(t, ctx, shots, "02-dashboard-390px")
	tabDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 800))

	// 4. The Apps page: the app, its home page's domain, its scopes in words, first and last
	// use; not the installed product.
	tabNavigate(t, ctx, "clicking Apps with access", chromedp.Click(chromedp.Search(`//a[@href="/account/apps"]`)))
	tabExpect(t, ctx, "/account/apps", "Apps with access", appName, "photoprinter.example",
		"Sign you in", "See your email address", "See your name, language and time zone",
		"Stay signed in when you are not using it", "First used", "Last used", "Remove access")
	if tabEval[bool](t, ctx, fmt.Sprintf(`document.body.innerText.includes(%q)`, vaultName)) {
		t.Errorf("the Apps page lists the installation %s", vaultName)
	}
	tabScreenshot(t, ctx, shots, "03-apps")
	con.check(t, ctx, "apps")
	axe.check(t, "apps page with an app")

	// 5. Devices: the laptop and this browser, not the web app.
	tabNavigate(t, ctx, "opening the devices page", chromedp.Navigate(e.issuer+"/account/devices"))
	tabExpect(t, ctx, "/account/devices", vaultName, "Office laptop", "This browser", "Apps with access")
	if tabEval[bool](t, ctx, fmt.Sprintf(`document.body.innerText.includes(%q)`, appName)) {
		t.Errorf("the devices page lists the web app %s\n%s", appName, tabState(ctx))
	}
	tabScreenshot(t, ctx, shots, "04-devices")

	// 6. Remove access.
	tabNavigate(t, ctx, "opening the apps page", chromedp.Navigate(e.issuer+"/account/apps"))
	tabNavigate(t, ctx, "clicking Remove access", chromedp.Click(chromedp.Search(appRowButton(appName))))
	tabExpect(t, ctx, "/account/apps", "The app no longer has access to your account.", "No app has access to your account.")
	if tabEval[bool](t, ctx, `document.querySelectorAll("ul.apps > li").length > 0`) {
		t.Errorf("the app is still listed after removing its access\n%s", tabState(ctx))
	}
	tabScreenshot(t, ctx, shots, "05-apps-access-removed")
	con.check(t, ctx, "apps (access removed)")

	// Its refresh token is dead: invalid_grant.
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, app.ID, app.Secret)
	if st != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Errorf("refresh after Remove access: %d %.200s, want 400 invalid_grant", st, body)
	}
	// The installation is untouched.
	tabNavigate(t, ctx, "opening the dashboard", chromedp.Navigate(e.issuer+"/account"))
	tabExpect(t, ctx, "/account", vaultName, "App access removed", appName)

	// The consent is forgotten: the next authorization asks again.
	authorize("authorizing the app again")
	tabExpect(t, ctx, "/consent", appName, "Allow")
}
