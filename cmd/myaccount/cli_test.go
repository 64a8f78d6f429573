package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// cli runs the command line against a data directory of its own.
type cli struct {
	t   *testing.T
	dir string
}

func newCLI(t *testing.T) *cli { return &cli{t: t, dir: t.TempDir()} }

func (c *cli) run(stdin string, args ...string) (string, string, error) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(k string) string {
		if k == "MYACCOUNT_DATA_DIR" {
			return c.dir
		}
		return ""
	}}
	err := run(context.Background(), e, args)
	return out.String(), errOut.String(), err
}

func (c *cli) mustRun(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("%v: %v\n%s", args, err, errOut)
	}
	return out
}

func TestClientCreateJSONAndLifecycle(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("", "client", "create", "--name", "Portal", "--type", "confidential",
		"--redirect-uri", "https://portal.example/cb", "--redirect-uri", "https://portal.example/cb2",
		"--post-logout-redirect-uri", "https://portal.example/bye", "--first-party", "--json")
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if created.ClientID == "" || len(created.ClientSecret) < 40 {
		t.Fatalf("created = %+v, want an id and a high-entropy secret", created)
	}
	// show never prints the secret or its hash.
	show := c.mustRun("", "client", "show", created.ClientID, "--json")
	if strings.Contains(show, created.ClientSecret) || strings.Contains(show, secret.HashToken(created.ClientSecret)) {
		t.Fatal("client show leaks the secret")
	}
	var v clientView
	if err := json.Unmarshal([]byte(show), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.RedirectURIs) != 2 || !v.FirstParty || strings.Join(v.GrantTypes, ",") != "authorization_code,refresh_token" {
		t.Errorf("show = %+v", v)
	}
	list := c.mustRun("", "client", "list", "--json")
	if !strings.Contains(list, created.ClientID) {
		t.Errorf("list does not contain the client: %s", list)
	}
	rot := c.mustRun("", "client", "rotate-secret", created.ClientID, "--json")
	if strings.Contains(rot, created.ClientSecret) || !strings.Contains(rot, "client_secret") {
		t.Errorf("rotate-secret output %q", rot)
	}
	c.mustRun("", "client", "delete", created.ClientID)
	if _, _, err := c.run("", "client", "show", created.ClientID); err == nil {
		t.Error("deleted client still shown")
	}
}

func TestClientCreateRefusesBadInput(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"--type", "public", "--redirect-uri", "https://a.example/cb"}, "--name"},
		{"bad type", []string{"--name", "x", "--type", "weird", "--redirect-uri", "https://a.example/cb"}, "--type"},
		{"no redirect", []string{"--name", "x", "--type", "public"}, "--redirect-uri"},
		{"fragment", []string{"--name", "x", "--type", "public", "--redirect-uri", "https://a.example/cb#x"}, "not allowed"},
		{"http off loopback", []string{"--name", "x", "--type", "confidential", "--redirect-uri", "http://a.example/cb"}, "not allowed"},
		{"custom scheme for web", []string{"--name", "x", "--type", "public", "--redirect-uri", "com.example.app:/cb"}, "not allowed"},
		{"client_credentials for public", []string{"--name", "x", "--type", "public", "--grant-type", "client_credentials"}, "confidential"},
		{"unknown grant", []string{"--name", "x", "--type", "confidential", "--grant-type", "password"}, "not supported"},
		{"bad format", []string{"--name", "x", "--type", "public", "--redirect-uri", "https://a.example/cb", "--access-token-format", "xml"}, "jwt or opaque"},
		{"bad id token alg", []string{"--name", "x", "--type", "public", "--redirect-uri", "https://a.example/cb", "--id-token-alg", "HS256"}, "RS256, ES256, EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := c.run("", append([]string{"client", "create"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	// A native app may use a reverse-domain private scheme and a loopback redirect.
	c.mustRun("", "client", "create", "--name", "Desktop", "--type", "native",
		"--redirect-uri", "com.example.app:/callback", "--redirect-uri", "http://127.0.0.1/callback")
	// Every algorithm we sign with may be chosen for ID tokens, and is kept.
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		var created struct {
			ClientID string `json:"client_id"`
		}
		must(t, json.Unmarshal([]byte(c.mustRun("", "client", "create", "--name", "Alg "+alg, "--type", "public",
			"--redirect-uri", "https://a.example/cb", "--id-token-alg", alg, "--json")), &created))
		var v map[string]any
		must(t, json.Unmarshal([]byte(c.mustRun("", "client", "show", created.ClientID, "--json")), &v))
		if v["id_token_alg"] != alg {
			t.Errorf("--id-token-alg %s: client show says %v", alg, v["id_token_alg"])
		}
	}
}

