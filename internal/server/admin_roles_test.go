package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
)

// TestAdminRoleRevokeEndsAccessAtOnce: a role revoked through the admin service (what
// `myaccount user revoke-role` calls) ends the person's admin access at their next request:
// the access token they already hold and their signed-in console session are refused (403),
// since roles are read from the account at every request, never carried in a token or a
// session. A grant gives access the same way, with no new sign-in.
func TestAdminRoleRevokeEndsAccessAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	svc := &admin.Service{Store: e.store}
	// One person through an access token, one through the console (which needs a second
	// factor, and so a sign-in of its own).
	staff := e.addUser("staff@example.com")
	if _, err := svc.GrantRole(ctx, admin.CLI(), staff.ID, storage.RoleAdmin, "on call"); err != nil {
		t.Fatal(err)
	}
	tok := e.personToken(t, staff.Email)
	if a := e.call(t, "GET", "/users", tok, nil); a.status != http.StatusOK {
		t.Fatalf("admin person search: %d %s", a.status, a.body)
	}
	b, desk, _ := e.consoleStaff("desk@example.com", storage.RoleAdmin)
	if p := b.get(e.issuer + "/admin/users"); p.status != http.StatusOK {
		t.Fatalf("console as admin: %d", p.status)
	}
	for _, id := range []string{staff.ID, desk.ID} {
		if _, err := svc.RevokeRole(ctx, admin.CLI(), id, storage.RoleAdmin, "left the team"); err != nil {
			t.Fatal(err)
		}
	}
	e.call(t, "GET", "/users", tok, nil).problem(t, http.StatusForbidden)
	if p := b.get(e.issuer + "/admin/users"); p.status != http.StatusForbidden {
		t.Errorf("console after the revoke: %d, want 403", p.status)
	}
	if _, err := svc.GrantRole(ctx, admin.CLI(), staff.ID, storage.RoleSupport, "help desk"); err != nil {
		t.Fatal(err)
	}
	if a := e.call(t, "GET", "/users", tok, nil); a.status != http.StatusOK {
		t.Errorf("support person search after the grant: %d %s", a.status, a.body)
	}
	e.call(t, "GET", "/clients", tok, nil).problem(t, http.StatusForbidden)
}
