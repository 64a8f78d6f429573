// Package fault tells our own failures apart from the client's. A database that is down, full
// or too slow, or a server too busy to hash another password, is not the client's fault: the
// client must hear "temporarily unavailable, try again", never invalid_grant, invalid_client or
// "unknown application". Failures are marked with ErrUnavailable where they happen (the store
// guard, the password-hash limiter) and recorded in the request's context, so that one HTTP
// mapping (internal/server) can answer every endpoint the same way, whatever a library made
// of the error on its way up.
//
// The package speaks no HTTP, so domain packages may use it.
package fault

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrUnavailable marks a failure of ours or of a dependency; the request may succeed if
// retried later. Match with errors.Is or Is.
var ErrUnavailable = errors.New("temporarily unavailable")

// Mark wraps err so that errors.Is(err, ErrUnavailable) holds; nil stays nil.
func Mark(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Is reports whether err is (or wraps) an unavailability failure.
func Is(err error) bool { return errors.Is(err, ErrUnavailable) }

// Recorder collects the failures seen while serving one request.
type Recorder struct {
	mu    sync.Mutex
	first error
	count int
	// undo are the requests's OnFailure functions, in the order they were registered.
	undo []func(context.Context) error
}

// Err returns the first failure recorded (nil when none was).
func (r *Recorder) Err() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// Count is how many failures were recorded.
func (r *Recorder) Count() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

type recorderKey struct{}

// NewContext returns a context carrying a fresh Recorder, and the Recorder.
func NewContext(ctx context.Context) (context.Context, *Recorder) {
	r := &Recorder{}
	return context.WithValue(ctx, recorderKey{}, r), r
}

// FromContext returns the context's Recorder, or nil.
func FromContext(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

// Record notes err (marked unavailable) in the context's Recorder, if there is one, and
// returns the marked error.
func Record(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	err = Mark(err)
	if r := FromContext(ctx); r != nil {
		r.mu.Lock()
		if r.first == nil {
			r.first = err
		}
		r.count++
		r.mu.Unlock()
	}
	return err
}

// OnFailure registers undo to run if the request ends in a failure of ours: a request that
// used up something single-use before its real work (a DPoP proof's jti, a client
// assertion's) gives it back, so that the client's retry of the same request is not refused
// as a replay. Without a Recorder in ctx, undo is never run.
func OnFailure(ctx context.Context, undo func(context.Context) error) {
	if r := FromContext(ctx); r != nil {
		r.mu.Lock()
		r.undo = append(r.undo, undo)
		r.mu.Unlock()
	}
}

// Undo runs, once, the functions OnFailure registered, the last first, and returns their
// errors joined. The HTTP mapping calls it when it answers a failure of ours, before the
// answer is written, so that a retry sent on receipt finds them undone.
func (r *Recorder) Undo(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	undo := r.undo
	r.undo = nil
	r.mu.Unlock()
	var errs []error
	for i := len(undo) - 1; i >= 0; i-- {
		errs = append(errs, undo[i](ctx))
	}
	return errors.Join(errs...)
}
