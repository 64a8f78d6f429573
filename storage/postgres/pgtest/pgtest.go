// Package pgtest gives tests a real PostgreSQL database of their own.
//
// The server is, in order of preference:
//   - the one at MYACCOUNT_TEST_POSTGRES_URL (a postgres:// URL of a role allowed to CREATE
//     DATABASE; its database is used only to create and drop the test databases);
//   - a throwaway cluster started once per test binary from the PostgreSQL server binaries
//     (initdb and postgres, found in PATH or /usr/lib/postgresql/<version>/bin), in a
//     temporary directory, listening only on a unix socket there, with fsync off. Run as
//     root, it runs them as the "postgres" system user, because initdb refuses to run as
//     root.
//
// Without either, tests that ask for a database are skipped with a message saying so,
// except when the environment variable CI is "true": there a missing PostgreSQL fails them,
// so that CI cannot go green without having run them.
//
// Every test binary that uses the package must call Main from TestMain, which stops the
// cluster and drops the template database when the tests are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/myaccount/myaccount/storage/postgres"
)

// EnvURL names the environment variable with the URL of an existing server to use.
const EnvURL = "MYACCOUNT_TEST_POSTGRES_URL"

// state is the test binary's server, started on first use. It is package state because a
// server is per process (the point is to start it once), and Main is the only place that
// knows when the process's tests are over.
var state struct {
	mu         sync.Mutex
	mainCalled bool
	started    bool
	srv        *server
	err        error // why there is no server; reported to every test that asks
}

// Main runs the tests, then stops the server pgtest started (and drops its template
// database), and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that does more after the tests: it returns the exit code
// instead of exiting.
func Run(m *testing.M) int {
	state.mu.Lock()
	state.mainCalled = true
	state.mu.Unlock()
	code := m.Run()
	state.mu.Lock()
	srv := state.srv
	state.srv, state.err = nil, errors.New("pgtest: the tests are over")
	state.mu.Unlock()
	if srv != nil {
		if err := srv.close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// URL returns the URL of a new, empty database (not even migrated) that is dropped when t
// ends: for tests of migration itself, or of several MyAccount instances starting on one
// database. It skips or fails t when no PostgreSQL is available (see the package comment).
func URL(t testing.TB) string {
	t.Helper()
	srv := get(t)
	u, err := srv.createDatabase(t.Context(), "")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { srv.dropDatabase(t, u) })
	return u.String()
}

// MigratedURL is URL for a database that already has MyAccount's schema: it is copied from
// a template migrated once per test binary, which is much faster than migrating each one.
func MigratedURL(t testing.TB) string {
	t.Helper()
	srv := get(t)
	tmpl, err := srv.migratedTemplate(t.Context())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u, err := srv.createDatabase(t.Context(), tmpl)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { srv.dropDatabase(t, u) })
	return u.String()
}

// get returns the server, starting it on first use, or ends t when there is none.
func get(t testing.TB) *server {
	t.Helper()
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.mainCalled {
		t.Fatal("pgtest: call pgtest.Main(m) (or Run) from TestMain, or the PostgreSQL started for the tests is never stopped")
	}
	if !state.started {
		state.started = true
		state.srv, state.err = start()
	}
	if state.err != nil {
		unavailable(t, state.err)
	}
	return state.srv
}

// unavailable skips t, or fails it on CI.
func unavailable(t testing.TB, why error) {
	t.Helper()
	const hint = "install the PostgreSQL server (Debian: apt-get install postgresql) or set " + EnvURL
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: PostgreSQL is required on CI (CI=true) but unavailable: %v; %s", why, hint)
	}
	t.Skipf("pgtest: SKIPPING, NO POSTGRESQL: %v; %s", why, hint)
}

