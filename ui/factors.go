package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// The security page (/account/security) is where a signed-in person adds and removes second
// factors: authenticator apps (TOTP), security keys and passkeys (WebAuthn), recovery codes
// and remembered browsers. A sign-in that needs two-step verification from someone without a
// factor lands here with ?enrol=1&authRequestID=…, and continues once a factor is added.

const (
	// Recovery codes travel from the request that made them to the one page that shows them
	// in a sealed cookie (never in SQL as plain text), shown once: the cookie is cleared and a
	// counter on its nonce refuses a replayed copy.
	codesCookie  = "myaccount_codes"
	codesPurpose = "recovery-codes-show"
	// maxFactorName bounds the name a person gives a factor, in characters.
	maxFactorName = 64
)

func (h *Handler) mountFactors(r *mux.Router) {
	r.HandleFunc("/account/security", h.securityGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/security/totp", h.totpBegin).Methods(http.MethodPost)
	r.HandleFunc("/account/security/totp/confirm", h.totpConfirm).Methods(http.MethodPost)
	r.HandleFunc("/account/security/webauthn/begin", h.keyBegin).Methods(http.MethodPost)
	r.HandleFunc("/account/security/webauthn/finish", h.keyFinish).Methods(http.MethodPost)
	r.HandleFunc("/account/security/remove", h.factorRemove).Methods(http.MethodPost)
	r.HandleFunc("/account/security/recovery-codes", h.recoveryCodesRegenerate).Methods(http.MethodPost)
	r.HandleFunc("/account/security/browsers/forget", h.forgetBrowsers).Methods(http.MethodPost)
}

type factorRow struct {
	ID, Name, Added, LastUsed string
	Flagged                   bool
}

type totpSetup struct {
	QR      template.URL // a data: URL built by mfa (base64 only), safe for <img src>
	Key     string       // the secret in base32, grouped for typing
	Pending string
	Name    string
	Error   string
}

type securityPage struct {
	common
	// failed is a failure of ours met while filling the page: it is answered instead.
	failed error
	Email  string
	// Enrol: a product asked for two-step verification and the person has to set it up.
	Enrol         bool
	AuthRequestID string
	ClientName    string
	// ContinueURL resumes the product's sign-in when the person already has a factor.
	ContinueURL string
	Flash       string
	Error       string
	// Reauth asks for a fresh sign-in before a sensitive change.
	Reauth    bool
	ReauthURL string
	// ReauthMinutes and RememberDays are the rules' own figures (sessions.ReauthWindow,
	// mfa.TrustedBrowserTTL), so the page cannot promise what the rule no longer does.
	ReauthMinutes int
	RememberDays  int

	Apps           []factorRow
	Keys           []factorRow
	WebAuthn       bool // passkeys can be added (the issuer is a domain name)
	Strong         bool
	RecoveryCodes  int
	BrowserTrusted bool
	// SMSOn: codes by text message are offered (mfa.sms); Phone is the confirmed number
	// they go to ("" = none).
	SMSOn bool
	Phone string

	TOTP *totpSetup
	// Codes are new recovery codes, shown once; Continue, when set, resumes a sign-in.
	Codes    []string
	Continue string
	// CodesFile names the .txt download of the codes (recoverycodes.js builds it in the
	// page: the codes are never served again); CodesMade dates the copy and printout.
	CodesFile string
	CodesMade string
}

// enrolParams is the sign-in a factor enrolment continues, if any.
type enrolParams struct {
	Enrol         bool
	AuthRequestID string
}

func enrolFrom(r *http.Request) enrolParams {
	return enrolParams{Enrol: r.FormValue("enrol") == "1", AuthRequestID: r.FormValue("authRequestID")}
}

// fresh reports whether the session's sign-in is recent enough for a change to how the
// account signs in (sessions.Recent, the rule the services that make them hold), and the
// proof those services take.
// A failure to read what it needs is an error: ours, answered as such, never "sign in again".
func (h *Handler) fresh(r *http.Request, s *storage.Session) (sessions.Recent, bool, error) {
	rc, err := h.cfg.Sessions.Recent(r.Context(), s)
	switch {
	case errors.Is(err, sessions.ErrNotRecent):
		return rc, false, nil
	case err != nil:
		return rc, false, err
	}
	return rc, true, nil
}

var securityDone = map[string]string{
	"totp":     i18n.N("The authenticator app was added."),
	"key":      i18n.N("The security key or passkey was added."),
	"removed":  i18n.N("The sign-in method was removed."),
	"codes":    i18n.N("You have new recovery codes. The old ones no longer work."),
	"browsers": i18n.N("All remembered browsers were forgotten: they will ask for the second step again."),
}

// renderSecurity shows the security page; fill adds what the request has to say.
func (h *Handler) renderSecurity(w http.ResponseWriter, r *http.Request, u *storage.User, ep enrolParams, fill func(*securityPage), status int) {
	ctx := r.Context()
	c := h.commonFor(w, r, i18n.N("Security"), u)
	p := securityPage{common: c, Email: u.Email, Enrol: ep.Enrol, AuthRequestID: ep.AuthRequestID, WebAuthn: h.cfg.WebAuthn != nil,
		ReauthMinutes: int(sessions.ReauthWindow / time.Minute), RememberDays: rememberDays()}
	if p.SMSOn = h.cfg.SMS == "enabled" || h.cfg.SMS == "fallback"; p.SMSOn && h.cfg.Phones != nil {
		ph, err := h.verifiedPhone(r, u)
		if err != nil {
			h.fail(w, r, "security phone", err)
			return
		}
		if ph != nil {
			p.Phone = phone.Display(ph.E164)
		}
	}
	rows, err := h.cfg.MFA.Factors(ctx, u.ID)
	if err != nil {
		h.fail(w, r, "list factors", err)
		return
	}
	for _, row := range rows {
		fr := factorRow{ID: row.ID, Name: row.Name, Added: h.formatTime(row.CreatedAt, u, c.Lang), Flagged: row.Flagged}
		if row.LastUsedAt != nil {
			fr.LastUsed = h.formatTime(*row.LastUsedAt, u, c.Lang)
		}
		switch row.Kind {
		case storage.MFATOTP:
			p.Apps = append(p.Apps, fr)
		case storage.MFAWebAuthn:
			p.Keys = append(p.Keys, fr)
		}
	}
	enrolled, err := h.enrolled(r, u)
	if err != nil {
		h.fail(w, r, "enrolled factors", err)
		return
	}
	p.Strong, p.RecoveryCodes = enrolled.Strong(), enrolled.RecoveryCodes
	// Ours when it cannot be read: not "this browser is not remembered".
	if p.BrowserTrusted, err = h.browserTrusted(r, u.ID); err != nil {
		h.fail(w, r, "remembered browser", err)
		return
	}
	f, err := h.optionalFlow(r, ep.AuthRequestID)
	if err != nil {
		h.fail(w, r, "security page: the sign-in it continues", err)
		return
	}
	if f != nil {
		p.ClientName = f.client.Name
		if p.Strong {
			p.ContinueURL = flowTarget(f.ar.ID, "")
		}
	}
	if fill != nil {
		fill(&p)
	}
	if p.failed != nil {
		h.fail(w, r, "security page", p.failed)
		return
	}
	h.render(w, r, status, "security", p)
}

func (h *Handler) securityGet(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	h.renderSecurity(w, r, u, enrolFrom(r), func(p *securityPage) {
		if msg, ok := securityDone[r.URL.Query().Get("done")]; ok {
			p.Flash = p.T(msg)
		}
		if r.Method != http.MethodGet { // a HEAD must not use up the one showing of new codes
			return
		}
		// Taken once the page has read the rest: a failure of those reads leaves them.
		codes, err := h.takeCodes(w, r, u)
		if err != nil {
			p.failed = err
			return
		}
		if codes != nil {
			p.Codes, p.Continue = codes.Codes, codes.Continue
			p.CodesFile = codesFileName(p.ProductName)
			p.CodesMade = h.formatTime(h.now(), u, p.Lang)
		}
	}, http.StatusOK)
}

// needFresh answers a sensitive change from a stale session with the way to sign in again;
// it reports whether the change may go ahead, with the proof the services take.
func (h *Handler) needFresh(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) (sessions.Recent, bool) {
	rc, ok, err := h.fresh(r, s)
	if err != nil {
		h.fail(w, r, "recent sign-in", err)
		return rc, false
	}
	if ok {
		return rc, true
	}
	h.renderSecurity(w, r, u, enrolParams{}, func(p *securityPage) {
		p.Reauth = true
		p.ReauthURL = "/login?" + url.Values{"reauth": {"1"}, "return": {"/account/security"}}.Encode()
	}, http.StatusForbidden)
	return sessions.Recent{}, false
}

// cleanName keeps a factor name printable, single-line and short.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if rs := []rune(s); len(rs) > maxFactorName {
		s = strings.TrimSpace(string(rs[:maxFactorName]))
	}
	return s
}

