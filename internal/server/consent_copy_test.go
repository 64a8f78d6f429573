package server_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// Issue 11 items 12 (consent shows who asks) and 15 (copy that tells a person what happened
// and what to do), end to end against the real server.

// withIdentity sets the addresses a client shows on the consent page, as
// `myaccount client create --logo-uri … --client-uri … --policy-uri … --tos-uri …` stores them.
func withIdentity(logo, home, policy, tos string) clientOpt {
	return func(c *storage.Client) {
		c.LogoURI, c.ClientURI, c.PolicyURI, c.TosURI = logo, home, policy, tos
	}
}

// imgSrc returns the img-src directive of a response's Content-Security-Policy.
func imgSrc(t testing.TB, h http.Header) string {
	t.Helper()
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "img-src ") {
			return d
		}
	}
	t.Fatalf("no img-src in %q", h.Get("Content-Security-Policy"))
	return ""
}

// consentPageFor signs email in to c in a new browser, in the page language lang ("" for
// the default) chosen with the language switcher, and returns the consent page.
func (e *testEnv) consentPageFor(c *testClient, email, lang string) (*browser, *page) {
	e.t.Helper()
	b := e.browser()
	if lang != "" {
		b.get(e.issuer + "/lang?to=" + lang + "&back=/login")
	}
	verifier, _ := pkce()
	p := b.get(e.oauth2Config(c).AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	p = b.submitLogin(p, email, testPassword)
	mustAt(e.t, p, "/consent", `action="/consent"`)
	return b, p
}

func TestConsentShowsWhoAsks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, withIdentity("https://cdn.photo.example/logo.png?v=2",
		"https://www.photo.example/", "https://photo.example/privacy", "https://photo.example/terms"))

	b, p := e.consentPageFor(c, "ada@example.com", "")
	name := c.c.Name
	mustAt(t, p, "/consent",
		`<img src="https://cdn.photo.example/logo.png?v=2" alt="" class="logo mark"`,
		// The home page's domain as text, linking to the home page.
		`<a href="https://www.photo.example/" rel="noopener noreferrer">www.photo.example</a>`,
		`<a href="https://photo.example/privacy" rel="noopener noreferrer">Privacy policy of `+name+`</a>`,
		`<a href="https://photo.example/terms" rel="noopener noreferrer">Terms of service of `+name+`</a>`)
	// The strict policy is widened for this page by exactly the logo's origin.
	if got := imgSrc(t, p.header); got != "img-src 'self' data: https://cdn.photo.example" {
		t.Errorf("consent page %s, want the logo's origin added and nothing else", got)
	}
	if !strings.Contains(p.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("consent page CSP lost the rest of the policy: %q", p.header.Get("Content-Security-Policy"))
	}
	// Every other page keeps img-src 'self' data: (here: the account page, same browser).
	if got := imgSrc(t, b.get(e.issuer+"/account").header); got != "img-src 'self' data:" {
		t.Errorf("account page %s", got)
	}
	// Allowing still works and goes back to the client.
	if res := redirectResult(t, b.consent(p, "allow"), c.Redirect); res.code == "" {
		t.Fatalf("no code after allowing: %+v", res)
	}

	// In German the links say whose policy they are (another person: Ada has allowed it).
	e.addUser("grace@example.com")
	_, p = e.consentPageFor(c, "grace@example.com", "de")
	mustAt(t, p, "/consent", "Datenschutzerklärung von "+name, "Nutzungsbedingungen von "+name)
}

func TestConsentRefusesUnsafeIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	// Rows written around the CLI's checks (an older tool, a hand-edited database): http,
	// script and deceptive addresses are not shown, and the policy is not widened.
	c := e.addClient(storage.ClientConfidential, withIdentity("http://photo.example/logo.png",
		"https://bank.example@evil.example/", "javascript:alert(1)", "https://photo.example/terms\" onmouseover=\"x"))
	_, p := e.consentPageFor(c, "ada@example.com", "")
	for _, bad := range []string{"photo.example/logo.png", "evil.example", "javascript:", "onmouseover", "Privacy policy of", "Terms of service of"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("consent page shows %q:\n%.2000s", bad, p.body)
		}
	}
	if got := imgSrc(t, p.header); got != "img-src 'self' data:" {
		t.Errorf("consent page %s, want it unchanged", got)
	}
	// A client without any of them: the page is as before.
	plain := e.addClient(storage.ClientConfidential)
	_, p = e.consentPageFor(plain, "ada@example.com", "")
	if strings.Contains(p.body, `class="brand client"`) || imgSrc(t, p.header) != "img-src 'self' data:" {
		t.Errorf("consent page for a client without identity:\n%.1500s", p.body)
	}
}

func TestProfileHeadingEditOrComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	b := e.browser()
	p := e.passwordSignIn(b, "ada@example.com")
	mustAt(t, p, "/account", `href="/profile"`)
	// The dashboard's "Edit profile" leads to a page that says so, and asks for nothing.
	p = b.get(e.issuer + "/profile")
	mustAt(t, p, "/profile", "<h1>Edit profile</h1>", "<title>Edit profile")
	for _, wrong := range []string{"Complete your profile", "We need a few details"} {
		if strings.Contains(p.body, wrong) {
			t.Errorf("the edit page says %q", wrong)
		}
	}

	// A first completion still says "Complete your profile".
	u := e.addUser("new@example.com")
	if _, err := e.store.UpdateUser(context.Background(), u.ID, func(x *storage.User) error { x.Country, x.Region = "", ""; return nil }); err != nil {
		t.Fatal(err)
	}
	b = e.browser()
	p = e.passwordSignIn(b, "new@example.com")
	mustAt(t, p, "/profile", "<h1>Complete your profile</h1>", "We need a few details before you continue.")
}

func TestActivationSaysConfirmed(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	b := e.browser()
	p := e.register(b, b.get(e.issuer+"/register"), "grace@example.com", "a fine long passphrase", "a fine long passphrase")
	if p.status != http.StatusOK {
		t.Fatalf("registration: %d", p.status)
	}
	link, _ := e.mailLink("grace@example.com", "/activate?token=")
	p = b.confirmLink(link)
	mustAt(t, p, "/login", `<p class="notice" role="status">Your email address is confirmed and your account is active. Sign in with your password to continue.</p>`)
	// The same in German.
	de := e.browser()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/login?activated=1", nil)
	req.Header.Set("Accept-Language", "de")
	mustAt(t, de.do(req), "/login", "Ihre E-Mail-Adresse ist bestätigt und Ihr Konto ist aktiv.")
}

var cancelRE = regexp.MustCompile(`<p class="secondary"><a href="([^"]*)">([^<]*)</a></p>`)

// logoutCancel returns the Cancel link of the sign-out page p.
func logoutCancel(t testing.TB, p *page) (href, text string) {
	t.Helper()
	mustAt(t, p, "/logout", `action="/logout"`)
	m := cancelRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the sign-out page has no Cancel link:\n%.2000s", p.body)
	}
	return html.UnescapeString(m[1]), html.UnescapeString(m[2])
}

func TestLogoutCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	home := e.addClient(storage.ClientConfidential, firstParty, withIdentity("", "https://photo.example/start", "", ""))
	bare := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	e.signIn(b, home, "ada@example.com")

	// From the account: Cancel goes back to it, still signed in.
	href, text := logoutCancel(t, b.get(e.issuer+"/logout"))
	if href != "/account" || text != "Cancel" {
		t.Errorf("Cancel = %q %q, want Cancel to /account", text, href)
	}
	mustAt(t, b.get(e.issuer+href), "/account", "ada@example.com")

	// From an application (RP-initiated logout without id_token_hint): back to its home page.
	endSession := func(c *testClient, postLogout string) *page {
		return b.get(e.issuer + "/end_session?" + url.Values{"client_id": {c.ID},
			"post_logout_redirect_uri": {postLogout}, "state": {"s1"}}.Encode())
	}
	href, text = logoutCancel(t, endSession(home, home.c.PostLogoutRedirectURIs[0]))
	if href != "https://photo.example/start" || text != "Cancel and return to "+home.c.Name {
		t.Errorf("Cancel = %q %q, want to return to the client's home page", text, href)
	}
	// Without a home page: the site of its registered post-logout address, not the address
	// itself (arriving there would tell the application the sign-out happened).
	href, _ = logoutCancel(t, endSession(bare, bare.c.PostLogoutRedirectURIs[0]))
	if href != "https://rp.example/" {
		t.Errorf("Cancel for a client without a home page = %q, want https://rp.example/", href)
	}
	// An unregistered post-logout address is not trusted for Cancel either.
	href, _ = logoutCancel(t, b.get(e.issuer+"/logout?"+url.Values{"client_id": {home.ID},
		"post_logout_redirect_uri": {"https://evil.example/"}}.Encode()))
	if href != "/account" {
		t.Errorf("Cancel with an unregistered address = %q, want /account", href)
	}
	// Cancelling ended nothing.
	mustAt(t, b.get(e.issuer+"/account"), "/account", "ada@example.com")
	// German.
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/logout", nil)
	req.Header.Set("Accept-Language", "de")
	if _, text = logoutCancel(t, b.do(req)); text != "Abbrechen" {
		t.Errorf("German Cancel = %q", text)
	}
}

