package ui

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"net/http"

	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/secret"
)

const csrfCookie = "myaccount_csrf"

// SecurityHeaders sets the strict headers every response carries, and caps request bodies.
//
// It also sets Cache-Control: no-store on every response, by default: pages, redirects, error
// pages and answers of the protocol endpoints carry a person's data or a one-time value, and
// a response no handler thought about must not sit in a cache either. A handler whose answer
// may be stored (static files, discovery, JWKS) replaces it with Header().Set before writing.
func SecurityHeaders(next http.Handler, https bool, maxBody int64) http.Handler {
	// Built once: every response shares these one-element slices (len = cap, so a handler's
	// Header().Add copies instead of writing into them; Set replaces them). Setting them per
	// request was an allocation each, on every response.
	headers := [][2]string{
		// No form-action: Chrome applies it to the redirects after a form post, and sign-in
		// ends in a redirect to the product's registered redirect URI.
		{"Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"},
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		{"Referrer-Policy", "no-referrer"},
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"},
		// The default only: a handler's Set replaces it (see above).
		{"Cache-Control", "no-store"},
	}
	if https {
		headers = append(headers, [2]string{"Strict-Transport-Security", "max-age=63072000; includeSubDomains"})
	}
	values := make([][]string, len(headers))
	for i, kv := range headers {
		values[i] = []string{kv[1]}[:1:1]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for i, kv := range headers {
			h[kv[0]] = values[i]
		}
		if maxBody > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

type csrfKey struct{}

// withCSRFCookie makes sure the browser holds a CSRF secret; forms carry an HMAC of it.
func (h *Handler) withCSRFCookie(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := ""
		if c, err := r.Cookie(h.csrfCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
			v = c.Value
		} else {
			v = secret.RandomToken(32)
			http.SetCookie(w, &http.Cookie{Name: h.csrfCookie, Value: v, Path: "/", HttpOnly: true,
				Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
		}
		ctx := context.WithValue(r.Context(), csrfKey{}, v)
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, langKey{}, &langPrefs{})))
	})
}

// Middleware wraps the UI's routes: cross-origin protection (Sec-Fetch-Site / Origin) plus
// the per-browser CSRF token, defence in depth.
func (h *Handler) Middleware(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ErrorPage(w, r, http.StatusForbidden, i18n.N("Request refused"), i18n.N("This form was sent from another site. Please go back and try again."))
	}))
	return h.withCSRFCookie(cop.Handler(next))
}

func (h *Handler) csrfToken(_ http.ResponseWriter, r *http.Request) string {
	v, _ := r.Context().Value(csrfKey{}).(string)
	if v == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(h.mac("csrf", v))
}

// checkCSRF verifies a posted form's token against the browser's CSRF cookie.
func (h *Handler) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(h.csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("csrf_token"))
	if err != nil {
		return false
	}
	return hmac.Equal(got, h.mac("csrf", c.Value))
}

// parsePost parses a form post and checks its CSRF token, rendering the refusal itself.
func (h *Handler) parsePost(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, i18n.N("Invalid request"), i18n.N("The form could not be read."))
		return false
	}
	if !h.checkCSRF(r) {
		h.ErrorPage(w, r, http.StatusForbidden, i18n.N("Request refused"), i18n.N("This form has expired or was not sent from this site. Please go back, reload the page and try again."))
		return false
	}
	return true
}

// checkCSRFHeader verifies the token a script sends in X-CSRF-Token (JSON requests have no
// form); cross-origin protection has already refused other sites' requests.
func (h *Handler) checkCSRFHeader(r *http.Request) bool {
	c, err := r.Cookie(h.csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(r.Header.Get("X-CSRF-Token"))
	if err != nil {
		return false
	}
	return hmac.Equal(got, h.mac("csrf", c.Value))
}
