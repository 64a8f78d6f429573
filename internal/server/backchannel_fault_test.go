package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// bcFault is a fault-injecting server with a relying party's back-channel logout endpoint, a
// client registered with it, and ada signed in to that client in browser b (session sid).
type bcFault struct {
	e       *testEnv
	fs      *faultstore.Store
	rp      *logoutRP
	c       *testClient
	u       *storage.User
	b       *browser
	sid     string
	idToken string
}

// newBCFault starts it on SQLite, or with env (MYACCOUNT_* variables) on another database.
func newBCFault(t *testing.T, env map[string]string) *bcFault {
	t.Helper()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{env: env, wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	f := &bcFault{e: e, fs: fs, rp: newLogoutRP(t, e), u: e.addUser("ada@example.com"), b: e.browser()}
	f.c = e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = f.rp.uri(c.ID) })
	tok := e.tokens(context.Background(), f.b, f.c, f.u.Email)
	f.idToken, _ = tok.Extra("id_token").(string)
	f.sid = idTokenSID(t, e, f.c, f.idToken)
	return f
}

// failQueue makes the next queueing of an outbox item fail once its row is written: inside
// the sign-out's transaction, the row is rolled back with everything else.
func (f *bcFault) failQueue() *faultstore.Rule {
	return f.fs.Add(faultstore.Rule{Method: "EnqueueOutbox", Times: 1, Err: faultstore.ErrInjected, AfterCall: true})
}

// revokedAt is the session's revocation time: nil while it is live (or merely expired), and
// for a deleted session (a sweep, a deleted account) the time of the check.
func (f *bcFault) revokedAt(t *testing.T) *time.Time {
	t.Helper()
	s, err := f.e.store.GetSession(context.Background(), f.sid)
	if errors.Is(err, storage.ErrNotFound) {
		now := time.Now()
		return &now
	} else if err != nil {
		t.Fatal(err)
	}
	return s.RevokedAt
}

// untold checks that no logout token arrives (the worker would deliver a committed one at
// once: the queueing nudges it).
func (rp *logoutRP) untold(t *testing.T) {
	t.Helper()
	select {
	case id := <-rp.arrived:
		t.Errorf("a logout token reached %s although the sign-out failed", id)
	case <-time.After(500 * time.Millisecond):
	}
}

// statusOf is the answer a service call's error gets: 200, 503 for a failure of ours
// (fault.ErrUnavailable, as the handlers map it), else 500.
func statusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case fault.Is(err):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// TestBackchannelQueueFailureFailsSignOut: on every path that ends a session (the sign-out
// page, end_session, support's sign-out everywhere and lock, a password change, a reset,
// "This wasn't me", "sign out other sessions", a new sign-in replacing the browser's
// session, a deleted account), the logout token is queued in the transaction that ends the
// session. When the queueing fails the sign-out fails with it: the answer is ours (503), the
// session is still live and no token is sent (the row written before the failure rolled
// back with the revocation); the retry signs out and the relying party gets exactly one
// token for the session. Before, the token was queued after the commit: the failure was only
// logged, the person was told they were signed out, and the relying party never heard.
func TestBackchannelQueueFailureFailsSignOut(t *testing.T) {
	t.Parallel()
	queueFailureCases(t, nil)
}

// TestBackchannelQueueFailureFailsSignOutPostgres is TestBackchannelQueueFailureFailsSignOut
// on PostgreSQL, where a failed statement aborts the transaction it runs in.
func TestBackchannelQueueFailureFailsSignOutPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	queueFailureCases(t, func(t *testing.T) map[string]string {
		return postgresVars(t)
	})
}

