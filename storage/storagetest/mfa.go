package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var auditTests = []test{
	{"newest first, limited, per user, gone with the user", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		var all []*storage.AuditEvent
		for i := range 4 {
			e := &storage.AuditEvent{ID: fmt.Sprintf("e%d", i), UserID: "u1", Type: "login", IP: "192.0.2.1",
				UserAgent: "Firefox", ClientID: "c1", Detail: fmt.Sprintf("detail %d", i),
				CreatedAt: base().Add(time.Duration(i) * time.Minute)}
			must(t, s.AddAuditEvent(ctx(t), e))
			all = append([]*storage.AuditEvent{stored(e)}, all...)
		}
		must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: "other", UserID: "u2", Type: "login", CreatedAt: base()}))
		got, err := s.ListAuditEvents(ctx(t), "u1", 3)
		must(t, err)
		equal(t, "newest three", got, all[:3])
		got, err = s.ListAuditEvents(ctx(t), "u1", 0)
		must(t, err)
		equal(t, "all (limit 0)", got, all)
		must(t, s.DeleteUser(ctx(t), "u1"))
		got, err = s.ListAuditEvents(ctx(t), "u1", 0)
		must(t, err)
		equal(t, "events after DeleteUser", len(got), 0)
		got, err = s.ListAuditEvents(ctx(t), "u2", 0)
		must(t, err)
		equal(t, "other user's events", len(got), 1)
	}},
	{"events of one millisecond come back newest written first", func(t *testing.T, s storage.Store) {
		// Events written together (one transaction's, one sign-in's) share their time; the
		// ids the store mints keep the order they were written in (AddAuditEvent).
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		const n = 20
		for i := range n {
			must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{UserID: "u1", Type: fmt.Sprintf("e%02d", i), CreatedAt: base()}))
		}
		got, err := s.ListAuditEvents(ctx(t), "u1", 0)
		must(t, err)
		var order []string
		for _, e := range got {
			order = append(order, e.Type)
		}
		var want []string
		for i := n - 1; i >= 0; i-- {
			want = append(want, fmt.Sprintf("e%02d", i))
		}
		equal(t, "order of one millisecond's events", order, want)
		q, err := s.QueryAuditEvents(ctx(t), storage.AuditQuery{UserID: "u1", Limit: n})
		must(t, err)
		order = order[:0]
		for _, e := range q {
			order = append(order, e.Type)
		}
		equal(t, "order of one millisecond's events, queried", order, want)
	}},
	{"retention deletes only older events", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		for i, age := range []time.Duration{48 * time.Hour, 25 * time.Hour, time.Hour} {
			must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: fmt.Sprintf("r%d", i), UserID: "u1", Type: "login", CreatedAt: base().Add(-age)}))
		}
		n, err := s.DeleteAuditEventsBefore(ctx(t), base().Add(-24*time.Hour))
		must(t, err)
		equal(t, "deleted", n, int64(2))
		got, err := s.ListAuditEvents(ctx(t), "u1", 0)
		must(t, err)
		equal(t, "kept", len(got), 1)
		equal(t, "kept id", got[0].ID, "r2")
	}},
	{"retention removes more than one batch of events", func(t *testing.T, s storage.Store) {
		// The purge runs in batches (a short write each); it must go on past the first.
		const old = 2500
		must(t, s.InTx(ctx(t), func(tx storage.Store) error {
			for i := range old + 3 {
				at := base().Add(-48 * time.Hour)
				if i >= old {
					at = base()
				}
				if err := tx.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: fmt.Sprintf("b%05d", i), Type: "login", CreatedAt: at}); err != nil {
					return err
				}
			}
			return nil
		}))
		n, err := s.DeleteAuditEventsBefore(ctx(t), base().Add(-24*time.Hour))
		must(t, err)
		equal(t, "deleted", n, int64(old))
		n, err = s.DeleteAuditEventsBefore(ctx(t), base().Add(time.Hour))
		must(t, err)
		equal(t, "left for the next purge", n, int64(3))
	}},
	{"id and time are filled; no user is allowed", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		a, b := &storage.AuditEvent{UserID: "u1", Type: "password_changed"}, &storage.AuditEvent{UserID: "u1", Type: "login"}
		must(t, s.AddAuditEvent(ctx(t), a))
		must(t, s.AddAuditEvent(ctx(t), b))
		if a.ID == "" || a.ID == b.ID || time.Since(a.CreatedAt) > time.Minute {
			t.Fatalf("filled id %q (other %q), created %v", a.ID, b.ID, a.CreatedAt)
		}
		must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{Type: "login_failed", Detail: "unknown email"}))
	}},
	{"an event's id is written once, in a transaction too", func(t *testing.T, s storage.Store) {
		// An outbox task run again writes its events under its first run's ids: the store
		// keeps the first, answers nil, and (PostgreSQL) leaves the transaction usable.
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		first := &storage.AuditEvent{ID: "task-e1", UserID: "u1", Type: "login_failed", Detail: "first", CreatedAt: base()}
		must(t, s.AddAuditEvent(ctx(t), first))
		must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: "task-e1", UserID: "u1", Type: "login_failed", Detail: "again", CreatedAt: base().Add(time.Minute)}))
		must(t, s.InTx(ctx(t), func(tx storage.Store) error {
			if err := tx.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: "task-e1", UserID: "u1", Type: "login_failed", Detail: "in a tx", CreatedAt: base()}); err != nil {
				return err
			}
			return tx.AddAuditEvent(ctx(t), &storage.AuditEvent{ID: "task-e2", UserID: "u1", Type: "locked_out", CreatedAt: base().Add(time.Second)})
		}))
		got, err := s.ListAuditEvents(ctx(t), "u1", 0)
		must(t, err)
		equal(t, "events", got, []*storage.AuditEvent{
			stored(&storage.AuditEvent{ID: "task-e2", UserID: "u1", Type: "locked_out", CreatedAt: base().Add(time.Second)}),
			stored(first)})
	}},
}

