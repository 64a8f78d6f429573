package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
	"github.com/myaccount/myaccount/storage/sqlstore"
	"github.com/myaccount/myaccount/storage/storagetest"
)

// openTemp opens a fresh database file under t.TempDir(); a file, not :memory:, so WAL,
// locking between connections and busy handling are exercised as in production.
func openTemp(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "myaccount.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openTemp(t) })
}

// pragma reads a PRAGMA on the write connection and on n-1 distinct read connections, since
// SQLite settings such as foreign_keys are per connection.
func pragma(t *testing.T, db *sqlstore.DB, name string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		pool := db.ReadSQLX()
		if i == 0 {
			pool = db.SQLX()
		}
		conn, err := pool.Connx(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var v string
		if err := conn.GetContext(t.Context(), &v, "PRAGMA "+name); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.ToLower(v))
	}
	return out
}

func TestOpenConfiguresEveryConnection(t *testing.T) {
	db := openTemp(t)
	for name, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000"} {
		for i, got := range pragma(t, db, name, 3) {
			if got != want {
				t.Errorf("connection %d: PRAGMA %s = %q, want %q", i, name, got, want)
			}
		}
	}
	// One writer by design; the readers cannot write.
	if got := db.SQLX().Stats().MaxOpenConnections; got != 1 {
		t.Errorf("write pool allows %d connections, want 1", got)
	}
	if got := pragma(t, db, "query_only", 2); got[0] != "0" || got[1] != "1" {
		t.Errorf("query_only on writer, reader = %v, want [0 1]", got)
	}
}

func TestOpenForcesSafetySettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sqlite.Open(t.Context(), "file:"+path+"?_fk=off&_journal_mode=DELETE&_busy_timeout=1234&_query_only=true")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := pragma(t, db, "foreign_keys", 1)[0]; got != "1" {
		t.Errorf("foreign_keys = %s despite _fk=off, want 1", got)
	}
	if got := pragma(t, db, "journal_mode", 1)[0]; got != "wal" {
		t.Errorf("journal_mode = %s, want wal", got)
	}
	if got := pragma(t, db, "busy_timeout", 2); got[0] != "1234" || got[1] != "1234" {
		t.Errorf("busy_timeout = %v, want the dsn's 1234", got)
	}
	if got := pragma(t, db, "query_only", 1)[0]; got != "0" {
		t.Errorf("query_only on the writer = %s despite being forced off, want 0", got)
	}
}

// TestOpenSynchronous pins the durability level: synchronous=NORMAL (1) on every connection
// unless the URL asks for another, FULL (2) when it does. The level is said in the DSN, so a
// build of the driver with another default cannot change it unnoticed.
func TestOpenSynchronous(t *testing.T) {
	for _, tc := range []struct{ query, want string }{{"", "1"}, {"?_sync=FULL", "2"}, {"?_synchronous=FULL", "2"}} {
		db, err := sqlite.Open(t.Context(), "file:"+filepath.Join(t.TempDir(), "x.db")+tc.query)
		if err != nil {
			t.Fatal(err)
		}
		for i, got := range pragma(t, db, "synchronous", 2) {
			if got != tc.want {
				t.Errorf("%q: connection %d: PRAGMA synchronous = %s, want %s", tc.query, i, got, tc.want)
			}
		}
		db.Close()
	}
}

// TestOpenTakesWriteLockAtBegin checks _txlock=immediate, which still matters against another
// process on the same file (the CLI): a second transaction cannot even begin while one is
// open, so no transaction ever has to upgrade a read lock (the upgrade is what fails with
// SQLITE_BUSY without waiting, deadlocking read-modify-write callers).
func TestOpenTakesWriteLockAtBegin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sqlite.Open(t.Context(), "file:"+path+"?_busy_timeout=50")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := sqlite.Open(t.Context(), "file:"+path+"?_busy_timeout=50") // as another process would
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	first, err := db.SQLX().BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	second, err := other.SQLX().BeginTxx(t.Context(), nil)
	if err == nil {
		second.Rollback()
		t.Fatal("a second transaction began while the first was open; want BEGIN IMMEDIATE to wait and fail")
	}
	if !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second BEGIN: %v, want database is locked", err)
	}
}