func TestUserLifecycle(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("a very long password\n", "user", "create", "--email", "Ada@Example.com", "--password-stdin", "--json")
	var u userView
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatal(err)
	}
	if u.Status != "active" || !u.EmailVerified {
		t.Errorf("created user = %+v, want active and verified", u)
	}
	if _, _, err := c.run("another long password\n", "user", "create", "--email", "ada@example.COM", "--password-stdin"); err == nil {
		t.Error("duplicate email (different case) accepted")
	}
	if _, _, err := c.run("short\n", "user", "create", "--email", "bob@example.com", "--password-stdin"); err == nil {
		t.Error("short password accepted")
	}
	// The server's blocklist applies here too: long enough, not predictable, but common.
	if _, _, err := c.run("password1234\n", "user", "create", "--email", "bob@example.com", "--password-stdin"); err == nil ||
		!strings.Contains(err.Error(), "common") {
		t.Errorf("a common password: %v, want refused as common", err)
	}
	if _, _, err := c.run("", "user", "create", "--email", "bob@example.com", "--password-stdin"); err == nil {
		t.Error("empty stdin accepted")
	}
	lock := c.mustRun("", "user", "lock", "ada@example.com", "--json")
	if !strings.Contains(lock, `"locked"`) {
		t.Errorf("lock output %s", lock)
	}
	c.mustRun("", "user", "unlock", u.ID)
	if show := c.mustRun("", "user", "show", "ada@example.com", "--json"); !strings.Contains(show, `"active"`) {
		t.Errorf("after unlock: %s", show)
	}
	if list := c.mustRun("", "user", "list"); !strings.Contains(list, "Ada@example.com") {
		t.Errorf("list: %s", list)
	}
	c.mustRun("", "user", "delete", "ada@example.com")
	if _, _, err := c.run("", "user", "show", "ada@example.com"); err == nil {
		t.Error("deleted user still shown")
	}
}

func TestKeysListRotate(t *testing.T) {
	c := newCLI(t)
	c.mustRun("", "migrate")
	var before []map[string]string
	if err := json.Unmarshal([]byte(c.mustRun("", "keys", "rotate", "--json")), &before); err != nil {
		t.Fatal(err)
	}
	var after []map[string]string
	if err := json.Unmarshal([]byte(c.mustRun("", "keys", "rotate", "--json")), &after); err != nil {
		t.Fatal(err)
	}
	active, retired := map[string]int{}, 0
	for _, k := range after {
		switch k["state"] {
		case "active":
			active[k["alg"]]++
		case "retired":
			retired++
		}
	}
	if len(active) != 3 || active["RS256"] != 1 || active["ES256"] != 1 || active["EdDSA"] != 1 || retired < 3 {
		t.Errorf("after two rotations: active %v, %d retired (%v); want one active RS256, ES256 and EdDSA key and the old ones retired", active, retired, after)
	}
	mk := strings.TrimSpace(c.mustRun("", "keys", "new-master-key"))
	if len(mk) != 44 {
		t.Errorf("new-master-key printed %q, want 32 bytes base64", mk)
	}
}

func TestUnknownCommand(t *testing.T) {
	c := newCLI(t)
	if _, _, err := c.run("", "frobnicate"); err == nil {
		t.Error("unknown command accepted")
	}
	if _, _, err := c.run(""); err == nil {
		t.Error("no command accepted")
	}
}

