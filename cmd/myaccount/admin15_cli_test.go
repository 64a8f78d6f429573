package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/storage/sqlite"
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

// TestCLIStoreFailureIsSaid: a command whose database fails (here another process holds it
// locked past the busy timeout) exits 1 saying the database failed, apart from a usage error
// (exit 1, "usage: …") and a refusal (a user not found), which say nothing of the database.
func TestCLIStoreFailureIsSaid(t *testing.T) {
	c := newCLI(t)
	c.createUser("ada@example.com")
	if _, _, err := c.run("", "user", "lock"); err == nil || fault.Is(err) || strings.Contains(message(err), "database") || exitCode(err) != 1 {
		t.Errorf("a usage error: %v (exit %d)", err, exitCode(err))
	}
	if _, _, err := c.run("", "user", "lock", "nobody@example.com"); err == nil || fault.Is(err) || exitCode(err) != 1 {
		t.Errorf("an unknown user: %v (exit %d)", err, exitCode(err))
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(c.dir, "myaccount.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.SQLX().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.run("", "user", "lock", "ada@example.com", "--reason", "fraud")
	if _, rerr := conn.ExecContext(t.Context(), "ROLLBACK"); rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil || !fault.Is(err) || !strings.HasPrefix(message(err), "the database failed: ") || exitCode(err) != 75 {
		t.Fatalf("the database locked: %v (exit %d), want exit 75 saying the database failed", err, exitCode(err))
	}
	c.mustRun("", "user", "lock", "ada@example.com", "--reason", "fraud") // and it works once the database does
}

// TestCLIUserUpdateAudited: `user update` is the admin service's UpdateProfile: the profile
// page's rules, and one "admin.user.update" event naming actor "cli" and the fields given
// (before, the CLI wrote the profile itself and left no event).
func TestCLIUserUpdateAudited(t *testing.T) {
	c := newCLI(t)
	u := c.createUser("ada@example.com")
	if _, _, err := c.run("", "user", "update", "ada@example.com", "--country", "XX"); err == nil {
		t.Fatal("an unknown country was stored")
	}
	out := c.mustRun("", "user", "update", "ada@example.com", "--country", "DE", "--region", "BY", "--timezone", "Europe/Berlin", "--json")
	if !strings.Contains(out, `"country": "DE"`) || !strings.Contains(out, `"zoneinfo": "Europe/Berlin"`) {
		t.Fatalf("user update: %s", out)
	}
	es := auditOf(t, c.store(), "admin.user.update", "user:"+u.ID)
	if len(es) != 1 || es[0].Actor != "cli" || es[0].Detail != "country,region,timezone" {
		t.Fatalf("user update left %d admin.user.update events (%+v), want one naming actor cli and the fields", len(es), es)
	}
}
