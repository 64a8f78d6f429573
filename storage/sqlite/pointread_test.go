package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage/sqlstore"
)

// TestPointReadsAnswerTheDenylist: the denylist read goes to connections of its own, not the
// read pool, and sees each commit at once.
func TestPointReadsAnswerTheDenylist(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "myaccount.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Every read-pool connection held: a read through the pool would wait for one.
	var held []*sql.Conn
	for range readConns() {
		c, err := db.ReadSQLX().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()

	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	now := time.Now()
	for i := range 3 {
		hash := "h" + string(rune('a'+i))
		if denied, err := db.AccessTokenDenied(short, hash); err != nil || denied {
			t.Fatalf("%s before its revocation: denied=%v err=%v, want false, nil", hash, denied, err)
		}
		if err := db.DenyAccessToken(ctx, hash, "c1", now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
		// The same connection answered before the commit; it must not answer from then.
		if denied, err := db.AccessTokenDenied(short, hash); err != nil || !denied {
			t.Fatalf("%s after its revocation: denied=%v err=%v, want true, nil", hash, denied, err)
		}
	}
}

// TestPointReadsPool: the wait for a connection ends with the caller's context, a failed
// read gives back its slot, and a closed pool refuses at once and keeps nothing open.
func TestPointReadsPool(t *testing.T) {
	ctx := t.Context()
	_, p := pointFixture(t, 1)

	pc, err := p.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.exists(short, q, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with the only connection in use: %v, want the deadline", err)
	}
	p.put(pc)

	if _, err := p.exists(ctx, `SELECT nonsense FROM nowhere`, "x"); err == nil {
		t.Fatal("a bad query answered")
	}
	// The failed connection was discarded and its slot freed: the next read opens another.
	if found, err := p.exists(ctx, q, "x"); err != nil || found {
		t.Fatalf("after a failed read: %v, %v; want false, nil", found, err)
	}
	if len(p.slots) != 1 || len(p.idle) != 1 {
		t.Fatalf("slots %d, idle %d; want 1, 1", len(p.slots), len(p.idle))
	}

	pc, err = p.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.exists(ctx, q, "x"); !errors.Is(err, errPointReadsClosed) {
		t.Fatalf("after close: %v, want %v", err, errPointReadsClosed)
	}
	p.put(pc) // closes it
	if len(p.idle) != 0 {
		t.Fatalf("%d connections idle after close, want 0", len(p.idle))
	}
}

// TestPointReadsConcurrent: readers beyond the pool's size share its connections, each sees
// what was committed before it started, and closing leaves none open.
func TestPointReadsConcurrent(t *testing.T) {
	ctx := t.Context()
	db, p := pointFixture(t, 2)
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				hash := fmt.Sprintf("g%d-%d", g, i)
				if err := db.DenyAccessToken(ctx, hash, "c1", now.Add(time.Hour), now); err != nil {
					errs <- err
					return
				}
				if found, err := p.exists(ctx, q, hash); err != nil || !found {
					errs <- fmt.Errorf("%s after its commit: found=%v err=%v", hash, found, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(p.slots); n > 2 {
		t.Fatalf("%d connections for a pool of 2", n)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if len(p.idle) != 0 {
		t.Fatalf("%d connections idle after close", len(p.idle))
	}
}

// q is the denylist's read, as sqlstore asks it.
const q = `SELECT 1 FROM revoked_access_tokens WHERE id_hash = ?`

// pointFixture opens a store on a new file and a point-read pool of n connections beside it.
func pointFixture(t *testing.T, n int) (*sqlstore.DB, *pointReads) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "myaccount.db")
	db, err := Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dsn, _, err := buildDSN(file)
	if err != nil {
		t.Fatal(err)
	}
	return db, newPointReads(dsn+"&_query_only=true", n)
}
