package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/postgres"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
	"github.com/myaccount/myaccount/storage/sqlstore"
	"github.com/myaccount/myaccount/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens a fresh, migrated database for t.
func open(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), pgtest.MigratedURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t) })
}

// TestConcurrentMigrate starts several instances on one empty database at once, as a
// rolling deployment does: the advisory lock must let exactly one apply each migration and
// the others find nothing to do.
func TestConcurrentMigrate(t *testing.T) {
	url := pgtest.URL(t)
	const instances = 6
	var wg sync.WaitGroup
	errs := make([]error, instances)
	dbs := make([]*sqlstore.DB, instances)
	for i := range instances {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	applied, err := sqlstore.AppliedMigrations(t.Context(), dbs[0].SQLX())
	if err != nil {
		t.Fatal(err)
	}
	all, err := sqlstore.LoadMigrations(postgres.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(all) {
		t.Fatalf("applied %v, want the %d embedded migrations once each", applied, len(all))
	}
	// Every instance works, and the lock was released.
	for i, db := range dbs {
		if err := db.CreateClient(t.Context(), &storage.Client{ID: string(rune('a' + i)), Type: storage.ClientPublic}); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	var held int
	if err := dbs[0].SQLX().GetContext(t.Context(), &held,
		`SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1`, postgres.MigrationLockKey&0xffffffff); err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Fatalf("%d advisory locks still held after migrating", held)
	}
}

// TestMigrateWaitsForLock checks that Migrate really queues behind the lock: while another
// session holds it, Migrate does not finish.
func TestMigrateWaitsForLock(t *testing.T) {
	db := open(t)
	conn, err := db.SQLX().Connx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `SELECT pg_advisory_lock($1)`, postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := postgres.Migrate(ctx, db.SQLX()); !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "cancel") {
		t.Fatalf("Migrate while the lock is held: %v, want it to wait until the deadline", err)
	}
	if _, err := conn.ExecContext(t.Context(), `SELECT pg_advisory_unlock($1)`, postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(t.Context(), db.SQLX()); err != nil {
		t.Fatalf("Migrate after the lock was released: %v", err)
	}
}

// TestDeadlockIsRetried makes two transactions lock two rows in opposite orders. PostgreSQL
// aborts one of them with a deadlock; InTx must run it again so that both succeed.
func TestDeadlockIsRetried(t *testing.T) {
	db := open(t)
	for _, id := range []string{"a", "b"} {
		if err := db.CreateClient(t.Context(), &storage.Client{ID: id, Type: storage.ClientPublic}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu       sync.Mutex
		attempts int
		barrier  sync.WaitGroup
	)
	barrier.Add(2)
	rename := func(first, second string) error {
		once := sync.Once{}
		return db.InTx(t.Context(), func(tx storage.Store) error {
			mu.Lock()
			attempts++
			mu.Unlock()
			if _, err := tx.UpdateClient(t.Context(), first, func(c *storage.Client) error { c.Name += "x"; return nil }); err != nil {
				return err
			}
			once.Do(func() { barrier.Done(); barrier.Wait() }) // both hold their first row
			_, err := tx.UpdateClient(t.Context(), second, func(c *storage.Client) error { c.Name += "x"; return nil })
			return err
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = rename("a", "b") })
	wg.Go(func() { errs[1] = rename("b", "a") })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if attempts < 3 {
		t.Fatalf("%d attempts: expected a deadlock and a retry", attempts)
	}
	for _, id := range []string{"a", "b"} {
		c, err := db.GetClient(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != "xx" {
			t.Fatalf("client %s name %q, want xx (each transaction's update applied once)", id, c.Name)
		}
	}
}

func TestDialectErrors(t *testing.T) {
	db := open(t)
	c := &storage.Client{ID: "c1", Type: storage.ClientPublic}
	if err := db.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(t.Context(), c); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate: %v, want ErrConflict", err)
	}
	if _, err := db.GetClient(t.Context(), "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown: %v, want ErrNotFound", err)
	}
	if postgres.Dialect().IsRetryable(errors.New("40001")) {
		t.Fatal("a plain error is retryable")
	}
}

func TestOpenOptions(t *testing.T) {
	url := pgtest.MigratedURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := postgres.Open(t.Context(), url+sep+"pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.SQLX().Stats().MaxOpenConnections; got != 3 {
		t.Fatalf("MaxOpenConnections = %d, want 3", got)
	}
	var app string
	if err := db.SQLX().GetContext(t.Context(), &app, `SHOW application_name`); err != nil || app != "myaccount" {
		t.Fatalf("application_name = %q (%v), want myaccount", app, err)
	}
	for _, bad := range []string{"postgres://%zz", url + sep + "pool_max_conns=0"} {
		if db, err := postgres.Open(t.Context(), bad); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// TestRefusesNewerSchema: a database migrated by a newer MyAccount is refused, naming both
// versions.
func TestRefusesNewerSchema(t *testing.T) {
	url := pgtest.MigratedURL(t)
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	all, err := sqlstore.LoadMigrations(postgres.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	known := all[len(all)-1].Version
	newer := known + 3
	if _, err := db.SQLX().ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 1)`, newer); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = postgres.Open(t.Context(), url)
	if !errors.Is(err, sqlstore.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer database: %v, want ErrSchemaTooNew", err)
	}
	want := fmt.Sprintf("database schema is at version %d, this myaccount knows up to %d", newer, known)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}
