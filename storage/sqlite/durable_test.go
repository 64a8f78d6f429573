package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// TestDurableWritesWaitForTheLog: with synchronous=NORMAL the writes that take access away
// (revocations, a denied access token, a revoked licence, a changed user, a deleted client)
// return only after a sync of the log, once
// per transaction and after its commit; sessions, grants and token rotations do not wait,
// a reused refresh token's revocation does, and a rolled-back transaction syncs nothing.
func TestDurableWritesWaitForTheLog(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	syncs := 0
	db.SetLogSync(func(context.Context) error { syncs++; return nil })
	now := time.Now().UTC().Truncate(time.Millisecond)
	step := func(name string, want int, wantErr bool, f func() error) {
		t.Helper()
		syncs = 0
		if err := f(); (err != nil) != wantErr {
			t.Fatalf("%s: error %v, want an error: %v", name, err, wantErr)
		}
		if syncs != want {
			t.Errorf("%s: %d syncs of the log, want %d", name, syncs, want)
		}
	}
	u := &storage.User{ID: "u1", Email: "a@example.com", EmailNormalized: "a@example.com", Status: storage.UserActive, CreatedAt: now, UpdatedAt: now}
	c := &storage.Client{ID: "c1", Name: "c1", Type: storage.ClientConfidential, CreatedAt: now, UpdatedAt: now}
	s := &storage.Session{ID: "s1", TokenHash: "th", UserID: "u1", AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	g := &storage.Grant{ID: "g1", UserID: "u1", ClientID: "c1", AuthTime: now, CreatedAt: now, LastUsedAt: now}
	rt := &storage.RefreshToken{ID: "r1", Hash: "h1", GrantID: "g1", ClientID: "c1", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	step("create user, client, session, grant, refresh token", 0, false, func() error {
		return errors.Join(db.CreateUser(ctx, u), db.CreateClient(ctx, c), db.CreateSession(ctx, s), db.CreateGrant(ctx, g), db.CreateRefreshToken(ctx, rt))
	})
	rotate := func(old, id string) error {
		return db.RotateRefreshToken(ctx, old, &storage.RefreshToken{ID: id, Hash: "h-" + id, GrantID: "g1", ClientID: "c1", UserID: "u1",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, now, storage.RefreshGrace{})
	}
	step("rotate a refresh token", 0, false, func() error { return rotate("h1", "r2") })
	step("reuse the rotated token (the grant is revoked)", 1, true, func() error { return rotate("h1", "r3") })
	step("update the user", 1, false, func() error {
		_, err := db.UpdateUser(ctx, "u1", func(u *storage.User) error { u.Name = "A"; return nil })
		return err
	})
	step("two durable writes in one transaction", 1, false, func() error {
		return db.InTx(ctx, func(tx storage.Store) error {
			if _, err := tx.UpdateUser(ctx, "u1", func(u *storage.User) error { u.Name = "B"; return nil }); err != nil {
				return err
			}
			return tx.RevokeSession(ctx, "s1", now)
		})
	})
	step("a rolled-back transaction", 0, true, func() error {
		return db.InTx(ctx, func(tx storage.Store) error {
			if err := tx.RevokeUserSessions(ctx, "u1", now); err != nil {
				return err
			}
			return errors.New("changed my mind")
		})
	})
	step("new recovery codes, one used", 2, false, func() error {
		return errors.Join(db.ReplaceRecoveryCodes(ctx, "u1", []string{"rc1", "rc2"}), db.UseRecoveryCode(ctx, "u1", "rc1", now))
	})
	step("deny a stateless access token", 1, false, func() error {
		return db.DenyAccessToken(ctx, "jti-hash", "c1", now.Add(time.Hour), now)
	})
	step("create a product and a licence", 0, false, func() error {
		return errors.Join(db.CreateProduct(ctx, &storage.Product{ID: "av", Name: "Antivirus"}),
			db.CreateLicences(ctx, []*storage.Licence{{ID: "l1", ProductID: "av", CodeHash: "lh1", Seats: 1, Days: 30, CreatedAt: now}}))
	})
	step("revoke the licence", 1, false, func() error {
		_, err := db.UpdateLicence(ctx, "l1", func(l *storage.Licence) error { l.RevokedAt = &now; return nil })
		return err
	})
	step("a licence update refused by its callback", 0, true, func() error {
		_, err := db.UpdateLicence(ctx, "l1", func(*storage.Licence) error { return errors.New("no") })
		return err
	})
	step("delete the client", 1, false, func() error { return db.DeleteClient(ctx, "c1") })
}

// BenchmarkDurableWrite compares a write that waits for the log (RevokeSession) with one
// that does not (CreateSession), with real syncs of the WAL; -cpu 1,8 shows the sync shared
// by concurrent callers.
func BenchmarkDurableWrite(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "x.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Email: "a@example.com", EmailNormalized: "a@example.com",
		Status: storage.UserActive, CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	session := func() string {
		id := fmt.Sprintf("s%d", n.Add(1))
		if err := db.CreateSession(ctx, &storage.Session{ID: id, TokenHash: "th" + id, UserID: "u1", AuthTime: now,
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		return id
	}
	b.Run("create-session", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				session()
			}
		})
	})
	b.Run("revoke-session-durable", func(b *testing.B) {
		ids := make(chan string, b.N)
		for range b.N {
			ids <- session()
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.RevokeSession(ctx, <-ids, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
