package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/syncbuf"
)

// serve warms a SQLite database into the page cache in the background by default, and
// does not with database.prewarm off (storage/sqlite/prewarm.go).
func TestServeWarmsTheDatabase(t *testing.T) {
	for _, tt := range []struct {
		name    string
		prewarm string // MYACCOUNT_DATABASE_PREWARM
		want    bool
	}{
		{"on by default", "", true},
		{"off", "false", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			vars := map[string]string{"MYACCOUNT_DATA_DIR": dir, "MYACCOUNT_LISTEN": addr,
				"MYACCOUNT_ISSUER": "http://" + addr, "MYACCOUNT_DATABASE_PREWARM": tt.prewarm}
			var logs syncbuf.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() {
				served <- run(ctx, env{stdout: &logs, stderr: &logs, getenv: func(k string) string { return vars[k] }}, []string{"serve"})
			}()
			stop := func() {
				cancel()
				select {
				case err := <-served:
					if err != nil {
						t.Errorf("serve: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("serve did not stop")
				}
			}
			defer cancel()

			// Ready, then (when on) the warm-up's end: a deadline for a hang, not a timing.
			deadline := time.Now().Add(60 * time.Second)
			for ready := false; ; time.Sleep(50 * time.Millisecond) {
				if !ready {
					if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
						resp.Body.Close()
						ready = resp.StatusCode == http.StatusOK
					}
				}
				if ready && (!tt.want || strings.Contains(logs.String(), "database warm-up finished")) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("ready %v, no warm-up's end after 60 s:\n%s", ready, logs.String())
				}
			}
			stop()
			out := logs.String()
			if tt.want {
				if !strings.Contains(out, "database warm-up started") || !strings.Contains(out, filepath.Join(dir, "myaccount.db")) {
					t.Errorf("no warm-up start naming the database file in:\n%s", out)
				}
			} else if strings.Contains(out, "database warm-up") {
				t.Errorf("prewarm off, yet a warm-up logged:\n%s", out)
			}
		})
	}
}
