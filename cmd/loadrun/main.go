// Command loadrun measures a running MyAccount under load: requests per second and latency
// percentiles for the health check (the baseline), discovery, JWKS and the client_credentials
// token grant, each with the same concurrency for the same time. Figures are reported as ratios
// to the baseline from the same run, because shared machines drift.
//
// With --signins N it measures sign-ins instead: first a few alone (the baseline), then N at
// once, each a whole authorization code flow (authorize, the password form, the code
// exchange) for the users loadNNN@example.com (NNN from 000 to --users-1, all with
// --password), through a first-party confidential client whose redirect URI is --redirect.
//
// It only targets loopback addresses: it is for measuring, not for hammering other hosts.
//
//	go run ./cmd/loadrun --url http://localhost:8080 --client-id ID --client-secret SECRET
//	go run ./cmd/loadrun --url http://localhost:8080 --signins 50 --users 50 --password PW \
//	    --client-id ID --client-secret SECRET --redirect https://app.example/cb
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

type target struct {
	name string
	req  func(ctx context.Context) (*http.Request, error)
}

type result struct {
	name      string
	n, errors int
	rps       float64
	p50, p99  time.Duration
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadrun:", err)
		os.Exit(1)
	}
}

func run() error {
	base := flag.String("url", "http://localhost:8080", "MyAccount base URL (loopback only)")
	clientID := flag.String("client-id", "", "a confidential client with the client_credentials grant (optional)")
	secret := flag.String("client-secret", "", "its secret")
	duration := flag.Duration("duration", 5*time.Second, "time per endpoint (at most 60s)")
	workers := flag.Int("concurrency", 8, "parallel requests (at most 64)")
	signins := flag.Int("signins", 0, "measure this many concurrent sign-ins instead (at most 500)")
	users := flag.Int("users", 50, "with --signins: how many loadNNN@example.com users exist")
	password := flag.String("password", "", "with --signins: the users' password")
	redirect := flag.String("redirect", "", "with --signins: the client's redirect URI")
	flag.Parse()
	u, err := url.Parse(*base)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("--url must be a loopback address (localhost, 127.0.0.0/8, [::1])")
	}
	if *signins > 0 {
		sr := signInRun{base: strings.TrimSuffix(*base, "/"), clientID: *clientID, secret: *secret, redirect: *redirect,
			password: *password, users: max(*users, 1)}
		return sr.run(min(*signins, 500))
	}
	*duration = min(*duration, time.Minute)
	*workers = max(1, min(*workers, 64))
	get := func(path string) func(context.Context) (*http.Request, error) {
		return func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*base, "/")+path, nil)
		}
	}
	targets := []target{
		{"healthz (baseline)", get("/healthz")},
		{"discovery", get("/.well-known/openid-configuration")},
		{"jwks", get("/keys")},
	}
	if *clientID != "" {
		targets = append(targets, target{"token client_credentials", func(ctx context.Context) (*http.Request, error) {
			r, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(*base, "/")+"/oauth/token",
				strings.NewReader("grant_type=client_credentials"))
			if err == nil {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth(url.QueryEscape(*clientID), url.QueryEscape(*secret))
			}
			return r, err
		}})
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	var results []result
	for _, t := range targets {
		results = append(results, measure(client, t, *workers, *duration))
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "endpoint\trequests\terrors\treq/s\tp50\tp99\tthroughput vs baseline\n")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%v\t%v\t%.2f\n", r.name, r.n, r.errors, r.rps,
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.rps/results[0].rps)
	}
	return tw.Flush()
}

// measure runs workers loops against t for d and collects latencies.
func measure(c *http.Client, t target, workers int, d time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, err := t.req(ctx)
				if err != nil {
					return
				}
				t0 := time.Now()
				resp, err := c.Do(req)
				el := time.Since(t0)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if resp != nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				if ok {
					lat = append(lat, el)
				} else {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	return result{name: t.name, n: len(lat), errors: errs, rps: float64(len(lat)) / elapsed.Seconds(), p50: pct(0.5), p99: pct(0.99)}
}
