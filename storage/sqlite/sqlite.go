// Package sqlite opens MyAccount's store on a SQLite file: the single-binary deployment.
// It configures the driver (github.com/mattn/go-sqlite3, cgo) for a multi-connection server,
// applies the embedded migrations and returns the shared sqlstore implementation.
package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/myaccount/myaccount/storage/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationsFS returns the embedded migrations (files NNNN_name.sql at its root), so tests
// can compare them with another backend's set.
func MigrationsFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}

// Dialect is SQLite's sqlstore dialect.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:              "sqlite",
		BindType:          sqlx.QUESTION,
		IsUniqueViolation: isUniqueViolation,
		ForUpdate:         "",   // one write connection and BEGIN IMMEDIATE already serialise writers
		CacheStatements:   true, // the driver would prepare every statement at every call
	}
}

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}

// Open opens (creating if needed) the database at dsn, a file path or a "file:" URI, applies
// pending migrations and returns the store. ":memory:" (or mode=memory) gives a private
// in-memory database on a single connection, for tests that need no file. It creates the
// file's parent directory (0700: the database holds credentials) when missing.
//
// SQLite allows one writer at a time, so the store has one by design: a write pool of exactly
// one connection, which runs every transaction and every statement that writes, and a pool
// of read-only connections (query_only) for plain SELECTs, which WAL lets run beside the
// writer. Writers thus queue in database/sql's pool, which gives up when the caller's
// context ends, rather than in SQLite's busy handler, which does not know the context and
// answers "database is locked" after busy_timeout.
//
// Whatever dsn says, every connection gets:
//   - journal_mode=WAL, so readers do not block the writer and vice versa;
//   - foreign_keys=on, which the schema's ON DELETE CASCADE relies on (SQLite defaults it
//     off, per connection);
//   - _txlock=immediate, so a transaction takes the write lock at BEGIN: against another
//     process (the CLI) a transaction that reads and then writes cannot deadlock (a deferred
//     transaction's lock upgrade fails with SQLITE_BUSY without waiting);
//
// and busy_timeout=5000 (ms) unless dsn sets _busy_timeout, so that against another process
// writing the same file (the CLI), and during checkpoints, statements wait instead of failing
// with "database is locked"; and synchronous=NORMAL unless dsn sets _sync (see buildDSN).
// Every connection of the process keeps its statements' plans whatever is bound (plans.go).
func Open(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	driverDSN, file, err := buildDSN(dsn)
	if err != nil {
		return nil, err
	}
	if err := stablePlans(); err != nil {
		return nil, err
	}
	if file != "" {
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite: create directory: %w", err)
		}
	}
	write, err := sqlx.Open("sqlite3", driverDSN)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// One connection, kept forever: for a file, the single writer; for an in-memory
	// database, the whole database (each connection to one is a separate, empty database;
	// tests only: memory databases have no WAL and no durability).
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := ping(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", file, err)
	}
	if err := Migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}
	if file == "" {
		return sqlstore.New(write, Dialect()), nil
	}
	// Opened after migrating, so the file is already in WAL mode (which a query_only
	// connection could not switch on).
	read, err := sqlx.Open("sqlite3", driverDSN+"&_query_only=true")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	n := readConns()
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := ping(ctx, read); err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open sqlite %q for reading: %w", file, err)
	}
	db := sqlstore.NewSplit(write, read, Dialect())
	points := newPointReads(driverDSN+"&_query_only=true", n)
	db.SetExists(points.exists)
	db.OnClose(points.close)
	// With synchronous=NORMAL (the default, buildDSN) the writes that take access away wait
	// for a sync of the WAL (walsync.go); with FULL every commit is synced already, with OFF
	// nothing is.
	var level int
	if err := write.GetContext(ctx, &level, `PRAGMA synchronous`); err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open sqlite %q: read synchronous: %w", file, err)
	}
	var ws *walSync
	var syncLog func(context.Context) error
	if level == 1 {
		ws = newWALSync(file)
		syncLog = ws.sync
		db.SetLogSync(syncLog)
	}
	// Checkpoints run beside the writer, not inside its commits (checkpoint.go). Without a
	// connection for them the writer keeps checkpointing as SQLite does by default.
	if ck, err := startCheckpointer(ctx, file, level, write, defaultCheckpoints(), syncLog); err == nil {
		db.OnClose(ck.close)
		db.SetWALStats(func() sqlstore.WALStats {
			var st sqlstore.WALStats
			st.Checkpoints, st.Rewinds = ck.counts()
			if fi, err := os.Stat(file + "-wal"); err == nil {
				st.Bytes = fi.Size()
			}
			return st
		})
	}
	if ws != nil {
		db.OnClose(ws.close) // after the checkpointer's, whose goroutine may sync until it stops
	}
	return db, nil
}

