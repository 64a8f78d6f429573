package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// roleTests: roles on accounts (issue 13).
var roleTests = []test{
	{"grant, list, revoke", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		roles, err := s.ListUserRoles(ctx(t), "u1")
		must(t, err)
		equal(t, "no roles yet", roles, []string{})

		must(t, s.GrantRole(ctx(t), "u1", storage.RoleSupport, base()))
		must(t, s.GrantRole(ctx(t), "u1", storage.RoleAdmin, base()))
		must(t, s.GrantRole(ctx(t), "u2", storage.RoleAdmin, base()))
		roles, err = s.ListUserRoles(ctx(t), "u1")
		must(t, err)
		equal(t, "roles of u1", roles, []string{"admin", "support"})
		ids, err := s.ListRoleUsers(ctx(t), storage.RoleAdmin)
		must(t, err)
		equal(t, "admins", ids, []string{"u1", "u2"})

		must(t, s.RevokeRole(ctx(t), "u1", storage.RoleAdmin))
		roles, err = s.ListUserRoles(ctx(t), "u1")
		must(t, err)
		equal(t, "after revoke", roles, []string{"support"})
		wantErr(t, s.RevokeRole(ctx(t), "u1", storage.RoleAdmin), storage.ErrNotFound)
	}},
	{"granting twice is not an error", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.GrantRole(ctx(t), "u1", storage.RoleAdmin, base()))
		must(t, s.GrantRole(ctx(t), "u1", storage.RoleAdmin, base().Add(time.Minute)))
		roles, err := s.ListUserRoles(ctx(t), "u1")
		must(t, err)
		equal(t, "roles", roles, []string{"admin"})
	}},
	{"unknown user or role", func(t *testing.T, s storage.Store) {
		wantErr(t, s.GrantRole(ctx(t), "nobody", storage.RoleAdmin, base()), storage.ErrNotFound)
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		if err := s.GrantRole(ctx(t), "u1", "root", base()); err == nil {
			t.Fatal("an unknown role was granted")
		}
	}},
	{"deleting the user deletes its roles", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.GrantRole(ctx(t), "u1", storage.RoleSupport, base()))
		must(t, s.DeleteUser(ctx(t), "u1"))
		ids, err := s.ListRoleUsers(ctx(t), storage.RoleSupport)
		must(t, err)
		equal(t, "holders", ids, []string{})
	}},
}

// adminQueryTests: the admin API's user search and audit query, with keyset paging.
var adminQueryTests = []test{
	{"search users: filters and every user once across pages", func(t *testing.T, s storage.Store) {
		for i := range 7 {
			u := newUser(fmt.Sprintf("u%02d", i))
			if i == 3 {
				u.Status = storage.UserLocked
			}
			if i == 5 {
				u.Email, u.EmailNormalized = "x_y@other.test", "x_y@other.test"
			}
			must(t, s.CreateUser(ctx(t), u))
		}
		seen := map[string]int{}
		after := ""
		for range 10 {
			page, err := s.SearchUsers(ctx(t), storage.UserQuery{AfterID: after, Limit: 3})
			must(t, err)
			if len(page) == 0 {
				break
			}
			for _, u := range page {
				seen[u.ID]++
			}
			after = page[len(page)-1].ID
		}
		equal(t, "users seen", len(seen), 7)
		for id, n := range seen {
			if n != 1 {
				t.Errorf("user %s seen %d times", id, n)
			}
		}
		locked, err := s.SearchUsers(ctx(t), storage.UserQuery{Status: storage.UserLocked})
		must(t, err)
		equal(t, "locked", len(locked), 1)
		// The underscore is literal, not LIKE's one-character wildcard.
		byPrefix, err := s.SearchUsers(ctx(t), storage.UserQuery{EmailPrefix: "x_"})
		must(t, err)
		equal(t, "prefix x_", len(byPrefix), 1)
		none, err := s.SearchUsers(ctx(t), storage.UserQuery{EmailPrefix: "x%"})
		must(t, err)
		equal(t, "prefix x%", len(none), 0)
	}},
	{"query audit events: filters, range and paging", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		at := base()
		for i := range 5 {
			must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: fmt.Sprintf("e%d", i), UserID: "u1",
				Type: "login", ClientID: "c1", CreatedAt: at.Add(time.Duration(i/2) * time.Second)}))
		}
		must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: "other", Type: "admin_client_created",
			ClientID: "c2", CreatedAt: at}))
		all, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{UserID: "u1"})
		must(t, err)
		equal(t, "u1 events", len(all), 5)
		var got []string
		q := storage.AuditQuery{UserID: "u1", Limit: 2}
		for range 10 {
			page, err := s.QueryAuditEvents(ctx(t), q)
			must(t, err)
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				got = append(got, e.ID)
			}
			last := page[len(page)-1]
			q.BeforeAt, q.BeforeID = last.CreatedAt, last.ID
		}
		equal(t, "paged, newest first", got, []string{"e4", "e3", "e2", "e1", "e0"})
		byClient, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{ClientID: "c2"})
		must(t, err)
		equal(t, "by client", len(byClient), 1)
		byType, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{Type: "login", Since: at.Add(time.Second), Until: at.Add(2 * time.Second)})
		must(t, err)
		equal(t, "by type and range", len(byType), 2)
		byID, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{ID: "e3"})
		must(t, err)
		equal(t, "by id", len(byID), 1)
		equal(t, "the event of the id", byID[0].ID, "e3")
	}},
	{"audit events keep actor, target and reason; query by actor and target", func(t *testing.T, s storage.Store) {
		at := base()
		unlock := &storage.AuditEvent{ID: "a1", Type: "admin.user.unlock", IP: "192.0.2.9", Actor: "user:staff",
			Target: "user:u1", Reason: "called the desk, identity checked", CreatedAt: at}
		must(t, s.AddAuditEvent(ctx(t), unlock))
		must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: "a2", Type: "admin.client.update", Actor: "client:robot",
			Target: "client:c1", CreatedAt: at.Add(time.Second)}))
		must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: "a3", Type: "admin.user.lock", Actor: "user:staff",
			Target: "user:u2", Reason: "fraud", CreatedAt: at.Add(2 * time.Second)}))
		must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: "p1", UserID: "", Type: "login_failed", CreatedAt: at}))
		byActor, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{Actor: "user:staff"})
		must(t, err)
		equal(t, "by actor", auditIDs(byActor), []string{"a3", "a1"})
		byTarget, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{Target: "user:u1"})
		must(t, err)
		equal(t, "by target", byTarget, []*storage.AuditEvent{stored(unlock)})
		both, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{Actor: "user:staff", Target: "user:u2", Type: "admin.user.lock"})
		must(t, err)
		equal(t, "by actor, target and type", auditIDs(both), []string{"a3"})
		equal(t, "reason", both[0].Reason, "fraud")
		// A person's own event has none of the three.
		mine, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{Type: "login_failed"})
		must(t, err)
		equal(t, "own event", [3]string{mine[0].Actor, mine[0].Target, mine[0].Reason}, [3]string{})
	}},
}

func auditIDs(es []*storage.AuditEvent) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}
