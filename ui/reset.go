package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/storage"
)

func (h *Handler) mountReset(r *mux.Router) {
	r.HandleFunc("/forgot", h.forgotGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/forgot", h.forgotPost).Methods(http.MethodPost)
	r.HandleFunc("/reset", h.resetGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/reset", h.resetPost).Methods(http.MethodPost)
}

type forgotPage struct {
	common
	AuthRequestID string
	Email         string
	Error         string
	Sent          bool
	// SMS offers the reset by a code sent to a confirmed number (accounts.reset_by_sms).
	SMS bool
	// Validity is how long the link works, in the page's language (the account service's).
	Validity string
}

func (h *Handler) forgotGet(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgot", forgotPage{common: h.common(w, r, i18n.N("Reset your password")),
		AuthRequestID: r.URL.Query().Get("authRequestID"), SMS: h.smsResetOn()})
}

// forgotPost answers identically whether or not the email has an account.
func (h *Handler) forgotPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	c := h.common(w, r, i18n.N("Reset your password"))
	email := strings.TrimSpace(r.PostFormValue("email"))
	p := forgotPage{common: c, AuthRequestID: r.PostFormValue("authRequestID"), Email: email, SMS: h.smsResetOn()}
	if account.ValidateEmail(email) != nil {
		p.Error = c.T("Enter a valid email address.")
		h.render(w, r, http.StatusOK, "forgot", p)
		return
	}
	if err := h.cfg.Accounts.StartReset(r.Context(), email, h.meta(r, c.Lang)); err != nil {
		// Ours (the limit counter, the queue): "try again", not a link that was never sent.
		// Every address is counted and queued alike, so this answer tells nothing of it.
		h.fail(w, r, "start reset", err)
		return
	}
	p.Sent = true
	p.Validity = geo.FormatDuration(h.cfg.Accounts.ResetLinkValidity(), c.Lang)
	h.render(w, r, http.StatusOK, "forgot", p)
}

type resetPage struct {
	common
	Token  string
	MinLen int
	Errors map[string]string
	// Email is the link's account, in a hidden username field for password managers, so
	// they save the new password under the right name.
	Email string
}

func (h *Handler) resetGet(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	email, usable, err := h.cfg.Accounts.LinkEmail(r.Context(), token, storage.TokenReset)
	if h.usedLink(w, r, err) {
		return
	}
	if err != nil {
		h.fail(w, r, "check reset link", err)
		return
	}
	if !usable {
		// Said up front, with the way to a new link: not after typing a password twice.
		h.deadResetLink(w, r, http.StatusOK) // a page that explains, not a failed request
		return
	}
	h.render(w, r, http.StatusOK, "reset", resetPage{common: h.common(w, r, i18n.N("Set a new password")),
		Token: token, MinLen: h.cfg.Accounts.MinPasswordLength(), Email: email})
}

// deadResetLink tells that a reset link is used up or expired and offers a new one.
func (h *Handler) deadResetLink(w http.ResponseWriter, r *http.Request, status int) {
	lang := h.lang(r, nil)
	h.message(w, r, status, i18n.N("This link has expired or was already used."),
		h.cfg.I18n.T(lang, "Ask for a new link to reset your password."), func(mp *messagePage) {
			mp.Alert, mp.LinkURL, mp.LinkText = true, "/forgot", h.cfg.I18n.T(lang, "Get a new link")
		})
}

func (h *Handler) resetPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	c := h.common(w, r, i18n.N("Set a new password"))
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	p := resetPage{common: c, Token: r.PostFormValue("token"), MinLen: h.cfg.Accounts.MinPasswordLength(), Errors: map[string]string{}}
	if msg := h.passwordProblem(c.Lang, pw); msg != "" {
		p.Errors["password"] = msg
	} else if pw != confirm {
		p.Errors["confirm"] = c.T("The passwords do not match.")
	}
	if len(p.Errors) > 0 {
		if !h.resetEmail(w, r, &p) {
			return
		}
		h.render(w, r, http.StatusOK, "reset", p)
		return
	}
	_, err := h.cfg.Accounts.Reset(r.Context(), p.Token, pw, h.meta(r, c.Lang))
	switch {
	case h.usedLink(w, r, err):
		return
	case errors.Is(err, account.ErrLinkInvalid):
		h.deadResetLink(w, r, http.StatusBadRequest)
		return
	case errors.Is(err, account.ErrPasswordTooShort), errors.Is(err, account.ErrPasswordTooLong), errors.Is(err, account.ErrPasswordCommon):
		// Refused with the link's account in view (built from its address): the check above
		// could not know whose link it is. The link is still usable.
		p.Errors["password"] = h.passwordErrorText(c.Lang, err)
		if !h.resetEmail(w, r, &p) {
			return
		}
		h.render(w, r, http.StatusOK, "reset", p)
		return
	case errors.Is(err, account.ErrLocked):
		h.message(w, r, http.StatusForbidden, i18n.N("Request refused"), c.T("This account is locked. Please contact support."), nil)
		return
	case err != nil:
		h.fail(w, r, "reset password", err)
		return
	}
	h.endSession(w, r)
	h.message(w, r, http.StatusOK, i18n.N("Set a new password"), c.T("Your password was changed. Please sign in with the new one."), func(mp *messagePage) {
		mp.LinkURL, mp.LinkText = "/login", c.T("Sign in")
	})
}

// resetEmail fills in the address of the reset link's account for the page shown again with
// an error (the hidden username field password managers save the new password under). A
// failure to read it is ours, answered here (false): the page would otherwise lose the field
// without a word. A link that no longer works leaves it empty: the reset itself says so.
func (h *Handler) resetEmail(w http.ResponseWriter, r *http.Request, p *resetPage) bool {
	email, _, err := h.cfg.Accounts.LinkEmail(r.Context(), p.Token, storage.TokenReset)
	if err != nil && !errors.Is(err, account.ErrLinkInvalid) { // a used link's error is one too
		h.fail(w, r, "reset link's account", err)
		return false
	}
	p.Email = email
	return true
}
