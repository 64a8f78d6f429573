// Package server assembles MyAccount from its parts: storage, keys, the provider and the UI.
// cmd/myaccount calls it to serve, and end-to-end tests call it to get the very same handler;
// keeping the wiring here (not in main) is what lets tests run the real server.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/captcha"
	"github.com/myaccount/myaccount/internal/clientip"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/consent"
	"github.com/myaccount/myaccount/internal/deviceapproval"
	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/metrics"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx"
	"github.com/myaccount/myaccount/internal/passwords"
	"github.com/myaccount/myaccount/internal/passwords/breached"
	"github.com/myaccount/myaccount/internal/requestid"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/internal/subkey"
	"github.com/myaccount/myaccount/internal/tracing"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/op"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/clientcache"
	"github.com/myaccount/myaccount/storage/postgres"
	"github.com/myaccount/myaccount/storage/sqlite"
	"github.com/myaccount/myaccount/storage/sqlstore"
	"github.com/myaccount/myaccount/ui"
)

// browserCookie binds authorization requests to the browser that started them.
const browserCookie = "myaccount_browser"

// Server is a running MyAccount: its store, keys and HTTP handler.
type Server struct {
	Store    storage.Store
	Keys     *keys.Manager
	Accounts *account.Service
	// Sessions holds the browser-session rules (sign out everywhere) for every consumer.
	Sessions *sessions.Service
	Handler  http.Handler
	cfg      *config.Config
	log      *slog.Logger
	now      func() time.Time
	// holder names this instance when it takes a job lease.
	holder string
	// schema checks that the database's schema is current and known (readiness); nil skips.
	schema func(context.Context) error
	// outbox queues all mail; its worker runs from New to Close (see startMail).
	outbox   *mail.Outbox
	stopMail func()
	// Metrics counts requests, sign-ins, tokens and more; served by StartMetrics.
	Metrics *metrics.Metrics
	// Tracing exports spans when tracing.otlp_endpoint is set (see tracing.go).
	Tracing *tracing.Provider
	// Licences holds the licence rules (issue 14) for the reminder job and tests.
	Licences *licence.Service
	// root and ui are the routers the handler was built from (Routes reads them).
	root, ui *mux.Router
}

// Options tweak a server for tests; production passes the zero value.
type Options struct {
	// Now replaces the clock (tests that move time).
	Now func() time.Time
	// CaptchaRand replaces the captcha's source of randomness. Tests seed it so they know the
	// answers the way an attacker cannot (an attacker does not choose the server's RNG);
	// production leaves it nil (crypto/rand).
	CaptchaRand io.Reader
	// WrapStore, when set, wraps the opened store before anything uses it (under the guard
	// that applies deadlines and classifies failures). The fault tests put
	// storage/faultstore here to fail or stall chosen calls of the real database.
	WrapStore func(storage.Store) storage.Store
	// Geo and Blocklist, when set, are used instead of loading and checking the embedded
	// tables at start (geo.New, passwords.New). Both are read-only and safe for concurrent
	// use, so one process may share them between servers: the tests load them once for
	// all their servers. Production leaves them nil and each server loads its own.
	Geo       *geo.Data
	Blocklist *passwords.Checker
}

// OpenStore opens the configured database and applies migrations.
func OpenStore(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	st, _, err := openStore(ctx, cfg)
	return st, err
}

// openStore is OpenStore that also returns the readiness check of the schema.
func openStore(ctx context.Context, cfg *config.Config) (storage.Store, func(context.Context) error, error) {
	switch cfg.DatabaseDriver() {
	case config.DriverSQLite:
		db, err := sqlite.Open(ctx, cfg.Database.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("open sqlite: %w", err)
		}
		return db, func(ctx context.Context) error { return db.SchemaCurrent(ctx, sqlite.MigrationsFS()) }, nil
	case config.DriverPostgres:
		db, err := postgres.Open(ctx, cfg.Database.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("open postgres: %w", err)
		}
		return db, func(ctx context.Context) error { return db.SchemaCurrent(ctx, postgres.MigrationsFS()) }, nil
	default:
		return nil, nil, fmt.Errorf("database driver %q is not supported", cfg.DatabaseDriver())
	}
}

