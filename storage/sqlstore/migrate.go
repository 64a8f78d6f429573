package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
)

// Migration is one numbered schema change, read from a file named NNNN_name.sql. Every
// backend keeps its own set with the same version numbers and the same resulting tables and
// columns, so a store can move between backends and the sets can be compared in tests.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// LoadMigrations reads the *.sql files at the root of fsys, sorted by version. Any other
// file name, or two files with one version, is an error: a silently skipped migration would
// leave backends with different schemas.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %q: name is not NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1]) // four digits always parse
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// ErrSchemaTooNew reports a database whose applied migrations include one this binary does
// not know: a newer MyAccount wrote it, and this one must not serve it (it would misread or
// corrupt what it does not know) nor migrate it. Match with errors.Is; the error is a
// *SchemaTooNewError naming the versions.
var ErrSchemaTooNew = errors.New("database schema is newer than this myaccount")

// SchemaTooNewError names the versions of a database refused with ErrSchemaTooNew.
type SchemaTooNewError struct {
	// Database is the highest migration version applied to the database that this binary
	// does not know; Known is the highest version this binary has.
	Database, Known int
}

func (e *SchemaTooNewError) Error() string {
	if e.Database > e.Known {
		return fmt.Sprintf("database schema is at version %d, this myaccount knows up to %d: upgrade myaccount, or restore a backup",
			e.Database, e.Known)
	}
	// A version below ours that we do not have: written by another build (a branch).
	return fmt.Sprintf("database has schema version %d, which this myaccount (versions up to %d) does not know: "+
		"use the myaccount that migrated it, or restore a backup", e.Database, e.Known)
}

func (e *SchemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }

// CheckSchema fails with a *SchemaTooNewError when db has applied a migration that is not
// among known. A database without schema_migrations (new, empty) passes.
func CheckSchema(ctx context.Context, db sqlx.QueryerContext, known []Migration) error {
	var applied []int
	if err := sqlx.SelectContext(ctx, db, &applied, `SELECT version FROM schema_migrations ORDER BY version`); err != nil {
		return fmt.Errorf("list applied migrations: %w", err)
	}
	have := make(map[int]bool, len(known))
	maxKnown := 0
	for _, m := range known {
		have[m.Version] = true
		maxKnown = max(maxKnown, m.Version)
	}
	unknown := 0
	for _, v := range applied {
		if !have[v] {
			unknown = max(unknown, v)
		}
	}
	if unknown != 0 {
		return &SchemaTooNewError{Database: unknown, Known: maxKnown}
	}
	return nil
}

// Migrator is where migrations run: a *sqlx.DB, or a *sqlx.Conn when the backend must keep
// one session for the whole run (PostgreSQL holds its advisory lock on that session).
type Migrator interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	sqlx.QueryerContext
	BeginTxx(ctx context.Context, opts *sql.TxOptions) (*sqlx.Tx, error)
}

var (
	_ Migrator = (*sqlx.DB)(nil)
	_ Migrator = (*sqlx.Conn)(nil)
)

// Migrate applies the migrations in fsys that schema_migrations does not list yet, in
// version order, each in its own transaction together with its schema_migrations row, so a
// failed migration leaves no half-applied schema (both SQLite and PostgreSQL have
// transactional DDL). Each transaction re-checks its version first, so two processes
// migrating at once apply it once on SQLite (whose write transactions serialise); on
// PostgreSQL the loser fails on the version's primary key instead, and the backend should
// take an advisory lock around Migrate and pass the connection holding it. A migration's
// SQL runs as one Exec without arguments, which both drivers accept as several statements.
//
// Before applying anything it refuses (ErrSchemaTooNew) a database that has applied a
// migration not in fsys: a newer MyAccount migrated it.
func Migrate(ctx context.Context, db Migrator, d Dialect, fsys fs.FS) error {
	migrations, err := LoadMigrations(fsys)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT NOT NULL PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := CheckSchema(ctx, db, migrations); err != nil {
		return err
	}
	applied := sqlx.Rebind(d.BindType, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`)
	record := sqlx.Rebind(d.BindType, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`)
	for _, m := range migrations {
		if err := migrateOne(ctx, db, m, applied, record); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

func migrateOne(ctx context.Context, db Migrator, m Migration, applied, record string) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var n int
	if err := tx.GetContext(ctx, &n, applied, m.Version); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, record, m.Version, m.Name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// AppliedMigrations lists the versions recorded in schema_migrations, ascending.
func AppliedMigrations(ctx context.Context, db *sqlx.DB) ([]int, error) {
	var vs []int
	if err := db.SelectContext(ctx, &vs, `SELECT version FROM schema_migrations ORDER BY version`); err != nil {
		return nil, fmt.Errorf("list applied migrations: %w", err)
	}
	return vs, nil
}

// SchemaVersion is the highest migration version applied to the database (0 for none).
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := d.root.GetContext(ctx, &v, `SELECT MAX(version) FROM schema_migrations`); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}

// SchemaCurrent reports whether the database is exactly at the schema of fsys: every
// migration applied, and none this binary does not know (readiness asks this; a binary
// started before a newer one migrated the database must stop taking traffic).
func (d *DB) SchemaCurrent(ctx context.Context, fsys fs.FS) error {
	known, err := LoadMigrations(fsys)
	if err != nil {
		return err
	}
	if err := CheckSchema(ctx, d.root, known); err != nil {
		return err
	}
	applied, err := AppliedMigrations(ctx, d.root)
	if err != nil {
		return err
	}
	if len(applied) < len(known) {
		return fmt.Errorf("database schema has %d of %d migrations applied", len(applied), len(known))
	}
	return nil
}
