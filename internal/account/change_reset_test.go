package account_test

import (
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// TestPasswordChangeAfterAResetIsRefused: a change checks the current password against the
// account as its request read it; a reset committed after that read (here, or on another
// instance) replaced that password. The change must then be refused as a wrong current
// password, not write its new password over the reset with the one the reset replaced
// (someone holding the old password and a session would undo the owner's reset).
func TestPasswordChangeAfterAResetIsRefused(t *testing.T) {
	s, db := newService(t)
	ctx := t.Context()
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}}
	const old, reset, changed = "the old passphrase here", "the owner's reset passphrase", "the intruder's new passphrase"
	u, err := s.Create(ctx, "ada@example.com", old, storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	stale := *u // what the change's request read, before the reset
	if _, err := s.Reset(ctx, newLink(t, db, u, storage.TokenReset, "", time.Now().Add(time.Hour)), reset, account.Meta{}); err != nil {
		t.Fatal(err)
	}
	err = s.ChangePassword(ctx, &stale, old, changed, account.Meta{}, nil)
	if !errors.Is(err, account.ErrInvalidCredentials) {
		t.Errorf("change with the password the reset replaced: %v, want ErrInvalidCredentials", err)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", reset); err != nil {
		t.Errorf("the reset's password no longer signs in: %v", err)
	}

	// The same change with the current password goes through, also when the stored hash was
	// replaced meanwhile by one of the same password (an upgraded cost).
	stale2, _ := db.GetUser(ctx, u.ID)
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 128, Iterations: 1, Parallelism: 1}}
	if _, err := s.Authenticate(ctx, "ada@example.com", reset); err != nil { // upgrades the hash
		t.Fatal(err)
	}
	if now, _ := db.GetUser(ctx, u.ID); now.PasswordHash == stale2.PasswordHash {
		t.Fatal("the sign-in did not upgrade the hash: the case is not tested")
	}
	if err := s.ChangePassword(ctx, stale2, reset, changed, account.Meta{}, nil); err != nil {
		t.Fatalf("change with the current password, its hash upgraded meanwhile: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", changed); err != nil {
		t.Errorf("the new password does not sign in: %v", err)
	}
}

// TestNewPasswordEndsPendingEmailChanges: an email change asked for with the old password
// and not yet confirmed ends with a reset or a password change, as the sessions do. Left, an
// intruder who knew the password confirmed it after the owner's reset, and the account's
// recovery went to the intruder's address.
func TestNewPasswordEndsPendingEmailChanges(t *testing.T) {
	s, db := newService(t)
	ctx := t.Context()
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}}
	const pw, reset, changed = "the old passphrase here", "the owner's reset passphrase", "a later new passphrase"
	u, err := s.Create(ctx, "owner@example.com", pw, storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	in := time.Now().Add(time.Hour)
	for _, c := range []struct {
		name string
		then func() error
	}{
		{"a reset", func() error {
			_, err := s.Reset(ctx, newLink(t, db, u, storage.TokenReset, "", in), reset, account.Meta{})
			return err
		}},
		{"a password change", func() error {
			fresh, err := db.GetUser(ctx, u.ID)
			if err != nil {
				return err
			}
			return s.ChangePassword(ctx, fresh, reset, changed, account.Meta{}, nil)
		}},
	} {
		tok := newLink(t, db, u, storage.TokenEmailChange, "intruder@example.net", in)
		if err := c.then(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := s.ConfirmEmailChange(ctx, tok, account.Meta{}); !errors.Is(err, account.ErrLinkInvalid) {
			t.Errorf("email change confirmed after %s: %v, want ErrLinkInvalid", c.name, err)
		}
		if now, _ := db.GetUser(ctx, u.ID); now.Email != "owner@example.com" {
			t.Fatalf("after %s the address is %s", c.name, now.Email)
		}
	}
}
