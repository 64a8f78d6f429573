package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/syncbuf"
)

// liveServer runs "myaccount serve" in-process against c's data directory on a free
// loopback port, and returns its address and a function that cancels it (as SIGTERM does)
// and waits for run to return.
func liveServer(t *testing.T, c *cli) (addr string, stop func() error, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncbuf.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &logs, stderr: &logs, getenv: func(k string) string {
		switch k {
		case "MYACCOUNT_DATA_DIR":
			return c.dir
		case "MYACCOUNT_LISTEN":
			return addr
		case "MYACCOUNT_ISSUER":
			return "http://" + addr
		}
		return ""
	}}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, e, []string{"serve"}) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(40 * time.Second):
				runErr = fmt.Errorf("serve did not return 40 s after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, stop, errc
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("serve ended before it was ready: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 60 s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGracefulShutdownDrainsInFlightRequest: a token request whose body is still arriving
// when serve is told to stop is answered 200 with a token; meanwhile new connections are
// refused, and serve returns nil once the request is done.
func TestGracefulShutdownDrainsInFlightRequest(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("", "client", "create", "--name", "Batch", "--type", "confidential",
		"--grant-type", "client_credentials", "--json")
	var cl struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &cl); err != nil {
		t.Fatalf("client create: %q: %v", out, err)
	}
	addr, stop, done := liveServer(t, c)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "grant_type=client_credentials"
	head := "POST /oauth/token HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\n" +
		"Authorization: Basic " + basic(cl.ClientID, cl.ClientSecret) + "\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(body)) + "Connection: close\r\n\r\n"
	// Headers and half the body: the handler runs, blocked reading the rest.
	if _, err := conn.Write([]byte(head + body[:10])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("serve returned (%v) with a request in flight", err)
	default:
	}
	// The listener is closed: no new request gets in during the drain.
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		nc.Close()
		t.Error("a new connection was accepted during shutdown")
	}

	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("in-flight request: %s, token %q, %v; want 200 with a token", resp.Status, tok.AccessToken, err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("serve: %v, want a clean exit", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return after the in-flight request finished")
	}
	_ = done
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestBackupLiveDatabase: a backup taken while serve runs and users are being created is a
// sound SQLite file (integrity_check ok) holding every user created before it started; a
// second backup to the same file is refused and leaves it untouched.
func TestBackupLiveDatabase(t *testing.T) {
	c := newCLI(t)
	for i := range 3 {
		c.mustRun("a long enough password 1", "user", "create", "--email", fmt.Sprintf("before%d@example.com", i), "--password-stdin")
	}
	liveServer(t, c)

	// Writes keep happening through another connection while the backup runs.
	var wrote atomic.Int64
	stopWrites := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stopWrites:
				return
			default:
			}
			if _, _, err := c.run("a long enough password 1", "user", "create", "--email", fmt.Sprintf("during%d@example.com", i), "--password-stdin"); err == nil {
				wrote.Add(1)
			}
		}
	}()
	for wrote.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	msg := c.mustRun("", "backup", "--output", out)
	close(stopWrites)
	<-writerDone
	if !strings.Contains(msg, "master key") {
		t.Errorf("backup output %q does not remind of the master key", msg)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}

	db, err := sql.Open("sqlite3", "file:"+out+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	var before, total int
	if err := db.QueryRow(`SELECT count(*) FROM users WHERE email LIKE 'before%'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`SELECT count(*) FROM users`).Scan(&total)
	if before != 3 || total < 4 {
		t.Fatalf("backup holds %d of the 3 users made before and %d in all, want 3 and at least 4", before, total)
	}
	t.Logf("backup holds %d users (%d created during the run)", total, wrote.Load())

	size := fileSize(t, out)
	if _, _, err := c.run("", "backup", "--output", out); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second backup to the same file: %v, want a refusal", err)
	}
	if fileSize(t, out) != size {
		t.Fatal("the refused backup changed the existing file")
	}
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestBackupPostgresPointsToPgDump: for PostgreSQL backup refuses without connecting and
// names pg_dump.
func TestBackupPostgresPointsToPgDump(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
		switch k {
		case "MYACCOUNT_DATA_DIR":
			return t.TempDir()
		case "MYACCOUNT_DATABASE_URL":
			return "postgres://myaccount:secret@127.0.0.1:1/myaccount"
		}
		return ""
	}}
	err := run(t.Context(), e, []string{"backup", "--output", filepath.Join(t.TempDir(), "x")})
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("backup on PostgreSQL: %v, want a pointer to pg_dump (and no password)", err)
	}
}

// TestVersionAndHealthcheck: version prints the Go version (and valid JSON with --json); the
// healthcheck passes against a ready server and fails against a closed port.
func TestVersionAndHealthcheck(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("", "version")
	if !strings.Contains(out, "myaccount ") || !strings.Contains(out, "go") {
		t.Errorf("version = %q", out)
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(c.mustRun("", "version", "--json")), &b); err != nil || b.GoVersion == "" || b.Version == "" {
		t.Errorf("version --json = %+v, %v", b, err)
	}
	old := version
	version = "v9.8.7"
	if out := c.mustRun("", "version"); !strings.Contains(out, "v9.8.7") {
		t.Errorf("version with -X main.version = %q", out)
	}
	version = old

	addr, _, _ := liveServer(t, c)
	if out := c.mustRun("", "healthcheck", "--url", "http://"+addr+"/readyz"); !strings.Contains(out, "200") {
		t.Errorf("healthcheck = %q", out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if _, _, err := c.run("", "healthcheck", "--timeout", "2s", "--url", "http://"+dead+"/readyz"); err == nil {
		t.Error("healthcheck against a closed port passed")
	}
	if got := defaultHealthURL(":9090"); got != "http://127.0.0.1:9090/readyz" {
		t.Errorf("defaultHealthURL(:9090) = %q", got)
	}
}