// queueFailureCases runs the cases of TestBackchannelQueueFailureFailsSignOut, each on a
// server of its own started with env(t) (nil: SQLite).
func queueFailureCases(t *testing.T, env func(t *testing.T) map[string]string) {
	type step func(t *testing.T, f *bcFault) int
	cases := []struct {
		name string
		// prepare runs before the fault is set and returns the action, run twice.
		prepare func(t *testing.T, f *bcFault) step
	}{
		{"logout page", func(t *testing.T, f *bcFault) step {
			form := f.b.get(f.e.issuer + "/logout").formValues()
			return func(t *testing.T, f *bcFault) int {
				f.b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
				defer func() { f.b.c.CheckRedirect = nil }()
				p := f.b.post(f.e.issuer+"/logout", form)
				if p.status < 400 {
					return http.StatusOK
				}
				return p.status
			}
		}},
		{"end_session", func(t *testing.T, f *bcFault) step {
			u := f.e.issuer + "/end_session?" + url.Values{"id_token_hint": {f.idToken}}.Encode()
			return func(t *testing.T, f *bcFault) int {
				f.b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
				defer func() { f.b.c.CheckRedirect = nil }()
				p := f.b.get(u)
				if p.status < 400 {
					return http.StatusOK
				}
				return p.status
			}
		}},
		{"admin sign out everywhere", func(t *testing.T, f *bcFault) step {
			_, tok := f.e.automation(t, admin.ScopeWrite, admin.ScopeRead)
			return func(t *testing.T, f *bcFault) int {
				a := f.e.call(t, "POST", "/users/"+f.u.ID+"/sign-out-everywhere", tok, map[string]string{"reason": "stolen laptop"})
				if a.status == http.StatusNoContent {
					return http.StatusOK
				}
				return a.status
			}
		}},
		{"admin lock", func(t *testing.T, f *bcFault) step {
			_, tok := f.e.automation(t, admin.ScopeWrite, admin.ScopeRead)
			return func(t *testing.T, f *bcFault) int {
				return f.e.call(t, "POST", "/users/"+f.u.ID+"/lock", tok, map[string]string{"reason": "fraud"}).status
			}
		}},
		{"password change", func(t *testing.T, f *bcFault) step {
			form := url.Values{"csrf_token": {f.b.get(f.e.issuer + "/account").formValues().Get("csrf_token")}, "current": {testPassword},
				"password": {"a new long passphrase"}, "confirm": {"a new long passphrase"}}
			return func(t *testing.T, f *bcFault) int { return f.b.post(f.e.issuer+"/account/password", form).status }
		}},
		{"password reset", func(t *testing.T, f *bcFault) step {
			token := secret.RandomToken(32)
			now := time.Now().UTC()
			if err := f.e.store.CreateOneTimeToken(context.Background(), &storage.OneTimeToken{Hash: secret.HashToken(token),
				Purpose: storage.TokenReset, UserID: f.u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T, f *bcFault) int {
				_, err := f.e.srv.Accounts.Reset(context.Background(), token, "a whole new passphrase here", account.Meta{})
				return statusOf(err)
			}
		}},
		{"this wasn't me", func(t *testing.T, f *bcFault) step {
			token := secret.RandomToken(32)
			now := time.Now().UTC()
			if err := f.e.store.CreateOneTimeToken(context.Background(), &storage.OneTimeToken{Hash: secret.HashToken(token),
				Purpose: storage.TokenNotMe, UserID: f.u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T, f *bcFault) int {
				_, err := f.e.srv.Accounts.NotMe(context.Background(), token, account.Meta{})
				return statusOf(err)
			}
		}},
		{"sign out others", func(t *testing.T, f *bcFault) step {
			f.e.signedInBrowser(f.u.Email) // the browser asking, which stays signed in
			live, err := f.e.srv.Sessions.List(context.Background(), f.u.ID)
			if err != nil {
				t.Fatal(err)
			}
			keep := ""
			for _, s := range live {
				if s.ID != f.sid {
					keep = s.ID
				}
			}
			return func(t *testing.T, f *bcFault) int {
				return statusOf(f.e.srv.Sessions.SignOutOthers(context.Background(), f.u.ID, keep, nil))
			}
		}},
		{"new sign-in in the browser", func(t *testing.T, f *bcFault) step {
			// prompt=login: the browser signs in again, replacing its session.
			p := f.b.get(f.e.oauth2Config(f.c).AuthCodeURL("st", oauth2.SetAuthURLParam("prompt", "login")))
			if !strings.Contains(p.body, `action="/login"`) {
				t.Fatalf("prompt=login: no sign-in page (%d at %s)", p.status, p.url)
			}
			form := p.formValues()
			form.Set("email", f.u.Email)
			form.Set("password", testPassword)
			return func(t *testing.T, f *bcFault) int {
				f.b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
				defer func() { f.b.c.CheckRedirect = nil }()
				p := f.b.post(f.e.issuer+"/login", form)
				if p.status < 400 {
					return http.StatusOK
				}
				return p.status
			}
		}},
		{"account deleted", func(t *testing.T, f *bcFault) step {
			return func(t *testing.T, f *bcFault) int {
				return statusOf(f.e.srv.Accounts.DeleteAccount(context.Background(), f.u, testPassword, account.Meta{}))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var vars map[string]string
			if env != nil {
				vars = env(t)
			}
			f := newBCFault(t, vars)
			act := tc.prepare(t, f)
			rule := f.failQueue()
			status := act(t, f)
			f.fs.Clear()
			if f.fs.Applied(rule) != 1 || status != http.StatusServiceUnavailable {
				t.Fatalf("with the logout token's queueing failing: %d (queueing failed %d times), want 503", status, f.fs.Applied(rule))
			}
			if at := f.revokedAt(t); at != nil {
				t.Fatalf("the failed sign-out ended the session (%v) with its relying party untold", at)
			}
			f.rp.untold(t)
			if status := act(t, f); status != http.StatusOK {
				t.Fatalf("retry: %d", status)
			}
			if f.revokedAt(t) == nil {
				t.Fatal("the retry left the session live")
			}
			got := f.rp.await(1)
			if len(got) != 1 || len(got[f.c.ID]) != 1 || got[f.c.ID][0].SID != f.sid || got[f.c.ID][0].Subject != f.u.ID {
				t.Fatalf("after the retry: %v, want one token with sid %q", got, f.sid)
			}
		})
	}
}

// TestBackchannelExpiryQueueFailure: housekeeping revokes an expired session in the
// transaction that queues its logout token; when the queueing fails the session stays
// unrevoked (so the sweep keeps it) and no token goes out; the next run tells the relying
// party once and the sweep then deletes it. Before, the token was queued before a separate
// revocation: a failed queueing was only noticed by the run's log, and a queued token whose
// revocation failed was sent again at the next run.
func TestBackchannelExpiryQueueFailure(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); expiryQueueFailure(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("needs PostgreSQL")
		}
		t.Parallel()
		expiryQueueFailure(t, postgresVars(t))
	})
}

