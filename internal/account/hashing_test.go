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
		return s.ChangePassword(ctx, u, "correct horse battery", "a brand new password", account.Meta{}, nil)
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

// After the cost is raised, an account whose hash is still of the old, cheaper cost must not
// answer a wrong password sooner than an unknown address does (the dummy check runs at the
// configured cost): the check of the cheaper hash is padded to what a check at the configured
// cost takes here. A check of a current hash is not padded.
func TestCheaperStoredHashIsPaddedToTheConfiguredCost(t *testing.T) {
	s, _ := newService(t)
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}}
	if _, err := s.Create(t.Context(), "old@example.com", "correct horse battery", storage.UserActive); err != nil {
		t.Fatal(err)
	}
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 4096, Iterations: 2, Parallelism: 1}} // the raised cost
	if _, err := s.Create(t.Context(), "new@example.com", "correct horse battery", storage.UserActive); err != nil {
		t.Fatal(err)
	}
	var pads []time.Duration
	account.SetPadHook(s, func(d time.Duration) { pads = append(pads, d) })

	// An unknown address, then the current hash: no padding, and the cost is measured.
	if _, err := s.Authenticate(t.Context(), "nobody@example.com", "a wrong password"); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("unknown address: %v", err)
	}
	if _, err := s.Authenticate(t.Context(), "new@example.com", "a wrong password"); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("current hash: %v", err)
	}
	if len(pads) != 0 {
		t.Fatalf("checks at the configured cost were padded: %v", pads)
	}
	typical := account.TypicalHashCost(s)
	if typical <= 0 {
		t.Fatal("no hash cost measured")
	}

	// The old hash: a wrong password (whose check took far less than one at 4 MiB, t=2) is
	// padded by nearly all of the typical cost; the right one signs in, upgrades the hash,
	// and the next check is not padded.
	if _, err := s.Authenticate(t.Context(), "old@example.com", "a wrong password"); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("old hash, wrong password: %v", err)
	}
	if len(pads) != 1 || pads[0] <= 0 || pads[0] > typical {
		t.Fatalf("old hash: padded %v, want one padding in (0, %v]", pads, typical)
	}
	if _, err := s.Authenticate(t.Context(), "old@example.com", "correct horse battery"); err != nil {
		t.Fatalf("old hash, right password: %v", err)
	}
	if len(pads) != 2 {
		t.Fatalf("old hash, right password: paddings %v, want a second one", pads)
	}
	pads = nil
	if _, err := s.Authenticate(t.Context(), "old@example.com", "a wrong password"); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("upgraded hash: %v", err)
	}
	if len(pads) != 0 {
		t.Fatalf("the upgraded hash is still padded: %v", pads)
	}
}

// A wrong password is checked in as many forms as a check without an account does hashes:
// one for a password already in NFC, two (NFC, then as typed) otherwise.
func TestPasswordForms(t *testing.T) {
	for pw, want := range map[string]int{"plain ascii password": 1, "caf\u00e9 au lait pass": 1, "cafe\u0301 au lait pass": 2} {
		if got := account.PasswordForms(pw); len(got) != want || got[len(got)-1] != pw {
			t.Errorf("%q: forms %q, want %d ending with the password as typed", pw, got, want)
		}
	}
}

// The first check of a cheaper stored hash in a process has no measured cost to pad to: it
// does the configured work instead (and measures it), so it is not answered sooner either.
func TestFirstCheaperCheckDoesTheConfiguredWork(t *testing.T) {
	s, _ := newService(t)
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}}
	if _, err := s.Create(t.Context(), "old@example.com", "correct horse battery", storage.UserActive); err != nil {
		t.Fatal(err)
	}
	s2 := &account.Service{Store: s.Store, Hasher: secret.Hasher{Params: secret.Params{Memory: 4096, Iterations: 2, Parallelism: 1}}}
	var pads []time.Duration
	account.SetPadHook(s2, func(d time.Duration) { pads = append(pads, d) })
	if account.TypicalHashCost(s2) != 0 {
		t.Fatal("a new service has a measured cost")
	}
	if _, err := s2.Authenticate(t.Context(), "old@example.com", "a wrong password"); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("old hash: %v", err)
	}
	if account.TypicalHashCost(s2) == 0 {
		t.Error("the configured work was not done (nothing measured)")
	}
	for _, d := range pads {
		if d > 0 {
			t.Errorf("padded %v on top of the configured work", d)
		}
	}
}

// A stored hash dearer than the configured cost (made before the cost was lowered) is
// replaced by a hash at the configured cost at the next sign-in, and its checks do not feed
// the average that cheaper hashes are padded to: a dearer check must not make every padded
// answer slower than an unknown address's.
func TestDearerStoredHashIsReplacedAndNotAveraged(t *testing.T) {
	s, db := newService(t)
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 16384, Iterations: 3, Parallelism: 1}}
	u, err := s.Create(t.Context(), "old@example.com", "correct horse battery", storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}} // the lowered cost
	account.SetPadHook(s, func(time.Duration) {})
	for range 3 {
		if _, err := s.Authenticate(t.Context(), "nobody@example.com", "a wrong password"); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	before := account.TypicalHashCost(s)
	for range 3 {
		if _, err := s.Authenticate(t.Context(), "old@example.com", "a wrong password"); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	if after := account.TypicalHashCost(s); after > 2*before {
		t.Errorf("checks of the dearer hash moved the average from %v to %v", before, after)
	}
	if _, err := s.Authenticate(t.Context(), "old@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetUser(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash == u.PasswordHash || s.Hasher.NeedsRehash(got.PasswordHash) {
		t.Errorf("the dearer hash was not replaced at the configured cost: %s", got.PasswordHash)
	}
}
