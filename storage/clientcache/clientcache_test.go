package clientcache_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/clientcache"
	"github.com/myaccount/myaccount/storage/sqlite"
	"github.com/myaccount/myaccount/storage/wrap"
)

// fixture is a real SQLite store, counted (how often GetClient reached it), behind the cache,
// plus a second handle on the same file that writes past the cache (another process).
type fixture struct {
	cache *clientcache.Store
	other storage.Store
	reads atomic.Int64
	now   time.Time
	mu    sync.Mutex
}

func newFixture(t *testing.T, ttl time.Duration) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); other.Close() })
	f := &fixture{other: other, now: time.Now()}
	counted := wrap.New(db, func(ctx context.Context, method string, next func(context.Context) error) error {
		if method == "GetClient" {
			f.reads.Add(1)
		}
		return next(ctx)
	})
	f.cache = clientcache.New(counted, ttl, f.clock)
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func client(id string) *storage.Client {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &storage.Client{ID: id, Name: "App " + id, Type: storage.ClientConfidential, SecretHash: "h1",
		RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"api.read"}, AccessTokenFormat: storage.TokenFormatJWT, CreatedAt: now, UpdatedAt: now}
}

func (f *fixture) get(t *testing.T, id string) *storage.Client {
	t.Helper()
	c, err := f.cache.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRepeatedReadsAreServedFromMemory(t *testing.T) {
	f := newFixture(t, time.Second)
	if err := f.cache.CreateClient(context.Background(), client("a")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if c := f.get(t, "a"); c.Name != "App a" {
			t.Fatalf("name %q", c.Name)
		}
	}
	if n := f.reads.Load(); n != 1 {
		t.Fatalf("5 reads reached the store %d times, want 1", n)
	}
	// Past the TTL the row is read again.
	f.advance(time.Second)
	f.get(t, "a")
	if n := f.reads.Load(); n != 2 {
		t.Fatalf("a read past the TTL reached the store %d times in all, want 2", n)
	}
}

func TestWritesThroughTheCacheAreSeenAtOnce(t *testing.T) {
	f := newFixture(t, time.Hour)
	ctx := context.Background()
	if err := f.cache.CreateClient(ctx, client("a")); err != nil {
		t.Fatal(err)
	}
	f.get(t, "a")
	if _, err := f.cache.UpdateClient(ctx, "a", func(c *storage.Client) error { c.Name = "renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if c := f.get(t, "a"); c.Name != "renamed" {
		t.Fatalf("after an update: %q", c.Name)
	}
	// Inside a transaction, committed.
	err := f.cache.InTx(ctx, func(tx storage.Store) error {
		_, err := tx.UpdateClient(ctx, "a", func(c *storage.Client) error { c.SecretHash = "h2"; return nil })
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.get(t, "a"); c.SecretHash != "h2" {
		t.Fatalf("after an update in a transaction: %q", c.SecretHash)
	}
	// A transaction that rolls back leaves the old client, which is read again, not a
	// cached copy of the uncommitted one.
	boom := errors.New("roll back")
	err = f.cache.InTx(ctx, func(tx storage.Store) error {
		if _, err := tx.UpdateClient(ctx, "a", func(c *storage.Client) error { c.Name = "uncommitted"; return nil }); err != nil {
			return err
		}
		if c, err := f.cache.GetClient(ctx, "a"); err == nil && c.Name == "uncommitted" {
			t.Error("a read outside the transaction saw its uncommitted write")
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v", err)
	}
	if c := f.get(t, "a"); c.Name != "renamed" {
		t.Fatalf("after a rolled-back update: %q", c.Name)
	}
	if err := f.cache.DeleteClient(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cache.GetClient(ctx, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after delete: %v, want not found", err)
	}
}

func TestOtherProcessesWritesSeenWithinTTL(t *testing.T) {
	f := newFixture(t, time.Second)
	ctx := context.Background()
	if err := f.other.CreateClient(ctx, client("a")); err != nil {
		t.Fatal(err)
	}
	f.get(t, "a")
	if _, err := f.other.UpdateClient(ctx, "a", func(c *storage.Client) error { c.SecretHash = "rotated"; return nil }); err != nil {
		t.Fatal(err)
	}
	if c := f.get(t, "a"); c.SecretHash != "h1" {
		t.Fatalf("within the TTL: %q, want the cached h1 (this is what the TTL allows)", c.SecretHash)
	}
	// The uncached read sees the rotation, and refreshes the cache with it.
	if c, err := f.cache.GetClientUncached(ctx, "a"); err != nil || c.SecretHash != "rotated" {
		t.Fatalf("uncached: %v %v", c, err)
	}
	if c := f.get(t, "a"); c.SecretHash != "rotated" {
		t.Fatalf("after the uncached read: %q", c.SecretHash)
	}
	if err := f.other.DeleteClient(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Second)
	if _, err := f.cache.GetClient(ctx, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("past the TTL after another process deleted it: %v, want not found", err)
	}
}

func TestMissesAndCopies(t *testing.T) {
	f := newFixture(t, time.Hour)
	ctx := context.Background()
	// A missing client is not remembered as missing: created by another process, it is
	// found at once.
	if _, err := f.cache.GetClient(ctx, "b"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if err := f.other.CreateClient(ctx, client("b")); err != nil {
		t.Fatal(err)
	}
	c := f.get(t, "b")
	// Callers get copies: changing one does not change what the next caller gets.
	c.Name, c.RedirectURIs[0], c.GrantTypes[0] = "changed", "https://evil.example/cb", "password"
	if c := f.get(t, "b"); c.Name != "App b" || c.RedirectURIs[0] != "https://app.example/cb" || c.GrantTypes[0] != "client_credentials" {
		t.Fatalf("the cached client was changed through a returned copy: %+v", c)
	}
}

func TestNoCachingWithoutTTL(t *testing.T) {
	f := newFixture(t, 0)
	if err := f.cache.CreateClient(context.Background(), client("a")); err != nil {
		t.Fatal(err)
	}
	f.get(t, "a")
	f.get(t, "a")
	if n := f.reads.Load(); n != 2 {
		t.Fatalf("reads reached the store %d times, want 2", n)
	}
}

func BenchmarkGetClient(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "c.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateClient(ctx, client("a")); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		st   storage.Store
	}{{"sqlite", db}, {"cached", clientcache.New(db, time.Second, nil)}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.st.GetClient(ctx, "a"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
