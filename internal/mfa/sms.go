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

// SMSCodeHash returns the lookup hash of an SMS code as typed for purpose
// (storage.TokenSMSCode or storage.TokenSMSReset) and userID, its subject (smsCodeSubject);
// "" for a code that is not six digits.
func SMSCodeHash(purpose, userID, code string) string {
	code = normalizeDigits(code)
	if len(code) != EmailCodeDigits || !allDigits(code) || userID == "" {
		return ""
	}
	return secret.HashToken(purpose + ":" + userID + ":" + code)
}

// smsCodeSubject is what the hash of an SMS code of purpose sent to the number to (E.164)
// for userID is bound to: the person for a sign-in code, the number for a password-reset
// code, which is typed by someone who names only the number (VerifySMSResetCode).
func smsCodeSubject(purpose, userID, to string) string {
	if purpose == storage.TokenSMSReset {
		return resetSubject(to)
	}
	return userID
}

// resetSubject is the subject of a reset code typed for the number e164: its hash and its
// attempt counters. No user id begins so.
func resetSubject(e164 string) string { return "number:" + e164 }

// StoreSMSCode stores code (drawn by the caller) for purpose, sent to the number to for
// userID, valid for EmailCodeTTL, replacing the person's earlier ones of that purpose,
// through st: a transaction that also sends it (sms.Service.SendCodeWith), so that a send
// refused or failed replaces nothing.
func (s *Service) StoreSMSCode(ctx context.Context, st Store, userID, to, purpose, code string) error {
	if err := st.DeleteOneTimeTokens(ctx, userID, purpose); err != nil {
		return fmt.Errorf("mfa: void sms codes: %w", err)
	}
	now := s.now()
	t := &storage.OneTimeToken{Hash: SMSCodeHash(purpose, smsCodeSubject(purpose, userID, to), code), Purpose: purpose, UserID: userID,
		CreatedAt: now, ExpiresAt: now.Add(EmailCodeTTL)}
	if err := st.CreateOneTimeToken(ctx, t); err != nil {
		return fmt.Errorf("mfa: store sms code: %w", err)
	}
	return nil
}

// VerifySMSResetCode checks and spends a password-reset code typed for the number e164 and
// hands the account it was sent for to then (phone.Service.RedeemReset). Whether an account has the number shows in nothing
// it does: the attempts are counted for the number, for every number alike, and the code is
// looked up by the number (its hash is bound to it, smsCodeSubject), so a number without an
// account, whose codes match nothing, meets the same store calls and the same limit (5 in 15
// minutes, 20 a day: ErrTooManyAttempts, ErrAttemptsCapped) as an account's. The attempts
// are not the owner's second-step count either: anyone may type a number, and five wrong
// codes must not close its owner's second step.
//
// then (nil: none) runs in the transaction that spends the code, with the account it was
// sent for: what the code is exchanged for commits with its use, and an error of then is
// returned and leaves the code unspent, so that a failure of ours after the check does not
// use up the code the person holds.
func (s *Service) VerifySMSResetCode(ctx context.Context, e164, code string, then func(ctx context.Context, tx storage.Store, userID string) error) (err error) {
	subject := resetSubject(e164)
	settle, err := s.attempt(ctx, subject)
	if err != nil {
		return err
	}
	defer func() { err = settle(err) }()
	h := SMSCodeHash(storage.TokenSMSReset, subject, code)
	if h == "" {
		return ErrInvalidCode
	}
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		t, err := tx.ConsumeOneTimeToken(ctx, h, storage.TokenSMSReset, s.now())
		switch {
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrAlreadyUsed):
			return ErrInvalidCode
		case err != nil:
			return fmt.Errorf("mfa: verify %s: %w", storage.TokenSMSReset, err)
		}
		if then != nil {
			return then(ctx, tx, t.UserID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.succeeded(ctx, subject)
	return nil
}
