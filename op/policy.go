package op

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/internal/addrkey"
)

// Limits on failed client authentication (RFC 6749 §10.10 asks for brute-force protection).
// Secrets are 256 random bits, so guessing is hopeless anyway; the per-IP cap keeps one
// source from hammering the endpoint, and the per-client count is logged so an operator sees a
// client under attack. The client itself is never locked: an attacker could otherwise lock
// out a product's backend by naming its client_id.
const (
	clientFailWindow   = 15 * time.Minute
	clientFailsPerIP   = 30
	clientFailsLogFrom = 20
)

// repeated returns the first parameter given more than once (in the query and the body
// together), or "". RFC 6749 §3.1 and §3.2: parameters must not be included more than once;
// refusing them means our checks and the library read the very same values. resource is
// repeatable (RFC 8707 §2) and only ever read by us.
func repeated(form url.Values) string {
	for k, v := range form {
		if len(v) > 1 && k != "resource" {
			return k
		}
	}
	return ""
}

// PKCE syntax (RFC 7636 §4.1, §4.2): the verifier is 43–128 unreserved characters, and an
// S256 challenge is the base64url (no padding) of a SHA-256: exactly 43 characters.
func validVerifier(v string) bool {
	return len(v) >= 43 && len(v) <= 128 && onlyChars(v, "-._~")
}

func validS256Challenge(c string) bool { return len(c) == 43 && onlyChars(c, "-_") }

func onlyChars(s, extra string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

// preToken checks a token request before the library sees it: a form without repeated
// parameters, the client authenticated first whatever the grant (so an unknown client and a
// wrong secret look alike, and a code is never looked at for an unauthenticated client), and
// a well-formed PKCE verifier.
func (p *Provider) preToken(w http.ResponseWriter, r *http.Request) (*client, bool) {
	if r.Method != http.MethodPost {
		return nil, true // the library answers other methods
	}
	if err := r.ParseForm(); err != nil {
		httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("cannot parse the form"), http.StatusBadRequest)
		return nil, false
	}
	if k := repeated(r.Form); k != "" {
		httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("a parameter is repeated: %s", k), http.StatusBadRequest)
		return nil, false
	}
	c, err := p.authenticateClient(r)
	if err != nil {
		p.clientError(w, r, err)
		return nil, false
	}
	if !p.preTokenResources(w, r, c.c) || !p.preTokenDPoP(w, r, c.c) {
		return nil, false
	}
	if r.PostForm.Get("grant_type") == string(oidc.GrantTypeCode) {
		if v := r.PostForm.Get("code_verifier"); v != "" && !validVerifier(v) {
			httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"), http.StatusBadRequest)
			return nil, false
		}
	}
	return c, true
}

// preClientAuth authenticates the client of an introspection or revocation request as
// preToken does at the token endpoint: a failure is counted against the caller's address
// (and refused once it failed too often) whichever path answers the request afterwards
// (ours for refresh and machine tokens, the library's for the rest), all of which check the
// client again from the request's memoised copy. It reports whether the request may go on.
func (p *Provider) preClientAuth(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		return true // the library answers
	}
	c, err := p.authenticateClient(r)
	if err != nil {
		p.clientError(w, r, err)
		return false
	}
	requestInfoFrom(r.Context()).authenticatedClient = c
	return true
}

