package ui

import (
	"context"
	"errors"
	"net/http"

	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// resolveSession returns the browser's live SSO session and its user; sessions.ErrNoSession
// when it has none. The rules (live, not idle, account active) are the sessions service's.
func (h *Handler) resolveSession(r *http.Request) (*storage.Session, *storage.User, error) {
	c, err := r.Cookie(h.cfg.SessionCookie)
	if err != nil {
		return nil, nil, sessions.ErrNoSession
	}
	return h.cfg.Sessions.Resolve(r.Context(), c.Value)
}

// currentSession returns the browser's live SSO session and its user, or nil. A storage
// failure is logged and the page is shown as to a signed-out browser: pages that need the
// session use signedIn, which answers the failure as ours instead.
func (h *Handler) currentSession(r *http.Request) (*storage.Session, *storage.User) {
	s, u, err := h.resolveSession(r)
	if err != nil {
		if !errors.Is(err, sessions.ErrNoSession) {
			h.cfg.Logger.ErrorContext(r.Context(), "resolve session", "err", err)
		}
		return nil, nil
	}
	return s, u
}

// optionalSession is the browser's session for a page that also serves the signed out:
// (nil, nil, true) without one. A failure to read it is ours, not a sign-out: it is
// answered (503) and ok is false, so that the page neither asks a signed-in person to sign
// in again nor carries on as if nobody were.
func (h *Handler) optionalSession(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	s, u, err := h.resolveSession(r)
	switch {
	case errors.Is(err, sessions.ErrNoSession):
		return nil, nil, true
	case err != nil:
		h.fail(w, r, "resolve session", err)
		return nil, nil, false
	}
	return s, u, true
}

// scriptSession is the browser's session for a page's script: without one, the script is
// told the session has ended (401); a failure to read it is ours (500, which the fault
// mapping answers 503), not an ended session.
func (h *Handler) scriptSession(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	s, u, err := h.resolveSession(r)
	switch {
	case errors.Is(err, sessions.ErrNoSession):
		h.jsonError(w, r, nil, http.StatusUnauthorized, i18n.N("Your session has ended. Please sign in again."))
		return nil, nil, false
	case err != nil:
		h.cfg.Logger.ErrorContext(r.Context(), "resolve session", "err", err)
		h.jsonError(w, r, nil, http.StatusInternalServerError, i18n.N("Please try again in a moment."))
		return nil, nil, false
	}
	return s, u, true
}

// startSession signs the browser in with a fresh session: a new id and a new cookie every
// time, so a session id planted before sign-in is worthless after it. Any previous session
// of this browser is revoked. also (nil: none) is the sign-in's other writes, committed with
// the session (sessions.Start.Also).
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, u *storage.User, ev mfa.Evidence,
	also func(ctx context.Context, tx storage.Store, s *storage.Session) error) (*storage.Session, error) {
	return h.newSession(w, r, sessions.Start{UserID: u.ID, AMR: ev.AMR(), ACR: ev.ACR(), Also: also})
}

// continueIn starts, in tx (a password change's: account.Service.ChangePassword's then), the
// session the browser continues with after an operation made from s ended every session: no
// sign-in happened, so it keeps s's sign-in (sessions.Start.Continues). Its cookie is set
// (setSessionCookie) once tx committed.
func (h *Handler) continueIn(ctx context.Context, tx storage.Store, r *http.Request, s *storage.Session) (string, error) {
	_, token, err := h.cfg.Sessions.StartIn(ctx, tx, h.sessionStart(r, sessions.Start{UserID: s.UserID, Continues: s}))
	return token, err
}

// newSession starts st in this browser, replacing its session, and sets the cookie.
func (h *Handler) newSession(w http.ResponseWriter, r *http.Request, st sessions.Start) (*storage.Session, error) {
	if id, ok := r.Context().Value(sessionIDKey{}).(string); ok && st.Continues == nil {
		st.ID = id // a second step's sign-in (secondFactorDone)
	}
	s, token, err := h.cfg.Sessions.Start(r.Context(), h.sessionStart(r, st))
	if err != nil {
		return nil, err
	}
	h.setSessionCookie(w, token)
	return s, nil
}

// sessionStart is st in this browser: the session it replaces, its user agent and address.
func (h *Handler) sessionStart(r *http.Request, st sessions.Start) sessions.Start {
	if c, err := r.Cookie(h.cfg.SessionCookie); err == nil {
		st.Cookie = c.Value // its session, idle or not, is replaced
	}
	st.UserAgent, st.IP = r.UserAgent(), h.cfg.ClientIP(r)
	return st
}

func (h *Handler) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: h.cfg.SessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// endSession revokes the browser's session, best effort, and clears the cookie: for after
// an operation that ended every session of the account already (a reset, "this wasn't me",
// a deleted account). A sign-out itself uses signOut, which must not fail quietly.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	if s, _ := h.currentSession(r); s != nil {
		if err := h.cfg.Sessions.End(r.Context(), s.ID); err != nil {
			h.cfg.Logger.ErrorContext(r.Context(), "revoke session", "err", err)
		}
	}
	h.dropSessionCookie(w)
}

// signOut ends the browser's session (with its back-channel logouts) and clears the cookie.
// On an error, reading or ending the session failed: the cookie stays, so the person can
// sign out again, and the caller answers 503 instead of telling anyone, an application
// through its post-logout address least of all, that the session ended.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) error {
	s, _, err := h.resolveSession(r)
	switch {
	case errors.Is(err, sessions.ErrNoSession):
	case err != nil:
		return err
	default:
		if err := h.cfg.Sessions.End(r.Context(), s.ID); err != nil {
			return err
		}
	}
	h.dropSessionCookie(w)
	return nil
}

func (h *Handler) dropSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: h.cfg.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// sessionIDKey carries, in a second step's request, the id its session is to have
// (sessionOf), from secondFactorDone to newSession through the sign-in's steps between.
type sessionIDKey struct{}

// secondStepKey carries, in a second step's request, the method it was passed with, from
// secondFactorDone to finishSignIn, whose records write its "mfa_passed" event with the
// session (account.SignedIn.SecondStep).
type secondStepKey struct{}

// sessionOf is the id of the session pending sign-in p makes ("" for a cookie without an
// ID): derived from p's random ID, which only the sealed cookie holds.
func sessionOf(p *pendingSignIn) string {
	if p.ID == "" {
		return ""
	}
	return secret.DerivedID("session of sign-in " + p.ID)
}

// completedBy reports whether pending sign-in p made its session already: its second step
// sent again by a browser that never got the first answer (the double press, the network).
func (h *Handler) completedBy(r *http.Request, p *pendingSignIn) (bool, error) {
	id := sessionOf(p)
	if id == "" {
		return false, nil
	}
	return h.cfg.Sessions.Made(r.Context(), id, p.UserID)
}
