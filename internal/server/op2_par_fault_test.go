package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestPushedRequestSurvivesOurFailure fails, once, each store call that /authorize makes for
// a pushed request (its first, second, ... call). The request_uri was taken before the auth
// request was stored: with CreateAuthRequest failing, the browser went to the client with
// error=temporarily_unavailable, but reloading the same /authorize URL said "Sign-in
// expired". A failure must be ours (503 or temporarily_unavailable), and reloading the page
// the browser stopped at (/authorize, or the sign-in page it was sent on to) must start the
// sign-in.
func TestPushedRequestSurvivesOurFailure(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	c := e.addClient(storage.ClientConfidential)
	// authorize pushes a request; load opens its /authorize URL, reload the last page opened.
	authorize := func() (load, reload func() *page) {
		form, _, _ := parForm(c)
		st, pr, body := e.push(form, c.ID, c.Secret)
		if st != http.StatusCreated {
			t.Fatalf("push: %d %s", st, body)
		}
		u := e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI}}.Encode()
		b := e.browser()
		last := u
		return func() *page {
				p := b.get(u)
				last = p.url.String()
				return p
			}, func() *page {
				return b.get(last)
			}
	}
	started := func(p *page) bool { return p.status == http.StatusOK && strings.Contains(p.body, `action="/login"`) }

	load, _ := authorize()
	fs.ResetCalls()
	if p := load(); !started(p) {
		t.Fatalf("without failures: %d %.300s", p.status, p.body)
	}
	methods := fs.Calls()
	type pages struct{ load, reload func() *page }
	prepare := func() pages { load, reload := authorize(); return pages{load, reload} }
	eachCallFailing(fs, methods, prepare, func(ps pages) *page { return ps.load() }, func(call string, ps pages, p *page) {
		what := "authorize with " + call
		if started(p) {
			return
		}
		ours := p.status == http.StatusServiceUnavailable
		if loc := p.header.Get("Location"); loc != "" {
			l, _ := url.Parse(loc)
			ours = l.Query().Get("error") == "temporarily_unavailable"
		}
		if !ours {
			t.Errorf("%s: %d %s %.300s, want our failure", what, p.status, p.header.Get("Location"), p.body)
		}
		if p := ps.reload(); !started(p) {
			t.Errorf("%s, then reloading %s: %d %.300s, want the sign-in page", what, p.url.Path, p.status, p.body)
		}
	})
}
