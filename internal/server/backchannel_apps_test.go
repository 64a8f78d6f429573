package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestBackchannelAppAccessRemoved: removing an app's access from the dashboard tells that
// app (its grant's sid, the person's sub) and no other; before, its refresh tokens died but
// its own session of the person ran on untold.
func TestBackchannelAppAccessRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	bc := func(c *storage.Client) { c.BackchannelLogoutURI = rp.uri(c.ID) }
	a := e.addClient(storage.ClientConfidential, firstParty, bc)
	other := e.addClient(storage.ClientConfidential, firstParty, bc)
	b := e.browser()
	tok := e.tokens(ctx, b, a, "ada@example.com")
	sid := idTokenSID(t, e, a, tok.Extra("id_token").(string))
	e.tokens(ctx, b, other, "ada@example.com")

	p := b.post(e.issuer+"/account/apps/remove", url.Values{"csrf_token": {csrfOf(t, b.get(e.issuer+"/account"))}, "client_id": {a.ID}})
	if p.status >= http.StatusBadRequest {
		t.Fatalf("remove access: %d\n%.400s", p.status, p.body)
	}
	got := rp.await(1)
	if len(got) != 1 || len(got[a.ID]) != 1 || got[a.ID][0].SID != sid || got[a.ID][0].Subject != u.ID {
		t.Fatalf("after removing a's access: %v, want one token for a with sid %q", got, sid)
	}
	// The browser's own session is not ended by it.
	if p := b.get(e.issuer + "/account"); p.url.Path != "/account" {
		t.Errorf("removing an app's access signed the browser out: %s", p.url)
	}
}
