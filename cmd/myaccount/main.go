// Command myaccount is the MyAccount identity provider: the server (serve) and its admin CLI
// (migrate, client, user, keys). It is the composition root: config, logging and wiring.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/storage"
)

const usage = `MyAccount — an OAuth2 / OpenID Connect identity provider.

Usage:
  myaccount serve                     run the server
  myaccount migrate                   apply database migrations
  myaccount client create|update|list|show|delete|rotate-secret|registration-token ...
  myaccount user create|update|list|show|lock|unlock|delete|sessions|signout|licences ...
  myaccount user grant-role|revoke-role EMAIL ROLE [--reason R]   roles: admin, support (admin API)
  myaccount keys list|rotate|new-master-key
  myaccount product create|list|show|update|delete ...   products and their clients (licences)
  myaccount licence issue|list|show|revoke|extend ...    activation codes, seats, terms
  myaccount seed --users N --tokens N --sessions N   bulk-insert test data (for sizing)
  myaccount bench [--issuer URL] ...  measure a running issuer (loopback only)
  myaccount backup --output FILE      online copy of a SQLite database (PostgreSQL: pg_dump)
  myaccount version [--json]          version, commit, build date, Go version
  myaccount healthcheck [--url URL]   exit 0 if the server answers /readyz (container probes)

Every command takes --config FILE; MYACCOUNT_* environment variables override the file.
Run "myaccount COMMAND -h" for a command's flags.
`

// env is the process environment and standard streams, passed explicitly so commands can be
// tested without touching globals.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// environ lists the environment (os.Environ); nil: nothing to list.
	environ func() []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal starts the graceful shutdown, restore the default handling so
	// a second one ends the process at once instead of being swallowed.
	go func() { <-ctx.Done(); stop() }()
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ}
	err := run(ctx, e, os.Args[1:])
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "myaccount:", message(err))
	}
	os.Exit(exitCode(err))
}

// message is how a failed command is told on standard error. A failure of the database (the
// store could not answer: marked by openStore as the server's guard marks it) says so first,
// apart from a usage error or a refusal of the request, which are the operator's to fix.
func message(err error) string {
	if fault.Is(err) {
		return "the database failed: " + err.Error()
	}
	return err.Error()
}

// exitTempFail is the exit code of a command whose database failed (sysexits.h's
// EX_TEMPFAIL): the one failure a script may simply run again (with
// `client create --idempotency-key`, a run whose commit's answer was lost creates nothing twice).
const exitTempFail = 75

// exitCode is 0 for success and for help asked for (-h on any command, as `myaccount help`
// and a group's -h answer), exitTempFail when the database failed, and 1 for any other
// failure (a usage error, a refusal), which running the command again will not mend.
func exitCode(err error) int {
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case fault.Is(err):
		return exitTempFail
	}
	return 1
}

func run(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, e, rest)
	case "migrate":
		return cmdMigrate(ctx, e, rest)
	case "client":
		return cmdClient(ctx, e, rest)
	case "user":
		return cmdUser(ctx, e, rest)
	case "keys":
		return cmdKeys(ctx, e, rest)
	case "product":
		return cmdProduct(ctx, e, rest)
	case "licence":
		return cmdLicence(ctx, e, rest)
	case "seed":
		return cmdSeed(ctx, e, rest)
	case "bench":
		return cmdBench(ctx, e, rest)
	case "backup":
		return cmdBackup(ctx, e, rest)
	case "version":
		return cmdVersion(e, rest)
	case "healthcheck":
		return cmdHealthcheck(ctx, e, rest)
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return nil
	default:
		fmt.Fprint(e.stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// newFlags makes a flag set with the --config flag every command shares.
func newFlags(e env, name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	return fs, path
}

// parse parses flags wherever they stand among the positional arguments, so
// "client show ID --json" works as well as "client show --json ID".
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func loadConfig(e env, path string) (*config.Config, error) {
	cfg, err := config.Load(path, e.getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// groupHelp answers "myaccount GROUP -h" (also --help and help) for a command with
// subcommands: its usage line on standard output, and how to see a subcommand's flags. It
// reports whether arg asked for help.
func groupHelp(e env, group, usage, arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(e.stdout, "%s\n\nRun \"myaccount %s SUBCOMMAND -h\" for a subcommand's flags.\n", usage, group)
		return true
	}
	return false
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// openStore loads the configuration and opens its database (applying migrations). The
// store's failures, at the opening and in its calls, are marked fault.ErrUnavailable (the
// server's store guard, fault.GuardStore; its answers about the data, not found or a
// conflict, are not), so that a command tells a database that failed apart from a usage error
// or a refusal (message). Calls have no deadline: a command may take its time.
func openStore(ctx context.Context, e env, path string) (*config.Config, storage.Store, error) {
	cfg, err := loadConfig(e, path)
	if err != nil {
		return nil, nil, err
	}
	st, err := openGuarded(ctx, cfg)
	return cfg, st, err
}

// openGuarded opens cfg's database as openStore does.
func openGuarded(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	st, err := openRaw(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return fault.GuardStore(st, 0, slog.New(slog.DiscardHandler)), nil
}

// openRawStore is openStore without the guard on the calls, for the commands that reach
// beneath storage.Store (seed's bulk SQL, migrate's schema version).
func openRawStore(ctx context.Context, e env, path string) (*config.Config, storage.Store, error) {
	cfg, err := loadConfig(e, path)
	if err != nil {
		return nil, nil, err
	}
	st, err := openRaw(ctx, cfg)
	return cfg, st, err
}

// openRaw opens cfg's database; a failure to is the database's (marked), unless the
// configuration names no database this binary knows.
func openRaw(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		if d := cfg.DatabaseDriver(); d == config.DriverSQLite || d == config.DriverPostgres {
			err = fault.Mark(err)
		}
		return nil, err
	}
	return st, nil
}
