package server_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// The guard's classification of every route the server serves. A route Routes() lists that
// none of these names fails TestRoutesGuard: classify it (with its reason) when adding it.

// uiRoutes are the UI's pages and forms: a browser's, authenticated by the session cookie.
// Every one that takes a POST must refuse it without the form's CSRF token (or, for the
// scripts' JSON calls, the X-CSRF-Token header) and from another site.
var uiRoutes = []string{
	"/static/", "/theme.css", "/favicon.ico", "/", "/lang",
	"/login", "/consent", "/logout",
	"/account", "/account/password", "/account/email", "/account/email/confirm", "/account/delete",
	"/account/apps", "/account/apps/remove",
	"/register", "/register/captcha", "/register/check", "/activate", "/activate/resend",
	"/profile", "/profile/regions",
	"/forgot", "/reset",
	"/account/devices", "/account/devices/revoke", "/account/sessions/revoke", "/account/signout-others",
	"/mfa", "/mfa/webauthn/begin", "/mfa/webauthn/finish", "/passkey/begin", "/passkey/finish",
	"/account/security", "/account/security/totp", "/account/security/totp/confirm",
	"/account/security/webauthn/begin", "/account/security/webauthn/finish", "/account/security/remove",
	"/account/security/recovery-codes", "/account/security/browsers/forget",
	"/device", "/device/decision",
	"/not-me",
	"/admin", "/admin/verify", "/admin/users", "/admin/users/{id}", "/admin/users/{id}/{action}",
	"/admin/clients", "/admin/clients/{id}", "/admin/clients/{id}/rotate", "/admin/audit", "/admin/keys", "/admin/keys/rotate",
	"/account/licences", "/account/licences/redeem", "/account/licences/free",
	"/account/phone", "/account/phone/verify", "/account/phone/resend", "/account/phone/remove",
	"/forgot/sms", "/forgot/sms/code",
}

// csrfExempt are the routes a browser's cookies do not authenticate, so that a forged
// cross-site request carries nothing they act on: they are exempt from the CSRF token, and
// the guard checks that a signed-in staff member's cookies alone are refused.
var csrfExempt = map[string]string{
	"/oauth/token":                      "client authentication (secret, private_key_jwt) or PKCE, never a cookie",
	"/oauth/introspect":                 "client authentication, never a cookie",
	"/revoke":                           "client authentication, never a cookie",
	"/userinfo":                         "a bearer access token, never a cookie",
	"/par":                              "client authentication, never a cookie",
	"/device_authorization":             "client authentication, never a cookie",
	"/connect/register":                 "an initial access token (bearer), never a cookie",
	"/connect/register/":                "a registration access token (bearer), never a cookie",
	"/api/v1/licences/{id}/activations": "a bearer access token with the licences scope, never a cookie",
	// The admin API: bearer tokens only (the console is the cookie-authenticated admin UI).
	"/admin/api/v1/clients":                        "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/clients/{id}":                   "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/clients/{id}/rotate-secret":     "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/users":                          "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/users/{id}":                     "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/users/{id}/lock":                "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/users/{id}/unlock":              "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/users/{id}/resend-activation":   "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/users/{id}/send-reset":          "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/users/{id}/remove-factors":      "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/users/{id}/sign-out-everywhere": "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/audit-events":                   "a bearer access token with an admin scope, never a cookie",
	"/admin/api/v1/audit-events/export":            "a bearer access token with an admin scope, never a cookie",
}

// frontChannel are the provider's browser endpoints (OIDC Core, RP-Initiated Logout): a
// client sends the browser there by a redirect or a form post from its own site, so a
// cross-site request is their normal use. They act on protocol parameters the client
// registered (client_id, redirect_uri, PKCE, the browser binding of the request), never on
// the cookie alone: /authorize only starts a sign-in the person still has to finish,
// /authorize/callback only completes one started in this browser, and /end_session without
// a valid id_token_hint only shows the CSRF-protected /logout page.
var frontChannel = map[string]string{
	"/authorize":          "starts a sign-in; errors before the client is known are our page",
	"/authorize/callback": "completes only a request started in this browser (browser binding)",
	"/end_session":        "signs out only after the /logout page's CSRF-checked form",
}

