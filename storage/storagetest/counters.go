package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var counterTests = []test{
	{"hits count within a window and restart after it", func(t *testing.T, s storage.Store) {
		const w = time.Minute
		start := base()
		for i := 1; i <= 3; i++ {
			n, err := s.HitCounter(ctx(t), "login:1.2.3.4", w, start.Add(time.Duration(i)*time.Second))
			must(t, err)
			equal(t, fmt.Sprintf("count after hit %d", i), n, i)
		}
		// The window is the first hit's (start+1s) plus w: still open just before its end.
		end := start.Add(time.Second + w)
		n, err := s.CounterValue(ctx(t), "login:1.2.3.4", w, end.Add(-time.Millisecond))
		must(t, err)
		equal(t, "value before the window ends", n, 3)
		n, err = s.CounterValue(ctx(t), "login:1.2.3.4", w, end)
		must(t, err)
		equal(t, "value once the window is over", n, 0)
		n, err = s.HitCounter(ctx(t), "login:1.2.3.4", w, end)
		must(t, err)
		equal(t, "first hit of a new window", n, 1)
		count, ws, err := s.GetCounter(ctx(t), "login:1.2.3.4")
		must(t, err)
		equal(t, "GetCounter", []any{count, ws}, []any{1, ms(end)})
		n, err = s.HitCounter(ctx(t), "login:1.2.3.4", w, end.Add(w-time.Millisecond))
		must(t, err)
		equal(t, "second hit of the new window", n, 2)
	}},
	{"keys are independent; unknown is zero; reset forgets", func(t *testing.T, s storage.Store) {
		n, err := s.CounterValue(ctx(t), "nope", time.Minute, base())
		must(t, err)
		equal(t, "unknown value", n, 0)
		_, _, err = s.GetCounter(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		for range 2 {
			_, err = s.HitCounter(ctx(t), "a", time.Minute, base())
			must(t, err)
		}
		_, err = s.HitCounter(ctx(t), "b", time.Minute, base())
		must(t, err)
		must(t, s.ResetCounter(ctx(t), "a"))
		must(t, s.ResetCounter(ctx(t), "a")) // resetting nothing is fine
		n, err = s.CounterValue(ctx(t), "a", time.Minute, base())
		must(t, err)
		equal(t, "a after reset", n, 0)
		n, err = s.CounterValue(ctx(t), "b", time.Minute, base())
		must(t, err)
		equal(t, "b", n, 1)
	}},
	{"a hit is taken back from its own window only", func(t *testing.T, s storage.Store) {
		const w = time.Minute
		at := base()
		for range 2 {
			_, err := s.HitCounter(ctx(t), "mfa:u1", w, at)
			must(t, err)
		}
		must(t, s.UnhitCounter(ctx(t), "mfa:u1", w, at))
		n, err := s.CounterValue(ctx(t), "mfa:u1", w, at)
		must(t, err)
		equal(t, "after one hit taken back", n, 1)
		must(t, s.UnhitCounter(ctx(t), "mfa:u1", w, at.Add(time.Second)))
		must(t, s.UnhitCounter(ctx(t), "mfa:u1", w, at.Add(time.Second))) // never below zero
		n, err = s.CounterValue(ctx(t), "mfa:u1", w, at)
		must(t, err)
		equal(t, "after both taken back, and one more", n, 0)
		// A hit of a window that restarted since is not taken from the new one.
		later := at.Add(2 * w)
		_, err = s.HitCounter(ctx(t), "mfa:u1", w, later)
		must(t, err)
		must(t, s.UnhitCounter(ctx(t), "mfa:u1", w, at))
		must(t, s.UnhitCounter(ctx(t), "mfa:u1", w, later.Add(-time.Millisecond))) // before the new window
		n, err = s.CounterValue(ctx(t), "mfa:u1", w, later)
		must(t, err)
		equal(t, "the new window's hit", n, 1)
		must(t, s.UnhitCounter(ctx(t), "nope", w, at)) // an unknown key: nothing to do
		_, _, err = s.GetCounter(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"GetCounter returns an expired window too", func(t *testing.T, s storage.Store) {
		_, err := s.HitCounter(ctx(t), "lock:u1", time.Minute, base())
		must(t, err)
		count, ws, err := s.GetCounter(ctx(t), "lock:u1")
		must(t, err)
		equal(t, "GetCounter", []any{count, ws}, []any{1, ms(base())})
		n, err := s.CounterValue(ctx(t), "lock:u1", time.Minute, base().Add(time.Hour))
		must(t, err)
		equal(t, "CounterValue an hour later", n, 0)
	}},
}

var leaseTests = []test{
	{"free, held, renewed, expired, released", func(t *testing.T, s storage.Store) {
		const ttl = time.Minute
		now := base()
		acquire := func(holder string, at time.Time) bool {
			t.Helper()
			ok, err := s.AcquireLease(ctx(t), "gc", holder, ttl, at)
			must(t, err)
			return ok
		}
		equal(t, "a takes the free lease", acquire("a", now), true)
		equal(t, "b is refused while a holds it", acquire("b", now.Add(time.Second)), false)
		equal(t, "a renews", acquire("a", now.Add(50*time.Second)), true)
		// Renewal moved expiry to now+50s+ttl: b is still refused after the first ttl.
		equal(t, "b after the original ttl", acquire("b", now.Add(ttl)), false)
		equal(t, "b once a's renewal expired", acquire("b", now.Add(50*time.Second+ttl)), true)
		equal(t, "a lost it", acquire("a", now.Add(51*time.Second+ttl)), false)

		must(t, s.ReleaseLease(ctx(t), "gc", "a")) // not a's: no effect
		equal(t, "a after releasing someone else's lease", acquire("a", now.Add(52*time.Second+ttl)), false)
		must(t, s.ReleaseLease(ctx(t), "gc", "b"))
		equal(t, "a after b released", acquire("a", now.Add(53*time.Second+ttl)), true)
		equal(t, "other lease names are independent", func() bool {
			ok, err := s.AcquireLease(ctx(t), "keys", "b", ttl, now)
			must(t, err)
			return ok
		}(), true)
	}},
}
