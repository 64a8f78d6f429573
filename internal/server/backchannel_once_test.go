package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestBackchannelTellsOnceWhenEndedMeanwhile: a session that another sign-out ended (and
// told its relying party of) between being read and being revoked is not told again. A new
// sign-in reads the browser's session (Replaces) before its transaction, and housekeeping
// reads a batch of expired sessions before it revokes each in a transaction of its own;
// revoking an already revoked session succeeds (it keeps the first time), and both queued a
// second logout token for the same session. sessions.End reads the session in its
// transaction and skips one already ended (TestEndTellsOnce); these now do the same.
func TestBackchannelTellsOnceWhenEndedMeanwhile(t *testing.T) {
	t.Parallel()
	t.Run("new sign-in", func(t *testing.T) {
		t.Parallel()
		f := newBCFault(t, nil)
		ctx := context.Background()
		// The browser's session as the sign-in page read it (ui's startSession: Resolve)...
		old, err := f.e.store.GetSession(ctx, f.sid)
		if err != nil {
			t.Fatal(err)
		}
		// ...then signed out meanwhile (another tab, end_session), which tells the client.
		if err := f.e.srv.Sessions.End(ctx, f.sid); err != nil {
			t.Fatal(err)
		}
		if got := f.rp.await(1); len(got[f.c.ID]) != 1 || got[f.c.ID][0].SID != f.sid {
			t.Fatalf("sign-out: %v, want one token with sid %q", got, f.sid)
		}
		if _, _, err := f.e.srv.Sessions.Start(ctx, sessions.Start{UserID: f.u.ID, Replaces: old}); err != nil {
			t.Fatal(err)
		}
		f.rp.untoldAgain(t)
	})
	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		f := newBCFault(t, nil)
		ctx := context.Background()
		f.e.clock.Advance(f.e.cfg.Session.TTL.Std() + time.Minute)
		// Housekeeping has read the expired session and is about to revoke it...
		hold := f.fs.Add(faultstore.Rule{Method: "InTx", Times: 1, Delay: time.Second})
		done := make(chan struct{})
		go func() { defer close(done); f.e.srv.Housekeeping(ctx) }()
		for deadline := time.Now().Add(5 * time.Second); f.fs.Applied(hold) == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("housekeeping never opened a transaction")
			}
		}
		// ...when the browser's end_session ends it (sessions.End), telling the client.
		if err := f.e.srv.Sessions.End(ctx, f.sid); err != nil {
			t.Fatal(err)
		}
		<-done
		got := f.rp.await(1)
		if len(got[f.c.ID]) != 1 || got[f.c.ID][0].SID != f.sid {
			t.Fatalf("after the sign-out and housekeeping: %v, want one token with sid %q", got, f.sid)
		}
	})
}

// untoldAgain checks that no further logout token arrives.
func (rp *logoutRP) untoldAgain(t *testing.T) {
	t.Helper()
	select {
	case id := <-rp.arrived:
		t.Errorf("a second logout token for the same session reached %s", id)
	case <-time.After(time.Second):
	}
}

// TestBackchannelConcurrentSignOutsTellOncePostgres: two sign-outs of one session at once
// (the browser's sign-out page and an RP's end_session; a double submit) queue one logout
// token between them. On PostgreSQL, under READ COMMITTED, both read the session live before
// either revoked it; the second revocation waited for the first's row lock, then succeeded
// (it keeps the first time), and each queued a token.
func TestBackchannelConcurrentSignOutsTellOncePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	f := newBCFault(t, postgresVars(t))
	ctx := context.Background()
	// Each has read the session when the other revokes it.
	f.fs.Add(faultstore.Rule{Method: "RevokeSession", Times: 2, Delay: 300 * time.Millisecond})
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- f.e.srv.Sessions.End(ctx, f.sid) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := f.rp.await(1)
	if len(got[f.c.ID]) != 1 || got[f.c.ID][0].SID != f.sid {
		t.Fatalf("two sign-outs at once: %v, want one token with sid %q", got, f.sid)
	}
}
