package main

import (
	"strings"
	"testing"
)

// TestCLIUserCreateAudited: `user create` is the admin service's creation, as every other
// operator action is: one "admin.user.create" event naming actor "cli" and the account, the
// profile given with it stored with it, and a second creation of the address refused with the
// message it always had (before, the account was created with no event at all).
func TestCLIUserCreateAudited(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("a very long password\n", "user", "create", "--email", "Ada@Example.com", "--password-stdin",
		"--country", "DE", "--region", "BY", "--name", "Ada", "--json")
	if !strings.Contains(out, `"email": "Ada@example.com"`) || !strings.Contains(out, `"country": "DE"`) {
		t.Fatalf("user create: %s", out)
	}
	u := c.createUser("bob@example.com")
	es := auditOf(t, c.store(), "admin.user.create", "user:"+u.ID)
	if len(es) != 1 || es[0].Actor != "cli" {
		t.Fatalf("user create left %d admin.user.create events (%+v), want one naming actor cli", len(es), es)
	}
	_, _, err := c.run("a very long password\n", "user", "create", "--email", "BOB@example.com", "--password-stdin")
	if err == nil || err.Error() != `an account with the email "BOB@example.com" already exists` {
		t.Fatalf("a second creation: %v", err)
	}
}
