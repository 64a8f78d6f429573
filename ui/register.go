package ui

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/captcha"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/secret"
)

func (h *Handler) mountRegister(r *mux.Router) {
	r.HandleFunc("/register", h.registerGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/register", h.registerPost).Methods(http.MethodPost)
	r.HandleFunc("/register/captcha", h.registerCaptcha).Methods(http.MethodPost)
	r.HandleFunc("/register/check", h.registerCheck).Methods(http.MethodPost)
	r.HandleFunc("/activate", h.activateGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/activate", h.activatePost).Methods(http.MethodPost)
	r.HandleFunc("/activate/resend", h.resendPost).Methods(http.MethodPost)
}

type registerPage struct {
	common
	AuthRequestID string
	ClientName    string
	Email         string
	MinLen        int
	CaptchaID     string
	CaptchaImage  template.URL
	CaptchaAudio  template.URL
	// FormID follows the form through its reloads, so new pictures are limited per form.
	FormID string
	// Pass is set when the person already solved the captcha and the form comes back for
	// another reason: it carries the solved captcha instead of a new picture.
	Pass *captcha.Pass
	// Password refills both password fields when they were valid and matched but something
	// else was wrong, so a slip elsewhere does not cost the typing (the page is no-store).
	Password string
	Errors   map[string]string
	Focus    string
}

// messagePage is a plain page with a heading, a message and optional next steps.
type messagePage struct {
	common
	Heading      string
	Message      string
	Alert        bool
	ResendEmail  string
	ResendAction string
	LinkURL      string
	LinkText     string
	// MoreURL and MoreText are a second way on, below the first.
	MoreURL  string
	MoreText string
}

func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, heading, msg string, fill func(*messagePage)) {
	c := h.common(w, r, heading)
	p := messagePage{common: c, Heading: c.T(heading), Message: msg}
	if fill != nil {
		fill(&p)
	}
	h.render(w, r, status, "message", p)
}

func (h *Handler) renderRegister(w http.ResponseWriter, r *http.Request, p registerPage, status int) {
	p.common = h.common(w, r, i18n.N("Create account"))
	p.MinLen = h.cfg.Accounts.MinPasswordLength()
	w.Header().Set("Cache-Control", "no-store") // the page may carry the typed password
	// Without the request the person would register and not go on to the application.
	f, err := h.optionalFlow(r, p.AuthRequestID)
	if err != nil {
		h.fail(w, r, "registration page: the sign-in it continues", err)
		return
	}
	if f != nil {
		p.ClientName = f.client.Name
	} else {
		p.AuthRequestID = ""
	}
	if p.FormID == "" {
		p.FormID = secret.RandomToken(16)
	}
	if p.Pass == nil {
		ch, err := h.cfg.Captcha.NewFor(r.Context(), p.Lang, h.cfg.ClientIP(r), p.FormID)
		if errors.Is(err, captcha.ErrTooMany) {
			h.captchaLimited(w, r)
			return
		}
		if err != nil {
			h.fail(w, r, "new captcha", err)
			return
		}
		p.CaptchaID, p.CaptchaImage, p.CaptchaAudio = ch.ID, ch.ImageDataURL(), ch.AudioDataURL()
	}
	h.render(w, r, status, "register", p)
}

func (h *Handler) registerGet(w http.ResponseWriter, r *http.Request) {
	h.renderRegister(w, r, registerPage{AuthRequestID: r.URL.Query().Get("authRequestID")}, http.StatusOK)
}

func (h *Handler) registerPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	lang := h.lang(r, nil)
	T := func(msg string, args ...any) string { return h.cfg.I18n.T(lang, msg, args...) }
	email := strings.TrimSpace(r.PostFormValue("email"))
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	p := registerPage{AuthRequestID: r.PostFormValue("authRequestID"), Email: email, Errors: map[string]string{}, FormID: formID(r.PostFormValue("form_id"))}
	if r.PostFormValue("action") == "reload" {
		p.Focus = "captcha"
		h.renderRegister(w, r, p, http.StatusOK)
		return
	}
	// The captcha is checked (and consumed) first, whatever else is wrong: one answer per picture.
	ok, err := h.cfg.Captcha.VerifyFrom(r.Context(), r.PostFormValue("captcha_id"), r.PostFormValue("captcha"), h.cfg.ClientIP(r))
	switch {
	case errors.Is(err, captcha.ErrTooMany):
		h.captchaLimited(w, r)
		return
	case errors.Is(err, captcha.ErrExpired):
		p.Errors["captcha"] = T("These numbers have expired. Here are new ones.")
	case err != nil:
		h.fail(w, r, "verify captcha", err)
		return
	case !ok:
		// "Numbers", not "picture": people who listened to them read this too.
		p.Errors["captcha"] = T("Those were not the numbers. Try the new ones.")
	}
	if account.ValidateEmail(email) != nil {
		p.Errors["email"] = T("Enter a valid email address.")
	}
	if msg := h.passwordProblem(lang, pw, email); msg != "" {
		p.Errors["password"] = msg
	} else if pw != confirm {
		p.Errors["confirm"] = T("The passwords do not match.")
	}
	if len(p.Errors) > 0 {
		p.Focus = firstOf(p.Errors, "email", "password", "confirm", "captcha")
		if ok {
			// Solved once is enough: the form comes back with a pass, not a new picture.
			if p.Pass, err = h.cfg.Captcha.NewPass(r.Context()); err != nil {
				h.fail(w, r, "captcha pass", err)
				return
			}
		}
		if p.Errors["password"] == "" && p.Errors["confirm"] == "" {
			p.Password = pw
		}
		h.renderRegister(w, r, p, http.StatusOK)
		return
	}
	m := h.meta(r, lang)
	m.Continue = p.AuthRequestID
	if err := h.cfg.Accounts.Register(r.Context(), email, pw, m); err != nil {
		h.fail(w, r, "register", err)
		return
	}
	// The same page whether the address was new or already registered.
	h.message(w, r, http.StatusOK, i18n.N("Check your email"), T("We sent a link to %s. Follow it to activate your account. The link is valid for %s.", email,
		geo.FormatDuration(h.cfg.Accounts.ActivationLinkValidity(), lang)), func(mp *messagePage) {
		mp.ResendEmail, mp.ResendAction = email, "/activate/resend"
	})
}

