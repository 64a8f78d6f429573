package config

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// validKey is a well-formed 32-byte master key.
var validKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// envMap turns a map into the lookup function Load expects.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content into dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantErrContaining fails unless err is non-nil and mentions every substring.
func wantErrContaining(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("got error %q, want it to contain %q", err, s)
		}
	}
}

func TestDefaultsAreValid(t *testing.T) {
	tests := []struct {
		name string
		load func() (*Config, error)
	}{
		{"Default", func() (*Config, error) { return Default(), Default().Validate() }},
		{"Load without file, nil env", func() (*Config, error) { return Load("", nil) }},
		{"Load without file, empty env", func() (*Config, error) { return Load("", envMap(nil)) }},
		{"Load empty file", func() (*Config, error) {
			return Load(writeFile(t, t.TempDir(), "c.yaml", "# only a comment\n"), nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.load()
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got, want := cfg.Issuer, "http://localhost:8080"; got != want {
				t.Errorf("Issuer: got %q, want %q", got, want)
			}
			if got, want := cfg.Listen, ":8080"; got != want {
				t.Errorf("Listen: got %q, want %q", got, want)
			}
			if got, want := cfg.DatabaseDriver(), DriverSQLite; got != want {
				t.Errorf("DatabaseDriver: got %q, want %q", got, want)
			}
			if cfg.SecureCookies() {
				t.Errorf("SecureCookies: got true, want false for an http issuer")
			}
		})
	}
}

func TestLoadDerivesDefaultDatabaseURL(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Database.URL, filepath.Join("data", "myaccount.db"); got != want {
		t.Errorf("Database.URL: got %q, want %q", got, want)
	}
	if got, want := cfg.GeneratedMasterKeyPath(), filepath.Join("data", "master.key"); got != want {
		t.Errorf("GeneratedMasterKeyPath: got %q, want %q", got, want)
	}
}

func TestLoadFileOverrides(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(c *Config) (got, want any)
	}{
		{"issuer", "issuer: https://id.example.com\n",
			func(c *Config) (any, any) { return c.Issuer, "https://id.example.com" }},
		{"listen", "listen: 127.0.0.1:9000\n",
			func(c *Config) (any, any) { return c.Listen, "127.0.0.1:9000" }},
		{"nested duration", "tokens:\n  access_token_ttl: 5m\n",
			func(c *Config) (any, any) { return c.Tokens.AccessTokenTTL.Std(), 5 * time.Minute }},
		{"sibling keeps default", "tokens:\n  access_token_ttl: 5m\n",
			func(c *Config) (any, any) { return c.Tokens.IDTokenTTL.Std(), time.Hour }},
		{"smtp port", "mail:\n  smtp:\n    host: smtp.example.com\n    port: 465\n",
			func(c *Config) (any, any) { return c.Mail.SMTP.Port, 465 }},
		{"trusted proxies", "security:\n  trusted_proxies: [10.0.0.0/8, \"::1\"]\n",
			func(c *Config) (any, any) { return strings.Join(c.Security.TrustedProxies, ","), "10.0.0.0/8,::1" }},
		{"explicit database url", "database:\n  url: postgres://u@db/myaccount\n",
			func(c *Config) (any, any) { return c.DatabaseDriver(), DriverPostgres }},
		{"master key", "keys:\n  master_key: " + validKey + "\n",
			func(c *Config) (any, any) { return c.Keys.MasterKey, validKey }},
		{"https issuer means secure cookies", "issuer: https://id.example.com\n",
			func(c *Config) (any, any) { return c.SecureCookies(), true }},
		{"log", "log:\n  level: debug\n  format: json\n",
			func(c *Config) (any, any) { return c.Log.Level + "/" + c.Log.Format, "debug/json" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, t.TempDir(), "c.yaml", tt.yaml), nil)
			if err != nil {
				t.Fatalf("Load: got error %v, want none", err)
			}
			if got, want := tt.check(cfg); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "issuer: http://localhost:8080\nisuer: x\n", []string{"isuer", "line 2"}},
		{"unknown nested key", "mail:\n  smtp:\n    hostname: x\n", []string{"hostname", "line 3"}},
		{"wrong type", "mail:\n  smtp:\n    port: many\n", []string{"line 3", "many"}},
		{"second document", "listen: ':1'\n---\nlisten: ':2'\n", []string{"single YAML document"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, t.TempDir(), "c.yaml", tt.yaml), nil)
			wantErrContaining(t, err, tt.want...)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
		wantErrContaining(t, err, "nope.yaml")
	})
}

