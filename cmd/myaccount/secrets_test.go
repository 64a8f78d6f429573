package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestServeNeverLogsTheDatabasePassword (hardening 20): the URL may come from a file
// (database.url_file / MYACCOUNT_DATABASE_URL_FILE) and serve logs it without the password.
func TestServeNeverLogsTheDatabasePassword(t *testing.T) {
	const password = "s3cr3t-hunter2"
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password) // the test cluster trusts its socket
	dir := t.TempDir()
	file := filepath.Join(dir, "db-url")
	if err := os.WriteFile(file, []byte(u.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"MYACCOUNT_DATA_DIR": dir, "MYACCOUNT_LISTEN": "127.0.0.1:0", "MYACCOUNT_DATABASE_URL_FILE": file}
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return vars[k] }}
	if err := run(ctx, e, []string{"serve"}); err != nil && ctx.Err() == nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	logs := stdout.String() + stderr.String()
	if !strings.Contains(logs, "MyAccount is starting") {
		t.Fatalf("serve did not start:\n%s", logs)
	}
	if strings.Contains(logs, password) {
		t.Errorf("the database password is in the log:\n%s", logs)
	}
	if !strings.Contains(logs, "xxxxx") {
		t.Errorf("the log does not show the (redacted) database URL:\n%s", logs)
	}
}
