package ui

import (
	"net/http"

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

// sendSMSCode sends a fresh sign-in code to the person's verified number
// (phone.Service.SendSignInCode). An error wrapping phone.ErrRefused (no verified number, or
// the limits refused) is the person's to be told; any other is ours, never "refused".
func (h *Handler) sendSMSCode(r *http.Request, u *storage.User) error {
	return h.cfg.Phones.SendSignInCode(r.Context(), u.ID, h.cfg.ClientIP(r), h.lang(r, u))
}