// publicRoutes hold no one's data and change nothing: no cookie, no CSRF.
var publicRoutes = map[string]string{
	"/healthz": "liveness probe", "/readyz": "readiness probe", "/ready": "readiness probe (old name)",
	"/.well-known/openid-configuration": "discovery document",
	"/keys":                             "the public signing keys (JWKS)",
	"/admin/api/v1/openapi.yaml":        "the admin API's description, no data",
}

// cachedRoutes may be stored by caches: their successful GET (and HEAD) carries exactly this
// Cache-Control; every other answer of theirs, and every answer of every other route, carries
// no-store. "public, no-cache" is stored but revalidated (ETag) on every use: a fixed URL
// whose content changes with a deployment.
var cachedRoutes = map[string]struct{ cache, why string }{
	"/.well-known/openid-configuration": {"public, max-age=300", "the same for everyone; clients fetch it on every start"},
	"/keys":                             {"public, max-age=300", "public keys; a new key is published ahead of its use"},
	"/admin/api/v1/openapi.yaml":        {"public, max-age=300", "a document, no data"},
	"/profile/regions":                  {"public, max-age=3600", "a country's regions and time zone: public, per language (Vary)"},
	"/static/":                          {"public, max-age=31536000, immutable", "hashed names: the name changes with the content"},
	"/static/ (plain name)":             {"public, no-cache", "a plain name's content changes with a deployment"},
	"/theme.css":                        {"public, no-cache", "fixed URL of the generated theme"},
	"/favicon.ico":                      {"public, no-cache", "fixed URL of the icon"},
}

// strictHeaders are the exact security headers of every answer (ui.SecurityHeaders).
var strictHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
}

// guardAnswer is one response the walk saw.
type guardAnswer struct {
	method, url, variant string
	status               int
	header               http.Header
	body                 string
}

func (a guardAnswer) String() string {
	u := a.url
	if len(u) > 100 {
		u = u[:100] + "…"
	}
	return fmt.Sprintf("%s %s (%s): %d", a.method, u, a.variant, a.status)
}

// routeGuard walks one server.
type routeGuard struct {
	t        *testing.T
	e        *testEnv
	staff    *browser
	victimID string
	clientID string
	assets   []string // a hashed and a plain static URL
	anon     *http.Client
	cookie   *http.Client // the staff browser's cookies, redirects not followed
	answers  int
	cachedOK map[string]bool // targets whose successful GET carried their cached Cache-Control
	db       *sql.DB         // the SQLite file, read-only (dbState)
}

