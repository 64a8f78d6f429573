package op

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// These tests hold op's own request policy (what it checks before or around the library)
// without a server: repeated parameters, PKCE syntax, failed client authentication limits,
// bearer-token refusals, CORS origins and the id_token_hint shape.

func TestRepeated(t *testing.T) {
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"none", url.Values{}, ""},
		{"single values", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, ""},
		{"repeated", url.Values{"grant_type": {"authorization_code"}, "code": {"a", "b"}}, "code"},
		{"repeated empty", url.Values{"scope": {"", ""}}, "scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := repeated(tt.form); got != tt.want {
				t.Errorf("repeated(%v) = %q, want %q", tt.form, got, tt.want)
			}
		})
	}
}

func TestPKCESyntax(t *testing.T) {
	ok43 := strings.Repeat("a", 43)
	verifiers := []struct {
		v    string
		want bool
	}{
		{ok43, true},
		{strings.Repeat("Z", 128), true},
		{"abc-._~" + strings.Repeat("9", 36), true},
		{strings.Repeat("a", 42), false},  // too short
		{strings.Repeat("a", 129), false}, // too long
		{strings.Repeat("a", 42) + "+", false},
		{strings.Repeat("a", 42) + "/", false},
		{strings.Repeat("a", 42) + "=", false},
		{strings.Repeat("a", 42) + "é", false},
		{"", false},
	}
	for _, tt := range verifiers {
		if got := validVerifier(tt.v); got != tt.want {
			t.Errorf("validVerifier(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
	challenges := []struct {
		c    string
		want bool
	}{
		{ok43, true},
		{strings.Repeat("-", 21) + strings.Repeat("_", 22), true},
		{strings.Repeat("a", 44), false}, // a SHA-256 is exactly 43 characters
		{strings.Repeat("a", 42) + "=", false},
		{strings.Repeat("a", 42) + ".", false}, // '.' and '~' are verifier characters, not base64url
		{strings.Repeat("a", 42) + "~", false},
	}
	for _, tt := range challenges {
		if got := validS256Challenge(tt.c); got != tt.want {
			t.Errorf("validS256Challenge(%q) = %v, want %v", tt.c, got, tt.want)
		}
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"héllo", 2, "h"}, // é is two bytes: not split
		{"héllo", 3, "hé"},
		{"日本", 4, "日"},
		{"日本", 2, ""},
	}
	for _, tt := range tests {
		if got := truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

func newPolicyProvider(t *testing.T) (*Provider, *fixedClock) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "op.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return &Provider{cfg: Config{
		Issuer: "https://id.example", Store: db, Now: c.now,
		ClientIP: func(r *http.Request) string { return r.RemoteAddr },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}, c
}

func requestFrom(ip string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	r.RemoteAddr = ip
	return r
}

// TestClientAuthFailuresBlockTheAddress: an address is blocked after clientFailsPerIP
// failures within the window, whichever clients it named; other addresses and the client
// itself are not (an attacker naming a client_id must not lock out its backend); the block
// ends with the window.
func TestClientAuthFailuresBlockTheAddress(t *testing.T) {
	p, c := newPolicyProvider(t)
	attacker, backend := requestFrom("203.0.113.9"), requestFrom("192.0.2.10")
	blocked := func(r *http.Request) bool {
		t.Helper()
		b, err := p.clientAuthBlocked(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i := range clientFailsPerIP {
		if blocked(attacker) {
			t.Fatalf("blocked after %d failures, want %d", i, clientFailsPerIP)
		}
		p.clientAuthFailed(attacker, "backend")
	}
	if !blocked(attacker) {
		t.Errorf("not blocked after %d failures", clientFailsPerIP)
	}
	if blocked(backend) {
		t.Error("the client's own address is blocked by failures from another")
	}
	c.t = c.t.Add(clientFailWindow + time.Second)
	if blocked(attacker) {
		t.Error("still blocked after the window")
	}
}

func TestClientErrorStatuses(t *testing.T) {
	p, _ := newPolicyProvider(t)
	tests := []struct {
		name       string
		err        *oidc.Error
		status     int
		header     string
		wantHeader string
		wantError  string
	}{
		{"invalid client", oidc.ErrInvalidClient(), http.StatusUnauthorized, "WWW-Authenticate", `Basic realm="https://id.example", charset="UTF-8"`, "invalid_client"},
		{"too many", &oidc.Error{ErrorType: "too_many_attempts"}, http.StatusTooManyRequests, "Retry-After", "900", "invalid_client"},
		{"other", oidc.ErrInvalidRequest(), http.StatusBadRequest, "WWW-Authenticate", "", "invalid_request"},
		{"ours", oidc.ErrServerError(), http.StatusInternalServerError, "WWW-Authenticate", "", "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			p.clientError(w, requestFrom("192.0.2.1"), tt.err)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get(tt.header); got != tt.wantHeader {
				t.Errorf("%s = %q, want %q", tt.header, got, tt.wantHeader)
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != tt.wantError {
				t.Errorf("body %s: error = %q (%v), want %q", w.Body, body.Error, err, tt.wantError)
			}
		})
	}
}

func TestPreUserinfoRefusesTokenInURL(t *testing.T) {
	p, _ := newPolicyProvider(t)
	w := httptest.NewRecorder()
	if p.preUserinfo(w, httptest.NewRequest(http.MethodGet, "/userinfo?access_token=x", nil)) {
		t.Fatal("a token in the URL was let through")
	}
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Errorf("status %d, WWW-Authenticate %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if !p.preUserinfo(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/userinfo", nil)) {
		t.Error("a request without a token in the URL was refused")
	}
}

// TestBearerWriter: the library's 403 and bare 401 become RFC 6750 answers; other statuses
// pass untouched.
func TestBearerWriter(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		hadToken  bool
		wantCode  int
		wantError string
		challenge string
	}{
		{"forbidden with token", http.StatusForbidden, true, http.StatusUnauthorized, "invalid_token", `error="invalid_token"`},
		{"unauthorized without token", http.StatusUnauthorized, false, http.StatusUnauthorized, "invalid_request", `Bearer realm="https://id.example"`},
		{"ok", http.StatusOK, true, http.StatusOK, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := &bearerWriter{ResponseWriter: rec, issuer: "https://id.example", hadToken: tt.hadToken}
			w.WriteHeader(tt.code)
			_, _ = w.Write([]byte(`{"library":"body"}`))
			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			got := rec.Header().Get("WWW-Authenticate")
			if !strings.Contains(got, tt.challenge) || (tt.challenge == "" && got != "") {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, tt.challenge)
			}
			if tt.wantError == "" {
				if rec.Body.String() != `{"library":"body"}` {
					t.Errorf("body changed: %s", rec.Body)
				}
				return
			}
			if strings.Contains(rec.Body.String(), "library") {
				t.Errorf("the library's body leaked: %s", rec.Body)
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != tt.wantError {
				t.Errorf("error = %q (%v), want %q", body.Error, err, tt.wantError)
			}
			if !tt.hadToken && strings.Contains(got, "error=") {
				t.Errorf("no token was sent, yet the challenge names an error: %q", got)
			}
		})
	}
}

