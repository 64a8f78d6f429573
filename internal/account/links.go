package account

import (
	"context"
	"errors"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// errPeek rolls back the transaction LinkUsable looks through.
var errPeek = errors.New("account: peek only")

// LinkUsable reports whether an emailed link (purpose storage.TokenReset, …) can still be
// used, without using it up: the page it opens says at once that a dead link is dead,
// instead of after the person has typed a new password twice. The token is consumed in a
// transaction that is always rolled back, so the one rule for "usable" (unknown, used,
// expired) stays in the store's single-use statement.
func (s *Service) LinkUsable(ctx context.Context, token, purpose string) (bool, error) {
	if token == "" {
		return false, nil
	}
	txs, ok := s.Store.(interface {
		InTx(ctx context.Context, fn func(storage.Store) error) error
	})
	if !ok {
		return true, nil // cannot look without using it up: the form will tell
	}
	var usable bool
	err := txs.InTx(ctx, func(tx storage.Store) error {
		_, err := tx.ConsumeOneTimeToken(ctx, secret.HashToken(token), purpose, s.now())
		switch {
		case err == nil:
			usable = true
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, storage.ErrExpired):
		default:
			return err
		}
		return errPeek
	})
	if err != nil && !errors.Is(err, errPeek) {
		return false, err
	}
	return usable, nil
}

// LinkEmail is LinkUsable that also returns the address of the link's account (for the
// reset page's hidden username field, so password managers save the new password under
// it). The link holder received it at that address; nothing new is revealed.
func (s *Service) LinkEmail(ctx context.Context, token, purpose string) (email string, usable bool, err error) {
	if token == "" {
		return "", false, nil
	}
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		t, err := tx.ConsumeOneTimeToken(ctx, secret.HashToken(token), purpose, s.now())
		switch {
		case err == nil:
			u, err := tx.GetUser(ctx, t.UserID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			if u != nil {
				email, usable = u.Email, true
			}
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, storage.ErrExpired):
		default:
			return err
		}
		return errPeek
	})
	if err != nil && !errors.Is(err, errPeek) {
		return "", false, err
	}
	return email, usable, nil
}
