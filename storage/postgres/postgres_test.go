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

// TestRevokeUserGrantsLocksGrantsFirst: revoking a user's grants locks the grants before
// their tokens, as a rotation does. In the opposite order the revocation held the refresh
// token while it waited for the grant a rotation held, and the rotation's next statement,
// on that token, closed a deadlock (resolved after deadlock_timeout by retrying).
func TestRevokeUserGrantsLocksGrantsFirst(t *testing.T) {
	db := open(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, err := range []error{
		db.CreateUser(ctx, &storage.User{ID: "u1", Email: "a@example.com", EmailNormalized: "a@example.com", Status: storage.UserActive, CreatedAt: now, UpdatedAt: now}),
		db.CreateClient(ctx, &storage.Client{ID: "c1", Type: storage.ClientPublic}),
		db.CreateGrant(ctx, &storage.Grant{ID: "g1", UserID: "u1", ClientID: "c1", AuthTime: now, CreatedAt: now, LastUsedAt: now}),
		db.CreateRefreshToken(ctx, &storage.RefreshToken{ID: "r1", Hash: "h1", GrantID: "g1", ClientID: "c1", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A rotation's statements by hand: the grant first (lockGrantOf), then, below, its token.
	rot, err := db.SQLX().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rot.Rollback()
	// Shorter than deadlock_timeout (1 s): waiting for the revocation fails the statement.
	if _, err := rot.ExecContext(ctx, `SET LOCAL lock_timeout = '300ms'`); err != nil {
		t.Fatal(err)
	}
	if _, err := rot.ExecContext(ctx, `UPDATE grants SET last_used_at = $1 WHERE id = 'g1'`, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	revoked := make(chan error, 1)
	go func() { revoked <- db.RevokeUserClientGrants(ctx, "u1", "c1", now) }()
	// Until the revocation waits for a lock (the grant's, which the rotation holds).
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		if err := db.SQLX().GetContext(ctx, &waiting, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the revocation never waited for the rotation's grant lock")
		}
	}
	if _, err := rot.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = $1 WHERE hash = 'h1'`, now.UnixMilli()); err != nil {
		t.Fatalf("the rotation's update of its token: %v (the revocation holds the token while it waits for the grant)", err)
	}
	if err := rot.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-revoked; err != nil {
		t.Fatal(err)
	}
	g, err := db.GetGrant(ctx, "g1")
	if err != nil || g.RevokedAt == nil {
		t.Fatalf("grant after the revocation: %+v, %v; want revoked", g, err)
	}
	rt, err := db.GetRefreshToken(ctx, "h1")
	if err != nil || rt.RevokedAt == nil || rt.UsedAt == nil {
		t.Fatalf("refresh token after the revocation: %+v, %v; want used and revoked", rt, err)
	}
}

// TestLockUserLetsReferencesIn: a transaction holding a person's lock (LockUser: a factor
// change, a consent) must not hold up other transactions that only add rows referring to
// the person, such as the activity event of a sign-in: their foreign key needs a key-share
// lock, which FOR NO KEY UPDATE allows and FOR UPDATE does not. A second LockUser still
// waits (the conformance suite's "a transaction that locks a user waits …").
func TestLockUserLetsReferencesIn(t *testing.T) {
	db := open(t)
	ctx := t.Context()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com",
		Status: storage.UserActive, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	locked, added := make(chan struct{}), make(chan error, 1)
	held := make(chan bool, 1)
	go func() {
		<-locked
		added <- db.AddAuditEvent(ctx, &storage.AuditEvent{UserID: "u1", Type: "login"})
	}()
	err := db.InTx(ctx, func(tx storage.Store) error {
		if err := tx.LockUser(ctx, "u1"); err != nil {
			return err
		}
		close(locked)
		select {
		case err := <-added:
			held <- true
			return err
		case <-time.After(5 * time.Second):
			held <- false
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !<-held {
		t.Fatal("an activity event of the person waited for the transaction holding the person's lock")
	}
}
