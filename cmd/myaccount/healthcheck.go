package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// cmdHealthcheck probes the server's readiness endpoint and exits non-zero unless it answers
// 200. It exists for container HEALTHCHECKs: the runtime image has no curl or wget.
func cmdHealthcheck(ctx context.Context, e env, args []string) error {
	fs, _ := newFlags(e, "healthcheck")
	url := fs.String("url", "", "URL to probe (default: /readyz on MYACCOUNT_LISTEN's port at 127.0.0.1, else http://127.0.0.1:8080/readyz)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	quiet := fs.Bool("quiet", false, "print nothing on success")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	target := *url
	if target == "" {
		target = defaultHealthURL(e.getenv("MYACCOUNT_LISTEN"))
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", target, resp.Status, body)
	}
	if !*quiet {
		fmt.Fprintf(e.stdout, "ok: %s answered %s\n", target, resp.Status)
	}
	return nil
}

// defaultHealthURL probes the local listener: the configured port on the loopback address,
// since the listen host may be a wildcard (":8080", "0.0.0.0:8080").
func defaultHealthURL(listen string) string {
	port := "8080"
	if _, p, err := net.SplitHostPort(listen); err == nil && p != "" && p != "0" {
		port = p
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
}
