package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/passwords"
	"github.com/myaccount/myaccount/internal/server"
)

// What every test server would otherwise build for itself at start, made once per test
// process. Loading the embedded tables and a first start (migrating a new SQLite database,
// generating RSA and EC signing keys) were about half the package's CPU when every test
// server did them; the servers' real start-up still runs (open, schema check, unsealing the
// keys), and the tests of the first start itself opt out (envOptions.firstStart).

// sharedTables are the read-only tables a server takes in server.Options instead of loading
// its own: geo.Data and passwords.Checker are immutable and safe for concurrent use.
type sharedTables struct {
	Geo       *geo.Data
	Blocklist *passwords.Checker
}

var loadSharedTables = sync.OnceValues(func() (sharedTables, error) {
	g, err := geo.New()
	if err != nil {
		return sharedTables{}, err
	}
	b, err := passwords.New()
	if err != nil {
		return sharedTables{}, err
	}
	return sharedTables{Geo: g, Blocklist: b}, nil
})

func sharedData(t testing.TB) sharedTables {
	t.Helper()
	d, err := loadSharedTables()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// firstStartFiles are what a first start leaves in the data directory once the server has
// closed (SQLite checkpoints its WAL into the database file on the last close).
var firstStartFiles = []string{"master.key", "myaccount.db"}

// firstStartDir is a data directory after one real first start with the default
// configuration, made on first use and removed by TestMain (removeFirstStart).
var firstStartDir struct {
	once sync.Once
	dir  string
	err  error
}

func sharedFirstStart() (string, error) {
	firstStartDir.once.Do(func() {
		firstStartDir.dir, firstStartDir.err = makeFirstStart()
	})
	return firstStartDir.dir, firstStartDir.err
}

func makeFirstStart() (string, error) {
	dir, err := os.MkdirTemp("", "myaccount-first-start-")
	if err != nil {
		return "", err
	}
	vars := map[string]string{"MYACCOUNT_ISSUER": "http://127.0.0.1:1", "MYACCOUNT_DATA_DIR": dir}
	cfg, err := config.Load("", func(k string) string { return vars[k] })
	if err != nil {
		return dir, err
	}
	tables, err := loadSharedTables()
	if err != nil {
		return dir, err
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		server.Options{Geo: tables.Geo, Blocklist: tables.Blocklist})
	if err != nil {
		return dir, fmt.Errorf("first start: %w", err)
	}
	if err := srv.Close(); err != nil {
		return dir, fmt.Errorf("first start: close: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return dir, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, firstStartFiles) {
		return dir, fmt.Errorf("first start left %q in its data directory, want %q (a WAL not checkpointed?)", names, firstStartFiles)
	}
	return dir, nil
}

// removeFirstStart removes sharedFirstStart's directory, if a test made it.
func removeFirstStart() {
	if firstStartDir.dir != "" {
		os.RemoveAll(firstStartDir.dir)
	}
}

// startFrom copies sharedFirstStart's database and master key into cfg's data directory when
// cfg is the harness's default (SQLite in an empty data directory, generated master key): the
// server then starts as it does every time after its first, on a migrated database with
// sealed signing keys. Any other configuration starts as configured.
func startFrom(t testing.TB, cfg *config.Config) {
	t.Helper()
	if cfg.DatabaseDriver() != config.DriverSQLite || cfg.Database.URL != filepath.Join(cfg.DataDir, "myaccount.db") ||
		cfg.Keys.MasterKey != "" || cfg.Keys.MasterKeyFile != "" {
		return
	}
	// A data directory a test filled (a restart) is started as it is.
	if entries, err := os.ReadDir(cfg.DataDir); err != nil {
		t.Fatal(err)
	} else if len(entries) > 0 {
		return
	}
	src, err := sharedFirstStart()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range firstStartFiles {
		copyFile(t, filepath.Join(src, name), filepath.Join(cfg.DataDir, name))
	}
}

// copyFile copies src to dst with src's permissions (the master key's are 0600).
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}
