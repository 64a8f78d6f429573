package ui

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/storage"
)

func (h *Handler) mountMFA(r *mux.Router) {
	r.HandleFunc("/mfa", h.mfaGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/mfa", h.mfaPost).Methods(http.MethodPost)
	r.HandleFunc("/mfa/webauthn/begin", h.mfaWebAuthnBegin).Methods(http.MethodPost)
	r.HandleFunc("/mfa/webauthn/finish", h.mfaWebAuthnFinish).Methods(http.MethodPost)
	r.HandleFunc("/passkey/begin", h.passkeyBegin).Methods(http.MethodPost)
	r.HandleFunc("/passkey/finish", h.passkeyFinish).Methods(http.MethodPost)
}

type mfaPage struct {
	common
	Email string
	// AuthRequestID is the app's sign-in this step belongs to ("" for none): its forms carry
	// it, so that one sent again after it completed can say so (mfaPost).
	AuthRequestID string
	Methods       []string // "webauthn", "totp", "recovery_code", "email_code" — preferred first
	Error         string
	Notice        string
	Remember      bool
	// Phone is the verified number SMS codes go to, masked, when SMS is offered.
	Phone string
	// EmailSent: a code was emailed for this sign-in (else the email section only sends one).
	EmailSent bool
	// RememberDays is how long "remember this browser" lasts (mfa.TrustedBrowserTTL).
	RememberDays int
	// CodeValidity is how long an emailed code works (mfa.EmailCodeTTL), in the page's language.
	CodeValidity string
}

func rememberDays() int { return int(mfa.TrustedBrowserTTL / (24 * time.Hour)) }

// methodsFor lists the factors to offer, the one used last first.
func (h *Handler) methodsFor(r *http.Request, u *storage.User, p *pendingSignIn) ([]string, error) {
	enrolled, err := h.enrolled(r, u)
	if err != nil {
		return nil, err
	}
	// What the application asks for decides the methods: without it a weaker one (SMS)
	// could be offered to a sign-in that may not use it.
	f, err := h.optionalFlow(r, p.Flow)
	if err != nil {
		return nil, err
	}
	req := requirement(f)
	if p.Reauth {
		req = reauthRequirement(req, enrolled)
	}
	d := mfa.NextStep(enrolled, mfa.EvidenceFromAMR(p.AMR), req, false)
	var out []string
	for _, m := range d.Methods {
		out = append(out, string(m))
	}
	if i := slices.Index(out, u.PreferredMFA); i > 0 {
		// out[i] is read first: Go does not order an index expression against a call in the
		// same statement, and slices.Delete clears the element it removes.
		pref := out[i]
		out = append([]string{pref}, slices.Delete(out, i, i+1)...)
	}
	return out, nil
}

func (h *Handler) renderMFA(w http.ResponseWriter, r *http.Request, u *storage.User, p *pendingSignIn, msg, notice string, status int) {
	methods, err := h.methodsFor(r, u, p)
	if err != nil {
		h.fail(w, r, "mfa methods", err)
		return
	}
	page := mfaPage{common: h.commonFor(w, r, i18n.N("Two-step verification"), u), AuthRequestID: p.Flow,
		Email: u.Email, Methods: methods, Error: msg, Notice: notice, EmailSent: p.EmailSent, RememberDays: rememberDays()}
	page.CodeValidity = geo.FormatDuration(mfa.EmailCodeTTL, page.Lang)
	if slices.Contains(methods, string(mfa.MethodSMSCode)) {
		ph, err := h.verifiedPhone(r, u)
		if err != nil {
			h.fail(w, r, "mfa phone", err)
			return
		}
		if ph != nil {
			page.Phone = phone.Masked(ph.E164)
		}
	}
	h.render(w, r, status, "mfa", page)
}

func (h *Handler) mfaGet(w http.ResponseWriter, r *http.Request) {
	p, u, err := h.pending(r)
	if err != nil {
		h.fail(w, r, "pending sign-in", err)
		return
	}
	if p == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	notice := ""
	if r.URL.Query().Get("limited") != "" {
		notice = h.cfg.I18n.T(h.lang(r, u), "Too many requests. Please try again later.")
	}
	h.renderMFA(w, r, u, p, "", notice, http.StatusOK)
}

// mfaPost checks a TOTP, recovery or emailed code, or resends the emailed one.
func (h *Handler) mfaPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	p, u, err := h.pending(r)
	if err != nil {
		h.fail(w, r, "pending sign-in", err)
		return
	}
	if p == nil {
		// The form sent again after it completed an app's sign-in (the back button): the
		// sign-in is done, proved by the session it started; not the account page.
		if id := r.PostFormValue("authRequestID"); id != "" {
			switch f, problem := h.findFlow(r, id); problem {
			case flowFinished:
				h.flowFinishedPage(w, r, f)
				return
			case flowFailed:
				h.fail(w, r, "second step sent again", errFlowRead)
				return
			}
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	lang := h.lang(r, u)
	T := func(msg string, args ...any) string { return h.cfg.I18n.T(lang, msg, args...) }
	method, code := r.PostFormValue("method"), strings.TrimSpace(r.PostFormValue("code"))
	methods, err := h.methodsFor(r, u, p)
	if err != nil || !slices.Contains(methods, method) && !(method == "email_resend" && slices.Contains(methods, "email_code")) &&
		!(method == "sms_resend" && slices.Contains(methods, "sms_code")) {
		h.renderMFA(w, r, u, p, T("Choose one of the ways offered."), "", http.StatusBadRequest)
		return
	}
	var ev mfa.Evidence
	switch method {
	case "email_resend":
		notice := T("We sent a new code.")
		if sent, err := h.sendEmailCode(r, u); err != nil {
			h.fail(w, r, "send email code", err)
			return
		} else if !sent {
			notice = T("Too many requests. Please try again later.")
		} else if !p.EmailSent {
			p.EmailSent = true
			if err := h.sealCookie(w, signinCookie, pendingPurpose, *p, time.Unix(p.Expires, 0).Sub(h.now())); err != nil {
				h.fail(w, r, "pending sign-in", err)
				return
			}
		}
		h.renderMFA(w, r, u, p, "", notice, http.StatusOK)
		return
	case "sms_resend":
		notice := T("We sent a new code.")
		if err := h.sendSMSCode(r, u); errors.Is(err, phone.ErrRefused) {
			notice = T("We cannot send a code to this number right now. Try again later or use another number.")
		} else if err != nil {
			h.fail(w, r, "send sms code", err)
			return
		}
		h.renderMFA(w, r, u, p, "", notice, http.StatusOK)
		return
	}
	// A good code is only checked here: it is spent with the session it completes
	// (secondFactorDone), so a failure of ours before that leaves it good for a retry.
	var spend mfa.Spend
	switch method {
	case "sms_code":
		spend, err = h.cfg.MFA.CheckSMSCode(r.Context(), u.ID, storage.TokenSMSCode, code)
		ev.SMSCode = true
	case "totp":
		_, spend, err = h.cfg.MFA.CheckTOTP(r.Context(), u.ID, code)
		ev.OTP = true
	case "recovery_code":
		var left int
		left, spend, err = h.cfg.MFA.CheckRecoveryCode(r.Context(), u.ID, code)
		ev.OTP = true
		if err == nil && left <= 2 {
			h.cfg.Logger.InfoContext(r.Context(), "few recovery codes left", "user_id", u.ID, "left", left)
		}
	case "email_code":
		spend, err = h.cfg.MFA.CheckEmailCode(r.Context(), u.ID, code)
		ev.EmailCode = true
	}
	if err == nil {
		if err = h.secondFactorDone(w, r, u, p, ev, method, r.PostFormValue("remember") != "", false, spend); err == nil {
			return
		}
		// The code was spent by another request since it was checked: answered below as
		// the check would answer now, and the sign-in stays at this step (its cookie may
		// have been replaced or cleared on the way).
		if serr := h.sealCookie(w, signinCookie, pendingPurpose, *p, time.Unix(p.Expires, 0).Sub(h.now())); serr != nil {
			h.fail(w, r, "pending sign-in", serr)
			return
		}
	}
	if errors.Is(err, mfa.ErrCodeReused) || errors.Is(err, mfa.ErrInvalidCode) {
		done, cerr := h.completedBy(r, p)
		if cerr != nil {
			// Not known whether the code is this sign-in's: neither refused nor reported.
			h.fail(w, r, "second step: its sign-in's session", cerr)
			return
		}
		if done {
			h.answerCompleted(w, r, p, T)
			return
		}
	}
	m := h.meta(r, lang)
	if err != nil && !fault.Is(err) && method != "email_code" && method != "sms_code" {
		// The password was right: its owner should hear that someone is at the second step.
		// (A wrong emailed code needs no mail about it: the code went to that mailbox.)
		h.cfg.Accounts.NotifySecondStepFailed(r.Context(), u, m)
	}
	switch {
	case errors.Is(err, mfa.ErrAttemptsCapped):
		h.cfg.Accounts.Audit(r.Context(), u.ID, "mfa_failed", m, method)
		h.renderMFA(w, r, u, p, T("Too many wrong codes today. For your security the second step is closed for a day. If someone else knows your password, reset it."), "", http.StatusTooManyRequests)
		return
	case errors.Is(err, mfa.ErrTooManyAttempts):
		h.cfg.Accounts.Audit(r.Context(), u.ID, "mfa_failed", m, method)
		h.renderMFA(w, r, u, p, T("Too many wrong codes. Try again %s.", geo.RelativeTime(h.cfg.MFA.RetryAfter(err), lang)), "", http.StatusTooManyRequests)
		return
	case errors.Is(err, mfa.ErrCodeReused):
		h.cfg.Accounts.Audit(r.Context(), u.ID, "mfa_failed", m, method)
		h.renderMFA(w, r, u, p, T("This code was already used. Wait for the next one."), "", http.StatusOK)
		return
	case errors.Is(err, mfa.ErrInvalidCode):
		h.cfg.Accounts.Audit(r.Context(), u.ID, "mfa_failed", m, method)
		h.renderMFA(w, r, u, p, wrongCodeText(T, method), "", http.StatusOK)
		return
	case err != nil:
		// Not a wrong code: the check itself failed (the store). Ours, not the person's.
		h.fail(w, r, "check second factor", err)
		return
	}
}

// wrongCodeText says a code was wrong and what to try next, for the kind of code it was.
func wrongCodeText(T func(string, ...any) string, method string) string {
	switch method {
	case "recovery_code":
		return T("The code is not correct. Each recovery code works only once: check it for typos or try another code from your list.")
	case "email_code":
		return T("The code is not correct. Enter the code from the latest email we sent you, or ask for a new one.")
	case "sms_code":
		return T("The code is not correct. Check the last text message we sent and try again.")
	default: // an authenticator app's code is usually wrong because the phone's clock is off
		return T("The code is not correct. Check the time on your phone and enter the current code, or use a recovery code.")
	}
}

// secondFactorDone finishes a sign-in after a factor: continues (the session, or the next
// factor due), then remembers the method (offered first next time) and, if asked, the
// browser. JSON callers get {"redirect": …}. spend (nil: none) is the single use of the
// code that proved the factor: it commits with the session, or on its own when no session
// starts yet. Its refusal (ErrInvalidCode, ErrCodeReused: spent by a concurrent request) is
// returned for the caller to answer; every other outcome is answered here.
func (h *Handler) secondFactorDone(w http.ResponseWriter, r *http.Request, u *storage.User, p *pendingSignIn, ev mfa.Evidence, method string, remember, asJSON bool, spend mfa.Spend) error {
	if id := sessionOf(p); id != "" {
		r = r.WithContext(context.WithValue(r.Context(), sessionIDKey{}, id))
	}
	r = r.WithContext(context.WithValue(r.Context(), secondStepKey{}, method))
	ctx := r.Context()
	f, err := h.optionalFlow(r, p.Flow)
	if err != nil {
		h.fail(w, r, "finish sign-in", err)
		return nil
	}
	// What the passed step leaves behind (mfa.Service.Passed: the preferred method, the
	// trusted browser) commits with the code's use and the session, or with the code alone
	// when another factor is due.
	var trustToken string
	passed := func(ctx context.Context, tx mfa.Store) (err error) {
		if spend != nil {
			if err := spend(ctx, tx); err != nil {
				return err
			}
		}
		// tx is the session's transaction, or the one below.
		trustToken, err = h.cfg.MFA.Passed(ctx, tx, u, mfa.Method(method), remember, truncate(r.UserAgent(), 256))
		return err
	}
	target, s, err := h.nextStep(w, r, u, mfa.EvidenceFromAMR(p.AMR).Merge(ev), f, p.Return, p.Reauth, false, passed)
	if err == nil && s == nil {
		// Another factor is due: no session commits with the code, so it is spent now.
		err = h.cfg.Store.InTx(ctx, func(tx storage.Store) error { return passed(ctx, tx) })
	}
	if errors.Is(err, mfa.ErrInvalidCode) || errors.Is(err, mfa.ErrCodeReused) {
		return err
	}
	if err != nil {
		h.fail(w, r, "finish sign-in", err)
		return nil
	}
	if trustToken != "" {
		http.SetCookie(w, &http.Cookie{Name: h.cookieName(trustCookie), Value: trustToken, Path: "/", MaxAge: int(mfa.TrustedBrowserTTL.Seconds()),
			HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	}
	if s == nil {
		// No session started, so no sign-in records: the passed step's event on its own,
		// best effort. With a session, it committed with it (finishSignIn).
		h.cfg.Accounts.Audit(ctx, u.ID, "mfa_passed", h.meta(r, h.lang(r, u)), method)
	}
	if asJSON {
		writeJSON(w, http.StatusOK, map[string]string{"redirect": target})
		return nil
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// answerCompleted tells a browser that sent pending sign-in p's second step again, after its
// answer was lost, that the sign-in is complete (completedBy): its code was spent by it, not
// by someone at the second step, so the owner is not warned. No session is given again, and
// no second code goes to an app: for an app's sign-in it says that sign-in is done
// (flowFinishedPage); otherwise the browser that lost the answer signs in anew.
func (h *Handler) answerCompleted(w http.ResponseWriter, r *http.Request, p *pendingSignIn, T func(string, ...any) string) {
	if p.Flow != "" {
		f, err := h.finishedRequest(r, p.Flow, p.UserID)
		if err != nil {
			// Ours: sent to sign in again, the person would be told nothing of the outage.
			h.fail(w, r, "finished sign-in", err)
			return
		}
		if f != nil {
			h.clearCookie(w, signinCookie)
			h.flowFinishedPage(w, r, f)
			return
		}
	}
	h.clearCookie(w, signinCookie)
	h.message(w, r, http.StatusOK, i18n.N("Sign-in complete"),
		T("This sign-in is already complete. If you are not signed in on this page, sign in again."), func(mp *messagePage) {
			mp.LinkURL, mp.LinkText = "/login", T("Sign in")
		})
}

// writeJSON answers a script. Its Cache-Control is the handler's (no-store unless it set
// another: SecurityHeaders sets it by default).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonError answers a script with a message it shows as is (already translated).
func (h *Handler) jsonError(w http.ResponseWriter, r *http.Request, u *storage.User, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": h.cfg.I18n.T(h.lang(r, u), msg)})
}

// jsonRequest checks a script's POST: CSRF header, size; it returns the body.
func (h *Handler) jsonRequest(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if !h.checkCSRFHeader(r) {
		h.jsonError(w, r, nil, http.StatusForbidden, i18n.N("Request refused"))
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		h.jsonError(w, r, nil, http.StatusBadRequest, i18n.N("Request refused"))
		return nil, false
	}
	return body, true
}

func (h *Handler) webAuthnUser(r *http.Request, u *storage.User) (*webauthnx.User, error) {
	rows, err := h.cfg.MFA.Factors(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	return webauthnx.NewUser(u, rows)
}

// mfaWebAuthnBegin starts a security-key or passkey check as the second factor.
func (h *Handler) mfaWebAuthnBegin(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.jsonRequest(w, r); !ok {
		return
	}
	p, u, err := h.pending(r)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "pending sign-in", "err", err)
		h.jsonError(w, r, nil, http.StatusInternalServerError, i18n.N("Please try again in a moment."))
		return
	}
	if p == nil || h.cfg.WebAuthn == nil {
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("Sign-in expired"))
		return
	}
	wu, err := h.webAuthnUser(r, u)
	if err != nil {
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	options, state, err := h.cfg.WebAuthn.BeginLogin(wu)
	if err != nil {
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("No security key or passkey is set up."))
		return
	}
	handle, err := h.cfg.MFA.SaveCeremony(r.Context(), u.ID, state)
	if err != nil {
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": json.RawMessage(options), "handle": handle})
}

type webAuthnFinish struct {
	Handle        string          `json:"handle"`
	Credential    json.RawMessage `json:"credential"`
	Remember      bool            `json:"remember"`
	AuthRequestID string          `json:"authRequestID"`
	Return        string          `json:"return"`
}

// mfaWebAuthnFinish verifies the assertion. A signature counter that went backwards means a
// cloned authenticator: the sign-in fails and the credential is flagged.
func (h *Handler) mfaWebAuthnFinish(w http.ResponseWriter, r *http.Request) {
	body, ok := h.jsonRequest(w, r)
	if !ok {
		return
	}
	p, u, err := h.pending(r)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "pending sign-in", "err", err)
		h.jsonError(w, r, nil, http.StatusInternalServerError, i18n.N("Please try again in a moment."))
		return
	}
	var in webAuthnFinish
	if p == nil || h.cfg.WebAuthn == nil || json.Unmarshal(body, &in) != nil {
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("Sign-in expired"))
		return
	}
	state, err := h.cfg.MFA.TakeCeremony(r.Context(), u.ID, in.Handle)
	if err != nil {
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("Sign-in expired"))
		return
	}
	wu, err := h.webAuthnUser(r, u)
	if err != nil {
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	a, err := h.cfg.WebAuthn.FinishLogin(wu, state, in.Credential)
	if !h.recordAssertion(w, r, u, a, err) {
		return
	}
	_ = h.secondFactorDone(w, r, u, p, a.Evidence(), "webauthn", in.Remember, true, nil) // no code to refuse
}

// recordAssertion stores the new signature count (flagging a clone) and answers failures.
func (h *Handler) recordAssertion(w http.ResponseWriter, r *http.Request, u *storage.User, a *webauthnx.Assertion, err error) bool {
	if a != nil && (err == nil || errors.Is(err, webauthnx.ErrCloned)) {
		// A copied key is blocked in one transaction with the activity event that tells of it.
		rerr := webauthnx.RecordTold(r.Context(), h.cfg.Store, u.ID, a, h.now(),
			h.cfg.Accounts.EventIn(u.ID, "mfa_cloned_key", h.meta(r, h.lang(r, u)), ""))
		switch {
		case errors.Is(rerr, webauthnx.ErrCloned), errors.Is(rerr, webauthnx.ErrUnknownCredential):
			if err == nil || errors.Is(rerr, webauthnx.ErrCloned) {
				err = rerr
			}
		case rerr != nil:
			// Ours, after the key was verified: not a key that failed.
			h.cfg.Logger.ErrorContext(r.Context(), "record a key's use", "err", rerr, "user_id", u.ID)
			h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Please try again in a moment."))
			return false
		}
	}
	switch {
	case errors.Is(err, webauthnx.ErrCloned):
		h.cfg.Logger.WarnContext(r.Context(), "webauthn sign count went backwards; credential flagged", "user_id", u.ID)
		h.jsonError(w, r, u, http.StatusForbidden, i18n.N("This security key looks copied and was blocked. Use another way to sign in."))
		return false
	case err != nil:
		h.cfg.Logger.InfoContext(r.Context(), "webauthn assertion refused", "err", err)
		h.jsonError(w, r, u, http.StatusBadRequest, i18n.N("The security key or passkey could not be verified."))
		return false
	}
	return true
}

// A usernameless (passkey) sign-in has no user to bind its challenge to, so its state travels
// in a sealed cookie and single use is enforced by a counter in SQL.
const passkeyCookie, passkeyPurpose = "myaccount_passkey", "passkey-login"

type passkeyState struct {
	State   []byte `json:"s"`
	Expires int64  `json:"e"`
}

func (h *Handler) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.jsonRequest(w, r); !ok {
		return
	}
	if h.cfg.WebAuthn == nil {
		h.jsonError(w, r, nil, http.StatusNotFound, i18n.N("Not found"))
		return
	}
	options, state, err := h.cfg.WebAuthn.BeginDiscoverableLogin()
	if err != nil {
		h.jsonError(w, r, nil, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	if err := h.sealCookie(w, passkeyCookie, passkeyPurpose, passkeyState{State: state, Expires: h.now().Add(mfa.CeremonyTTL).Unix()}, mfa.CeremonyTTL); err != nil {
		h.jsonError(w, r, nil, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": json.RawMessage(options)})
}

// passkeyFinish signs in with a passkey alone: one that verified the user (PIN, biometric) is
// two factors in one; one that did not leaves the password to be typed.
func (h *Handler) passkeyFinish(w http.ResponseWriter, r *http.Request) {
	body, ok := h.jsonRequest(w, r)
	if !ok {
		return
	}
	var in webAuthnFinish
	var st passkeyState
	if h.cfg.WebAuthn == nil || json.Unmarshal(body, &in) != nil ||
		!h.openCookie(r, passkeyCookie, passkeyPurpose, &st) || h.now().Unix() > st.Expires {
		h.jsonError(w, r, nil, http.StatusBadRequest, i18n.N("Sign-in expired"))
		return
	}
	h.clearCookie(w, passkeyCookie)
	if first, err := h.cfg.Guard.Allow(r.Context(), guard.PasskeyChallenge, string(st.State)); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "count passkey challenge", "err", err)
		h.jsonError(w, r, nil, http.StatusInternalServerError, i18n.N("Please try again in a moment."))
		return
	} else if !first {
		h.jsonError(w, r, nil, http.StatusBadRequest, i18n.N("Sign-in expired"))
		return
	}
	wu, a, err := h.cfg.WebAuthn.FinishDiscoverableLogin(st.State, in.Credential, webauthnx.StoreLookup(r.Context(), h.cfg.Store))
	var u *storage.User
	if wu != nil {
		var gerr error
		if u, gerr = h.cfg.Store.GetUser(r.Context(), string(wu.Handle)); gerr != nil && !errors.Is(gerr, storage.ErrNotFound) {
			// Ours, not a key that failed: the person must not be told it did.
			h.cfg.Logger.ErrorContext(r.Context(), "passkey sign-in: read account", "err", gerr)
			h.jsonError(w, r, nil, http.StatusInternalServerError, i18n.N("Please try again in a moment."))
			return
		}
	}
	if u == nil {
		if err == nil {
			err = webauthnx.ErrUnknownCredential
		}
		h.cfg.Logger.InfoContext(r.Context(), "passkey sign-in refused", "err", err)
		h.jsonError(w, r, nil, http.StatusBadRequest, i18n.N("The security key or passkey could not be verified."))
		return
	}
	if !h.recordAssertion(w, r, u, a, err) {
		return
	}
	// Told only now, after the key was verified and its use recorded: before, anyone holding
	// a credential id would learn the account's state.
	switch err := account.MaySignIn(u); {
	case errors.Is(err, account.ErrNotActive):
		// A key on an account not activated should not exist (keys are added signed in); an
		// operator's unlock of a never-activated account leaves one. Its owner is told what
		// the password sign-in tells them: activation, not support, lets them in.
		h.jsonError(w, r, u, http.StatusForbidden, i18n.N("Please activate your account first: follow the link in the email we sent you."))
		return
	case err != nil:
		h.jsonError(w, r, u, http.StatusForbidden, i18n.N("This account is locked. Please contact support."))
		return
	}
	f, err := h.optionalFlow(r, in.AuthRequestID)
	var target string
	if err == nil {
		target, _, err = h.nextStep(w, r, u, a.Evidence(), f, in.Return, false, false, nil)
	}
	if errors.Is(err, errNeedPassword) {
		h.jsonError(w, r, u, http.StatusUnauthorized, i18n.N("Your passkey did not confirm it is you. Sign in with your password."))
		return
	}
	if err != nil {
		h.jsonError(w, r, u, http.StatusInternalServerError, i18n.N("Something went wrong"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": target})
}
