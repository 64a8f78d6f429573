package admin_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// TestRoleChangeFaultRetries: a grant or revoke of a role whose role write or audit event
// failed changed nothing, and its retry changes the role, audited once with the actor and
// the reason (the CLI's `user grant-role|revoke-role` are these calls). Before, the admin
// service had no role operations: the CLI wrote the role and an event of its own, with no
// reason, outside the service's rules.
func TestRoleChangeFaultRetries(t *testing.T) {
	ctx := t.Context()
	real, err := sqlite.Open(ctx, t.TempDir()+"/roles.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { real.Close() })
	fs := faultstore.New(real)
	svc := &admin.Service{Store: fs}
	for _, tc := range []struct {
		typ, write string
		grant      bool
	}{
		{"role_granted", "GrantRole", true},
		{"role_granted", "AddAuditEvent", true},
		{"role_revoked", "RevokeRole", false},
		{"role_revoked", "AddAuditEvent", false},
	} {
		u := addUser(t, real, tc.typ+"-"+tc.write+"@example.com", storage.UserActive)
		if !tc.grant {
			if err := real.GrantRole(ctx, u.ID, storage.RoleAdmin, u.CreatedAt); err != nil {
				t.Fatal(err)
			}
		}
		change := func() ([]string, error) {
			if tc.grant {
				return svc.GrantRole(ctx, admin.CLI(), u.ID, storage.RoleAdmin, "on call")
			}
			return svc.RevokeRole(ctx, admin.CLI(), u.ID, storage.RoleAdmin, "left the team")
		}
		r := fs.Add(faultstore.Rule{Method: tc.write, Err: faultstore.ErrInjected, Times: 1})
		if _, err := change(); err == nil || fs.Applied(r) != 1 {
			t.Fatalf("%s with %s failing: %v (applied %d)", tc.typ, tc.write, err, fs.Applied(r))
		}
		roles, err := real.ListUserRoles(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(roles, storage.RoleAdmin) != !tc.grant || len(events(t, real, storage.AuditQuery{Type: tc.typ, Target: "user:" + u.ID})) != 0 {
			t.Errorf("%s with %s failing left a half-done change: roles %v", tc.typ, tc.write, roles)
		}
		fs.Clear()
		roles, err = change()
		if err != nil {
			t.Fatalf("%s retry: %v", tc.typ, err)
		}
		if slices.Contains(roles, storage.RoleAdmin) != tc.grant {
			t.Errorf("%s retry: roles %v", tc.typ, roles)
		}
		es := events(t, real, storage.AuditQuery{Type: tc.typ, Target: "user:" + u.ID})
		if len(es) != 1 || es[0].Actor != "cli" || es[0].UserID != u.ID || es[0].Reason == "" {
			t.Errorf("%s retry: events %+v, want one by cli with the reason, in the person's activity", tc.typ, es)
		}
	}
}

// TestRoleChangeRules: only an actor allowed to manage roles changes them (not support, not
// admin:read), an unknown role is refused before anything is read, and a role not held
// cannot be revoked; none of them writes anything.
func TestRoleChangeRules(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	u := addUser(t, st, "ada@example.com", storage.UserActive)
	reader := admin.Actor{UserID: "r", SecondFactor: true, Roles: []string{storage.RoleAdmin}, Scopes: []string{admin.ScopeRead}}
	for _, a := range []admin.Actor{supportPerson, reader} {
		if _, err := svc.GrantRole(ctx, a, u.ID, storage.RoleAdmin, "x"); !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("%s granted a role: %v", a.ID(), err)
		}
	}
	var ve *admin.ValidationError
	if _, err := svc.GrantRole(ctx, adminPerson, u.ID, "root", "x"); !errors.As(err, &ve) {
		t.Errorf("an unknown role: %v", err)
	}
	if _, err := svc.RevokeRole(ctx, adminPerson, u.ID, storage.RoleSupport, "x"); !errors.Is(err, admin.ErrWrongState) {
		t.Errorf("revoke of a role not held: %v", err)
	}
	if _, err := svc.GrantRole(ctx, adminPerson, "nobody", storage.RoleSupport, "x"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("grant to no one: %v", err)
	}
	if roles, _ := st.ListUserRoles(ctx, u.ID); len(roles) != 0 {
		t.Errorf("roles after refusals: %v", roles)
	}
	for _, typ := range []string{"role_granted", "role_revoked"} {
		if es := events(t, st, storage.AuditQuery{Type: typ}); len(es) != 0 {
			t.Errorf("refusals left %s events: %+v", typ, es)
		}
	}
	roles, err := svc.GrantRole(ctx, adminPerson, u.ID, storage.RoleSupport, "desk")
	if err != nil || !slices.Equal(roles, []string{storage.RoleSupport}) {
		t.Fatalf("grant: %v %v", roles, err)
	}
	if es := events(t, st, storage.AuditQuery{Type: "role_granted"}); len(es) != 1 || es[0].Actor != adminPerson.ID() || es[0].IP != adminPerson.IP || es[0].Reason != "desk" {
		t.Errorf("grant audit: %+v", es)
	}
}