// TestWritersQueueInThePool: our own writers never meet SQLite's lock. While a transaction
// is open, another write waits for the one write connection (and gives up when its context
// ends, not with "database is locked"), and reads go on beside it.
func TestWritersQueueInThePool(t *testing.T) {
	db, err := sqlite.Open(t.Context(), "file:"+filepath.Join(t.TempDir(), "x.db")+"?_busy_timeout=50")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateClient(t.Context(), &storage.Client{ID: "c1", Type: storage.ClientPublic}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	held := make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- db.InTx(t.Context(), func(tx storage.Store) error {
			if err := tx.CreateClient(t.Context(), &storage.Client{ID: "c2", Type: storage.ClientPublic}); err != nil {
				return err
			}
			close(held)
			<-release // far longer than busy_timeout
			return nil
		})
	}()
	<-held
	// A read runs beside the open write transaction.
	if _, err := db.GetClient(t.Context(), "c1"); err != nil {
		t.Fatalf("read beside a writer: %v", err)
	}
	// A write queues in the pool and ends with its context, not with SQLITE_BUSY.
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	err = db.CreateClient(ctx, &storage.Client{ID: "c3", Type: storage.ClientPublic})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write behind an open transaction: %v, want context.DeadlineExceeded", err)
	}
	// A queued write waits as long as it takes (here 300 ms, six times busy_timeout).
	queued := make(chan error, 1)
	go func() { queued <- db.CreateClient(t.Context(), &storage.Client{ID: "c4", Type: storage.ClientPublic}) }()
	time.Sleep(300 * time.Millisecond)
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatalf("queued write: %v", err)
	}
}

// TestConcurrentWritersNeverLocked hammers one file with many goroutines mixing
// transactions, single writes and reads, with a busy_timeout far too short to hide a lock
// conflict: none may fail.
func TestConcurrentWritersNeverLocked(t *testing.T) {
	db, err := sqlite.Open(t.Context(), "file:"+filepath.Join(t.TempDir(), "x.db")+"?_busy_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64*20)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				id := fmt.Sprintf("c%d-%d", g, i)
				err := db.InTx(t.Context(), func(tx storage.Store) error {
					if _, err := tx.HitCounter(t.Context(), "k", time.Hour, time.Now()); err != nil {
						return err
					}
					return tx.CreateClient(t.Context(), &storage.Client{ID: id, Type: storage.ClientPublic})
				})
				if err == nil {
					_, err = db.HitCounter(t.Context(), "k", time.Hour, time.Now())
				}
				if err == nil {
					_, err = db.GetClient(t.Context(), id)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := db.CounterValue(t.Context(), "k", time.Hour, time.Now()); err != nil || n != 64*20*2 {
		t.Fatalf("counter = %d, %v; want %d", n, err, 64*20*2)
	}
}

func TestOpenCreatesParentDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "myaccount.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestOpenFileURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space")
	path := filepath.Join(dir, "my#account.db")
	escaped := (&url.URL{Path: path}).EscapedPath()
	forms := []struct{ name, dsn string }{
		{"file:path", "file:" + escaped},
		{"file:///path", "file://" + escaped + "?cache=private"}, // the same file again
		{"plain path with ? and #", filepath.Join(t.TempDir(), "odd?name#x.db")},
	}
	for i, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), f.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			id := fmt.Sprintf("u%d", i)
			if err := db.CreateUser(t.Context(), &storage.User{ID: id, Email: id, EmailNormalized: id, Status: storage.UserActive}); err != nil {
				t.Fatal(err)
			}
			if got := pragma(t, db, "journal_mode", 1)[0]; got != "wal" {
				t.Errorf("journal_mode = %s, want wal", got)
			}
			if i == 1 {
				if _, err := db.GetUser(t.Context(), "u0"); err != nil {
					t.Errorf("file:/// form did not open the file:path database: %v", err)
				}
			}
		})
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("file: URL did not create %s: %v", path, err)
	}
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "myaccount.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(t.Context(), &storage.Client{ID: "c1", Type: storage.ClientPublic}); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Migrate(t.Context(), db.SQLX()); err != nil { // again, on the open handle
		t.Fatalf("second Migrate: %v", err)
	}
	db.Close()

	db, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if _, err := db.GetClient(t.Context(), "c1"); err != nil {
		t.Fatalf("data lost on reopen: %v", err)
	}
	applied, err := sqlstore.AppliedMigrations(t.Context(), db.SQLX())
	if err != nil {
		t.Fatal(err)
	}
	all, err := sqlstore.LoadMigrations(sqlite.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || len(applied) != len(all) {
		t.Fatalf("applied %v, embedded %d migrations", applied, len(all))
	}
	for i, m := range all {
		if applied[i] != m.Version {
			t.Fatalf("applied %v, want versions of %v", applied, all)
		}
	}
}

func TestMigrationsFS(t *testing.T) {
	names, err := fs.Glob(sqlite.MigrationsFS(), "*.sql")
	if err != nil || len(names) == 0 || names[0] != "0001_init.sql" {
		t.Fatalf("MigrationsFS has %v (%v), want 0001_init.sql first", names, err)
	}
}