// MasterKey returns the configured master key, or the one generated into the data directory
// on first start (created reports that it was just generated). Next to a database that
// already holds sealed signing keys a missing key is an error saying where it is expected:
// nothing is generated then.
func MasterKey(ctx context.Context, cfg *config.Config, store storage.KeyStore) (key []byte, created bool, err error) {
	key, err = cfg.MasterKeyBytes()
	if err != nil {
		return nil, false, err
	}
	return keys.ResolveMasterKey(ctx, key, cfg.DataDir, store)
}

// NewKeyManager builds the signing-key manager over the store.
func NewKeyManager(cfg *config.Config, store storage.Store, masterKey []byte, log *slog.Logger, now func() time.Time) (*keys.Manager, error) {
	lifetime := max(cfg.Tokens.AccessTokenTTL.Std(), cfg.Tokens.IDTokenTTL.Std())
	return keys.NewManager(store, masterKey, keys.Options{TokenLifetime: lifetime, CacheTTL: cfg.Keys.CacheTTL.Std(), Now: now, Logger: log,
		OpenSSL: cfg.Keys.OpenSSL})
}

// New opens everything and builds the HTTP handler.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (*Server, error) {
	// Every line logged with a request's context names the request.
	log = requestid.Logger(log)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	store, schema, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// The server's single-row reads use SQLite's writer when it is idle: its page cache
	// survives the commits that empty the read pool's (sqlstore.DB.ReadOnIdleWriter). The
	// CLI, which may hold the writer's connection itself (seed), does not.
	if db, ok := store.(*sqlstore.DB); ok {
		db.ReadOnIdleWriter()
	}
	// One clock: the store's own readings of the time (expiry checks, default timestamps)
	// follow Options.Now too.
	if db, ok := store.(*sqlstore.DB); ok && opts.Now != nil {
		store = db.WithClock(now)
	}
	// The mail worker uses the store as opened: its polling is no request's work, so it
	// stays outside the request guard and the tests' fault injection.
	raw := store
	if opts.WrapStore != nil {
		store = opts.WrapStore(store)
	}
	// Every consumer below sees the guarded store: deadlines on every call, and failures
	// marked as ours (fault.ErrUnavailable) and recorded for the request's answer.
	store = fault.GuardStore(store, cfg.Database.Timeout.Std(), log)
	tp, err := newTracing(ctx, cfg, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	store = traceStore(tp, cfg, store)
	// Outermost, so that a cached read costs no deadline, span or SQL (storage/clientcache).
	store = clientcache.New(store, clientCacheTTL, nil)
	s, err := build(ctx, cfg, log, store, raw, now, opts, tp)
	if err != nil {
		tp.Shutdown(ctx)
		store.Close()
		return nil, err
	}
	s.schema = schema
	s.startMail()
	return s, nil
}

// clientCacheTTL is how long an instance answers from its copy of a client. A change made
// by another process (the CLI, another instance) is seen after at most this long; changes
// made through this instance are seen at once.
const clientCacheTTL = time.Second

// NewMailer returns the configured mail sender: SMTP when a host is set, else the log.
func NewMailer(cfg *config.Config, log *slog.Logger) (mail.Sender, error) {
	if cfg.Mail.SMTP.Host == "" {
		return mail.LogSender{Logger: log}, nil
	}
	return mail.NewSMTPSender(mail.SMTPConfig{
		Host: cfg.Mail.SMTP.Host, Port: cfg.Mail.SMTP.Port, Username: cfg.Mail.SMTP.Username,
		Password: cfg.Mail.SMTP.Password, StartTLS: cfg.Mail.SMTP.StartTLS, From: cfg.Mail.From,
	})
}

