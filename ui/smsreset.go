package ui

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/phone"
)

// Password reset by SMS (issue 15, accounts.reset_by_sms): the person types their confirmed
// number; if an account has it, a code is sent to it; the right code opens the ordinary
// reset page (a fresh reset token), so the rules of a reset (lockout lifted, sessions ended,
// owner told) are the same as by email. Every answer is the same whether or not the number
// belongs to an account.

const (
	smsResetCookie  = "myaccount_sms_reset"
	smsResetPurpose = "sms reset v1"
)

func (h *Handler) mountSMSReset(r *mux.Router) {
	if !h.smsResetOn() {
		return
	}
	r.HandleFunc("/forgot/sms", h.smsResetGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/forgot/sms", h.smsResetSend).Methods(http.MethodPost)
	r.HandleFunc("/forgot/sms/code", h.smsResetCode).Methods(http.MethodPost)
}

func (h *Handler) smsResetOn() bool {
	return h.cfg.ResetBySMS && h.cfg.Phones != nil && h.cfg.Phones.Reset != nil
}

// smsResetState is the sealed cookie between the two steps: the number typed.
type smsResetState struct {
	E164    string `json:"n"`
	Expires int64  `json:"e"`
}

type smsResetPage struct {
	common
	Countries []geo.Country
	Country   string
	Number    string
	Sent      bool
	Error     string
	// Validity is how long the code works (mfa.EmailCodeTTL, as for every code we send).
	Validity string
}

func (h *Handler) renderSMSReset(w http.ResponseWriter, r *http.Request, p smsResetPage, status int) {
	p.common = h.common(w, r, i18n.N("Reset your password"))
	p.Countries = h.cfg.Geo.Countries(p.Lang)
	p.Validity = geo.FormatDuration(mfa.EmailCodeTTL, p.Lang)
	h.render(w, r, status, "forgot_sms", p)
}

func (h *Handler) smsResetGet(w http.ResponseWriter, r *http.Request) {
	h.renderSMSReset(w, r, smsResetPage{}, http.StatusOK)
}

// smsResetSend sends a code when the number is an account's confirmed one, and answers the
// same either way.
func (h *Handler) smsResetSend(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	lang := h.lang(r, nil)
	p := smsResetPage{Country: r.PostFormValue("country"), Number: truncate(r.PostFormValue("number"), 64)}
	e164, err := phone.Parse(p.Number, p.Country)
	if err != nil {
		p.Error = h.cfg.I18n.T(lang, "Enter a phone number that can receive text messages, as you would dial it in the country chosen, or starting with + and the country code.")
		h.renderSMSReset(w, r, p, http.StatusUnprocessableEntity)
		return
	}
	// Queued for every number alike: whether one goes out is the worker's (a refusal by the
	// limits is not told either: it would say the number is known).
	if err := h.cfg.Phones.StartReset(r.Context(), e164, h.cfg.ClientIP(r), lang); err != nil {
		h.fail(w, r, "sms reset: queue", err)
		return
	}
	if err := h.sealCookie(w, smsResetCookie, smsResetPurpose, smsResetState{E164: e164,
		Expires: h.now().Add(mfa.EmailCodeTTL).Unix()}, mfa.EmailCodeTTL); err != nil {
		h.fail(w, r, "sms reset cookie", err)
		return
	}
	p.Sent, p.Number = true, phone.Display(e164)
	h.renderSMSReset(w, r, p, http.StatusOK)
}

// smsResetCode checks the code and continues on the reset page.
func (h *Handler) smsResetCode(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	lang := h.lang(r, nil)
	var st smsResetState
	if !h.openCookie(r, smsResetCookie, smsResetPurpose, &st) || h.now().Unix() > st.Expires {
		http.Redirect(w, r, "/forgot/sms", http.StatusSeeOther)
		return
	}
	p := smsResetPage{Sent: true, Number: phone.Display(st.E164)}
	// The code is checked for the number, whether or not an account has it: only the right
	// code names the account (phone.Service.RedeemReset).
	tok, err := h.cfg.Phones.RedeemReset(r.Context(), st.E164, r.PostFormValue("code"))
	switch {
	case errors.Is(err, mfa.ErrInvalidCode):
		p.Error = h.cfg.I18n.T(lang, "The code is not correct. Check the last text message we sent and try again.")
		h.renderSMSReset(w, r, p, http.StatusUnprocessableEntity)
		return
	case errors.Is(err, mfa.ErrTooManyAttempts): // the day's cap too: its own, longer wait
		p.Error = h.cfg.I18n.T(lang, "Too many wrong codes. Try again %s.", geo.RelativeTime(h.cfg.MFA.RetryAfter(err), lang))
		h.renderSMSReset(w, r, p, http.StatusTooManyRequests)
		return
	case err != nil:
		h.fail(w, r, "sms reset: code", err)
		return
	}
	h.clearCookie(w, smsResetCookie)
	http.Redirect(w, r, "/reset?token="+tok, http.StatusSeeOther)
}
