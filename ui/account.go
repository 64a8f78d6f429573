package ui

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

func (h *Handler) mountAccount(r *mux.Router) {
	r.HandleFunc("/account", h.accountGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/password", h.accountPassword).Methods(http.MethodPost)
	r.HandleFunc("/account/email", h.accountEmail).Methods(http.MethodPost)
	r.HandleFunc("/account/email/confirm", h.emailConfirmGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/email/confirm", h.emailConfirmPost).Methods(http.MethodPost)
	r.HandleFunc("/account/delete", h.accountDelete).Methods(http.MethodPost)
}

type activityRow struct{ What, When, IP, Client string }

type accountPage struct {
	common
	Email       string
	CountryName string
	RegionName  string
	ZoneInfo    string
	Today       string
	SignedInAt  string
	Flash       string
	Errors      map[string]string
	Activity    []activityRow
	// Summaries for the dashboard's devices and apps sections (the first few of each; the
	// full lists are on their own pages).
	Sessions      []sessionRow
	Installations []installationRow
	Apps          []appRow
	// Licences (issue 14): shown when the licences page is served.
	LicencesOn bool
	Licences   []licenceRow
}

// dashboardItems is how many browsers, installations or apps the dashboard names before
// pointing to the full page.
const dashboardItems = 4

func firstFew[T any](rows []T) []T {
	if len(rows) > dashboardItems {
		return rows[:dashboardItems]
	}
	return rows
}

// eventText names audit event types in plain words (translated in the template).
var eventText = map[string]string{
	"login":                      i18n.N("Sign-in"),
	"login_failed":               i18n.N("Failed sign-in"),
	"current_password_failed":    i18n.N("Wrong current password"),
	"locked_out":                 i18n.N("Sign-in locked"),
	"password_changed":           i18n.N("Password changed"),
	"password_reset":             i18n.N("Password reset"),
	"reset_requested":            i18n.N("Password reset requested"),
	"email_changed":              i18n.N("Email changed"),
	"registered":                 i18n.N("Account created"),
	"activated":                  i18n.N("Account activated"),
	"profile_updated":            i18n.N("Profile updated"),
	"registration_attempt":       i18n.N("Someone tried to register with your email"),
	account.MailLostEvent:        i18n.N("An email to you could not be delivered"),
	phone.SMSLostEvent:           i18n.N("A text message to you could not be sent"),
	backchannel.LostEvent:        i18n.N("An app was not told that you signed out"),
	"device_signed_out":          i18n.N("Device signed out"),
	"mfa_added":                  i18n.N("Second factor added"),
	"mfa_removed":                i18n.N("Second factor removed"),
	"mfa_passed":                 i18n.N("Two-step verification passed"),
	"mfa_failed":                 i18n.N("Wrong two-step verification code"),
	"mfa_cloned_key":             i18n.N("Copied security key blocked"),
	"trusted_browsers_forgotten": i18n.N("Remembered browsers forgotten"),
	"signed_out_everywhere":      i18n.N("Signed out everywhere else"),
	"device_approved":            i18n.N("Device connected"),
	"device_denied":              i18n.N("Device request denied"),
	"app_access_removed":         i18n.N("App access removed"),
	"licence_added":              i18n.N("Licence added"),
	"licence_redeem_failed":      i18n.N("Activation code refused"),
	"licence_activated":          i18n.N("Licence activated on a device"),
	"licence_freed":              i18n.N("Licence removed from a device"),
	"licence_expired":            i18n.N("Licence expired"),
	"licence_revoked":            i18n.N("Licence revoked"),
	"licence_extended":           i18n.N("Licence extended"),
}

// signedIn returns the session and user, redirecting to sign-in when there is none.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	s, u, err := h.resolveSession(r)
	switch {
	case errors.Is(err, sessions.ErrNoSession):
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, nil, false
	case err != nil:
		// Not signed out: the database failed. Sending the person to sign in would be wrong.
		h.fail(w, r, "resolve session", err)
		return nil, nil, false
	}
	return s, u, true
}

// signedInPost checks a signed-in person's form post: its CSRF token, then the session.
func (h *Handler) signedInPost(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	if !h.parsePost(w, r) {
		return nil, nil, false
	}
	return h.signedIn(w, r)
}

func (h *Handler) renderAccount(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User, flash string, errs map[string]string, status int) {
	c := h.commonFor(w, r, i18n.N("Your account"), u)
	p := accountPage{common: c, Email: u.Email, ZoneInfo: h.cfg.Geo.ZoneLabel(u.ZoneInfo, c.Lang, h.now()), Flash: flash, Errors: errs,
		Today: geo.FormatDateIn(h.now(), u.DateFormat, u.ZoneInfo, c.Lang), SignedInAt: h.formatTime(s.AuthTime, u, c.Lang)}
	for _, ct := range h.cfg.Geo.Countries(c.Lang) {
		if ct.Code == u.Country {
			p.CountryName = ct.Name
		}
	}
	p.RegionName = h.cfg.Geo.RegionName(u.Country, u.Region, c.Lang)
	// A list that cannot be read is our failure (503), never an empty list: "no app has
	// access" must not be said when we could not look.
	sessions, err := h.listSessions(r, u, s)
	if err != nil {
		h.fail(w, r, "list sessions", err)
		return
	}
	p.Sessions = firstFew(sessions)
	installations, err := h.listInstallations(r, u)
	if err != nil {
		h.fail(w, r, "list installations", err)
		return
	}
	p.Installations = firstFew(installations)
	apps, err := h.listApps(r, c, u)
	if err != nil {
		h.fail(w, r, "list apps", err)
		return
	}
	p.Apps = firstFew(apps)
	if h.cfg.Licences != nil {
		p.LicencesOn = true
		rows, err := h.licenceRows(r, u, c.Lang)
		if err != nil {
			h.fail(w, r, "list licences", err)
			return
		}
		p.Licences = firstFew(rows)
	}
	events, err := h.cfg.Accounts.RecentActivity(r.Context(), u.ID, 20)
	if err != nil {
		h.fail(w, r, "list audit events", err)
		return
	}
	for _, e := range events {
		what := eventText[e.Type]
		if what == "" {
			what = e.Type
		}
		p.Activity = append(p.Activity, activityRow{What: what, When: h.formatTime(e.CreatedAt, u, c.Lang), IP: e.IP, Client: e.ClientName})
	}
	h.render(w, r, status, "account", p)
}

// accountGet is the signed-in person's dashboard; an incomplete profile is completed first.
func (h *Handler) accountGet(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	if !account.Complete(u) {
		http.Redirect(w, r, "/profile", http.StatusSeeOther)
		return
	}
	flash := ""
	switch r.URL.Query().Get("done") {
	case "email":
		flash = h.cfg.I18n.T(h.lang(r, u), "Check your new mailbox: we sent a link to confirm the change.")
	case "password":
		flash = h.cfg.I18n.T(h.lang(r, u), "Your password was changed.")
	case "email-changed":
		flash = h.cfg.I18n.T(h.lang(r, u), "Your email address was changed.")
	}
	h.renderAccount(w, r, s, u, flash, nil, http.StatusOK)
}

func (h *Handler) accountPassword(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	lang := h.lang(r, u)
	pw := r.PostFormValue("password")
	fail := func(msg string) { h.renderAccount(w, r, s, u, "", map[string]string{"password": msg}, http.StatusOK) }
	if msg := h.passwordProblem(lang, pw, u.Email); msg != "" {
		fail(msg)
		return
	}
	if pw != r.PostFormValue("confirm") {
		fail(h.cfg.I18n.T(lang, "The passwords do not match."))
		return
	}
	// Every session ends with the change; this browser continues with a new one, which keeps
	// the sign-in of the session the change was made from, committed with the change.
	var token string
	err := h.cfg.Accounts.ChangePassword(r.Context(), u, r.PostFormValue("current"), pw, h.withDevice(r, h.meta(r, lang)),
		func(ctx context.Context, tx storage.Store) (err error) {
			token, err = h.continueIn(ctx, tx, r, s)
			return err
		})
	if errors.Is(err, account.ErrPasswordChanged) {
		// The form sent again after its change: the same page as the first answer.
		http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
		return
	}
	if msg, status := h.currentPasswordProblem(lang, err); msg != "" {
		h.renderAccount(w, r, s, u, "", map[string]string{"password": msg}, status)
		return
	}
	if errors.Is(err, account.ErrPasswordPredictable) {
		fail(h.cfg.I18n.T(lang, "Do not build the password from your email address, the product name or a keyboard row."))
		return
	}
	if msg := h.passwordProblemOf(lang, err); msg != "" {
		fail(msg)
		return
	}
	if err != nil {
		h.fail(w, r, "change password", err)
		return
	}
	h.setSessionCookie(w, token)
	http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
}

func (h *Handler) accountEmail(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	lang := h.lang(r, u)
	err := h.cfg.Accounts.StartEmailChange(r.Context(), u, r.PostFormValue("current"), strings.TrimSpace(r.PostFormValue("email")), h.withDevice(r, h.meta(r, lang)))
	if msg, status := h.currentPasswordProblem(lang, err); msg != "" {
		h.renderAccount(w, r, s, u, "", map[string]string{"email": msg}, status)
		return
	}
	if errors.Is(err, account.ErrInvalidEmail) {
		h.renderAccount(w, r, s, u, "", map[string]string{"email": h.cfg.I18n.T(lang, "Enter a valid email address.")}, http.StatusOK)
		return
	}
	if err != nil {
		// Ours, not the person's: the fault middleware answers 503 for a failed dependency.
		h.fail(w, r, "start email change", err)
		return
	}
	http.Redirect(w, r, "/account?done=email", http.StatusSeeOther)
}

func (h *Handler) emailConfirmGet(w http.ResponseWriter, r *http.Request) {
	c := h.common(w, r, i18n.N("Change email"))
	h.render(w, r, http.StatusOK, "confirm", confirmPage{common: c, Heading: c.T("Change email"),
		Message: c.T("Click the button to confirm your new email address."), Action: "/account/email/confirm",
		Token: r.URL.Query().Get("token"), Button: c.T("Confirm")})
}

func (h *Handler) emailConfirmPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	lang := h.lang(r, nil)
	_, err := h.cfg.Accounts.ConfirmEmailChange(r.Context(), r.PostFormValue("token"), h.meta(r, lang))
	if h.usedLink(w, r, err) {
		return
	}
	if err != nil && !errors.Is(err, account.ErrLinkInvalid) {
		h.fail(w, r, "confirm email change", err)
		return
	}
	if err != nil {
		h.message(w, r, http.StatusBadRequest, i18n.N("This link has expired or was already used."), h.cfg.I18n.T(lang, "Change the email again from your account."), func(mp *messagePage) {
			mp.Alert, mp.LinkURL, mp.LinkText = true, "/account", h.cfg.I18n.T(lang, "Go to your account")
		})
		return
	}
	http.Redirect(w, r, "/account?done=email-changed", http.StatusSeeOther)
}

