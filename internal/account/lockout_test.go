package account_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Parallel wrong passwords for one address: only the threshold's worth are checked, exactly
// one of them locks, and the lock level rises once, for an account and an unknown address
// alike. Counting after the check let all of a burst through and raised the level once per
// request beyond the threshold (a day's lock from one burst).
func TestParallelWrongPasswordsLockOnce(t *testing.T) {
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		t.Run(email, func(t *testing.T) {
			s, db := newService(t)
			s.Hasher = secret.Hasher{Params: secret.Params{Memory: 1024, Iterations: 1, Parallelism: 1}}
			s.Hashes = secret.NewLimiter(8, 100)
			if _, err := s.Create(t.Context(), "ada@example.com", "correct horse battery", storage.UserActive); err != nil {
				t.Fatal(err)
			}
			threshold := account.DefaultLockout().Threshold
			const n = 30
			var mu sync.Mutex
			results := map[string]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					// Distinct IPs: the per-IP limit is not what stops them.
					_, err := s.SignIn(t.Context(), email, "a wrong password", account.Meta{IP: "192.0.2." + string(rune('a'+i))})
					var locked *account.LockedError
					kind := "other: " + errorString(err)
					switch {
					case errors.Is(err, account.ErrInvalidCredentials):
						kind = "invalid"
					case errors.As(err, &locked):
						kind = "locked"
					case errors.Is(err, account.ErrTooManyAttempts):
						kind = "throttled"
					}
					mu.Lock()
					results[kind]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			// At most threshold-1 are told "wrong password": the attempt at the threshold locks,
			// and one counted below it may still find that lock before its check (count looks
			// again), so fewer is right too. Counted after the check, 13 of 30 got through.
			if results["invalid"] > threshold-1 || results["locked"] == 0 || results["invalid"]+results["locked"]+results["throttled"] != n {
				t.Errorf("results %v: want at most %d invalid, the rest locked or throttled", results, threshold-1)
			}
			if level, _, err := db.GetCounter(t.Context(), "pwlocklevel:"+email); err != nil || level != 1 {
				t.Errorf("lock level %d, %v after one burst, want 1", level, err)
			}
			// Locked now: even the right password is refused.
			if _, err := s.SignIn(t.Context(), email, "correct horse battery", account.Meta{IP: "198.51.100.1"}); err == nil {
				t.Error("signed in through the lock")
			}
		})
	}
}

func errorString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// A right password is no failure: it clears the count, so the failures before it do not
// carry over, and an account that is not active yet counts its right password as none.
func TestRightPasswordClearsTheCount(t *testing.T) {
	s, db := newService(t)
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 1024, Iterations: 1, Parallelism: 1}}
	if _, err := s.Create(t.Context(), "ada@example.com", "correct horse battery", storage.UserActive); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), "pen@example.com", "correct horse battery", storage.UserPending); err != nil {
		t.Fatal(err)
	}
	threshold := account.DefaultLockout().Threshold
	for _, email := range []string{"ada@example.com", "pen@example.com"} {
		for range threshold - 1 {
			if _, err := s.SignIn(t.Context(), email, "a wrong password", account.Meta{}); !errors.Is(err, account.ErrInvalidCredentials) {
				t.Fatal(err)
			}
		}
		if _, err := s.SignIn(t.Context(), email, "correct horse battery", account.Meta{}); err != nil && !errors.Is(err, account.ErrNotActive) {
			t.Fatalf("%s: %v", email, err)
		}
		if n, err := db.CounterValue(t.Context(), "pwfail:"+email, time.Hour, time.Now()); err != nil || n != 0 {
			t.Errorf("%s: %d failures, %v after the right password, want 0", email, n, err)
		}
	}
}

// queueMailer is a Mailer and TaskQueue, as the server's outbox is, that keeps what is queued.
type queueMailer struct {
	mu    sync.Mutex
	tasks []queued
}

type queued struct {
	kind    string
	payload []byte
}

func (q *queueMailer) Send(context.Context, mail.Message) error { return nil }

func (q *queueMailer) Enqueue(_ context.Context, kind string, payload []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, queued{kind, payload})
	return nil
}

// With an outbox, a wrong password by address writes nothing to its account in the request:
// it queues the same one task for an account and an unknown address, and the worker's half
// writes the audit event (and, at the threshold, the lock's) on the account, at the time of
// the failure.
func TestFailureBookkeepingIsQueued(t *testing.T) {
	s, db := newService(t)
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 1024, Iterations: 1, Parallelism: 1}}
	q := &queueMailer{}
	s.Mail = q
	u, err := s.Create(t.Context(), "ada@example.com", "correct horse battery", storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	threshold := account.DefaultLockout().Threshold
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		for range threshold {
			_, _ = s.SignIn(t.Context(), email, "a wrong password", account.Meta{IP: "192.0.2.1"})
		}
	}
	events, err := db.ListAuditEvents(t.Context(), u.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 0 {
		t.Fatalf("%d audit events written in the requests, want none", len(events))
	}
	if len(q.tasks) != 2*threshold {
		t.Fatalf("%d tasks queued, want %d (one a failure, account or not)", len(q.tasks), 2*threshold)
	}
	for _, p := range q.tasks {
		if p.kind != account.FailureTask {
			t.Fatalf("queued %q", p.kind)
		}
		if err := s.RunFailure(t.Context(), p.payload); err != nil {
			t.Fatal(err)
		}
	}
	events, err = db.ListAuditEvents(t.Context(), u.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range events {
		kinds[e.Type]++
		if time.Since(e.CreatedAt) > time.Minute {
			t.Errorf("event %s at %v", e.Type, e.CreatedAt)
		}
	}
	if kinds["login_failed"] != threshold || kinds["locked_out"] != 1 || len(events) != threshold+1 {
		t.Errorf("events after the worker: %v, want %d login_failed and one locked_out", kinds, threshold)
	}
	got, err := db.GetUser(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LockedUntil == nil || got.LockoutCount != 1 {
		t.Errorf("account's lock record: %v, %d", got.LockedUntil, got.LockoutCount)
	}
}
