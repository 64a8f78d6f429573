package phone

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// ResetStore is what the SMS password reset needs of storage besides Store.
type ResetStore interface {
	UserByPhone(ctx context.Context, e164 string) (string, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
	CreateOneTimeToken(ctx context.Context, t *storage.OneTimeToken) error
}

// Owner returns the active or pending account whose confirmed number e164 is; nil when
// there is none (the caller answers the same either way).
func (s *Service) Owner(ctx context.Context, e164 string) (*storage.User, error) {
	id, err := s.Reset.UserByPhone(ctx, e164)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("phone owner: %w", err)
	}
	u, err := s.Reset.GetUser(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("phone owner: %w", err)
	}
	if u.Status != storage.UserActive && u.Status != storage.UserPending {
		return nil, nil
	}
	return u, nil
}

// IssueResetToken returns a password reset token (storage.TokenReset, stored hashed) for a
// person who proved their number with a reset code: the same token a reset mail carries, so
// the reset itself follows the one set of rules.
func (s *Service) IssueResetToken(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	tok := secret.RandomToken(32)
	now := s.now()
	if err := s.Reset.CreateOneTimeToken(ctx, &storage.OneTimeToken{Hash: secret.HashToken(tok), Purpose: storage.TokenReset,
		UserID: userID, CreatedAt: now, ExpiresAt: now.Add(ttl)}); err != nil {
		return "", fmt.Errorf("reset token: %w", err)
	}
	return tok, nil
}
