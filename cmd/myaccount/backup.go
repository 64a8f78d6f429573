package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/myaccount/myaccount/internal/config"
)

// pgDumpHint is what backup says for PostgreSQL, where the database's own tools are the
// right ones (README, "Backup and restore").
const pgDumpHint = `backup copies SQLite databases only; for PostgreSQL use pg_dump, e.g.
  pg_dump --format=custom --file=myaccount.dump "$MYACCOUNT_DATABASE_URL"
and restore with pg_restore --clean --if-exists --dbname=... myaccount.dump (see README, "Backup and restore")`

func cmdBackup(ctx context.Context, e env, args []string) error {
	fset, path := newFlags(e, "backup")
	output := fset.String("output", "", "file to write the backup to (required; must not exist)")
	if _, err := parse(fset, args); err != nil {
		return err
	}
	if *output == "" {
		return errors.New("backup: --output FILE is required")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	if cfg.DatabaseDriver() != config.DriverSQLite {
		return errors.New(pgDumpHint)
	}
	src, err := sqliteFile(cfg.Database.URL)
	if err != nil {
		return err
	}
	n, err := backupSQLite(ctx, src, *output)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backed up %s to %s (%d bytes)\n", src, *output, n)
	key := "the master key (" + cfg.GeneratedMasterKeyPath() + ")"
	if cfg.Keys.MasterKey != "" {
		key = "the master key (keys.master_key / keys.master_key_file in your configuration)"
	}
	fmt.Fprintf(e.stdout, "The backup does not hold %s: keep a copy of it too, or the signing keys and sealed secrets in the backup cannot be read.\n", key)
	return nil
}

// sqliteFile is the path on disk of a SQLite database URL (a plain path or a file: URI).
func sqliteFile(dsn string) (string, error) {
	p := dsn
	if rest, ok := strings.CutPrefix(dsn, "file:"); ok {
		rest, q, _ := strings.Cut(rest, "?")
		if strings.Contains(q, "mode=memory") {
			return "", errors.New("backup: the database is in memory")
		}
		rest = strings.TrimPrefix(rest, "//localhost")
		rest = strings.TrimPrefix(rest, "//")
		var err error
		if p, err = url.PathUnescape(rest); err != nil {
			return "", fmt.Errorf("backup: bad database path %q: %w", dsn, err)
		}
	}
	if p == "" || p == ":memory:" {
		return "", errors.New("backup: the database is in memory")
	}
	return p, nil
}

// backupSQLite writes a consistent copy of the database at src to out with VACUUM INTO,
// which reads one snapshot (a WAL read transaction: the server's writes go on meanwhile) and
// writes a compact, self-contained file (no -wal to copy along). The copy is made under a
// temporary name in out's directory and then linked into place, so an existing file is never
// overwritten, not even by a race, and an interrupted backup never leaves a partial file
// under the final name.
func backupSQLite(ctx context.Context, src, out string) (int64, error) {
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("backup: database: %w", err)
	}
	if _, err := os.Lstat(out); err == nil {
		return 0, fmt.Errorf("backup: %s already exists: refusing to overwrite it", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("backup: %w", err)
	}
	// mode=rw: never create an empty database where the real one was expected.
	db, err := sql.Open("sqlite3", "file:"+escapeSQLitePath(src)+"?mode=rw&_busy_timeout=5000")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	// An empty 0600 file first: VACUUM INTO accepts one, and the copy holds password hashes
	// and sealed keys, so it must not be created world-readable.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".myaccount-backup-*")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmpName); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmpName); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := os.Link(tmpName, out); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("backup: %s already exists: refusing to overwrite it", out)
		}
		return 0, fmt.Errorf("backup: %w", err)
	}
	st, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// escapeSQLitePath makes a path safe inside a file: URI ('?' and '#' would start options).
func escapeSQLitePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(p)
}
