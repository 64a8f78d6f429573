package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// counterRacers is how many goroutines hit one counter at once.
const counterRacers = 50

// wantOneWinner asserts exactly one nil error and racers-1 errors matching target.
func wantOneWinner(t *testing.T, errs []error, target error) {
	t.Helper()
	ok, lost := countErrs(t, errs, target)
	if ok != 1 || lost != len(errs)-1 {
		t.Fatalf("%d successes and %d %v, want 1 and %d", ok, lost, target, len(errs)-1)
	}
}

var singleUseConcurrencyTests = []test{
	{"one link, many clicks: exactly one consumes it", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateOneTimeToken(ctx(t), newOneTimeToken("h1", storage.TokenReset, "u1")))
		errs := race(racers, func(int) error {
			_, err := s.ConsumeOneTimeToken(ctx(t), "h1", storage.TokenReset, base())
			return err
		})
		wantOneWinner(t, errs, storage.ErrAlreadyUsed)
	}},
	{"one captcha, many answers: exactly one is checked", func(t *testing.T, s storage.Store) {
		must(t, s.CreateCaptcha(ctx(t), &storage.Captcha{ID: "c1", AnswerHash: "a", CreatedAt: base(), ExpiresAt: base().Add(time.Minute)}))
		errs := race(racers, func(int) error {
			_, err := s.ConsumeCaptcha(ctx(t), "c1", base())
			return err
		})
		wantOneWinner(t, errs, storage.ErrAlreadyUsed)
	}},
	{"one recovery code, many sign-ins: exactly one uses it", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.ReplaceRecoveryCodes(ctx(t), "u1", []string{"a", "b"}))
		errs := race(racers, func(int) error { return s.UseRecoveryCode(ctx(t), "u1", "a", base()) })
		wantOneWinner(t, errs, storage.ErrNotFound)
		n, err := s.CountRecoveryCodes(ctx(t), "u1")
		must(t, err)
		equal(t, "unused codes left", n, 1)
	}},
	{"one approved device code, many polls: tokens issued once", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateDeviceCode(ctx(t), newDeviceCode("dh1", "AAAA", "c1")))
		must(t, s.DecideDeviceCode(ctx(t), "AAAA", storage.DeviceApproved, "u1", base(), nil, base()))
		errs := race(racers, func(i int) error {
			_, _, err := s.ConsumeDeviceCode(ctx(t), "dh1", fmt.Sprint("g", i), base(), 0)
			return err
		})
		wantOneWinner(t, errs, storage.ErrAlreadyUsed)
	}},
	{"one user code, many answers: decided once", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateDeviceCode(ctx(t), newDeviceCode("dh1", "AAAA", "c1")))
		errs := race(racers, func(i int) error {
			state := storage.DeviceApproved
			if i%2 == 1 {
				state = storage.DeviceDenied
			}
			return s.DecideDeviceCode(ctx(t), "AAAA", state, "u1", base(), nil, base())
		})
		wantOneWinner(t, errs, storage.ErrNotFound)
	}},
	{"one TOTP code, many sign-ins: accepted once", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateMFACredential(ctx(t), newMFA("t1", "u1", storage.MFATOTP)))
		accepted := make([]bool, racers)
		errs := race(racers, func(i int) error {
			var err error
			accepted[i], err = s.AcceptTOTPStep(ctx(t), "t1", 101, base())
			return err
		})
		n := 0
		for i, err := range errs {
			must(t, err)
			if accepted[i] {
				n++
			}
		}
		equal(t, "acceptances", n, 1)
	}},
	{"parallel counter hits lose nothing", func(t *testing.T, s storage.Store) {
		counts := make([]int, counterRacers)
		errs := race(counterRacers, func(i int) error {
			var err error
			counts[i], err = s.HitCounter(ctx(t), "login:u1", time.Hour, base())
			return err
		})
		seen := map[int]bool{}
		for i, err := range errs {
			must(t, err)
			seen[counts[i]] = true
		}
		// Each hit saw a different count: no two read the same value and wrote it back.
		equal(t, "distinct counts returned", len(seen), counterRacers)
		n, err := s.CounterValue(ctx(t), "login:u1", time.Hour, base())
		must(t, err)
		equal(t, "final count", n, counterRacers)
	}},
	{"instances racing for a lease: one gets it", func(t *testing.T, s storage.Store) {
		for round := range 5 { // a free lease, then an expired one
			name := fmt.Sprintf("job%d", round%2)
			now := base().Add(time.Duration(round) * time.Hour)
			got := make([]bool, racers)
			errs := race(racers, func(i int) error {
				var err error
				got[i], err = s.AcquireLease(ctx(t), name, fmt.Sprintf("instance-%d", i), time.Minute, now)
				return err
			})
			n := 0
			for i, err := range errs {
				must(t, err)
				if got[i] {
					n++
				}
			}
			equal(t, fmt.Sprintf("round %d holders", round), n, 1)
		}
	}},
	{"pending-user cleanup racing an activation keeps the activated user", func(t *testing.T, s storage.Store) {
		for i := range racers {
			u := newUser(fmt.Sprintf("u%d", i))
			u.Status, u.CreatedAt, u.ActivatedAt = storage.UserPending, base().Add(-48*time.Hour), nil
			must(t, s.CreateUser(ctx(t), u))
		}
		activated := make([]bool, racers)
		errs := race(racers+1, func(i int) error {
			if i == racers {
				_, err := s.DeletePendingUsers(ctx(t), base())
				return err
			}
			_, err := s.UpdateUser(ctx(t), fmt.Sprintf("u%d", i), func(u *storage.User) error {
				u.Status = storage.UserActive
				return nil
			})
			activated[i] = err == nil
			return err
		})
		for i, err := range errs {
			if i < racers {
				wantErrOrNil(t, err, storage.ErrNotFound) // deleted before it could be activated
			} else {
				must(t, err)
			}
		}
		for i, ok := range activated {
			u, err := s.GetUser(ctx(t), fmt.Sprintf("u%d", i))
			if ok {
				must(t, err)
				equal(t, "status of an activated user", u.Status, storage.UserActive)
			} else {
				wantErr(t, err, storage.ErrNotFound)
			}
		}
	}},
}

// wantErrOrNil fails the test unless err is nil or matches target.
func wantErrOrNil(t *testing.T, err, target error) {
	t.Helper()
	if err != nil {
		wantErr(t, err, target)
	}
}
