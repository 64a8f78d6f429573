package server_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/addrkey"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx/softauthn"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// uiSweep is one scenario's server: mail to a loopback SMTP server, SMS to a fake gateway,
// WebAuthn on localhost, licences of a product, and store calls that can be made to fail.
type uiSweep struct {
	t    *testing.T
	e    *testEnv
	fs   *faultstore.Store
	g    *smstest.Gateway
	side softauthn.Client
	n    atomic.Int64
	apps map[string]*testClient
}

// app is the scenario's app of a kind ("first-party", "third-party", "device"), made on
// first use: one for all of a scenario's preparations, as pages list every app.
func (s *uiSweep) app(kind string) *testClient {
	if c := s.apps[kind]; c != nil {
		return c
	}
	var c *testClient
	switch kind {
	case "first-party":
		c = s.e.addClient(storage.ClientConfidential, firstParty)
	case "third-party":
		c = s.e.addClient(storage.ClientConfidential)
	case "native":
		c = s.e.addClient(storage.ClientNative, firstParty)
	case "device":
		c = s.e.deviceClient(storage.ClientNative)
	}
	s.apps[kind] = c
	return c
}

func newUISweep(t *testing.T, configure func(*config.Config), postgres bool) *uiSweep {
	t.Helper()
	var fs *faultstore.Store
	vars := map[string]string{"MYACCOUNT_MFA_SMS": "fallback"}
	if postgres {
		vars["MYACCOUNT_DATABASE_URL"], vars["MYACCOUNT_MASTER_KEY"] = pgtest.MigratedURL(t), keys.NewMasterKey()
	}
	e, g := phoneEnv(t, false, vars, envOptions{
		smtp: mailtest.NewServer(t), localhost: true,
		configure: func(c *config.Config) {
			c.Accounts.ResetBySMS = true
			if configure != nil {
				configure(c)
			}
		},
		wrapStore: func(s storage.Store) storage.Store {
			fs = faultstore.New(s)
			return fs
		}})
	e.clock.Advance(0)
	return &uiSweep{t: t, e: e, fs: fs, g: g, side: softauthn.Client{Origin: e.issuer, RPID: "localhost"},
		apps: map[string]*testClient{}}
}

// uiCall is one prepared request: do sends it (again, when called again), user is the
// person whose failure counters must not move.
type uiCall struct {
	do func() uiAnswer
	// again is how the person tries again after our failure, when that is not sending the
	// same request (a script's ceremony begins again with a new challenge); nil: do.
	again func() uiAnswer
	user  *storage.User
	// before are the person's failure counters when the call was prepared, and tries
	// their attempt and mail counts (sweepTries).
	before string
	tries  map[string]int
}

// uiAnswer is what the browser (or the page's script) got: the page after following
// redirects within MyAccount.
type uiAnswer struct {
	status int
	path   string // the final page's path, or the Location of a redirect that left MyAccount
	header http.Header
	body   string
	json   bool
	// reload fetches the final page again: after a form whose redirect was followed, the
	// way to try again is to load the page the form led to, not to send the form again.
	reload func() uiAnswer
}

func pageAnswer(p *page) uiAnswer {
	a := uiAnswer{status: p.status, header: p.header, body: p.body, path: p.url.Path}
	if loc := p.header.Get("Location"); loc != "" && p.status/100 == 3 {
		// The app's redirect URI differs between preparations (each has its own app): what
		// matters is that the app gets a code, or which error.
		u, _ := url.Parse(loc)
		a.path = "the app with a code"
		if e := u.Query().Get("error"); e != "" || u.Query().Get("code") == "" {
			a.path = "the app with error " + e
		}
	}
	return a
}

// step advances the clock past the per-address limits (captcha pictures, device-code
// guesses, SMS, licence redemptions), so that a scenario's many preparations are not refused
// for their number.
func (s *uiSweep) step() { s.e.clock.Advance(time.Hour) }

// email is a fresh address, so that each preparation's mail is its own.
func (s *uiSweep) email() string { return fmt.Sprintf("p%d@example.com", s.n.Add(1)) }

// person is a fresh active account (profile complete, country Germany for the phone forms).
func (s *uiSweep) person() *storage.User { return s.e.germanUser(s.email()) }

// signedIn is a fresh person signed in with the password in a new browser.
func (s *uiSweep) signedIn() (*browser, *storage.User) {
	u := s.person()
	return s.e.signedInBrowser(u.Email), u
}

func (s *uiSweep) call(u *storage.User, do func() uiAnswer) uiCall {
	return uiCall{do: do, user: u, before: s.counters(u), tries: s.tries(u)}
}

func (s *uiSweep) post(b *browser, path string, f url.Values) func() uiAnswer {
	return func() uiAnswer {
		p := b.post(s.e.issuer+path, f)
		a := pageAnswer(p)
		if p.url.Path != path {
			a.reload = func() uiAnswer { return pageAnswer(b.get(p.url.String())) }
		}
		return a
	}
}