func (h *Handler) accountDelete(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	lang := h.lang(r, u)
	err := h.cfg.Accounts.DeleteAccount(r.Context(), u, r.PostFormValue("current"), h.withDevice(r, h.meta(r, lang)))
	if msg, status := h.currentPasswordProblem(lang, err); msg != "" {
		h.renderAccount(w, r, s, u, "", map[string]string{"delete": msg}, status)
		return
	}
	if err != nil {
		h.fail(w, r, "delete account", err)
		return
	}
	h.endSession(w, r)
	h.message(w, r, http.StatusOK, i18n.N("Account deleted"), h.cfg.I18n.T(lang, "Your account and everything in it was deleted."), nil)
}

// currentPasswordProblem is the localized answer to a refused current password, and its
// status: wrong, or too many wrong ones (they count and lock like sign-in failures). "" when
// err is none of those.
func (h *Handler) currentPasswordProblem(lang string, err error) (string, int) {
	var locked *account.LockedError
	switch {
	case errors.Is(err, account.ErrInvalidCredentials):
		return h.cfg.I18n.T(lang, "The current password is incorrect."), http.StatusOK
	case errors.As(err, &locked):
		return h.lockoutText(lang, locked.Until, nil), http.StatusTooManyRequests
	case errors.Is(err, account.ErrTooManyAttempts):
		return h.cfg.I18n.T(lang, "Too many requests. Please try again later."), http.StatusTooManyRequests
	}
	return "", 0
}

// passwordProblemOf is the localized reason the account rules refused a new password (rules
// that need the account, such as its email), or "".
func (h *Handler) passwordProblemOf(lang string, err error) string {
	switch {
	case errors.Is(err, account.ErrPasswordTooShort):
		return h.cfg.I18n.T(lang, "Use at least %d characters.", h.cfg.Accounts.MinPasswordLength())
	case errors.Is(err, account.ErrPasswordTooLong):
		return h.cfg.I18n.T(lang, "Use at most %d characters.", account.MaxPasswordLen)
	case errors.Is(err, account.ErrPasswordCommon):
		return h.cfg.I18n.T(lang, "This password is too common. Choose another.")
	}
	return ""
}