func TestDurationParsing(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    time.Duration
		wantErr string
	}{
		{"minutes", "15m", 15 * time.Minute, ""},
		{"hours", "20h", 20 * time.Hour, ""},
		{"compound", "1h30m", 90 * time.Minute, ""},
		{"quoted", `"60s"`, time.Minute, ""},
		{"missing unit", "900", 0, "invalid duration \"900\""},
		{"garbage", "soon", 0, "invalid duration \"soon\""},
		{"sequence", "[1m]", 0, "expected a duration string"},
		{"mapping", "{m: 1}", 0, "expected a duration string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := "tokens:\n  access_token_ttl: " + tt.value + "\n"
			cfg, err := Load(writeFile(t, t.TempDir(), "c.yaml", yml), nil)
			if tt.wantErr != "" {
				wantErrContaining(t, err, tt.wantErr, "line 2")
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := cfg.Tokens.AccessTokenTTL.Std(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDurationMarshalRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"hours", 720 * time.Hour, "720h"},
		{"minutes", 15 * time.Minute, "15m"},
		{"seconds", 60 * time.Second, "1m"},
		{"mixed", 90*time.Minute + 5*time.Second, "1h30m5s"},
		{"sub-second", 1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := yaml.Marshal(struct {
				D Duration `yaml:"d"`
			}{Duration(tt.d)})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(out), "d: "+tt.want+"\n"; got != want {
				t.Errorf("marshal: got %q, want %q", got, want)
			}
			var back struct {
				D Duration `yaml:"d"`
			}
			if err := yaml.Unmarshal(out, &back); err != nil {
				t.Fatal(err)
			}
			if got := back.D.Std(); got != tt.d {
				t.Errorf("round trip: got %v, want %v", got, tt.d)
			}
		})
	}
}