func expiryQueueFailure(t *testing.T, env map[string]string) {
	f := newBCFault(t, env)
	ctx := context.Background()
	f.e.clock.Advance(f.e.cfg.Session.TTL.Std() + time.Minute)
	rule := f.failQueue()
	f.e.srv.Housekeeping(ctx)
	f.fs.Clear()
	if f.fs.Applied(rule) != 1 {
		t.Fatalf("queueing failed %d times, want 1", f.fs.Applied(rule))
	}
	if at := f.revokedAt(t); at != nil {
		t.Fatalf("the expired session was revoked (%v) with its relying party untold", at)
	}
	f.rp.untold(t)

	// A failing revocation queues no token either (before, the token went out and the next
	// run, finding the session still unrevoked, sent another).
	rule = f.fs.Add(faultstore.Rule{Method: "RevokeSession", Times: 1, Err: faultstore.ErrInjected, AfterCall: true})
	f.e.srv.Housekeeping(ctx)
	f.fs.Clear()
	if f.fs.Applied(rule) != 1 || f.revokedAt(t) != nil {
		t.Fatalf("revocation failing (applied %d): session revoked at %v, want live", f.fs.Applied(rule), f.revokedAt(t))
	}
	f.rp.untold(t)

	f.e.srv.Housekeeping(ctx)
	got := f.rp.await(1)
	if len(got[f.c.ID]) != 1 || got[f.c.ID][0].SID != f.sid || got[f.c.ID][0].Subject != f.u.ID {
		t.Fatalf("after the next run: %v, want one token with sid %q", got, f.sid)
	}
	f.e.srv.Housekeeping(ctx)
	f.rp.untold(t)
	if _, err := f.e.store.GetSession(ctx, f.sid); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("expired session told but not deleted by the sweep: %v", err)
	}
}
