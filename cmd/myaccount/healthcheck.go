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
	fs, path := newFlags(e, "healthcheck")
	url := fs.String("url", "", "URL to probe (default: /readyz at 127.0.0.1 on the port of the configured listen address: --config, MYACCOUNT_LISTEN, else 8080)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	quiet := fs.Bool("quiet", false, "print nothing on success")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	target := *url
	if target == "" {
		listen := e.getenv("MYACCOUNT_LISTEN")
		// The file only when one is given: a probe without --config needs no more than the
		// variable, and fails on nothing else the environment holds.
		if *path != "" {
			cfg, err := loadConfig(e, *path)
			if err != nil {
				return err
			}
			listen = cfg.Listen // MYACCOUNT_LISTEN still beats the file
		}
		target = defaultHealthURL(listen)
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
