package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/keys"
)

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Validate checks the whole configuration and returns every problem found, joined with
// errors.Join, so an operator can fix them all in one pass. Each message starts with the YAML
// key at fault. Validate does no I/O: files and directories are checked where they are used.
// An empty Database.URL is accepted because it means "derive from data_dir" (Load does so).
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if err := validateIssuer(c.Issuer); err != nil {
		add("issuer", "%v", err)
	}
	if err := validateListen(c.Listen); err != nil {
		add("listen", "%v", err)
	}
	if c.Metrics.Listen != "" {
		if err := validateListen(c.Metrics.Listen); err != nil {
			add("metrics.listen", "%v", err)
		}
	}
	if e := c.Tracing.OTLPEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add("tracing.otlp_endpoint", "must be an http:// or https:// base URL without query, e.g. http://otel-collector:4318")
		}
	}
	if r := c.Tracing.SampleRatio; r < 0 || r > 1 || r != r {
		add("tracing.sample_ratio", "must be between 0 and 1, got %v", r)
	}
	if c.DataDir == "" {
		add("data_dir", "must not be empty")
	}

	if s, ok := urlScheme(c.Database.URL); ok && s != "file" && s != "postgres" && s != "postgresql" {
		add("database.url", "unsupported scheme %q (want a SQLite path, file:, postgres:// or postgresql://)", s)
	}

	if _, err := c.MasterKeyBytes(); err != nil {
		// MasterKeyBytes already prefixes the key name; never echo the key itself.
		errs = append(errs, err)
	}

	// The upper bounds catch units mistakes ("720" read as hours where minutes were meant)
	// and lifetimes no deployment should choose: a bearer credential that outlives a day
	// cannot be taken back without the denylist, and RFC 6749 §4.1.2 puts an authorization
	// code's at 10 minutes at most.
	const day, year = 24 * time.Hour, 365 * 24 * time.Hour
	durations := []struct {
		key string
		d   Duration
		max time.Duration
	}{
		{"keys.rotation_period", c.Keys.RotationPeriod, year},
		{"tokens.access_token_ttl", c.Tokens.AccessTokenTTL, day},
		{"tokens.id_token_ttl", c.Tokens.IDTokenTTL, day},
		{"tokens.refresh_token_ttl", c.Tokens.RefreshTokenTTL, year},
		{"tokens.auth_code_ttl", c.Tokens.AuthCodeTTL, 10 * time.Minute},
		{"tokens.auth_request_ttl", c.Tokens.AuthRequestTTL, day},
		{"database.timeout", c.Database.Timeout, 5 * time.Minute},
		{"session.ttl", c.Session.TTL, year},
		{"session.idle_ttl", c.Session.IdleTTL, year},
	}
	for _, d := range durations {
		if d.d <= 0 {
			add(d.key, "must be positive, got %s", d.d)
		} else if d.d.Std() > d.max {
			add(d.key, "must be at most %s, got %s", Duration(d.max), d.d)
		}
	}
	// An access token outliving the refresh token that mints it would make refresh pointless
	// and is almost certainly a units mistake.
	if c.Tokens.AccessTokenTTL > c.Tokens.RefreshTokenTTL {
		add("tokens.access_token_ttl", "%s exceeds tokens.refresh_token_ttl %s", c.Tokens.AccessTokenTTL, c.Tokens.RefreshTokenTTL)
	}

	if a := c.Tokens.AccessTokenAlg; !keys.Supported(a) {
		add("tokens.access_token_alg", "must be one of %s, got %q", keys.AlgorithmList(), a)
	}
	if r := c.Tokens.RefreshReuseInterval; r < 0 || r.Std() > 5*time.Minute {
		add("tokens.refresh_reuse_interval", "must be between 0 and 5m, got %s", r)
	}
	if c.Security.PasswordHashConcurrency < 0 || c.Security.PasswordHashConcurrency > 256 {
		add("security.password_hash_concurrency", "must be between 0 (one per CPU) and 256")
	}
	if c.Security.PasswordHashQueue < 0 || c.Security.PasswordHashQueue > 100000 {
		add("security.password_hash_queue", "must be between 0 and 100000")
	}
	if c.Security.AdminAPIPerToken < 1 || c.Security.AdminAPIPerToken > 1000000 {
		add("security.admin_api_requests_per_minute_per_token", "must be between 1 and 1000000")
	}
	if c.Security.AdminAPIPerIP < 1 || c.Security.AdminAPIPerIP > 1000000 {
		add("security.admin_api_requests_per_minute_per_ip", "must be between 1 and 1000000")
	}
	// Each setting's range under its own name, then the pair against OWASP's sets.
	m, t := c.Security.PasswordHashMemoryKiB, c.Security.PasswordHashIterations
	mOK := m >= 1 && m <= secret.MaxMemoryKiB
	tOK := t >= 1 && t <= secret.MaxIterations
	if !mOK {
		add("security.password_hash_memory_kib", "must be between 1 and %d KiB, got %d", secret.MaxMemoryKiB, m)
	}
	if !tOK {
		add("security.password_hash_iterations", "must be between 1 and %d, got %d", secret.MaxIterations, t)
	}
	if mOK && tOK {
		if err := c.Security.PasswordHash().CheckPolicy(); err != nil {
			add("security.password_hash_memory_kib", "with password_hash_iterations: %v", err)
		}
	}

	if !isCookieName(c.Session.CookieName) {
		// net/http silently drops cookies with invalid names, which would surface as a
		// mysterious login loop.
		add("session.cookie_name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~)", c.Session.CookieName)
	}

	if d := c.Mail.SendTimeout; d.Std() < time.Second || d.Std() > 10*time.Minute {
		add("mail.send_timeout", "must be between 1s and 10m, got %s", d)
	}
	// Renewed every third of it, and cut a third before its end: under 3s the second is
	// less than a second, little for a commit on a loaded database.
	if d := c.Mail.ClaimLease; d.Std() < 3*time.Second || d.Std() > 10*time.Minute {
		add("mail.claim_lease", "must be between 3s and 10m, got %s", d)
	}
	if _, err := mail.ParseAddress(c.Mail.From); err != nil {
		add("mail.from", "%q is not a valid address: %v", c.Mail.From, err)
	}
	if p := c.Mail.SMTP.Port; p < 1 || p > 65535 {
		add("mail.smtp.port", "%d is out of range 1..65535", p)
	}
	switch c.Mail.SMTP.StartTLS {
	case StartTLSMandatory, StartTLSOpportunistic, StartTLSNone:
	default:
		add("mail.smtp.starttls", "%q must be one of %s, %s, %s", c.Mail.SMTP.StartTLS, StartTLSMandatory, StartTLSOpportunistic, StartTLSNone)
	}

	if c.UI.ProductName == "" {
		add("ui.product_name", "must not be empty")
	}
	if !hexColor.MatchString(c.UI.AccentColor) {
		add("ui.accent_color", "%q must have the form #rrggbb", c.UI.AccentColor)
	}
	if err := validateLogoURL(c.UI.LogoURL); err != nil {
		add("ui.logo_url", "%v", err)
	}

	for _, p := range c.Security.TrustedProxies {
		pfx, err := parseProxy(p)
		switch {
		case err != nil:
			add("security.trusted_proxies", "%q is neither a CIDR nor an IP address", p)
		case pfx.Bits() == 0:
			// Trusting every address lets anyone write the client address it is counted as.
			add("security.trusted_proxies", "%q trusts every address; name the proxies", p)
		case pfx.Addr().Is4In6():
			// Peers are compared unmapped: an IPv4-in-IPv6 prefix would never match.
			add("security.trusted_proxies", "%q is IPv4 written as IPv6; write it as IPv4", p)
		}
	}
	if k := c.Keys; k.CacheTTL <= 0 || k.CacheTTL.Std() > 10*time.Minute {
		add("keys.cache_ttl", "must be between 0 and 10m")
	} else if k.Prepublish.Std() < 5*time.Minute+k.CacheTTL.Std() || k.Prepublish >= k.RotationPeriod {
		add("keys.prepublish", "must be at least 5m + keys.cache_ttl (the JWKS cache period) and shorter than keys.rotation_period")
	}
	if o := c.Keys.OpenSSL; o != "auto" && o != "off" {
		add("keys.openssl", "must be auto or off, got %q", o)
	}
	if a := c.Accounts; a.MinPasswordLength < 8 || a.MinPasswordLength > 128 {
		add("accounts.min_password_length", "must be between 8 and 128, got %d", a.MinPasswordLength)
	}
	for name, d := range map[string]Duration{"accounts.activation_ttl": c.Accounts.ActivationTTL, "accounts.purge_interval": c.Accounts.PurgeInterval,
		"accounts.lockout_window": c.Accounts.LockoutWindow, "accounts.lockout_duration": c.Accounts.LockoutDuration, "accounts.lockout_max": c.Accounts.LockoutMax,
		"accounts.audit_retention": c.Accounts.AuditRetention} {
		if d <= 0 {
			add(name, "must be positive")
		}
	}
	if c.Accounts.ActivationTTL > 0 && c.Accounts.ActivationTTL.Std() <= 24*time.Hour {
		add("accounts.activation_ttl", "must be longer than a day (the reminder goes out a day before)")
	}
	// Lockout counters are kept CounterRetention (storage/sqlstore) after their window started:
	// a longer window or lock would be forgotten early by the collector.
	if w := c.Accounts.LockoutWindow.Std(); w > CounterRetention {
		add("accounts.lockout_window", "must be at most %s (counters are kept that long), got %s", CounterRetention, w)
	}
	if m := c.Accounts.LockoutMax.Std(); m+24*time.Hour > CounterRetention {
		add("accounts.lockout_max", "must be at most %s (a lock's level is kept a day past it), got %s", CounterRetention-24*time.Hour, m)
	}
	if c.Accounts.LockoutThreshold < 1 || c.Accounts.FailuresPerIP < 1 {
		add("accounts.lockout_threshold", "lockout_threshold and failures_per_ip must be at least 1")
	}
	if u := c.Licences.RenewalURL; u != "" {
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" || p.Host == "" || p.User != nil {
			add("licences.renewal_url", "must be an https URL, e.g. https://shop.example.com/renew")
		}
	}
	c.validateSMS(add)
	if u := c.Accounts.BreachedPasswordsURL; u != "" && !strings.HasPrefix(u, "https://") {
		add("accounts.breached_passwords_url", "must be an https URL")
	}
	if c.Security.MaxBodyBytes <= 0 {
		add("security.max_body_bytes", "must be positive, got %d", c.Security.MaxBodyBytes)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q must be one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "%q must be one of text, json", c.Log.Format)
	}

	return errors.Join(errs...)
}

