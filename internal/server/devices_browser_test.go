package server_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// The My devices page in a real browser: two installed products and this browser listed,
// the layout on a phone, and one product signed out with its button — after which that
// product's refresh token is dead and the other's still works.

// deviceRowButton is the "Sign out this device" button in the row of product.
func deviceRowButton(product string) string {
	return fmt.Sprintf(`//ul[contains(concat(" ", normalize-space(@class), " "), " devices ")]/li[strong[normalize-space()=%q]]//button[normalize-space()="Sign out this device"]`, product)
}

// installedProducts is a JavaScript expression: the product names the page lists under
// "Installed apps and devices", in order.
const installedProducts = `Array.from(document.querySelectorAll('section[aria-labelledby="apps-h"] ul.devices > li > strong')).map(s => s.textContent.trim())`

func TestBrowserMyDevices(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{localhost: true})
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)
	const email, productA, productB = "devices.person@example.com", "Encrypted Vault", "Antivirus Desktop"
	e.addUser(email)
	clientA := e.addClient(storage.ClientNative, firstParty, func(c *storage.Client) { c.Name = productA })
	clientB := e.addClient(storage.ClientNative, firstParty, func(c *storage.Client) { c.Name = productB })

	// Two installations (offline_access is among the harness's default scopes), signed in
	// through the Go harness's browser.
	hctx, cancel := context.WithTimeout(context.Background(), 2*browserStep)
	defer cancel()
	hb := e.browser()
	tokA := e.tokens(hctx, hb, clientA, email, oauth2.SetAuthURLParam("device_name", "Office laptop"))
	tokB := e.tokens(hctx, hb, clientB, email)
	if tokA.RefreshToken == "" || tokB.RefreshToken == "" {
		t.Fatalf("an installation got no refresh token (A %t, B %t)", tokA.RefreshToken != "", tokB.RefreshToken != "")
	}

	// The person signs in in Chromium and follows the dashboard's link to the devices page.
	tabNavigate(t, ctx, "opening /login", chromedp.Navigate(e.issuer+"/login"))
	tabExpect(t, ctx, "/login", "Sign in")
	con.check(t, ctx, "sign-in")
	tabDo(t, ctx, "filling the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
	)
	tabClick(t, ctx, "Sign in")
	tabExpect(t, ctx, "/account", "Your account", email, "Your devices")
	con.check(t, ctx, "account")
	tabNavigate(t, ctx, "clicking Your devices",
		chromedp.Click(chromedp.Search(`//a[@href="/account/devices" and normalize-space()="Your devices"]`)))
	tabExpect(t, ctx, "/account/devices", "Your devices", "Installed apps and devices",
		productA, "Office laptop", productB, "Go HTTP client", "Browsers", "This browser", "Sign out everywhere else")
	if got := tabEval[[]string](t, ctx, installedProducts); len(got) != 2 {
		t.Errorf("the page lists the installations %q, want %s and %s", got, productA, productB)
	}
	// "This browser" marks exactly one session: Chromium's, not the harness's Go client.
	current := tabEval[[]string](t, ctx, `Array.from(document.querySelectorAll("ul.devices > li"))
		.filter(li => li.querySelector(".badge") && li.querySelector(".badge").textContent.includes("This browser"))
		.map(li => li.querySelector("strong").textContent.trim())`)
	if len(current) != 1 || !strings.Contains(current[0], "Chrom") {
		t.Errorf(`"This browser" marks the sessions %q, want exactly Chromium's`, current)
	}
	tabScreenshot(t, ctx, shots, "01-devices")
	con.check(t, ctx, "devices")

	// On a 320 px wide phone nothing may stick out sideways.
	tabDo(t, ctx, "phone viewport", chromedp.EmulateViewport(320, 640))
	if w := tabEval[int](t, ctx, `document.documentElement.scrollWidth`); w > 320 {
		wide := tabEval[string](t, ctx, `Array.from(document.querySelectorAll("body *"))
			.filter(el => el.getBoundingClientRect().right > 320)
			.map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "") +
				" right=" + Math.round(el.getBoundingClientRect().right)).slice(0, 10).join(", ")`)
		t.Errorf("at 320 px the devices page is %d px wide (scrolls sideways); too wide: %s", w, wide)
	}
	tabScreenshot(t, ctx, shots, "02-devices-320px")
	tabDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 800))

	// Sign out product A with its own row's button.
	tabNavigate(t, ctx, "clicking Sign out this device for "+productA,
		chromedp.Click(chromedp.Search(deviceRowButton(productA))))
	tabExpect(t, ctx, "/account/devices", "The device was signed out. It has to sign in again.", productB, "This browser")
	if got := tabEval[[]string](t, ctx, installedProducts); len(got) != 1 || got[0] != productB {
		t.Errorf("after signing out %s the page lists %q, want only %s", productA, got, productB)
	}
	if tabEval[bool](t, ctx, fmt.Sprintf(`document.body.innerText.includes(%q)`, productA)) {
		t.Errorf("the page still names %s after it was signed out\n%s", productA, tabState(ctx))
	}
	tabScreenshot(t, ctx, shots, "03-device-signed-out")
	con.check(t, ctx, "devices (after signing out a device)")

	// Over HTTP: A's refresh token is dead, B's still works.
	refresh := func(c *testClient, rt string) int {
		t.Helper()
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, c.Secret)
		if st != 200 {
			t.Logf("refresh for %s: %d %.200s", c.c.Name, st, body)
		}
		return st
	}
	if st := refresh(clientA, tokA.RefreshToken); st != 400 {
		t.Errorf("the signed-out %s still refreshes: %d, want 400", productA, st)
	}
	if st := refresh(clientB, tokB.RefreshToken); st != 200 {
		t.Errorf("%s was signed out too: refresh %d, want 200", productB, st)
	}

	if d := time.Since(start); d > 60*time.Second {
		t.Logf("NOTE: the devices browser test took %v; it should stay under a minute (a note, not a failure: speed is measured in benchmarks)", d.Round(time.Second))
	}
}