func TestEnvOverridesBeatFile(t *testing.T) {
	file := `issuer: https://file.example.com
listen: ":7000"
data_dir: /srv/file
database:
  url: /srv/file/x.db
mail:
  from: File <file@example.com>
  smtp:
    host: file.example.com
    port: 25
    username: fileuser
    password: filepass
    starttls: none
security:
  trusted_proxies: [192.0.2.1]
log:
  level: warn
  format: text
`
	tests := []struct {
		name  string
		env   map[string]string
		check func(c *Config) (got, want any)
	}{
		{"file value kept without env", nil,
			func(c *Config) (any, any) { return c.Issuer, "https://file.example.com" }},
		{"issuer", map[string]string{"MYACCOUNT_ISSUER": "https://env.example.com"},
			func(c *Config) (any, any) { return c.Issuer, "https://env.example.com" }},
		{"listen", map[string]string{"MYACCOUNT_LISTEN": ":9999"},
			func(c *Config) (any, any) { return c.Listen, ":9999" }},
		{"data dir", map[string]string{"MYACCOUNT_DATA_DIR": "/srv/env"},
			func(c *Config) (any, any) { return c.DataDir, "/srv/env" }},
		{"database url", map[string]string{"MYACCOUNT_DATABASE_URL": "postgresql://db/x"},
			func(c *Config) (any, any) { return c.Database.URL, "postgresql://db/x" }},
		{"database prewarm off", map[string]string{"MYACCOUNT_DATABASE_PREWARM": "false"},
			func(c *Config) (any, any) { return c.Database.Prewarm, false }},
		{"database prewarm on by default", nil,
			func(c *Config) (any, any) { return c.Database.Prewarm, true }},
		{"master key", map[string]string{"MYACCOUNT_MASTER_KEY": validKey},
			func(c *Config) (any, any) { return c.Keys.MasterKey, validKey }},
		{"keys openssl", map[string]string{"MYACCOUNT_KEYS_OPENSSL": "off"},
			func(c *Config) (any, any) { return c.Keys.OpenSSL, "off" }},
		{"mail from", map[string]string{"MYACCOUNT_MAIL_FROM": "Env <env@example.com>"},
			func(c *Config) (any, any) { return c.Mail.From, "Env <env@example.com>" }},
		{"smtp host", map[string]string{"MYACCOUNT_SMTP_HOST": "env.example.com"},
			func(c *Config) (any, any) { return c.Mail.SMTP.Host, "env.example.com" }},
		{"smtp port", map[string]string{"MYACCOUNT_SMTP_PORT": "2525"},
			func(c *Config) (any, any) { return c.Mail.SMTP.Port, 2525 }},
		{"smtp username", map[string]string{"MYACCOUNT_SMTP_USERNAME": "envuser"},
			func(c *Config) (any, any) { return c.Mail.SMTP.Username, "envuser" }},
		{"smtp password", map[string]string{"MYACCOUNT_SMTP_PASSWORD": "envpass"},
			func(c *Config) (any, any) { return c.Mail.SMTP.Password, "envpass" }},
		{"smtp starttls", map[string]string{"MYACCOUNT_SMTP_STARTTLS": "opportunistic"},
			func(c *Config) (any, any) { return c.Mail.SMTP.StartTLS, "opportunistic" }},
		{"trusted proxies", map[string]string{"MYACCOUNT_TRUSTED_PROXIES": " 10.0.0.0/8, ,fd00::/8 "},
			func(c *Config) (any, any) { return strings.Join(c.Security.TrustedProxies, "|"), "10.0.0.0/8|fd00::/8" }},
		{"password hash memory", map[string]string{"MYACCOUNT_PASSWORD_HASH_MEMORY_KIB": " 47104 "},
			func(c *Config) (any, any) { return c.Security.PasswordHashMemoryKiB, 47104 }},
		{"password hash iterations", map[string]string{"MYACCOUNT_PASSWORD_HASH_ITERATIONS": "3"},
			func(c *Config) (any, any) { return c.Security.PasswordHashIterations, 3 }},
		{"log level", map[string]string{"MYACCOUNT_LOG_LEVEL": "debug"},
			func(c *Config) (any, any) { return c.Log.Level, "debug" }},
		{"log format", map[string]string{"MYACCOUNT_LOG_FORMAT": "json"},
			func(c *Config) (any, any) { return c.Log.Format, "json" }},
		{"empty variable counts as unset", map[string]string{"MYACCOUNT_ISSUER": ""},
			func(c *Config) (any, any) { return c.Issuer, "https://file.example.com" }},
	}
	path := writeFile(t, t.TempDir(), "c.yaml", file)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(path, envMap(tt.env))
			if err != nil {
				t.Fatalf("Load: got error %v, want none", err)
			}
			if got, want := tt.check(cfg); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"non-numeric port", map[string]string{"MYACCOUNT_SMTP_PORT": "smtp"}, []string{"MYACCOUNT_SMTP_PORT", `"smtp"`}},
		{"port out of range", map[string]string{"MYACCOUNT_SMTP_PORT": "70000"}, []string{"mail.smtp.port", "70000"}},
		{"bad level", map[string]string{"MYACCOUNT_LOG_LEVEL": "verbose"}, []string{"log.level", "verbose"}},
		{"prewarm not a boolean", map[string]string{"MYACCOUNT_DATABASE_PREWARM": "sometimes"},
			[]string{"MYACCOUNT_DATABASE_PREWARM", "true or false"}},
		{"non-numeric hash memory", map[string]string{"MYACCOUNT_PASSWORD_HASH_MEMORY_KIB": "19MiB"},
			[]string{"MYACCOUNT_PASSWORD_HASH_MEMORY_KIB", `"19MiB"`}},
		{"weak hash from env", map[string]string{"MYACCOUNT_PASSWORD_HASH_ITERATIONS": "1"},
			[]string{"security.password_hash_memory_kib", "19456 KiB with 1 passes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", envMap(tt.env))
			wantErrContaining(t, err, tt.want...)
		})
	}
}

