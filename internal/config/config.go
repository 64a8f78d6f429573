package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/myaccount/myaccount/internal/secret"
)

// Config is MyAccount's complete runtime configuration. Field yaml tags are the keys of
// config.example.yaml; see that file for the meaning and default of each option.
type Config struct {
	// Issuer is the OIDC issuer identifier: the exact string placed in the "iss" claim and the
	// base of the discovery document, so it must be the public URL clients use.
	Issuer string `yaml:"issuer"`
	// Listen is the host:port the HTTP server binds. It is deliberately not derived from the
	// issuer's port: behind a reverse proxy the public and bind ports usually differ.
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite database and the generated master key by default.
	DataDir string `yaml:"data_dir"`

	Database Database `yaml:"database"`
	Keys     Keys     `yaml:"keys"`
	Tokens   Tokens   `yaml:"tokens"`
	Session  Session  `yaml:"session"`
	Mail     Mail     `yaml:"mail"`
	UI       UI       `yaml:"ui"`
	Security Security `yaml:"security"`
	Accounts Accounts `yaml:"accounts"`
	MFA      MFA      `yaml:"mfa"`
	Log      Log      `yaml:"log"`
	Metrics  Metrics  `yaml:"metrics"`
	Tracing  Tracing  `yaml:"tracing"`

	Registration Registration `yaml:"registration"`
	Licences     Licences     `yaml:"licences"`
	SMS          SMS          `yaml:"sms"`
}

// Licences configures the licences people hold for products (issue 14).
type Licences struct {
	// RenewalURL is where people renew or buy licences: linked on the licences page and in
	// the reminder mails ("" = no link). An https URL (http only for localhost).
	RenewalURL string `yaml:"renewal_url"`
}

// Registration configures dynamic client registration (RFC 7591/7592).
type Registration struct {
	// Enabled serves the registration endpoint (/connect/register) and advertises it in
	// discovery. Registering still needs an initial access token an admin issued
	// (`myaccount client registration-token`): the endpoint is never open to anyone.
	Enabled bool `yaml:"enabled"`
}