// TestRoutesGuard walks every route Routes() lists, with every method, signed out and as a
// signed-in administrator (with MFA), with empty and garbage input, and checks on every
// answer: the strict security headers; Cache-Control no-store except the cached routes' own
// successful answers; no 500 and no panic text. Every UI route taking POST refuses it (403,
// nothing changed) without the CSRF token, with a wrong one, and from another site; every
// route exempt from CSRF refuses the staff member's cookies alone. Every switch that adds
// routes is on (registration, SMS sign-in and reset, licences; the console and the admin API
// always are). SQLite only: the rules are the handlers', not the store's, and "nothing
// changed" is read from the database file.
func TestRoutesGuard(t *testing.T) {
	t.Parallel()
	start := time.Now()
	var faults *faultstore.Store
	e, _ := phoneEnv(t, false, map[string]string{"MYACCOUNT_MFA_SMS": "enabled"}, envOptions{
		configure: func(c *config.Config) {
			c.Registration.Enabled = true
			c.Accounts.ResetBySMS = true
			c.Licences.RenewalURL = "https://shop.example/renew"
		},
		wrapStore: func(s storage.Store) storage.Store {
			faults = faultstore.New(s)
			return faults
		},
	})
	g := &routeGuard{t: t, e: e, cachedOK: map[string]bool{}}
	staff, _, _ := e.consoleStaff("root@example.com", storage.RoleAdmin)
	g.staff = staff
	g.victimID = e.addUser("victim@example.com").ID
	g.clientID = e.addClient(storage.ClientConfidential).ID
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	g.anon = &http.Client{Timeout: 20 * time.Second, CheckRedirect: noFollow}
	g.cookie = &http.Client{Timeout: 20 * time.Second, CheckRedirect: noFollow, Jar: staff.c.Jar}
	acct := staff.get(e.issuer + "/account")
	mustAt(t, acct, "/account", "root@example.com")
	m := regexp.MustCompile(`href="(/static/style\.[0-9a-f]+\.css)"`).FindStringSubmatch(acct.body)
	if m == nil {
		t.Fatalf("no hashed stylesheet on /account:\n%.2000s", acct.body)
	}
	g.assets = []string{m[1], "/static/style.css"}

	routes := e.srv.Routes()
	g.classify(routes)
	if t.Failed() {
		return
	}
	if !g.hasCookie("myaccount_csrf") || !g.hasCookie(e.cfg.Session.CookieName) {
		t.Fatal("the staff browser holds no session or CSRF cookie")
	}
	// CSRF first: the walk's garbage below may sign the staff member out at its end. The
	// mail the set-up queued is sent first, so that only a request can change a row.
	g.settle()
	for _, rt := range routes {
		if slices.Contains(uiRoutes, rt.Path) && accepts(rt, http.MethodPost) {
			g.csrf(rt)
		}
		if _, ok := csrfExempt[rt.Path]; ok {
			g.exempt(rt)
		}
		if _, ok := frontChannel[rt.Path]; ok {
			g.front(rt)
		}
	}
	g.signedIn("after the CSRF checks")
	// The control: the same kind of post with its token does change a row, so the refusals
	// above were the CSRF checks' and dbState sees a change.
	lock := "/admin/users/" + g.victimID + "/lock"
	f := formAt(t, staff.get(e.issuer+"/admin/users/"+g.victimID), lock)
	f.Set("reason", "the walk's control")
	before := g.dbState()
	a := g.send(g.cookie, http.MethodPost, lock, f, nil, "control")
	if a.status >= 400 || diffState(before, g.dbState()) == "" {
		t.Errorf("%s: a console action with its CSRF token changed no row", a)
	}
	// Then every route, every method, signed out and signed in. /logout last: it ends the
	// staff member's session.
	walk := slices.Clone(routes)
	sort.SliceStable(walk, func(i, j int) bool { return walk[i].Path != "/logout" && walk[j].Path == "/logout" })
	for _, rt := range walk {
		if rt.Path == "/logout" {
			g.signedIn("when the walk came to /logout")
		}
		g.walk(rt)
	}
	// Every route meant to be cached was seen answering with its Cache-Control.
	for _, rt := range routes {
		for _, tg := range g.targets(rt) {
			if tg.cache != "" && !g.cachedOK[tg.path] {
				t.Errorf("GET %s never answered 200 with its Cache-Control %q", tg.path, tg.cache)
			}
		}
	}
	// Paths no route serves, in each router's space.
	for _, p := range []string{"/no-such-page", "/admin/api/v1/no-such", "/connect/register/a/b", "/static/no-such.css",
		"/api/v1/licences/", "/account/no-such", "/.well-known/no-such"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			g.check(g.send(g.anon, method, p, nil, nil, "unrouted"), "")
		}
	}
	// The fault mapping's answers: a page and a protocol endpoint whose store failed.
	faults.Fail("GetClient")
	g.check(g.send(g.anon, http.MethodGet, "/authorize?client_id=not-cached", nil, nil, "store failed"), "")
	g.check(g.send(g.anon, http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"not-cached-either"}, "client_secret": {"x"}}, nil, "store failed"), "")
	faults.Clear()
	t.Logf("%d routes, %d answers checked in %s", len(routes), g.answers, time.Since(start).Round(time.Millisecond))
}

// hasCookie reports whether the staff browser holds a cookie named name.
func (g *routeGuard) hasCookie(name string) bool {
	u, _ := url.Parse(g.e.issuer + "/")
	for _, c := range g.staff.c.Jar.Cookies(u) {
		if c.Name == name {
			return true
		}
	}
	return false
}

// signedIn fails unless the staff member is still signed in: the checks that need a session
// would otherwise have met none.
func (g *routeGuard) signedIn(when string) {
	g.t.Helper()
	if p := g.staff.get(g.e.issuer + "/account"); p.url.Path != "/account" || !strings.Contains(p.body, "root@example.com") {
		g.t.Fatalf("the staff member was signed out %s (now at %s)", when, p.url)
	}
}

// settle waits until no row changes for a while (the mail worker has sent what was queued).
func (g *routeGuard) settle() {
	g.t.Helper()
	last := g.dbState()
	for stable, deadline := 0, time.Now().Add(10*time.Second); stable < 3; {
		if time.Now().After(deadline) {
			g.t.Fatal("the database kept changing with no request")
		}
		time.Sleep(30 * time.Millisecond)
		now := g.dbState()
		if diffState(last, now) == "" {
			stable++
		} else {
			stable = 0
		}
		last = now
	}
}