// script posts a page's script's JSON request, as ui/web/static's scripts do.
func (s *uiSweep) script(b *browser, path, csrf string, body any) func() uiAnswer {
	raw, _ := json.Marshal(body)
	return func() uiAnswer {
		req, _ := http.NewRequest(http.MethodPost, s.e.issuer+path, strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		a := pageAnswer(b.do(req))
		a.json = true
		return a
	}
}

// failureEvents are the audit events that count a failed attempt, step a lockout or mail
// the owner a warning.
var failureEvents = []string{"login_failed", "mfa_failed", "current_password_failed", "second_step_failed",
	"licence_redeem_failed", "locked_out", "lockout"}

// counters is the person's failure state: failure events, lockout.
func (s *uiSweep) counters(u *storage.User) string {
	if u == nil {
		return ""
	}
	ctx := context.Background()
	evs, err := s.e.store.ListAuditEvents(ctx, u.ID, 1000)
	if err != nil {
		s.t.Fatal(err)
	}
	n := map[string]int{}
	for _, ev := range evs {
		if slices.Contains(failureEvents, ev.Type) {
			n[ev.Type]++
		}
	}
	cur, err := s.e.store.GetUser(ctx, u.ID)
	if err != nil {
		return "" // the scenario deletes the account: its events went with it
	}
	return fmt.Sprintf("%v lockouts=%d locked=%v", n, cur.LockoutCount, cur.LockedUntil != nil)
}

// tries are u's counts that a request adds to before it knows its outcome: the attempts
// counted before a password or code is checked (account's count, mfa's attempt), and the
// mails a person may ask for in an hour (account's allowMail), by address and by IP. A
// request our failure cut short must not have added to any (nil: no person).
func (s *uiSweep) tries(u *storage.User) map[string]int {
	if u == nil {
		return nil
	}
	ctx := context.Background()
	cur, err := s.e.store.GetUser(ctx, u.ID)
	if err != nil {
		return nil // the scenario deletes the account
	}
	keys := []string{"pwfail:" + cur.EmailNormalized, "mfa:" + u.ID, "mfa-day:" + u.ID}
	for _, kind := range []string{"reset", "activation", "email_change"} {
		keys = append(keys, "mail:"+kind+":"+cur.EmailNormalized, "mail:"+kind+":ip:"+addrkey.LimitKey("127.0.0.1"))
	}
	tries := map[string]int{}
	for _, k := range keys {
		c, _, err := s.e.store.GetCounter(ctx, k)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.t.Fatal(err)
		}
		tries[k] = c
	}
	return tries
}

// blame are what pages say when the person entered something wrong or something they
// hold no longer works: never an answer to a failure of ours.
var blame = []string{"incorrect", "not correct", "expired", "already used", "no longer works", "could not be verified",
	"not recognised", "does not match", "Too many", "not valid", "invalid", "start again"}

var alertRE = regexp.MustCompile(`(?s)role="alert"[^>]*>(.*?)</`)

