package server_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// expiringSession signs email in to a client with a back-channel logout URI and returns the
// logout receiver, the client and the session (read back, with its expiry).
func expiringSession(t *testing.T, e *testEnv, email string) (*logoutRP, *testClient, *storage.Session) {
	t.Helper()
	ctx := context.Background()
	e.addUser(email)
	rp := newLogoutRP(t, e)
	a := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.uri(c.ID) })
	tok := e.tokens(ctx, e.browser(), a, email)
	sess, err := e.store.GetSession(ctx, idTokenSID(t, e, a, tok.Extra("id_token").(string)))
	if err != nil {
		t.Fatal(err)
	}
	return rp, a, sess
}

// toldOnce waits for the one logout token of sid's expiry.
func toldOnce(t *testing.T, rp *logoutRP, a *testClient, sid string) {
	t.Helper()
	got := rp.await(1)
	if len(got[a.ID]) != 1 || got[a.ID][0].SID != sid {
		t.Fatalf("logout tokens %v, want one for %s with sid %q", got, a.ID, sid)
	}
}

// An expired session whose logout token could not be queued is kept (unrevoked) for the next
// housekeeping run, which tells its client and only then deletes it; one never told is
// deleted a week after its expiry all the same, so the table stays bounded.
func TestJobsExpiredSessionIsDeletedOnlyOnceTold(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	rp, a, sess := expiringSession(t, e, "ada@example.com")
	e.clock.Advance(e.cfg.Session.TTL.Std() + time.Minute)

	fs.Add(faultstore.Rule{Method: "EnqueueOutbox", Err: faultstore.ErrInjected, Times: 1})
	e.srv.Housekeeping(ctx)
	got, err := e.store.GetSession(ctx, sess.ID)
	if err != nil || got.RevokedAt != nil {
		t.Fatalf("after a run that could not tell its client: %+v, %v; want it kept unrevoked", got, err)
	}

	e.srv.Housekeeping(ctx)
	toldOnce(t, rp, a, sess.ID)
	if _, err := e.store.GetSession(ctx, sess.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("told and revoked session after the sweep: %v, want ErrNotFound", err)
	}

	// A second session whose client can never be told goes a week after its expiry.
	_, _, stuck := expiringSession(t, e, "bob@example.com")
	e.clock.Advance(e.cfg.Session.TTL.Std() + time.Minute)
	fs.Fail("EnqueueOutbox")
	e.srv.Housekeeping(ctx)
	if _, err := e.store.GetSession(ctx, stuck.ID); err != nil {
		t.Fatalf("untold session after a day: %v, want it kept", err)
	}
	e.clock.Advance(sqlstore.UntoldSessionRetention)
	e.srv.Housekeeping(ctx)
	if _, err := e.store.GetSession(ctx, stuck.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("session untold for a week after its expiry: %v, want it deleted", err)
	}
}

// tickingStore moves the clock on once EndExpired has read the expired sessions, so that a
// session expires between that read and the sweep.
type tickingStore struct {
	storage.Store
	clk  *clock
	tick atomic.Pointer[time.Duration]
}

func (s *tickingStore) ListExpiredSessions(ctx context.Context, now time.Time, limit int) ([]*storage.Session, error) {
	out, err := s.Store.ListExpiredSessions(ctx, now, limit)
	if d := s.tick.Swap(nil); d != nil {
		s.clk.Advance(*d)
	}
	return out, err
}

// A session that expires after housekeeping told the expired ones but before its sweep is
// not deleted untold: the next run tells its client, then deletes it.
func TestJobsSessionExpiringDuringHousekeepingIsToldFirst(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	var ts *tickingStore
	e := newEnvWith(t, envOptions{clock: clk, wrapStore: func(s storage.Store) storage.Store {
		ts = &tickingStore{Store: s, clk: clk}
		return ts
	}})
	ctx := context.Background()
	rp, a, sess := expiringSession(t, e, "ada@example.com")
	clk.Advance(0) // freeze
	clk.Advance(sess.ExpiresAt.Add(-time.Second).Sub(clk.Now()))
	// In use until now: not idle, so only its expiry ends it.
	if err := e.store.TouchSession(ctx, sess.ID, clk.Now()); err != nil {
		t.Fatal(err)
	}

	d := 2 * time.Second
	ts.tick.Store(&d)
	e.srv.Housekeeping(ctx)
	if _, err := e.store.GetSession(ctx, sess.ID); err != nil {
		t.Fatalf("session that expired during housekeeping: %v, want it kept until told", err)
	}
	e.srv.Housekeeping(ctx)
	toldOnce(t, rp, a, sess.ID)
	if _, err := e.store.GetSession(ctx, sess.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("told session after the sweep: %v, want ErrNotFound", err)
	}
}

// TestJobsIdleSessionIsTold: a session nobody has used for session.idle_ttl is over for its
// browser, and housekeeping tells its clients and revokes it then; before, only its absolute
// end of life found it, up to 23 days later with the defaults (30 days, 7 idle).
func TestJobsIdleSessionIsTold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rp, a, sess := expiringSession(t, e, "ada@example.com")
	e.clock.Advance(e.cfg.Session.IdleTTL.Std() - time.Minute)
	e.srv.Housekeeping(ctx)
	if got, err := e.store.GetSession(ctx, sess.ID); err != nil || got.RevokedAt != nil {
		t.Fatalf("a session a minute short of idle after housekeeping: %+v, %v; want it live", got, err)
	}
	e.clock.Advance(2 * time.Minute)
	if e.clock.Now().After(sess.ExpiresAt) {
		t.Fatal("the test's idle limit is not shorter than the session's lifetime")
	}
	e.srv.Housekeeping(ctx)
	toldOnce(t, rp, a, sess.ID)
	if got, err := e.store.GetSession(ctx, sess.ID); err == nil && got.RevokedAt == nil {
		t.Fatalf("the idle session after housekeeping: %+v; want it revoked (or swept)", got)
	}
}
