package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/redirecturi"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

func (h *Handler) mountLogin(r *mux.Router) {
	r.HandleFunc("/login", h.loginGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/login", h.loginPost).Methods(http.MethodPost)
}

type loginPage struct {
	common
	AuthRequestID string
	ClientName    string
	CancelURL     string
	Email         string
	Error         string
	Pending       bool
	// Notice is a status line (the address was just confirmed).
	Notice string
	// Passkeys: passkey sign-in is offered (WebAuthn works only on a domain name).
	Passkeys bool
	// Return is a local page to go back to after a sign-in without an auth request (the
	// device page); "" means the account page.
	Return string
	// Reauth: the sign-in a change to how the account signs in asks for (reauth=1), which
	// needs every factor the person has (reauthRequirement).
	Reauth bool
}

// returnPath keeps a requested return page only when it is a same-site path.
func returnPath(p string) string {
	if p == "" || len(p) > 512 || localPath(p) != p {
		return ""
	}
	return p
}

// bindingOK compares a browser-binding cookie with the hash stored on an auth request.
func (h *Handler) bindingOK(cookie, hash string) bool {
	return hash != "" && secret.Equal(secret.HashToken(cookie), hash)
}

// authFlow is an authorization request being served to the browser that started it.
type authFlow struct {
	ar     *storage.AuthRequest
	client *storage.Client
	// rebound is set once this request has re-issued the browser binding (setBinding).
	rebound bool
	// decided is what decideFlow decided in this request (nil: nothing yet).
	decided *flowDecision
}

// loadFlow loads the auth request named by the form and checks that this browser started
// it; a leaked authRequestID is useless in another browser. It renders the error itself.
func (h *Handler) loadFlow(w http.ResponseWriter, r *http.Request, id string) (*authFlow, bool) {
	f, problem := h.findFlow(r, id)
	return h.flowAnswer(w, r, f, problem)
}

// flowAnswer is loadFlow for a flow found already: f when problem is flowOK, otherwise the
// problem's page.
func (h *Handler) flowAnswer(w http.ResponseWriter, r *http.Request, f *authFlow, problem flowProblem) (*authFlow, bool) {
	switch problem {
	case flowOK:
		return f, true
	case flowFinished:
		h.flowFinishedPage(w, r, f)
	case flowOtherBrowser:
		h.cfg.Logger.WarnContext(r.Context(), "auth request used from another browser", "client_id", f.ar.ClientID)
		h.ErrorPage(w, r, http.StatusForbidden, i18n.N("Different browser"),
			i18n.N("This sign-in was started in another browser. Please return to the application and start again here."))
	case flowNoClient:
		h.ErrorPage(w, r, http.StatusBadRequest, i18n.N("Unknown application"), i18n.N("The application that sent you here is no longer registered."))
	case flowFailed:
		h.fail(w, r, "load sign-in", errFlowRead)
	default:
		h.ErrorPage(w, r, http.StatusBadRequest, i18n.N("Sign-in expired"),
			i18n.N("This sign-in request is unknown, finished or has expired. Please return to the application and start again."))
	}
	return nil, false
}

// optionalFlow loads the auth request a page continues, when it names one and this browser
// started it; anything else just means "no product to return to". A failure to read it is
// an error, ours: the page would otherwise go on without the product it continues (its
// name, what it requires, the way back to it).
func (h *Handler) optionalFlow(r *http.Request, id string) (*authFlow, error) {
	if id == "" {
		return nil, nil
	}
	switch f, problem := h.findFlow(r, id); problem {
	case flowOK:
		return f, nil
	case flowFailed:
		return nil, errFlowRead
	}
	return nil, nil
}

// errFlowRead: an auth request or its client could not be read (the store's own error is
// logged and recorded by the store guard).
var errFlowRead = errors.New("ui: the sign-in's request or application could not be read")

type flowProblem int

const (
	flowOK flowProblem = iota
	flowUnknown
	flowOtherBrowser
	flowNoClient
	// flowFinished: the request was completed by the person this browser is signed in as
	// (finishedBy); the flow holds the request and its client.
	flowFinished
	// flowFailed: the request or its client could not be read, a failure of ours: never
	// answered as a request that expired, nor as a page without it.
	flowFailed
)

// findFlow loads a live auth request and its client, only for the browser that started it:
// the one place the browser binding is checked in the UI. Unless the problem is flowOK or
// flowFinished, the flow (when not nil) holds only the request: for logging, and for the
// sign-in page, which may yet find a finished request to be the person's (finishedBy).
func (h *Handler) findFlow(r *http.Request, id string) (*authFlow, flowProblem) {
	ar, err := h.cfg.Store.GetAuthRequest(r.Context(), id)
	if storage.Failed(err) {
		return nil, flowFailed
	} else if err != nil {
		return nil, flowUnknown
	}
	if ar.Done {
		// The binding is not asked: completing the request gave the browser a new one,
		// which a form sent again before that answer arrived does not carry. The session
		// is the proof instead.
		s, _, err := h.resolveSession(r)
		if err != nil && !errors.Is(err, sessions.ErrNoSession) {
			h.cfg.Logger.ErrorContext(r.Context(), "resolve session", "err", err)
			return nil, flowFailed
		}
		if s != nil {
			f, err := h.finishedOf(r, ar, s.UserID)
			if err != nil {
				return nil, flowFailed
			}
			if f != nil {
				return f, flowFinished
			}
		}
		return &authFlow{ar: ar}, flowUnknown
	}
	if lp, ok := r.Context().Value(langKey{}).(*langPrefs); ok {
		lp.asked = ar.UILocales
	}
	if c, err := r.Cookie(h.cfg.BrowserCookie); err != nil || !h.bindingOK(c.Value, ar.BrowserHash) {
		return &authFlow{ar: ar}, flowOtherBrowser
	}
	cl, err := h.cfg.Store.GetClient(r.Context(), ar.ClientID)
	if storage.Failed(err) {
		return nil, flowFailed
	} else if err != nil {
		return nil, flowNoClient
	}
	return &authFlow{ar: ar, client: cl}, flowOK
}

// hintAllows reports whether userID may answer the request: a request with an
// id_token_hint is for the hinted person only (OIDC Core §3.1.2.1), whoever else is signed in.
func hintAllows(ar *storage.AuthRequest, userID string) bool {
	return ar.HintSubject == "" || ar.HintSubject == userID
}

// sessionSatisfies reports whether an existing SSO session may answer the request without a
// new password: not when prompt=login, and not when it is older than max_age — unless the
// sign-in happened after the request was made, which is what both ask for.
func (h *Handler) sessionSatisfies(ar *storage.AuthRequest, s *storage.Session) bool {
	if !hintAllows(ar, s.UserID) {
		return false
	}
	if !s.AuthTime.Before(ar.CreatedAt) {
		return true
	}
	if slices.Contains(ar.Prompt, "login") {
		return false
	}
	if ar.MaxAge != nil && h.now().Sub(s.AuthTime).Seconds() > float64(*ar.MaxAge) {
		return false
	}
	return true
}

// sessionAnswers is the rule for completing f with the session s of u, wherever a request
// is completed (complete): the session satisfies the request's id_token_hint, prompt=login
// and max_age, its second step is as strong as the client and acr_values ask, and the
// profile is complete. The sign-in page decides the same way what is due instead; the
// consent page cannot be used to skip it.
func (h *Handler) sessionAnswers(f *authFlow, s *storage.Session, u *storage.User) bool {
	return h.sessionSatisfies(f.ar, s) &&
		mfa.Satisfies(mfa.EvidenceFromAMR(s.AMR).ACR(), requirement(f)) &&
		account.Complete(u)
}

func (h *Handler) loginGet(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if id == "" {
		// reauth=1 asks a signed-in person to sign in again (before removing a factor, say).
		s, _, ok := h.optionalSession(w, r)
		if !ok {
			return
		}
		if s != nil && r.URL.Query().Get("reauth") == "" {
			http.Redirect(w, r, localPath(returnPath(r.URL.Query().Get("return"))), http.StatusFound)
			return
		}
		h.renderLoginPage(w, r, nil, loginPage{}, http.StatusOK)
		return
	}
	f, ok := h.loadFlow(w, r, id)
	if !ok {
		return
	}
	s, u, ok := h.optionalSession(w, r)
	if !ok {
		return
	}
	if s != nil && !hintAllows(f.ar, s.UserID) && !s.AuthTime.Before(f.ar.CreatedAt) {
		// Signed in for this very request, but as someone other than the hint names.
		h.redirectError(w, r, f.ar, "login_required", "the signed-in account is not the one id_token_hint names")
		return
	}
	if s != nil && h.sessionSatisfies(f.ar, s) {
		ev := mfa.EvidenceFromAMR(s.AMR)
		if mfa.Satisfies(ev.ACR(), requirement(f)) {
			h.proceed(w, r, f, s, u)
			return
		}
		// The session is good but not strong enough for this request: step up.
		if slices.Contains(f.ar.Prompt, "none") {
			h.redirectError(w, r, f.ar, "interaction_required", "a second factor is required")
			return
		}
		target, _, err := h.nextStep(w, r, u, ev, f, "", false, false, nil)
		if err != nil {
			h.fail(w, r, "step up", err)
			return
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	if slices.Contains(f.ar.Prompt, "none") {
		h.redirectError(w, r, f.ar, "login_required", "the user is not signed in")
		return
	}
	h.renderLogin(w, r, f, f.ar.LoginHint, "", http.StatusOK)
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, f *authFlow, email, msg string, status int) {
	h.renderLoginPage(w, r, f, loginPage{Email: email, Error: msg}, status)
}

// activatedNotice is shown on the sign-in page an activation link leads to.
const activatedNotice = "Your email address is confirmed and your account is active. Sign in with your password to continue."

func (h *Handler) renderLoginPage(w http.ResponseWriter, r *http.Request, f *authFlow, p loginPage, status int) {
	p.common = h.common(w, r, i18n.N("Sign in"))
	p.Passkeys = h.cfg.WebAuthn != nil
	if r.URL.Query().Get("activated") == "1" && p.Error == "" {
		p.Notice = p.T(i18n.N(activatedNotice))
	}
	if f == nil {
		p.Return = returnPath(r.FormValue("return"))
		p.Reauth = r.FormValue("reauth") == "1"
	} else {
		p.AuthRequestID = f.ar.ID
		p.ClientName = f.client.Name
		if u, err := redirecturi.ErrorURL(f.ar.RedirectURI, "access_denied", "the user cancelled the sign-in", f.ar.State, h.cfg.Issuer); err == nil {
			p.CancelURL = u
		}
	}
	h.render(w, r, status, "login", p)
}

func (h *Handler) loginPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	var f, finished *authFlow
	var ok bool
	if id := r.PostFormValue("authRequestID"); id != "" {
		// One read of the request: this is every sign-in's path.
		if ff, problem := h.findFlow(r, id); problem == flowUnknown && ff != nil && ff.ar.Done {
			// Finished, and this browser is not signed in as who finished it (the form
			// sent again before the first answer's cookies arrived): the password decides
			// below whether it was this person's.
			finished = ff
		} else if f, ok = h.flowAnswer(w, r, ff, problem); !ok {
			return
		}
	}
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	lang := h.lang(r, nil)
	T := func(msg string, args ...any) string { return h.cfg.I18n.T(lang, msg, args...) }
	// An empty field is a slip, not a failed sign-in: name the field and count nothing.
	switch {
	case strings.TrimSpace(email) == "":
		h.renderLogin(w, r, f, email, T("Enter your email address."), http.StatusOK)
		return
	case password == "":
		h.renderLogin(w, r, f, email, T("Enter your password."), http.StatusOK)
		return
	}
	// A browser that signed in to this account before keeps its own failure count.
	m := h.withDevice(r, h.meta(r, lang))
	if f != nil {
		m.ClientID = f.client.ID
	}
	u, err := h.cfg.Accounts.SignIn(r.Context(), email, password, m)
	var locked *account.LockedError
	switch {
	case errors.Is(err, account.ErrInvalidCredentials):
		// The same page, status and wording for an unknown email and a wrong password.
		h.renderLogin(w, r, f, email, T("The email or password is incorrect."), http.StatusOK)
		return
	case errors.As(err, &locked):
		// Unknown addresses lock exactly like real ones, so this reveals nothing either.
		h.renderLogin(w, r, f, email, T("Too many failed sign-in attempts. Try again after %s, or reset your password.",
			locked.Until.UTC().Format("15:04 MST")), http.StatusOK)
		return
	case errors.Is(err, account.ErrTooManyAttempts):
		h.renderLogin(w, r, f, email, T("Too many requests. Please try again later."), http.StatusTooManyRequests)
		return
	case errors.Is(err, account.ErrNotActive):
		h.renderLoginPage(w, r, f, loginPage{Email: email, Pending: true,
			Error: T("Please activate your account first: follow the link in the email we sent you.")}, http.StatusOK)
		return
	case errors.Is(err, account.ErrLocked):
		h.renderLogin(w, r, f, email, T("This account is locked. Please contact support."), http.StatusOK)
		return
	case err != nil:
		h.fail(w, r, "authenticate", err)
		return
	}
	h.cfg.Logger.InfoContext(r.Context(), "password accepted", "user_id", u.ID)
	if finished != nil {
		// No session starts: the first answer's did, or was lost with it; what is done is
		// said, to its person only.
		f, err := h.finishedOf(r, finished.ar, u.ID)
		if err != nil {
			h.fail(w, r, "finished sign-in", err)
			return
		}
		if f != nil {
			h.flowFinishedPage(w, r, f)
			return
		}
		h.flowAnswer(w, r, finished, flowUnknown) // answers as for anyone else
		return
	}
	ret := ""
	if f == nil {
		ret = returnPath(r.PostFormValue("return"))
	}
	// A request that needs nothing else of the person is completed with the session, in one
	// transaction, and the browser goes on to the provider's callback.
	reauth := f == nil && r.PostFormValue("reauth") == "1"
	target, sess, err := h.nextStep(w, r, u, mfa.Evidence{Password: true}, f, ret, reauth, true, nil)
	switch {
	case errors.Is(err, errFlowGone):
		h.flowGonePage(w, r, f, u.ID)
		return
	case err != nil:
		h.cfg.Logger.ErrorContext(r.Context(), "sign in", "err", err, "user_id", u.ID)
		h.ErrorPage(w, r, http.StatusInternalServerError, i18n.N("Something went wrong"), i18n.N("Please try again in a moment."))
		return
	}
	if sess != nil && f != nil && target == flowTarget(f.ar.ID, "") {
		// Not completed: the profile, consent or a refusal comes first.
		h.proceed(w, r, f, sess, u)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// flowGonePage answers a signed-in request of userID that could not be completed because it
// finished or expired meanwhile: when it was userID who finished it (the same form sent
// twice at once), that is said instead.
func (h *Handler) flowGonePage(w http.ResponseWriter, r *http.Request, f *authFlow, userID string) {
	done, err := h.finishedRequest(r, f.ar.ID, userID)
	if err != nil {
		h.fail(w, r, "finished sign-in", err)
		return
	}
	if done != nil {
		h.flowFinishedPage(w, r, done)
		return
	}
	h.ErrorPage(w, r, http.StatusBadRequest, i18n.N("Sign-in expired"),
		i18n.N("This sign-in request has expired or was already used. Please return to the application and start again."))
}

// finishedBy is the rule for an authorization request asked for again after it finished:
// it is the repeat of the person userID (proved by the browser's session, or by the
// password just checked) when userID completed it. The double-click, the reload of the
// sign-in or consent form, or the form sent again after its answer was lost on the
// network then learns that it is done, not that it expired. Nothing is granted again: the
// code went with the first answer, and no second one is issued for the request.
func finishedBy(ar *storage.AuthRequest, userID string) bool {
	return ar.Done && userID != "" && ar.UserID == userID
}

// finishedOf is request ar with its client when userID completed it (finishedBy), for its
// page (flowFinishedPage); nil otherwise, or when its client cannot be read.
func (h *Handler) finishedOf(r *http.Request, ar *storage.AuthRequest, userID string) (*authFlow, error) {
	if !finishedBy(ar, userID) {
		return nil, nil
	}
	cl, err := h.cfg.Store.GetClient(r.Context(), ar.ClientID)
	if storage.Failed(err) {
		// Ours: the person is told what became of their sign-in, not that it expired.
		return nil, fmt.Errorf("finished sign-in's application: %w", err)
	}
	if err != nil {
		return nil, nil // the application was deleted since
	}
	return &authFlow{ar: ar, client: cl}, nil
}

// finishedRequest reads the request id and is finishedOf it; nil when it is unknown, expired
// or not userID's finished one. An error is a failure to read, ours.
func (h *Handler) finishedRequest(r *http.Request, id, userID string) (*authFlow, error) {
	ar, err := h.cfg.Store.GetAuthRequest(r.Context(), id)
	if storage.Failed(err) {
		return nil, fmt.Errorf("finished sign-in: %w", err)
	}
	if err != nil {
		return nil, nil
	}
	return h.finishedOf(r, ar, userID)
}

// flowFinishedPage tells the person that f, which they completed, is done (finishedBy), and
// what to do when the application never heard of it.
func (h *Handler) flowFinishedPage(w http.ResponseWriter, r *http.Request, f *authFlow) {
	T := func(msg string, args ...any) string { return h.cfg.I18n.T(h.lang(r, nil), msg, args...) }
	h.message(w, r, http.StatusOK, i18n.N("You are already signed in"),
		T("This sign-in to %s is already complete. Go back to %s; if it is still waiting for you, start the sign-in there again.", f.client.Name, f.client.Name), nil)
}

// flowNext is what a signed-in authorization request needs next.
type flowNext int

const (
	flowComplete flowNext = iota // hand the browser back to the provider
	flowRefuse                   // answer the client with an OAuth error
	flowProfile                  // complete the profile first
	flowConsent                  // ask the person to allow the client
)

// nextFlowStep decides what a signed-in request needs next, in this order: the account must
// be the one id_token_hint names; the profile must be complete; a third-party client must be
// allowed (needConsent, asked only when the earlier steps pass). With prompt=none a question
// becomes an OAuth error (code and description) for the client instead.
func nextFlowStep(ar *storage.AuthRequest, userID string, profileComplete bool, needConsent func() (bool, error)) (next flowNext, code, desc string, err error) {
	silent := slices.Contains(ar.Prompt, "none")
	if !hintAllows(ar, userID) {
		return flowRefuse, "login_required", "the signed-in account is not the one id_token_hint names", nil
	}
	if !profileComplete {
		if silent {
			return flowRefuse, "interaction_required", "the user must complete the profile", nil
		}
		return flowProfile, "", "", nil
	}
	need, err := needConsent()
	if err != nil {
		return 0, "", "", err
	}
	if need {
		if silent {
			return flowRefuse, "consent_required", "the user has not yet allowed this application", nil
		}
		return flowConsent, "", "", nil
	}
	return flowComplete, "", "", nil
}

// flowDecision is what nextFlowStep decided for a request signed in as userID.
type flowDecision struct {
	userID     string
	next       flowNext
	code, desc string
	err        error
}

// decideFlow is nextFlowStep for f signed in as userID (account u), decided once per
// request: the sign-in page decides before the session starts (planCompletion) what proceed
// then acts on.
func (h *Handler) decideFlow(r *http.Request, f *authFlow, userID string, u *storage.User) flowDecision {
	if f.decided != nil && f.decided.userID == userID {
		return *f.decided
	}
	d := flowDecision{userID: userID}
	d.next, d.code, d.desc, d.err = nextFlowStep(f.ar, userID, account.Complete(u), func() (bool, error) {
		return h.cfg.Consent.Needed(r.Context(), u.ID, f.client, f.ar.Scopes, f.ar.Prompt)
	})
	f.decided = &d
	return d
}

// proceed continues a signed-in auth request: profile completion and consent when needed,
// then completion.
func (h *Handler) proceed(w http.ResponseWriter, r *http.Request, f *authFlow, s *storage.Session, u *storage.User) {
	d := h.decideFlow(r, f, s.UserID, u)
	next, code, desc, err := d.next, d.code, d.desc, d.err
	switch {
	case err != nil:
		h.fail(w, r, "look up consent", err)
	case next == flowRefuse:
		h.redirectError(w, r, f.ar, code, desc)
	case next == flowProfile:
		http.Redirect(w, r, "/profile?authRequestID="+url.QueryEscape(f.ar.ID), http.StatusSeeOther)
	case next == flowConsent:
		http.Redirect(w, r, "/consent?authRequestID="+f.ar.ID, http.StatusSeeOther)
	default:
		h.complete(w, r, f, s, u)
	}
}

// complete marks the auth request done with the session s of u and hands the browser to the
// client with its code (or to the provider's callback, which issues it).
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, f *authFlow, s *storage.Session, u *storage.User) {
	// Every path to a code for an existing session ends here, the consent page's too: the
	// rule is enforced once more, whatever page the browser posted to.
	if !hintAllows(f.ar, s.UserID) {
		h.redirectError(w, r, f.ar, "login_required", "the signed-in account is not the one id_token_hint names")
		return
	}
	if !h.sessionAnswers(f, s, u) {
		http.Redirect(w, r, "/login?authRequestID="+url.QueryEscape(f.ar.ID), http.StatusSeeOther)
		return
	}
	// The browser binding's new secret is stored in the completion's transaction and handed
	// to the browser only once that committed: when the transaction fails, our 503 carries no
	// cookie, and the browser's old secret must still be the one its requests are bound to.
	bind := h.newBinding(r, f)
	c := h.newCompletion(f)
	err := h.cfg.Store.InTx(r.Context(), func(tx storage.Store) error {
		if err := bind.store(r.Context(), tx); err != nil {
			return fmt.Errorf("re-issue browser binding: %w", err)
		}
		return c.store(r.Context(), tx, s)
	})
	if err != nil {
		// A failure of ours, not an expired request.
		h.fail(w, r, "complete auth request", err)
		return
	}
	h.setBinding(w, f, bind)
	if c.gone {
		h.flowGonePage(w, r, f, s.UserID)
		return
	}
	http.Redirect(w, r, c.target(r.Context(), h), http.StatusSeeOther)
}

// redirectError answers an auth request with an OAuth error at its redirect URI, which the
// provider verified against the client's registration before the request was stored.
func (h *Handler) redirectError(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, code, desc string) {
	u, err := redirecturi.ErrorURL(ar.RedirectURI, code, desc, ar.State, h.cfg.Issuer)
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, i18n.N("Invalid request"), i18n.N("The application's address is invalid."))
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}
