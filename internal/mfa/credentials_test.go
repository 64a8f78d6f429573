package mfa

import (
	"context"
	"errors"
	"testing"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
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
				if _, err := f.svc.AddWebAuthn(ctx, f.recent(f.alice), w, nil, nil); err != nil {
					t.Fatal(err)
				}
				// The same authenticator twice is a conflict.
				w2 := *w
				w2.ID = "wa2"
				if _, err := f.svc.AddWebAuthn(ctx, f.recent(f.alice), &w2, nil, nil); !errors.Is(err, storage.ErrConflict) {
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
	_, err := f.svc.AddWebAuthn(context.Background(), f.recent(f.alice), &storage.MFACredential{ID: "x", UserID: f.alice, Kind: storage.MFATOTP}, nil, nil)
	if err == nil {
		t.Error("a TOTP row was stored as a WebAuthn credential")
	}
}

// TestFirstFactorComesWithCodes: a first strong factor, an app or a key, is stored with a
// fresh set of recovery codes, returned to be shown once; a factor added while codes are
// left makes none (a set in use is not replaced); and a failure to make the codes stores
// the factor neither, leaving its enrolment good for the retry, which makes both.
func TestFirstFactorComesWithCodes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, codes := f.enrolTOTPCodes(t, f.alice)
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("first factor: %d codes, want %d", len(codes), RecoveryCodeCount)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.alice, codes[0]); err != nil {
		t.Fatal(err)
	}
	w := &storage.MFACredential{ID: "wa1", UserID: f.alice, Kind: storage.MFAWebAuthn, CredentialID: []byte{1}, Secret: []byte("{}"), CreatedAt: f.now}
	if again, err := f.svc.AddWebAuthn(ctx, f.recent(f.alice), w, nil, nil); err != nil || again != nil {
		t.Errorf("second factor: %v, %v; want no codes", again, err)
	}
	if e, _ := f.svc.Enrolled(ctx, f.alice); e.RecoveryCodes != RecoveryCodeCount-1 {
		t.Errorf("a second factor replaced a set still in use: %d left", e.RecoveryCodes)
	}
	w = &storage.MFACredential{ID: "wa2", UserID: f.bob, Kind: storage.MFAWebAuthn, CredentialID: []byte{2}, Secret: []byte("{}"), CreatedAt: f.now}
	if codes, err := f.svc.AddWebAuthn(ctx, f.recent(f.bob), w, nil, nil); err != nil || len(codes) != RecoveryCodeCount {
		t.Errorf("a key as first factor: %d codes, %v", len(codes), err)
	}
}

func TestFirstFactorWithoutItsCodesIsNotStored(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	fs := faultstore.New(f.db)
	f.svc.Store = fs
	e, pending, err := f.svc.BeginTOTP(f.alice, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	code := TOTPCode(e.Secret, f.now)
	fs.Add(faultstore.Rule{Method: "ReplaceRecoveryCodes", Times: 1, Err: faultstore.ErrInjected})
	if _, _, err := f.svc.FinishTOTP(ctx, f.recent(f.alice), pending, code, "phone", nil); err == nil {
		t.Fatal("stored although its codes could not be")
	}
	if rows, err := f.svc.Factors(ctx, f.alice); err != nil || len(rows) != 0 {
		t.Fatalf("after the failure: %d factors, %v; want none", len(rows), err)
	}
	c, codes, err := f.svc.FinishTOTP(ctx, f.recent(f.alice), pending, code, "phone", nil)
	if err != nil || c == nil || len(codes) != RecoveryCodeCount {
		t.Fatalf("the retry: %v, %d codes, %v", c, len(codes), err)
	}
}

// TestNewCodesNeedAStrongFactor: recovery codes are issued only to a person with a factor
// they stand in for, whatever calls the service (the rule was the security page's), and a
// refusal writes nothing, its tell included. After the last factor is removed, which voids
// the codes, new ones are refused, so the next enrolment issues its own set (withCodes)
// instead of keeping one made in between.
func TestNewCodesNeedAStrongFactor(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	told := 0
	tell := func(context.Context, storage.Store) error { told++; return nil }
	refused := func(what string) {
		t.Helper()
		if codes, err := f.svc.RegenerateRecoveryCodes(ctx, f.recent(f.alice), tell); !errors.Is(err, ErrNoStrongFactor) || codes != nil {
			t.Errorf("%s: %d codes, %v; want ErrNoStrongFactor", what, len(codes), err)
		}
		if e, err := f.svc.Enrolled(ctx, f.alice); err != nil || e.RecoveryCodes != 0 {
			t.Errorf("%s: %d codes stored, %v; want none", what, e.RecoveryCodes, err)
		}
		if told != 0 {
			t.Errorf("%s: the refusal was told %d times", what, told)
		}
	}
	refused("no factor")

	// A flagged key cannot sign in, nor can a key where keys are off.
	flagged := &storage.MFACredential{ID: "wa1", UserID: f.alice, Kind: storage.MFAWebAuthn, CredentialID: []byte{1},
		Secret: []byte("{}"), Flagged: true, CreatedAt: f.now}
	if err := f.db.CreateMFACredential(ctx, flagged); err != nil {
		t.Fatal(err)
	}
	refused("a flagged key only")
	key := &storage.MFACredential{ID: "wa2", UserID: f.alice, Kind: storage.MFAWebAuthn, CredentialID: []byte{2},
		Secret: []byte("{}"), CreatedAt: f.now}
	if err := f.db.CreateMFACredential(ctx, key); err != nil {
		t.Fatal(err)
	}
	f.svc.NoWebAuthn = true
	refused("a key where keys are off")
	f.svc.NoWebAuthn = false
	if codes, err := f.svc.RegenerateRecoveryCodes(ctx, f.recent(f.alice), tell); err != nil || len(codes) != RecoveryCodeCount || told != 1 {
		t.Fatalf("with a key: %d codes, %v, told %d times", len(codes), err, told)
	}
	told = 0

	// The last factor removed voids the codes; new ones wait for the next factor, which
	// comes with its own.
	for _, id := range []string{flagged.ID, key.ID} {
		if err := f.svc.RemoveFactor(ctx, f.recent(f.alice), id, nil); err != nil {
			t.Fatal(err)
		}
	}
	refused("after the last factor was removed")
	if _, codes := f.enrolTOTPCodes(t, f.alice); len(codes) != RecoveryCodeCount {
		t.Errorf("the next factor came with %d codes, want its own %d", len(codes), RecoveryCodeCount)
	}
}
