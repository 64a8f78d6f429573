package ui

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/internal/sms"
	"github.com/myaccount/myaccount/storage"
)

// The person's phone number (issue 15): add, change or remove it, typed in national form
// for a country (their profile's by default) or internationally, confirmed by a code sent
// to it by SMS. The rules are internal/phone's; the limits on sending internal/sms's.

func (h *Handler) mountPhone(r *mux.Router) {
	if h.cfg.Phones == nil {
		return
	}
	r.HandleFunc("/account/phone", h.phoneGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/phone", h.phoneSend).Methods(http.MethodPost)
	r.HandleFunc("/account/phone/verify", h.phoneVerify).Methods(http.MethodPost)
	r.HandleFunc("/account/phone/resend", h.phoneResend).Methods(http.MethodPost)
	r.HandleFunc("/account/phone/remove", h.phoneRemove).Methods(http.MethodPost)
}

var phoneDone = map[string]string{
	"verified": i18n.N("Your phone number was confirmed."),
	"removed":  i18n.N("Your phone number was removed."),
	"resent":   i18n.N("We sent a new code."),
}

type phonePage struct {
	common
	Countries []geo.Country
	Country   string
	Number    string // what was typed, shown again with an error
	Verified  string // the verified number, for display
	Pending   string // the number waiting for its code, for display
	Validity  string // how long its code works (phone.CodeTTL), in the page's language
	Flash     string
	// Errors by field: number, code, resend.
	Errors map[string]string
	Focus  string
	// Stale: the sign-in is too old for this change; ReauthURL signs in again.
	Stale     bool
	ReauthURL string
}

// renderPhone shows the page with the person's current state.
func (h *Handler) renderPhone(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User, p phonePage, status int) {
	p.common = h.commonFor(w, r, i18n.N("Phone number"), u)
	verified, pending, err := h.cfg.Phones.State(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, "phone state", err)
		return
	}
	if verified != nil {
		p.Verified = phone.Display(verified.E164)
	}
	if pending != nil {
		p.Pending = phone.Display(pending.E164)
	}
	if p.Country == "" {
		p.Country = u.Country
	}
	p.Countries = h.cfg.Geo.Countries(p.Lang)
	p.Validity = geo.FormatDuration(phone.CodeTTL, p.Lang)
	if _, ok, err := h.fresh(r, s); err != nil {
		h.fail(w, r, "recent sign-in", err)
		return
	} else if !ok {
		p.Stale = true
		p.ReauthURL = "/login?" + url.Values{"reauth": {"1"}, "return": {"/account/phone"}}.Encode()
	}
	h.render(w, r, status, "phone", p)
}

func (h *Handler) phoneGet(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	p := phonePage{}
	if msg, ok := phoneDone[r.URL.Query().Get("done")]; ok {
		p.Flash = h.cfg.I18n.T(h.lang(r, u), msg)
	}
	h.renderPhone(w, r, s, u, p, http.StatusOK)
}

// phonePost checks a post to the page: CSRF, session, and a recent sign-in, since the
// number becomes a way to sign in and to reset the password.
func (h *Handler) phonePost(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, sessions.Recent, bool) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return nil, nil, sessions.Recent{}, false
	}
	rc, ok, err := h.fresh(r, s)
	if err != nil {
		h.fail(w, r, "recent sign-in", err)
		return nil, nil, sessions.Recent{}, false
	}
	if !ok {
		h.renderPhone(w, r, s, u, phonePage{}, http.StatusForbidden)
		return nil, nil, sessions.Recent{}, false
	}
	return s, u, rc, true
}

// phoneSend sends a code to the number typed.
func (h *Handler) phoneSend(w http.ResponseWriter, r *http.Request) {
	s, u, rc, ok := h.phonePost(w, r)
	if !ok {
		return
	}
	lang := h.lang(r, u)
	p := phonePage{Country: r.PostFormValue("country"), Number: truncate(r.PostFormValue("number"), 64)}
	e164, err := phone.Parse(p.Number, p.Country)
	if err != nil {
		p.Errors = map[string]string{"number": h.cfg.I18n.T(lang,
			"Enter a phone number that can receive text messages, as you would dial it in the country chosen, or starting with + and the country code.")}
		p.Focus = "number"
		h.renderPhone(w, r, s, u, p, http.StatusUnprocessableEntity)
		return
	}
	err = h.cfg.Phones.Start(r.Context(), rc, e164, h.cfg.ClientIP(r), lang)
	if h.phoneSendErr(w, r, s, u, &p, err, "number") {
		return
	}
	p.Focus = "code"
	h.renderPhone(w, r, s, u, p, http.StatusOK)
}