// clientError answers a failed client authentication: 401 invalid_client with
// WWW-Authenticate (RFC 6749 §5.2), or 429 once the caller's address has failed too often.
func (p *Provider) clientError(w http.ResponseWriter, r *http.Request, err *oidc.Error) {
	status := http.StatusBadRequest
	switch err.ErrorType {
	case oidc.InvalidClient:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="`+p.cfg.Issuer+`", charset="UTF-8"`)
	case oidc.ServerError:
		status = http.StatusInternalServerError // ours (the failure counter could not be read)
	case "too_many_attempts":
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "900")
		err = oidc.ErrInvalidClient().WithDescription("too many failed attempts from this address; try again later")
	}
	httphelper.MarshalJSONWithStatus(w, err, status)
}

// clientAuthFailed counts a failed client authentication per address and per client id.
func (p *Provider) clientAuthFailed(r *http.Request, clientID string) {
	ctx := r.Context()
	now := p.cfg.Now().UTC()
	ip := addrkey.LimitKey(p.cfg.ClientIP(r))
	p.cleanAddrs.forget(ip)
	if _, err := p.cfg.Store.HitCounter(ctx, "client-auth-ip:"+ip, clientFailWindow, now); err != nil {
		p.cfg.Logger.ErrorContext(ctx, "count failed client authentication", "err", err)
	}
	if clientID == "" {
		return
	}
	n, err := p.cfg.Store.HitCounter(ctx, "client-auth-client:"+clientID, clientFailWindow, now)
	if err == nil && n >= clientFailsLogFrom {
		p.cfg.Logger.WarnContext(ctx, "repeated failed authentication of a client: its secret may be under attack",
			"client_id", clientID, "failures", n, "window", clientFailWindow, "ip", ip)
	}
}

// clientAuthBlocked reports whether the caller's address has failed too often.
func (p *Provider) clientAuthBlocked(r *http.Request) (bool, error) {
	ip := addrkey.LimitKey(p.cfg.ClientIP(r))
	if p.cleanAddrs.clean(ip) {
		return false, nil
	}
	n, err := p.cfg.Store.CounterValue(r.Context(), "client-auth-ip:"+ip, clientFailWindow, p.cfg.Now().UTC())
	if err == nil && n == 0 {
		p.cleanAddrs.remember(ip)
	}
	return n >= clientFailsPerIP, err
}

// cleanAddrs remembers for a second the addresses whose failed-authentication count was
// zero, so that a busy client's every request does not read its address's counter (a tenth
// of a client_credentials grant's CPU). A failure seen here forgets the address at once,
// so an address that has failed is read every time; failures counted by another instance
// are seen here within cleanAddrTTL, which lets an attacker spread over n instances make at
// most n guesses a second more than the limit before they are refused.
type cleanAddrs struct {
	mu sync.Mutex
	m  map[string]time.Time
}

const (
	cleanAddrTTL = time.Second
	// maxCleanAddrs bounds the memory; past it the set is emptied and refills.
	maxCleanAddrs = 8192
)

func (c *cleanAddrs) clean(ip string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.m[ip]
	return ok && time.Since(at) < cleanAddrTTL
}

func (c *cleanAddrs) remember(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCleanAddrs {
		c.m = make(map[string]time.Time)
	}
	c.m[ip] = time.Now()
}

func (c *cleanAddrs) forget(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, ip)
}

// preUserinfo refuses an access token in the URL (RFC 6750 §2.3 is "SHOULD NOT": URLs end up
// in logs and Referer headers).
func (p *Provider) preUserinfo(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Has("access_token") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.cfg.Issuer+`", error="invalid_request", error_description="send the access token in the Authorization header"`)
		httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("send the access token in the Authorization header"), http.StatusBadRequest)
		return false
	}
	return true
}

// bearerWriter makes the library's userinfo refusals what RFC 6750 §3 says: 401 with
// WWW-Authenticate: Bearer, error="invalid_token" when a token was presented (expired,
// revoked, forged), and no error code when none was. The library answers 403 {} or a bare
// 401 for these.
type bearerWriter struct {
	http.ResponseWriter
	issuer   string
	hadToken bool
	dropBody bool
	// ri tells a refusal caused by our store failing (answered 503, see introspectWriter)
	// from a bad token.
	ri *requestInfo
}

func (w *bearerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *bearerWriter) WriteHeader(code int) {
	if w.ri != nil && w.ri.storeFailed != nil && code != http.StatusOK {
		w.dropBody = true
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "5")
		w.Header().Del("Content-Length")
		w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.ResponseWriter.Write([]byte(`{"error":"temporarily_unavailable"}` + "\n"))
		return
	}
	if code != http.StatusUnauthorized && code != http.StatusForbidden {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	h := w.Header()
	challenge := `Bearer realm="` + w.issuer + `"`
	if w.hadToken {
		challenge += `, error="invalid_token", error_description="the access token is invalid, expired or revoked"`
	}
	if w.ri != nil && w.ri.dpopScheme {
		challenge = dpopChallenge(w.issuer, "invalid_token", "the access token is invalid, expired or revoked")
	}
	h.Set("WWW-Authenticate", challenge)
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.dropBody = true
	w.ResponseWriter.WriteHeader(http.StatusUnauthorized)
	body := `{"error":"invalid_token","error_description":"the access token is invalid, expired or revoked"}`
	if !w.hadToken {
		body = `{"error":"invalid_request","error_description":"an access token is required"}`
	}
	_, _ = w.ResponseWriter.Write([]byte(body + "\n"))
}

func (w *bearerWriter) Write(b []byte) (int, error) {
	if w.dropBody {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
