package phone

import (
	"context"
	"errors"
	"fmt"

	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/storage"
)

// errNoNumber: a sign-in code asked for a person with no verified number. It is answered as
// a refusal of the limits is (it wraps ErrRefused): there is nothing the person can retry.
var errNoNumber = fmt.Errorf("phone: no verified number: %w", ErrRefused)

// SendSignInCode sends a fresh sign-in code (storage.TokenSMSCode; mfa.Service.CheckSMSCode
// checks it) to the person's verified number, for the new-browser check or the second step.
// The code is stored hashed (mfa.Service.StoreSMSCode) in the transaction that sends it, so
// a refused or failed send leaves the code the person already has working.
//
// An error wrapping ErrRefused means nothing was sent and the person is to be told so: no
// verified number, or the SMS limits refused. Any other error is ours (the database, the
// outbox), never a refusal. ip and lang are the request's (the limits, the message).
func (s *Service) SendSignInCode(ctx context.Context, userID, ip, lang string) error {
	p, err := s.Store.GetPhone(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return errNoNumber
	}
	if err != nil {
		return fmt.Errorf("send sms code: phone of %s: %w", userID, err)
	}
	err = s.sendStored(ctx, Code{UserID: userID, IP: ip, To: p.E164, Lang: lang, Purpose: PurposeSignIn,
		Expires: s.now().Add(mfa.EmailCodeTTL)}, storage.TokenSMSCode)
	switch {
	case errors.Is(err, ErrRefused):
		return err
	case err != nil:
		return fmt.Errorf("send sms code: %w", err)
	}
	return nil
}

// sendStored draws c's code and sends it with the write of its hash, as a one-time token of
// purpose (storage.TokenSMSCode, TokenSMSReset) replacing the person's earlier ones, in one
// transaction (Sender.SendCodeWith): the new code replaces the pending one only if it is
// sent.
func (s *Service) sendStored(ctx context.Context, c Code, purpose string) error {
	c.Code, _ = mfa.NewEmailCode(c.UserID)
	return s.SMS.SendCodeWith(ctx, c, func(ctx context.Context, tx storage.Store) error {
		return s.Codes.StoreSMSCode(ctx, tx, c.UserID, c.To, purpose, c.Code)
	})
}
