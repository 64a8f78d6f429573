package ui

import (
	"net/http"
	"strings"

	"github.com/myaccount/myaccount/internal/secret"
)

// hostPrefix makes a browser accept the cookie only with Secure, Path=/ and no Domain, so a
// sibling subdomain or a plain-http response cannot plant or overwrite it (RFC 6265bis §4.1.3.2).
const hostPrefix = "__Host-"

// cookieName is the name every cookie of ours goes by: with the __Host- prefix when the
// issuer is https (then every cookie is Secure with Path=/ and no Domain).
func (h *Handler) cookieName(name string) string {
	return hostCookieName(name, h.cfg.SecureCookies)
}

func hostCookieName(name string, secure bool) string {
	if !secure || strings.HasPrefix(name, hostPrefix) {
		return name
	}
	return hostPrefix + name
}

// reissueBinding gives the browser a new browser-binding secret and moves its pending auth
// requests to it, at sign-in and when a flow is completed: a binding value planted in this
// browser before (cookie tossing) is then worth nothing to whoever planted it. f is the flow
// being served, if any.
func (h *Handler) reissueBinding(w http.ResponseWriter, r *http.Request, f *authFlow) error {
	if f != nil && f.rebound {
		return nil // once per request: the request still carries the old value
	}
	c, err := r.Cookie(h.cfg.BrowserCookie)
	if err != nil {
		return nil // no flow was started in this browser
	}
	v := secret.RandomToken(32)
	newHash := secret.HashToken(v)
	if _, err := h.cfg.Store.RebindAuthRequests(r.Context(), secret.HashToken(c.Value), newHash); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: h.cfg.BrowserCookie, Value: v, Path: "/", HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	if f != nil {
		f.ar.BrowserHash = newHash
		f.rebound = true
	}
	return nil
}
