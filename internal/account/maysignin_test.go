package account_test

import (
	"errors"
	"testing"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/storage"
)

// TestMaySignIn: the one rule of who may sign in. Only an active account; a pending one is
// told to activate, a locked or disabled one (and a status this version does not know) is
// locked. The password sign-in answers by it (Authenticate, for every status).
func TestMaySignIn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status string
		want   error
	}{
		{storage.UserActive, nil},
		{storage.UserPending, account.ErrNotActive},
		{storage.UserLocked, account.ErrLocked},
		{storage.UserDisabled, account.ErrLocked},
		{"", account.ErrLocked},
		{"someday", account.ErrLocked},
	}
	svc, db := newService(t)
	ctx := t.Context()
	const pw = "a long enough password"
	u, err := svc.Create(ctx, "ada@example.com", pw, storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		if got := account.MaySignIn(&storage.User{Status: tc.status}); got != tc.want {
			t.Errorf("MaySignIn(%q) = %v, want %v", tc.status, got, tc.want)
		}
		if tc.status == "" || tc.status == "someday" {
			continue // not a status the store keeps
		}
		if _, err := db.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.Status = tc.status; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := svc.Authenticate(ctx, "ada@example.com", pw)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) || got == nil || got.ID != u.ID {
			t.Errorf("Authenticate of a %s account: %v, %v; want the account and %v", tc.status, got, err, tc.want)
		}
	}
}
