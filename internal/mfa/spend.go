package mfa

import (
	"context"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Spend is the single use of a code that was checked and found good, not yet written. The
// caller writes it in the transaction that stores what the code was for (the sign-in's
// session: sessions.WithAlso), so the code is spent exactly when that commits: a failure of
// ours after the check leaves it good for the person's retry, instead of spent on nothing
// and refused as wrong or reused. The store decides single use, so when two requests check
// the same code only one Spend succeeds: the other fails with ErrInvalidCode or
// ErrCodeReused, as the check would have then. tx may be the store itself, outside any
// transaction, for a caller with nothing to commit with it.
type Spend func(ctx context.Context, tx Store) error

// Tell writes, in the transaction of a change to a person's factors, what tells them of it
// (account.Service.FactorNotice: the notice and the activity event), so that no change goes
// untold, however the transaction ends. nil tells nothing.
type Tell func(ctx context.Context, tx storage.Store) error

// tellIn runs tell, if any, through tx.
func tellIn(ctx context.Context, tx storage.Store, tell Tell) error {
	if tell == nil {
		return nil
	}
	return tell(ctx, tx)
}

// errDryRun rolls back the transaction of try.
var errDryRun = errors.New("mfa: dry run")

// try runs write in a transaction that is always rolled back and returns write's error: it
// tells whether write would succeed now, without making it. Emailed, SMS and recovery codes
// are checked so, because the store can only tell whether such a code is live by spending
// it, and the spending waits for the sign-in it completes (Spend). s.Store must not be a
// transaction: a nested one would join it, and the write would stay.
func (s *Service) try(ctx context.Context, write func(tx storage.Store) error) error {
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := write(tx); err != nil {
			return err
		}
		return errDryRun
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	return err
}

// CheckTOTP checks a sign-in code against each of the person's TOTP credentials, within the
// attempt limit, and returns the credential that matched (as it will be once spent) and the Spend that records its time
// step as used (AcceptTOTPStep, whose UPDATE … WHERE last_step < ? decides, so the same code
// is accepted once even when submitted twice at once). A code whose step was already
// accepted is ErrCodeReused.
func (s *Service) CheckTOTP(ctx context.Context, userID, code string) (_ *storage.MFACredential, _ Spend, err error) {
	settle, err := s.attempt(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = settle(err) }()
	creds, err := s.Store.ListMFACredentials(ctx, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("mfa: list factors: %w", err)
	}
	now := s.now()
	reused := false
	for _, c := range creds {
		if c.Kind != storage.MFATOTP {
			continue
		}
		if s.Sealer == nil {
			return nil, nil, errors.New("mfa: totp needs a sealer")
		}
		key, err := s.Sealer.Open(totpKID(c.ID), c.Secret)
		if err != nil {
			return nil, nil, fmt.Errorf("mfa: open totp secret %q: %w", c.ID, err)
		}
		step, ok := VerifyTOTP(key, code, now)
		if !ok {
			continue
		}
		if step <= c.LastStep {
			reused = true
			continue // another credential of the person's may still match
		}
		id := c.ID
		spend := func(ctx context.Context, tx Store) error {
			accepted, err := tx.AcceptTOTPStep(ctx, id, step, now)
			switch {
			case errors.Is(err, storage.ErrNotFound): // removed since the check
				return ErrInvalidCode
			case err != nil:
				return fmt.Errorf("mfa: accept totp step: %w", err)
			case !accepted: // accepted for another request since the check
				return ErrCodeReused
			}
			return nil
		}
		s.succeeded(ctx, userID)
		c.LastStep, c.LastUsedAt = step, &now // as they will be once spent
		return c, spend, nil
	}
	if reused {
		return nil, nil, ErrCodeReused
	}
	return nil, nil, ErrInvalidCode
}

// CheckRecoveryCode checks one of the person's unused recovery codes, within the attempt
// limit, and returns how many will remain once it is spent (so the page can urge a new set
// when few do) and the Spend that marks it used (UseRecoveryCode's UPDATE … WHERE used_at IS
// NULL decides single use).
func (s *Service) CheckRecoveryCode(ctx context.Context, userID, code string) (remaining int, spend Spend, err error) {
	settle, err := s.attempt(ctx, userID)
	if err != nil {
		return 0, nil, err
	}
	defer func() { err = settle(err) }()
	h := HashRecoveryCode(code)
	if h == "" {
		return 0, nil, ErrInvalidCode
	}
	spend = func(ctx context.Context, tx Store) error {
		err := tx.UseRecoveryCode(ctx, userID, h, s.now())
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return ErrInvalidCode
		case err != nil:
			return fmt.Errorf("mfa: use recovery code: %w", err)
		}
		return nil
	}
	err = s.try(ctx, func(tx storage.Store) error {
		if err := spend(ctx, tx); err != nil {
			return err
		}
		var err error
		if remaining, err = tx.CountRecoveryCodes(ctx, userID); err != nil {
			return fmt.Errorf("mfa: count recovery codes: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	s.succeeded(ctx, userID)
	return remaining, spend, nil
}

// CheckEmailCode checks the person's live emailed code, within the attempt limit, and
// returns the Spend that uses it up.
func (s *Service) CheckEmailCode(ctx context.Context, userID, code string) (Spend, error) {
	return s.checkSentCode(ctx, userID, storage.TokenEmailCode, EmailCodeHash(userID, code))
}

// CheckSMSCode checks the person's live SMS code of purpose, within the attempt limit
// shared with every other code, and returns the Spend that uses it up.
func (s *Service) CheckSMSCode(ctx context.Context, userID, purpose, code string) (Spend, error) {
	return s.checkSentCode(ctx, userID, purpose, SMSCodeHash(purpose, userID, code))
}

// checkSentCode is CheckEmailCode and CheckSMSCode: hash is the code's lookup hash ("" for
// a malformed code), a one-time token of purpose.
func (s *Service) checkSentCode(ctx context.Context, userID, purpose, hash string) (_ Spend, err error) {
	settle, err := s.attempt(ctx, userID)
	if err != nil {
		return nil, err
	}
	defer func() { err = settle(err) }()
	if hash == "" {
		return nil, ErrInvalidCode
	}
	spend := func(ctx context.Context, tx Store) error {
		t, err := tx.ConsumeOneTimeToken(ctx, hash, purpose, s.now())
		switch {
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrAlreadyUsed):
			return ErrInvalidCode
		case err != nil:
			return fmt.Errorf("mfa: verify %s: %w", purpose, err)
		case !secret.Equal(t.UserID, userID): // cannot happen: the hash covers the user id
			return ErrInvalidCode
		}
		return nil
	}
	if err := s.try(ctx, func(tx storage.Store) error { return spend(ctx, tx) }); err != nil {
		return nil, err
	}
	s.succeeded(ctx, userID)
	return spend, nil
}