func build(ctx context.Context, cfg *config.Config, log *slog.Logger, store, raw storage.Store, now func() time.Time, opts Options, tp *tracing.Provider) (*Server, error) {
	mk, created, err := MasterKey(ctx, cfg, store)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if created {
		log.Warn("generated a new master key; back it up: without it the signing keys cannot be read",
			"path", cfg.GeneratedMasterKeyPath())
	}
	km, err := NewKeyManager(cfg, store, mk, log, now)
	if err != nil {
		return nil, fmt.Errorf("key manager: %w", err)
	}
	holder := secret.NewID()
	if err := ensureKeys(ctx, store, km, holder, now); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	ips, err := clientip.New(cfg.Security.TrustedProxies)
	if err != nil {
		return nil, err
	}
	mailer, err := NewMailer(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	mailer = traceMail(tp, mailer)
	m := metrics.New()
	// Requests only queue mail (one INSERT); the worker delivers through mailer. A request
	// then takes the same time whatever it mails and however slow the relay is.
	outboxSealer, err := keys.NewSealer(mk)
	if err != nil {
		return nil, fmt.Errorf("mail outbox sealer: %w", err)
	}
	outbox, err := mail.NewOutbox(mail.OutboxConfig{Store: store, WorkerStore: raw, Sender: mailer,
		Sealer: outboxSealer, Holder: holder, Logger: log, OnFailure: m.MailFailure, SendTimeout: cfg.Mail.SendTimeout.Std(),
		ClaimLease: cfg.Mail.ClaimLease.Std()})
	if err != nil {
		return nil, fmt.Errorf("mail outbox: %w", err)
	}
	templates, err := mail.NewRenderer(cfg.UI.ProductName)
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	blocklist := opts.Blocklist
	if blocklist == nil {
		if blocklist, err = passwords.New(); err != nil {
			return nil, fmt.Errorf("password blocklist: %w", err)
		}
	}
	var checker account.Blocklist = blocklist
	if u := cfg.Accounts.BreachedPasswordsURL; u != "" {
		checker = breachedOrCommon{common: blocklist, rng: &breached.RangeChecker{URL: u}, log: log}
	}
	a := cfg.Accounts
	accounts := &account.Service{
		Store: store, Now: now, Logger: log, Mail: outbox, Templates: templates, Blocklist: checker,
		Hasher:      cfg.Security.PasswordHasher(),
		Hashes:      secret.NewLimiter(cfg.Security.PasswordHashConcurrency, cfg.Security.PasswordHashQueue),
		Metrics:     m,
		ProductName: cfg.UI.ProductName,
		BaseURL:     strings.TrimSuffix(cfg.Issuer, "/"), MinPasswordLen: a.MinPasswordLength, ActivationTTL: a.ActivationTTL.Std(),
		Lockout: account.LockoutPolicy{Threshold: a.LockoutThreshold, Window: a.LockoutWindow.Std(), Base: a.LockoutDuration.Std(),
			Max: a.LockoutMax.Std(), IPLimit: a.FailuresPerIP},
	}
	outbox.Handle(account.ResetRequestTask, traceTask(tp, account.ResetRequestTask, accounts.RunResetRequest))
	outbox.Handle(account.RegisterTask, traceTask(tp, account.RegisterTask, accounts.RunRegister))
	outbox.Handle(account.ActivationRequestTask, traceTask(tp, account.ActivationRequestTask, accounts.RunActivationRequest))
	outbox.Handle(account.EmailChangeTask, traceTask(tp, account.EmailChangeTask, accounts.RunEmailChange))
	outbox.Handle(account.FailureTask, traceTask(tp, account.FailureTask, accounts.RunFailure))
	// A given-up link or notice is named on its account, for support (the payload goes); the
	// SMS and back-channel services name theirs (OnGivenUpOf, through accounts.Lost).
	outbox.OnGivenUp(accounts.GivenUp)
	// Every consumer but the key manager and the sealers gets its own derived key.
	subkeys, err := subkey.New(mk)
	if err != nil {
		return nil, fmt.Errorf("subkeys: %w", err)
	}
	captchas := &captcha.Service{Store: store, Counters: store, Key: subkeys.Key(subkey.Captcha), Now: now, Rand: opts.CaptchaRand}
	bundle, err := i18n.New()
	if err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	geoData := opts.Geo
	if geoData == nil {
		if geoData, err = geo.New(); err != nil {
			return nil, fmt.Errorf("geo: %w", err)
		}
	}
	sealer, err := keys.NewSealer(mk)
	if err != nil {
		return nil, fmt.Errorf("mfa sealer: %w", err)
	}
	factors := &mfa.Service{Store: store, Sealer: sealer, Issuer: cfg.UI.ProductName, Now: now, Logger: log}
	// WebAuthn needs a domain name as its relying-party id; an issuer on an IP address
	// (tests, odd setups) simply has no passkeys.
	wa, err := webauthnx.New(strings.TrimSuffix(cfg.Issuer, "/"), cfg.UI.ProductName)
	if err != nil {
		log.Warn("passkeys and security keys are disabled", "reason", err)
		wa = nil
	}
	factors.NoWebAuthn = wa == nil
	secure := cfg.SecureCookies()
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	// Every sign-out is told to the clients that registered a back-channel logout URI.
	backchannelSvc := newBackchannel(store, outbox, km, tp, issuer, accounts.Lost, log)
	accounts.SignedOut = backchannelSvc
	sessionSvc := &sessions.Service{Store: store, TTL: cfg.Session.TTL.Std(), Idle: cfg.Session.IdleTTL.Std(), Now: now, Logger: log,
		Notifier: backchannelSvc, Factors: factors}

	// The provider needs the UI's error page and the UI needs the provider's callback URL;
	// both are plain functions so neither package imports the other.
	var uiH *ui.Handler
	licences := newLicences(store, outbox, bundle, issuer, cfg.Licences.RenewalURL, log, now)
	prov, err := op.New(op.Config{
		Licences:  licences,
		Sessions:  sessionSvc,
		Issuer:    issuer,
		Store:     store,
		Keys:      km,
		MasterKey: mk,
		Lifetimes: op.Lifetimes{
			AccessToken:  cfg.Tokens.AccessTokenTTL.Std(),
			IDToken:      cfg.Tokens.IDTokenTTL.Std(),
			RefreshToken: cfg.Tokens.RefreshTokenTTL.Std(),
			AuthCode:     cfg.Tokens.AuthCodeTTL.Std(),
			AuthRequest:  cfg.Tokens.AuthRequestTTL.Std(),
			// RetryGrace is the grace after a rotation or a device code's use (tokens.refresh_reuse_interval).
			RetryGrace: cfg.Tokens.RefreshReuseInterval.Std(),
		},
		AccessTokenAlg: cfg.Tokens.AccessTokenAlg,
		UILocales:      uiLocales(bundle),
		RegistrationEndpoint: func() string {
			if cfg.Registration.Enabled {
				return issuer + registrationPath
			}
			return ""
		}(),
		LoginPath:     "/login",
		LogoutPath:    "/logout",
		BrowserCookie: browserCookie,
		SessionCookie: cfg.Session.CookieName,
		SecureCookies: secure,
		ClientIP:      ips.IP,
		ErrorPage: func(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
			uiH.ErrorPage(w, r, status, title, msg)
		},
		Logger:  log,
		Now:     now,
		OnToken: m.Token,
	})
	if err != nil {
		return nil, err
	}
	guards := &guard.Guard{Store: store, Now: now}
	phones, err := newPhones(cfg, store, outbox, guards, factors, bundle, subkeys, m, tp, issuer, accounts.Lost, log, now)
	if err != nil {
		return nil, fmt.Errorf("phones: %w", err)
	}
	// The admin console's service (the person's actor is built per request from their roles).
	adminSvc := &admin.Service{Store: store, Accounts: accounts, Sessions: sessionSvc, Now: now, Logger: log}
	uiH, err = ui.New(ui.Config{
		Store:    store,
		Accounts: accounts,
		Sessions: sessionSvc,
		Consent:  &consent.Service{Store: store, Now: now},
		Guard:    guards,
		Devices:  &deviceapproval.Service{Store: store, Guard: guards, Now: now},
		Keys: ui.Keys{CSRF: subkeys.Key(subkey.CSRF), SealedCookies: subkeys.Key(subkey.SealedCookies),
			DeviceCookie: subkeys.Key(subkey.DeviceCookie)},
		I18n:          bundle,
		Captcha:       captchas,
		Geo:           geoData,
		MFA:           factors,
		WebAuthn:      wa,
		EmailCodes:    cfg.MFA.EmailCodeForNewBrowsers,
		Issuer:        issuer,
		SecureCookies: secure,
		CallbackURL:   prov.CallbackURL,
		IssueCode: func(ar *storage.AuthRequest) (ui.IssuedCode, bool) {
			ic, ok := prov.IssueCode(ar)
			return ui.IssuedCode(ic), ok
		},
		BrowserCookie: browserCookie,
		SessionCookie: cfg.Session.CookieName,
		ClientIP:      ips.IP,
		ProductName:   cfg.UI.ProductName,
		LogoURL:       cfg.UI.LogoURL,
		AccentColor:   cfg.UI.AccentColor,
		ThemeDir:      cfg.UI.ThemeDir,
		Logger:        log,
		Now:           now,
		Admin:         adminSvc,
		AdminKeys:     &admin.Keys{Service: adminSvc, Manager: km},

		// The person's licences page (issue 14).
		Licences: licences, LicenceRenewalURL: cfg.Licences.RenewalURL,

		// Phone numbers and codes by SMS (issue 15).
		Phones: phones, SMS: cfg.MFA.SMS, ResetBySMS: cfg.Accounts.ResetBySMS,
	})
	if err != nil {
		return nil, err
	}
	root := mux.NewRouter()
	for _, p := range prov.Paths() {
		root.Handle(p, prov.Handler())
	}
	adminAPI, err := mountAdmin(root, adminSvc, prov, ips.IP, admin.Limits{PerToken: cfg.Security.AdminAPIPerToken,
		PerIP: cfg.Security.AdminAPIPerIP, Window: time.Minute}, log, now)
	if err != nil {
		return nil, fmt.Errorf("admin api: %w", err)
	}
	mountLicenceAPI(root, licences, prov, ips.IP, log)
	if cfg.Registration.Enabled {
		mountRegistration(root, store, issuer, ips.IP, log, now)
	}
	uiRouter := mux.NewRouter()
	uiH.Mount(uiRouter)
	root.PathPrefix("/").Handler(uiH.Middleware(uiRouter))
	srv := &Server{Store: store, Keys: km, Accounts: accounts, cfg: cfg, log: log, now: now, holder: holder, outbox: outbox, Metrics: m, Tracing: tp,
		root: root, ui: uiRouter}
	srv.Sessions = sessionSvc
	srv.Licences = licences
	m.HashQueue(accounts.Hashes.Stats)
	m.HashUsage(accounts.Hashes.Usage)
	hashCost := cfg.Security.PasswordHash()
	m.HashCost(hashCost.Memory, hashCost.Iterations)
	observeStore(m, raw)
	// Probes stand outside the fault mapping: their 503 is the answer, not a failure to map.
	top := http.NewServeMux()
	for _, p := range srv.probes() {
		top.HandleFunc(p.path, p.handler)
	}
	top.Handle("/", faultAnswers(root, uiH.UnavailablePage, uiH.UnavailableJSON, log))
	srv.Handler = ui.SecurityHeaders(recoverer(top, log), secure, cfg.Security.MaxBodyBytes)
	route := routeLabel(root, uiRouter, adminAPI.Route)
	srv.Handler = requestid.Middleware(traceHTTP(tp, m.Middleware(srv.Handler, route), route, ips.TrustedPeer), ips.TrustedPeer)
	return srv, nil
}

// ensureKeys creates the first signing keys under a lease, so instances starting together on
// an empty database make one set instead of racing (the key manager would still resolve a
// race, but then instances briefly disagree).
func ensureKeys(ctx context.Context, store storage.Store, km *keys.Manager, holder string, now func() time.Time) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := store.AcquireLease(ctx, "keys-ensure", holder, 30*time.Second, now().UTC())
		if err != nil {
			return err
		}
		if ok || time.Now().After(deadline) {
			err := km.Ensure(ctx)
			if ok {
				_ = store.ReleaseLease(ctx, "keys-ensure", holder)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// breachedOrCommon refuses common passwords and, when the range API answers, breached ones.
// An unreachable API does not block registration: the embedded list still applies.
type breachedOrCommon struct {
	common *passwords.Checker
	rng    *breached.RangeChecker
	log    *slog.Logger
}

func (b breachedOrCommon) Common(pw string) bool {
	if b.common.Common(pw) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	breached, err := b.rng.Breached(ctx, pw)
	if err != nil {
		b.log.Warn("breached-password API unavailable", "err", err)
		return false
	}
	return breached
}

// recoverer turns a panic into a plain 500 and a log line: never a stack trace to the client.
func recoverer(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
				http.Error(w, "Internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// RunJobs runs the periodic jobs until ctx ends. Each takes a lease row in SQL first, so on
// several instances only one runs a job at a time.
func (s *Server) RunJobs(ctx context.Context) {
	jobs := []struct {
		name  string
		every time.Duration
		run   func(context.Context)
	}{
		{"housekeeping", 10 * time.Minute, s.Housekeeping},
		{"purge-pending", s.cfg.Accounts.PurgeInterval.Std(), s.PurgePending},
		{"key-rotation", 10 * time.Minute, s.RotateKeys},
		{"licence-reminders", time.Hour, s.SendLicenceReminders},
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(j.every)
			defer t.Stop()
			lease := j.every/2 + time.Minute
			for {
				if ok, err := s.Store.AcquireLease(ctx, j.name, s.holder, lease, s.now().UTC()); err != nil {
					s.log.ErrorContext(ctx, "job lease", "job", j.name, "err", err)
				} else if ok {
					s.Metrics.JobRun(j.name)
					s.runJob(ctx, j.name, lease-jobLeaseMargin, j.run)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	<-ctx.Done()
}

// jobLeaseMargin is how long before its lease lapses a job's turn is stopped: the lease is
// what keeps other instances from running the job at the same time.
const jobLeaseMargin = 30 * time.Second

// runJob runs one turn of a job, for at most budget: a turn that outlived its lease (a
// backlog of expired rows after a long outage) would run beside another instance's turn.
// The jobs work in batches of their own transactions, so a stopped turn loses nothing; the
// next one goes on. A panic is logged with its stack and ends only this turn: unrecovered,
// it would take the instance down with its requests and mail, and the job, taken up by
// another instance, would take that one down too.
func (s *Server) runJob(ctx context.Context, name string, budget time.Duration, run func(context.Context)) {
	jctx, end := s.jobSpan(ctx, name)
	defer end()
	jctx, cancel := context.WithTimeout(jctx, budget)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(jctx, "job panicked", "job", name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	run(jctx)
	if errors.Is(jctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		s.log.WarnContext(ctx, "job stopped at the end of its lease; its next turn goes on", "job", name, "budget", budget)
	}
}

// Housekeeping deletes expired rows and retired keys.
func (s *Server) Housekeeping(ctx context.Context) {
	// Expired sessions are revoked, each in one transaction with its clients' logout tokens
	// (back-channel logout); the sweep deletes only revoked ones, so one whose telling
	// failed, or that expired since, waits for the next run (up to
	// sqlstore.UntoldSessionRetention).
	if n, err := s.Sessions.EndExpired(ctx); err != nil {
		s.log.ErrorContext(ctx, "end expired sessions", "err", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "ended expired sessions", "sessions", n)
	}
	if n, err := s.Store.DeleteExpired(ctx, s.now().UTC()); err != nil {
		s.log.ErrorContext(ctx, "delete expired rows", "err", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "deleted expired rows", "rows", n)
	}
	if _, err := s.Keys.Prune(ctx); err != nil {
		s.log.ErrorContext(ctx, "prune signing keys", "err", err)
	}
	if n, err := s.Store.PurgeOutbox(ctx, s.now().UTC().Add(-outboxRetention)); err != nil {
		s.log.ErrorContext(ctx, "purge mail outbox", "err", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "purged finished mail", "rows", n)
	}
	if n, err := s.Store.DeleteAuditEventsBefore(ctx, s.now().UTC().Add(-s.cfg.Accounts.AuditRetention.Std())); err != nil {
		s.log.ErrorContext(ctx, "delete old audit events", "err", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "deleted old audit events", "rows", n)
	}
}

// RotateKeys publishes the next signing key ahead of time and promotes it when due. Two
// instances doing this at once still make one key: the key manager compares and swaps in SQL.
func (s *Server) RotateKeys(ctx context.Context) {
	changed, err := s.Keys.RotateIfDue(ctx, s.cfg.Keys.RotationPeriod.Std(), s.cfg.Keys.Prepublish.Std())
	if err != nil {
		s.log.ErrorContext(ctx, "rotate signing keys", "err", err)
		return
	}
	if changed {
		s.log.InfoContext(ctx, "signing keys rotated on schedule")
	}
}

// PurgePending reminds and then deletes accounts never activated.
func (s *Server) PurgePending(ctx context.Context) {
	reminded, deleted, err := s.Accounts.PurgePending(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "purge pending accounts", "err", err)
		return
	}
	if reminded > 0 || deleted > 0 {
		s.log.InfoContext(ctx, "purged pending accounts", "reminded", reminded, "deleted", deleted)
	}
}

// ListenAndServe serves until ctx ends, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context) error {
	srv := &http.Server{
		Addr:              s.cfg.Listen,
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	// The jobs stop (and are waited for) before the caller closes the store.
	jobsCtx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() { s.RunJobs(jobsCtx); close(jobsDone) }()
	defer func() { stopJobs(); <-jobsDone }()
	// Beside serving, never before it: readiness does not wait for the page cache.
	defer startPrewarm(ctx, s.cfg, s.log).Stop()
	_, stopMetrics, err := s.StartMetrics()
	if err != nil {
		return err
	}
	defer stopMetrics()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		// Stop accepting, then let in-flight requests finish (their contexts are not the
		// signal's: a sign-in being hashed completes). Past the grace period the remaining
		// connections are cut, so a stuck client cannot hold the process up forever.
		s.log.Info("shutting down: draining in-flight requests", "grace", ShutdownGrace)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			srv.Close()
			return fmt.Errorf("shutdown: requests still in flight after %s were cut: %w", ShutdownGrace, err)
		}
		s.log.Info("in-flight requests drained; stopping jobs")
		return nil
	}
}

// startPrewarm reads a SQLite database into the OS page cache in the background
// (database.prewarm; storage/sqlite/prewarm.go); nil when off or on PostgreSQL.
func startPrewarm(ctx context.Context, cfg *config.Config, log *slog.Logger) *sqlite.Warmup {
	if !cfg.Database.Prewarm || cfg.DatabaseDriver() != config.DriverSQLite {
		return nil
	}
	return sqlite.StartPrewarm(ctx, cfg.Database.URL, sqlite.PrewarmOptions{Logger: log})
}

// ShutdownGrace bounds how long a shutdown waits for in-flight requests. It stays under the
// 30 s that deploy/ gives before SIGKILL (compose stop_grace_period, systemd TimeoutStopSec;
// plain "docker stop" waits only 10 s: pass --time 30).
var ShutdownGrace = 20 * time.Second

// outboxRetention is how long sent and given-up mail stays in the outbox (without its
// payload) for diagnosis.
const outboxRetention = 7 * 24 * time.Hour

// startMail runs the mail outbox's worker until Close. It runs on every instance, from New
// rather than RunJobs, so that any server that serves delivers promptly; instances share
// the work through per-message claims (a lease per row), not a job lease.
func (s *Server) startMail() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.outbox.Run(ctx) }()
	var once sync.Once
	s.stopMail = func() { once.Do(func() { cancel(); <-done }) }
}

// Close stops the mail worker (what it had not sent stays queued for the next start or
// another instance) and releases the store.
func (s *Server) Close() error {
	if s.stopMail != nil {
		s.stopMail()
	}
	s.stopTracing()
	return s.Store.Close()
}

// uiLocales are the tags of the languages the UI speaks, for discovery.
func uiLocales(b *i18n.Bundle) []string {
	var tags []string
	for _, l := range b.Languages() {
		tags = append(tags, l.Tag)
	}
	return tags
}
