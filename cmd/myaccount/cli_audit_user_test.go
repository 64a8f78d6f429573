package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/storage"
)

// store opens the CLI's database for a test to look into.
func (c *cli) store() storage.Store {
	c.t.Helper()
	cfg, err := loadConfig(env{getenv: func(k string) string {
		if k == "MYACCOUNT_DATA_DIR" {
			return c.dir
		}
		return ""
	}}, "")
	if err != nil {
		c.t.Fatal(err)
	}
	st, err := server.OpenStore(context.Background(), cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	return st
}

func (c *cli) createUser(email string) userView {
	c.t.Helper()
	var u userView
	if err := json.Unmarshal([]byte(c.mustRun("a very long password\n", "user", "create", "--email", email, "--password-stdin", "--json")), &u); err != nil {
		c.t.Fatal(err)
	}
	return u
}

// auditOf returns the events of type typ about target.
func auditOf(t *testing.T, st storage.Store, typ, target string) []*storage.AuditEvent {
	t.Helper()
	es, err := st.QueryAuditEvents(context.Background(), storage.AuditQuery{Type: typ, Target: target, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestCLIUserActionsAudited: user lock, unlock, signout and delete, keys rotate and the role
// commands each leave one audit event naming actor "cli", the account as target (keys: none)
// and the reason (--reason, "cli" when not given). Before, they wrote to the store directly
// and left no event (the role commands one with no actor).
func TestCLIUserActionsAudited(t *testing.T) {
	c := newCLI(t)
	u := c.createUser("ada@example.com")
	bob := c.createUser("bob@example.com")
	c.mustRun("", "user", "grant-role", "bob@example.com", "support")
	c.mustRun("", "user", "lock", "ada@example.com", "--reason", "fraud")
	c.mustRun("", "user", "unlock", u.ID)
	c.mustRun("", "user", "signout", "ada@example.com", "--reason", "stolen laptop")
	c.mustRun("", "keys", "rotate", "--reason", "suspected leak")
	c.mustRun("", "user", "delete", "ada@example.com", "--reason", "asked by mail")
	st := c.store()
	for typ, reason := range map[string]string{"admin.user.lock": "fraud", "admin.user.unlock": "cli",
		"admin.user.sign_out_everywhere": "stolen laptop", "admin.user.delete": "asked by mail"} {
		es := auditOf(t, st, typ, "user:"+u.ID)
		if len(es) != 1 || es[0].Actor != "cli" || es[0].Reason != reason {
			t.Errorf("%s: events %+v, want one by cli with reason %q", typ, es, reason)
		}
	}
	if es := auditOf(t, st, "role_granted", "user:"+bob.ID); len(es) != 1 || es[0].Actor != "cli" || es[0].UserID != bob.ID {
		t.Errorf("grant-role: events %+v, want one by cli about bob", es)
	}
	if es := auditOf(t, st, "admin.keys.rotate", ""); len(es) != 1 || es[0].Actor != "cli" || es[0].Reason != "suspected leak" {
		t.Errorf("keys rotate: events %+v, want one by cli", es)
	}
}

// TestCLIUnlockFollowsAccountState: the CLI's lock and unlock are the admin service's. A
// never activated account locked and unlocked is pending again, not active without a verified
// address; a disabled account cannot be locked (and so not unlocked into active). Before, the
// CLI's unlock always set active and its lock took any account.
func TestCLIUnlockFollowsAccountState(t *testing.T) {
	c := newCLI(t)
	pending := c.createUser("new@example.com")
	disabled := c.createUser("gone@example.com")
	st := c.store()
	ctx := context.Background()
	if _, err := st.UpdateUser(ctx, pending.ID, func(x *storage.User) error {
		x.Status, x.EmailVerified, x.ActivatedAt = storage.UserPending, false, nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateUser(ctx, disabled.ID, func(x *storage.User) error { x.Status = storage.UserDisabled; return nil }); err != nil {
		t.Fatal(err)
	}
	c.mustRun("", "user", "lock", pending.ID)
	var v userView
	if err := json.Unmarshal([]byte(c.mustRun("", "user", "unlock", pending.ID, "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != storage.UserPending {
		t.Errorf("a never activated account locked and unlocked is %s, want pending", v.Status)
	}
	if _, _, err := c.run("", "user", "lock", disabled.ID); err == nil {
		t.Error("a disabled account was locked")
	}
	c.run("", "user", "unlock", disabled.ID)
	if got, err := st.GetUser(ctx, disabled.ID); err != nil || got.Status != storage.UserDisabled {
		t.Errorf("disabled account after lock and unlock: %+v %v", got, err)
	}
}

// TestCLIRoleCommandsTakeReason: grant-role and revoke-role go through the admin service: each
// leaves one event by actor "cli" in the person's activity with the reason (--reason, "cli"
// when not given), and an unknown role or a role not held is refused with nothing written.
// Before, they wrote the role and an event without a reason straight to the store, and
// --reason was refused as an unknown flag.
func TestCLIRoleCommandsTakeReason(t *testing.T) {
	c := newCLI(t)
	bob := c.createUser("bob@example.com")
	c.mustRun("", "user", "grant-role", "bob@example.com", "admin", "--reason", "on call this week")
	c.mustRun("", "user", "revoke-role", bob.ID, "admin")
	if _, _, err := c.run("", "user", "grant-role", "bob@example.com", "root", "--reason", "x"); err == nil {
		t.Error("an unknown role was granted")
	}
	if _, _, err := c.run("", "user", "revoke-role", "bob@example.com", "support", "--reason", "x"); err == nil {
		t.Error("a role not held was revoked")
	}
	st := c.store()
	for typ, reason := range map[string]string{"role_granted": "on call this week", "role_revoked": "cli"} {
		es := auditOf(t, st, typ, "user:"+bob.ID)
		if len(es) != 1 || es[0].Actor != "cli" || es[0].UserID != bob.ID || es[0].Reason != reason {
			t.Errorf("%s: events %+v, want one by cli about bob with reason %q", typ, es, reason)
		}
	}
	if roles, err := st.ListUserRoles(context.Background(), bob.ID); err != nil || len(roles) != 0 {
		t.Errorf("roles: %v %v, want none", roles, err)
	}
}