// validateIssuer enforces OIDC Core's issuer rules (https, no query or fragment) with a carve-out
// for plain http on loopback so the embedded setup works without certificates.
func validateIssuer(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q must be an absolute URL such as https://id.example.com", s)
	}
	var errs []error
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
	case "http":
		if !isLoopbackHost(strings.ToLower(u.Hostname())) {
			errs = append(errs, fmt.Errorf("%q uses http, which is only allowed for localhost, 127.0.0.1 and [::1]; use https", s))
		}
	default:
		errs = append(errs, fmt.Errorf("%q must use http or https", s))
	}
	if u.User != nil {
		errs = append(errs, fmt.Errorf("%q must not contain user info", s))
	}
	if u.RawQuery != "" || u.ForceQuery || strings.Contains(s, "#") {
		errs = append(errs, fmt.Errorf("%q must not have a query or fragment", s))
	}
	// The issuer is compared byte-for-byte with "iss"; a trailing slash also yields
	// "//.well-known/..." paths. Rejecting it avoids a hard-to-debug mismatch.
	if strings.HasSuffix(u.Path, "/") {
		errs = append(errs, fmt.Errorf("%q must not end with a slash", s))
	}
	return errors.Join(errs...)
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// validateListen requires host:port with a numeric port; port 0 (any free port) is allowed for
// tests.
func validateListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. \":8080\" or \"127.0.0.1:8080\"): %v", s, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q must be a number 0..65535", s, port)
	}
	return nil
}

