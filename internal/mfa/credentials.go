package mfa

import (
	"context"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// Factors returns the person's second factors (TOTP apps and WebAuthn credentials, flagged
// ones included).
func (s *Service) Factors(ctx context.Context, userID string) ([]*storage.MFACredential, error) {
	rows, err := s.Store.ListMFACredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mfa: list factors: %w", err)
	}
	return rows, nil
}

// Factor returns the person's second factor id. Someone else's factor is as good as none:
// storage.ErrNotFound, so ids cannot be probed.
func (s *Service) Factor(ctx context.Context, userID, id string) (*storage.MFACredential, error) {
	rows, err := s.Factors(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, c := range rows {
		if c.ID == id && c.UserID == userID {
			return c, nil
		}
	}
	return nil, fmt.Errorf("mfa: factor %q: %w", id, storage.ErrNotFound)
}

// AddWebAuthn stores a registered WebAuthn credential (webauthnx.NewMFACredential) and
// forgets remembered browsers, as every new factor does (see forgetBrowsers), in one
// transaction with take (nil: none), the use of the registration's ceremony (CheckCeremony),
// and the recovery codes of a first factor (withCodes), which it returns to be shown once:
// a failure of ours stores nothing and leaves the ceremony good for a retry. A credential
// registered already is storage.ErrConflict; a ceremony used meanwhile ErrCeremonyInvalid.
// rc is the recent sign-in of the person the credential is for.
func (s *Service) AddWebAuthn(ctx context.Context, rc sessions.Recent, c *storage.MFACredential, take Spend, tell Tell) (codes []string, err error) {
	if err := rc.Check(); err != nil {
		return nil, err
	}
	if c.Kind != storage.MFAWebAuthn {
		return nil, fmt.Errorf("mfa: add webauthn: credential of kind %q", c.Kind)
	}
	if c.UserID != rc.UserID() {
		return nil, fmt.Errorf("mfa: add webauthn: credential of another person than the sign-in's: %w", sessions.ErrNotRecent)
	}
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		// The person first, before the ceremony's token: withCodes decides from the set,
		// and every transaction on it takes this lock before any other (LockFactors).
		if err := LockFactors(ctx, tx, c.UserID); err != nil {
			return err
		}
		if take != nil {
			if err := take(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.CreateMFACredential(ctx, c); err != nil {
			return fmt.Errorf("mfa: store webauthn credential: %w", err)
		}
		if err := forgetBrowsers(ctx, tx, c.UserID); err != nil {
			return err
		}
		made, err := withCodes(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		codes = made // set again when a transaction is retried
		return tellIn(ctx, tx, tell)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// withCodes issues, through tx, a fresh set of recovery codes when the person has no unused
// one left and returns it; nil when they still have codes. A first strong factor comes with
// them, in its own transaction: a factor stored without its codes would leave its person
// with no way back in when it is lost, and the page that says it was added without the
// codes it should show. tx must hold the person's lock (LockFactors), taken before the
// factor was stored: else a removal of another factor at once voids the codes counted here.
func withCodes(ctx context.Context, tx storage.MFAStore, userID string) ([]string, error) {
	n, err := tx.CountRecoveryCodes(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mfa: count recovery codes: %w", err)
	}
	if n > 0 {
		return nil, nil
	}
	plain, hashes := NewRecoveryCodes()
	if err := tx.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, fmt.Errorf("mfa: store recovery codes: %w", err)
	}
	return plain, nil
}

// forgetBrowsers is ForgetBrowsers through st: the service's store or the transaction that
// stores a new factor. A new factor forgets remembered browsers because a browser
// remembered after an emailed code (or before the factor existed) must not skip it.
func forgetBrowsers(ctx context.Context, st Store, userID string) error {
	if err := st.DeleteTrustedBrowsers(ctx, userID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("mfa: forget trusted browsers: %w", err)
	}
	return nil
}

// ForgetBrowsers makes every browser of the person ask for the second step again, with tell
// (nil: none) writing its activity event in the same transaction.
func (s *Service) ForgetBrowsers(ctx context.Context, rc sessions.Recent, tell Tell) error {
	if err := rc.Check(); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := forgetBrowsers(ctx, tx, rc.UserID()); err != nil {
			return err
		}
		return tellIn(ctx, tx, tell)
	})
}
