package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// seedClientID is the client every generated grant, token and session belongs to.
const seedClientID = "seed-app"

// seedEmail is the address of generated user i; `myaccount bench --email-pattern` takes it.
const seedEmail = "seed%d@example.com"

// Rows per INSERT and per transaction: a statement of 500 rows stays under SQLite's and
// PostgreSQL's bound-parameter limits (32766 and 65535) for the widest table here, and a
// transaction of 200 statements (100,000 rows) amortises the commit; the seed is meant for
// a database nobody else is writing to at the time.
const (
	seedRowsPerInsert = 500
	seedInsertsPerTx  = 200
)

// seedSettings are session settings for the seed's one connection only (the seed ends with
// the process; on SQLite the previous values are put back before the connection returns to
// the pool). A seed that crashes under them may leave a partly written run behind; on
// SQLite, synchronous=OFF risks the file only on power loss or an OS crash.
func seedSettings(dialect string) (set []string, restore []string) {
	switch dialect {
	case "sqlite":
		// A 1 GiB page cache keeps the token tables' random-keyed index pages in memory while
		// they grow (with the default 2 MiB every insert became page reads once the indexes
		// outgrew it), and without fsyncs a commit costs nothing.
		return []string{`PRAGMA cache_size = -1048576`, `PRAGMA synchronous = OFF`, `PRAGMA temp_store = MEMORY`},
			[]string{`cache_size`, `synchronous`, `temp_store`}
	case "postgres":
		// No wait for the WAL flush at each commit.
		return []string{`SET synchronous_commit = off`}, nil
	}
	return nil, nil
}