func TestInvalidRedirectExplainsItself(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientPublic)
	verifier, _ := pkce()
	cfg := e.oauth2Config(c)
	cfg.RedirectURL = "https://evil.example/cb"
	u := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))

	p := e.browser().get(u)
	if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
		t.Fatalf("unregistered redirect: %d, Location %q", p.status, p.header.Get("Location"))
	}
	for _, want := range []string{"<h1>Sign-in stopped</h1>",
		"asked us to send you back to an address it has not registered", "Your account is safe.",
		"Go back to the application and try again", "tell the application&#39;s support team",
		`<p class="hint">Error code: invalid_redirect_uri</p>`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("invalid-redirect page lacks %q:\n%.2000s", want, p.body)
		}
	}
	// The message names no address: a person cannot judge one, and it would look endorsed.
	// (The language links below the card carry the page's own URL, as on every page.)
	if main, _, _ := strings.Cut(p.body, "</main>"); strings.Contains(main, "evil.example") {
		t.Error("the page repeats the unregistered address")
	}
	// German: explained in German, the code as it is.
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept-Language", "de")
	p = e.browser().do(req)
	for _, want := range []string{"Anmeldung gestoppt", "nicht registriert hat", "Fehlercode: invalid_redirect_uri"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("German invalid-redirect page lacks %q", want)
		}
	}
	// Other error pages carry no code they were not given (an unknown client_id is given
	// invalid_client, at /authorize as at end_session: TestAuthorizeUnknownClient).
	p = e.browser().get(e.issuer + "/authorize?redirect_uri=https://rp.example/cb")
	if p.status != http.StatusBadRequest || strings.Contains(p.body, "Error code") {
		t.Errorf("request without a client_id: %d, with an error code: %v", p.status, strings.Contains(p.body, "Error code"))
	}
}

func TestMFAWrongCodeSaysWhatNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0) // a still clock: TOTP codes are computed for the server's time
	const email = "mfa.copy@example.com"
	e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	key, p := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")
	if len(recoveryCodes(p)) != 10 {
		t.Fatal("no recovery codes after enrolment")
	}
	e.signOut(b)
	e.nextTOTPStep()

	p = e.passwordSignIn(b, email)
	good := e.totpNow(key)
	wrong := []byte(good)
	wrong[0] = '0' + (wrong[0]-'0'+5)%10
	p = b.mfaPost(p, "totp", string(wrong), false)
	mustAt(t, p, "/mfa", "The code is not correct. Check the time on your phone and enter the current code, or use a recovery code.")
	p = b.mfaPost(p, "recovery_code", "AAAA-BBBB-CCCC", false)
	mustAt(t, p, "/mfa", "The code is not correct. Each recovery code works only once: check it for typos or try another code from your list.")
	// After the hints, the right code still works.
	p = b.mfaPost(p, "totp", good, false)
	mustAt(t, p, "/account", "Your account")
}

func TestEmptySignInNamesTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	b := e.browser()
	p := b.submitLogin(b.get(e.issuer+"/login"), "", "")
	mustAt(t, p, "/login", "Enter your email address.")
	p = b.submitLogin(b.get(e.issuer+"/login"), "   ", testPassword)
	mustAt(t, p, "/login", "Enter your email address.")
	p = b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", "")
	mustAt(t, p, "/login", "Enter your password.", `value="ada@example.com"`)
	if strings.Contains(p.body, "incorrect") {
		t.Error("an empty password was reported as a wrong one")
	}
	// A slip is not a failed sign-in: many of them lock nothing.
	for range 12 {
		b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", "")
	}
	mustAt(t, b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", testPassword), "/account", "Your account")
	// German.
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/login", nil)
	req.Header.Set("Accept-Language", "de")
	de := e.browser()
	p = de.do(req)
	f := p.formValues()
	f.Set("email", "ada@example.com")
	req, _ = http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "de")
	mustAt(t, de.do(req), "/login", "Geben Sie Ihr Passwort ein.")
}

// photoLogo stands in for the client's logo server: the browser's requests to it are answered
// by the test, after the page's Content-Security-Policy let them leave.
const photoLogo = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">` +
	`<rect width="64" height="64" rx="12" fill="#0b6e4f"/><circle cx="32" cy="34" r="13" fill="none" stroke="#fff" stroke-width="5"/>` +
	`<rect x="22" y="12" width="20" height="9" rx="2" fill="#fff"/></svg>`

// TestBrowserConsentShowsWhoAsks opens the consent page in Chromium: the client's logo
// loads from its own https origin without a CSP refusal, the home page's domain and the
// policy links are visible, and nothing else on the page is loosened.
func TestBrowserConsentShowsWhoAsks(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnvWith(t, envOptions{localhost: true})
	con := watchConsole(t, ctx)
	shots := screenshotDir(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, withIdentity("https://cdn.photo.example/logo.svg",
		"https://www.photo.example/", "https://photo.example/privacy", "https://photo.example/terms"))
	c.c.Name = "Photo Printer"
	if _, err := e.store.UpdateClient(context.Background(), c.ID, func(x *storage.Client) error { x.Name = c.c.Name; return nil }); err != nil {
		t.Fatal(err)
	}

	// Answer the logo's requests; count them.
	fctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if _, err := chromedp.Call(fctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "https://cdn.photo.example/*"}}}); err != nil {
		t.Fatal(err)
	}
	served := make(chan string, 10)
	go func() {
		for ev, err := range chromedp.Events(ctx, fetch.RequestPaused) {
			if err != nil {
				return
			}
			served <- ev.Request.URL
			_, _ = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "image/svg+xml"}}, Body: []byte(photoLogo)})
		}
	}()

	verifier, _ := pkce()
	tabNavigate(t, ctx, "starting the sign-in", chromedp.Navigate(e.oauth2Config(c).AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))))
	tabExpect(t, ctx, "/login", "Sign in")
	tabDo(t, ctx, "signing in",
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword))
	tabClick(t, ctx, "Sign in")
	tabExpect(t, ctx, "/consent", "Allow access?", "Photo Printer", "www.photo.example",
		"Privacy policy of Photo Printer", "Terms of service of Photo Printer")
	for end := time.Now().Add(5 * time.Second); !tabEval[bool](t, ctx, `(function(){ var i = document.querySelector(".client img"); return !!i && i.complete && i.naturalWidth > 0; })()`); {
		if time.Now().After(end) {
			t.Fatalf("the client's logo did not load\n%s", tabState(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case u := <-served:
		if u != "https://cdn.photo.example/logo.svg" {
			t.Errorf("logo request for %q", u)
		}
	default:
		t.Error("the logo loaded without a request to its origin")
	}
	tabScreenshot(t, ctx, shots, "consent")
	con.check(t, ctx, "consent")

	// The same page on a phone: the identity row fits.
	tabDo(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844))
	if w := tabEval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390 px the consent page is %d px wide", w)
	}
	tabScreenshot(t, ctx, shots, "consent-390px")
	tabDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(1280, 800))

	// An image from any other origin is still refused on this page.
	tabEval[bool](t, ctx, `(function(){ var i = new Image(); i.src = "https://elsewhere.example/x.png"; document.body.appendChild(i); return true; })()`)
	if _, ok := con.waitFor(browserStep, isCSP); !ok {
		t.Error("an image from another origin was not refused by the CSP")
	}
}
