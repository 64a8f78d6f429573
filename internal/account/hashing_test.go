package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// TestBusyHashingIsOurFault: with every hashing slot and the queue taken, sign-in (for a
// known and an unknown email alike), registration, reset and password checks fail at once
// with an error marked fault.ErrUnavailable and recorded in the request context, never with
// ErrInvalidCredentials; a reset link is not spent.
func TestBusyHashingIsOurFault(t *testing.T) {
	s, db := newService(t)
	u, err := s.Create(t.Context(), "ada@example.com", "correct horse battery", storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	s.Hashes = secret.NewLimiter(1, 0)
	release, err := s.Hashes.Acquire(t.Context()) // the one slot, and no queue
	if err != nil {
		t.Fatal(err)
	}

	check := func(name string, call func(ctx context.Context) error) {
		t.Helper()
		ctx, rec := fault.NewContext(t.Context())
		err := call(ctx)
		if !fault.Is(err) || !errors.Is(err, secret.ErrBusy) || errors.Is(err, account.ErrInvalidCredentials) {
			t.Errorf("%s: %v, want a busy error marked unavailable", name, err)
		}
		if rec.Err() == nil {
			t.Errorf("%s: nothing recorded in the request context", name)
		}
	}
	check("sign in", func(ctx context.Context) error {
		_, err := s.SignIn(ctx, "ada@example.com", "correct horse battery", account.Meta{IP: "192.0.2.1"})
		return err
	})
	check("sign in, unknown email", func(ctx context.Context) error {
		_, err := s.SignIn(ctx, "nobody@example.com", "whatever whatever", account.Meta{IP: "192.0.2.1"})
		return err
	})
	check("register", func(ctx context.Context) error {
		return s.Register(ctx, "bob@example.com", "another long password", account.Meta{})
	})
	check("change password", func(ctx context.Context) error {
		return s.ChangePassword(ctx, u, "correct horse battery", "a brand new password", account.Meta{})
	})
	now := time.Now()
	tok := secret.RandomToken(32)
	if err := db.CreateOneTimeToken(t.Context(), &storage.OneTimeToken{Hash: secret.HashToken(tok), Purpose: storage.TokenReset,
		UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	check("reset", func(ctx context.Context) error {
		_, err := s.Reset(ctx, tok, "a brand new password", account.Meta{})
		return err
	})
	// Nothing was counted as a failed attempt.
	if n, err := db.CounterValue(t.Context(), "pwfail:ada@example.com", time.Hour, now); err != nil || n != 0 {
		t.Errorf("failure counter = %d, %v after busy sign-ins, want 0", n, err)
	}
	release()
	// The reset link was not spent by the busy attempt.
	if _, err := s.Reset(t.Context(), tok, "a brand new password", account.Meta{}); err != nil {
		t.Errorf("reset after the busy attempt: %v", err)
	}

	// A waiting call gives up when its context ends.
	s.Hashes = secret.NewLimiter(1, 1)
	hold, err := s.Hashes.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Authenticate(ctx, "ada@example.com", "correct horse battery"); !fault.Is(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("authenticate waiting past its deadline: %v, want DeadlineExceeded marked unavailable", err)
	}
	hold()
	if _, err := s.Authenticate(t.Context(), "ada@example.com", "a brand new password"); err != nil {
		t.Errorf("authenticate with a free slot: %v", err)
	}
}
