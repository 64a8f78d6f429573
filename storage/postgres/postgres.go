// Package postgres opens MyAccount's store on PostgreSQL: the deployment for several
// MyAccount instances sharing one database ("scale out"). It drives pgx through
// database/sql (github.com/jackc/pgx/v5/stdlib) under sqlx, applies the embedded
// migrations under an advisory lock and returns the shared sqlstore implementation, so both
// backends run exactly the same queries.
package postgres

import (
	"context"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/myaccount/myaccount/storage/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationsFS returns the embedded migrations (files NNNN_name.sql at its root), so tests
// can compare them with SQLite's set.
func MigrationsFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}

// SQLSTATE codes the dialect acts on.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// MigrationLockKey is the pg_advisory_lock key held while migrating, so that instances
// starting together apply each migration once (the rest wait, then find nothing to do). It
// is "myaccmig" in ASCII; anything else sharing the database must not use it.
const MigrationLockKey int64 = 0x6d79616363_6d6967

// Pool defaults. database/sql keeps only two idle connections by default, which makes a
// busy server reconnect constantly; and an unbounded pool lets a few instances exhaust
// PostgreSQL's max_connections (100 by default). pool_max_conns in the URL overrides the
// maximum.
const (
	defaultMaxConns    = 25
	defaultMaxIdle     = 10
	defaultMaxIdleTime = 5 * time.Minute
)

// Dialect is PostgreSQL's sqlstore dialect.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:              "postgres",
		BindType:          sqlx.DOLLAR,
		IsUniqueViolation: func(err error) bool { return hasCode(err, codeUniqueViolation) },
		// Read-modify-write calls lock the row they read: under READ COMMITTED two
		// concurrent updates would otherwise both read the old row and one write be lost.
		ForUpdate: " FOR UPDATE",
		LockRow:   " FOR NO KEY UPDATE",
		// Row locks taken in different orders by concurrent transactions can deadlock; the
		// victim is rolled back whole and can simply run again.
		IsRetryable: func(err error) bool {
			return hasCode(err, codeSerializationFailure) || hasCode(err, codeDeadlockDetected)
		},
	}
}

// hasCode reports whether err carries a PostgreSQL error with the SQLSTATE code.
func hasCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// Open connects to the database at url (postgres://user:password@host:port/db?sslmode=...,
// or a key=value DSN; everything libpq-style that pgx understands), applies pending
// migrations and returns the store. Besides pgx's own parameters it accepts pool_max_conns
// (default 25), the largest number of connections this instance opens.
func Open(ctx context.Context, url string) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message does not echo the URL, which may hold a password.
		return nil, fmt.Errorf("open postgres: parse url: %w", err)
	}
	maxConns := defaultMaxConns
	if v, ok := cfg.RuntimeParams["pool_max_conns"]; ok {
		// Ours, not a server setting: the server would reject it as a startup parameter.
		delete(cfg.RuntimeParams, "pool_max_conns")
		if maxConns, err = strconv.Atoi(v); err != nil || maxConns < 1 {
			return nil, fmt.Errorf("open postgres: pool_max_conns %q is not a positive integer", v)
		}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "myaccount" // shows in pg_stat_activity
	}
	db := sqlx.NewDb(stdlib.OpenDB(*cfg), "pgx")
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(min(defaultMaxIdle, maxConns))
	db.SetConnMaxIdleTime(defaultMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	if err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.New(db, Dialect()), nil
}

// Migrate applies the embedded migrations not yet applied to db. It holds the session-level
// advisory lock MigrationLockKey on one dedicated connection for the whole run and runs the
// migrations on that same connection, so that concurrent instances queue behind each other
// and it needs only one connection even from a pool of one. The lock is released before the
// connection goes back to the pool; if releasing fails the connection is discarded instead,
// so that a pooled connection never keeps the lock.
func Migrate(ctx context.Context, db *sqlx.DB) (err error) {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("migrate postgres: connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, MigrationLockKey); err != nil {
		return fmt.Errorf("migrate postgres: take lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx is already cancelled, but do not wait forever.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, MigrationLockKey); uerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // closes the session, dropping the lock
			err = errors.Join(err, fmt.Errorf("migrate postgres: release lock: %w", uerr))
		}
	}()
	if err := sqlstore.Migrate(ctx, conn, Dialect(), MigrationsFS()); err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	return nil
}
