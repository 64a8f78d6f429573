package ui

import (
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// The sign-in's step logic without a browser: after a session exists, an authorization
// request goes hint → profile → consent → complete, and prompt=none turns every question into
// an error for the client. (Which factor follows the password is mfa.NextStep, tested there.)

func TestNextFlowStep(t *testing.T) {
	errDB := errors.New("db down")
	consent := func(need bool, err error) func() (bool, error) {
		return func() (bool, error) { return need, err }
	}
	tests := []struct {
		name     string
		hint     string
		prompt   []string
		complete bool
		consent  func() (bool, error)
		want     flowNext
		wantCode string
		wantErr  error
	}{
		{"all done", "", nil, true, consent(false, nil), flowComplete, "", nil},
		{"hint names the user", "u1", nil, true, consent(false, nil), flowComplete, "", nil},
		{"hint names someone else", "u2", nil, true, consent(false, nil), flowRefuse, "login_required", nil},
		{"hint first, even with prompt=none and an incomplete profile", "u2", []string{"none"}, false, consent(true, nil), flowRefuse, "login_required", nil},
		{"profile incomplete", "", nil, false, consent(true, nil), flowProfile, "", nil},
		{"profile incomplete, prompt=none", "", []string{"none"}, false, consent(false, nil), flowRefuse, "interaction_required", nil},
		{"consent needed", "", nil, true, consent(true, nil), flowConsent, "", nil},
		{"consent needed, prompt=none", "", []string{"none"}, true, consent(true, nil), flowRefuse, "consent_required", nil},
		{"prompt=none, nothing to ask", "", []string{"none"}, true, consent(false, nil), flowComplete, "", nil},
		{"consent lookup fails", "", nil, true, consent(false, errDB), 0, "", errDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar := &storage.AuthRequest{ID: "ar1", HintSubject: tt.hint, Prompt: tt.prompt}
			asked := false
			next, code, _, err := nextFlowStep(ar, "u1", tt.complete, func() (bool, error) { asked = true; return tt.consent() })
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (next != tt.want || code != tt.wantCode) {
				t.Errorf("next = %d %q, want %d %q", next, code, tt.want, tt.wantCode)
			}
			// Consent is looked up only once hint and profile pass.
			if wantAsked := hintAllows(ar, "u1") && tt.complete; asked != wantAsked {
				t.Errorf("consent looked up = %v, want %v", asked, wantAsked)
			}
		})
	}
}

// TestSessionSatisfies: when an existing session may answer a request without a new
// password (prompt=login, max_age, id_token_hint).
func TestSessionSatisfies(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := &Handler{cfg: Config{Now: func() time.Time { return now }}}
	requested := now.Add(-time.Minute)
	maxAge := func(s int64) *int64 { return &s }
	tests := []struct {
		name     string
		authTime time.Time
		prompt   []string
		maxAge   *int64
		hint     string
		want     bool
	}{
		{"plain SSO", now.Add(-time.Hour), nil, nil, "", true},
		{"prompt=login, older session", now.Add(-time.Hour), []string{"login"}, nil, "", false},
		{"prompt=login, signed in for this request", requested.Add(time.Second), []string{"login"}, nil, "", true},
		{"within max_age", now.Add(-5 * time.Minute), nil, maxAge(600), "", true},
		{"beyond max_age", now.Add(-11 * time.Minute), nil, maxAge(600), "", false},
		{"max_age=0, signed in for this request", requested, nil, maxAge(0), "", true},
		{"hint names someone else", now, nil, nil, "u2", false},
		{"hint names the user", now.Add(-time.Hour), nil, nil, "u1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar := &storage.AuthRequest{CreatedAt: requested, Prompt: tt.prompt, MaxAge: tt.maxAge, HintSubject: tt.hint}
			s := &storage.Session{UserID: "u1", AuthTime: tt.authTime}
			if got := h.sessionSatisfies(ar, s); got != tt.want {
				t.Errorf("sessionSatisfies = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFlowTarget(t *testing.T) {
	tests := []struct{ flow, ret, want string }{
		{"ar 1", "/account", "/login?authRequestID=ar+1"},
		{"", "/account/devices", "/account/devices"},
		{"", "https://evil.example/", "/account"},
		{"", "//evil.example/", "/account"},
	}
	for _, tt := range tests {
		if got := flowTarget(tt.flow, tt.ret); got != tt.want {
			t.Errorf("flowTarget(%q, %q) = %q, want %q", tt.flow, tt.ret, got, tt.want)
		}
	}
}
