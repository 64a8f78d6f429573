package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/sms"
	"github.com/myaccount/myaccount/storage"
)

// Sign-in codes by SMS (issue 15): the person's verified number receives the code of the
// new-browser check or the second step instead of (or, with mfa.sms: enabled, next to) the
// stronger factors. mfa.Enrolled.SMS says whether it is offered; mfa.NextStep where.

// smsOffered reports whether mfa.sms offers SMS codes to a person with (strong) or without
// a strong factor, before looking at their number.
func (h *Handler) smsOffered(strong bool) bool {
	switch h.cfg.SMS {
	case "enabled":
		return h.cfg.Phones != nil
	case "fallback":
		return h.cfg.Phones != nil && !strong
	}
	return false
}

// verifiedPhone is the person's verified number, or nil.
func (h *Handler) verifiedPhone(r *http.Request, u *storage.User) (*storage.Phone, error) {
	p, _, err := h.cfg.Phones.State(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// errSMSRefused: the SMS limits refused the send (one answer for all of them).
var errSMSRefused = errors.New("ui: sms refused")

// codeSender sends a code with its write in one transaction (sms.Service).
type codeSender interface {
	SendCodeWith(ctx context.Context, c phone.Code, also func(context.Context, storage.Store) error) error
}

// The server's sender must stay a codeSender, or a refused send would void the pending code.
var _ codeSender = (*sms.Service)(nil)

// sendSMSCode sends a fresh code of purpose (storage.TokenSMSCode; the reset's codes are
// phone.Service.StartReset's, sent by the worker) to the person's verified number.
// errSMSRefused when the limits refuse; a storage failure is an error of its own, never
// "refused".
func (h *Handler) sendSMSCode(r *http.Request, u *storage.User, purpose string) error {
	p, err := h.verifiedPhone(r, u)
	if err != nil {
		return err
	}
	if p == nil {
		return errSMSRefused
	}
	what := phone.PurposeSignIn
	c := phone.Code{UserID: u.ID, IP: h.cfg.ClientIP(r), To: p.E164, Lang: h.lang(r, u), Purpose: what,
		Expires: h.now().Add(mfa.EmailCodeTTL)}
	if sender, ok := h.cfg.Phones.SMS.(codeSender); ok {
		// The new code replaces the pending one only if it is sent: a refused or failed
		// send leaves the code the person already has working.
		c.Code, _ = mfa.NewEmailCode(u.ID)
		err = sender.SendCodeWith(r.Context(), c, func(ctx context.Context, tx storage.Store) error {
			return h.cfg.MFA.StoreSMSCode(ctx, tx, u.ID, p.E164, purpose, c.Code)
		})
	} else {
		// A sender without transactions (tests' fakes): the code first, then the send.
		if c.Code, err = h.cfg.MFA.CreateSMSCode(r.Context(), u.ID, p.E164, purpose); err != nil {
			return err
		}
		err = h.cfg.Phones.SMS.SendCode(r.Context(), c)
	}
	switch {
	case errors.Is(err, sms.ErrRefused):
		return errSMSRefused
	case err != nil:
		return fmt.Errorf("send sms code: %w", err)
	}
	return nil
}
