package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// lostAnswer is browser b as it was before its next request: a copy holding b's cookies
// now, for the same form sent again by a browser that never received the first answer (the
// double-click, or the answer lost on a phone's network).
func (e *testEnv) lostAnswer(b *browser) *browser {
	e.t.Helper()
	c := e.browser()
	u, _ := url.Parse(e.issuer)
	c.c.Jar.SetCookies(u, b.c.Jar.Cookies(u))
	return c
}

// TestFinishedSignInSentAgain: the sign-in or consent form of an authorization request sent
// again after the first one completed it. Before, the repeat said "Sign-in expired … start
// again", as if the sign-in had failed. Now the person who completed it is told that it is
// complete, whether the browser holds the first answer's cookies (a reload, the back
// button) or not (the double-click, the answer lost) — proved by their session or by their
// password; no second code goes to the application. Anyone else is answered as before.
func TestFinishedSignInSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	e.addUser("bob@example.com")
	const done = "is already complete"
	first := e.addClient(storage.ClientConfidential, firstParty)
	third := e.addClient(storage.ClientConfidential)

	loginForm := func(b *browser, c *testClient, email, password string) url.Values {
		p, _, _, _ := e.authorize(b, c)
		f := p.formValues()
		f.Set("email", email)
		f.Set("password", password)
		return f
	}
	finishedPage := func(t *testing.T, what string, p *page) {
		t.Helper()
		if p.status != http.StatusOK || !strings.Contains(p.body, done) || p.header.Get("Location") != "" {
			t.Errorf("%s: %d at %s (Location %q), want the 'already complete' page:\n%.1200s", what, p.status, p.url, p.header.Get("Location"), p.body)
		}
	}
	expired := func(t *testing.T, what string, p *page) {
		t.Helper()
		if strings.Contains(p.body, done) || p.header.Get("Location") != "" || p.status < 400 {
			t.Errorf("%s: %d at %s (Location %q), want a refusal:\n%.1200s", what, p.status, p.url, p.header.Get("Location"), p.body)
		}
	}

	t.Run("sign-in form", func(t *testing.T) {
		b := e.browser()
		f := loginForm(b, first, "ada@example.com", testPassword)
		lost := e.lostAnswer(b)
		redirectResult(t, b.post(e.issuer+"/login", f), first.Redirect)
		finishedPage(t, "sent again", b.post(e.issuer+"/login", f))
		finishedPage(t, "sent again, the first answer lost", lost.post(e.issuer+"/login", f))
		finishedPage(t, "opened again", b.get(e.issuer+"/login?authRequestID="+url.QueryEscape(f.Get("authRequestID"))))

		wrong := url.Values{}
		for k, v := range f {
			wrong[k] = v
		}
		wrong.Set("password", "not the password")
		if p := e.lostAnswer(lost).post(e.issuer+"/login", wrong); strings.Contains(p.body, done) {
			t.Errorf("sent again with a wrong password: told it is complete:\n%.1200s", p.body)
		}
		bob := url.Values{}
		for k, v := range f {
			bob[k] = v
		}
		bob.Set("email", "bob@example.com")
		expired(t, "sent again with another person's password", e.lostAnswer(lost).post(e.issuer+"/login", bob))
		expired(t, "opened by another person", e.signedInBrowser("bob@example.com").get(e.issuer+"/login?authRequestID="+url.QueryEscape(f.Get("authRequestID"))))
	})

	t.Run("consent form", func(t *testing.T) {
		b := e.browser()
		f := loginForm(b, third, "ada@example.com", testPassword)
		p := b.post(e.issuer+"/login", f)
		if !strings.Contains(p.body, `action="/consent"`) {
			t.Fatalf("no consent page: %d at %s", p.status, p.url)
		}
		cf := p.formValues()
		cf.Set("decision", "allow")
		lost := e.lostAnswer(b)
		redirectResult(t, b.post(e.issuer+"/consent", cf), third.Redirect)
		finishedPage(t, "allowed again", b.post(e.issuer+"/consent", cf))
		finishedPage(t, "allowed again, the first answer lost", lost.post(e.issuer+"/consent", cf))

		other := e.signedInBrowser("bob@example.com")
		cf.Set("csrf_token", csrfOf(t, other.get(e.issuer+"/account")))
		expired(t, "posted by another person", other.post(e.issuer+"/consent", cf))
	})
}
