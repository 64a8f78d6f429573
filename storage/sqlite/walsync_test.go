package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWALSyncGroupsCallers: callers that arrive while a sync runs share the next one, and
// each returns only after a sync that started after it called.
func TestWALSyncGroupsCallers(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	if err := os.WriteFile(db+"-wal", []byte("frames"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWALSync(db)
	defer w.close()
	var syncs atomic.Int64
	var started atomic.Int64 // unix nanos of the latest sync's start
	w.fsync = func(f *os.File) error {
		started.Store(time.Now().UnixNano())
		syncs.Add(1)
		time.Sleep(10 * time.Millisecond)
		return f.Sync()
	}
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			called := time.Now().UnixNano()
			if err := w.sync(t.Context()); err != nil {
				errs <- err
				return
			}
			if s := started.Load(); s < called {
				errs <- errors.New("returned after a sync that started before the call")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := syncs.Load(); n < 1 || n > callers/5 {
		t.Errorf("%d callers took %d syncs, want them grouped (1 to %d)", callers, n, callers/5)
	}
}

// TestWALSyncFailureAndReplacedFile: a failed sync fails its callers only; a WAL file
// replaced since the last sync is reopened; without a WAL the database file is synced.
func TestWALSyncFailureAndReplacedFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	for _, p := range []string{db, db + "-wal"} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w := newWALSync(db)
	defer w.close()
	var synced []string
	fail := true
	w.fsync = func(f *os.File) error {
		if fail {
			fail = false
			return errors.New("EIO")
		}
		synced = append(synced, f.Name())
		return f.Sync()
	}
	if err := w.sync(t.Context()); err == nil {
		t.Fatal("a failed sync was reported as done")
	}
	if err := w.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := w.f
	// Replaced: removed and written anew (another process closed and reopened the database).
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+"-wal", []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w.f == first {
		t.Error("a replaced WAL file was not reopened")
	}
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{db + "-wal", db + "-wal", db}
	if len(synced) != len(want) {
		t.Fatalf("synced %v, want %v", synced, want)
	}
	for i := range want {
		if synced[i] != want[i] {
			t.Fatalf("synced %v, want %v", synced, want)
		}
	}
}

// TestWALSyncHonoursContext: a caller whose context ends stops waiting.
func TestWALSyncHonoursContext(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	if err := os.WriteFile(db+"-wal", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWALSync(db)
	defer w.close()
	release := make(chan struct{})
	w.fsync = func(*os.File) error { <-release; return nil }
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := w.sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync with an ended context: %v", err)
	}
}