// phoneSendErr answers a failed send (start or resend); false when err is nil.
func (h *Handler) phoneSendErr(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User, p *phonePage, err error, field string) bool {
	lang := h.lang(r, u)
	var soon *phone.TooSoonError
	var msg string
	status := http.StatusTooManyRequests
	switch {
	case err == nil:
		return false
	case errors.As(err, &soon):
		secs := int(math.Ceil(soon.Wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		msg = h.cfg.I18n.T(lang, "You can ask for another code %s.", geo.RelativeTime(soon.Wait, lang))
	case errors.Is(err, sms.ErrRefused):
		// One answer for every limit and for a country we do not send to.
		msg = h.cfg.I18n.T(lang, "We cannot send a code to this number right now. Try again later or use another number.")
		status = http.StatusUnprocessableEntity
	case errors.Is(err, phone.ErrNoCode):
		msg = h.cfg.I18n.T(lang, "There is no code waiting. Enter your number again.")
		status, field = http.StatusUnprocessableEntity, "number"
	default:
		h.fail(w, r, "send phone code", err)
		return true
	}
	p.Errors = map[string]string{field: msg}
	p.Focus = field
	h.renderPhone(w, r, s, u, *p, status)
	return true
}

func (h *Handler) phoneResend(w http.ResponseWriter, r *http.Request) {
	s, u, rc, ok := h.phonePost(w, r)
	if !ok {
		return
	}
	p := phonePage{}
	if h.phoneSendErr(w, r, s, u, &p, h.cfg.Phones.Resend(r.Context(), rc, h.cfg.ClientIP(r), h.lang(r, u)), "code") {
		return
	}
	http.Redirect(w, r, "/account/phone?done=resent", http.StatusSeeOther)
}

func (h *Handler) phoneVerify(w http.ResponseWriter, r *http.Request) {
	s, u, rc, ok := h.phonePost(w, r)
	if !ok {
		return
	}
	lang := h.lang(r, u)
	code := digitsOnly(r.PostFormValue("code"))
	// The number can now receive sign-in and reset codes: its owner hears of it by mail,
	// written with the confirmation.
	told := h.cfg.Accounts.FactorNotice(u, "phone", false, h.meta(r, lang))
	_, err := h.cfg.Phones.Confirm(r.Context(), rc, code, told.In)
	var msg string
	field := "code"
	switch {
	case err == nil:
		told.Committed(r.Context())
		http.Redirect(w, r, "/account/phone?done=verified", http.StatusSeeOther)
		return
	case errors.Is(err, phone.ErrConfirmed):
		// The form sent again after it confirmed the number: the first answer's page.
		http.Redirect(w, r, "/account/phone?done=verified", http.StatusSeeOther)
		return
	case errors.Is(err, phone.ErrWrongCode):
		msg = h.cfg.I18n.T(lang, "The code is not correct. Check the last text message we sent and try again.")
	case errors.Is(err, phone.ErrNoCode):
		msg = h.cfg.I18n.T(lang, "This code no longer works: it expired or was entered wrongly too often. Ask for a new one.")
		field = "number" // the code's field is gone with its code: said where a new one is asked for
	case errors.Is(err, phone.ErrTaken):
		msg = h.cfg.I18n.T(lang, "This number is already confirmed on another account. Remove it there first.")
	default:
		h.fail(w, r, "confirm phone", err)
		return
	}
	h.renderPhone(w, r, s, u, phonePage{Errors: map[string]string{field: msg}, Focus: field}, http.StatusUnprocessableEntity)
}

func (h *Handler) phoneRemove(w http.ResponseWriter, r *http.Request) {
	_, u, rc, ok := h.phonePost(w, r)
	if !ok {
		return
	}
	told := h.cfg.Accounts.FactorNotice(u, "phone", true, h.meta(r, h.lang(r, u)))
	if err := h.cfg.Phones.Remove(r.Context(), rc, told.In); err != nil {
		h.fail(w, r, "remove phone", err)
		return
	}
	told.Committed(r.Context())
	http.Redirect(w, r, "/account/phone?done=removed", http.StatusSeeOther)
}

// digitsOnly keeps the digits of a typed code ("123 456" and "123-456" are fine).
func digitsOnly(s string) string {
	out := make([]byte, 0, 6)
	for i := 0; i < len(s) && len(out) < 16; i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return string(out)
}
