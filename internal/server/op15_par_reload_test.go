package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// TestPushedRequestReloadedInItsBrowser: RFC 9126 §4 lets a request_uri be used again when
// the person reloads. The browser that opened /authorize?request_uri=… and reloads it (the
// first answer lost, or reload pressed) continues the same sign-in; another browser with
// the same URL is refused as before; once the sign-in finished, a reload issues no second
// code; and the reload is allowed only for a short while.
func TestPushedRequestReloadedInItsBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("par@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	authorizeURL := func() string {
		t.Helper()
		form, _, _ := parForm(c)
		st, pr, body := e.push(form, c.ID, c.Secret)
		if st != http.StatusCreated {
			t.Fatalf("push: %d %s", st, body)
		}
		return e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI}}.Encode()
	}
	signInPage := func(what string, p *page) string {
		t.Helper()
		if p.status != http.StatusOK || !strings.Contains(p.body, `action="/login"`) || p.url.Query().Get("authRequestID") == "" {
			t.Fatalf("%s: %d at %s, want the sign-in page of the request:\n%.400s", what, p.status, p.url, p.body)
		}
		return p.url.Query().Get("authRequestID")
	}
	refused := func(what string, p *page) {
		t.Helper()
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "already used") {
			t.Errorf("%s: %d at %s (Location %q), want the refusal:\n%.300s", what, p.status, p.url, p.header.Get("Location"), p.body)
		}
	}

	u := authorizeURL()
	a := e.browser()
	first := signInPage("first load", a.get(u))
	if again := signInPage("reload in the same browser", a.get(u)); again != first {
		t.Errorf("the reload started request %s, want the first load's %s continued", again, first)
	}
	refused("the same URL in another browser", e.browser().get(u))

	// Finished: the reload gets no second code.
	p := a.submitLogin(a.get(u), "par@example.com", testPassword)
	if res := redirectResult(t, p, c.Redirect); res.code == "" {
		t.Fatalf("sign-in: %+v", res)
	}
	p = a.get(u)
	if loc := p.header.Get("Location"); strings.HasPrefix(loc, c.Redirect) || p.status == http.StatusFound {
		t.Errorf("reload after the sign-in finished: %d Location %q, want no second answer to the client", p.status, loc)
	}
	if p.status != http.StatusOK || !strings.Contains(p.body, "already complete") {
		t.Errorf("reload after the sign-in finished: %d, want the page saying it is complete: at %s\n%s", p.status, p.url, p.body)
	}

	// Loaded twice at once (a double click) in a browser (not signed in, with its binding
	// cookie from an earlier sign-in page): both go on with one request, whichever load took
	// the request_uri.
	d := e.browser()
	signInPage("another request's first load", d.get(authorizeURL()))
	u = authorizeURL()
	ids := make(chan string, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := d.c.Get(u)
			if err != nil {
				ids <- "error: " + err.Error()
				return
			}
			resp.Body.Close()
			ids <- fmt.Sprintf("%d %s", resp.StatusCode, resp.Request.URL.Query().Get("authRequestID"))
		}()
	}
	wg.Wait()
	close(ids)
	var seen []string
	for id := range ids {
		if !slices.Contains(seen, id) {
			seen = append(seen, id)
		}
	}
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "200 ") || seen[0] == "200 " {
		t.Errorf("four loads at once in one browser ended at %v, want one sign-in request's page", seen)
	}

	// Only for a short while.
	u = authorizeURL()
	b := e.browser()
	signInPage("first load", b.get(u))
	e.clock.Advance(11 * time.Minute)
	refused("reload after eleven minutes", b.get(u))
}