func TestUserSessionsAndSignout(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("a very long password\n", "user", "create", "--email", "ada@example.com", "--password-stdin", "--json")
	var u userView
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatal(err)
	}
	cl := c.mustRun("", "client", "create", "--name", "Vault", "--type", "native", "--redirect-uri", "http://127.0.0.1/cb", "--json")
	var created struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(cl), &created); err != nil {
		t.Fatal(err)
	}
	// Sign the account in somewhere: a browser session and an installation.
	ctx := context.Background()
	cfg, err := loadConfig(env{getenv: func(k string) string {
		if k == "MYACCOUNT_DATA_DIR" {
			return c.dir
		}
		return ""
	}}, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := st.CreateSession(ctx, &storage.Session{ID: "sess1", TokenHash: "h1", UserID: u.ID, AuthTime: now, UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0",
		IP: "192.0.2.1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateGrant(ctx, &storage.Grant{ID: "grant1", UserID: u.ID, ClientID: created.ClientID, Scopes: []string{"openid", "offline_access"},
		AuthTime: now, DeviceName: "Office laptop", CreatedAt: now, LastUsedAt: now}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var views []sessionView
	if err := json.Unmarshal([]byte(c.mustRun("", "user", "sessions", "ada@example.com", "--json")), &views); err != nil {
		t.Fatal(err)
	}
	if len(views) != 2 || views[0].Device != "Firefox on Linux" || views[1].Device != "Office laptop" || views[1].Client != "Vault" {
		t.Fatalf("sessions = %+v", views)
	}
	c.mustRun("", "user", "signout", "ada@example.com")
	if err := json.Unmarshal([]byte(c.mustRun("", "user", "sessions", "ada@example.com", "--json")), &views); err != nil {
		t.Fatal(err)
	}
	if len(views) != 0 {
		t.Errorf("after signout: %+v", views)
	}
}

func TestUserProfileFlags(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("a very long password\n", "user", "create", "--email", "ada@example.com", "--password-stdin",
		"--country", "de", "--region", "BY", "--timezone", "Europe/Berlin", "--date-format", "dmy-dot", "--locale", "de-CH", "--json")
	var u userView
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatal(err)
	}
	if u.Country != "DE" || u.Region != "BY" || u.ZoneInfo != "Europe/Berlin" || u.DateFormat != "dmy-dot" || u.Locale != "de-CH" {
		t.Errorf("created profile = %+v", u)
	}
	out = c.mustRun("", "user", "update", "ada@example.com", "--country", "FR", "--region", "ARA", "--timezone", "Europe/Paris", "--json")
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatal(err)
	}
	if u.Country != "FR" || u.ZoneInfo != "Europe/Paris" || u.Locale != "de-CH" {
		t.Errorf("updated profile = %+v", u)
	}
	for name, args := range map[string][]string{
		"unknown country":          {"--country", "XX"},
		"region elsewhere":         {"--country", "DE", "--region", "ZZ"},
		"bad zone":                 {"--timezone", "Mars/Olympus"},
		"bad format":               {"--date-format", "yyyy"},
		"bad locale":               {"--locale", "not a tag!"},
		"country needs its region": {"--country", "DE"},
		"nothing to set":           {},
	} {
		if _, _, err := c.run("", append([]string{"user", "update", "ada@example.com"}, args...)...); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// Without --country the account is asked for its profile at the next sign-in.
	out = c.mustRun("another long password\n", "user", "create", "--email", "bob@example.com", "--password-stdin", "--json")
	var bob userView
	if err := json.Unmarshal([]byte(out), &bob); err != nil || bob.Country != "" {
		t.Errorf("bob = %+v, %v", bob, err)
	}
}