// start connects to EnvURL's server or starts a cluster.
func start() (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := "myaccount_test_" + strings.ToLower(rand.Text()[:10])
	if raw := os.Getenv(EnvURL); raw != "" {
		base, err := url.Parse(raw)
		if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
			return nil, fmt.Errorf("%s is not a postgres:// URL", EnvURL)
		}
		return newServer(ctx, base, prefix, nil)
	}
	c, err := startCluster(ctx)
	if err != nil {
		return nil, err
	}
	srv, err := newServer(ctx, c.url("postgres"), prefix, c)
	if err != nil {
		return nil, errors.Join(err, c.stop())
	}
	return srv, nil
}

// server creates and drops test databases on one PostgreSQL server.
type server struct {
	base    *url.URL // connection URL; the path names the admin database
	admin   *sql.DB  // connected to base, for CREATE and DROP DATABASE
	prefix  string   // of every database this process creates, so runs sharing a server never collide
	cluster *cluster // nil for an EnvURL server

	mu  sync.Mutex // serialises database creation
	seq int

	tmplMu   sync.Mutex // held while the template is made, so there is one
	template string     // the migrated template's name, once made
}

func newServer(ctx context.Context, base *url.URL, prefix string, c *cluster) (*server, error) {
	cfg, err := pgx.ParseConfig(base.String())
	if err != nil {
		return nil, fmt.Errorf("parse server url: %w", err)
	}
	admin := stdlib.OpenDB(*cfg)
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("connect to %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	return &server{base: base, admin: admin, prefix: prefix, cluster: c}, nil
}

// dbURL is the server's URL with the database name replaced.
func (s *server) dbURL(name string) *url.URL {
	u := *s.base
	u.Path = "/" + name
	u.RawPath = ""
	return &u
}

// createDatabase makes a new database, copied from template when it is not "".
func (s *server) createDatabase(ctx context.Context, template string) (*url.URL, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	name := fmt.Sprintf("%s_%d", s.prefix, s.seq)
	q := `CREATE DATABASE ` + name
	if template != "" {
		q += ` TEMPLATE ` + template
	}
	if _, err := s.admin.ExecContext(ctx, q); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return s.dbURL(name), nil
}

// migratedTemplate creates and migrates the template database on first use.
func (s *server) migratedTemplate(ctx context.Context) (string, error) {
	s.tmplMu.Lock()
	defer s.tmplMu.Unlock()
	if s.template != "" {
		return s.template, nil
	}
	u, err := s.createDatabase(ctx, "")
	if err != nil {
		return "", err
	}
	name := strings.TrimPrefix(u.Path, "/")
	db, err := postgres.Open(ctx, u.String())
	if err == nil {
		// No session may stay connected to a template while it is copied.
		err = db.Close()
	}
	if err != nil {
		return "", errors.Join(fmt.Errorf("migrate template: %w", err), s.drop(ctx, name))
	}
	s.template = name
	return name, nil
}

// dropDatabase removes a test database at the end of its test. Sessions the test left open
// are terminated rather than failing the test: closing them is the store's business.
func (s *server) dropDatabase(t testing.TB, u *url.URL) {
	name := strings.TrimPrefix(u.Path, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.drop(ctx, name); err != nil {
		t.Errorf("pgtest: %v", err)
	}
}

func (s *server) drop(ctx context.Context, name string) error {
	// WITH (FORCE) needs PostgreSQL 13; older servers get a plain DROP.
	if _, err := s.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		if _, err2 := s.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name); err2 != nil {
			return fmt.Errorf("drop database %s: %w", name, errors.Join(err, err2))
		}
	}
	return nil
}

// close drops the template and stops the cluster, if pgtest started one.
func (s *server) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	s.tmplMu.Lock()
	defer s.tmplMu.Unlock()
	if s.template != "" {
		errs = append(errs, s.drop(ctx, s.template))
	}
	errs = append(errs, s.admin.Close())
	if s.cluster != nil {
		errs = append(errs, s.cluster.stop())
	}
	return errors.Join(errs...)
}
