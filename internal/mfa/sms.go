package mfa

import (
	"context"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Codes by SMS (issue 15). An SMS code is the weakest kind of factor MyAccount offers: it
// can be phished like any typed code, and SIM swaps and SS7 interception hand it to others.
// Like the emailed code it proves something (amr "sms") and stops a password alone from
// signing in from a new browser, but it never counts towards MFA: a client that requires
// MFA (the only strong level MyAccount asserts) is never satisfied by pwd + sms. Where it is
// offered is mfa.sms's: off, fallback (only to people with no authenticator app, passkey or
// security key) or enabled (also, last, next to those for requests that do not need MFA).

// AMRSMS is a code sent by SMS (RFC 8176 §2 registers "sms" for exactly this).
const AMRSMS = "sms"

// MethodSMSCode is a code sent by SMS to the person's verified number.
const MethodSMSCode Method = "sms_code"

// SMSCodeHash returns the lookup hash of an SMS code as typed by userID for purpose
// (storage.TokenSMSCode or storage.TokenSMSReset); "" for a code that is not six digits.
func SMSCodeHash(purpose, userID, code string) string {
	code = normalizeDigits(code)
	if len(code) != EmailCodeDigits || !allDigits(code) || userID == "" {
		return ""
	}
	return secret.HashToken(purpose + ":" + userID + ":" + code)
}

// StoreSMSCode stores code (drawn by the caller) for purpose, valid for EmailCodeTTL,
// replacing the person's earlier ones of that purpose, through st: a transaction that also
// sends it (sms.Service.SendCodeWith), so that a send refused or failed replaces nothing.
func (s *Service) StoreSMSCode(ctx context.Context, st Store, userID, purpose, code string) error {
	if err := st.DeleteOneTimeTokens(ctx, userID, purpose); err != nil {
		return fmt.Errorf("mfa: void sms codes: %w", err)
	}
	now := s.now()
	t := &storage.OneTimeToken{Hash: SMSCodeHash(purpose, userID, code), Purpose: purpose, UserID: userID,
		CreatedAt: now, ExpiresAt: now.Add(EmailCodeTTL)}
	if err := st.CreateOneTimeToken(ctx, t); err != nil {
		return fmt.Errorf("mfa: store sms code: %w", err)
	}
	return nil
}

// CreateSMSCode is StoreSMSCode of a code it draws, through the service's store, for a
// sender without transactions; it returns the code for the caller to send.
func (s *Service) CreateSMSCode(ctx context.Context, userID, purpose string) (string, error) {
	if err := s.Store.DeleteOneTimeTokens(ctx, userID, purpose); err != nil {
		return "", fmt.Errorf("mfa: void sms codes: %w", err)
	}
	now := s.now()
	var err error
	for range 5 {
		code, _ := NewEmailCode(userID)
		t := &storage.OneTimeToken{Hash: SMSCodeHash(purpose, userID, code), Purpose: purpose, UserID: userID,
			CreatedAt: now, ExpiresAt: now.Add(EmailCodeTTL)}
		err = s.Store.CreateOneTimeToken(ctx, t)
		if errors.Is(err, storage.ErrConflict) {
			continue // the same code drawn twice for the person at once: draw again
		}
		if err != nil {
			break
		}
		return code, nil
	}
	return "", fmt.Errorf("mfa: store sms code: %w", err)
}

// VerifySMSCode checks the person's live SMS code of purpose (CheckSMSCode) and spends it
// at once, for a caller with nothing to commit with it.
func (s *Service) VerifySMSCode(ctx context.Context, userID, purpose, code string) error {
	spend, err := s.CheckSMSCode(ctx, userID, purpose, code)
	if err != nil {
		return err
	}
	return spend(ctx, s.Store)
}
