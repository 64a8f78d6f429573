package sqlite

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// TestCheckpointerRunsOutsideGo: checkpoints happen on the checkpointer's own thread, with no
// cgo call from Go (a goroutine in a cgo call would hold its P through the checkpoint's
// fsync, and a one-core server's goroutines would wait), and they copy the WAL back.
func TestCheckpointerRunsOutsideGo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	dsn, file, err := buildDSN(path)
	if err != nil {
		t.Fatal(err)
	}
	write, err := sqlx.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer write.Close()
	write.SetMaxOpenConns(1)
	if _, err := write.Exec(`CREATE TABLE t (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	ck, err := startCheckpointer(t.Context(), file, 1, write)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.close()
	var auto int
	if err := write.Get(&auto, `PRAGMA wal_autocheckpoint`); err != nil || auto != 0 {
		t.Fatalf("writer's wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	size := func() int64 {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	if _, err := write.Exec(`INSERT INTO t (b) VALUES (zeroblob(100000))`); err != nil {
		t.Fatal(err)
	}

	calls, runs := runtime.NumCgoCall(), ck.runs()
	time.Sleep(3*checkpointEvery + checkpointEvery/2)
	gotRuns, gotCalls := ck.runs(), runtime.NumCgoCall()
	if gotRuns-runs < 2 {
		t.Fatalf("%d checkpoints in %v, want at least 2", gotRuns-runs, 3*checkpointEvery+checkpointEvery/2)
	}
	// Two calls are the test's own (ck.runs); the watcher's once-a-second look may add one.
	if n := gotCalls - calls; n > 3 {
		t.Errorf("%d cgo calls from Go while %d checkpoints ran, want at most 3", n, gotRuns-runs)
	}
	if after := size(); after < before+100000 {
		t.Errorf("database file %d bytes after a 100,000-byte row (was %d): not checkpointed", after, before)
	}
	if err := ck.close(); err != nil {
		t.Fatal(err)
	}
	if err := ck.close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