func TestDerivedDatabaseURL(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{"default data dir", "", nil, filepath.Join("data", "myaccount.db")},
		{"data dir from file", "data_dir: /srv/file\n", nil, filepath.Join("/srv/file", "myaccount.db")},
		{"data dir from env beats file", "data_dir: /srv/file\n", map[string]string{"MYACCOUNT_DATA_DIR": "/srv/env"},
			filepath.Join("/srv/env", "myaccount.db")},
		{"explicit url not rewritten by env data dir", "database:\n  url: /db/explicit.db\n",
			map[string]string{"MYACCOUNT_DATA_DIR": "/srv/env"}, "/db/explicit.db"},
		{"env url wins", "data_dir: /srv/file\n", map[string]string{"MYACCOUNT_DATABASE_URL": "file:/x.db"}, "file:/x.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, t.TempDir(), "c.yaml", tt.yaml), envMap(tt.env))
			if err != nil {
				t.Fatalf("Load: got error %v, want none", err)
			}
			if got := cfg.Database.URL; got != tt.want {
				t.Errorf("Database.URL: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFileIndirection(t *testing.T) {
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "master.key", validKey+"\n")
	keyFileCRLF := writeFile(t, dir, "master-crlf.key", validKey+"\r\n")
	passFile := writeFile(t, dir, "smtp.pass", "s3cret pass \n")
	emptyFile := writeFile(t, dir, "empty", "\n")
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name     string
		yaml     string
		env      map[string]string
		wantKey  string
		wantPass string
		wantErr  []string
	}{
		{name: "master_key_file in yaml", yaml: "keys:\n  master_key_file: " + keyFile + "\n", wantKey: validKey},
		{name: "CRLF trimmed", yaml: "keys:\n  master_key_file: " + keyFileCRLF + "\n", wantKey: validKey},
		{name: "password_file in yaml keeps inner and trailing spaces",
			yaml: "mail:\n  smtp:\n    password_file: " + passFile + "\n", wantPass: "s3cret pass "},
		{name: "_FILE from env", env: map[string]string{
			"MYACCOUNT_MASTER_KEY_FILE": keyFile, "MYACCOUNT_SMTP_PASSWORD_FILE": passFile,
		}, wantKey: validKey, wantPass: "s3cret pass "},
		{name: "env value replaces file's _file", yaml: "mail:\n  smtp:\n    password_file: " + missing + "\n",
			env: map[string]string{"MYACCOUNT_SMTP_PASSWORD": "fromenv"}, wantPass: "fromenv"},
		{name: "env _FILE replaces file's value", yaml: "keys:\n  master_key: not-base64!\n",
			env: map[string]string{"MYACCOUNT_MASTER_KEY_FILE": keyFile}, wantKey: validKey},
		{name: "both set in yaml", yaml: "keys:\n  master_key: " + validKey + "\n  master_key_file: " + keyFile + "\n",
			wantErr: []string{"keys.master_key and keys.master_key_file are both set"}},
		{name: "both set in env", env: map[string]string{
			"MYACCOUNT_SMTP_PASSWORD": "x", "MYACCOUNT_SMTP_PASSWORD_FILE": passFile,
		}, wantErr: []string{"mail.smtp.password and mail.smtp.password_file are both set"}},
		{name: "missing file", yaml: "keys:\n  master_key_file: " + missing + "\n",
			wantErr: []string{"keys.master_key_file", "missing"}},
		{name: "empty file", yaml: "mail:\n  smtp:\n    password_file: " + emptyFile + "\n",
			wantErr: []string{"mail.smtp.password_file", "is empty"}},
		{name: "file with bad key is validated", yaml: "keys:\n  master_key_file: " + passFile + "\n",
			wantErr: []string{"keys.master_key: not valid standard base64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, t.TempDir(), "c.yaml", tt.yaml), envMap(tt.env))
			if tt.wantErr != nil {
				wantErrContaining(t, err, tt.wantErr...)
				if err != nil && strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q leaks the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: got error %v, want none", err)
			}
			if got := cfg.Keys.MasterKey; got != tt.wantKey {
				t.Errorf("MasterKey: got %q, want %q", got, tt.wantKey)
			}
			if got := cfg.Mail.SMTP.Password; got != tt.wantPass {
				t.Errorf("SMTP.Password: got %q, want %q", got, tt.wantPass)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Issuer = "http://id.example.com/?x=1"
	c.Listen = "8080"
	c.Keys.MasterKey = base64.StdEncoding.EncodeToString(make([]byte, 16))
	c.Tokens.IDTokenTTL = 0
	c.Tokens.AccessTokenTTL = Duration(1000 * time.Hour)
	c.Session.IdleTTL = Duration(-time.Second)
	c.Session.CookieName = "my session"
	c.Mail.From = "not an address"
	c.Mail.SMTP.Port = 0
	c.Mail.SMTP.StartTLS = "always"
	c.UI.AccentColor = "blue"
	c.UI.LogoURL = "javascript:alert(1)"
	c.Security.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33", "proxy.local", "0.0.0.0/0", "::/0", "::ffff:192.168.0.0/112"}
	c.Security.MaxBodyBytes = 0
	c.Log.Level = "trace"
	c.Log.Format = "xml"
	c.Database.URL = "mysql://db/x"

	err := c.Validate()
	want := []string{
		"issuer: \"http://id.example.com/?x=1\" uses http",
		"must not have a query or fragment",
		"listen: \"8080\" is not host:port",
		"keys.master_key: decodes to 16 bytes, want 32",
		"tokens.id_token_ttl: must be positive",
		"tokens.access_token_ttl: 1000h exceeds tokens.refresh_token_ttl 720h",
		"session.idle_ttl: must be positive, got -1s",
		"session.cookie_name",
		"mail.from",
		"mail.smtp.port: 0 is out of range",
		"mail.smtp.starttls: \"always\"",
		"ui.accent_color: \"blue\"",
		"ui.logo_url",
		"security.trusted_proxies: \"10.0.0.0/33\"",
		"security.trusted_proxies: \"proxy.local\"",
		"security.trusted_proxies: \"0.0.0.0/0\" trusts every address",
		"security.trusted_proxies: \"::/0\" trusts every address",
		"security.trusted_proxies: \"::ffff:192.168.0.0/112\" is IPv4 written as IPv6",
		"security.max_body_bytes: must be positive",
		"log.level: \"trace\"",
		"log.format: \"xml\"",
		"database.url: unsupported scheme \"mysql\"",
	}
	for _, w := range want {
		t.Run(w, func(t *testing.T) {
			wantErrContaining(t, err, w)
		})
	}
	if err != nil && strings.Contains(err.Error(), "\"10.0.0.0/8\"") {
		t.Errorf("valid proxy reported as a problem: %v", err)
	}
}

func TestValidateIssuer(t *testing.T) {
	tests := []struct {
		name    string
		issuer  string
		wantErr string // "" means valid
	}{
		{"https", "https://id.example.com", ""},
		{"https with path", "https://example.com/id", ""},
		{"https with port", "https://id.example.com:8443", ""},
		{"http localhost", "http://localhost:8080", ""},
		{"http LOCALHOST", "http://LOCALHOST", ""},
		{"http 127.0.0.1", "http://127.0.0.1:8080", ""},
		{"http [::1]", "http://[::1]:8080", ""},
		{"http public host", "http://id.example.com", "only allowed for localhost"},
		{"http 127.0.0.2", "http://127.0.0.2", "only allowed for localhost"},
		{"empty", "", "must not be empty"},
		{"relative", "/id", "absolute URL"},
		{"no scheme", "id.example.com", "absolute URL"},
		{"ftp", "ftp://id.example.com", "must use http or https"},
		{"query", "https://id.example.com?a=b", "query or fragment"},
		{"empty query", "https://id.example.com?", "query or fragment"},
		{"fragment", "https://id.example.com#x", "query or fragment"},
		{"empty fragment", "https://id.example.com#", "query or fragment"},
		{"trailing slash", "https://id.example.com/", "must not end with a slash"},
		{"user info", "https://u:p@id.example.com", "user info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Issuer = tt.issuer
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("got error %v, want none", err)
				}
				return
			}
			wantErrContaining(t, err, "issuer:", tt.wantErr)
		})
	}
}

func TestValidateSingleFields(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr string // "" means valid
	}{
		{"listen with host", func(c *Config) { c.Listen = "127.0.0.1:8080" }, ""},
		{"listen ipv6", func(c *Config) { c.Listen = "[::1]:8080" }, ""},
		{"listen port 0", func(c *Config) { c.Listen = ":0" }, ""},
		{"listen empty", func(c *Config) { c.Listen = "" }, "listen:"},
		{"listen named port", func(c *Config) { c.Listen = ":http" }, "must be a number"},
		{"listen port too large", func(c *Config) { c.Listen = ":65536" }, "must be a number"},
		{"master key valid", func(c *Config) { c.Keys.MasterKey = validKey }, ""},
		{"master key url base64", func(c *Config) {
			c.Keys.MasterKey = base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xff, 0xfe,
				0xfd, 0xfc, 0xfb, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xff, 0xfe, 0xfd, 0xfc, 0xfb,
				0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xff})
		}, "not valid standard base64"},
		{"master key too long", func(c *Config) { c.Keys.MasterKey = base64.StdEncoding.EncodeToString(make([]byte, 33)) },
			"decodes to 33 bytes"},
		{"access equals refresh", func(c *Config) {
			c.Tokens.AccessTokenTTL, c.Tokens.RefreshTokenTTL = Duration(time.Hour), Duration(time.Hour)
		}, ""},
		{"access exceeds refresh", func(c *Config) {
			c.Tokens.AccessTokenTTL, c.Tokens.RefreshTokenTTL = Duration(2*time.Hour), Duration(time.Hour)
		}, "tokens.access_token_ttl: 2h exceeds tokens.refresh_token_ttl 1h"},
		{"rotation zero", func(c *Config) { c.Keys.RotationPeriod = 0 }, "keys.rotation_period: must be positive"},
		{"openssl off", func(c *Config) { c.Keys.OpenSSL = "off" }, ""},
		{"openssl unknown", func(c *Config) { c.Keys.OpenSSL = "on" }, "keys.openssl: must be auto or off"},
		{"auth code zero", func(c *Config) { c.Tokens.AuthCodeTTL = 0 }, "tokens.auth_code_ttl"},
		{"auth code 10m", func(c *Config) { c.Tokens.AuthCodeTTL = Duration(10 * time.Minute) }, ""},
		{"auth code over 10m", func(c *Config) { c.Tokens.AuthCodeTTL = Duration(11 * time.Minute) },
			"tokens.auth_code_ttl: must be at most 10m, got 11m"},
		{"access token a day", func(c *Config) { c.Tokens.AccessTokenTTL = Duration(24 * time.Hour) }, ""},
		{"access token over a day", func(c *Config) { c.Tokens.AccessTokenTTL = Duration(25 * time.Hour) },
			"tokens.access_token_ttl: must be at most 24h, got 25h"},
		{"id token over a day", func(c *Config) { c.Tokens.IDTokenTTL = Duration(48 * time.Hour) }, "tokens.id_token_ttl: must be at most 24h"},
		{"refresh a year", func(c *Config) { c.Tokens.RefreshTokenTTL = Duration(8760 * time.Hour) }, ""},
		{"refresh over a year", func(c *Config) { c.Tokens.RefreshTokenTTL = Duration(720 * 24 * time.Hour) },
			"tokens.refresh_token_ttl: must be at most 8760h"},
		{"session over a year", func(c *Config) { c.Session.TTL = Duration(9000 * time.Hour) }, "session.ttl: must be at most 8760h"},
		{"auth request over a day", func(c *Config) { c.Tokens.AuthRequestTTL = Duration(30 * 24 * time.Hour) }, "tokens.auth_request_ttl"},
		{"database timeout over 5m", func(c *Config) { c.Database.Timeout = Duration(time.Hour) }, "database.timeout: must be at most 5m"},
		{"accent upper case", func(c *Config) { c.UI.AccentColor = "#ABCDEF" }, ""},
		{"accent short form", func(c *Config) { c.UI.AccentColor = "#abc" }, "ui.accent_color"},
		{"accent css injection", func(c *Config) { c.UI.AccentColor = "#2563eb;}" }, "ui.accent_color"},
		{"logo https", func(c *Config) { c.UI.LogoURL = "https://cdn.example.com/logo.svg" }, ""},
		{"logo path", func(c *Config) { c.UI.LogoURL = "/static/logo.svg" }, ""},
		{"logo data", func(c *Config) { c.UI.LogoURL = "data:image/png;base64,AAAA" }, "ui.logo_url"},
		{"logo protocol-relative", func(c *Config) { c.UI.LogoURL = "//evil.example/x.png" }, "ui.logo_url"},
		{"proxies ip and cidr", func(c *Config) { c.Security.TrustedProxies = []string{"192.0.2.7", "2001:db8::/32"} }, ""},
		{"claim lease 3s", func(c *Config) { c.Mail.ClaimLease = Duration(3 * time.Second) }, ""},
		{"claim lease under 3s", func(c *Config) { c.Mail.ClaimLease = Duration(2 * time.Second) },
			"mail.claim_lease: must be between 3s and 10m, got 2s"},
		{"claim lease over 10m", func(c *Config) { c.Mail.ClaimLease = Duration(11 * time.Minute) }, "mail.claim_lease"},
		{"smtp port max", func(c *Config) { c.Mail.SMTP.Port = 65535 }, ""},
		{"smtp port too large", func(c *Config) { c.Mail.SMTP.Port = 65536 }, "mail.smtp.port"},
		{"starttls none", func(c *Config) { c.Mail.SMTP.StartTLS = StartTLSNone }, ""},
		{"starttls upper case", func(c *Config) { c.Mail.SMTP.StartTLS = "Mandatory" }, "mail.smtp.starttls"},
		{"from bare address", func(c *Config) { c.Mail.From = "noreply@example.com" }, ""},
		{"cookie empty", func(c *Config) { c.Session.CookieName = "" }, "session.cookie_name"},
		{"cookie with semicolon", func(c *Config) { c.Session.CookieName = "a;b" }, "session.cookie_name"},
		{"cookie __Host- prefix", func(c *Config) { c.Session.CookieName = "__Host-myaccount" }, ""},
		{"postgres url", func(c *Config) { c.Database.URL = "postgres://u:p@db:5432/x?sslmode=require" }, ""},
		{"file url", func(c *Config) { c.Database.URL = "file:///var/lib/x.db?_busy_timeout=5000" }, ""},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir: must not be empty"},
		{"empty product name", func(c *Config) { c.UI.ProductName = "" }, "ui.product_name"},
		{"log level upper case", func(c *Config) { c.Log.Level = "INFO" }, "log.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("got error %v, want none", err)
				}
				return
			}
			wantErrContaining(t, err, tt.wantErr)
		})
	}
}