// groupKey splits a base32 secret into groups of four for typing by hand.
func groupKey(k string) string {
	var b strings.Builder
	for i, r := range k {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// totpBegin starts adding an authenticator app: a new secret, shown as a QR code and as text.
// Nothing is stored until a code from the app confirms it.
func (h *Handler) totpBegin(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	if _, ok := h.needFresh(w, r, s, u); !ok {
		return
	}
	e, pending, err := h.cfg.MFA.BeginTOTP(u.ID, u.Email)
	if err != nil {
		h.fail(w, r, "begin totp", err)
		return
	}
	h.renderSecurity(w, r, u, enrolFrom(r), func(p *securityPage) {
		p.TOTP = &totpSetup{QR: template.URL(e.QRCodeDataURL()), Key: groupKey(e.SecretBase32), Pending: pending} //nolint:gosec // base64 after a fixed prefix
	}, http.StatusOK)
}

// totpConfirm adds the authenticator app once the person types a correct code from it.
func (h *Handler) totpConfirm(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	rc, ok := h.needFresh(w, r, s, u)
	if !ok {
		return
	}
	ctx := r.Context()
	lang := h.lang(r, u)
	ep := enrolFrom(r)
	pending, code := r.PostFormValue("pending"), strings.TrimSpace(r.PostFormValue("code"))
	name := cleanName(r.PostFormValue("name"))
	e, err := h.cfg.MFA.ResumeTOTP(u.ID, u.Email, pending)
	if err != nil {
		h.renderSecurity(w, r, u, ep, func(p *securityPage) {
			p.Error = p.T("This setup has expired. Please start again.")
		}, http.StatusBadRequest)
		return
	}
	if name == "" {
		name = h.cfg.I18n.T(lang, "Authenticator app")
	}
	first := !h.hasStrongFactor(r, u)
	// One pending enrolment adds one app, even when the form is sent twice: FinishTOTP's
	// write decides (ErrEnrolmentDone), so a failure of ours before it leaves the same form
	// good for a retry.
	told := h.cfg.Accounts.FactorNotice(u, "totp", false, h.meta(r, lang))
	_, codes, err := h.cfg.MFA.FinishTOTP(ctx, rc, pending, code, name, told.In)
	if errors.Is(err, mfa.ErrInvalidCode) {
		h.renderSecurity(w, r, u, ep, func(p *securityPage) {
			p.TOTP = &totpSetup{QR: template.URL(e.QRCodeDataURL()), Key: groupKey(e.SecretBase32), Pending: pending, Name: name, //nolint:gosec // base64 after a fixed prefix
				Error: p.T("The code is not correct. Check that the time on your phone is right, then enter the current code.")}
		}, http.StatusOK)
		return
	}
	if errors.Is(err, mfa.ErrEnrolmentDone) {
		// Added by an earlier post of this form, which answered (or lost its answer).
		page := "/account/security?done=totp"
		if ep.AuthRequestID != "" {
			page += "&authRequestID=" + url.QueryEscape(ep.AuthRequestID)
		}
		http.Redirect(w, r, page, http.StatusSeeOther)
		return
	}
	if err != nil {
		h.fail(w, r, "finish totp", err)
		return
	}
	told.Committed(ctx)
	http.Redirect(w, r, h.afterEnrol(w, r, s, u, codes, mfa.Evidence{OTP: true}, ep, first, "totp"), http.StatusSeeOther)
}

// hasStrongFactor reports whether the person already has a factor that sign-in can ask for
// (an error counts as yes: it only ever withholds the sign-in continuation below).
func (h *Handler) hasStrongFactor(r *http.Request, u *storage.User) bool {
	e, err := h.enrolled(r, u)
	return err != nil || e.Strong()
}

// afterEnrol finishes adding a factor and returns where the browser goes next. The first
// strong factor comes with recovery codes, made with it (codes, nil for a later factor) and
// shown once, on the security page. The first
// strong factor added for a sign-in that asked for one (first, ep.Enrol) continues that
// sign-in with what the person has now proved: the session so far plus the factor just
// added (its code or its registration ceremony). Someone who already had a factor proves
// it at the sign-in's second step instead: adding another one from a session that lacks
// it (a remembered browser's) must not stand in for it.
func (h *Handler) afterEnrol(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User, codes []string, ev mfa.Evidence, ep enrolParams, first bool, done string) string {
	ctx := r.Context()
	page := "/account/security?done=" + done
	continues := ep.Enrol && first
	if ep.AuthRequestID != "" && !continues {
		// The page offers the way back to the sign-in (its second step).
		page += "&authRequestID=" + url.QueryEscape(ep.AuthRequestID)
	}
	target := page
	if continues {
		f, err := h.optionalFlow(r, ep.AuthRequestID)
		var t string
		if err == nil {
			t, _, err = h.nextStep(w, r, u, mfa.EvidenceFromAMR(s.AMR).Merge(ev), f, "", false, false, nil)
		}
		if err != nil {
			h.cfg.Logger.ErrorContext(ctx, "continue sign-in after enrolment", "err", err)
		} else {
			target = t
		}
	}
	if len(codes) > 0 {
		// The codes are shown on the security page, with a link on to the sign-in if any.
		next := ""
		if target != page {
			next = target
		}
		if h.showCodes(w, u, codes, next) {
			return page
		}
	}
	return target
}

type shownCodes struct {
	UserID   string   `json:"u"`
	Codes    []string `json:"c"`
	Continue string   `json:"n"`
	Nonce    string   `json:"o"`
	Expires  int64    `json:"e"`
}

// showCodes hands new recovery codes to the page that shows them once.
func (h *Handler) showCodes(w http.ResponseWriter, u *storage.User, codes []string, next string) bool {
	sc := shownCodes{UserID: u.ID, Codes: codes, Continue: next, Nonce: secret.RandomToken(16), Expires: h.now().Add(guard.CodesShown.Window()).Unix()}
	if err := h.sealCookie(w, codesCookie, codesPurpose, sc, guard.CodesShown.Window()); err != nil {
		h.cfg.Logger.Error("seal recovery codes", "err", err)
		return false
	}
	return true
}

// takeCodes returns the new recovery codes waiting to be shown to u, once: the cookie is
// cleared, and a copy of it replayed later finds its nonce used. It is called when the page
// has read everything else it shows, and a failure to count the showing is an error: the
// page then answers our 503 and its cookie stays, so that the codes, which replaced the
// person's old ones, are shown when it is loaded again, not used up by a page without them.
func (h *Handler) takeCodes(w http.ResponseWriter, r *http.Request, u *storage.User) (*shownCodes, error) {
	var sc shownCodes
	if !h.openCookie(r, codesCookie, codesPurpose, &sc) {
		return nil, nil
	}
	if sc.UserID != u.ID || h.now().Unix() > sc.Expires || len(sc.Codes) == 0 {
		h.clearCookie(w, codesCookie)
		return nil, nil
	}
	first, err := h.cfg.Guard.Allow(r.Context(), guard.CodesShown, sc.Nonce)
	if err != nil {
		return nil, fmt.Errorf("count recovery codes shown: %w", err)
	}
	h.clearCookie(w, codesCookie)
	if !first {
		return nil, nil
	}
	if sc.Continue != "" {
		sc.Continue = localPath(sc.Continue)
	}
	return &sc, nil
}

// recoveryCodesRegenerate replaces the recovery codes; the old set stops working.
func (h *Handler) recoveryCodesRegenerate(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	rc, ok := h.needFresh(w, r, s, u)
	if !ok {
		return
	}
	ctx := r.Context()
	told := h.cfg.Accounts.FactorNotice(u, "recovery_codes", false, h.meta(r, h.lang(r, u)))
	codes, err := h.cfg.MFA.RegenerateRecoveryCodes(ctx, rc, told.In)
	if errors.Is(err, mfa.ErrNoStrongFactor) {
		// Recovery codes stand in for a factor; without one they would open nothing.
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return
	}
	if err != nil {
		h.fail(w, r, "regenerate recovery codes", err)
		return
	}
	told.Committed(ctx)
	h.showCodes(w, u, codes, "")
	http.Redirect(w, r, "/account/security?done=codes", http.StatusSeeOther)
}

// factorName is how the notification mail names a stored factor.
func factorName(row *storage.MFACredential) string {
	if row.Kind == storage.MFATOTP {
		return "totp"
	}
	if c, err := webauthnx.Credential(row); err == nil && c.Flags.BackupEligible {
		return "passkey"
	}
	return "webauthn"
}

// factorRemove removes one of the person's factors (and, with the last strong one, the
// recovery codes). Every remembered browser is forgotten with it.
func (h *Handler) factorRemove(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	rc, ok := h.needFresh(w, r, s, u)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostFormValue("id")
	row, err := h.cfg.MFA.Factor(ctx, u.ID, id)
	if errors.Is(err, storage.ErrNotFound) {
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
		return
	} else if err != nil {
		h.fail(w, r, "find factor", err)
		return
	}
	told := h.cfg.Accounts.FactorNotice(u, factorName(row), true, h.meta(r, h.lang(r, u)))
	if err := h.cfg.MFA.RemoveFactor(ctx, rc, row.ID, told.In); err != nil {
		h.fail(w, r, "remove factor", err)
		return
	}
	h.clearCookie(w, trustCookie)
	told.Committed(ctx)
	http.Redirect(w, r, "/account/security?done=removed", http.StatusSeeOther)
}

// forgetBrowsers makes every browser ask for the second step again.
func (h *Handler) forgetBrowsers(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	rc, ok := h.needFresh(w, r, s, u)
	if !ok {
		return
	}
	ctx := r.Context()
	event := h.cfg.Accounts.EventIn(u.ID, "trusted_browsers_forgotten", h.meta(r, h.lang(r, u)), "")
	if err := h.cfg.MFA.ForgetBrowsers(ctx, rc, event); err != nil {
		h.fail(w, r, "forget trusted browsers", err)
		return
	}
	h.clearCookie(w, trustCookie)
	http.Redirect(w, r, "/account/security?done=browsers", http.StatusSeeOther)
}

// registrationUser is the person as a new registration sees them: every WebAuthn credential,
// flagged ones included, is excluded, so an authenticator is not registered twice.
func (h *Handler) registrationUser(ctx context.Context, u *storage.User) (*webauthnx.User, error) {
	rows, err := h.cfg.MFA.Factors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	var creds []webauthn.Credential
	for _, row := range rows {
		if row.Kind != storage.MFAWebAuthn {
			continue
		}
		c, err := webauthnx.Credential(row)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	return &webauthnx.User{Handle: webauthnx.UserHandle(u.ID), Name: u.Email, DisplayName: u.Name, Credentials: creds}, nil
}

// keyBegin starts registering a security key or passkey. A discoverable credential is asked
// for, so that it can also sign in without typing an email.
func (h *Handler) keyBegin(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.jsonRequest(w, r); !ok {
		return
	}
	s, u, ok := h.scriptSession(w, r)
	if !ok {
		return
	}
	if _, ok, err := h.fresh(r, s); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "recent sign-in", "err", err)
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	} else if !ok {
		// Like every change to how the account signs in: a browser left signed in must not
		// add a factor of a thief's.
		h.jsonError(w, r, u, http.StatusForbidden, i18n.N("For your security, sign in again before making this change."))
		return
	}
	if h.cfg.WebAuthn == nil {
		h.jsonError(w, r, u, http.StatusNotFound, i18n.N("Not found"))
		return
	}
	ctx := r.Context()
	wu, err := h.registrationUser(ctx, u)
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "webauthn user", "err", err)
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	options, state, err := h.cfg.WebAuthn.BeginRegistration(wu, true)
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "begin webauthn registration", "err", err)
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	handle, err := h.cfg.MFA.SaveCeremony(ctx, u.ID, state)
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "save webauthn ceremony", "err", err)
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": json.RawMessage(options), "handle": handle})
}