// registerCaptcha gives the registration page a new picture and recording in place (the
// "New picture" button with JavaScript), so nothing typed is lost.
func (h *Handler) registerCaptcha(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	lang := h.lang(r, nil)
	ch, err := h.cfg.Captcha.NewFor(r.Context(), lang, h.cfg.ClientIP(r), formID(r.PostFormValue("form_id")))
	if errors.Is(err, captcha.ErrTooMany) {
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": h.cfg.I18n.T(lang, "Too many requests. Please try again later.")})
		return
	}
	if err != nil {
		h.fail(w, r, "new captcha", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": ch.ID, "image": string(ch.ImageDataURL()), "audio": string(ch.AudioDataURL())})
}

// registerCheck tells the page, before it is sent, what the server would say about a new
// password (length, common passwords), so a slip is caught without losing the captcha.
func (h *Handler) registerCheck(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"problem": h.passwordProblem(h.lang(r, nil), r.PostFormValue("password"), r.PostFormValue("email"))})
}

// captchaLimited answers a client that asked for too many pictures or gave too many wrong
// answers: no new picture until the window passes.
func (h *Handler) captchaLimited(w http.ResponseWriter, r *http.Request) {
	h.cfg.Logger.WarnContext(r.Context(), "captcha limit reached", "ip", h.cfg.ClientIP(r))
	w.Header().Set("Retry-After", "3600")
	h.message(w, r, http.StatusTooManyRequests, i18n.N("Create account"),
		h.cfg.I18n.T(h.lang(r, nil), "Too many requests. Please try again later."), func(mp *messagePage) { mp.Alert = true })
}

