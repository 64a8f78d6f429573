// Package wrap decorates a storage.Store: every call goes through one hook, so cross-cutting
// rules (deadlines, classifying failures, fault injection in tests) are written once instead
// of once per method. The forwarding methods are generated from the interface, so a method
// added to storage.Store cannot be forgotten: the package stops compiling until regenerated.
package wrap

//go:generate go run ./internal/gen

import (
	"context"
	"errors"

	"github.com/myaccount/myaccount/storage"
)

// Around runs one store call: it must either call next (once) and return next's error,
// possibly changed, or return an error without calling it. method is the storage.Store
// method's name.
type Around func(ctx context.Context, method string, next func(context.Context) error) error

// Store is a storage.Store whose calls pass through an Around hook.
type Store struct {
	inner  storage.Store
	around Around
}

var _ storage.Store = (*Store)(nil)

// New wraps inner.
func New(inner storage.Store, around Around) *Store {
	return &Store{inner: inner, around: around}
}

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() storage.Store { return s.inner }

// CallbackError carries an error returned by an InTx callback through the hook, so that a hook
// can tell the caller's own error (a domain outcome) from a failure to begin or commit.
type CallbackError struct{ Err error }

func (e *CallbackError) Error() string { return e.Err.Error() }
func (e *CallbackError) Unwrap() error { return e.Err }

// fromCallback marks err as the callback's when the call failed with what the caller's
// callback returned (cbErr), so that the hook sees a CallbackError and not a store failure.
func fromCallback(err, cbErr error) error {
	if err != nil && cbErr != nil && errors.Is(err, cbErr) {
		return &CallbackError{Err: err}
	}
	return err
}

// unwrapCallback returns the error the caller gets: a callback's own, as the store returned it.
func unwrapCallback(err error) error {
	if ce, ok := err.(*CallbackError); ok {
		return ce.Err
	}
	return err
}

// InTx runs fn in one transaction of the inner store; the Store fn receives is wrapped with
// the same hook, so calls inside the transaction pass through it too.
func (s *Store) InTx(ctx context.Context, fn func(storage.Store) error) error {
	err := s.around(ctx, "InTx", func(ctx context.Context) error {
		var fnErr error
		err := s.inner.InTx(ctx, func(tx storage.Store) error {
			fnErr = fn(&Store{inner: tx, around: s.around})
			return fnErr
		})
		return fromCallback(err, fnErr)
	})
	return unwrapCallback(err)
}

// Close closes the inner store; it takes no context and passes no hook.
func (s *Store) Close() error { return s.inner.Close() }