func TestDatabaseDriver(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"relative path", "data/myaccount.db", DriverSQLite},
		{"absolute path", "/var/lib/myaccount/db.sqlite", DriverSQLite},
		{"file url", "file:data/x.db?_foreign_keys=on", DriverSQLite},
		{"file url with slashes", "file:///var/x.db", DriverSQLite},
		{"windows path", `C:\data\x.db`, DriverSQLite},
		{"postgres", "postgres://u@h/db", DriverPostgres},
		{"postgresql", "postgresql://u@h/db", DriverPostgres},
		{"upper case scheme", "POSTGRES://u@h/db", DriverPostgres},
		{"postgres-like path", "./postgres/db.sqlite", DriverSQLite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Database: Database{URL: tt.url}}
			if got := c.DatabaseDriver(); got != tt.want {
				t.Errorf("DatabaseDriver(%q): got %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

func TestSecureCookies(t *testing.T) {
	tests := []struct {
		name   string
		issuer string
		want   bool
	}{
		{"https", "https://id.example.com", true},
		{"HTTPS", "HTTPS://id.example.com", true},
		{"http", "http://localhost:8080", false},
		{"garbage", "::", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Issuer: tt.issuer}
			if got := c.SecureCookies(); got != tt.want {
				t.Errorf("SecureCookies(%q): got %v, want %v", tt.issuer, got, tt.want)
			}
		})
	}
}