// classify fails on a route no list names, and on a listed route no router serves.
func (g *routeGuard) classify(routes []server.Route) {
	t := g.t
	served := map[string]bool{}
	for _, rt := range routes {
		served[rt.Path] = true
		n := 0
		if slices.Contains(uiRoutes, rt.Path) {
			n++
		}
		for _, m := range []map[string]string{csrfExempt, frontChannel, publicRoutes} {
			if _, ok := m[rt.Path]; ok {
				n++
			}
		}
		switch {
		case n == 0:
			t.Errorf("route %s %v is not classified: add it to uiRoutes (a browser's page or form), csrfExempt (not cookie-authenticated), frontChannel or publicRoutes in routes_guard_test.go, with its reason, and to cachedRoutes if caches may store it", rt.Path, rt.Methods)
		case n > 1:
			t.Errorf("route %s is classified more than once", rt.Path)
		}
	}
	listed := slices.Clone(uiRoutes)
	for _, m := range []map[string]string{csrfExempt, frontChannel, publicRoutes} {
		for p := range m {
			listed = append(listed, p)
		}
	}
	for p := range cachedRoutes {
		listed = append(listed, strings.TrimSuffix(p, " (plain name)"))
	}
	for _, p := range listed {
		if !served[p] {
			t.Errorf("%s is classified in routes_guard_test.go but no router serves it: remove it", p)
		}
	}
}

func accepts(rt server.Route, method string) bool {
	return rt.Methods == nil || slices.Contains(rt.Methods, method)
}

// target is a filled path of a route, with the Cache-Control its successful GET carries
// ("" for no-store).
type target struct{ path, cache string }

// targets fills a route's path variables with plausible values: real people and clients, so
// that a refused request is seen to leave a real row alone.
func (g *routeGuard) targets(rt server.Route) []target {
	cache := func(key string) string { return cachedRoutes[key].cache }
	switch {
	case rt.Path == "/static/":
		return []target{{g.assets[0], cache("/static/")}, {g.assets[1], cache("/static/ (plain name)")}}
	case rt.Path == "/connect/register/":
		return []target{{"/connect/register/" + g.clientID, ""}}
	case rt.Path == "/end_session":
		// An unknown client_id without an id_token_hint: our error page (TestEndSessionUnknownClient).
		return []target{{"/end_session", ""}, {"/end_session?client_id=not-a-client", ""}}
	case rt.Prefix:
		g.t.Fatalf("prefix route %s: add how to fill it to targets", rt.Path)
	}
	p := rt.Path
	id := "garbage-id"
	switch {
	case strings.Contains(p, "/users/{id}"):
		id = g.victimID
	case strings.Contains(p, "/clients/{id}"):
		id = g.clientID
	}
	p = strings.ReplaceAll(p, "{id}", id)
	p = strings.ReplaceAll(p, "{action}", "lock")
	if strings.Contains(p, "{") {
		g.t.Fatalf("route %s: add a value for its variable to targets", rt.Path)
	}
	return []target{{p, cache(rt.Path)}}
}