var mfaTests = []test{
	{"create, list, get by credential id round-trip", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		totp1, totp2, key := newMFA("t1", "u1", storage.MFATOTP), newMFA("t2", "u1", storage.MFATOTP), newMFA("w1", "u1", storage.MFAWebAuthn)
		totp2.CreatedAt = base().Add(time.Hour)
		key.CreatedAt = base().Add(2 * time.Hour)
		key.LastUsedAt = nil
		for _, c := range []*storage.MFACredential{totp1, totp2, key} { // two TOTP rows: two NULL credential ids
			must(t, s.CreateMFACredential(ctx(t), c))
		}
		got, err := s.ListMFACredentials(ctx(t), "u1")
		must(t, err)
		equal(t, "ListMFACredentials", got, []*storage.MFACredential{stored(totp1), stored(totp2), stored(key)})
		one, err := s.GetMFACredentialByCredentialID(ctx(t), key.CredentialID)
		must(t, err)
		equal(t, "by credential id", one, stored(key))
		_, err = s.GetMFACredentialByCredentialID(ctx(t), []byte("nope"))
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetMFACredentialByCredentialID(ctx(t), nil)
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"duplicate id or credential id is ErrConflict", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateMFACredential(ctx(t), newMFA("w1", "u1", storage.MFAWebAuthn)))
		wantErr(t, s.CreateMFACredential(ctx(t), newMFA("w1", "u1", storage.MFATOTP)), storage.ErrConflict)
		sameCred := newMFA("w2", "u1", storage.MFAWebAuthn)
		sameCred.CredentialID = newMFA("w1", "u1", storage.MFAWebAuthn).CredentialID
		wantErr(t, s.CreateMFACredential(ctx(t), sameCred), storage.ErrConflict)
	}},
	{"update stores fn's changes, keeps id and user", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateMFACredential(ctx(t), newMFA("w1", "u1", storage.MFAWebAuthn)))
		used := base().Add(time.Hour)
		got, err := s.UpdateMFACredential(ctx(t), "w1", func(c *storage.MFACredential) error {
			c.ID, c.UserID = "hijack", "u2"
			c.SignCount, c.Flagged, c.Name, c.LastUsedAt = 42, false, "Renamed", &used
			return nil
		})
		must(t, err)
		list, err := s.ListMFACredentials(ctx(t), "u1")
		must(t, err)
		equal(t, "stored", list, []*storage.MFACredential{stored(got)})
		if got.ID != "w1" || got.UserID != "u1" || got.SignCount != 42 || got.Flagged || got.Name != "Renamed" {
			t.Fatalf("updated credential %+v", got)
		}
		_, err = s.UpdateMFACredential(ctx(t), "nope", func(*storage.MFACredential) error { return nil })
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.UpdateMFACredential(ctx(t), "w1", func(c *storage.MFACredential) error { c.Name = "x"; return errBoom })
		wantErr(t, err, errBoom)
		list, err = s.ListMFACredentials(ctx(t), "u1")
		must(t, err)
		equal(t, "name after failed update", list[0].Name, "Renamed")
	}},
	{"AcceptTOTPStep accepts only increasing steps", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateMFACredential(ctx(t), newMFA("t1", "u1", storage.MFATOTP))) // LastStep 100
		now := base().Add(time.Hour)
		for _, c := range []struct {
			step int64
			want bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
			ok, err := s.AcceptTOTPStep(ctx(t), "t1", c.step, now)
			must(t, err)
			equal(t, fmt.Sprintf("step %d accepted", c.step), ok, c.want)
		}
		list, err := s.ListMFACredentials(ctx(t), "u1")
		must(t, err)
		equal(t, "LastStep", list[0].LastStep, int64(103))
		equal(t, "LastUsedAt", list[0].LastUsedAt, ptr(ms(now)))
		_, err = s.AcceptTOTPStep(ctx(t), "nope", 1, now)
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"delete needs the owner; user deletion cascades", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		must(t, s.CreateMFACredential(ctx(t), newMFA("t1", "u1", storage.MFATOTP)))
		must(t, s.CreateMFACredential(ctx(t), newMFA("t2", "u1", storage.MFATOTP)))
		wantErr(t, s.DeleteMFACredential(ctx(t), "u2", "t1"), storage.ErrNotFound)
		must(t, s.DeleteMFACredential(ctx(t), "u1", "t1"))
		wantErr(t, s.DeleteMFACredential(ctx(t), "u1", "t1"), storage.ErrNotFound)
		must(t, s.DeleteUser(ctx(t), "u1"))
		list, err := s.ListMFACredentials(ctx(t), "u1")
		must(t, err)
		equal(t, "credentials after DeleteUser", len(list), 0)
	}},
}

