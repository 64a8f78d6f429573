package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/myaccount/myaccount/storage/postgres"
	"github.com/myaccount/myaccount/storage/sqlite"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// The two backends keep separate migration sets that must stay equivalent: a store is
// defined by its tables, so a column added to one set only would break the other backend (or
// a move between them) at run time. These tests apply both sets to real databases and
// compare what the databases report.

// TestMigrationSetsMatch needs no server: same versions with the same names.
func TestMigrationSetsMatch(t *testing.T) {
	lite, err := sqlstore.LoadMigrations(sqlite.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	pg, err := sqlstore.LoadMigrations(postgres.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	name := func(ms []sqlstore.Migration) (out []string) {
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		}
		return out
	}
	if !slices.Equal(name(lite), name(pg)) {
		t.Fatalf("migration sets differ:\n sqlite:   %v\n postgres: %v", name(lite), name(pg))
	}
}

// schema is a database's tables in a backend-neutral form.
type schema map[string]*table

type table struct {
	Columns []string // "name type [not null] [default x]", in column order
	Keys    []string // sorted: "pk(a,b)", "unique(a)", "index name(a,b)", "unique index name(a)"
	FKs     []string // sorted: "(a)->t(b) on delete cascade"
}

// TestSchemasMatch applies each backend's migrations to a fresh database and compares
// tables, columns (order, type, nullability, default), keys, indexes and foreign keys.
func TestSchemasMatch(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "schema.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lite := sqliteSchema(t, db.SQLX())
	pgdb := open(t)
	pg := postgresSchema(t, pgdb.SQLX())

	names := func(s schema) []string {
		out := make([]string, 0, len(s))
		for n := range s {
			out = append(out, n)
		}
		slices.Sort(out)
		return out
	}
	if a, b := names(lite), names(pg); !slices.Equal(a, b) {
		t.Fatalf("tables differ:\n sqlite:   %v\n postgres: %v", a, b)
	}
	if len(lite) < 15 {
		t.Fatalf("only %d tables read: the schema query is broken", len(lite))
	}
	for _, n := range names(lite) {
		for _, part := range []struct {
			what   string
			lt, pt []string
		}{
			{"columns", lite[n].Columns, pg[n].Columns},
			{"keys and indexes", lite[n].Keys, pg[n].Keys},
			{"foreign keys", lite[n].FKs, pg[n].FKs},
		} {
			if !slices.Equal(part.lt, part.pt) {
				t.Errorf("table %s: %s differ\n sqlite:   %q\n postgres: %q", n, part.what, part.lt, part.pt)
			}
		}
	}
}

// sqliteTypes maps SQLite declared types onto PostgreSQL's: the migrations use INTEGER only
// for booleans (numbers are BIGINT) and BLOB for bytes.
var sqliteTypes = map[string]string{"TEXT": "text", "BIGINT": "bigint", "INTEGER": "boolean", "BLOB": "bytea"}

func column(name, typ string, notNull bool, def *string) string {
	s := name + " " + typ
	if notNull {
		s += " not null"
	}
	if def != nil {
		s += " default " + *def
	}
	return s
}

func sqliteSchema(t *testing.T, db *sqlx.DB) schema {
	t.Helper()
	ctx := t.Context()
	var tables []string
	must(t, db.SelectContext(ctx, &tables, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`))
	out := schema{}
	for _, tn := range tables {
		tb := &table{}
		out[tn] = tb
		var cols []struct {
			CID     int     `db:"cid"`
			Name    string  `db:"name"`
			Type    string  `db:"type"`
			NotNull bool    `db:"notnull"`
			Default *string `db:"dflt_value"`
			PK      int     `db:"pk"`
		}
		must(t, db.SelectContext(ctx, &cols, `SELECT * FROM pragma_table_info(?) ORDER BY cid`, tn))
		pk := map[int]string{}
		for _, c := range cols {
			typ, ok := sqliteTypes[strings.ToUpper(c.Type)]
			if !ok {
				t.Fatalf("sqlite %s.%s: unexpected type %q", tn, c.Name, c.Type)
			}
			def := c.Default
			if def != nil && typ == "boolean" {
				def = ptr(map[string]string{"0": "false", "1": "true"}[*def])
			}
			tb.Columns = append(tb.Columns, column(c.Name, typ, c.NotNull, def))
			if c.PK > 0 {
				pk[c.PK] = c.Name
			}
		}
		var pkCols []string
		for i := 1; i <= len(pk); i++ {
			pkCols = append(pkCols, pk[i])
		}
		tb.Keys = append(tb.Keys, "pk("+strings.Join(pkCols, ",")+")")

		var idx []struct {
			Seq     int    `db:"seq"`
			Name    string `db:"name"`
			Unique  bool   `db:"unique"`
			Origin  string `db:"origin"`
			Partial bool   `db:"partial"`
		}
		must(t, db.SelectContext(ctx, &idx, `SELECT * FROM pragma_index_list(?)`, tn))
		for _, ix := range idx {
			var ic []string
			must(t, db.SelectContext(ctx, &ic, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix.Name))
			cols := strings.Join(ic, ",")
			switch ix.Origin {
			case "pk":
			case "u":
				tb.Keys = append(tb.Keys, "unique("+cols+")")
			default:
				tb.Keys = append(tb.Keys, indexKey(ix.Name, ix.Unique, cols))
			}
		}
		slices.Sort(tb.Keys)

		var fks []struct {
			ID       int     `db:"id"`
			Seq      int     `db:"seq"`
			Table    string  `db:"table"`
			From     string  `db:"from"`
			To       *string `db:"to"`
			OnUpdate string  `db:"on_update"`
			OnDelete string  `db:"on_delete"`
			Match    string  `db:"match"`
		}
		must(t, db.SelectContext(ctx, &fks, `SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq`, tn))
		for _, fk := range fks {
			if fk.Seq != 0 {
				t.Fatalf("sqlite %s: multi-column foreign keys are not compared", tn)
			}
			tb.FKs = append(tb.FKs, fmt.Sprintf("(%s)->%s(%s) on delete %s", fk.From, fk.Table, deref(fk.To), strings.ToLower(fk.OnDelete)))
		}
		slices.Sort(tb.FKs)
	}
	return out
}

func indexKey(name string, unique bool, cols string) string {
	if unique {
		return "unique index " + name + "(" + cols + ")"
	}
	return "index " + name + "(" + cols + ")"
}

// pgDefault strips PostgreSQL's casts ('[]'::text) so defaults compare with SQLite's.
var pgCast = regexp.MustCompile(`::[a-z ]+$`)

func postgresSchema(t *testing.T, db *sqlx.DB) schema {
	t.Helper()
	ctx := context.Background()
	var cols []struct {
		Table    string  `db:"table_name"`
		Name     string  `db:"column_name"`
		Type     string  `db:"data_type"`
		Nullable string  `db:"is_nullable"`
		Default  *string `db:"column_default"`
	}
	must(t, db.SelectContext(ctx, &cols, `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, c.column_default
		FROM information_schema.columns c JOIN information_schema.tables t
		  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		ORDER BY c.table_name, c.ordinal_position`))
	out := schema{}
	for _, c := range cols {
		if out[c.Table] == nil {
			out[c.Table] = &table{}
		}
		def := c.Default
		if def != nil {
			def = ptr(pgCast.ReplaceAllString(*def, ""))
		}
		out[c.Table].Columns = append(out[c.Table].Columns, column(c.Name, c.Type, c.Nullable == "NO", def))
	}

	// Indexes with their columns in order, and whether a constraint owns them.
	var idx []struct {
		Table      string `db:"table_name"`
		Name       string `db:"index_name"`
		Primary    bool   `db:"is_primary"`
		Unique     bool   `db:"is_unique"`
		Constraint bool   `db:"is_constraint"`
		Cols       string `db:"cols"`
	}
	must(t, db.SelectContext(ctx, &idx, `SELECT tc.relname AS table_name, ic.relname AS index_name,
			i.indisprimary AS is_primary, i.indisunique AS is_unique,
			EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u')) AS is_constraint,
			(SELECT string_agg(a.attname, ',' ORDER BY k.ord)
			   FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
			   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS cols
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class tc ON tc.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = tc.relnamespace
		WHERE n.nspname = current_schema()`))
	for _, ix := range idx {
		tb := out[ix.Table]
		switch {
		case ix.Primary:
			tb.Keys = append(tb.Keys, "pk("+ix.Cols+")")
		case ix.Constraint:
			tb.Keys = append(tb.Keys, "unique("+ix.Cols+")")
		default:
			tb.Keys = append(tb.Keys, indexKey(ix.Name, ix.Unique, ix.Cols))
		}
	}

	var fks []struct {
		Table    string `db:"table_name"`
		From     string `db:"from_cols"`
		Ref      string `db:"ref_table"`
		To       string `db:"to_cols"`
		OnDelete string `db:"on_delete"`
	}
	must(t, db.SelectContext(ctx, &fks, `SELECT tc.relname AS table_name,
			(SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
			   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS from_cols,
			rc.relname AS ref_table,
			(SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
			   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS to_cols,
			CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict'
			  WHEN 'n' THEN 'set null' ELSE 'set default' END AS on_delete
		FROM pg_constraint c
		JOIN pg_class tc ON tc.oid = c.conrelid
		JOIN pg_class rc ON rc.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = tc.relnamespace
		WHERE c.contype = 'f' AND n.nspname = current_schema()`))
	for _, fk := range fks {
		out[fk.Table].FKs = append(out[fk.Table].FKs, fmt.Sprintf("(%s)->%s(%s) on delete %s", fk.From, fk.Ref, fk.To, fk.OnDelete))
	}
	for _, tb := range out {
		slices.Sort(tb.Keys)
		slices.Sort(tb.FKs)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
