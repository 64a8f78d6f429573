package mfa

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// TestFactorChangesNeedARecentSignIn: every change to how the account signs in is refused
// without a recent sign-in, whatever calls the service (the rule was the UI's alone), and
// the refusal writes nothing.
func TestFactorChangesNeedARecentSignIn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, _ := f.enrolTOTP(t, f.alice)
	codes, err := f.svc.RegenerateRecoveryCodes(ctx, f.recent(f.alice), nil)
	if err != nil {
		t.Fatal(err)
	}
	e, pending, err := f.svc.BeginTOTP(f.alice, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	stale, err := (&sessions.Service{Now: func() time.Time { return f.now }}).Recent(context.Background(),
		&storage.Session{UserID: f.alice, AuthTime: f.now.Add(-sessions.ReauthWindow - time.Second)})
	if !errors.Is(err, sessions.ErrNotRecent) {
		t.Fatalf("a sign-in older than the window: %v, want ErrNotRecent", err)
	}
	w := &storage.MFACredential{ID: "wa1", UserID: f.alice, Kind: storage.MFAWebAuthn, CredentialID: []byte{1}, Secret: []byte("{}"), CreatedAt: f.now}
	for _, rc := range []sessions.Recent{stale, {}} {
		changes := map[string]error{
			"finish totp": func() error {
				_, _, err := f.svc.FinishTOTP(ctx, rc, pending, TOTPCode(e.Secret, f.now), "other", nil)
				return err
			}(),
			"add webauthn":    func() error { _, err := f.svc.AddWebAuthn(ctx, rc, w, nil, nil); return err }(),
			"remove":          f.svc.RemoveFactor(ctx, rc, c.ID, nil),
			"new codes":       func() error { _, err := f.svc.RegenerateRecoveryCodes(ctx, rc, nil); return err }(),
			"forget browsers": f.svc.ForgetBrowsers(ctx, rc, nil),
		}
		for name, err := range changes {
			if !errors.Is(err, sessions.ErrNotRecent) {
				t.Errorf("%s without a recent sign-in: %v, want ErrNotRecent", name, err)
			}
		}
	}
	// A recent sign-in of someone else does not add a credential to this person.
	if _, err := f.svc.AddWebAuthn(ctx, f.recent(f.bob), w, nil, nil); !errors.Is(err, sessions.ErrNotRecent) {
		t.Errorf("bob's sign-in adding alice's key: %v, want ErrNotRecent", err)
	}
	rows, err := f.svc.Factors(ctx, f.alice)
	if err != nil || len(rows) != 1 || rows[0].ID != c.ID {
		t.Errorf("factors after refused changes: %d, %v; want only the first app", len(rows), err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.alice, codes[0]); err != nil {
		t.Errorf("the codes were replaced by a refused change: %v", err)
	}
}
