package ui

import (
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

// sendSMSCode sends a fresh code of purpose (storage.TokenSMSCode, TokenSMSReset) to the
// person's verified number. errSMSRefused when the limits refuse; a storage failure is an
// error of its own, never "refused".
func (h *Handler) sendSMSCode(r *http.Request, u *storage.User, purpose string) error {
	p, err := h.verifiedPhone(r, u)
	if err != nil {
		return err
	}
	if p == nil {
		return errSMSRefused
	}
	code, err := h.cfg.MFA.CreateSMSCode(r.Context(), u.ID, purpose)
	if err != nil {
		return err
	}
	what := phone.PurposeSignIn
	if purpose == storage.TokenSMSReset {
		what = phone.PurposeReset
	}
	err = h.cfg.Phones.SMS.SendCode(r.Context(), phone.Code{UserID: u.ID, IP: h.cfg.ClientIP(r), To: p.E164,
		Lang: h.lang(r, u), Code: code, Purpose: what, Expires: h.now().Add(mfa.EmailCodeTTL)})
	switch {
	case errors.Is(err, sms.ErrRefused):
		return errSMSRefused
	case err != nil:
		return fmt.Errorf("send sms code: %w", err)
	}
	return nil
}
