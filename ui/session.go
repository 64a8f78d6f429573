package ui

import (
	"errors"
	"net/http"
	"time"

	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// currentSession returns the browser's live SSO session and its user, or nil.
func (h *Handler) currentSession(r *http.Request) (*storage.Session, *storage.User) {
	c, err := r.Cookie(h.cfg.SessionCookie)
	if err != nil || len(c.Value) < 32 || len(c.Value) > 64 {
		return nil, nil
	}
	now := h.now()
	s, err := h.cfg.Store.GetSessionByTokenHash(r.Context(), secret.HashToken(c.Value), now)
	if err != nil {
		return nil, nil
	}
	if h.cfg.SessionIdle > 0 && now.Sub(s.LastSeenAt) > h.cfg.SessionIdle {
		return nil, nil
	}
	u, err := h.cfg.Store.GetUser(r.Context(), s.UserID)
	if err != nil || u.Status != storage.UserActive {
		return nil, nil
	}
	if now.Sub(s.LastSeenAt) > time.Minute {
		if err := h.cfg.Store.TouchSession(r.Context(), s.ID, now); err != nil {
			h.cfg.Logger.WarnContext(r.Context(), "touch session", "err", err)
		}
	}
	return s, u
}

// startSession signs the browser in with a fresh session: a new id and a new cookie every
// time, so a session id planted before sign-in is worthless after it. Any previous session
// of this browser is revoked.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, u *storage.User, ev mfa.Evidence) (*storage.Session, error) {
	now := h.now()
	if old, _ := h.currentSession(r); old != nil {
		_ = h.cfg.Store.RevokeSession(r.Context(), old.ID, now)
	}
	token := secret.RandomToken(32)
	s := &storage.Session{
		ID:         secret.NewID(),
		TokenHash:  secret.HashToken(token),
		UserID:     u.ID,
		AuthTime:   now,
		AMR:        ev.AMR(),
		ACR:        ev.ACR(),
		UserAgent:  truncate(r.UserAgent(), 256),
		IP:         h.cfg.ClientIP(r),
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(h.cfg.SessionTTL),
	}
	if err := h.cfg.Store.CreateSession(r.Context(), s); err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{
		Name: h.cfg.SessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	return s, nil
}

// endSession revokes the browser's session and clears the cookie.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	if s, _ := h.currentSession(r); s != nil {
		if err := h.cfg.Store.RevokeSession(r.Context(), s.ID, h.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.cfg.Logger.ErrorContext(r.Context(), "revoke session", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: h.cfg.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