// Tracing configures OpenTelemetry tracing (OTLP over HTTP). Off while OTLPEndpoint is empty.
type Tracing struct {
	// OTLPEndpoint is the base URL of an OTLP/HTTP receiver (spans go to its /v1/traces).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of new traces recorded, 0..1.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name the spans carry.
	ServiceName string `yaml:"service_name"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port serving /metrics, apart from the public listener so that the
	// numbers are not published to the internet. Empty: no metrics listener.
	Listen string `yaml:"listen"`
}

// MFA configures second factors.
type MFA struct {
	// EmailCodeForNewBrowsers asks accounts without an authenticator app or security key for
	// a code sent by email when they sign in from a browser that has not signed in before.
	// It never replaces TOTP or WebAuthn for accounts that have them.
	EmailCodeForNewBrowsers bool `yaml:"email_code_for_new_browsers"`
	// SMS is off, fallback or enabled: whether a person with a verified phone number may get
	// sign-in codes by SMS (the weakest second factor, amr "sms"); see SMSOff and friends.
	SMS string `yaml:"sms"`
}

// Accounts configures self-service accounts: registration, activation, passwords, lockout.
type Accounts struct {
	// MinPasswordLength is the shortest password accepted (there are no composition rules).
	MinPasswordLength int `yaml:"min_password_length"`
	// ActivationTTL is how long an activation link works; accounts never activated are
	// deleted after it (with a reminder a day before).
	ActivationTTL Duration `yaml:"activation_ttl"`
	// PurgeInterval is how often the job that reminds and deletes unactivated accounts runs.
	PurgeInterval Duration `yaml:"purge_interval"`
	// BreachedPasswordsURL is an optional k-anonymity range API (HIBP-compatible, e.g.
	// "https://api.pwnedpasswords.com/range/"); only the first 5 hex digits of a password's
	// SHA-1 are sent. Empty: only the embedded list of common passwords is checked.
	BreachedPasswordsURL string `yaml:"breached_passwords_url"`
	// LockoutThreshold wrong passwords within LockoutWindow lock password sign-in for
	// LockoutDuration, doubling with each lock in a row up to LockoutMax.
	LockoutThreshold int      `yaml:"lockout_threshold"`
	LockoutWindow    Duration `yaml:"lockout_window"`
	LockoutDuration  Duration `yaml:"lockout_duration"`
	LockoutMax       Duration `yaml:"lockout_max"`
	// FailuresPerIP caps wrong passwords per client IP per LockoutWindow, so one attacker
	// cannot cheaply lock every account.
	FailuresPerIP int `yaml:"failures_per_ip"`
	// AuditRetention is how long the activity log (sign-ins, failures, changes) is kept.
	AuditRetention Duration `yaml:"audit_retention"`
	// ResetBySMS lets a person with a verified phone number reset their password with a code
	// sent by SMS instead of the emailed link.
	ResetBySMS bool `yaml:"reset_by_sms"`
}

// Database selects the storage backend.
type Database struct {
	// URL is a SQLite path or "file:" URL, or a postgres:// / postgresql:// URL. Empty means
	// <data_dir>/myaccount.db; Load fills it in after all overrides.
	URL string `yaml:"url"`
	// URLFile names a file holding the URL (it may carry a password, like a secret); Load
	// reads it into URL.
	URLFile string `yaml:"url_file"`
	// Timeout bounds every database call (a transaction as a whole): a stalled or frozen
	// database turns into fast 503 answers instead of hung requests.
	Timeout Duration `yaml:"timeout"`
	// Prewarm has serve read a SQLite file (and its WAL) into the OS page cache in the
	// background at start, when it fits in half the available memory: a cold file makes each
	// token rotation wait for disk reads under the single writer (docs/sizing.md).
	// PostgreSQL ignores it (pg_prewarm is its own).
	Prewarm bool `yaml:"prewarm"`
}

// Keys configures the master key that encrypts signing keys at rest, and signing-key rotation.
type Keys struct {
	// MasterKey is 32 random bytes, standard base64. Empty (with MasterKeyFile empty) means the
	// key is generated into <data_dir>/master.key on first start, see
	// [Config.GeneratedMasterKeyPath].
	MasterKey string `yaml:"master_key"`
	// MasterKeyFile names a file holding the base64 master key; Load reads it into MasterKey.
	MasterKeyFile string `yaml:"master_key_file"`
	// RotationPeriod is how long a signing key is used before a new one is introduced.
	RotationPeriod Duration `yaml:"rotation_period"`
	// Prepublish is how long the next key is published in JWKS before it starts signing, so
	// relying parties that cache JWKS know it before they meet it. At least the JWKS cache
	// period (5 minutes) plus CacheTTL.
	Prepublish Duration `yaml:"prepublish"`
	// CacheTTL is how long an instance trusts its in-memory copy of the signing keys: a key
	// rotated on another instance signs here within this time (it is published, and its
	// tokens accepted, within a second: keys.RefreshEvery).
	CacheTTL Duration `yaml:"cache_ttl"`
	// OpenSSL is how RS256 signatures are made: "auto" through the system's OpenSSL 3
	// libcrypto when it loads (about three times faster than Go), falling back to Go's
	// crypto/rsa; "off" always with crypto/rsa.
	OpenSSL string `yaml:"openssl"`
}

// Tokens sets the lifetimes of issued artefacts.
type Tokens struct {
	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	IDTokenTTL      Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	// AuthCodeTTL is kept short because an authorization code is a bearer credential in a URL.
	AuthCodeTTL Duration `yaml:"auth_code_ttl"`
	// AuthRequestTTL bounds how long a user may take on the login/consent pages.
	AuthRequestTTL Duration `yaml:"auth_request_ttl"`
	// RefreshReuseInterval is how long after a rotation the previous refresh token may be
	// presented again by the same client (its response was lost) and still get an answer
	// instead of revoking the family, and how long after a device code's use the device may
	// poll with it again (op.Lifetimes.RetryGrace). 0 turns the grace off.
	RefreshReuseInterval Duration `yaml:"refresh_reuse_interval"`
	// AccessTokenAlg signs JWT access tokens (ES256, EdDSA or RS256). ES256 is the default
	// because an ES256 signature costs about a twentieth of an RS256-2048 one and every JOSE
	// library verifies it; EdDSA (Ed25519) is cheaper still where the resource servers accept
	// it. ID tokens keep RS256 unless the client registered otherwise.
	AccessTokenAlg string `yaml:"access_token_alg"`
}

// Session configures the browser login session.
type Session struct {
	// TTL is the absolute lifetime: the session ends this long after sign-in regardless of use.
	TTL Duration `yaml:"ttl"`
	// IdleTTL ends a session that has not been used for this long.
	IdleTTL    Duration `yaml:"idle_ttl"`
	CookieName string   `yaml:"cookie_name"`
}

// Mail configures outgoing e-mail (verification, password reset).
type Mail struct {
	// From is the RFC 5322 From header, e.g. "MyAccount <no-reply@example.com>".
	From string `yaml:"from"`
	SMTP SMTP   `yaml:"smtp"`
	// SendTimeout bounds one attempt of the outbox (an SMTP conversation, a queued task).
	SendTimeout Duration `yaml:"send_timeout"`
	// ClaimLease is how long the outbox's claim of an item lasts; the instance sending it
	// renews it every third of this. An instance that dies mid-attempt holds the items it had
	// claimed for at most this long before another instance, or itself restarted, takes them
	// over. One that cannot renew (its database unreachable) stops its attempts a third of a
	// lease before its claims end, which leaves time to record their outcomes and for clocks
	// of instances that differ by less than that.
	ClaimLease Duration `yaml:"claim_lease"`
}

// SMTP starttls modes.
const (
	StartTLSMandatory     = "mandatory"     // refuse to send unless STARTTLS succeeds
	StartTLSOpportunistic = "opportunistic" // use STARTTLS when offered, else plaintext
	StartTLSNone          = "none"          // never use STARTTLS (local relays only)
)

// SMTP is the submission server. An empty Host means mail is printed to the log instead of
// sent, which keeps the embedded setup usable without a mail server.
type SMTP struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile names a file holding the password; Load reads it into Password.
	PasswordFile string `yaml:"password_file"`
	StartTLS     string `yaml:"starttls"`
}

// UI customises the user-facing pages.
type UI struct {
	ProductName string `yaml:"product_name"`
	LogoURL     string `yaml:"logo_url"`
	// AccentColor is a #rrggbb colour; the strict form keeps it safe to inline into CSS.
	AccentColor string `yaml:"accent_color"`
	// ThemeDir, when set, is a directory whose templates/ and static/ files override the
	// embedded ones.
	ThemeDir string `yaml:"theme_dir"`
}

// Security holds request-handling limits and trust settings.
type Security struct {
	// TrustedProxies lists CIDRs (or single IPs) whose X-Forwarded-For header is believed.
	// From anyone else the header is ignored, since otherwise any client could forge its IP and
	// evade rate limiting or pollute audit logs.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxBodyBytes caps request bodies, bounding memory a single request can consume.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// PasswordHashConcurrency bounds how many password hashes (argon2id, PasswordHashMemoryKiB
	// each) run at once; 0 means one per CPU. PasswordHashQueue bounds how many more may wait
	// for a slot; beyond that a sign-in is answered "busy, try again" (503) at once.
	PasswordHashConcurrency int `yaml:"password_hash_concurrency"`
	PasswordHashQueue       int `yaml:"password_hash_queue"`
	// PasswordHashMemoryKiB and PasswordHashIterations are the argon2id cost of new password
	// hashes (one lane). Stored hashes of another cost are replaced at the next sign-in.
	// Validate refuses anything cheaper than every OWASP recommendation (secret.CheckPolicy).
	PasswordHashMemoryKiB  int `yaml:"password_hash_memory_kib"`
	PasswordHashIterations int `yaml:"password_hash_iterations"`
	// AdminAPIPerToken and AdminAPIPerIP are the admin API's request limits per minute, per
	// bearer token and per client address, counted in SQL so that they hold across instances.
	AdminAPIPerToken int `yaml:"admin_api_requests_per_minute_per_token"`
	AdminAPIPerIP    int `yaml:"admin_api_requests_per_minute_per_ip"`
}

// PasswordHash returns the argon2id parameters of new password hashes. Values out of uint32's
// range (which Validate refuses) come out as zero, which the Hasher reads as the default.
func (s Security) PasswordHash() secret.Params {
	u32 := func(v int) uint32 {
		if v < 0 || int64(v) > math.MaxUint32 {
			return 0
		}
		return uint32(v)
	}
	return secret.Params{Memory: u32(s.PasswordHashMemoryKiB), Iterations: u32(s.PasswordHashIterations), Parallelism: 1}
}

// PasswordHasher is the hasher of new passwords at the configured cost: the server's, the
// CLI's and the seed's, so that none writes a hash the others would upgrade.
func (s Security) PasswordHasher() secret.Hasher { return secret.Hasher{Params: s.PasswordHash()} }

// Log configures the process logger.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Default returns the built-in configuration: the embedded setup with SQLite in ./data, issuer
// http://localhost:8080 and mail printed to the log. Database.URL is left empty because it is
// derived from DataDir after overrides; use Load("", nil) for a fully derived config.
func Default() *Config {
	return &Config{
		Issuer:  "http://localhost:8080",
		Listen:  ":8080",
		DataDir: "./data",
		Database: Database{
			Timeout: Duration(5 * time.Second),
			Prewarm: true,
		},
		Keys: Keys{
			RotationPeriod: Duration(720 * time.Hour),
			Prepublish:     Duration(24 * time.Hour),
			CacheTTL:       Duration(30 * time.Second),
			OpenSSL:        "auto",
		},
		Tokens: Tokens{
			AccessTokenTTL:  Duration(15 * time.Minute),
			IDTokenTTL:      Duration(time.Hour),
			RefreshTokenTTL: Duration(720 * time.Hour),
			AccessTokenAlg:  "ES256",
			AuthCodeTTL:     Duration(60 * time.Second),
			AuthRequestTTL:  Duration(30 * time.Minute),
			// Okta and Auth0 default their "reuse interval" to about this: enough for a
			// client to retry a lost response, short for a thief.
			RefreshReuseInterval: Duration(30 * time.Second),
		},
		Session: Session{
			TTL:        Duration(720 * time.Hour),
			IdleTTL:    Duration(168 * time.Hour),
			CookieName: "myaccount_session",
		},
		Mail: Mail{
			From:        "MyAccount <no-reply@localhost>",
			SendTimeout: Duration(time.Minute),
			ClaimLease:  Duration(45 * time.Second),
			SMTP: SMTP{
				Port:     587,
				StartTLS: StartTLSMandatory,
			},
		},
		UI: UI{
			ProductName: "My Account",
			AccentColor: "#2563eb",
		},
		Security: Security{
			// Non-nil so that Default() is deep-equal to a file saying "trusted_proxies: []".
			TrustedProxies: []string{},
			MaxBodyBytes:   65536,
			// 0 = runtime.GOMAXPROCS(0); the queue bounds waiting sign-ins (and their memory).
			PasswordHashConcurrency: 0,
			PasswordHashQueue:       64,
			PasswordHashMemoryKiB:   int(secret.DefaultMemory),
			PasswordHashIterations:  int(secret.DefaultIterations),
			AdminAPIPerToken:        300,
			AdminAPIPerIP:           600,
		},
		Accounts: Accounts{
			MinPasswordLength: 12,
			ActivationTTL:     Duration(120 * time.Hour),
			PurgeInterval:     Duration(time.Hour),
			LockoutThreshold:  5,
			LockoutWindow:     Duration(15 * time.Minute),
			LockoutDuration:   Duration(15 * time.Minute),
			LockoutMax:        Duration(24 * time.Hour),
			FailuresPerIP:     50,
			AuditRetention:    Duration(365 * 24 * time.Hour),
		},
		MFA: MFA{SMS: SMSOff},
		SMS: defaultSMS(),
		Log: Log{
			Level:  "info",
			Format: "text",
		},
		Tracing: Tracing{
			SampleRatio: 1,
			ServiceName: "myaccount",
		},
	}
}

// Load builds the configuration: Default(), then the YAML file at path (skipped when path is
// empty), then environment overrides looked up through env (os.Getenv in main, a map in tests;
// nil means no environment), then *_file indirection, then derived defaults, then Validate.
// Problems after decoding are all reported together, joined with errors.Join.
func Load(path string, env func(string) string) (*Config, error) {
	cfg := Default()
	if path != "" {
		if err := cfg.decodeFile(path); err != nil {
			return nil, err
		}
	}
	if env == nil {
		env = func(string) string { return "" }
	}
	errs := []error{
		cfg.applyEnv(env),
		cfg.resolveFiles(),
	}
	cfg.fillDerived()
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeFile strictly decodes the YAML file over c, so keys it omits keep their defaults.
func (c *Config) decodeFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty (or comment-only) file means "all defaults"
		}
		return fmt.Errorf("config: %s: %w", path, err)
	}
	// A second document would otherwise be silently ignored.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: must contain a single YAML document", path)
	}
	return nil
}

// envVar is one MYACCOUNT_* override. Keeping them in a table lets a test check that every
// variable is documented in config.example.yaml and the package doc.
type envVar struct {
	name  string
	key   string // the YAML key it overrides, for error messages
	apply func(c *Config, v string) error
}

var envVars = []envVar{
	{"MYACCOUNT_ISSUER", "issuer", func(c *Config, v string) error { c.Issuer = v; return nil }},
	{"MYACCOUNT_LISTEN", "listen", func(c *Config, v string) error { c.Listen = v; return nil }},
	{"MYACCOUNT_DATA_DIR", "data_dir", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"MYACCOUNT_DATABASE_URL", "database.url", func(c *Config, v string) error { c.Database.URL = v; return nil }},
	{"MYACCOUNT_DATABASE_URL_FILE", "database.url_file", func(c *Config, v string) error { c.Database.URLFile = v; return nil }},
	{"MYACCOUNT_DATABASE_PREWARM", "database.prewarm", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false: %w", err)
		}
		c.Database.Prewarm = b
		return nil
	}},
	{"MYACCOUNT_MASTER_KEY", "keys.master_key", func(c *Config, v string) error { c.Keys.MasterKey = v; return nil }},
	{"MYACCOUNT_MASTER_KEY_FILE", "keys.master_key_file", func(c *Config, v string) error { c.Keys.MasterKeyFile = v; return nil }},
	{"MYACCOUNT_KEYS_OPENSSL", "keys.openssl", func(c *Config, v string) error { c.Keys.OpenSSL = v; return nil }},
	{"MYACCOUNT_MAIL_FROM", "mail.from", func(c *Config, v string) error { c.Mail.From = v; return nil }},
	{"MYACCOUNT_SMTP_HOST", "mail.smtp.host", func(c *Config, v string) error { c.Mail.SMTP.Host = v; return nil }},
	{"MYACCOUNT_SMTP_PORT", "mail.smtp.port", func(c *Config, v string) error {
		p, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a port number", v)
		}
		c.Mail.SMTP.Port = p
		return nil
	}},
	{"MYACCOUNT_SMTP_USERNAME", "mail.smtp.username", func(c *Config, v string) error { c.Mail.SMTP.Username = v; return nil }},
	{"MYACCOUNT_SMTP_PASSWORD", "mail.smtp.password", func(c *Config, v string) error { c.Mail.SMTP.Password = v; return nil }},
	{"MYACCOUNT_SMTP_PASSWORD_FILE", "mail.smtp.password_file", func(c *Config, v string) error { c.Mail.SMTP.PasswordFile = v; return nil }},
	{"MYACCOUNT_SMTP_STARTTLS", "mail.smtp.starttls", func(c *Config, v string) error { c.Mail.SMTP.StartTLS = v; return nil }},
	{"MYACCOUNT_TRUSTED_PROXIES", "security.trusted_proxies", func(c *Config, v string) error {
		c.Security.TrustedProxies = []string{}
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.Security.TrustedProxies = append(c.Security.TrustedProxies, p)
			}
		}
		return nil
	}},
	{"MYACCOUNT_PASSWORD_HASH_MEMORY_KIB", "security.password_hash_memory_kib", func(c *Config, v string) error {
		return envInt(v, &c.Security.PasswordHashMemoryKiB)
	}},
	{"MYACCOUNT_PASSWORD_HASH_ITERATIONS", "security.password_hash_iterations", func(c *Config, v string) error {
		return envInt(v, &c.Security.PasswordHashIterations)
	}},
	{"MYACCOUNT_LOG_LEVEL", "log.level", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"MYACCOUNT_LOG_FORMAT", "log.format", func(c *Config, v string) error { c.Log.Format = v; return nil }},
	{"MYACCOUNT_METRICS_LISTEN", "metrics.listen", func(c *Config, v string) error { c.Metrics.Listen = v; return nil }},
	{"MYACCOUNT_LICENCES_RENEWAL_URL", "licences.renewal_url", func(c *Config, v string) error { c.Licences.RenewalURL = v; return nil }},
	{"MYACCOUNT_MFA_SMS", "mfa.sms", func(c *Config, v string) error { c.MFA.SMS = v; return nil }},
	{"MYACCOUNT_SMS_SENDER", "sms.sender", func(c *Config, v string) error { c.SMS.Sender = v; return nil }},
	{"MYACCOUNT_SMS_ALLOWED_COUNTRIES", "sms.allowed_countries", func(c *Config, v string) error {
		c.SMS.AllowedCountries = []string{}
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.SMS.AllowedCountries = append(c.SMS.AllowedCountries, p)
			}
		}
		return nil
	}},
	{"MYACCOUNT_SMS_WEBHOOK_URL", "sms.webhook.url", func(c *Config, v string) error { c.SMS.Webhook.URL = v; return nil }},
	{"MYACCOUNT_SMS_WEBHOOK_SECRET", "sms.webhook.secret", func(c *Config, v string) error { c.SMS.Webhook.Secret = v; return nil }},
	{"MYACCOUNT_SMS_WEBHOOK_SECRET_FILE", "sms.webhook.secret_file", func(c *Config, v string) error { c.SMS.Webhook.SecretFile = v; return nil }},
	{"MYACCOUNT_SMS_TWILIO_ACCOUNT_SID", "sms.twilio.account_sid", func(c *Config, v string) error { c.SMS.Twilio.AccountSID = v; return nil }},
	{"MYACCOUNT_SMS_TWILIO_AUTH_TOKEN", "sms.twilio.auth_token", func(c *Config, v string) error { c.SMS.Twilio.AuthToken = v; return nil }},
	{"MYACCOUNT_SMS_TWILIO_AUTH_TOKEN_FILE", "sms.twilio.auth_token_file", func(c *Config, v string) error { c.SMS.Twilio.AuthTokenFile = v; return nil }},
	{"MYACCOUNT_SMS_TWILIO_FROM", "sms.twilio.from", func(c *Config, v string) error { c.SMS.Twilio.From = v; return nil }},
	{"MYACCOUNT_REGISTRATION_ENABLED", "registration.enabled", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false: %w", err)
		}
		c.Registration.Enabled = b
		return nil
	}},
	// The standard OpenTelemetry variable first, so that ours wins when both are set.
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "tracing.otlp_endpoint", func(c *Config, v string) error { c.Tracing.OTLPEndpoint = v; return nil }},
	{"MYACCOUNT_TRACING_OTLP_ENDPOINT", "tracing.otlp_endpoint", func(c *Config, v string) error { c.Tracing.OTLPEndpoint = v; return nil }},
	{"MYACCOUNT_TRACING_SAMPLE_RATIO", "tracing.sample_ratio", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", v)
		}
		c.Tracing.SampleRatio = f
		return nil
	}},
}

// envInt parses a whole number for an integer override.
func envInt(v string, dst *int) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*dst = n
	return nil
}

// applyEnv applies the MYACCOUNT_* overrides. A secret and its _FILE form are one setting: if
// the environment supplies only one of them, the other (from the file) is cleared so the
// environment wins instead of tripping the "both set" check.
func (c *Config) applyEnv(env func(string) string) error {
	var errs []error
	for _, e := range envVars {
		v := env(e.name)
		if v == "" {
			continue
		}
		if err := e.apply(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", e.name, e.key, err))
		}
	}
	pairs := []struct {
		value, file       string
		valueDst, fileDst *string
	}{
		{"MYACCOUNT_MASTER_KEY", "MYACCOUNT_MASTER_KEY_FILE", &c.Keys.MasterKey, &c.Keys.MasterKeyFile},
		{"MYACCOUNT_SMTP_PASSWORD", "MYACCOUNT_SMTP_PASSWORD_FILE", &c.Mail.SMTP.Password, &c.Mail.SMTP.PasswordFile},
		{"MYACCOUNT_DATABASE_URL", "MYACCOUNT_DATABASE_URL_FILE", &c.Database.URL, &c.Database.URLFile},
		{"MYACCOUNT_SMS_WEBHOOK_SECRET", "MYACCOUNT_SMS_WEBHOOK_SECRET_FILE", &c.SMS.Webhook.Secret, &c.SMS.Webhook.SecretFile},
		{"MYACCOUNT_SMS_TWILIO_AUTH_TOKEN", "MYACCOUNT_SMS_TWILIO_AUTH_TOKEN_FILE", &c.SMS.Twilio.AuthToken, &c.SMS.Twilio.AuthTokenFile},
	}
	for _, p := range pairs {
		hasValue, hasFile := env(p.value) != "", env(p.file) != ""
		switch {
		case hasValue && !hasFile:
			*p.fileDst = ""
		case hasFile && !hasValue:
			*p.valueDst = ""
		}
	}
	return errors.Join(errs...)
}

// resolveFiles replaces each *_file setting with the file's contents. The file name is kept in
// the struct (useful for diagnostics); the secret itself lands in the value field. Error
// messages never include file contents, since they are secrets.
func (c *Config) resolveFiles() error {
	items := []struct {
		key, fileKey string
		envKey       string
		value        *string
		file         string
	}{
		{"keys.master_key", "keys.master_key_file", "MYACCOUNT_MASTER_KEY", &c.Keys.MasterKey, c.Keys.MasterKeyFile},
		{"mail.smtp.password", "mail.smtp.password_file", "MYACCOUNT_SMTP_PASSWORD", &c.Mail.SMTP.Password, c.Mail.SMTP.PasswordFile},
		{"database.url", "database.url_file", "MYACCOUNT_DATABASE_URL", &c.Database.URL, c.Database.URLFile},
		{"sms.webhook.secret", "sms.webhook.secret_file", "MYACCOUNT_SMS_WEBHOOK_SECRET", &c.SMS.Webhook.Secret, c.SMS.Webhook.SecretFile},
		{"sms.twilio.auth_token", "sms.twilio.auth_token_file", "MYACCOUNT_SMS_TWILIO_AUTH_TOKEN", &c.SMS.Twilio.AuthToken, c.SMS.Twilio.AuthTokenFile},
	}
	var errs []error
	for _, it := range items {
		if it.file == "" {
			continue
		}
		if *it.value != "" {
			errs = append(errs, fmt.Errorf("%s and %s are both set (in the config file, or as %s and %s_FILE); set only one",
				it.key, it.fileKey, it.envKey, it.envKey))
			continue
		}
		data, err := os.ReadFile(it.file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", it.fileKey, err))
			continue
		}
		s := strings.TrimRight(string(data), "\r\n")
		if s == "" {
			errs = append(errs, fmt.Errorf("%s: %s is empty", it.fileKey, it.file))
			continue
		}
		*it.value = s
	}
	return errors.Join(errs...)
}

// fillDerived computes defaults that depend on other settings. It runs after the file and the
// environment so that, e.g., MYACCOUNT_DATA_DIR moves the default database too.
func (c *Config) fillDerived() {
	if c.Database.URL == "" {
		c.Database.URL = filepath.Join(c.DataDir, "myaccount.db")
	}
}

// RedactedDatabaseURL is Database.URL fit for logs and messages: a password in a URL's user
// part or in a key=value connection string is replaced by "xxxxx".
func (c *Config) RedactedDatabaseURL() string {
	raw := c.Database.URL
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return keywordPassword.ReplaceAllString(raw, "${1}xxxxx")
}

// keywordPassword finds password=... in a libpq key=value connection string.
var keywordPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// Database drivers returned by Config.DatabaseDriver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// DatabaseDriver reports which backend Database.URL selects: DriverPostgres for postgres:// and
// postgresql:// URLs, DriverSQLite for everything else (paths and file: URLs).
func (c *Config) DatabaseDriver() string {
	if s, ok := urlScheme(c.Database.URL); ok && (s == "postgres" || s == "postgresql") {
		return DriverPostgres
	}
	return DriverSQLite
}

// urlScheme returns the lower-cased scheme of a "scheme://..." string. Only the "://" form is
// recognised, so Windows paths ("C:\db") and "file:rel.db" are not mistaken for schemes.
func urlScheme(s string) (string, bool) {
	i := strings.Index(s, "://")
	if i <= 0 {
		return "", false
	}
	scheme := s[:i]
	for j, r := range scheme {
		isAlpha := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !isAlpha && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return "", false
		}
	}
	return strings.ToLower(scheme), true
}

// SecureCookies reports whether cookies must carry the Secure attribute: exactly when the issuer
// is https. Over plain-http localhost a Secure cookie would never be sent back, breaking login.
func (c *Config) SecureCookies() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && strings.EqualFold(u.Scheme, "https")
}

// MasterKeyBytes decodes Keys.MasterKey. It returns (nil, nil) when no key is configured, in
// which case the key store generates one at GeneratedMasterKeyPath.
func (c *Config) MasterKeyBytes() ([]byte, error) {
	if c.Keys.MasterKey == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(c.Keys.MasterKey)
	if err != nil {
		return nil, errors.New("keys.master_key: not valid standard base64")
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("keys.master_key: decodes to %d bytes, want 32", len(b))
	}
	if distinct := len(slices.Compact(slices.Sorted(slices.Values(b)))); distinct < 8 {
		// A placeholder (all zeros, a repeated byte), not 32 random bytes: every signing key
		// sealed under it would be as good as in the clear.
		return nil, fmt.Errorf("keys.master_key: %d distinct bytes of 32 is no random key (head -c 32 /dev/urandom | base64)", distinct)
	}
	return b, nil
}

// GeneratedMasterKeyPath is where the master key is generated (and later re-read) when neither
// keys.master_key nor keys.master_key_file is set. It lives here so the key store and the docs
// agree on one location.
func (c *Config) GeneratedMasterKeyPath() string {
	return filepath.Join(c.DataDir, "master.key")
}

// testSuiteEnv are MYACCOUNT_* variables the test suite reads (never the server).
var testSuiteEnv = map[string]bool{"MYACCOUNT_TEST_POSTGRES_URL": true, "MYACCOUNT_ARTIFACTS": true, "MYACCOUNT_CRASH_TEST_BIN": true}

// UnknownEnv returns the MYACCOUNT_* names in environ (os.Environ's form, NAME=value) that no
// setting reads, sorted: a misspelt variable is otherwise silently ignored, while a misspelt
// key in the file stops the server.
func UnknownEnv(environ []string) []string {
	known := make(map[string]bool, len(envVars))
	for _, e := range envVars {
		known[e.name] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "MYACCOUNT_") && !known[name] && !testSuiteEnv[name] && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
