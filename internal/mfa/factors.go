package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// totpKID is the additional authenticated data a stored TOTP secret is sealed with: the
// credential id (so a sealed secret copied onto another row does not open), prefixed so that
// it can never equal a signing key's kid under the same master key.
func totpKID(credentialID string) string { return "mfa-totp:" + credentialID }

// pendingKID binds a pending enrolment to the person it was shown to.
func pendingKID(userID string) string { return "mfa-totp-pending:" + userID }

// pendingTOTP is the content of a sealed pending enrolment.
type pendingTOTP struct {
	Secret  []byte `json:"s"`
	Expires int64  `json:"e"` // Unix seconds
}

// BeginTOTP starts a TOTP enrolment for userID (account is the name the app shows, normally
// the email). It returns what to show, and pending: the new secret sealed for this person,
// to carry in the confirmation form. Carrying it sealed keeps no server state for a QR code
// that may never be scanned, survives restarts and instances, and cannot be read or moved to
// another account by the browser.
func (s *Service) BeginTOTP(userID, account string) (enrolment *TOTPEnrolment, pending string, err error) {
	if s.Sealer == nil {
		return nil, "", errors.New("mfa: totp needs a sealer")
	}
	e, err := NewTOTPSecret(s.Issuer, account)
	if err != nil {
		return nil, "", err
	}
	blob, err := json.Marshal(pendingTOTP{Secret: e.Secret, Expires: s.now().Add(TOTPEnrolmentTTL).Unix()})
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin totp: %w", err)
	}
	sealed, err := s.Sealer.Seal(pendingKID(userID), blob)
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin totp: %w", err)
	}
	return e, base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openPending returns the secret of a pending enrolment, or ErrEnrolmentExpired.
func (s *Service) openPending(userID, pending string) ([]byte, error) {
	if s.Sealer == nil {
		return nil, errors.New("mfa: totp needs a sealer")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(pending)
	if err != nil {
		return nil, ErrEnrolmentExpired
	}
	blob, err := s.Sealer.Open(pendingKID(userID), sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEnrolmentExpired, err)
	}
	var p pendingTOTP
	if err := json.Unmarshal(blob, &p); err != nil || len(p.Secret) != TOTPSecretSize {
		return nil, ErrEnrolmentExpired
	}
	if s.now().Unix() >= p.Expires {
		return nil, ErrEnrolmentExpired
	}
	return p.Secret, nil
}

// ResumeTOTP rebuilds the enrolment shown for pending, so the page can show the same QR code
// again after a mistyped confirmation code.
func (s *Service) ResumeTOTP(userID, account, pending string) (*TOTPEnrolment, error) {
	key, err := s.openPending(userID, pending)
	if err != nil {
		return nil, err
	}
	return newTOTPEnrolment(key, s.Issuer, account)
}

// FinishTOTP confirms a pending enrolment with a code from the app (proving the person
// scanned it and their clock is right) and stores the credential: the secret sealed with the
// new credential's id, and the confirming step as already used, so the code just typed cannot
// be replayed at sign-in. Remembered browsers are forgotten (forgetBrowsers) and the
// recovery codes of a first factor made (withCodes, returned to be shown once) in the same
// transaction. A wrong code is ErrInvalidCode and leaves pending usable.
//
// One pending enrolment adds one app, decided by the write itself: the credential's id is
// derived from pending, so a second confirmation of it (the form sent twice, or again after
// a failure whose answer was lost) conflicts and is ErrEnrolmentDone. A failure of ours
// stores nothing and leaves pending usable for the retry, so the secret the app now holds is
// never lost to it.
func (s *Service) FinishTOTP(ctx context.Context, rc sessions.Recent, pending, code, name string, tell Tell) (_ *storage.MFACredential, codes []string, err error) {
	if err := rc.Check(); err != nil {
		return nil, nil, err
	}
	userID := rc.UserID()
	key, err := s.openPending(userID, pending)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	id := enrolmentID(pending)
	step, ok := VerifyTOTP(key, code, now)
	if !ok {
		// The form sent again once its code's 30 seconds had passed (its answer lost, a
		// reload): that the app was added is the answer, not a wrong code.
		switch done, err := s.enrolled(ctx, userID, id); {
		case err != nil:
			return nil, nil, err
		case done:
			return nil, nil, ErrEnrolmentDone
		}
		return nil, nil, ErrInvalidCode
	}
	sealed, err := s.Sealer.Seal(totpKID(id), key)
	if err != nil {
		return nil, nil, fmt.Errorf("mfa: seal totp secret: %w", err)
	}
	c := &storage.MFACredential{ID: id, UserID: userID, Kind: storage.MFATOTP, Name: name,
		Secret: sealed, LastStep: step, CreatedAt: now, LastUsedAt: &now}
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := LockFactors(ctx, tx, userID); err != nil { // withCodes decides from the set
			return err
		}
		if err := tx.CreateMFACredential(ctx, c); err != nil {
			return err
		}
		if err := forgetBrowsers(ctx, tx, userID); err != nil {
			return err
		}
		made, err := withCodes(ctx, tx, userID)
		if err != nil {
			return err
		}
		codes = made // set again when a transaction is retried
		return tellIn(ctx, tx, tell)
	})
	switch {
	case errors.Is(err, storage.ErrConflict):
		return nil, nil, ErrEnrolmentDone
	case err != nil:
		return nil, nil, fmt.Errorf("mfa: store totp credential: %w", err)
	}
	return c, codes, nil
}