// ping opens db's first connection. Two processes opening a new file at once can meet while
// one of them switches it to WAL, which SQLite answers "database is locked" at once, without
// its busy handler (5 of 30 simultaneous first opens here): that is retried for up to
// busyWait, as busy_timeout would have waited.
func ping(ctx context.Context, db *sqlx.DB) error {
	const busyWait = 5 * time.Second
	deadline := time.Now().Add(busyWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || (se.Code != sqlite3.ErrBusy && se.Code != sqlite3.ErrLocked) ||
			time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// readConns is the size of the read pool: reads are short and run in cgo (one OS thread
// each), so a few per CPU are plenty.
func readConns() int { return max(4, 2*runtime.NumCPU()) }

// Migrate applies the embedded migrations not yet applied to db.
func Migrate(ctx context.Context, db *sqlx.DB) error {
	if err := sqlstore.Migrate(ctx, db, Dialect(), MigrationsFS()); err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	return nil
}

// buildDSN turns a path or file: URI into the driver's DSN with the settings Open enforces,
// and returns the file path on disk ("" for in-memory databases, which have no directory).
// Plain paths become file: URIs so that a '?' or '#' in a path cannot be read as options.
func buildDSN(dsn string) (driverDSN, file string, err error) {
	if dsn == "" {
		return "", "", errors.New("open sqlite: empty dsn")
	}
	uriPath, rawQuery := dsn, ""
	if strings.HasPrefix(dsn, "file:") {
		rest := strings.TrimPrefix(dsn, "file:")
		if i := strings.IndexByte(rest, '?'); i >= 0 {
			rest, rawQuery = rest[:i], rest[i+1:]
		}
		if i := strings.IndexByte(rest, '#'); i >= 0 {
			rest = rest[:i]
		}
		if after, ok := strings.CutPrefix(rest, "//"); ok { // file://host/path: host must be empty or localhost
			host, p, _ := strings.Cut(after, "/")
			if host != "" && host != "localhost" {
				return "", "", fmt.Errorf("open sqlite: unsupported host %q in %q", host, dsn)
			}
			rest = "/" + p
		}
		if uriPath, err = url.PathUnescape(rest); err != nil {
			return "", "", fmt.Errorf("open sqlite: bad path in %q: %w", dsn, err)
		}
	}
	params, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", "", fmt.Errorf("open sqlite: bad options in %q: %w", dsn, err)
	}
	// Drop the driver's aliases for the settings we force; it would let them win.
	for _, k := range []string{"_journal", "_journal_mode", "_fk", "_foreign_keys", "_txlock", "_query_only"} {
		params.Del(k)
	}
	params.Set("_journal_mode", "WAL")
	params.Set("_foreign_keys", "on")
	params.Set("_txlock", "immediate")
	if params.Get("_busy_timeout") == "" && params.Get("_timeout") == "" {
		params.Set("_busy_timeout", "5000")
	}
	// synchronous=NORMAL unless the URL says otherwise (_sync=FULL syncs every commit).
	// go-sqlite3 is built with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, so NORMAL is what a WAL
	// database got anyway; saying so here keeps a different build of the driver from
	// changing durability behind our back. With NORMAL a commit is in the WAL when it
	// returns: a crash of the process loses nothing, and a power cut or a kernel crash only
	// what was committed since the WAL was last synced, which every checkpoint does (every
	// 250 ms, checkpoint.go). FULL syncs inside each commit: 1.8 ms instead of 0.11-0.19 ms a
	// commit here, 0.48 ms of CPU instead of 0.11-0.12 (docs/sizing-journal.md).
	if params.Get("_sync") == "" && params.Get("_synchronous") == "" {
		params.Set("_sync", "NORMAL")
	}
	if uriPath != ":memory:" && params.Get("mode") != "memory" && uriPath != "" {
		file = uriPath
	}
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(uriPath)
	return "file:" + escaped + "?" + params.Encode(), file, nil
}
