package admin_test

import (
	"errors"
	"testing"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// TestCreateUserIsOneTransaction: an operator's creation of an account applies the account
// service's rules (the configured shortest password, the normalised address, ManageUsers),
// and the account, its profile and its audit event commit together: with any of their writes
// failing nothing is left, and the retry creates the account once, with its profile and one
// event. Before, the CLI created the account, then stored the profile in a write of its own
// and audited nothing: a failed profile write left the account without it and the retry was
// told the address was taken.
func TestCreateUserIsOneTransaction(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(t.Context(), t.TempDir()+"/admin.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs := faultstore.New(db)
	svc := &admin.Service{Store: fs, Accounts: &account.Service{Store: fs, MinPasswordLen: 20}, Sessions: &sessions.Service{Store: fs}}
	ctx := t.Context()
	prof := &account.Profile{Name: "Ada", Country: "GB"}

	if _, err := svc.CreateUser(ctx, admin.CLI(), admin.NewUser{Email: "short@example.com", Password: "only 19 characters!"}); err == nil {
		t.Error("a password shorter than accounts.min_password_length was accepted")
	}
	if _, err := svc.CreateUser(ctx, supportPerson, admin.NewUser{Email: "s@example.com", Password: "a long enough password here"}); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("support created an account: %v", err)
	}
	for _, method := range []string{"CreateUser", "UpdateUser", "AddAuditEvent", "InTx"} {
		email := method + "@Example.COM"
		r := fs.Add(faultstore.Rule{Method: method, Err: faultstore.ErrInjected, Times: 1})
		if _, err := svc.CreateUser(ctx, admin.CLI(), admin.NewUser{Email: email, Password: "a long enough password here", Profile: prof}); err == nil || fs.Applied(r) != 1 {
			t.Fatalf("%s failing: %v (applied %d)", method, err, fs.Applied(r))
		}
		fs.Clear()
		if _, err := db.GetUserByEmail(ctx, account.NormalizeEmail(email)); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s failing left the account (%v)", method, err)
		}
		u, err := svc.CreateUser(ctx, admin.CLI(), admin.NewUser{Email: email, Password: "a long enough password here", Profile: prof})
		if err != nil {
			t.Fatalf("%s: the retry: %v", method, err)
		}
		if u.Email != method+"@example.com" || u.Name != "Ada" || u.Country != "GB" || u.Status != storage.UserActive {
			t.Errorf("%s: created %+v", method, u)
		}
		if es := events(t, db, storage.AuditQuery{Type: "admin.user.create", Target: "user:" + u.ID}); len(es) != 1 || es[0].Actor != "cli" {
			t.Errorf("%s: %d creation events, want one naming cli", method, len(es))
		}
		if _, err := svc.CreateUser(ctx, admin.CLI(), admin.NewUser{Email: email, Password: "a long enough password here"}); !errors.Is(err, admin.ErrWrongState) {
			t.Errorf("%s: a second creation of the address: %v", method, err)
		}
	}
}
