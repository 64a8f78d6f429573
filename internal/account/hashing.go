package account

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/myaccount/myaccount/internal/fault"
)

// Every password hash and verification of the package runs through these, under the
// service's Limiter (Service.Hashes). A refusal (secret.ErrBusy: every slot and the queue
// taken) or a wait cut short by the request's end is our failure, not the person's: it is
// marked and recorded with fault, so the HTTP layer answers 503 "try again" instead of
// "wrong password".

// hashSlot takes a hashing slot; the caller must call release. a (nil: none) is the password
// attempt the slot is for: it is counted once the slot's place in the queue is taken (a
// refusal for want of one counts nothing) and before the wait for the slot, whose hashing
// would otherwise wait on the count's SQL (see count).
func (s *Service) hashSlot(ctx context.Context, a *attempt) (release func(), err error) {
	var counted error
	var before func() error
	if a != nil {
		before = func() error { counted = s.count(ctx, a); return counted }
	}
	release, err = s.Hashes.AcquireAfter(ctx, before)
	if counted != nil {
		return nil, counted // a failure of the store: recorded by its guard
	}
	if err != nil {
		return nil, fault.Record(ctx, fmt.Errorf("password hashing: %w", err))
	}
	return release, nil
}

// Passwords are hashed in Unicode NFC, so that "é" typed as one code point or as "e" plus a
// combining accent (macOS and some keyboards send the latter) is the same password.

// hashPassword returns the argon2id hash of password, in NFC.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx, nil)
	if err != nil {
		return "", err
	}
	defer release()
	start := time.Now()
	hash, err := s.Hasher.Hash(norm.NFC.String(password))
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	s.cost.observe(time.Since(start))
	return hash, nil
}

// passwordForms are the strings a password is checked as, in order: its NFC form, then, when
// that differs, the string as typed (hashes made before passwords were normalised are of the
// raw string). A wrong password is checked in every form, so a check without an account
// (dummyVerify) does as many hashes as one with.
func passwordForms(password string) []string {
	nfc := norm.NFC.String(password)
	if nfc == password {
		return []string{password}
	}
	return []string{nfc, password}
}

// verifyPassword reports whether password matches hash, trying each of passwordForms; legacy
// reports a match of the raw form only, and the caller rehashes then. A malformed hash is no
// match. a, when not nil, is counted first (see count); the error is the limiter's or count's.
//
// A stored hash whose cost is not the configured one (made before the cost was raised, or
// malformed) is checked in less time than an unknown address's dummyVerify at the configured
// cost, which would tell an attacker the address has an account. Its check is therefore
// padded, after the hashing slot is released, to what a check at the configured cost takes.
// A dearer one (made before the cost was lowered) cannot be hidden so; a successful sign-in
// replaces it (NeedsRehash), and only checks at the configured cost feed the average.
func (s *Service) verifyPassword(ctx context.Context, hash, password string, a *attempt) (ok, legacy bool, err error) {
	release, err := s.hashSlot(ctx, a)
	if err != nil {
		return false, false, err
	}
	defer func() {
		if release != nil {
			release() // only on a panic or a refused attempt: released below otherwise
		}
	}()
	if err := s.refused(a, password); err != nil {
		return false, false, err
	}
	current := !s.Hasher.NeedsRehash(hash)
	forms := passwordForms(password)
	start := time.Now()
	n := 0
	for i, form := range forms {
		n++
		if match, err := s.Hasher.Verify(hash, form); match && err == nil {
			ok, legacy = true, i > 0
			break
		}
	}
	took := time.Since(start)
	if current {
		s.cost.observe(took / time.Duration(n))
	} else if s.cost.typical() == 0 {
		// Nothing to pad to yet in this process: do the configured work itself, once a form,
		// which also measures it for the checks that follow.
		took += s.dummyHashes(password, n)
	}
	release()
	release = nil
	if !current {
		s.pad(ctx, time.Duration(n)*s.cost.typical()-took)
	}
	return ok, legacy, nil
}

// dummyVerify does the work of a verification when there is no hash to check (as many
// hashes as a wrong password's check), so that the answer takes as long as for a wrong
// password. a, when not nil, is counted first, as verifyPassword counts it.
func (s *Service) dummyVerify(ctx context.Context, password string, a *attempt) error {
	release, err := s.hashSlot(ctx, a)
	if err != nil {
		return err
	}
	defer release()
	if err := s.refused(a, password); err != nil {
		return err
	}
	s.dummyWork(password)
	return nil
}

// dummyWork is the hashing of dummyVerify, in a slot the caller holds.
func (s *Service) dummyWork(password string) {
	s.dummyHashes(password, len(passwordForms(password)))
}

// dummyHashes does n hashes at the configured cost, each measured for the padding average,
// and returns the time they took.
func (s *Service) dummyHashes(password string, n int) time.Duration {
	var total time.Duration
	for range n {
		start := time.Now()
		s.Hasher.DummyVerify(password)
		d := time.Since(start)
		s.cost.observe(d)
		total += d
	}
	return total
}

// pad waits d (when positive), or until ctx ends.
func (s *Service) pad(ctx context.Context, d time.Duration) {
	if s.padHook != nil {
		s.padHook(d)
		return
	}
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// hashCost is a moving average of how long one hash at the configured cost takes here.
type hashCost struct{ ns atomic.Int64 }

// observe adds one hash's duration, weighted 1/8.
func (c *hashCost) observe(d time.Duration) {
	for {
		old := c.ns.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/8
		}
		if next <= 0 {
			next = 1
		}
		if c.ns.CompareAndSwap(old, next) {
			return
		}
	}
}

// typical is the average, or 0 before any hash.
func (c *hashCost) typical() time.Duration { return time.Duration(c.ns.Load()) }
