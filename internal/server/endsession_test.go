package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestEndSessionUnknownClient: an RP-initiated logout naming a client_id that is not
// registered, without an id_token_hint, is our error page, 400, for GET and POST (the
// library answered a bare 500 server_error): no redirect, not even to a post-logout URI it
// names, and the session stays. A registered client still gets the sign-out page, and a
// store failure while looking the client up is the fault mapping's 503.
func TestEndSessionUnknownClient(t *testing.T) {
	t.Parallel()
	e, faults := faultEnv(t, nil)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	e.signIn(b, c, "ada@example.com")
	for _, q := range []url.Values{
		{"client_id": {"no-such-client"}},
		{"client_id": {"no-such-client"}, "post_logout_redirect_uri": {"https://evil.example/"}, "state": {"s"}},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var p *page
			if method == http.MethodGet {
				p = b.get(e.issuer + "/end_session?" + q.Encode())
			} else {
				p = b.post(e.issuer+"/end_session", q)
			}
			if p.status != http.StatusBadRequest || p.url.Path != "/end_session" || p.header.Get("Location") != "" {
				t.Errorf("%s %v: %d at %s (Location %q), want our 400 page", method, q, p.status, p.url, p.header.Get("Location"))
			}
			for _, want := range []string{"Unknown application", "not registered with this service", "Error code: invalid_client"} {
				if !strings.Contains(p.body, want) {
					t.Errorf("%s %v: the page lacks %q:\n%.1500s", method, q, want, p.body)
				}
			}
			if cc := p.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s %v: Cache-Control %q, want no-store", method, q, cc)
			}
		}
	}
	mustAt(t, b.get(e.issuer+"/account"), "/account", "ada@example.com")
	// A registered client without a hint: the sign-out page asks.
	if p := b.get(e.issuer + "/end_session?" + url.Values{"client_id": {c.ID}}.Encode()); !strings.Contains(p.body, `action="/logout"`) {
		t.Errorf("a registered client_id: %d at %s, want the sign-out page", p.status, p.url)
	}
	// Our failure is not the client's fault.
	faults.Fail("GetClient")
	p := b.get(e.issuer + "/end_session?" + url.Values{"client_id": {"another-client"}}.Encode())
	faults.Clear()
	if p.status != http.StatusServiceUnavailable {
		t.Errorf("store failed: %d, want 503", p.status)
	}
}

// TestAuthorizeUnknownClient: a sign-in request naming a client_id that is not registered
// gets the same page as end_session's (one rule, op.Provider.unknownClient): 400 with the
// error code for the developer, no redirect to the redirect_uri it names; a store failure
// while looking the client up is the fault mapping's 503, not "unknown application".
func TestAuthorizeUnknownClient(t *testing.T) {
	t.Parallel()
	e, faults := faultEnv(t, nil)
	b := e.browser()
	q := url.Values{"client_id": {"no-such-client"}, "redirect_uri": {"https://evil.example/cb"},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}
	p := b.get(e.issuer + "/authorize?" + q.Encode())
	if p.status != http.StatusBadRequest || p.url.Path != "/authorize" || p.header.Get("Location") != "" {
		t.Errorf("%d at %s (Location %q), want our 400 page", p.status, p.url, p.header.Get("Location"))
	}
	for _, want := range []string{"Unknown application", "not registered with this service", "Error code: invalid_client"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %q:\n%.1500s", want, p.body)
		}
	}
	faults.Fail("GetClient")
	p = b.get(e.issuer + "/authorize?" + q.Encode())
	faults.Clear()
	if p.status != http.StatusServiceUnavailable || strings.Contains(p.body, "Unknown application") {
		t.Errorf("store failed: %d, want 503 and not the unknown application page:\n%.800s", p.status, p.body)
	}
}

// TestEndSessionAsksWhenSignedInAgain: an application signs the person out with an ID token
// of a session that is over and swept (they signed out elsewhere, then in again). Nothing of
// that session is left to end, but this browser is signed in as the same person: sent back
// to the application as signed out, they would stay signed in here unawares, so they are
// asked.
func TestEndSessionAsksWhenSignedInAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	idt, _ := e.tokens(ctx, b, c, "ada@example.com").Extra("id_token").(string)
	bye := c.c.PostLogoutRedirectURIs[0]
	logout := e.issuer + "/end_session?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {bye}, "state": {"x"}}.Encode()
	e.signOut(b)
	e.srv.Housekeeping(ctx) // the ended session's row is swept: the hint names no session at all
	if sid := idTokenSID(t, e, c, idt); sid == "" {
		t.Fatal("the ID token names no session")
	} else if _, err := e.store.GetSession(ctx, sid); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the ended session after housekeeping: %v, want it swept", err)
	}
	mustAt(t, e.passwordSignIn(b, "ada@example.com"), "/account", "Your account")

	p := b.get(logout)
	if !strings.Contains(p.body, `action="/logout"`) {
		t.Fatalf("signed in again: got %d at %s (Location %q), want the sign-out question", p.status, p.url, p.header.Get("Location"))
	}
	if res := redirectResult(t, e.authWith(b, c, "prompt", "none"), c.Redirect); res.code == "" {
		t.Fatalf("the question signed the person out: %q", res.err)
	}
	// Answered: signed out, and back at the application.
	if loc := b.post(e.issuer+"/logout", p.formValues()).location(); loc == nil || !strings.HasPrefix(loc.String(), bye) {
		t.Fatalf("after confirming: Location %v, want %s", loc, bye)
	}
	if res := redirectResult(t, e.authWith(b, c, "prompt", "none"), c.Redirect); res.err != "login_required" {
		t.Fatalf("after confirming, prompt=none gave %q, want login_required", res.err)
	}
}