func TestMasterKeyBytes(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		wantLen int
		wantErr bool
	}{
		{"unset means generate", "", 0, false},
		{"valid", validKey, 32, false},
		{"short", base64.StdEncoding.EncodeToString(make([]byte, 31)), 0, true},
		{"not base64", "%%%", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Keys: Keys{MasterKey: tt.key}}
			b, err := c.MasterKeyBytes()
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("error: got %v, want error=%v", err, tt.wantErr)
			}
			if len(b) != tt.wantLen {
				t.Errorf("len: got %d, want %d", len(b), tt.wantLen)
			}
		})
	}
}

func TestTrustedProxyPrefixes(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    string
		wantErr bool
	}{
		{"empty", []string{}, "", false},
		{"single ipv4 becomes /32", []string{"192.0.2.7"}, "192.0.2.7/32", false},
		{"single ipv6 becomes /128", []string{"::1"}, "::1/128", false},
		{"host bits masked", []string{"10.1.2.3/8"}, "10.0.0.0/8", false},
		{"invalid", []string{"10.0.0.0/8", "nope"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Security{TrustedProxies: tt.in}.TrustedProxyPrefixes()
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("error: got %v, want error=%v", err, tt.wantErr)
			}
			var parts []string
			for _, p := range got {
				parts = append(parts, p.String())
			}
			if s := strings.Join(parts, ","); s != tt.want {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}

func TestRedactedDatabaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:hunter2@db:5432/x?sslmode=require": "postgres://app:xxxxx@db:5432/x?sslmode=require",
		"postgresql://db/x?user=app&password=hunter2":      "postgresql://db/x?password=xxxxx&user=app",
		"host=db user=app password=hunter2 dbname=x":       "host=db user=app password=xxxxx dbname=x",
		"host=db password='hun ter2' dbname=x":             "host=db password=xxxxx dbname=x",
		"/var/lib/myaccount/myaccount.db":                  "/var/lib/myaccount/myaccount.db",
		"file:/var/lib/x.db?_busy_timeout=5000":            "file:/var/lib/x.db?_busy_timeout=5000",
	} {
		c := &Config{Database: Database{URL: in}}
		if got := c.RedactedDatabaseURL(); got != want || strings.Contains(got, "hunter2") || strings.Contains(got, "hun ter2") {
			t.Errorf("RedactedDatabaseURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDatabaseURLFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(f, []byte("postgres://app:pw@db/x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("", func(k string) string {
		if k == "MYACCOUNT_DATABASE_URL_FILE" {
			return f
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.URL != "postgres://app:pw@db/x" || cfg.DatabaseDriver() != DriverPostgres {
		t.Errorf("url from file: %q (%s)", cfg.Database.URL, cfg.DatabaseDriver())
	}
	if _, err := Load("", func(k string) string {
		return map[string]string{"MYACCOUNT_DATABASE_URL_FILE": f, "MYACCOUNT_DATABASE_URL": "postgres://other/x"}[k]
	}); err == nil {
		t.Error("both MYACCOUNT_DATABASE_URL and its _FILE accepted")
	}
}

// tokens.access_token_alg takes exactly the algorithms the key manager signs with.
func TestValidateAccessTokenAlg(t *testing.T) {
	for alg, ok := range map[string]bool{"ES256": true, "RS256": true, "EdDSA": true,
		"": false, "es256": false, "HS256": false, "none": false, "PS256": false, "Ed25519": false} {
		c := Default()
		c.Tokens.AccessTokenAlg = alg
		err := c.Validate()
		if (err == nil) != ok {
			t.Errorf("access_token_alg %q: got %v, want accepted %v", alg, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "RS256, ES256, EdDSA") {
			t.Errorf("access_token_alg %q: error %q does not list the algorithms", alg, err)
		}
	}
}

// The argon2id cost is configurable, but never below what OWASP recommends: every one of its
// sets, or more of either, is accepted; less than all of them is refused, as are values the
// hash parser would not read back.
func TestValidatePasswordHash(t *testing.T) {
	for _, tt := range []struct {
		kib, iterations int
		ok              bool
	}{
		{19456, 2, true}, {47104, 1, true}, {12288, 3, true}, {9216, 4, true}, {7168, 5, true},
		{65536, 3, true}, {262144, 10, true}, {7168, 10, true},
		{19455, 2, false}, {47103, 1, false}, {7167, 5, false}, {12288, 2, false}, {1 << 20, 1, false},
		{262145, 2, false}, {19456, 11, false}, {0, 2, false}, {19456, 0, false}, {-1, 2, false}, {1 << 40, 2, false},
	} {
		c := Default()
		c.Security.PasswordHashMemoryKiB, c.Security.PasswordHashIterations = tt.kib, tt.iterations
		err := c.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%d KiB, t=%d: got %v, want accepted %v", tt.kib, tt.iterations, err, tt.ok)
		}
		// The setting out of its range is named; a pair in range but under OWASP's sets is
		// the memory setting's, with the iterations.
		want := "security.password_hash_memory_kib"
		if tt.kib >= 1 && tt.kib <= secret.MaxMemoryKiB && (tt.iterations < 1 || tt.iterations > secret.MaxIterations) {
			want = "security.password_hash_iterations"
		}
		if err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%d KiB, t=%d: error %q does not name %s", tt.kib, tt.iterations, err, want)
		}
	}
	if p := Default().Security.PasswordHash(); p != secret.DefaultParams() {
		t.Errorf("default password hash %+v, want secret.DefaultParams %+v", p, secret.DefaultParams())
	}
}

// A master key that is a placeholder (all zeros, a repeated byte) is refused; 32 random
// bytes are accepted.
func TestMasterKeyMustLookRandom(t *testing.T) {
	for _, k := range [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xab}, 32), bytes.Repeat([]byte{1, 2, 3, 4}, 8)} {
		c := Default()
		c.Keys.MasterKey = base64.StdEncoding.EncodeToString(k)
		if _, err := c.MasterKeyBytes(); err == nil || !strings.Contains(err.Error(), "keys.master_key") {
			t.Errorf("master key %x: %v, want refused", k, err)
		}
	}
	c := Default()
	c.Keys.MasterKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdefghijklmnopqrstuv"))
	if _, err := c.MasterKeyBytes(); err != nil {
		t.Errorf("a key of 32 distinct bytes: %v", err)
	}
}

// Lockout windows and locks must fit in what the store keeps of a counter.
func TestLockoutFitsCounterRetention(t *testing.T) {
	if CounterRetention != sqlstore.CounterRetention {
		t.Fatalf("config.CounterRetention %s, the store keeps counters %s", CounterRetention, sqlstore.CounterRetention)
	}
	c := Default()
	c.Accounts.LockoutWindow = Duration(8 * 24 * time.Hour)
	c.Accounts.LockoutMax = Duration(7 * 24 * time.Hour)
	err := c.Validate()
	for _, want := range []string{"accounts.lockout_window", "accounts.lockout_max"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want %s refused", err, want)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
