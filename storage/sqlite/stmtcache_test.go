package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// The store keeps SQLite statements prepared (Dialect.CacheStatements); the conformance
// suite runs every query through that cache. These cover what the suite does not: a store
// closed under its cached statements answers with an error, not a panic, and the hot paths'
// cost with the cache.

func TestClosedStoreWithCachedStatementsFails(t *testing.T) {
	t.Parallel()
	db := openTemp(t)
	u := &storage.User{ID: "u1", Email: "a@example.com", EmailNormalized: "a@example.com", Status: storage.UserActive,
		CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetUserByEmail(t.Context(), "a@example.com"); err != nil { // now cached
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetUserByEmail(t.Context(), "a@example.com"); err == nil {
		t.Fatal("read on a closed store succeeded")
	}
	if err := db.CreateUser(t.Context(), &storage.User{ID: "u2", Email: "b@example.com", EmailNormalized: "b@example.com",
		Status: storage.UserActive, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err == nil {
		t.Fatal("write on a closed store succeeded")
	}
}

// BenchmarkReadUserByEmail is the sign-in's user lookup on the read pool.
func BenchmarkReadUserByEmail(b *testing.B) {
	db := openTempB(b)
	for i := range 1000 {
		e := fmt.Sprintf("u%d@example.com", i)
		if err := db.CreateUser(b.Context(), &storage.User{ID: fmt.Sprintf("u%d", i), Email: e, EmailNormalized: e,
			Status: storage.UserActive, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if _, err := db.GetUserByEmail(b.Context(), fmt.Sprintf("u%d@example.com", i%1000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWriteAccessToken is an opaque client_credentials grant's one write.
func BenchmarkWriteAccessToken(b *testing.B) {
	db := openTempB(b)
	if err := db.CreateClient(b.Context(), &storage.Client{ID: "c1", Name: "c1", Type: storage.ClientConfidential,
		CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		now := time.Now()
		if err := db.CreateAccessToken(b.Context(), &storage.AccessToken{IDHash: fmt.Sprintf("jti-%d", i), ClientID: "c1",
			Scopes: []string{"api"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func openTempB(b *testing.B) *sqlstore.DB {
	b.Helper()
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "myaccount.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAccessTokenDenied is a stateless token's introspection read: the denylist, which
// holds nothing for a live token.
func BenchmarkAccessTokenDenied(b *testing.B) { benchDenied(b.Context(), b) }

// BenchmarkAccessTokenDeniedBackground is the same read with a context that cannot be
// cancelled. Through database/sql the two differed by what a cancellable context costs
// (a watcher per query: 5.3-7.4 against 3.9-4.9 µs); on the point-read connections
// (pointread.go) they are the same, 3.1-3.5 µs and 5 allocations.
func BenchmarkAccessTokenDeniedBackground(b *testing.B) { benchDenied(context.Background(), b) }

func benchDenied(ctx context.Context, b *testing.B) {
	db := openTempB(b)
	now := time.Now()
	for i := range 100 {
		if err := db.DenyAccessToken(b.Context(), fmt.Sprintf("denied-%d", i), "c1", now.Add(time.Hour), now); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		denied, err := db.AccessTokenDenied(ctx, "a-live-token-hash")
		if err != nil || denied {
			b.Fatal(denied, err)
		}
	}
}