// CounterRetention is how long the store keeps a counter after its window started
// (sqlstore.CounterRetention, which a test holds equal).
const CounterRetention = 7 * 24 * time.Hour

// validateLogoURL allows an absolute http(s) URL or a site-relative path; other schemes
// (javascript:, data:) have no business in an <img src>.
func validateLogoURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	switch {
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
		return nil
	case (strings.EqualFold(u.Scheme, "https") || strings.EqualFold(u.Scheme, "http")) && u.Host != "":
		return nil
	}
	return fmt.Errorf("%q must be an http(s) URL or a path starting with /", s)
}

// isCookieName reports whether s is an RFC 6265 cookie-name (an RFC 7230 token).
func isCookieName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

func parseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// TrustedProxyPrefixes parses TrustedProxies, turning single IPs into /32 or /128 prefixes, so
// the forwarded-header middleware does not re-implement the parsing Validate already accepts.
// Callers should Unmap() IPv4-mapped IPv6 peer addresses before matching.
func (s Security) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(s.TrustedProxies))
	for _, p := range s.TrustedProxies {
		pfx, err := parseProxy(p)
		if err != nil {
			return nil, fmt.Errorf("security.trusted_proxies: %q is neither a CIDR nor an IP address", p)
		}
		out = append(out, pfx)
	}
	return out, nil
}
