package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// racers is how many goroutines contend in each test.
const racers = 16

var concurrencyTests = []test{
	{"one code, many exchanges: exactly one wins", func(t *testing.T, s storage.Store) {
		ar, _ := completedWithCode(t, s, "ar1")
		got := make([]*storage.AuthRequest, racers)
		errs := race(racers, func(i int) error {
			var err error
			got[i], err = s.ConsumeAuthCode(ctx(t), "code-ar1", base())
			return err
		})
		ok, reused := countErrs(t, errs, storage.ErrAlreadyUsed)
		if ok != 1 || reused != racers-1 {
			t.Fatalf("%d successes and %d reuses, want 1 and %d", ok, reused, racers-1)
		}
		for i, r := range got {
			if r == nil || r.ID != ar.ID {
				t.Fatalf("goroutine %d got request %+v, want %q (winners and reusers both get it)", i, r, ar.ID)
			}
		}
	}},
	{"one refresh token, many rotations: one wins and the family is revoked", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		now := base().Add(time.Hour)
		nexts := make([]*storage.RefreshToken, racers)
		for i := range nexts {
			nexts[i] = nextToken(fmt.Sprintf("next%d", i), w)
		}
		errs := race(racers, func(i int) error {
			return s.RotateRefreshToken(ctx(t), w.refresh.Hash, nexts[i], now, noGrace)
		})
		ok, reused := countErrs(t, errs, storage.ErrAlreadyUsed)
		if ok != 1 || reused != racers-1 {
			t.Fatalf("%d successes and %d reuses, want 1 and %d", ok, reused, racers-1)
		}
		var winner *storage.RefreshToken
		for i, err := range errs {
			if err == nil {
				winner = nexts[i]
			}
		}
		// The losers presented a used token: that is reuse, so the family is dead,
		// including the token the winner just received.
		g, rts, ats := revokedAt(t, s, w.grant.ID, []string{w.refresh.Hash, winner.Hash}, []string{w.access.IDHash})
		allAt(t, "family", now, append(append(rts, ats...), g)...)
		kept := 0
		for _, n := range nexts {
			if _, err := s.GetRefreshToken(ctx(t), n.Hash); err == nil {
				kept++
			}
		}
		equal(t, "successor tokens stored", kept, 1)
	}},
	{"one used token, many retries within the grace: all answered, one live successor", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		grace := storage.RefreshGrace{Window: 30 * time.Second, ClientID: w.client.ID}
		t1 := base().Add(time.Hour)
		lost := nextToken("lost", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, lost, t1, grace))
		nexts := make([]*storage.RefreshToken, racers)
		hashes := []string{w.refresh.Hash, lost.Hash}
		for i := range nexts {
			nexts[i] = nextToken(fmt.Sprintf("retry%d", i), w)
			hashes = append(hashes, nexts[i].Hash)
		}
		errs := race(racers, func(i int) error {
			return s.RotateRefreshToken(ctx(t), w.refresh.Hash, nexts[i], t1.Add(time.Second), grace)
		})
		ok, _ := countErrs(t, errs, storage.ErrAlreadyUsed)
		equal(t, "retries answered", ok, racers)
		// The retries serialised on the old token: each retired the successors before it.
		equal(t, "live successors", len(liveTokens(t, s, hashes...)), 1)
		g, _, _ := revokedAt(t, s, w.grant.ID, nil, nil)
		noneRevoked(t, "grant", g)
	}},
	{"retries of the old token racing a rotation of its successor: never two live chains", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		grace := storage.RefreshGrace{Window: 30 * time.Second, ClientID: w.client.ID}
		t1 := base().Add(time.Hour)
		succ := nextToken("succ", w)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, succ, t1, grace))
		nexts := make([]*storage.RefreshToken, racers)
		hashes := []string{w.refresh.Hash, succ.Hash}
		for i := range nexts {
			nexts[i] = nextToken(fmt.Sprintf("n%d", i), w)
			hashes = append(hashes, nexts[i].Hash)
		}
		errs := race(racers, func(i int) error {
			if i == 0 { // the successor's holder refreshes
				return s.RotateRefreshToken(ctx(t), succ.Hash, nexts[i], t1.Add(time.Second), grace)
			}
			return s.RotateRefreshToken(ctx(t), w.refresh.Hash, nexts[i], t1.Add(time.Second), grace)
		})
		for i, err := range errs {
			if err != nil && !errors.Is(err, storage.ErrAlreadyUsed) && !errors.Is(err, storage.ErrRevoked) {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		live := liveTokens(t, s, hashes...)
		g, _, _ := revokedAt(t, s, w.grant.ID, nil, nil)
		// Either the successor's use came first (then every retry is reuse and the family is
		// dead) or the retries retired it before its holder came (then presenting it is
		// reuse): both old token and successor were presented, so the family must die.
		if g == nil {
			t.Fatalf("family alive with live tokens %v after both the old token and its used successor were presented", live)
		}
		equal(t, "live tokens in a revoked family", len(live), 0)
	}},
	{"same email, many sign-ups: one account", func(t *testing.T, s storage.Store) {
		errs := race(racers, func(i int) error {
			u := newUser(fmt.Sprintf("u%d", i))
			u.EmailNormalized = "same@example.com"
			return s.CreateUser(ctx(t), u)
		})
		ok, conflicts := countErrs(t, errs, storage.ErrConflict)
		if ok != 1 || conflicts != racers-1 {
			t.Fatalf("%d successes and %d conflicts, want 1 and %d", ok, conflicts, racers-1)
		}
		users, err := s.ListUsers(ctx(t))
		must(t, err)
		equal(t, "users stored", len(users), 1)
	}},
	{"one auth request, many completions: exactly one wins", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateAuthRequest(ctx(t), newAuthRequest("ar1", "c1")))
		errs := race(racers, func(i int) error {
			return s.CompleteAuthRequest(ctx(t), "ar1", "u1", fmt.Sprintf("sess%d", i), base(), nil, "")
		})
		ok, lost := countErrs(t, errs, storage.ErrNotFound)
		if ok != 1 || lost != racers-1 {
			t.Fatalf("%d successes and %d failures, want 1 and %d", ok, lost, racers-1)
		}
		ar, err := s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		for i, err := range errs {
			if err == nil && ar.SessionID != fmt.Sprintf("sess%d", i) {
				t.Fatalf("stored session %q, but goroutine %d won", ar.SessionID, i)
			}
		}
	}},
	{"updates of one row do not lose writes", func(t *testing.T, s storage.Store) {
		u := newUser("u1")
		u.Name = ""
		must(t, s.CreateUser(ctx(t), u))
		errs := race(racers, func(i int) error {
			_, err := s.UpdateUser(ctx(t), "u1", func(u *storage.User) error {
				u.Name += "x"
				time.Sleep(2 * time.Millisecond) // widen the read-modify-write window
				return nil
			})
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("goroutine %d: %v", i, err)
			}
		}
		got, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		equal(t, "name length (one x per update)", len(got.Name), racers)
	}},
}
