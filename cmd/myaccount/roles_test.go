package main

import (
	"strings"
	"testing"
)

// TestUserGrantRevokeRole: grant-role and revoke-role change what user show lists, refuse
// unknown roles and a revoke of a role not held.
func TestUserGrantRevokeRole(t *testing.T) {
	c := newCLI(t)
	c.mustRun("a very long password\n", "user", "create", "--email", "ada@example.com", "--password-stdin")
	if _, _, err := c.run("", "user", "grant-role", "ada@example.com", "root"); err == nil {
		t.Fatal("an unknown role was granted")
	}
	c.mustRun("", "user", "grant-role", "ada@example.com", "support")
	c.mustRun("", "user", "grant-role", "ada@example.com", "admin")
	if out := c.mustRun("", "user", "show", "ada@example.com"); !strings.Contains(out, "admin support") {
		t.Errorf("show after grants: %s", out)
	}
	c.mustRun("", "user", "revoke-role", "ada@example.com", "admin")
	out := c.mustRun("", "user", "show", "ada@example.com", "--json")
	if strings.Contains(out, `"admin"`) || !strings.Contains(out, `"support"`) {
		t.Errorf("show after revoke: %s", out)
	}
	if _, _, err := c.run("", "user", "revoke-role", "ada@example.com", "admin"); err == nil {
		t.Error("revoking a role not held succeeded")
	}
}
