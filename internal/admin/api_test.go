package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
)

// newAPI serves the API over a real store with a stub verifier: "read" and "write" are
// automation tokens with those scopes, anything else is invalid.
func newAPI(t *testing.T, limits admin.Limits) http.Handler {
	t.Helper()
	svc, st := newService(t)
	return newAPIOn(t, svc, st, limits)
}

// newAPIOn is newAPI over svc, counting the rate limits in counters: several of them on one
// store are instances behind a load balancer.
func newAPIOn(t testing.TB, svc *admin.Service, counters admin.Counters, limits admin.Limits) *admin.API {
	t.Helper()
	api, err := admin.NewAPI(admin.APIConfig{Service: svc, Limits: limits, Counters: counters, Verify: stubVerify})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// stubVerify: "read" and "write" are automation tokens with those scopes, anything else is
// invalid.
func stubVerify(_ context.Context, tok string) (admin.Token, error) {
	switch tok {
	case "read":
		return admin.Token{Subject: "robot", ClientID: "robot", Scopes: []string{admin.ScopeRead}}, nil
	case "write":
		return admin.Token{Subject: "robot", ClientID: "robot", Scopes: []string{admin.ScopeWrite}}, nil
	}
	return admin.Token{}, admin.ErrInvalidToken
}

func serve(h http.Handler, method, path, token, ip string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, admin.Prefix+path, nil)
	r.RemoteAddr = ip
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRateLimits: per token and per IP, 429 with Retry-After and a problem document; other
// tokens and addresses are not affected.
func TestRateLimits(t *testing.T) {
	h := newAPI(t, admin.Limits{PerToken: 3, PerIP: 5, Window: time.Minute})
	for i := range 3 {
		if w := serve(h, "GET", "/users", "read", "192.0.2.1:1"); w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := serve(h, "GET", "/users", "read", "192.0.2.1:1")
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("4th request with one token: %d %v", w.Code, w.Header())
	}
	var p admin.ProblemDoc
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 429 || !strings.HasSuffix(p.Type, "rate-limited") {
		t.Fatalf("problem %s (%v)", w.Body, err)
	}
	if w := serve(h, "GET", "/users", "write", "192.0.2.1:1"); w.Code != 200 {
		t.Fatalf("another token from the same IP: %d", w.Code)
	}
	// The IP's budget (5) is spent now, whatever the token, even a bad one.
	if w := serve(h, "GET", "/users", "nonsense", "192.0.2.1:1"); w.Code != 429 {
		t.Fatalf("6th request from one IP: %d", w.Code)
	}
	if w := serve(h, "GET", "/users", "nonsense", "192.0.2.2:1"); w.Code != 401 {
		t.Fatalf("another IP with a bad token: %d", w.Code)
	}
}

func TestUnknownRoutesAreProblems(t *testing.T) {
	h := newAPI(t, admin.Limits{})
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"DELETE", "/users", 405},
		{"GET", "/users", 401}, // no token
	} {
		w := serve(h, c.method, c.path, "", "192.0.2.1:1")
		if c.path != "/users" {
			w = serve(h, c.method, c.path, "read", "192.0.2.1:1")
		}
		if w.Code != c.status || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %q", c.method, c.path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	if w := serve(h, "DELETE", "/users", "read", "192.0.2.1:1"); !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Errorf("405 without Allow: %v", w.Header())
	}
	// admin:read may not write: 403 before the body is read.
	if w := serve(h, "POST", "/clients", "read", "192.0.2.1:1"); w.Code != 403 {
		t.Errorf("read token creating a client: %d", w.Code)
	}
}