func TestClientRequireMFA(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("", "client", "create", "--name", "Bank", "--type", "confidential", "--redirect-uri", "https://bank.example/cb", "--require-mfa", "--json")
	var created struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	var v clientView
	if err := json.Unmarshal([]byte(c.mustRun("", "client", "show", created.ClientID, "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if !v.RequireMFA {
		t.Error("--require-mfa not stored")
	}
}

// TestRefusesNewerSchema: migrate and serve refuse a database that a newer myaccount
// migrated, naming both versions; migrate otherwise reports the version it left.
func TestRefusesNewerSchema(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("", "migrate")
	all, err := sqlstore.LoadMigrations(sqlite.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	known := all[len(all)-1].Version
	if want := fmt.Sprintf("database schema is at version %d", known); !strings.Contains(out, want) {
		t.Fatalf("migrate printed %q, want %q", out, want)
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(c.dir, "myaccount.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQLX().ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 1)`, known+7); err != nil {
		t.Fatal(err)
	}
	db.Close()
	want := fmt.Sprintf("database schema is at version %d, this myaccount knows up to %d: upgrade myaccount, or restore a backup", known+7, known)
	for _, cmd := range []string{"migrate", "serve"} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		var stdout, stderr bytes.Buffer
		e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
			switch k {
			case "MYACCOUNT_DATA_DIR":
				return c.dir
			case "MYACCOUNT_LISTEN":
				return "127.0.0.1:0"
			}
			return ""
		}}
		err := run(ctx, e, []string{cmd})
		cancel()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", cmd, err, want)
		}
	}
}

// TestMissingMasterKeyNextToDatabase: once the database holds signing keys, a missing
// master.key is an error naming where it is expected, and no new key is generated, for the
// CLI as for serve.
func TestMissingMasterKeyNextToDatabase(t *testing.T) {
	c := newCLI(t)
	c.mustRun("", "keys", "rotate") // first use: generates master.key and signing keys
	path := filepath.Join(c.dir, "master.key")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"keys", "list"}, {"serve"}} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		var stdout, stderr bytes.Buffer
		e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
			switch k {
			case "MYACCOUNT_DATA_DIR":
				return c.dir
			case "MYACCOUNT_LISTEN":
				return "127.0.0.1:0"
			}
			return ""
		}}
		err := run(ctx, e, args)
		cancel()
		if !errors.Is(err, keys.ErrMasterKeyMissing) || !strings.Contains(err.Error(), path) {
			t.Errorf("%v: %v, want ErrMasterKeyMissing naming %s", args, err, path)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v generated a master key next to the existing database (%v)", args, err)
		}
	}
}

// user create and seed follow the configuration as the server does: the shortest password
// and the cost of the hash (a hash of another cost would be rewritten at the first sign-in).
func TestUserCreateAndSeedFollowConfiguredPasswordRules(t *testing.T) {
	c := newCLI(t)
	cfgPath := filepath.Join(t.TempDir(), "c.yaml")
	must(t, os.WriteFile(cfgPath, []byte("security:\n  password_hash_memory_kib: 7168\n  password_hash_iterations: 5\naccounts:\n  min_password_length: 20\n"), 0o600))
	if _, _, err := c.run("nineteen characters\n", "user", "create", "--config", cfgPath, "--email", "bob@example.com", "--password-stdin"); err == nil {
		t.Error("a 19-character password accepted with min_password_length 20")
	}
	c.mustRun("twenty characters ok\n", "user", "create", "--config", cfgPath, "--email", "ada@example.com", "--password-stdin")
	c.mustRun("", "seed", "--config", cfgPath, "--users", "2")
	db, err := sqlite.Open(t.Context(), filepath.Join(c.dir, "myaccount.db"))
	must(t, err)
	defer db.Close()
	for _, email := range []string{"ada@example.com", "seed1@example.com"} {
		u, err := db.GetUserByEmail(t.Context(), email)
		must(t, err)
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=7168,t=5,p=1$") {
			t.Errorf("%s: hash %q, want the configured m=7168,t=5", email, u.PasswordHash)
		}
		if (secret.Hasher{Params: secret.Params{Memory: 7168, Iterations: 5, Parallelism: 1}}).NeedsRehash(u.PasswordHash) {
			t.Errorf("%s: the server would rehash it", email)
		}
	}
}
