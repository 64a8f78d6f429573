// Package faultstore wraps a real store (SQLite or PostgreSQL) so that tests can make chosen
// calls fail or stall: the fault tests drive the real server through database failures
// without a broken disk. It is a test helper in a normal package so every package's tests can
// share it; production code never builds one.
package faultstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/wrap"
)

// ErrInjected is the default injected failure. Its text imitates what a real driver says, so
// a test that finds it in a response has found a leak.
var ErrInjected = errors.New("faultstore: injected failure: database or disk is full (host db.internal user myaccount)")

// Rule makes calls of one method misbehave.
type Rule struct {
	// Method is the storage.Store method name ("" matches every method).
	Method string
	// Skip lets this many matching calls through before the rule applies.
	Skip int
	// Times is how many calls the rule applies to (0: every call from then on).
	Times int
	// Delay stalls the call (bounded by its context) before it runs or fails.
	Delay time.Duration
	// Err fails the call; nil with a Delay only stalls it. AfterCall runs the real call
	// first and then returns Err: the work is done (committed, when outside a transaction)
	// but the caller sees a failure, like a response lost after the write.
	Err       error
	AfterCall bool
	seen      int
	applied   int
}

// Store is a fault-injecting storage.Store.
type Store struct {
	*wrap.Store
	mu    sync.Mutex
	rules []*Rule
	calls []string
}

// New wraps inner; with no rules it only records calls.
func New(inner storage.Store) *Store {
	s := &Store{}
	s.Store = wrap.New(inner, s.around)
	return s
}

// Add installs a rule and returns it.
func (s *Store) Add(r Rule) *Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &r
	s.rules = append(s.rules, p)
	return p
}

// Fail makes every call of method fail with ErrInjected.
func (s *Store) Fail(method string) { s.Add(Rule{Method: method, Err: ErrInjected}) }

// Clear removes every rule.
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// ResetCalls forgets the recorded calls.
func (s *Store) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Calls returns the distinct methods called since the last ResetCalls, in first-call order.
func (s *Store) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Applied reports how many calls a rule has affected.
func (s *Store) Applied(r *Rule) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.applied
}

func (s *Store) match(method string) *Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, method)
	for _, r := range s.rules {
		if r.Method != "" && r.Method != method {
			continue
		}
		r.seen++
		if r.seen <= r.Skip || (r.Times > 0 && r.applied >= r.Times) {
			continue
		}
		r.applied++
		return r
	}
	return nil
}

func (s *Store) around(ctx context.Context, method string, next func(context.Context) error) error {
	r := s.match(method)
	if r == nil {
		return next(ctx)
	}
	if r.Delay > 0 {
		t := time.NewTimer(r.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if r.Err == nil {
		return next(ctx)
	}
	if r.AfterCall {
		if err := next(ctx); err != nil {
			return err
		}
	}
	return r.Err
}
