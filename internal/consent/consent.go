// Package consent holds the rules of remembered consent: a first-party client never asks, a
// third-party client asks when the request wants a scope the person has not allowed yet (or
// prompt=consent), and allowing adds the requested scopes to those allowed before, so a
// narrower request later does not take anything away.
package consent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// Store is what the consent rules need from storage.
type Store interface {
	GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	SaveConsent(ctx context.Context, c *storage.Consent) error
	// LockUser locks the person for the rest of a transaction (LockConsents).
	LockUser(ctx context.Context, id string) error
	// InTx runs fn in one transaction (storage.Store.InTx).
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// LockConsents locks the person userID in tx for the rest of the transaction. Every
// transaction that changes a person's consents from what it read of them (Allow merges the
// new scopes into those allowed before) or that withdraws one calls it first, so that they
// run one after the other. Under PostgreSQL's READ COMMITTED, several instances run them at
// once: an Allow that had read the consent before a withdrawal committed wrote it back,
// with the withdrawn scopes, after it, and the app the person had just removed was allowed
// them again without asking. It is the person's row, the lock mfa.LockFactors takes, so the
// lock order is the same everywhere.
func LockConsents(ctx context.Context, tx Store, userID string) error {
	if err := tx.LockUser(ctx, userID); err != nil {
		return fmt.Errorf("consent: lock the person's consents: %w", err)
	}
	return nil
}

// Service applies the consent rules over a store.
type Service struct {
	Store Store
	Now   func() time.Time
}

// Granted returns the scopes the person has allowed the client (nil when none).
func (s *Service) Granted(ctx context.Context, userID, clientID string) ([]string, error) {
	c, err := s.Store.GetConsent(ctx, userID, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("get consent: %w", err)
	}
	return c.Scopes, nil
}

// Needed reports whether the person must be asked before client gets scopes. prompt is the
// request's prompt parameter ("consent" forces the question for third-party clients). A
// storage failure is an error, not "ask again".
func (s *Service) Needed(ctx context.Context, userID string, client *storage.Client, scopes, prompt []string) (bool, error) {
	if client.FirstParty {
		return false, nil
	}
	if slices.Contains(prompt, "consent") {
		return true, nil
	}
	granted, err := s.Granted(ctx, userID, client.ID)
	if err != nil {
		return false, err
	}
	return !Covers(granted, scopes), nil
}

// Allow records that the person allows clientID scopes, on top of what they allowed before:
// the read of those and the write are one transaction, under the person's lock
// (LockConsents).
func (s *Service) Allow(ctx context.Context, userID, clientID string, scopes []string) error {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	return s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := LockConsents(ctx, tx, userID); err != nil {
			return err
		}
		granted, err := (&Service{Store: tx}).Granted(ctx, userID, clientID)
		if err != nil {
			return err
		}
		c := &storage.Consent{UserID: userID, ClientID: clientID, Scopes: Merge(scopes, granted), GrantedAt: now.UTC()}
		if err := tx.SaveConsent(ctx, c); err != nil {
			return fmt.Errorf("save consent: %w", err)
		}
		return nil
	})
}

// Covers reports whether every wanted scope is among the granted ones.
func Covers(granted, wanted []string) bool {
	for _, sc := range wanted {
		if !slices.Contains(granted, sc) {
			return false
		}
	}
	return true
}

// Merge returns requested followed by the earlier scopes it lacks, without duplicates; the
// arguments are not changed.
func Merge(requested, earlier []string) []string {
	out := make([]string, 0, len(requested)+len(earlier))
	for _, sc := range slices.Concat(requested, earlier) {
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}