// formID keeps a posted form id only when it looks like one we issued.
func formID(v string) string {
	if len(v) < 16 || len(v) > 64 || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return ""
	}
	return v
}

// passwordProblem returns the localized reason a new password is refused, or "".
// context are the account's own words (its email) that a password must not be built from.
func (h *Handler) passwordProblem(lang, pw string, context ...string) string {
	return h.passwordErrorText(lang, h.cfg.Accounts.ValidatePassword(pw, context...))
}

// passwordErrorText is the localized reason for a password refusal of the account rules
// (ValidatePassword's errors), or "" for nil.
func (h *Handler) passwordErrorText(lang string, err error) string {
	T := func(msg string, args ...any) string { return h.cfg.I18n.T(lang, msg, args...) }
	switch {
	case errors.Is(err, account.ErrPasswordPredictable):
		return T("Do not build the password from your email address, the product name or a keyboard row.")
	case errors.Is(err, account.ErrPasswordTooShort):
		return T("Use at least %d characters.", h.cfg.Accounts.MinPasswordLength())
	case errors.Is(err, account.ErrPasswordTooLong):
		return T("Use at most %d characters.", account.MaxPasswordLen)
	case errors.Is(err, account.ErrPasswordCommon):
		return T("This password is too common. Choose another.")
	case err != nil:
		return T("Something went wrong")
	}
	return ""
}

func firstOf(errs map[string]string, order ...string) string {
	for _, f := range order {
		if _, ok := errs[f]; ok {
			return f
		}
	}
	return ""
}

func (h *Handler) meta(r *http.Request, lang string) account.Meta {
	return account.Meta{IP: h.cfg.ClientIP(r), UserAgent: r.UserAgent(), Lang: lang}
}

// activateGet asks for a click before activating: mail scanners fetch links, and a GET must
// not use up the single-use token.
func (h *Handler) activateGet(w http.ResponseWriter, r *http.Request) {
	c := h.common(w, r, i18n.N("Activate your account"))
	h.render(w, r, http.StatusOK, "confirm", confirmPage{common: c, Heading: c.T("Activate your account"),
		Message: c.T("Click the button to confirm your email address and activate your account."), Action: "/activate",
		Token: r.URL.Query().Get("token"), Button: c.T("Activate")})
}

type confirmPage struct {
	common
	Heading, Message, Action, Token, Button string
}

func (h *Handler) activatePost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	lang := h.lang(r, nil)
	_, cont, err := h.cfg.Accounts.Activate(r.Context(), r.PostFormValue("token"), h.meta(r, lang))
	if h.usedLink(w, r, err) {
		return
	}
	if err != nil && !errors.Is(err, account.ErrLinkInvalid) {
		// Ours: "expired" would send the person to register again for nothing.
		h.fail(w, r, "activate", err)
		return
	}
	if err != nil {
		h.message(w, r, http.StatusBadRequest, i18n.N("This link has expired or was already used."),
			h.cfg.I18n.T(lang, "Sign in to get a new activation link, or create the account again."), func(mp *messagePage) {
				mp.Alert, mp.LinkURL, mp.LinkText = true, "/login", h.cfg.I18n.T(lang, "Sign in")
			})
		return
	}
	h.activated(w, r, cont)
}

// resendPost mails a fresh activation link; the answer is the same for every address.
func (h *Handler) resendPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	lang := h.lang(r, nil)
	email := strings.TrimSpace(r.PostFormValue("email"))
	if _, err := h.cfg.Accounts.ResendActivation(r.Context(), email, h.meta(r, lang)); err != nil {
		// Ours, and met by every address alike: "try again", not a claim that a link went.
		h.fail(w, r, "resend activation", err)
		return
	}
	h.message(w, r, http.StatusOK, i18n.N("Check your email"),
		h.cfg.I18n.T(lang, "If %s has an account waiting for activation, we sent it a new link. We send at most a few per hour.", email), nil)
}
