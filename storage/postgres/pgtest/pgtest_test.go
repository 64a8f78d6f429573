package pgtest

import (
	"database/sql"
	"net/url"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDatabasesAreFreshAndDropped(t *testing.T) {
	var empty, migrated string
	t.Run("use", func(t *testing.T) {
		empty, migrated = URL(t), MigratedURL(t)
		if empty == migrated {
			t.Fatal("two calls returned one database")
		}
		var n int
		if err := connect(t, empty).QueryRowContext(t.Context(),
			`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("URL's database has %d tables, want none", n)
		}
		if err := connect(t, migrated).QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("MigratedURL's database has no migrations applied")
		}
	})
	if empty == "" {
		t.Skip("no PostgreSQL")
	}
	// Both are gone once the subtest (and its cleanups) finished.
	for _, u := range []string{empty, migrated} {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(parsed.Path, "/")
		var n int
		if err := state.srv.admin.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("database %s still exists after its test", name)
		}
	}
}