var recoveryTests = []test{
	{"use once, count, replace voids the old set", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		must(t, s.ReplaceRecoveryCodes(ctx(t), "u1", []string{"a", "b", "c"}))
		must(t, s.ReplaceRecoveryCodes(ctx(t), "u2", []string{"a"}))
		count := func(u string) int {
			t.Helper()
			n, err := s.CountRecoveryCodes(ctx(t), u)
			must(t, err)
			return n
		}
		equal(t, "unused", count("u1"), 3)
		must(t, s.UseRecoveryCode(ctx(t), "u1", "b", base()))
		wantErr(t, s.UseRecoveryCode(ctx(t), "u1", "b", base()), storage.ErrNotFound)
		wantErr(t, s.UseRecoveryCode(ctx(t), "u1", "zzz", base()), storage.ErrNotFound)
		equal(t, "unused after one use", count("u1"), 2)
		equal(t, "other user's codes untouched", count("u2"), 1)

		must(t, s.ReplaceRecoveryCodes(ctx(t), "u1", []string{"b", "d"}))
		equal(t, "unused after replace", count("u1"), 2)
		wantErr(t, s.UseRecoveryCode(ctx(t), "u1", "a", base()), storage.ErrNotFound) // old set void
		must(t, s.UseRecoveryCode(ctx(t), "u1", "b", base()))                         // new "b" is fresh
		must(t, s.ReplaceRecoveryCodes(ctx(t), "u1", nil))
		equal(t, "unused after voiding", count("u1"), 0)
		must(t, s.DeleteUser(ctx(t), "u2"))
		equal(t, "after DeleteUser", count("u2"), 0)
	}},
	{"a failed replace keeps the old set", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.ReplaceRecoveryCodes(ctx(t), "u1", []string{"a", "b"}))
		wantErr(t, s.ReplaceRecoveryCodes(ctx(t), "u1", []string{"x", "x"}), storage.ErrConflict)
		n, err := s.CountRecoveryCodes(ctx(t), "u1")
		must(t, err)
		equal(t, "unused", n, 2)
		must(t, s.UseRecoveryCode(ctx(t), "u1", "a", base()))
	}},
}

var browserTests = []test{
	{"live entries only, for their user", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		b := &storage.TrustedBrowser{TokenHash: "tb1", UserID: "u1", UserAgent: "Firefox",
			CreatedAt: base(), ExpiresAt: base().Add(30 * 24 * time.Hour)}
		must(t, s.CreateTrustedBrowser(ctx(t), b))
		wantErr(t, s.CreateTrustedBrowser(ctx(t), b), storage.ErrConflict)
		got, err := s.GetTrustedBrowser(ctx(t), "tb1", "u1", base())
		must(t, err)
		equal(t, "GetTrustedBrowser", got, stored(b))
		_, err = s.GetTrustedBrowser(ctx(t), "tb1", "u2", base())
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetTrustedBrowser(ctx(t), "tb1", "u1", b.ExpiresAt)
		wantErr(t, err, storage.ErrNotFound)
		must(t, s.DeleteTrustedBrowsers(ctx(t), "u1"))
		must(t, s.DeleteTrustedBrowsers(ctx(t), "u1"))
		_, err = s.GetTrustedBrowser(ctx(t), "tb1", "u1", base())
		wantErr(t, err, storage.ErrNotFound)
	}},
}