func TestOpenMemory(t *testing.T) {
	db, err := sqlite.Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateClient(t.Context(), &storage.Client{ID: "c1", Type: storage.ClientPublic}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetClient(t.Context(), "c1"); err != nil { // same database on every call
		t.Fatal(err)
	}
}

func TestOpenRejectsBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "file://remote.example/x.db"} {
		if db, err := sqlite.Open(t.Context(), dsn); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

// TestUpgradeKeepsData opens a database created at version 1 with the current code: the
// later migrations must apply on top of existing rows, giving new columns their defaults.
func TestUpgradeKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old := fstest.MapFS{}
	body, err := fs.ReadFile(sqlite.MigrationsFS(), "0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	old["0001_init.sql"] = &fstest.MapFile{Data: body}
	raw, err := sqlx.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.Migrate(t.Context(), raw, sqlite.Dialect(), old); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(t.Context(), `INSERT INTO users (id, email, email_normalized, status, created_at, updated_at)
		VALUES ('u1', 'a@example.com', 'a@example.com', 'pending', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer db.Close()
	u, err := db.GetUser(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if u.LockoutCount != 0 || u.PreferredMFA != "" || u.LockedUntil != nil || u.ReminderSentAt != nil {
		t.Fatalf("new columns of an old row: %+v", u)
	}
	pending, err := db.ListPendingUsers(t.Context(), time.Now())
	if err != nil || len(pending) != 1 {
		t.Fatalf("ListPendingUsers after upgrade: %v, %v", pending, err)
	}
}

// TestRefusesNewerSchema: a database migrated by a newer MyAccount (a version this binary
// does not know) is refused, naming both versions, and nothing is applied to it.
func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newer.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	all, err := sqlstore.LoadMigrations(sqlite.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	known := all[len(all)-1].Version
	newer := known + 10
	// As a newer binary would leave it: its own migration recorded.
	if _, err := db.SQLX().ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 1)`, newer); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = sqlite.Open(t.Context(), path)
	if !errors.Is(err, sqlstore.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer database: %v, want ErrSchemaTooNew", err)
	}
	want := fmt.Sprintf("database schema is at version %d, this myaccount knows up to %d: upgrade myaccount, or restore a backup", newer, known)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	raw, err := sqlx.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := sqlite.Migrate(t.Context(), raw); !errors.Is(err, sqlstore.ErrSchemaTooNew) {
		t.Fatalf("Migrate of a newer database: %v, want ErrSchemaTooNew", err)
	}
}

// TestRefusesUnknownOlderVersion: an applied version below ours that we do not have (another
// build's) is refused too, and no pending migration is applied on top of it.
func TestRefusesUnknownOlderVersion(t *testing.T) {
	mig := func(names ...string) fstest.MapFS {
		m := fstest.MapFS{}
		for _, n := range names {
			m[n] = &fstest.MapFile{Data: []byte("CREATE TABLE t" + n[:4] + " (x INTEGER);")}
		}
		return m
	}
	raw, err := sqlx.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := sqlstore.Migrate(t.Context(), raw, sqlite.Dialect(), mig("0001_a.sql", "0003_other_branch.sql")); err != nil {
		t.Fatal(err)
	}
	err = sqlstore.Migrate(t.Context(), raw, sqlite.Dialect(), mig("0001_a.sql", "0002_b.sql", "0004_c.sql"))
	if !errors.Is(err, sqlstore.ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 3") || !strings.Contains(err.Error(), "up to 4") {
		t.Fatalf("Migrate over an unknown version: %v", err)
	}
	applied, err := sqlstore.AppliedMigrations(t.Context(), raw)
	if err != nil || len(applied) != 2 {
		t.Fatalf("applied = %v, %v; want only the first run's [1 3]", applied, err)
	}
}

// Commits never checkpoint (the writer's wal_autocheckpoint is 0): the background
// checkpointer copies the WAL into the database file within a few ticks, and a last time at
// Close, so the data is in the main file even though no commit crossed the automatic
// threshold itself.
func TestCheckpointsRunBesideTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "myaccount.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := pragma(t, db, "wal_autocheckpoint", 1); got[0] != "0" {
		t.Fatalf("writer's wal_autocheckpoint = %s, want 0", got[0])
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	// About 1,500 pages of rows in 300 commits: past the automatic threshold (1,000 pages).
	if _, err := db.SQLX().Exec(`CREATE TABLE filler (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 20<<10)
	for range 300 {
		if _, err := db.SQLX().Exec(`INSERT INTO filler (b) VALUES (?)`, blob); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() < before+5<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after 6 MB of commits (was %d): nothing checkpointed", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	if err := db.ReadSQLX().Get(&n, `SELECT COUNT(*) FROM filler`); err != nil || n != 300 {
		t.Errorf("rows after the checkpoint: %d, %v", n, err)
	}
}

// TestConcurrentFirstOpen: two servers started at once on a new file both open it (before
// ping's retry, about one pair in six got "database is locked" from the switch to WAL).
func TestConcurrentFirstOpen(t *testing.T) {
	for i := range 20 {
		file := filepath.Join(t.TempDir(), "myaccount.db")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j := range errs {
			wg.Go(func() {
				db, err := sqlite.Open(t.Context(), file)
				if err == nil {
					err = db.Close()
				}
				errs[j] = err
			})
		}
		wg.Wait()
		for j, err := range errs {
			if err != nil {
				t.Errorf("pair %d, open %d: %v", i, j, err)
			}
		}
	}
}
