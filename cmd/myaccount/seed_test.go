package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// TestSeedSmall seeds a few rows of each kind and checks they are there, usable (the
// printed password verifies), and that a second run adds tokens without failing on users;
// on SQLite (multi-row INSERTs) and on PostgreSQL (COPY for everything but users).
func TestSeedSmall(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testSeedSmall(t, map[string]string{"MYACCOUNT_DATA_DIR": t.TempDir()}) })
	t.Run("postgres", func(t *testing.T) {
		testSeedSmall(t, map[string]string{"MYACCOUNT_DATA_DIR": t.TempDir(), "MYACCOUNT_DATABASE_URL": pgtest.URL(t)})
	})
}

func testSeedSmall(t *testing.T, vars map[string]string) {
	e := env{getenv: func(k string) string { return vars[k] }}
	seed := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		e.stdin, e.stdout, e.stderr = strings.NewReader(""), &out, &errOut
		err := run(context.Background(), e, append([]string{"seed"}, args...))
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, errOut.String())
		}
		return out.String(), err
	}
	out, err := seed("--users", "30", "--tokens", "1201", "--sessions", "40")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`the password (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no password printed:\n%s", out)
	}
	if _, err := seed("--users", "30", "--tokens", "10", "--sessions", "5"); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(e, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := st.(interface{ SQLX() *sqlx.DB }).SQLX()
	for table, want := range map[string]int{"users": 30, "sessions": 45, "grants": 601 + 5,
		"refresh_tokens": 606, "access_tokens": 606} {
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM "+table); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	u, err := st.GetUserByEmail(t.Context(), "seed29@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := secret.VerifyPassword(u.PasswordHash, m[1]); !ok || err != nil {
		t.Errorf("the printed password does not verify: %v %v", ok, err)
	}
	// A seeded refresh token reads back through the store like any other.
	var hash string
	if err := db.Get(&hash, "SELECT hash FROM refresh_tokens WHERE client_id = 'seed-app' LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetRefreshToken(t.Context(), hash); err != nil {
		t.Errorf("seeded refresh token: %v", err)
	}
	if _, err := seed("--tokens", "5"); err == nil {
		t.Error("tokens without users accepted")
	}
}

// TestBenchAgainstServe runs `serve` in this process on a loopback port and `bench` against
// it briefly with every scenario, and checks the table.
func TestBenchAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := mln.Addr().String()
	mln.Close()
	dir := t.TempDir()
	vars := map[string]string{"MYACCOUNT_DATA_DIR": dir, "MYACCOUNT_LISTEN": addr,
		"MYACCOUNT_ISSUER": "http://" + addr, "MYACCOUNT_LOG_LEVEL": "error", "MYACCOUNT_METRICS_LISTEN": metricsAddr}
	c := &cli{t: t, dir: dir}
	var svc, web struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	must(t, json.Unmarshal([]byte(c.mustRun("", "client", "create", "--name", "svc", "--type", "confidential",
		"--grant-type", "client_credentials", "--json")), &svc))
	must(t, json.Unmarshal([]byte(c.mustRun("", "client", "create", "--name", "web", "--type", "confidential",
		"--redirect-uri", "https://app.example/cb", "--first-party", "--json")), &web))
	pw := regexp.MustCompile(`the password (\S+)`).FindStringSubmatch(c.mustRun("", "seed", "--users", "3"))[1]

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var serveLog strings.Builder
	go func() {
		served <- run(ctx, env{stdout: &serveLog, stderr: &serveLog, getenv: func(k string) string { return vars[k] }}, []string{"serve"})
	}()
	defer func() {
		cancel()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, serveLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	out := c.mustRun("", "bench", "--issuer", "http://"+addr, "--client-id", svc.ClientID, "--client-secret", svc.ClientSecret,
		"--login-client-id", web.ClientID, "--login-client-secret", web.ClientSecret, "--redirect", "https://app.example/cb",
		"--password", pw, "--users", "3", "--workers", "2", "--duration", "300ms")
	for _, sc := range []string{"baseline", "discovery", "jwks", "client_credentials", "refresh", "introspection", "signin"} {
		// issuer, scenario, requests > 0, errors 0
		if !regexp.MustCompile(`(?m)^\S+\s+` + sc + `\s+[1-9]\d*\s+0\s`).MatchString(out) {
			t.Errorf("no successful %s row:\n%s", sc, out)
		}
	}
	if !strings.Contains(out, "vs baseline") || strings.Contains(out, "first error") {
		t.Errorf("bench output:\n%s", out)
	}
	// What each token answer carried, so that issuers are compared like for like: access
	// tokens ES256 by default, ID tokens RS256 unless the client registered otherwise.
	for _, want := range []string{": tokens in client_credentials answers: access_token JWT ES256\n",
		": tokens in refresh answers: access_token JWT ES256, id_token JWT RS256\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output does not say %q:\n%s", want, out)
		}
	}

	// The argon2id ceiling is measured at the server's cost, which its metrics tell: another
	// cost is refused with the flags to pass; the server's own is measured.
	metricsURL := "http://" + metricsAddr + "/metrics"
	ceiling := []string{"bench", "--issuer", "http://" + addr, "--client-id", svc.ClientID, "--client-secret", svc.ClientSecret,
		"--scenarios", "argon2id", "--duration", "100ms", "--metrics", metricsURL}
	if _, _, err := c.run("", append(ceiling, "--argon2-memory", "7168", "--argon2-time", "5")...); err == nil ||
		!strings.Contains(err.Error(), "pass --argon2-memory 19456 --argon2-time 2") {
		t.Errorf("a ceiling at another cost than the server's: %v, want refused with the server's flags", err)
	}
	if out := c.mustRun("", ceiling...); !strings.Contains(out, "m=19456 KiB, t=2") {
		t.Errorf("the ceiling at the server's cost:\n%s", out)
	}

	// Not loopback: refused before any request.
	if _, _, err := c.run("", "bench", "--issuer", "http://192.0.2.1:8080"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("non-loopback issuer: %v", err)
	}
	// A foreign issuer (no /healthz, no sign-in form): the baseline is the built-in one and
	// the MyAccount-only scenarios are skipped with a note.
	foreign := newForeignIssuer(t)
	out = c.mustRun("", "bench", "--issuer", foreign, "--workers", "1", "--duration", "100ms", "--scenarios", "baseline,discovery,signin")
	if !strings.Contains(out, "signin skipped") || !strings.Contains(out, "hello-world") {
		t.Errorf("foreign issuer output:\n%s", out)
	}
}

// newForeignIssuer serves a discovery document and nothing else on a loopback port.
func newForeignIssuer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":"%s/token","jwks_uri":"%s/jwks"}`, base, base, base)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return base
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