type keyFinishRequest struct {
	Handle        string          `json:"handle"`
	Name          string          `json:"name"`
	Credential    json.RawMessage `json:"credential"`
	Enrol         bool            `json:"enrol"`
	AuthRequestID string          `json:"authRequestID"`
}

// keyFinish verifies the new credential and stores it.
func (h *Handler) keyFinish(w http.ResponseWriter, r *http.Request) {
	body, ok := h.jsonRequest(w, r)
	if !ok {
		return
	}
	s, u, ok := h.scriptSession(w, r)
	if !ok {
		return
	}
	rc, ok, err := h.fresh(r, s)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "recent sign-in", "err", err)
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	if !ok {
		// Like every change to how the account signs in: a browser left signed in must not
		// add a factor of a thief's.
		h.jsonError(w, r, u, http.StatusForbidden, i18n.N("For your security, sign in again before making this change."))
		return
	}
	var in keyFinishRequest
	if h.cfg.WebAuthn == nil || json.Unmarshal(body, &in) != nil {
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("Request refused"))
		return
	}
	ctx := r.Context()
	lang := h.lang(r, u)
	// The ceremony is used up with the credential's write (AddWebAuthn), so a failure of
	// ours before that leaves the same answer good for a retry.
	state, take, err := h.cfg.MFA.CheckCeremony(ctx, u.ID, in.Handle)
	if err != nil {
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("This took too long. Please try again."))
		return
	}
	wu, err := h.registrationUser(ctx, u)
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "webauthn user", "err", err)
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	reg, err := h.cfg.WebAuthn.FinishRegistration(wu, state, in.Credential)
	if err != nil {
		h.cfg.Logger.InfoContext(ctx, "webauthn registration refused", "err", err)
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("The security key or passkey could not be added. Please try again."))
		return
	}
	factor, name := "passkey", cleanName(in.Name)
	if reg.HardwareBound {
		factor = "webauthn"
	}
	if name == "" {
		name = h.cfg.I18n.T(lang, "Passkey")
		if reg.HardwareBound {
			name = h.cfg.I18n.T(lang, "Security key")
		}
	}
	first := !h.hasStrongFactor(r, u)
	row, err := webauthnx.NewMFACredential(u.ID, name, reg, h.now())
	told := h.cfg.Accounts.FactorNotice(u, factor, false, h.meta(r, lang))
	var codes []string
	if err == nil {
		codes, err = h.cfg.MFA.AddWebAuthn(ctx, rc, row, take, told.In) // forgets remembered browsers too
	}
	if errors.Is(err, mfa.ErrCeremonyInvalid) { // answered by a concurrent request
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("This took too long. Please try again."))
		return
	}
	if errors.Is(err, storage.ErrConflict) {
		h.jsonError(w, r, u, http.StatusConflict, i18n.N("This security key or passkey is already registered."))
		return
	}
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "store webauthn credential", "err", err)
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	told.Committed(ctx)
	// The registration proved possession of the key; user verification at registration is
	// not counted, to stay on the safe side.
	ev := mfa.Evidence{HardwareKey: reg.HardwareBound, SoftwareKey: !reg.HardwareBound}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": h.afterEnrol(w, r, s, u, codes, ev, enrolParams{Enrol: in.Enrol, AuthRequestID: in.AuthRequestID}, first, "key")})
}

// codesFileName is the download name of a set of recovery codes: "<product>-recovery-codes.txt"
// in lower-case ASCII letters, digits and dashes.
func codesFileName(product string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(product) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimSuffix(b.String(), "-")
	if name == "" {
		return "recovery-codes.txt"
	}
	return name + "-recovery-codes.txt"
}