// alerts are the page's visible alert texts, or a script's error.
func (a uiAnswer) alerts() []string {
	var out []string
	if a.json {
		var m map[string]any
		if json.Unmarshal([]byte(a.body), &m) == nil {
			if e, ok := m["error"].(string); ok && e != "" {
				out = append(out, e)
			}
		}
		return out
	}
	for _, m := range alertRE.FindAllStringSubmatch(a.body, -1) {
		if t := strings.TrimSpace(html.UnescapeString(m[1])); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// same reports why got differs from the normal answer ("" when it does not): its status, its
// page, or an alert the normal answer did not show.
func (normal uiAnswer) same(got uiAnswer) string {
	if got.status != normal.status || got.path != normal.path {
		return fmt.Sprintf("%d at %s, want %d at %s", got.status, got.path, normal.status, normal.path)
	}
	for _, al := range got.alerts() {
		if !slices.Contains(normal.alerts(), al) {
			return fmt.Sprintf("alert %q", al)
		}
	}
	return ""
}

const unavailableText = "Nothing you entered is wrong"

// checkUIFailure judges the answer to a request one of whose store calls failed: our 503
// (the page, or the scripts' JSON, saying nothing entered was wrong, with Retry-After) or the
// normal answer; never internal text, a refusal that blames the person, a counted failure;
// and after a 503 the same request succeeds — nothing single-use was spent.
func (s *uiSweep) checkUIFailure(t *testing.T, errorf func(format string, args ...any), what string, normal uiAnswer, mask *pageMask, c uiCall, got uiAnswer) {
	t.Helper()
	low := strings.ToLower(got.body)
	if id := got.header.Get("X-Request-Id"); id != "" {
		low = strings.ReplaceAll(low, strings.ToLower(id), "")
	}
	for _, l := range []string{"faultstore", "injected", "storage:", "sql:", "database"} {
		if strings.Contains(low, l) {
			errorf("%s: answer leaks %q: %d %.300s", what, l, got.status, got.body)
		}
	}
	if after := s.counters(c.user); after != "" && after != c.before {
		errorf("%s: the person's failures moved: %s, before %s", what, after, c.before)
	}
	// A count may restart lower with a new window (the sweep's clock moves between
	// scenarios' steps), never grow. A right password's or code's count is cleared best
	// effort (account's passed, mfa's succeeded): a failed clearing leaves that one count,
	// which expires. A failure on the page a form's success redirected to (got.reload) came
	// after the form was done, and what it counted stands.
	if !strings.Contains(what, " of ResetCounter failing") && got.reload == nil {
		for k, n := range s.tries(c.user) {
			if n > c.tries[k] {
				errorf("%s: %s counted %d, before %d: our failure used up a try", what, k, n, c.tries[k])
			}
		}
	}
	if got.status >= 500 {
		if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" {
			errorf("%s: %d (Retry-After %q), want 503 with Retry-After", what, got.status, got.header.Get("Retry-After"))
		}
		if got.json {
			var m map[string]string
			if json.Unmarshal([]byte(got.body), &m) != nil || !strings.Contains(m["error"], unavailableText) {
				errorf("%s: the script got %d %.300s, want {\"error\": \"…%s…\"}", what, got.status, got.body, unavailableText)
			}
		} else if !strings.Contains(got.body, unavailableText) {
			errorf("%s: the 503 page does not say nothing entered was wrong:\n%.600s", what, got.body)
		}
		retry := c.do
		switch {
		case got.reload != nil:
			retry = got.reload
		case c.again != nil:
			retry = c.again
		}
		again := retry()
		if d := normal.same(again); d != "" {
			errorf("%s: sent again once the store works: %s: something was spent\n%.600s", what, d, again.body)
		} else if d := mask.differs(normal, again); d != "" {
			errorf("%s: sent again once the store works, the answer differs from the normal one: %s", what, d)
		}
		return
	}
	if d := normal.same(got); d != "" {
		errorf("%s: %s, want the normal answer or our 503\n%.600s", what, d, got.body)
		return
	}
	if d := mask.differs(normal, got); d != "" {
		errorf("%s: the answer differs from the normal one: %s", what, d)
		return
	}
	for _, al := range got.alerts() {
		for _, w := range blame {
			if strings.Contains(strings.ToLower(al), strings.ToLower(w)) && !slices.Contains(normal.alerts(), al) {
				errorf("%s: alert %q blames the person", what, al)
			}
		}
	}
}

// uiScenario prepares, while nothing fails, one valid request to a UI route.
type uiScenario struct {
	route string
	name  string // when a route has several
	prep  func(s *uiSweep) uiCall
	// configure adjusts the scenario's server.
	configure func(*config.Config)
}

// uiNoStoreCall are the UI's POST routes that make no store call: their scenario only proves it.
var uiNoStoreCall = map[string]string{
	"/register/check": "the password meter's check: the account rules on the typed text alone",
	"/passkey/begin":  "a discoverable sign-in's challenge travels in a sealed cookie",
}

// knownSeams are failing calls whose answer is still not ours to give, each with why it is
// left: the sweep logs them instead of failing, and fails when one no longer shows, so that
// the entry goes with its fix. The key is "route (name): call n of Method failing", the
// name as in the subtest's.
var knownSeams = map[string]string{}

// uiSaysSo are texts by which a page says what a failure of ours left undone once the
// request's work was committed, where it goes on without it: an answer that differs from
// the normal one but says so (and the normal one does not) is accepted, its status, page
// and alerts still compared.
var uiSaysSo = map[string]string{
	// The account is secured (the link is spent with it); the reset link that follows is
	// queued apart, and when it cannot be, the page sends the person to "Forgot your
	// password?" instead of saying it was sent.
	"/not-me": "choose a new password with “Forgot your password?”",
}

// uiScenarios are the scenarios of every UI POST route outside /admin/. A new route fails
// TestEveryUIFormStoreFailureIsOurs until it has one here.
func uiScenarios() []uiScenario {
	return []uiScenario{
		{route: "/login", prep: func(s *uiSweep) uiCall {
			u := s.person()
			b := s.e.browser()
			f := b.get(s.e.issuer + "/login").formValues()
			f.Set("email", u.Email)
			f.Set("password", testPassword)
			return s.call(u, s.post(b, "/login", f))
		}},
		{route: "/login", name: "an app's sign-in", prep: func(s *uiSweep) uiCall {
			u := s.person()
			c := s.app("first-party")
			b := s.e.browser()
			_, challenge := pkce()
			p := b.get(s.e.oauth2Config(c).AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", challenge),
				oauth2.SetAuthURLParam("code_challenge_method", "S256")))
			f := p.formValues()
			f.Set("email", u.Email)
			f.Set("password", testPassword)
			return s.call(u, s.post(b, "/login", f))
		}},
		{route: "/logout", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			return s.call(u, s.post(b, "/logout", b.get(s.e.issuer+"/logout").formValues()))
		}},
		{route: "/consent", prep: func(s *uiSweep) uiCall {
			u := s.person()
			c := s.app("third-party")
			b := s.e.signedInBrowser(u.Email)
			_, challenge := pkce()
			p := b.get(s.e.oauth2Config(c).AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", challenge),
				oauth2.SetAuthURLParam("code_challenge_method", "S256")))
			mustAt(s.t, p, "/consent", `action="/consent"`)
			f := p.formValues()
			f.Set("decision", "allow")
			return s.call(u, s.post(b, "/consent", f))
		}},
		{route: "/mfa", name: "authenticator app", prep: func(s *uiSweep) uiCall {
			u, b, key := s.withTOTP()
			p := s.e.passwordSignIn(b, u.Email)
			mustAt(s.t, p, "/mfa")
			f := url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "method": {"totp"}, "code": {s.e.totpNow(key)}}
			return s.call(u, s.post(b, "/mfa", f))
		}},
		{route: "/mfa", name: "emailed code", configure: func(c *config.Config) { c.MFA.EmailCodeForNewBrowsers = true }, prep: func(s *uiSweep) uiCall {
			u := s.person()
			b := s.e.browser()
			p := s.e.passwordSignIn(b, u.Email)
			mustAt(s.t, p, "/mfa")
			code := s.e.signInCode(u.Email)
			f := url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "method": {"email_code"}, "code": {code}}
			return s.call(u, s.post(b, "/mfa", f))
		}},
		{route: "/mfa/webauthn/begin", prep: func(s *uiSweep) uiCall {
			u, _ := s.withKey()
			b := s.e.browser()
			p := s.e.passwordSignIn(b, u.Email)
			mustAt(s.t, p, "/mfa")
			return s.call(u, s.script(b, "/mfa/webauthn/begin", csrfOf(s.t, p), nil))
		}},
		{route: "/mfa/webauthn/finish", prep: func(s *uiSweep) uiCall {
			u, k := s.withKey()
			b := s.e.browser()
			p := s.e.passwordSignIn(b, u.Email)
			csrf := csrfOf(s.t, p)
			finish := func() func() uiAnswer {
				st, begin := b.postJSON(s.e.issuer+"/mfa/webauthn/begin", csrf, nil)
				if st != http.StatusOK {
					s.t.Fatalf("begin: %d %v", st, begin)
				}
				return s.script(b, "/mfa/webauthn/finish", csrf, map[string]any{
					"handle": jsonString(s.t, begin, "handle"), "credential": json.RawMessage(k.Get(s.t, begin["options"], s.side))})
			}
			c := s.call(u, finish())
			c.again = func() uiAnswer { return finish()() }
			return c
		}},
		{route: "/passkey/begin", prep: func(s *uiSweep) uiCall {
			b := s.e.browser()
			return s.call(nil, s.script(b, "/passkey/begin", csrfOf(s.t, b.get(s.e.issuer+"/login")), nil))
		}},
		{route: "/passkey/finish", prep: func(s *uiSweep) uiCall {
			u, k := s.withKey()
			b := s.e.browser()
			csrf := csrfOf(s.t, b.get(s.e.issuer+"/login"))
			finish := func() func() uiAnswer {
				st, begin := b.postJSON(s.e.issuer+"/passkey/begin", csrf, nil)
				if st != http.StatusOK {
					s.t.Fatalf("passkey begin: %d %v", st, begin)
				}
				return s.script(b, "/passkey/finish", csrf, map[string]any{"credential": json.RawMessage(k.Get(s.t, begin["options"], s.side))})
			}
			c := s.call(u, finish())
			c.again = func() uiAnswer { return finish()() }
			return c
		}},
		{route: "/account/password", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			const pw = "a new long passphrase 15"
			return s.call(u, s.post(b, "/account/password", url.Values{"csrf_token": {s.csrf(b, "/account")},
				"current": {testPassword}, "password": {pw}, "confirm": {pw}}))
		}},
		{route: "/account/email", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			return s.call(u, s.post(b, "/account/email", url.Values{"csrf_token": {s.csrf(b, "/account")},
				"current": {testPassword}, "email": {s.email()}}))
		}},
		{route: "/account/email/confirm", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			to := s.email()
			b.post(s.e.issuer+"/account/email", url.Values{"csrf_token": {s.csrf(b, "/account")}, "current": {testPassword}, "email": {to}})
			link, _ := s.e.mailLink(to, "/account/email/confirm?token=")
			return s.call(u, s.post(b, "/account/email/confirm", b.get(link).formValues()))
		}},
		{route: "/account/delete", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			return s.call(u, s.post(b, "/account/delete", url.Values{"csrf_token": {s.csrf(b, "/account")}, "current": {testPassword}}))
		}},
		{route: "/account/apps/remove", prep: func(s *uiSweep) uiCall {
			u := s.person()
			c := s.app("third-party")
			b := s.e.browser()
			s.e.tokens(context.Background(), b, c, u.Email)
			return s.call(u, s.post(b, "/account/apps/remove", url.Values{"csrf_token": {s.csrf(b, "/account/apps")}, "client_id": {c.ID}}))
		}},
		{route: "/device", prep: func(s *uiSweep) uiCall {
			c := s.app("device")
			da := s.e.authorizeDevice(c, "openid", nil)
			b, u := s.signedIn()
			f := b.get(s.e.issuer + "/device").formValues()
			f.Set("user_code", da.UserCode)
			return s.call(u, s.post(b, "/device", f))
		}},
		{route: "/device/decision", prep: func(s *uiSweep) uiCall {
			c := s.app("device")
			da := s.e.authorizeDevice(c, "openid", nil)
			b, u := s.signedIn()
			p := s.e.enterCode(b, da.UserCode)
			if !strings.Contains(p.body, `action="/device/decision"`) {
				s.t.Fatalf("no confirmation page: %d %s\n%.600s", p.status, p.url, p.body)
			}
			f := p.formValues()
			f.Set("decision", "approve")
			return s.call(u, s.post(b, "/device/decision", f))
		}},
		{route: "/account/devices/revoke", prep: func(s *uiSweep) uiCall {
			u := s.person()
			c := s.app("native")
			b := s.e.browser()
			s.e.tokens(context.Background(), b, c, u.Email)
			p := b.get(s.e.issuer + "/account/devices")
			m := grantFormRE.FindStringSubmatch(p.body)
			if m == nil {
				s.t.Fatalf("no device listed:\n%.1500s", p.body)
			}
			f := p.formValues()
			f.Set("grant_id", m[1])
			return s.call(u, s.post(b, "/account/devices/revoke", f))
		}},
		{route: "/account/sessions/revoke", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			s.e.signedInBrowser(u.Email)
			p := b.get(s.e.issuer + "/account/devices")
			other := ""
			for _, li := range strings.Split(p.body, "<li>") {
				if m := sessionFormRE.FindStringSubmatch(li); m != nil && !strings.Contains(li, "This browser") {
					other = m[1]
				}
			}
			if other == "" {
				s.t.Fatalf("no other session listed:\n%.1500s", p.body)
			}
			return s.call(u, s.post(b, "/account/sessions/revoke", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "session_id": {other}}))
		}},
		{route: "/account/signout-others", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			s.e.signedInBrowser(u.Email)
			return s.call(u, s.post(b, "/account/signout-others", url.Values{"csrf_token": {s.csrf(b, "/account/devices")}}))
		}},
		{route: "/account/security/totp", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			f := b.get(s.e.issuer + "/account/security").formValues()
			f.Del("id")
			return s.call(u, s.post(b, "/account/security/totp", f))
		}},
		{route: "/account/security/totp/confirm", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			f := b.get(s.e.issuer + "/account/security").formValues()
			f.Del("id")
			p := b.post(s.e.issuer+"/account/security/totp", f)
			m := totpKeyRE.FindStringSubmatch(p.body)
			if m == nil {
				s.t.Fatalf("no enrolment page:\n%.1500s", p.body)
			}
			key := decodeTOTPKey(s.t, m[1])
			f = p.formValues()
			f.Set("code", s.e.totpNow(key))
			return s.call(u, s.post(b, "/account/security/totp/confirm", f))
		}},
		{route: "/account/security/webauthn/begin", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			return s.call(u, s.script(b, "/account/security/webauthn/begin", csrfOf(s.t, b.get(s.e.issuer+"/account/security")), nil))
		}},
		{route: "/account/security/webauthn/finish", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			csrf := csrfOf(s.t, b.get(s.e.issuer+"/account/security"))
			st, begin := b.postJSON(s.e.issuer+"/account/security/webauthn/begin", csrf, nil)
			if st != http.StatusOK {
				s.t.Fatalf("begin: %d %v", st, begin)
			}
			k := softauthn.New(s.t)
			return s.call(u, s.script(b, "/account/security/webauthn/finish", csrf, map[string]any{
				"handle": jsonString(s.t, begin, "handle"), "name": "Key", "credential": json.RawMessage(k.Create(s.t, begin["options"], s.side))}))
		}},
		{route: "/account/security/remove", prep: func(s *uiSweep) uiCall {
			u, b, key := s.withTOTP()
			p := s.e.passwordSignIn(b, u.Email)
			p = b.mfaPost(p, "totp", s.e.totpNow(key), false)
			p = b.get(s.e.issuer + "/account/security")
			m := removeFormRE.FindStringSubmatch(p.body)
			if m == nil {
				s.t.Fatalf("no remove button:\n%.2000s", p.body)
			}
			return s.call(u, s.post(b, "/account/security/remove", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "id": {m[1]}}))
		}},
		{route: "/account/security/recovery-codes", prep: func(s *uiSweep) uiCall {
			u, b, key := s.withTOTP()
			p := s.e.passwordSignIn(b, u.Email)
			b.mfaPost(p, "totp", s.e.totpNow(key), false)
			return s.call(u, s.post(b, "/account/security/recovery-codes", url.Values{"csrf_token": {s.csrf(b, "/account/security")}}))
		}},
		{route: "/account/security/browsers/forget", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			return s.call(u, s.post(b, "/account/security/browsers/forget", url.Values{"csrf_token": {s.csrf(b, "/account/security")}}))
		}},
		{route: "/account/licences/redeem", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			code := s.licenceCode()
			f := b.get(s.e.issuer + "/account/licences").formValues()
			f.Set("code", code)
			return s.call(u, s.post(b, "/account/licences/redeem", f))
		}},
		{route: "/account/licences/free", prep: func(s *uiSweep) uiCall {
			u := s.person()
			b := s.e.signedInBrowser(u.Email)
			f := b.get(s.e.issuer + "/account/licences").formValues()
			f.Set("code", s.licenceCode())
			if p := b.post(s.e.issuer+"/account/licences/redeem", f); p.status != http.StatusOK {
				s.t.Fatalf("redeem: %d", p.status)
			}
			c := s.licenceApp()
			s.e.tokens(context.Background(), b, c, u.Email, oauth2.SetAuthURLParam("scope", "openid offline_access licences"),
				oauth2.SetAuthURLParam("device_id", "dev-"+u.ID[:6]), oauth2.SetAuthURLParam("device_name", "Laptop"))
			f = b.get(s.e.issuer + "/account/licences").formValues()
			if f.Get("device_id") == "" {
				s.t.Fatalf("no seat to free: %v", f)
			}
			return s.call(u, s.post(b, "/account/licences/free", f))
		}},
		{route: "/not-me", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			const pw = "a new long passphrase 15"
			b.post(s.e.issuer+"/account/password", url.Values{"csrf_token": {s.csrf(b, "/account")}, "current": {testPassword}, "password": {pw}, "confirm": {pw}})
			link := s.e.notMeLink(s.e.smtp.WaitFor(s.t, u.Email, mailWait))
			owner := s.e.browser()
			return s.call(u, s.post(owner, "/not-me", owner.get(link).formValues()))
		}},
		{route: "/account/phone", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			f := b.get(s.e.issuer + "/account/phone").formValues()
			f.Set("country", "DE")
			f.Set("number", s.number())
			return s.call(u, s.post(b, "/account/phone", f))
		}},
		{route: "/account/phone/verify", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			n, number := len(s.g.Messages()), s.number()
			p := s.e.sendPhoneCode(b, "DE", number)
			f := p.formValues()
			f.Set("code", s.smsCode(n, number))
			return s.call(u, s.post(b, "/account/phone/verify", f))
		}},
		{route: "/account/phone/resend", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			n, number := len(s.g.Messages()), s.number()
			p := s.e.sendPhoneCode(b, "DE", number)
			s.smsCode(n, number)
			s.e.clock.Advance(2 * time.Minute)
			return s.call(u, s.post(b, "/account/phone/resend", p.formValues()))
		}},
		{route: "/account/phone/remove", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			s.confirmPhone(b)
			return s.call(u, s.post(b, "/account/phone/remove", b.get(s.e.issuer+"/account/phone").formValues()))
		}},
		{route: "/forgot/sms", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			number := s.confirmPhone(b)
			x := s.e.browser()
			f := x.get(s.e.issuer + "/forgot/sms").formValues()
			f.Set("country", "DE")
			f.Set("number", number)
			return s.call(u, s.post(x, "/forgot/sms", f))
		}},
		{route: "/forgot/sms/code", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			number := s.confirmPhone(b)
			s.step()
			x := s.e.browser()
			f := x.get(s.e.issuer + "/forgot/sms").formValues()
			f.Set("country", "DE")
			f.Set("number", number)
			n := len(s.g.Messages())
			p := x.post(s.e.issuer+"/forgot/sms", f)
			f = p.formValues()
			f.Set("code", s.smsCode(n, number))
			return s.call(u, s.post(x, "/forgot/sms/code", f))
		}},
		{route: "/profile", prep: func(s *uiSweep) uiCall {
			b, u := s.signedIn()
			f := b.get(s.e.issuer + "/profile").formValues()
			f.Set("country", "GB")
			f.Set("zoneinfo", "Europe/London")
			f.Set("date_format", "dmy-dot")
			return s.call(u, s.post(b, "/profile", f))
		}},
		{route: "/register", prep: func(s *uiSweep) uiCall {
			b := s.e.browser()
			p := b.get(s.e.issuer + "/register")
			f := p.formValues()
			f.Set("email", s.email())
			f.Set("password", "a fine long passphrase")
			f.Set("confirm", "a fine long passphrase")
			f.Set("captcha", s.e.tape.answer(s.t))
			f.Set("action", "create")
			return s.call(nil, s.post(b, "/register", f))
		}},
		{route: "/register/captcha", prep: func(s *uiSweep) uiCall {
			b := s.e.browser()
			f := b.get(s.e.issuer + "/register").formValues()
			form := url.Values{"csrf_token": {f.Get("csrf_token")}, "form_id": {f.Get("form_id")}}
			return s.call(nil, func() uiAnswer {
				req, _ := http.NewRequest(http.MethodPost, s.e.issuer+"/register/captcha", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Accept", "application/json")
				a := pageAnswer(b.do(req))
				a.json = true
				return a
			})
		}},
		{route: "/register/check", prep: func(s *uiSweep) uiCall {
			b := s.e.browser()
			f := b.get(s.e.issuer + "/register").formValues()
			return s.call(nil, s.post(b, "/register/check", url.Values{"csrf_token": {f.Get("csrf_token")}, "password": {"a fine long passphrase"}}))
		}},
		{route: "/activate", prep: func(s *uiSweep) uiCall {
			b := s.e.browser()
			to := s.email()
			s.e.register(b, b.get(s.e.issuer+"/register"), to, "a fine long passphrase", "a fine long passphrase")
			link, _ := s.e.mailLink(to, "/activate?token=")
			x := s.e.browser()
			return s.call(nil, s.post(x, "/activate", x.get(link).formValues()))
		}},
		{route: "/activate/resend", prep: func(s *uiSweep) uiCall {
			b := s.e.browser()
			to := s.email()
			s.e.register(b, b.get(s.e.issuer+"/register"), to, "a fine long passphrase", "a fine long passphrase")
			s.e.mailLink(to, "/activate?token=")
			s.step()
			u, err := s.e.store.GetUserByEmail(context.Background(), to)
			if err != nil {
				s.t.Fatal(err)
			}
			return s.call(u, s.post(b, "/activate/resend", url.Values{"csrf_token": {s.csrf(b, "/login")}, "email": {to}}))
		}},
		{route: "/forgot", prep: func(s *uiSweep) uiCall {
			u := s.person()
			b := s.e.browser()
			f := b.get(s.e.issuer + "/forgot").formValues()
			f.Set("email", u.Email)
			return s.call(u, s.post(b, "/forgot", f))
		}},
		{route: "/reset", prep: func(s *uiSweep) uiCall {
			u := s.person()
			b := s.e.browser()
			link := s.e.resetLink(b, u.Email)
			f := b.get(link).formValues()
			f.Set("password", "a brand new passphrase 42")
			f.Set("confirm", "a brand new passphrase 42")
			return s.call(u, s.post(b, "/reset", f))
		}},
	}
}

