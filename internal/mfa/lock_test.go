package mfa

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/backendtest"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// TestMain stops the PostgreSQL server a test started (pgtest starts one only when asked).
func TestMain(m *testing.M) { pgtest.Main(m) }

// onBothStores runs fn on a fixture over SQLite and on one over PostgreSQL, where
// transactions of several instances run at once under READ COMMITTED.
func onBothStores(t *testing.T, fn func(t *testing.T, f *fixture)) {
	backendtest.Each(t, func(t *testing.T, db *sqlstore.DB) { fn(t, newFixtureOn(t, db)) })
}

// raceRounds is how many times each race is run: one round that interleaves badly is enough
// to break the invariant for good.
const raceRounds = 40

// raceStall holds each racing transaction open between its read of the set and its write
// of codes.
const raceStall = 5 * time.Millisecond

// together runs a and b at once, each in its own goroutine, released by one barrier.
func together(a, b func() error) (errA, errB error) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { <-start; errA = a() })
	wg.Go(func() { <-start; errB = b() })
	close(start)
	wg.Wait()
	return errA, errB
}

// giveFactor stores a strong factor of kind for userID directly, as enrolment leaves it.
func (f *fixture) giveFactor(t *testing.T, userID, id, kind string) *storage.MFACredential {
	t.Helper()
	c := &storage.MFACredential{ID: id, UserID: userID, Kind: kind, Name: id, Secret: []byte("s-" + id), CreatedAt: f.now}
	if kind == storage.MFAWebAuthn {
		c.CredentialID = []byte("cred-" + id)
	}
	if err := f.db.CreateMFACredential(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// giveCodes gives userID a fresh set of recovery codes directly.
func (f *fixture) giveCodes(t *testing.T, userID string) {
	t.Helper()
	_, hashes := NewRecoveryCodes()
	if err := f.db.ReplaceRecoveryCodes(context.Background(), userID, hashes); err != nil {
		t.Fatal(err)
	}
}

// clearFactors removes every factor and code of userID, to start a round afresh.
func (f *fixture) clearFactors(t *testing.T, userID string) {
	t.Helper()
	ctx := context.Background()
	cs, err := f.db.ListMFACredentials(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if err := f.db.DeleteMFACredential(ctx, userID, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.db.ReplaceRecoveryCodes(ctx, userID, nil); err != nil {
		t.Fatal(err)
	}
}

// codesFollowFactors asserts the invariant the factor transactions keep between them:
// recovery codes exist exactly while a strong factor does (no codes standing in for
// nothing, no factor stored without the codes that are its way back in). It returns what
// the person has, for the round's own checks.
func (f *fixture) codesFollowFactors(t *testing.T, round int, userID string) Enrolled {
	t.Helper()
	e, err := f.svc.enrolledIn(context.Background(), f.db, userID) // not stalled
	if err != nil {
		t.Fatal(err)
	}
	if e.Strong() != (e.RecoveryCodes > 0) {
		t.Fatalf("round %d: %d TOTP, %d WebAuthn and %d recovery codes: codes must exist exactly while a strong factor does", round, e.TOTP, e.WebAuthn, e.RecoveryCodes)
	}
	return e
}

// TestFactorSetChangesAreSerial races the transactions that decide from a person's set of
// second factors (RegenerateRecoveryCodes, RemoveFactor, the first factor's enrolment) on
// one person. Each locks the person first (LockFactors), so on PostgreSQL, where two
// transactions run at once and neither sees the other's uncommitted writes, the second
// decides from what the first committed. Without the lock, a regeneration racing the
// removal of the last factor left codes with no factor behind them, two removals of the
// person's two factors left codes with none, and an enrolment racing a removal left the new
// factor without codes. SQLite serialises write transactions anyway: the same test holds
// there.
func TestFactorSetChangesAreSerial(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		// Every one of these transactions counts the person's recovery codes after reading
		// or writing their factors and before writing codes: stalled there, each holds what
		// it read or wrote uncommitted long enough for the other to decide without it,
		// which is what goes wrong unless they are serial. Without the stall the races show
		// too, but only in some rounds (measured: the first bad round anywhere from 0 to 38).
		fs := faultstore.New(f.db)
		fs.Add(faultstore.Rule{Method: "CountRecoveryCodes", Delay: raceStall})
		f.svc.Store = fs
		rc := f.recent(f.alice)

		t.Run("regenerate codes while the last factor is removed", func(t *testing.T) {
			for round := range raceRounds {
				f.clearFactors(t, f.alice)
				c := f.giveFactor(t, f.alice, fmt.Sprint("last", round), storage.MFATOTP)
				f.giveCodes(t, f.alice)
				errRemove, errCodes := together(
					func() error { return f.svc.RemoveFactor(ctx, rc, c.ID, nil) },
					func() error { _, err := f.svc.RegenerateRecoveryCodes(ctx, rc, nil); return err },
				)
				if errRemove != nil {
					t.Fatalf("round %d: remove: %v", round, errRemove)
				}
				if errCodes != nil && !errors.Is(errCodes, ErrNoStrongFactor) {
					t.Fatalf("round %d: regenerate: %v, want success (before the removal) or ErrNoStrongFactor (after it)", round, errCodes)
				}
				if e := f.codesFollowFactors(t, round, f.alice); e.Strong() {
					t.Fatalf("round %d: a factor is left after its removal: %+v", round, e)
				}
			}
		})

		t.Run("both factors removed at once", func(t *testing.T) {
			for round := range raceRounds {
				f.clearFactors(t, f.alice)
				a := f.giveFactor(t, f.alice, fmt.Sprint("app", round), storage.MFATOTP)
				b := f.giveFactor(t, f.alice, fmt.Sprint("key", round), storage.MFAWebAuthn)
				f.giveCodes(t, f.alice)
				errA, errB := together(
					func() error { return f.svc.RemoveFactor(ctx, rc, a.ID, nil) },
					func() error { return f.svc.RemoveFactor(ctx, rc, b.ID, nil) },
				)
				if errA != nil || errB != nil {
					t.Fatalf("round %d: removals: %v, %v", round, errA, errB)
				}
				if e := f.codesFollowFactors(t, round, f.alice); e.Strong() {
					t.Fatalf("round %d: a factor is left after both were removed: %+v", round, e)
				}
			}
		})

		t.Run("a first factor enrolled while the other is removed", func(t *testing.T) {
			for round := range raceRounds {
				f.clearFactors(t, f.alice)
				old := f.giveFactor(t, f.alice, fmt.Sprint("old", round), storage.MFATOTP)
				f.giveCodes(t, f.alice)
				// Half the rounds enrol an app, half a key: both make the codes of a first
				// factor (withCodes).
				enrol := func() error {
					e, pending, err := f.svc.BeginTOTP(f.alice, "alice@example.com")
					if err != nil {
						return err
					}
					_, _, err = f.svc.FinishTOTP(ctx, rc, pending, TOTPCode(e.Secret, f.now), "phone", nil)
					return err
				}
				if round%2 == 1 {
					enrol = func() error {
						key := &storage.MFACredential{ID: fmt.Sprint("new", round), UserID: f.alice, Kind: storage.MFAWebAuthn,
							Name: "key", CredentialID: fmt.Appendf(nil, "new-%d", round), CreatedAt: f.now}
						_, err := f.svc.AddWebAuthn(ctx, rc, key, nil, nil)
						return err
					}
				}
				errRemove, errEnrol := together(
					func() error { return f.svc.RemoveFactor(ctx, rc, old.ID, nil) },
					enrol,
				)
				if errRemove != nil || errEnrol != nil {
					t.Fatalf("round %d: remove: %v; enrol: %v", round, errRemove, errEnrol)
				}
				if e := f.codesFollowFactors(t, round, f.alice); !e.Strong() {
					t.Fatalf("round %d: the new factor is missing: %+v", round, e)
				}
			}
		})
	})
}
