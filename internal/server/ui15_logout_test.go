package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestAppSignOutWaitsForItsApp: an application's sign-out (RP-initiated logout) whose
// application cannot be read answers our 503 before it signs anyone out; sent again once the
// store works, it signs out and returns to the application. Before, the session was ended
// first and the failed look-up taken for an unregistered address: the person was shown
// MyAccount's "signed out" page, and the application, never returned to, was not told.
func TestAppSignOutWaitsForItsApp(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	const email = "app.signout@example.com"
	e.addUser(email)
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	e.signIn(b, c, email)
	back := c.c.PostLogoutRedirectURIs[0]
	p := b.get(e.issuer + "/end_session?" + url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {back}, "state": {"s1"}}.Encode())
	form := p.formValues()
	if form.Get("post_logout_redirect_uri") != back {
		t.Fatalf("the sign-out page does not carry the application's address: %v\n%.800s", form, p.body)
	}

	time.Sleep(1100 * time.Millisecond) // past the instance's copy of the client (clientCacheTTL)
	rule := fs.Add(faultstore.Rule{Method: "GetClient", Times: 1, Err: faultstore.ErrInjected})
	got := b.post(e.issuer+"/logout", form)
	fs.Clear()
	if fs.Applied(rule) != 1 {
		t.Fatal("the sign-out read no application: the test tests nothing")
	}
	if !is503(got) {
		t.Errorf("the application unreadable: %d at %s (Location %q), want our 503", got.status, got.url, got.header.Get("Location"))
	}
	if !e.signedInAs(b, email) {
		t.Error("signed out although the sign-out answered our failure")
	}
	got = b.post(e.issuer+"/logout", form)
	if got.status != http.StatusSeeOther || !strings.HasPrefix(got.header.Get("Location"), back) {
		t.Fatalf("sent again: %d to %q, want back to %s", got.status, got.header.Get("Location"), back)
	}
	if e.signedInAs(b, email) {
		t.Error("still signed in after the sign-out")
	}
}

// TestEndSessionWithHintWaitsForItsApp: end_session with the ID token of this browser's
// session answers our 503 and ends nothing when any of its reads of the application fails
// (the library's, the post-logout address's, the back-channel's), and sent again once the
// store works it signs out and returns to the application.
func TestEndSessionWithHintWaitsForItsApp(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	const email = "hint.signout@example.com"
	e.addUser(email)
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	idToken, _ := e.tokens(context.Background(), b, c, email).Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("no ID token")
	}
	back := c.c.PostLogoutRedirectURIs[0]
	u := e.issuer + "/end_session?" + url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {back}, "state": {"s1"}}.Encode()

	reads := 0
	for ; ; reads++ {
		time.Sleep(1100 * time.Millisecond) // past the instance's copy of the client (clientCacheTTL)
		rule := fs.Add(faultstore.Rule{Method: "GetClient", Skip: reads, Times: 1, Err: faultstore.ErrInjected})
		got := b.get(u)
		fs.Clear()
		if fs.Applied(rule) == 0 {
			break
		}
		if !is503(got) {
			t.Errorf("read %d of the application failing: %d at %s (Location %q), want our 503", reads+1, got.status, got.url, got.header.Get("Location"))
		}
		if !e.signedInAs(b, email) {
			t.Fatalf("read %d of the application failing: signed out although end_session answered our failure", reads+1)
		}
	}
	if reads == 0 {
		t.Fatal("end_session read no application: the test tests nothing")
	}
	got := b.get(u)
	if got.status != http.StatusFound || !strings.HasPrefix(got.header.Get("Location"), back) {
		t.Fatalf("sent again: %d to %q, want back to %s", got.status, got.header.Get("Location"), back)
	}
	if e.signedInAs(b, email) {
		t.Error("still signed in after end_session")
	}
}
