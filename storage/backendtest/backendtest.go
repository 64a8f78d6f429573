// Package backendtest runs a test on each storage backend: a fresh SQLite file and a fresh,
// migrated PostgreSQL database (pgtest). It is for rules that must hold on both, above all
// races: SQLite serialises its write transactions, so a read-then-write race shows only on
// PostgreSQL, where several instances' transactions run at once under READ COMMITTED.
//
// A test package that uses it calls pgtest.Main from its TestMain.
package backendtest

import (
	"path/filepath"
	"testing"

	"github.com/myaccount/myaccount/storage/postgres"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
	"github.com/myaccount/myaccount/storage/sqlite"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// Each runs fn as the subtests "sqlite" and "postgres", each on a store of its own that is
// closed when the subtest ends.
func Each(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, opened(t, func() (*sqlstore.DB, error) {
			return sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "store.db"))
		}))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, opened(t, func() (*sqlstore.DB, error) { return postgres.Open(t.Context(), pgtest.MigratedURL(t)) }))
	})
}

func opened(t *testing.T, open func() (*sqlstore.DB, error)) *sqlstore.DB {
	t.Helper()
	db, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