// send makes one request; form, when set, is the urlencoded body.
func (g *routeGuard) send(c *http.Client, method, path string, form url.Values, hdr http.Header, variant string) guardAnswer {
	g.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, g.e.issuer+path, body)
	if err != nil {
		g.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	g.answers++
	return guardAnswer{method: method, url: path, variant: variant, status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// check applies the rules every answer keeps; cache is the Cache-Control a successful GET or
// HEAD of this target carries ("" for no-store).
func (g *routeGuard) check(a guardAnswer, cache string) {
	t := g.t
	t.Helper()
	for k, want := range strictHeaders {
		if got := a.header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s = %q, want %q", a, k, got, want)
		}
	}
	want := "no-store"
	if cache != "" && (a.method == http.MethodGet || a.method == http.MethodHead) && (a.status == http.StatusOK || a.status == http.StatusPartialContent || a.status == http.StatusNotModified) {
		want = cache
	}
	if got := a.header.Values("Cache-Control"); len(got) != 1 || got[0] != want {
		t.Errorf("%s: Cache-Control = %q, want %q", a, got, want)
	} else if want != "no-store" {
		g.cachedOK[a.url] = true
	}
	if a.status >= 500 && a.variant != "store failed" {
		t.Errorf("%s: a failure of ours for the walk's input:\n%.600s", a, a.body)
	}
	if a.variant == "store failed" && a.status != http.StatusServiceUnavailable {
		t.Errorf("%s: want the fault mapping's 503", a)
	}
	// A stack trace, a panic, or the library's internal rendering of an error.
	for _, s := range []string{"goroutine ", "panic:", "runtime error", "ErrorType=", "Parent="} {
		if strings.Contains(a.body, s) {
			t.Errorf("%s: the body shows %q:\n%.600s", a, s, a.body)
		}
	}
}

// garbage is input no form expects: odd bytes, markup, SQL and path metacharacters.
const garbage = "\x00'\"<script>;--../%ff\u202e" + "\xff"

// garbageHeader is garbage a header may carry (no control characters).
const garbageHeader = "'\"<script>;--../%ff,*;q=2,xx-YY-zz"

// garbageForm fills the fields the forms and endpoints read with garbage.
func garbageForm() url.Values {
	f := url.Values{}
	for _, k := range []string{"email", "password", "confirm", "code", "token", "authRequestID", "client_id", "id",
		"decision", "user_code", "number", "country", "name", "redirect_uri", "grant_type", "scope", "return", "back",
		"method", "session_id", "state", "id_token_hint", "post_logout_redirect_uri", "captcha", "licence", "key"} {
		f.Set(k, garbage)
	}
	return f
}

// methods are the methods the walk sends to rt: its own, HEAD with GET, and one it does not
// take (its 405); every common method to a route whose handler takes all.
func methods(rt server.Route) []string {
	if rt.Methods == nil {
		return []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions}
	}
	ms := slices.Clone(rt.Methods)
	if slices.Contains(ms, http.MethodGet) && !slices.Contains(ms, http.MethodHead) {
		ms = append(ms, http.MethodHead)
	}
	for _, extra := range []string{http.MethodPut, http.MethodPost} {
		if !slices.Contains(ms, extra) {
			ms = append(ms, extra)
			break
		}
	}
	return ms
}

// walk sends every method to every target of rt, signed out and as the staff member, with
// empty and garbage input.
func (g *routeGuard) walk(rt server.Route) {
	for _, tg := range g.targets(rt) {
		for _, method := range methods(rt) {
			hasBody := method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
			var empty, junk url.Values
			if hasBody {
				empty, junk = url.Values{}, garbageForm()
			}
			g.check(g.send(g.anon, method, tg.path, empty, nil, "signed out, empty"), tg.cache)
			withGarbage := tg.path + "?" + garbageForm().Encode()
			if strings.Contains(tg.path, "?") {
				withGarbage = tg.path + "&" + garbageForm().Encode()
			}
			g.check(g.send(g.anon, method, withGarbage, junk, nil, "signed out, garbage"), tg.cache)
			// Signed in, with the page's CSRF token: the handler itself gets the garbage.
			csrf := g.csrfToken()
			if hasBody {
				empty.Set("csrf_token", csrf)
				junk.Set("csrf_token", csrf)
			}
			hdr := http.Header{"X-Csrf-Token": {csrf}}
			g.check(g.send(g.cookie, method, tg.path, empty, hdr, "signed in, empty"), tg.cache)
			g.check(g.send(g.cookie, method, withGarbage, junk, hdr, "signed in, garbage"), tg.cache)
			// Headers no client of ours sends: a range past the end, conditions that fail.
			odd := http.Header{"X-Csrf-Token": {csrf}, "Range": {"bytes=99999999-"}, "If-Match": {`"nope"`},
				"If-Unmodified-Since": {"Mon, 01 Jan 2001 00:00:00 GMT"}, "Accept": {garbageHeader}, "Accept-Language": {garbageHeader}}
			g.check(g.send(g.cookie, method, tg.path, empty, odd, "signed in, odd headers"), tg.cache)
		}
	}
}

var csrfFieldRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// csrfToken is the staff browser's CSRF token, as its pages carry it.
func (g *routeGuard) csrfToken() string {
	g.t.Helper()
	p := g.staff.get(g.e.issuer + "/login")
	m := csrfFieldRE.FindStringSubmatch(p.body)
	if m == nil {
		g.t.Fatalf("no csrf_token on /login:\n%.1500s", p.body)
	}
	return m[1]
}

