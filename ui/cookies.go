package ui

import (
	"context"
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

// The browser binding's secret is re-issued at sign-in and when a flow is completed: a
// binding value planted in this browser before (cookie tossing) is then worth nothing to
// whoever planted it. newBinding draws the new secret, its store moves the browser's pending
// auth requests to it in the transaction that signs in or completes, and setBinding hands it
// to the browser only once that transaction committed (finishSignIn, complete).

// rebinding is a new browser-binding secret about to replace the browser's: store moves
// the browser's pending auth requests to it (in a transaction of the caller's, if it likes),
// then setBinding hands it to the browser.
type rebinding struct {
	oldHash, value, newHash string
}

// newBinding draws the browser's next binding secret; nil when there is nothing to rebind
// (no flow was started in this browser, or this request already rebound f: it still carries
// the old value).
func (h *Handler) newBinding(r *http.Request, f *authFlow) *rebinding {
	if f != nil && f.rebound {
		return nil
	}
	c, err := r.Cookie(h.cfg.BrowserCookie)
	if err != nil {
		return nil
	}
	v := secret.RandomToken(32)
	return &rebinding{oldHash: secret.HashToken(c.Value), value: v, newHash: secret.HashToken(v)}
}

// store moves the browser's pending auth requests to the new secret (nil b: nothing to do).
func (b *rebinding) store(ctx context.Context, st interface {
	RebindAuthRequests(ctx context.Context, oldHash, newHash string) (int64, error)
}) error {
	if b == nil {
		return nil
	}
	_, err := st.RebindAuthRequests(ctx, b.oldHash, b.newHash)
	return err
}

// setBinding sets the stored new secret's cookie and notes it on f.
func (h *Handler) setBinding(w http.ResponseWriter, f *authFlow, b *rebinding) {
	if b == nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: h.cfg.BrowserCookie, Value: b.value, Path: "/", HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	if f != nil {
		f.ar.BrowserHash = b.newHash
		f.rebound = true
	}
}