var sessionFormRE = regexp.MustCompile(`name="session_id" value="([^"]+)"`)

// csrf is the CSRF token of the page at path.
func (s *uiSweep) csrf(b *browser, path string) string {
	s.t.Helper()
	return csrfOf(s.t, b.get(s.e.issuer+path))
}

// withTOTP is a fresh person with an authenticator app, signed out in browser b.
func (s *uiSweep) withTOTP() (*storage.User, *browser, []byte) {
	s.t.Helper()
	u := s.person()
	b := s.e.browser()
	s.e.passwordSignIn(b, u.Email)
	key, _ := s.e.enrolTOTP(b, b.get(s.e.issuer+"/account/security"), "")
	s.e.signOut(b)
	s.e.nextTOTPStep()
	return u, b, key
}

// withKey is a fresh person with a passkey k (signed out).
func (s *uiSweep) withKey() (*storage.User, *softauthn.Key) {
	s.t.Helper()
	b, u := s.signedIn()
	k := softauthn.New(s.t)
	csrf := csrfOf(s.t, b.get(s.e.issuer+"/account/security"))
	st, begin := b.postJSON(s.e.issuer+"/account/security/webauthn/begin", csrf, nil)
	if st != http.StatusOK {
		s.t.Fatalf("registration begin: %d %v", st, begin)
	}
	if st, fin := b.postJSON(s.e.issuer+"/account/security/webauthn/finish", csrf, map[string]any{
		"handle": jsonString(s.t, begin, "handle"), "name": "Key", "credential": json.RawMessage(k.Create(s.t, begin["options"], s.side)),
	}); st != http.StatusOK {
		s.t.Fatalf("registration finish: %d %v", st, fin)
	}
	return u, k
}

