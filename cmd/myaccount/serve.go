package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/requestid"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/server"
)

func cmdServe(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "serve")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	// Wrapped here too, not only in server.New: the library logs through the default logger.
	log := requestid.Logger(newLogger(e.stderr, cfg))
	// zitadel/oidc logs through the default logger.
	slog.SetDefault(log)
	if e.environ != nil {
		for _, name := range config.UnknownEnv(e.environ()) {
			log.Warn("environment variable ignored: no setting has this name (misspelt?)", "name", name)
		}
	}
	srv, err := server.New(ctx, cfg, log, server.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	// Start-up's peak (parsing templates, building tables) is garbage now: give it back to
	// the OS, or idle RSS stays at that peak (about 5 MB here, docs/sizing-journal.md).
	debug.FreeOSMemory()
	runtimeDefaults(e.getenv, cfg.Security.PasswordHashConcurrency, cfg.Security.PasswordHash().Memory)
	mail := "printed to this log (set mail.smtp.host to send)"
	if cfg.Mail.SMTP.Host != "" {
		mail = fmt.Sprintf("sent via %s:%d", cfg.Mail.SMTP.Host, cfg.Mail.SMTP.Port)
	}
	log.Info("MyAccount is starting",
		"issuer", cfg.Issuer,
		"listen", cfg.Listen,
		"database", cfg.RedactedDatabaseURL(),
		"data_dir", cfg.DataDir,
		"mail", mail,
		"discovery", cfg.Issuer+"/.well-known/openid-configuration")
	log.Info("first steps: create a user with `printf '%s' 'a long password' | go run ./cmd/myaccount user create --email you@example.com --password-stdin`, " +
		"and a client with `go run ./cmd/myaccount client create --name 'My app' --type confidential --redirect-uri https://app.example/callback`")
	return srv.ListenAndServe(ctx)
}

// runtimeDefaults sets the memory limit and GOGC that the environment does not.
func runtimeDefaults(getenv func(string) string, hashConcurrency int, hashKiB uint32) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit(hashConcurrency, hashKiB))
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// defaultGCPercent is the GOGC serve sets when GOGC is not, after start-up so that idle RSS
// stays start-up's. A server's live heap is about 10 MB, so Go's default of 100 collects after
// every 10 MB allocated: about a hundred collections a second under 15,000 introspections/s,
// 12-15 % of the CPU. 400 collects a fifth as often; the memory limit still bounds the heap
// (it, not GOGC, governs a burst of sign-ins). Measured: req/s +5-30 % for the baseline,
// introspection and refresh in six pairs; RSS after a load 58 MB against 47 (docs/sizing-journal.md).
const defaultGCPercent = 400

// defaultMemoryLimit is the soft heap limit serve sets when GOMEMLIMIT is not: 32 MiB for
// everything but password hashing, plus one argon2id memory cost per hash that may run at
// once (the Limiter's concurrency; 0 is one per CPU). Under a burst of sign-ins the live heap
// is those buffers plus little else, and GOGC alone would let the heap grow to twice that
// before collecting; the limit makes the collector run earlier instead, so the process stays
// near this figure (200 sign-ins at once: docs/sizing.md). It is soft: a heap that really
// needs more gets it, at the cost of more frequent collections.
func defaultMemoryLimit(hashConcurrency int, hashKiB uint32) int64 {
	if hashConcurrency <= 0 {
		hashConcurrency = runtime.GOMAXPROCS(0) // as secret.NewLimiter counts its slots
	}
	if hashKiB == 0 {
		hashKiB = secret.DefaultMemory
	}
	return 32<<20 + int64(hashConcurrency)*int64(hashKiB)<<10
}

func cmdMigrate(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "migrate")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	// Opening the store applies every pending migration, after refusing a database that a
	// newer myaccount migrated (sqlstore.ErrSchemaTooNew).
	_, st, err := openRawStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	// Not the database URL: it may hold a password.
	if v, ok := st.(interface {
		SchemaVersion(context.Context) (int, error)
	}); ok {
		n, err := v.SchemaVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "database schema is at version %d (up to date)\n", n)
		return nil
	}
	fmt.Fprintln(e.stdout, "database schema is up to date")
	return nil
}
