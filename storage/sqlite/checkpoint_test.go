package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// checkpointFixture opens a database file as Open does, without its checkpointer: the write
// pool (one connection) with a table t (id, b BLOB), and a read pool. Both close with t.
func checkpointFixture(t *testing.T) (file string, write, read *sqlx.DB) {
	t.Helper()
	dsn, file, err := buildDSN(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	write, err = sqlx.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { write.Close() })
	write.SetMaxOpenConns(1)
	if _, err := write.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)`); err != nil {
		t.Fatal(err)
	}
	read, err = sqlx.Open("sqlite3", dsn+"&_query_only=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { read.Close() })
	return file, write, read
}

// TestCheckpointerRunsOutsideGo: checkpoints happen on the checkpointer's own thread, with no
// cgo call from Go (a goroutine in a cgo call would hold its P through the checkpoint's
// fsync, and a one-core server's goroutines would wait), and they copy the WAL back.
func TestCheckpointerRunsOutsideGo(t *testing.T) {
	file, write, _ := checkpointFixture(t)
	ck, err := startCheckpointer(t.Context(), file, 1, write, defaultCheckpoints(), nil)
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
	window := 3*defaultCheckpoints().every + defaultCheckpoints().every/2
	time.Sleep(window)
	gotRuns, gotCalls := ck.runs(), runtime.NumCgoCall()
	if gotRuns-runs < 2 {
		t.Fatalf("%d checkpoints in %v, want at least 2", gotRuns-runs, window)
	}
	// ck.runs reads C memory without a call, and so does the watcher.
	if n := gotCalls - calls; n != 0 {
		t.Errorf("%d cgo calls from Go while %d checkpoints ran, want none", n, gotRuns-runs)
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

// TestCheckpointerRewindsTheWAL: beside a writer that never pauses and readers that never
// stop, the WAL stays short. PASSIVE checkpoints alone copy it but never rewind it (only a
// writer starting a transaction on a fully copied WAL does, and a writer that never pauses
// has appended again by then), so it grew by much of what was written: 32-46 MB of the 128 MB
// here. The RESTARTs keep it within a few restartFrames, and no row is lost.
func TestCheckpointerRewindsTheWAL(t *testing.T) {
	file, write, read := checkpointFixture(t)
	cfg := checkpointConfig{every: 20 * time.Millisecond, restartFrames: 256, walLimit: 4 << 20, restartWait: 100 * time.Millisecond}
	ck, err := startCheckpointer(t.Context(), file, 1, write, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.close()

	const blob, want = 32 << 10, 128 << 20 // a commit of 8 pages; what the writer writes
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				if err := read.Get(&n, `SELECT count(*) FROM t WHERE id > (SELECT max(id) - 10 FROM t)`); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var maxWAL int64
	rows := 0
	for end := time.Now().Add(30 * time.Second); rows*blob < want; rows++ {
		if time.Now().After(end) {
			t.Fatalf("only %d MB written in 30 s", rows*blob>>20)
		}
		if _, err := write.Exec(`INSERT INTO t (b) VALUES (randomblob(?))`, blob); err != nil {
			t.Fatal(err)
		}
		if rows%16 == 0 {
			if fi, err := os.Stat(file + "-wal"); err == nil {
				maxWAL = max(maxWAL, fi.Size())
			}
		}
	}
	close(stop)
	readers.Wait()
	restarts := ck.restarts()
	if restarts == 0 {
		t.Errorf("no RESTART checkpoint in %d commits", rows)
	}
	// Without commits the WAL keeps its length until the next one rewinds it: no more
	// RESTARTs (each would hold the writer) once the one after the last commit is done.
	time.Sleep(10 * cfg.every)
	restarts = ck.restarts()
	time.Sleep(10 * cfg.every)
	if n := ck.restarts() - restarts; n != 0 {
		t.Errorf("%d RESTARTs in %v without a commit", n, 10*cfg.every)
	}
	// Unrewound, the WAL would hold all that was written. How far it gets before a RESTART
	// finds a moment with no reader in it depends on scheduling (24-31 MB on a loaded 2-core
	// host, against a few MB idle), so the bound is on the property, not on the timing.
	if maxWAL > want/2 {
		t.Errorf("WAL reached %d MB while %d MB were written, want under %d MB", maxWAL>>20, rows*blob>>20, want>>21)
	}
	var n int
	if err := write.Get(&n, `SELECT count(*) FROM t`); err != nil || n != rows {
		t.Errorf("%d rows, %v; want %d", n, err, rows)
	}
	t.Logf("%d commits, %d MB; WAL at most %.1f MB; %d PASSIVE, %d RESTART checkpoints", rows, rows*blob>>20, float64(maxWAL)/(1<<20), ck.runs(), ck.restarts())
}

// TestCheckpointerBacksOffBehindALongRead: a read that stays in the WAL (a backup, say) keeps
// a RESTART from finishing, and each try holds the writer for up to restartWait; after a
// failed one the checkpointer waits (1 s, then longer) instead of stalling the writer at
// every period.
func TestCheckpointerBacksOffBehindALongRead(t *testing.T) {
	file, write, read := checkpointFixture(t)
	const wait = 100 * time.Millisecond
	cfg := checkpointConfig{every: 20 * time.Millisecond, restartFrames: 64, restartWait: wait}
	ck, err := startCheckpointer(t.Context(), file, 1, write, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.close()
	insert := func() time.Duration {
		start := time.Now()
		if _, err := write.Exec(`INSERT INTO t (b) VALUES (randomblob(4096))`); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	insert()
	// A read transaction that stays on the first commit's snapshot (BEGIN by hand: the
	// DSN's _txlock=immediate would make database/sql's BEGIN a write on a read-only
	// connection).
	long, err := read.Connx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	if _, err := long.ExecContext(t.Context(), `BEGIN DEFERRED`); err != nil {
		t.Fatal(err)
	}
	defer long.ExecContext(context.Background(), `ROLLBACK`)
	var n int
	if err := long.GetContext(t.Context(), &n, `SELECT count(*) FROM t`); err != nil {
		t.Fatal(err)
	}
	stalls, commits := 0, 0
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); commits++ {
		if insert() >= wait*8/10 {
			stalls++
		}
		time.Sleep(2 * time.Millisecond) // the WAL cannot be rewound: keep it small
	}
	if ck.restarts() != 0 {
		t.Errorf("%d RESTARTs finished with a reader in the WAL", ck.restarts())
	}
	// Tries at about 0, 1 and 3 s: at most three stalls; every period would be about 20.
	if stalls == 0 || stalls > 3 {
		t.Errorf("%d commits of %d waited %v or more for a RESTART, want 1 to 3", stalls, commits, wait*8/10)
	}
	t.Logf("%d commits, %d stalled", commits, stalls)
}

// TestWALStats: an opened file reports its WAL's size and its checkpoints (the metrics read
// them), and still answers after Close, with the final counts.
func TestWALStats(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQLX().Exec(`CREATE TABLE w (b BLOB); INSERT INTO w VALUES (zeroblob(50000))`); err != nil {
		t.Fatal(err)
	}
	st, ok := db.WALStats()
	if !ok || st.Bytes < 50000 {
		t.Fatalf("WALStats = %+v, %v; want a WAL holding the 50,000-byte row", st, ok)
	}
	for end := time.Now().Add(5 * time.Second); st.Checkpoints == 0; st, _ = db.WALStats() {
		if time.Now().After(end) {
			t.Fatalf("no checkpoint counted in 5 s: %+v", st)
		}
		time.Sleep(defaultCheckpoints().every / 2)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if after, ok := db.WALStats(); !ok || after.Checkpoints < st.Checkpoints {
		t.Errorf("after Close: %+v, %v; want the final counts, at least %d checkpoints", after, ok, st.Checkpoints)
	}
}

// TestCheckpointerSyncsBehindALongRead: a PASSIVE checkpoint syncs the WAL only when it
// copies something, and a read that stays on an old snapshot (a backup's VACUUM INTO) lets
// it copy nothing: the commits of the read's duration then reached the disk only when
// SQLite happened to write them back. The checkpointer syncs the WAL itself then, within
// about a period of the commit; not when its checkpoint copied the WAL (SQLite synced it),
// nor again when nothing was committed since.
func TestCheckpointerSyncsBehindALongRead(t *testing.T) {
	file, write, read := checkpointFixture(t)
	cfg := defaultCheckpoints() // the promised period
	ws := newWALSync(file)
	defer ws.close()
	var mu sync.Mutex
	var syncs []time.Time // when each sync of ours started
	ws.fsync = func(f *os.File) error {
		mu.Lock()
		syncs = append(syncs, time.Now())
		mu.Unlock()
		return f.Sync()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(syncs) }
	ck, err := startCheckpointer(t.Context(), file, 1, write, cfg, ws.sync)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.close()
	insert := func() time.Time {
		if _, err := write.Exec(`INSERT INTO t (b) VALUES (randomblob(4096))`); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	periods := func(n int) { time.Sleep(time.Duration(n) * cfg.every) }

	insert()
	periods(4)
	if n := count(); n != 0 {
		t.Fatalf("%d syncs of ours with no reader: the checkpoints copy the WAL and sync it themselves", n)
	}

	// A read transaction that keeps its snapshot (BEGIN by hand, as in
	// TestCheckpointerBacksOffBehindALongRead).
	long, err := read.Connx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	if _, err := long.ExecContext(t.Context(), `BEGIN DEFERRED`); err != nil {
		t.Fatal(err)
	}
	defer long.ExecContext(context.Background(), `ROLLBACK`)
	var rows int
	if err := long.GetContext(t.Context(), &rows, `SELECT count(*) FROM t`); err != nil {
		t.Fatal(err)
	}
	// A checkpoint, a quarter period for the goroutine to see it, and slack for a busy machine.
	bound := 2 * cfg.every
	waitSync := func(what string, after int, committed time.Time) {
		t.Helper()
		for count() == after && time.Since(committed) < 2*bound {
			time.Sleep(cfg.every / 20)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(syncs) == after {
			t.Fatalf("%s: no sync of the WAL in %v", what, time.Since(committed))
		}
		if d := syncs[after].Sub(committed); d > bound {
			t.Errorf("%s: WAL synced %v after the commit, want within %v", what, d, bound)
		}
	}
	waitSync("a commit behind a long read", 0, insert())
	periods(4)
	synced := count()
	periods(4)
	if n := count() - synced; n != 0 {
		t.Errorf("%d more syncs in %v without a commit", n, 4*cfg.every)
	}
	insert()
	waitSync("another commit", count(), insert())
	if runs := ck.runs(); runs < 8 {
		t.Errorf("%d checkpoints, want one every %v", runs, cfg.every)
	}
}