// csrf checks that a UI route's POST is refused without the token, with a wrong one, and
// from another site (with the right token), and that none of them changed a row.
func (g *routeGuard) csrf(rt server.Route) {
	t := g.t
	good := g.csrfToken()
	for _, tg := range g.targets(rt) {
		before := g.dbState()
		form := func(token string) url.Values {
			f := url.Values{"current": {testPassword}, "decision": {"allow"}, "email": {"root@example.com"}}
			if token != "" {
				f.Set("csrf_token", token)
			}
			return f
		}
		for _, c := range []struct {
			variant string
			form    url.Values
			hdr     http.Header
		}{
			{"no token", form(""), nil},
			{"wrong token", form("AAAA" + good[4:]), http.Header{"X-Csrf-Token": {"AAAA" + good[4:]}}},
			// From another site, with the right token: the cross-origin protection refuses.
			{"Sec-Fetch-Site: cross-site", form(good), http.Header{"X-Csrf-Token": {good}, "Sec-Fetch-Site": {"cross-site"}}},
			{"Origin: https://evil.example", form(good), http.Header{"X-Csrf-Token": {good}, "Origin": {"https://evil.example"}}},
		} {
			a := g.send(g.cookie, http.MethodPost, tg.path, c.form, c.hdr, "CSRF, "+c.variant)
			g.check(a, "")
			if a.status != http.StatusForbidden {
				t.Errorf("%s: want 403 (refused as a forged request):\n%.600s", a, a.body)
			}
		}
		if diff := diffState(before, g.dbState()); diff != "" {
			t.Errorf("POST %s refused as forged still changed: %s", tg.path, diff)
		}
	}
}

// exempt checks that a route exempt from CSRF does not act on the staff member's cookies
// alone: no bearer token, no client credentials, and it refuses.
func (g *routeGuard) exempt(rt server.Route) {
	t := g.t
	for _, tg := range g.targets(rt) {
		for _, method := range methods(rt) {
			if method == http.MethodHead || method == http.MethodOptions {
				continue
			}
			a := g.send(g.cookie, method, tg.path, url.Values{}, nil, "exempt, the staff member's cookies only")
			g.check(a, "")
			switch a.status {
			case http.StatusBadRequest, http.StatusUnauthorized, http.StatusMethodNotAllowed:
			default:
				t.Errorf("%s: a request with only a signed-in administrator's cookies got %d, want it refused (400, 401 or 405):\n%.600s", a, a.status, a.body)
			}
			if strings.Contains(a.body, "root@example.com") || strings.Contains(a.body, "access_token") {
				t.Errorf("%s: the answer to cookies alone holds data:\n%.600s", a, a.body)
			}
		}
	}
}

// front checks that the provider's front-channel endpoints, sent from another site with the
// staff member's cookies, do not end or use the session on their own.
func (g *routeGuard) front(rt server.Route) {
	t := g.t
	for _, tg := range g.targets(rt) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			a := g.send(g.cookie, method, tg.path, url.Values{}, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, "front channel, cross-site")
			g.check(a, "")
			if a.status < 300 || a.status >= 500 {
				t.Errorf("%s: want a redirect or an error page", a)
			}
		}
		if p := g.staff.get(g.e.issuer + "/account"); p.url.Path != "/account" || !strings.Contains(p.body, "root@example.com") {
			t.Errorf("a cross-site %s signed the staff member out (now at %s)", tg.path, p.url)
		}
	}
}

// dbState hashes every table's rows, read from the SQLite file.
func (g *routeGuard) dbState() map[string]string {
	t := g.t
	t.Helper()
	if g.db == nil {
		db, err := sql.Open("sqlite3", "file:"+g.e.cfg.Database.URL+"?mode=ro&_busy_timeout=5000")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		g.db = db
	}
	ctx := context.Background()
	var tables []string
	rows, err := g.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, tbl := range tables {
		rows, err := g.db.QueryContext(ctx, `SELECT * FROM "`+tbl+`"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		h := sha256.New()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%q", vals))
		}
		rows.Close()
		sort.Strings(lines)
		for _, l := range lines {
			h.Write([]byte(l + "\n"))
		}
		out[tbl] = fmt.Sprintf("%d rows %s", len(lines), hex.EncodeToString(h.Sum(nil))[:12])
	}
	return out
}

func diffState(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, fmt.Sprintf("%s (%s, now %s)", k, v, b[k]))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
