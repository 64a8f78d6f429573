// Package deviceapproval holds the person's side of the device authorization grant (RFC 8628
// §3.3): finding the pending request a typed user code names, and approving or denying it.
// The rules live here once: every well-formed guess counts against the client IP's limit
// (guard.DeviceCodeGuess) before the lookup, so parallel guesses cannot slip past it; only a
// pending, unexpired code of an existing client is found; approving for a client that
// requires two-step verification needs a session that did it; and a code is decided once.
package deviceapproval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/internal/devicecode"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/storage"
)

// Outcomes a caller shows. Storage failures are none of these: they come back wrapped, as
// failures of ours.
var (
	// ErrMalformed: what was typed cannot be a user code (it was not counted as a guess).
	ErrMalformed = errors.New("deviceapproval: not a valid code")
	// ErrUnknown: no pending, unexpired request has this code (or it was answered meanwhile).
	ErrUnknown = errors.New("deviceapproval: unknown or expired code")
	// ErrTooManyGuesses: the client IP has used up its guesses for now.
	ErrTooManyGuesses = errors.New("deviceapproval: too many guesses")
	// ErrNeedsMFA: the client requires two-step verification and the session has not done it.
	ErrNeedsMFA = errors.New("deviceapproval: the application requires two-step verification")
	// ErrDecided: the person asking already answered this code (a form sent twice, or the
	// answer to their decision lost on a phone's network). Returned with the Request, whose
	// Code.State is that answer, for the caller to show again.
	ErrDecided = errors.New("deviceapproval: already answered by this person")
)

// Store is what the device approval rules need from storage.
type Store interface {
	GetDeviceCodeByUserCode(ctx context.Context, userCode string) (*storage.DeviceCode, error)
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	DecideDeviceCode(ctx context.Context, userCode, state, userID string, authTime time.Time, amr []string, now time.Time) error
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// Service applies the rules over a store.
type Service struct {
	Store Store
	Guard *guard.Guard
	Now   func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// Request is a pending device request found by its user code, with its client.
type Request struct {
	Code   *storage.DeviceCode
	Client *storage.Client
}

// Lookup finds the pending request for what a person typed, counting the guess against ip.
// A code the person signed in as userID ("" for none) already answered comes back with
// ErrDecided; to anyone else an answered code is unknown, as an expired one is.
func (s *Service) Lookup(ctx context.Context, typed, ip, userID string) (*Request, error) {
	code := devicecode.Normalize(typed)
	if code == "" {
		return nil, ErrMalformed
	}
	allowed, err := s.Guard.Allow(ctx, guard.DeviceCodeGuess, ip)
	if err != nil {
		return nil, fmt.Errorf("device code lookup: %w", err)
	}
	if !allowed {
		return nil, ErrTooManyGuesses
	}
	dc, err := s.Store.GetDeviceCodeByUserCode(ctx, code)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrUnknown
	} else if err != nil {
		return nil, fmt.Errorf("device code lookup: %w", err)
	}
	decided := dc.State != storage.DevicePending && userID != "" && dc.UserID == userID
	if !decided && (dc.State != storage.DevicePending || !s.now().Before(dc.ExpiresAt)) {
		return nil, ErrUnknown
	}
	cl, err := s.Store.GetClient(ctx, dc.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrUnknown // the client was deleted since the device asked
	} else if err != nil {
		return nil, fmt.Errorf("device code lookup: %w", err)
	}
	if decided {
		return &Request{Code: dc, Client: cl}, ErrDecided
	}
	return &Request{Code: dc, Client: cl}, nil
}

// Decide approves or denies req for the person signed in with sess. Denying is always
// possible; approving for a client that requires two-step verification needs a session that
// did it (ErrNeedsMFA: the caller sends the person to enrol or to sign in again). ErrUnknown
// when the code expired or was answered meanwhile (another tab). tell (nil: none) writes the
// person's activity event in the decision's transaction.
func (s *Service) Decide(ctx context.Context, req *Request, approve bool, sess *storage.Session, tell func(context.Context, storage.Store) error) error {
	state := storage.DeviceDenied
	if approve {
		if req.Client.RequireMFA && !mfa.EvidenceFromAMR(sess.AMR).MFA() {
			return ErrNeedsMFA
		}
		state = storage.DeviceApproved
	}
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.DecideDeviceCode(ctx, req.Code.UserCode, state, sess.UserID, sess.AuthTime, sess.AMR, s.now()); err != nil {
			return err
		}
		if tell != nil {
			return tell(ctx, tx)
		}
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return ErrUnknown
	} else if err != nil {
		return fmt.Errorf("decide device code: %w", err)
	}
	return nil
}
