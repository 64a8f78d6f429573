package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// onBothDatabases runs test in parallel on SQLite (env nil) and, unless -short, on a
// PostgreSQL database of its own (env names it).
func onBothDatabases(t *testing.T, test func(t *testing.T, env map[string]string)) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); test(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("needs PostgreSQL")
		}
		t.Parallel()
		test(t, postgresVars(t))
	})
}

// refreshStatus is the token endpoint's answer to c's refresh token rt.
func (e *testEnv) refreshStatus(c *testClient, rt string) int {
	st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, c.Secret)
	return st
}

// TestSignOutOthersKeepsThisBrowsersApps: "sign out other sessions" on the devices page ends
// the other browser's session and revokes the refresh tokens of its apps and of every
// installation; the apps this browser signed in to keep theirs, as this browser keeps its
// session, and hear nothing. Only the other session's app is told, once, with its sid.
// Before, every grant of the person was revoked, this browser's too: its apps lost their
// refresh tokens without a logout token telling them (the rule of who is told leaves the
// kept session out), so they ran on with a session they could no longer refresh.
func TestSignOutOthersKeepsThisBrowsersApps(t *testing.T) {
	onBothDatabases(t, signOutOthersKeepsThisBrowsersApps)
}

func signOutOthersKeepsThisBrowsersApps(t *testing.T, env map[string]string) {
	e := newEnvWith(t, envOptions{env: env})
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	a := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.uri(c.ID) })
	installed := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token", grantDevice))
	here, there := e.browser(), e.browser()
	hereTok := e.tokens(ctx, here, a, u.Email)
	hereSID := idTokenSID(t, e, a, hereTok.Extra("id_token").(string))
	thereTok := e.tokens(ctx, there, a, u.Email)
	thereSID := idTokenSID(t, e, a, thereTok.Extra("id_token").(string))
	deviceTok := e.tokens(ctx, there, installed, u.Email, oauthParam("device_name", "Office laptop"))

	p := here.get(e.issuer + "/account/devices")
	if got := here.post(e.issuer+"/account/signout-others", url.Values{"csrf_token": {csrfOf(t, p)}}); got.status != http.StatusOK ||
		got.url.Query().Get("done") != "others" {
		t.Fatalf("sign out others: %d at %s", got.status, got.url)
	}
	if st := e.refreshStatus(a, thereTok.RefreshToken); st != http.StatusBadRequest {
		t.Errorf("the other browser's app still refreshes: %d", st)
	}
	if st := e.refreshStatus(installed, deviceTok.RefreshToken); st != http.StatusBadRequest {
		t.Errorf("the installation still refreshes: %d", st)
	}
	if st := e.refreshStatus(a, hereTok.RefreshToken); st != http.StatusOK {
		t.Errorf("this browser's app lost its refresh token: %d", st)
	}
	got := rp.await(1)
	if len(got) != 1 || len(got[a.ID]) != 1 || got[a.ID][0].SID != thereSID {
		t.Errorf("logout tokens %v, want one for the other browser's session %q (not this one's %q)", got, thereSID, hereSID)
	}
	if p := here.get(e.issuer + "/account"); p.url.Path != "/account" {
		t.Errorf("this browser was signed out: %s", p.url)
	}
}

// TestIdleSessionToldAtNextSignIn: a session left unused past session.idle_ttl is over for
// the browser; when that browser signs in again, the new session replaces it and its clients
// are told, once, as README says. Before, the sign-in looked the browser's session up as a
// live one (sessions.Resolve), found none (idle), and replaced nothing: the clients heard of
// it only when housekeeping found it at the end of its absolute lifetime, weeks later.
func TestIdleSessionToldAtNextSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	a := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.uri(c.ID) })
	b := e.browser()
	tok := e.tokens(ctx, b, a, u.Email)
	sid := idTokenSID(t, e, a, tok.Extra("id_token").(string))
	e.clock.Advance(e.cfg.Session.IdleTTL.Std() + time.Minute)
	if p := b.get(e.issuer + "/account"); p.url.Path != "/login" {
		t.Fatalf("an idle session still signed in: %s", p.url)
	}
	e.signedInBrowserAgain(b, u.Email)
	got := rp.await(1)
	if len(got) != 1 || len(got[a.ID]) != 1 || got[a.ID][0].SID != sid {
		t.Fatalf("after signing in again: %v, want one token for the idle session %q", got, sid)
	}
	if s, err := e.store.GetSession(ctx, sid); err != nil || s.RevokedAt == nil {
		t.Errorf("the idle session was not ended: %v %v", s, err)
	}
	e.srv.Housekeeping(ctx)
	rp.untoldAgain(t)
}

// signedInBrowserAgain signs b in on the plain sign-in page.
func (e *testEnv) signedInBrowserAgain(b *browser, email string) {
	e.t.Helper()
	if p := b.submitLogin(b.get(e.issuer+"/login"), email, testPassword); p.url.Path != "/account" {
		e.t.Fatalf("sign-in ended at %s", p.url)
	}
}

// TestSignOutOthersLeavesThisBrowsersAppSignedIn: an app this browser is signed in to also
// has a device of the person's (the device authorization grant: no session). Signing out the
// other sessions revokes the device's grant, but does not tell the app with a token naming
// the person alone, which (Back-Channel Logout §2.4) would sign the person out of the app in
// this browser too; the device finds out at its next refresh.
func TestSignOutOthersLeavesThisBrowsersAppSignedIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	x := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token", grantDevice),
		func(c *storage.Client) { c.BackchannelLogoutURI = rp.uri(c.ID) })
	here := e.browser()
	hereTok := e.tokens(ctx, here, x, u.Email)
	there := e.browser()
	thereSID := idTokenSID(t, e, x, e.tokens(ctx, there, x, u.Email).Extra("id_token").(string))
	da := e.authorizeDevice(x, "openid offline_access", nil)
	if p := e.decideDevice(there, da.UserCode, "approve"); !strings.Contains(p.body, "You can return to your device") {
		t.Fatalf("approval:\n%.600s", p.body)
	}
	st, m := e.pollDevice(x, da.DeviceCode)
	if st != http.StatusOK {
		t.Fatalf("device poll: %d %v", st, m)
	}
	deviceRT, _ := m["refresh_token"].(string)

	p := here.get(e.issuer + "/account/devices")
	if got := here.post(e.issuer+"/account/signout-others", url.Values{"csrf_token": {csrfOf(t, p)}}); got.status != http.StatusOK {
		t.Fatalf("sign out others: %d at %s", got.status, got.url)
	}
	if st := e.refreshStatus(x, deviceRT); st != http.StatusBadRequest {
		t.Errorf("the device still refreshes: %d", st)
	}
	if st := e.refreshStatus(x, hereTok.RefreshToken); st != http.StatusOK {
		t.Errorf("this browser's app lost its refresh token: %d", st)
	}
	// The other browser (which approved the device) is told with its sid; nothing names
	// the person alone.
	got := rp.await(1)[x.ID]
	if len(got) != 1 || got[0].SID != thereSID {
		t.Errorf("logout tokens %+v, want one, for the other browser's session %q (none naming the person alone)", got, thereSID)
	}
	rp.untoldAgain(t)
}
