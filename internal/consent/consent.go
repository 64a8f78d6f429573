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

// Allow records that the person allows clientID scopes, on top of what they allowed before.
func (s *Service) Allow(ctx context.Context, userID, clientID string, scopes []string) error {
	granted, err := s.Granted(ctx, userID, clientID)
	if err != nil {
		return err
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	c := &storage.Consent{UserID: userID, ClientID: clientID, Scopes: Merge(scopes, granted), GrantedAt: now.UTC()}
	if err := s.Store.SaveConsent(ctx, c); err != nil {
		return fmt.Errorf("save consent: %w", err)
	}
	return nil
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
