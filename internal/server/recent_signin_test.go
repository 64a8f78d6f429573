package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// mayChangeFactors posts a change to how the account signs in (forgetting remembered
// browsers, which every factor change shares the rule of: sessions.Recent) from browser b,
// and reports whether it was let through (true) or answered "sign in again" (false).
func (e *testEnv) mayChangeFactors(t *testing.T, b *browser) bool {
	t.Helper()
	p := b.get(e.issuer + "/account/security")
	if p.status != http.StatusOK || p.url.Path != "/account/security" {
		t.Fatalf("security page: %d at %s", p.status, p.url)
	}
	got := b.post(e.issuer+"/account/security/browsers/forget", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}})
	switch {
	case got.status == http.StatusOK && got.url.Query().Get("done") == "browsers":
		return true
	case got.status == http.StatusForbidden && strings.Contains(got.body, "sign in again"):
		return false
	}
	t.Fatalf("change to the factors: %d at %s, want it done or 403 asking to sign in again:\n%.600s", got.status, got.url, got.body)
	return false
}

// liveSession is the person's only live session.
func (e *testEnv) liveSession(t *testing.T, userID string) *storage.Session {
	t.Helper()
	live, err := e.srv.Sessions.List(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 {
		t.Fatalf("%d live sessions, want 1", len(live))
	}
	return live[0]
}

// TestRecentSignIn: a change to how the account signs in needs a sign-in within
// sessions.ReauthWindow, made in this browser. Before, a session whose sign-in time lay
// ahead of the clock (signed in on an instance whose clock ran ahead, or before the clock
// was set back) counted as recent for as long as it lay ahead plus the window; and a
// password change, which ends every session and starts this browser a new one, gave that
// session the time of the change as its sign-in: a stale (or stolen) session that knew the
// password had the five minutes a sign-in with every factor gets, and relying parties an
// auth_time of a sign-in that never happened.
func TestRecentSignIn(t *testing.T) {
	t.Parallel()
	const email = "ada@example.com"
	t.Run("fresh, then stale", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.clock.Advance(0)
		e.addUser(email)
		b := e.signedInBrowser(email)
		if !e.mayChangeFactors(t, b) {
			t.Fatal("a sign-in of a moment ago was not recent")
		}
		e.clock.Advance(sessions.ReauthWindow + time.Second)
		if e.mayChangeFactors(t, b) {
			t.Fatal("a sign-in older than the window was recent")
		}
		// Another browser's fresh sign-in does not make this browser's session recent.
		other := e.signedInBrowser(email)
		if e.mayChangeFactors(t, b) {
			t.Error("another browser's sign-in made this one's recent")
		}
		if !e.mayChangeFactors(t, other) {
			t.Error("the other browser's fresh sign-in was not recent")
		}
	})
	t.Run("clock moved back", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.clock.Advance(time.Hour)
		e.addUser(email)
		b := e.signedInBrowser(email)
		e.clock.Advance(-time.Hour)
		if e.mayChangeFactors(t, b) {
			t.Error("a sign-in an hour ahead of the clock counted as recent")
		}
		e.clock.Advance(time.Hour + sessions.ReauthWindow/2)
		if !e.mayChangeFactors(t, b) {
			t.Error("once the clock caught up, the sign-in was not recent")
		}
	})
	t.Run("password change", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.clock.Advance(0)
		u := e.addUser(email)
		b := e.signedInBrowser(email)
		signedIn := e.liveSession(t, u.ID)
		e.clock.Advance(sessions.ReauthWindow + time.Minute)
		form := url.Values{"csrf_token": {csrfOf(t, b.get(e.issuer+"/account"))}, "current": {testPassword},
			"password": {"a new long passphrase"}, "confirm": {"a new long passphrase"}}
		if p := b.post(e.issuer+"/account/password", form); p.status != http.StatusOK || p.url.Query().Get("done") != "password" {
			t.Fatalf("password change: %d at %s", p.status, p.url)
		}
		now := e.liveSession(t, u.ID)
		if now.ID == signedIn.ID {
			t.Fatal("the password change kept the session")
		}
		if !now.AuthTime.Equal(signedIn.AuthTime) || !now.ExpiresAt.Equal(signedIn.ExpiresAt) {
			t.Errorf("after the change the session's sign-in is at %v (ends %v), want the sign-in's %v (ends %v)",
				now.AuthTime, now.ExpiresAt, signedIn.AuthTime, signedIn.ExpiresAt)
		}
		if e.mayChangeFactors(t, b) {
			t.Error("a password change from a stale session made it recent")
		}
	})
}
