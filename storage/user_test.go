package storage_test

import (
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestUserStatusRules: which statuses may sign in and may reset their password, each rule
// in one place; a status this version does not know may do neither.
func TestUserStatusRules(t *testing.T) {
	for _, tc := range []struct {
		status          string
		signIn, doReset bool
	}{
		{storage.UserActive, true, true},
		{storage.UserPending, false, true},
		{storage.UserLocked, false, false},
		{storage.UserDisabled, false, false},
		{"suspended", false, false},
		{"", false, false},
	} {
		u := &storage.User{Status: tc.status}
		if got := u.MaySignIn(); got != tc.signIn {
			t.Errorf("%q: MaySignIn %v, want %v", tc.status, got, tc.signIn)
		}
		if got := u.MayResetPassword(); got != tc.doReset {
			t.Errorf("%q: MayResetPassword %v, want %v", tc.status, got, tc.doReset)
		}
	}
}