func TestCORSOrigins(t *testing.T) {
	p, c := newPolicyProvider(t)
	ctx := t.Context()
	st := p.cfg.Store
	for _, cl := range []*storage.Client{
		{ID: "spa", Name: "SPA", Type: storage.ClientPublic, RedirectURIs: []string{"https://App.Example:8443/cb", "com.example.app:/cb"}},
		{ID: "web", Name: "Web", Type: storage.ClientConfidential, RedirectURIs: []string{"https://server.example/cb"}},
	} {
		if err := st.CreateClient(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	origins := &originCache{store: st, now: c.now}
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://app.example:8443", true}, // case-folded like the registration
		{"https://app.example", false},     // another port is another origin
		{"http://app.example:8443", false}, // and another scheme
		{"https://server.example", false},  // confidential clients call from their servers
		{"null", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := corsAllowed(origins, r, tt.origin); got != tt.want {
			t.Errorf("corsAllowed(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
	// A client registered later (here or on another instance) is honoured once the cached
	// set is older than originMissTTL, not originTTL.
	if err := st.CreateClient(ctx, &storage.Client{ID: "spa2", Name: "SPA 2", Type: storage.ClientPublic, RedirectURIs: []string{"https://new.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	if corsAllowed(origins, r, "https://new.example") {
		t.Error("the cache was reread before originMissTTL")
	}
	c.t = c.t.Add(originMissTTL + time.Millisecond)
	if !corsAllowed(origins, r, "https://new.example") {
		t.Error("a new client's origin is not honoured after originMissTTL")
	}
	// A deleted client's origin is allowed until the set is older than originTTL.
	if err := st.DeleteClient(ctx, "spa2"); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(originMissTTL + time.Millisecond)
	if !corsAllowed(origins, r, "https://new.example") {
		t.Error("an origin the set holds made it be read again before originTTL")
	}
	c.t = c.t.Add(originTTL)
	if corsAllowed(origins, r, "https://new.example") {
		t.Error("a deleted client's origin is still allowed after originTTL")
	}
}

func TestWebOrigin(t *testing.T) {
	tests := map[string]string{
		"https://a.example/cb?x=1":  "https://a.example",
		"HTTP://A.Example:8080/cb":  "http://a.example:8080",
		"com.example.app:/callback": "",
		"urn:ietf:wg:oauth:2.0:oob": "",
		"https:///nohost":           "",
		"%zz":                       "",
	}
	for in, want := range tests {
		if got := webOrigin(in); got != want {
			t.Errorf("webOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}

func jwt(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
}

// TestIDTokenHintShape: an ID token (azp, no jti) is a hint; our JWT access tokens (jti, no
// azp) and malformed strings are not.
func TestIDTokenHintShape(t *testing.T) {
	tests := []struct {
		name      string
		hint      string
		ok        bool
		wantEmail string
	}{
		{"id token", jwt(t, map[string]any{"azp": "app", "email": "ada@example.com"}), true, "ada@example.com"},
		{"access token", jwt(t, map[string]any{"jti": "t1", "client_id": "app"}), false, ""},
		{"both", jwt(t, map[string]any{"jti": "t1", "azp": "app"}), false, ""},
		{"two parts", "a.b", false, ""},
		{"bad base64", "a.!!!.c", false, ""},
		{"not json", "a." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".c", false, ""},
		{"too long", jwt(t, map[string]any{"azp": "app", "pad": strings.Repeat("x", 16<<10)}), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ok := parseIDTokenHint(tt.hint)
			if ok != tt.ok || (ok && h.Email != tt.wantEmail) {
				t.Errorf("parseIDTokenHint = %+v, %v; want ok=%v email %q", h, ok, tt.ok, tt.wantEmail)
			}
		})
	}
}

func TestHostCookieName(t *testing.T) {
	if got := hostCookieName("myaccount_browser"); got != "__Host-myaccount_browser" {
		t.Errorf("got %q", got)
	}
	if got := hostCookieName("__Host-x"); got != "__Host-x" {
		t.Errorf("prefixed twice: %q", got)
	}
}