// number is a fresh German mobile number.
func (s *uiSweep) number() string { return fmt.Sprintf("0151 2345%04d", s.n.Add(1)) }

// smsCode waits for an SMS to number (as typed, in Germany) after the first n the gateway
// received and returns its code. The sweep's scenarios run in parallel on one gateway, so
// the newest message may be another scenario's.
func (s *uiSweep) smsCode(n int, number string) string {
	s.t.Helper()
	to, err := phone.Parse(number, "DE")
	if err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ms := s.g.Messages()
		for i := len(ms) - 1; i >= n; i-- {
			if ms[i].To == to {
				_, code := smstest.Code(s.t, ms[i])
				return code
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("no SMS to %s arrived", to)
	return ""
}

// confirmPhone confirms a fresh number on the signed-in browser b's phone page.
func (s *uiSweep) confirmPhone(b *browser) string {
	s.t.Helper()
	number := s.number()
	n := len(s.g.Messages())
	p := s.e.sendPhoneCode(b, "DE", number)
	f := p.formValues()
	f.Set("code", s.smsCode(n, number))
	if p = b.post(s.e.issuer+"/account/phone/verify", f); !strings.Contains(p.body, "verified-number") {
		s.t.Fatalf("confirming the number: %d %q", p.status, fieldError(p))
	}
	return number
}

// licenceApp is the native app of the product "sweep", made on first use.
func (s *uiSweep) licenceApp() *testClient {
	s.t.Helper()
	ctx := context.Background()
	if p, err := s.e.store.GetProduct(ctx, "sweep"); err == nil {
		return &testClient{ID: p.ClientIDs[0], Redirect: "http://127.0.0.1/callback"}
	}
	c := s.e.addClient(storage.ClientNative, func(c *storage.Client) { c.Scopes = []string{licence.Scope} }, opaqueTokens, firstParty)
	if err := s.e.store.CreateProduct(ctx, &storage.Product{ID: "sweep", Name: "Sweep", ClientIDs: []string{c.ID}}); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// licenceCode is a fresh one-seat licence code of the product "sweep".
func (s *uiSweep) licenceCode() string {
	s.t.Helper()
	s.licenceApp()
	_, ls, err := s.e.srv.Licences.Issue(context.Background(), licence.IssueRequest{ProductID: "sweep", Seats: 1, Days: 365, Count: 1}, licence.Meta{Actor: "cli"})
	if err != nil {
		s.t.Fatal(err)
	}
	return ls[0].Code
}

// uiPostRoutes are the UI's routes outside /admin/ that take a POST.
func uiPostRoutes(routes []server.Route) []string {
	var out []string
	for _, rt := range routes {
		if !slices.Contains(uiRoutes, rt.Path) || strings.HasPrefix(rt.Path, "/admin") || !slices.Contains(rt.Methods, http.MethodPost) {
			continue
		}
		out = append(out, rt.Path)
	}
	sort.Strings(out)
	return out
}

// TestEveryUIFormStoreFailureIsOurs fails, once, each store call that a valid request to each
// of the UI's forms and scripts makes (call 1 of a method, then call 2, …), and checks that the
// person is told it is our failure — or is answered as without it — and never that they
// entered something wrong, that no failure of theirs is counted, and that the same request
// succeeds once the store works: nothing single-use was spent on our failure.
func TestEveryUIFormStoreFailureIsOurs(t *testing.T) {
	t.Parallel()
	sweepUI(t, false)
}

// TestEveryUIFormStoreFailureIsOursPostgres is the sweep on PostgreSQL (its transactions, which
// end at their first error), each scenario on a database copied from the migrated template.
func TestEveryUIFormStoreFailureIsOursPostgres(t *testing.T) {
	t.Parallel()
	sweepUI(t, true)
}

// sweepUI runs the UI sweep on SQLite, or on PostgreSQL.
func sweepUI(t *testing.T, postgres bool) {
	// A server with every optional part (SMS) configured serves every route.
	routes := uiPostRoutes(newUISweep(t, nil, postgres).e.srv.Routes())
	scenarios := uiScenarios()
	var covered []string
	for _, sc := range scenarios {
		covered = append(covered, sc.route)
	}
	sweepCovers(t, "UI POST sweep (uiScenarios)", routes, covered, nil, uiNoStoreCall, uiSaysSo)
	for _, sc := range scenarios {
		name := sc.route
		if sc.name != "" {
			name += " (" + sc.name + ")"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newUISweep(t, sc.configure, postgres)
			prep := func() uiCall { s.step(); return sc.prep(s) }
			c := prep()
			s.fs.ResetCalls()
			normal := c.do()
			methods := s.fs.Calls()
			if normal.status >= 400 {
				t.Fatalf("fails without any failure: %d at %s\n%.800s", normal.status, normal.path, normal.body)
			}
			if why, ok := uiNoStoreCall[sc.route]; ok {
				if len(methods) != 0 {
					t.Errorf("listed as making no store call (%s), but calls %v", why, methods)
				}
				return
			}
			if len(methods) == 0 {
				t.Fatalf("touched no store method (%d)", normal.status)
			}
			// A second preparation's answer shows what differs between two answers without a
			// failure (another person's address, tokens, codes; dates and times are compared
			// as such): the rest of the body is compared too. Every scenario prepares each
			// request anew, so a single-use answer is given twice as well.
			mask, d := learnPageMask(normal, prep().do())
			if d != "" {
				t.Fatalf("two answers without a failure do not line up, so they cannot be compared: %s", d)
			}
			known := map[string]bool{}
			eachCallFailing(s.fs, methods, prep, func(c uiCall) uiAnswer { return c.do() },
				func(what string, c uiCall, got uiAnswer) {
					mask := &mask
					if says, ok := uiSaysSo[sc.route]; ok && strings.Contains(got.body, says) && !strings.Contains(normal.body, says) {
						t.Logf("%s: the page says %q", what, says)
						mask = nil
					}
					if why, ok := knownSeams[name+": "+what]; ok {
						s.checkUIFailure(t, func(format string, args ...any) {
							known[what] = true
							t.Logf("known seam, "+format, args...)
							t.Logf("left because %s", why)
						}, what, normal, mask, c, got)
						return
					}
					s.checkUIFailure(t, t.Errorf, what, normal, mask, c, got)
				})
			for k := range knownSeams {
				if what, ok := strings.CutPrefix(k, name+": "); ok && !known[what] {
					t.Errorf("known seam %q was not met: remove it from knownSeams now that it is fixed", k)
				}
			}
		})
	}
}

// decodeTOTPKey reads the key shown in text on the enrolment page.
func decodeTOTPKey(t testing.TB, shown string) []byte {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(shown, " ", ""))
	if err != nil {
		t.Fatalf("key %q: %v", shown, err)
	}
	return key
}
