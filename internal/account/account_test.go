package account_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

func newService(t *testing.T) (*account.Service, storage.Store) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &account.Service{Store: db}, db
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ada@Example.COM", "ada@example.com"},
		{"  ada@example.com ", "ada@example.com"},
		{"ａｄａ@example.com", "ada@example.com"}, // full-width letters fold under NFKC
	}
	for _, tt := range tests {
		if got := account.NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	for _, ok := range []string{"ada@example.com", "a.b+c@sub.example.org"} {
		if err := account.ValidateEmail(ok); err != nil {
			t.Errorf("ValidateEmail(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ada", "ada@", "@example.com", "Ada <ada@example.com>", "ada@example", strings.Repeat("a", 250) + "@example.com", "a b@example.com"} {
		if err := account.ValidateEmail(bad); !errors.Is(err, account.ErrInvalidEmail) {
			t.Errorf("ValidateEmail(%q) = %v, want ErrInvalidEmail", bad, err)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	s := &account.Service{}
	tests := []struct {
		pw   string
		want error
	}{
		{"short", account.ErrPasswordTooShort},
		{strings.Repeat("ä", 11), account.ErrPasswordTooShort}, // counted in characters, not bytes
		{strings.Repeat("ä", 12), nil},
		{strings.Repeat("x", 128), nil},
		{strings.Repeat("x", 129), account.ErrPasswordTooLong},
	}
	for _, tt := range tests {
		if err := s.ValidatePassword(tt.pw); !errors.Is(err, tt.want) {
			t.Errorf("ValidatePassword(len %d) = %v, want %v", len(tt.pw), err, tt.want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	svc, db := newService(t)
	u, err := svc.Create(ctx, "Ada@Example.com", "a long enough password", storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	if !u.EmailVerified || u.ActivatedAt == nil {
		t.Error("admin-created account should be verified and activated")
	}
	if _, err := svc.Create(ctx, "ada@example.com", "another long password", storage.UserActive); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("duplicate email: %v, want ErrConflict", err)
	}
	if got, err := svc.Authenticate(ctx, "ADA@example.com", "a long enough password"); err != nil || got.ID != u.ID {
		t.Fatalf("Authenticate = %v, %v", got, err)
	}
	for _, tc := range []struct{ email, pw string }{
		{"ada@example.com", "wrong password!!"},
		{"nobody@example.com", "a long enough password"},
		{"ada@example.com", strings.Repeat("x", 10000)},
	} {
		if _, err := svc.Authenticate(ctx, tc.email, tc.pw); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Errorf("Authenticate(%q) = %v, want ErrInvalidCredentials", tc.email, err)
		}
	}
	pending, err := svc.Create(ctx, "pending@example.com", "a long enough password", storage.UserPending)
	if err != nil {
		t.Fatal(err)
	}
	// The state of an account is revealed only with the right password.
	if _, err := svc.Authenticate(ctx, "pending@example.com", "wrong password!!"); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Errorf("pending + wrong password: %v", err)
	}
	if _, err := svc.Authenticate(ctx, "pending@example.com", "a long enough password"); !errors.Is(err, account.ErrNotActive) {
		t.Errorf("pending + right password: %v, want ErrNotActive", err)
	}
	if _, err := db.UpdateUser(ctx, pending.ID, func(x *storage.User) error { x.Status = storage.UserLocked; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, "pending@example.com", "a long enough password"); !errors.Is(err, account.ErrLocked) {
		t.Errorf("locked: %v, want ErrLocked", err)
	}
}

// The service hashes with its Hasher's parameters (the configured cost), and a sign-in
// upgrades a stored hash of a lower cost to them, so raising the cost reaches every active
// account without a reset. Cheap parameters keep the test fast; the policy that refuses them
// in production is the configuration's (config.Validate).
func TestConfiguredHashCostAndUpgrade(t *testing.T) {
	s, db := newService(t)
	ctx := t.Context()
	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}}
	const pw = "a long enough passphrase"
	u, err := s.Create(ctx, "ada@example.com", pw, storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("stored hash %q, want the configured m=64,t=1", u.PasswordHash)
	}

	s.Hasher = secret.Hasher{Params: secret.Params{Memory: 128, Iterations: 2, Parallelism: 1}}
	if _, err := s.Authenticate(ctx, "ada@example.com", pw); err != nil {
		t.Fatalf("sign-in with the old hash: %v", err)
	}
	got, err := db.GetUserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("after sign-in the hash is %q, want it upgraded to m=128,t=2", got.PasswordHash)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", pw); err != nil {
		t.Fatalf("sign-in with the upgraded hash: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ada@example.com", "not the passphrase"); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v, want ErrInvalidCredentials", err)
	}
}
