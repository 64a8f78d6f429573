package mfa

import (
	"context"
	"errors"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

func TestFactorIsTheOwnersOnly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, _ := f.enrolTOTP(t, f.alice)
	got, err := f.svc.Factor(ctx, f.alice, c.ID)
	if err != nil || got.ID != c.ID {
		t.Fatalf("Factor = %+v, %v", got, err)
	}
	if _, err := f.svc.Factor(ctx, f.bob, c.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("someone else's factor: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Factor(ctx, f.alice, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown factor: %v, want ErrNotFound", err)
	}
}

// TestNewFactorForgetsBrowsers: a browser remembered before a factor was added must not skip
// it, whichever kind it is; someone else's remembered browsers stay.
func TestNewFactorForgetsBrowsers(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{storage.MFATOTP, storage.MFAWebAuthn} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			mine, err := f.svc.TrustBrowser(ctx, f.alice, "Firefox")
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := f.svc.TrustBrowser(ctx, f.bob, "Firefox")
			if err != nil {
				t.Fatal(err)
			}
			if kind == storage.MFATOTP {
				f.enrolTOTP(t, f.alice)
			} else {
				w := &storage.MFACredential{ID: "wa1", UserID: f.alice, Kind: storage.MFAWebAuthn,
					CredentialID: []byte{1}, Secret: []byte("{}"), CreatedAt: f.now}
				if err := f.svc.AddWebAuthn(ctx, f.recent(f.alice), w, nil, nil); err != nil {
					t.Fatal(err)
				}
				// The same authenticator twice is a conflict.
				w2 := *w
				w2.ID = "wa2"
				if err := f.svc.AddWebAuthn(ctx, f.recent(f.alice), &w2, nil, nil); !errors.Is(err, storage.ErrConflict) {
					t.Errorf("second registration: %v, want ErrConflict", err)
				}
			}
			if ok, _ := f.svc.BrowserTrusted(ctx, f.alice, mine); ok {
				t.Error("a remembered browser skips the new factor")
			}
			if ok, _ := f.svc.BrowserTrusted(ctx, f.bob, theirs); !ok {
				t.Error("someone else's remembered browser was forgotten")
			}
		})
	}
}

func TestAddWebAuthnRefusesOtherKinds(t *testing.T) {
	f := newFixture(t)
	err := f.svc.AddWebAuthn(context.Background(), f.recent(f.alice), &storage.MFACredential{ID: "x", UserID: f.alice, Kind: storage.MFATOTP}, nil, nil)
	if err == nil {
		t.Error("a TOTP row was stored as a WebAuthn credential")
	}
}

func TestEnsureRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	codes, err := f.svc.EnsureRecoveryCodes(ctx, f.recent(f.alice))
	if err != nil || len(codes) != RecoveryCodeCount {
		t.Fatalf("first set: %d codes, %v", len(codes), err)
	}
	again, err := f.svc.EnsureRecoveryCodes(ctx, f.recent(f.alice))
	if err != nil || again != nil {
		t.Errorf("with codes left: %v, %v; want none issued", again, err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.alice, codes[0]); err != nil {
		t.Fatal(err)
	}
	if e, _ := f.svc.Enrolled(ctx, f.alice); e.RecoveryCodes != RecoveryCodeCount-1 {
		t.Errorf("EnsureRecoveryCodes replaced a set still in use: %d left", e.RecoveryCodes)
	}
}