// cmdSeed bulk-inserts realistic rows so that the server can be measured on a full
// database: users (all with one password, hashed once), sessions, and grants each holding
// one refresh token and one access token. Everything generated is live (not expired), so
// housekeeping does not remove it under the measurement.
func cmdSeed(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "seed")
	users := fs.Int("users", 0, "users to create (seed0@example.com ...; existing ones are kept)")
	tokens := fs.Int("tokens", 0, "token rows to create: half refresh, half access tokens, one of each per grant")
	sessions := fs.Int("sessions", 0, "browser sessions to create")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	const limit = 100_000_000
	if *users < 0 || *tokens < 0 || *sessions < 0 || *users > limit || *tokens > limit || *sessions > limit {
		return fmt.Errorf("--users, --tokens and --sessions must be between 0 and %d", limit)
	}
	if *users == 0 && (*tokens > 0 || *sessions > 0) {
		return errors.New("--tokens and --sessions belong to generated users: give --users too")
	}
	cfg, st, err := openRawStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	sq, ok := st.(interface{ SQLX() *sqlx.DB })
	if !ok {
		return errors.New("seed needs an SQL store")
	}
	db := sq.SQLX()
	// One pinned connection for the whole seed, so its session settings hold for every
	// statement; on SQLite it is the store's one writer connection anyway.
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	defer conn.Close()
	if d, ok := st.(interface{ Dialect() sqlstore.Dialect }); ok {
		set, restore := seedSettings(d.Dialect().Name)
		for _, p := range restore {
			var v int64
			if err := conn.GetContext(ctx, &v, "PRAGMA "+p); err != nil {
				return fmt.Errorf("seed: read %s: %w", p, err)
			}
			defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA %s = %d", p, v)) }()
		}
		for _, q := range set {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("seed: %s: %w", q, err)
			}
		}
	}
	s := seeder{db: conn, rebind: db.Rebind, now: time.Now().UTC().UnixMilli(), run: randomHex(4)}
	if d, ok := st.(interface{ Dialect() sqlstore.Dialect }); ok && d.Dialect().Name == "postgres" {
		s.copy = true
	}
	if err := s.client(ctx); err != nil {
		return err
	}
	start := time.Now()
	if *users > 0 {
		password := randomHex(12)
		// One hash for everyone: argon2id costs ~50 ms a hash, which for a million users
		// would be the whole run. Each row still holds a real, verifiable hash, of the
		// configured cost (a cheaper one would be upgraded at each user's first sign-in).
		hash, err := cfg.Security.PasswordHasher().Hash(password)
		if err != nil {
			return err
		}
		if err := s.users(ctx, *users, hash); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "users: %d (%s, existing ones keep their password), all with the password %s\n",
			*users, fmt.Sprintf(seedEmail, 0)+" ... "+fmt.Sprintf(seedEmail, *users-1), password)
	}
	if *sessions > 0 {
		if err := s.sessions(ctx, *sessions, *users); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sessions: %d\n", *sessions)
	}
	if *tokens > 0 {
		grants := (*tokens + 1) / 2
		if err := s.grants(ctx, grants, *users); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "grants: %d, refresh tokens: %d, access tokens: %d\n", grants, grants, grants)
	}
	fmt.Fprintf(e.stdout, "seeded in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

type seeder struct {
	db     *sqlx.Conn
	rebind func(string) string
	copy   bool   // load tables with COPY (PostgreSQL)
	now    int64  // unix ms
	run    string // makes this run's ids distinct from an earlier run's
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fakeHash stands for the SHA-256 of a secret nobody holds: the same shape as a real one.
func fakeHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (s seeder) client(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO clients (id, name, type, redirect_uris, grant_types,
		scopes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		seedClientID, "Seeded app", storage.ClientConfidential, `["https://seed.example/cb"]`,
		`["authorization_code","refresh_token"]`, `["openid","email","offline_access"]`, s.now, s.now)
	if err != nil {
		return fmt.Errorf("seed client: %w", err)
	}
	return nil
}

// insert writes n rows of table built by row(i) (one value per column), in multi-row
// INSERTs batched into transactions. suffix ends each statement (ON CONFLICT ...). On
// PostgreSQL rows are loaded with COPY instead, several times faster than INSERT; COPY has
// no ON CONFLICT, so with a suffix they are copied into a temporary table of the session and
// moved with one INSERT ... SELECT ... suffix per chunk.
func (s seeder) insert(ctx context.Context, table string, columns []string, suffix string, n int, row func(i int) []any) error {
	if s.copy {
		return s.copyIn(ctx, table, columns, suffix, n, row)
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(columns)), ",") + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES "
	full := s.rebind(head + strings.TrimSuffix(strings.Repeat(one+",", seedRowsPerInsert), ",") + suffix)
	for done := 0; done < n; {
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
		for range seedInsertsPerTx {
			if done == n {
				break
			}
			k := min(seedRowsPerInsert, n-done)
			q := full
			if k < seedRowsPerInsert {
				q = s.rebind(head + strings.TrimSuffix(strings.Repeat(one+",", k), ",") + suffix)
			}
			args := make([]any, 0, k*len(columns))
			for i := done; i < done+k; i++ {
				args = append(args, row(i)...)
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("seed %s: %w", table, err)
			}
			done += k
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
	}
	return nil
}

// copyIn loads n rows with PostgreSQL's COPY, one COPY (and so one transaction) per
// seedRowsPerInsert × seedInsertsPerTx rows; with a suffix through a temporary table (see
// insert).
func (s seeder) copyIn(ctx context.Context, table string, columns []string, suffix string, n int, row func(i int) []any) error {
	const chunk = seedRowsPerInsert * seedInsertsPerTx
	target := table
	if suffix != "" {
		target = "seed_" + table
		// The pinned connection is one session, so the table is there for every chunk;
		// ON COMMIT DELETE ROWS empties it after each.
		if _, err := s.db.ExecContext(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS `+target+
			` (LIKE `+table+` INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
	}
	cols := strings.Join(columns, ", ")
	for done := 0; done < n; done += chunk {
		k := min(chunk, n-done)
		err := s.db.Raw(func(driverConn any) error {
			c, ok := driverConn.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("COPY needs pgx, the connection is %T", driverConn)
			}
			tx, err := c.Conn().Begin(ctx)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // nothing to undo after Commit
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{target}, columns,
				pgx.CopyFromSlice(k, func(i int) ([]any, error) { return row(done + i), nil })); err != nil {
				return err
			}
			if target != table {
				if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (`+cols+`) SELECT `+cols+` FROM `+target+suffix); err != nil {
					return err
				}
			}
			return tx.Commit(ctx)
		})
		if err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
	}
	return nil
}

func seedUserID(i int) string { return fmt.Sprintf("seedu%d", i) }

func (s seeder) users(ctx context.Context, n int, hash string) error {
	cols := []string{"id", "email", "email_normalized", "email_verified", "password_hash", "status", "name",
		"locale", "country", "region", "zoneinfo", "created_at", "updated_at", "activated_at"}
	return s.insert(ctx, "users", cols, " ON CONFLICT DO NOTHING", n, func(i int) []any {
		email := fmt.Sprintf(seedEmail, i)
		created := s.now - int64(i%1000)*86_400_000 // spread over ~3 years
		return []any{seedUserID(i), email, email, true, hash, storage.UserActive, fmt.Sprintf("Seed User %d", i),
			"en", "DE", "BY", "Europe/Berlin", created, created, created}
	})
}

func (s seeder) sessions(ctx context.Context, n, users int) error {
	cols := []string{"id", "token_hash", "user_id", "auth_time", "amr", "user_agent", "ip", "created_at",
		"last_seen_at", "expires_at"}
	return s.insert(ctx, "sessions", cols, "", n, func(i int) []any {
		id := fmt.Sprintf("seeds-%s-%d", s.run, i)
		t := s.now - int64(i%3600)*1000
		return []any{id, fakeHash(id), seedUserID(i % users), t, `["pwd"]`,
			"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "192.0.2.1", t, t, s.now + 14*86_400_000}
	})
}

// grants makes n grants, and one refresh and one access token in each.
func (s seeder) grants(ctx context.Context, n, users int) error {
	gid := func(i int) string { return fmt.Sprintf("seedg-%s-%d", s.run, i) }
	t := func(i int) int64 { return s.now - int64(i%3600)*1000 }
	err := s.insert(ctx, "grants", []string{"id", "user_id", "client_id", "scopes", "auth_time", "amr",
		"created_at", "last_used_at"}, "", n, func(i int) []any {
		return []any{gid(i), seedUserID(i % users), seedClientID, `["openid","email","offline_access"]`,
			t(i), `["pwd"]`, t(i), t(i)}
	})
	if err != nil {
		return err
	}
	err = s.insert(ctx, "refresh_tokens", []string{"id", "hash", "grant_id", "client_id", "user_id", "scopes",
		"created_at", "expires_at"}, "", n, func(i int) []any {
		id := fmt.Sprintf("seedr-%s-%d", s.run, i)
		return []any{id, fakeHash(id), gid(i), seedClientID, seedUserID(i % users),
			`["openid","email","offline_access"]`, t(i), s.now + 30*86_400_000}
	})
	if err != nil {
		return err
	}
	return s.insert(ctx, "access_tokens", []string{"id_hash", "grant_id", "client_id", "subject", "scopes",
		"audience", "created_at", "expires_at"}, "", n, func(i int) []any {
		return []any{fakeHash(fmt.Sprintf("seeda-%s-%d", s.run, i)), gid(i), seedClientID, seedUserID(i % users),
			`["openid","email","offline_access"]`, `["seed-app"]`, t(i), s.now + 86_400_000}
	})
}