// enrolled reports whether the credential id (a pending enrolment's, enrolmentID) is stored.
func (s *Service) enrolled(ctx context.Context, userID, id string) (bool, error) {
	cs, err := s.Store.ListMFACredentials(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("mfa: list factors: %w", err)
	}
	return slices.ContainsFunc(cs, func(c *storage.MFACredential) bool { return c.ID == id }), nil
}

// enrolmentID is the id of the credential a pending TOTP enrolment becomes: in NewID's form
// (26 characters of [a-z2-7]), derived from the sealed enrolment, which is random and bound
// to its person, so that storing it twice conflicts.
func enrolmentID(pending string) string {
	sum := sha256.Sum256([]byte("mfa-totp-enrolment:" + pending))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

// VerifyTOTP checks a sign-in code (CheckTOTP) and spends it at once, for a caller with
// nothing to commit with it: the same code submitted twice (even concurrently, on two
// instances) succeeds once and then gives ErrCodeReused. It returns the credential that
// matched.
func (s *Service) VerifyTOTP(ctx context.Context, userID, code string) (*storage.MFACredential, error) {
	c, spend, err := s.CheckTOTP(ctx, userID, code)
	if err != nil {
		return nil, err
	}
	if err := spend(ctx, s.Store); err != nil {
		return nil, err
	}
	return c, nil
}

// RegenerateRecoveryCodes issues a new set of recovery codes and returns them for showing
// once; the previous set stops working in the same transaction, which tell writes in too.
// Codes stand in for a factor: a person without one that can sign in here (Enrolled.Strong)
// gets ErrNoStrongFactor and nothing is written. The check is made in the transaction that
// writes the codes: made apart (it was the security page's), a removal of the last factor
// between the two (the person's, or support's remove-factors, which voids the codes) was
// followed by a fresh set with no factor, which a later enrolment then kept (withCodes)
// instead of issuing its own. The transaction locks the person first (LockFactors), so
// that a removal running at once on another instance does not void the codes before this
// writes them.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, rc sessions.Recent, tell Tell) ([]string, error) {
	if err := rc.Check(); err != nil {
		return nil, err
	}
	plain, hashes := NewRecoveryCodes()
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := LockFactors(ctx, tx, rc.UserID()); err != nil {
			return err
		}
		e, err := s.enrolledIn(ctx, tx, rc.UserID())
		if err != nil {
			return err
		}
		if !e.Strong() {
			return ErrNoStrongFactor
		}
		if err := tx.ReplaceRecoveryCodes(ctx, rc.UserID(), hashes); err != nil {
			return err
		}
		return tellIn(ctx, tx, tell)
	})
	if errors.Is(err, ErrNoStrongFactor) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: store recovery codes: %w", err)
	}
	return plain, nil
}

// UseRecoveryCode checks a recovery code (CheckRecoveryCode) and spends it at once, for a
// caller with nothing to commit with it; it returns how many remain.
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code string) (remaining int, err error) {
	remaining, spend, err := s.CheckRecoveryCode(ctx, userID, code)
	if err != nil {
		return 0, err
	}
	if err := spend(ctx, s.Store); err != nil {
		return 0, err
	}
	return remaining, nil
}

// StoreEmailCode stores code, drawn by NewEmailCode, as userID's sign-in code through st (a
// transaction's store, with the mail that carries it: account.Service.SendSignInCodeWith),
// valid for EmailCodeTTL. Earlier codes of the person stop working, so only the newest email
// is live; in the transaction, a failure leaves the earlier code working. Limiting how often
// codes are mailed is the caller's job, as for any mail.
func (s *Service) StoreEmailCode(ctx context.Context, st Store, userID, code string) error {
	if err := st.DeleteOneTimeTokens(ctx, userID, storage.TokenEmailCode); err != nil {
		return fmt.Errorf("mfa: void email codes: %w", err)
	}
	now := s.now()
	t := &storage.OneTimeToken{Hash: EmailCodeHash(userID, code), Purpose: storage.TokenEmailCode, UserID: userID,
		CreatedAt: now, ExpiresAt: now.Add(EmailCodeTTL)}
	if err := st.CreateOneTimeToken(ctx, t); err != nil {
		return fmt.Errorf("mfa: store email code: %w", err)
	}
	return nil
}

// VerifyEmailCode checks the person's live emailed code (CheckEmailCode) and spends it at
// once, for a caller with nothing to commit with it.
func (s *Service) VerifyEmailCode(ctx context.Context, userID, code string) error {
	spend, err := s.CheckEmailCode(ctx, userID, code)
	if err != nil {
		return err
	}
	return spend(ctx, s.Store)
}
