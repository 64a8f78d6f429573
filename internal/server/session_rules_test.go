package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestConsentCannotSkipSignInSteps: posting "allow" to the consent page straight away, with
// the browser's session, completes nothing that the sign-in page would not: a request with
// prompt=login, one whose max_age the session is older than, and one of a client that
// requires a second step the session has not done all go back to the sign-in page, without
// a code. (The consent page only checked that some session existed.)
func TestConsentCannotSkipSignInSteps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	fp := e.addClient(storage.ClientConfidential, firstParty)
	tp := e.addClient(storage.ClientConfidential)
	strict := e.addClient(storage.ClientConfidential, func(c *storage.Client) { c.RequireMFA = true })
	b := e.browser()
	e.signIn(b, fp, "ada@example.com")
	e.clock.Advance(2 * time.Minute)

	allow := func(t *testing.T, p *page) {
		t.Helper()
		f := p.formValues()
		id := f.Get("authRequestID")
		if id == "" {
			id = p.url.Query().Get("authRequestID")
		}
		if id == "" || len(f) == 0 {
			t.Fatalf("no request id or form on %s:\n%.400s", p.url, p.body)
		}
		f.Set("authRequestID", id)
		f.Set("decision", "allow")
		keep := b.c.CheckRedirect
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		defer func() { b.c.CheckRedirect = keep }()
		got := b.post(e.issuer+"/consent", f)
		loc := got.header.Get("Location")
		if got.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?authRequestID=") {
			t.Errorf("consent post: %d to %q, want 303 back to the sign-in page", got.status, loc)
		}
		if strings.Contains(loc, "code=") {
			t.Errorf("a code was issued: %s", loc)
		}
	}
	t.Run("prompt=login", func(t *testing.T) {
		p := e.authWith(b, tp, "prompt", "login")
		if !strings.Contains(p.body, `action="/login"`) {
			t.Fatalf("expected the sign-in page, got %d at %s", p.status, p.url)
		}
		allow(t, p)
	})
	t.Run("max_age", func(t *testing.T) {
		p := e.authWith(b, tp, "max_age", "60")
		if !strings.Contains(p.body, `action="/login"`) {
			t.Fatalf("expected the sign-in page, got %d at %s", p.status, p.url)
		}
		allow(t, p)
	})
	t.Run("client requires a second step", func(t *testing.T) {
		p := e.authWith(b, strict)
		if !strings.Contains(p.url.Path, "/account/security") {
			t.Fatalf("expected the page to set up a factor, got %d at %s", p.status, p.url)
		}
		allow(t, p)
	})
	// The same session still answers a request it satisfies, through the consent page.
	p := e.authWith(b, tp)
	if res := redirectResult(t, b.consent(p, "allow"), tp.Redirect); res.code == "" {
		t.Errorf("consent for a satisfied request: no code (%q)", res.err)
	}
}

// TestSessionReadFailureIsNotSignedOut: when the session cannot be read, the pages of a
// sign-in in progress answer 503 instead of treating the person as signed out (the sign-in
// form again, a redirect to it) or the device page asking them to sign in; the next request
// finds the session.
func TestSessionReadFailureIsNotSignedOut(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	fp := e.addClient(storage.ClientConfidential, firstParty)
	tp := e.addClient(storage.ClientConfidential)
	b := e.browser()
	e.signIn(b, fp, "ada@example.com")
	p := e.authWith(b, tp)
	if !strings.Contains(p.body, `action="/consent"`) {
		t.Fatalf("expected the consent page, got %d at %s", p.status, p.url)
	}
	id := p.formValues().Get("authRequestID")
	for _, path := range []string{"/consent?authRequestID=" + id, "/login?authRequestID=" + id, "/login"} {
		fs.Add(faultstore.Rule{Method: "GetSessionByTokenHash", Times: 1, Err: faultstore.ErrInjected})
		got := b.get(e.issuer + path)
		if got.status != http.StatusServiceUnavailable || strings.Contains(got.body, `action="/login"`) {
			t.Errorf("%s with the session unreadable: %d at %s, want 503 (not the sign-in form)", path, got.status, got.url)
		}
	}
	if got := b.get(e.issuer + "/consent?authRequestID=" + id); !strings.Contains(got.body, `action="/consent"`) {
		t.Errorf("after the failure: %d at %s, want the consent page again", got.status, got.url)
	}
}

// TestSignOutFailureIsNotSignedOut: a sign-out whose session could not be ended (or read)
// answers 503 and keeps the cookie, instead of saying the session ended while it stays live;
// signing out again then works.
func TestSignOutFailureIsNotSignedOut(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	fp := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	e.signIn(b, fp, "ada@example.com")
	for _, m := range []string{"RevokeSession", "GetSessionByTokenHash"} {
		form := b.get(e.issuer + "/logout").formValues()
		fs.Add(faultstore.Rule{Method: m, Times: 1, Err: faultstore.ErrInjected})
		if got := b.post(e.issuer+"/logout", form); got.status != http.StatusServiceUnavailable {
			t.Errorf("%s failing: sign-out answered %d at %s, want 503", m, got.status, got.url)
		}
		if got := b.get(e.issuer + "/account"); got.url.Path != "/account" || got.status != http.StatusOK {
			t.Fatalf("%s failing: the session was dropped (%d at %s)", m, got.status, got.url)
		}
	}
	form := b.get(e.issuer + "/logout").formValues()
	if got := b.post(e.issuer+"/logout", form); got.status != http.StatusOK || got.url.Query().Get("done") == "" {
		t.Errorf("sign-out: %d at %s", got.status, got.url)
	}
	if got := b.get(e.issuer + "/account"); got.url.Path != "/login" {
		t.Errorf("after signing out: %d at %s, want the sign-in page", got.status, got.url)
	}
}

// TestFragmentErrorRedirectIsOurs: with response_mode=fragment, an authorization request
// that fails on our side reaches the client with error=temporarily_unavailable in the
// fragment, as it does in the query, not the library's server_error and its own text.
func TestFragmentErrorRedirectIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	c := e.addClient(storage.ClientConfidential, firstParty)
	fs.Add(faultstore.Rule{Method: "CreateAuthRequest", Times: 1, Err: faultstore.ErrInjected})
	p := e.authWith(e.browser(), c, "response_mode", "fragment")
	loc := p.header.Get("Location")
	if !strings.HasPrefix(loc, c.Redirect) {
		t.Fatalf("want a redirect to the client, got %d %q", p.status, loc)
	}
	u, _ := url.Parse(loc)
	f, err := url.ParseQuery(u.Fragment)
	if err != nil || f.Get("error") != "temporarily_unavailable" || f.Get("state") != "st" || strings.Contains(loc, "unable") {
		t.Errorf("fragment %q: want error=temporarily_unavailable with the state and our description", u.Fragment)
	}
}

// TestAbsoluteLogoIsAllowedByTheCSP: an operator's logo at another origin (ui.logo_url, an
// http(s) URL the configuration accepts) is shown: every page's img-src names its origin,
// and nothing else is widened. The strict img-src 'self' blocked it before.
func TestAbsoluteLogoIsAllowedByTheCSP(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{configure: func(c *config.Config) { c.UI.LogoURL = "https://cdn.example/brand/logo.svg" }})
	p := e.browser().get(e.issuer + "/login")
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "img-src 'self' data: https://cdn.example;") || strings.Count(csp, "https://cdn.example") != 1 {
		t.Errorf("CSP %q: want img-src to name the logo's origin once", csp)
	}
	if !strings.Contains(p.body, `src="https://cdn.example/brand/logo.svg"`) {
		t.Error("the page does not show the logo")
	}
}
