package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
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

// TestRecentSignInNeedsThePersonsFactors: a recent sign-in counts for a change to how the
// account signs in only when it proved the factors the person had when signing in. Before, the
// time alone counted: the password typed at a remembered browser ("remember this browser"
// skips the authenticator app), or the password and an SMS code (mfa.sms: enabled offers SMS
// next to the app; a swapped SIM receives it), let whoever knew the password remove the
// owner's authenticator app and add their own within five minutes. The sign-in asked for to
// make the change (reauth) no longer skips the app at a remembered browser, nor offers SMS.
// A factor added after the sign-in is not asked for: the person who just set up their first
// app can still save codes or add a key.
func TestRecentSignInNeedsThePersonsFactors(t *testing.T) {
	t.Parallel()
	const email = "ada@example.com"
	// withApp signs in with the password, adds an authenticator app, and signs out.
	withApp := func(t *testing.T, e *testEnv, b *browser) []byte {
		t.Helper()
		e.passwordSignIn(b, email)
		if !e.mayChangeFactors(t, b) {
			t.Fatal("a fresh password sign-in without factors was not recent")
		}
		key, _ := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")
		// Added after this sign-in: the session still makes changes.
		if !e.mayChangeFactors(t, b) {
			t.Fatal("the sign-in that added the first app could make no further change")
		}
		e.signOut(b)
		return key
	}
	// reauth signs in again for the change, as the "sign in again" link does, and returns
	// the page it ends on.
	reauth := func(t *testing.T, e *testEnv, b *browser, key []byte) {
		t.Helper()
		p := b.submitLogin(b.get(e.issuer+"/login?reauth=1&return=/account/security"), email, testPassword)
		mustAt(t, p, "/mfa", "Two-step verification")
		if strings.Contains(p.body, `value="sms_code"`) {
			t.Error("SMS offered for the sign-in a change to the factors needs")
		}
		e.nextTOTPStep()
		mustAt(t, b.mfaPost(p, "totp", e.totpNow(key), false), "/account/security")
		if !e.mayChangeFactors(t, b) {
			t.Error("the sign-in again with the app did not let the change through")
		}
	}
	t.Run("remembered browser", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.clock.Advance(0)
		e.addUser(email)
		b := e.browser()
		key := withApp(t, e, b)
		e.nextTOTPStep()
		mustAt(t, b.mfaPost(e.passwordSignIn(b, email), "totp", e.totpNow(key), true), "/account", "Your account")
		e.signOut(b)
		mustAt(t, e.passwordSignIn(b, email), "/account", "Your account") // remembered: the password alone
		if e.mayChangeFactors(t, b) {
			t.Error("a remembered browser's password-only sign-in let the factors change")
		}
		reauth(t, e, b, key)
	})
	t.Run("SMS", func(t *testing.T) {
		t.Parallel()
		e, g := phoneEnv(t, false, map[string]string{"MYACCOUNT_MFA_SMS": "enabled"}, envOptions{})
		e.clock.Advance(0)
		e.germanUser(email)
		b := e.browser()
		e.passwordSignIn(b, email)
		key, _ := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")
		e.confirmPhone(b, g, "DE", "0151 23456789")
		e.signOut(b)
		e.clock.Advance(time.Second)
		p := e.passwordSignIn(b, email)
		mustAt(t, p, "/mfa", `value="sms_code"`)
		b.mfaPost(p, "sms_resend", "", false)
		_, code := smstest.Code(t, g.Wait(t))
		mustAt(t, b.mfaPost(p, "sms_code", code, false), "/account", "Your account")
		if e.mayChangeFactors(t, b) {
			t.Error("a sign-in with the password and an SMS code let the authenticator app be changed")
		}
		reauth(t, e, b, key)
	})
}

// TestRecentSignInReadFailureIsOurs: when the person's factors cannot be read to tell whether
// the sign-in proved them, a change to them is answered as our failure (503), neither made
// nor refused with "sign in again"; the retry makes it.
func TestRecentSignInReadFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	form := url.Values{"csrf_token": {csrfOf(t, b.get(e.issuer+"/account/security"))}}
	rule := fs.Add(faultstore.Rule{Method: "ListMFACredentials", Times: 1, Err: faultstore.ErrInjected})
	p := b.post(e.issuer+"/account/security/browsers/forget", form)
	if fs.Applied(rule) != 1 || p.status != http.StatusServiceUnavailable || strings.Contains(p.body, "sign in again") {
		t.Errorf("with the factors unreadable (failed %d times): %d at %s, want 503", fs.Applied(rule), p.status, p.url)
	}
	if p := b.post(e.issuer+"/account/security/browsers/forget", form); p.url.Query().Get("done") != "browsers" {
		t.Errorf("the retry: %d at %s, want the change made", p.status, p.url)
	}
}

// TestRecentSignInWithPasskeysOff: where passkeys and security keys are off (an issuer
// without a domain name to be their relying party), a key the person set up elsewhere cannot
// be asked for, so a sign-in cannot have proved it. The person's password sign-in may change
// their factors (add an authenticator app); before, the key counted as a factor the sign-in
// had to prove, and every "sign in again", unable to ask for it, was refused once more.
func TestRecentSignInWithPasskeysOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // the issuer is an IP address: no WebAuthn
	e.clock.Advance(0)
	u := e.addUser("ada@example.com")
	if err := e.store.CreateMFACredential(context.Background(), &storage.MFACredential{ID: "key1", UserID: u.ID,
		Kind: storage.MFAWebAuthn, Name: "Key", CredentialID: []byte("cred-1"), Secret: []byte(`{}`),
		CreatedAt: e.clock.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	mustAt(t, e.passwordSignIn(b, "ada@example.com"), "/account", "Your account")
	if !e.mayChangeFactors(t, b) {
		t.Fatal("with passkeys off, a key the sign-in could not ask for blocked every change to the factors")
	}
	e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")
}
