package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/loadgen"
	"github.com/myaccount/myaccount/internal/secret"
)

const benchUsage = `usage: myaccount bench [--issuer URL] [flags]

Measures a running issuer on this host (loopback only): req/s, p50/p99 and errors for each
scenario, and each as a ratio to the baseline from the same run. Endpoints come from the
issuer's discovery document, so any issuer can be measured; the sign-in scenario needs
MyAccount's sign-in form and is skipped, with a note, for other issuers.
--peer ISSUER,CLIENT_ID,SECRET[,REFRESH_TOKENS_URL] adds another issuer, measured in
alternation in each round; with the fourth field (POST ?n=N answers N refresh tokens of that
client as a JSON array, as docs/peer/oidc-provider.mjs does) its refresh scenario runs too.
The argon2id scenario is no request: the bench hashes passwords itself, one hash per core it
runs on, at the server's cost (read from --metrics, unless --argon2-* are given; without
either, the default cost), and reports the sign-ins as a ratio to that ceiling on the
server's cores (from --pid's CPU affinity). Pin the bench to cores like the server's
(taskset) for a fair ceiling.
With --signins N it measures N sign-ins at once instead (the burst the password-hashing
limiter sheds).

`

func cmdBench(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "bench")
	fs.Usage = func() { fmt.Fprint(e.stderr, benchUsage); fs.PrintDefaults() }
	issuer := fs.String("issuer", "", "the issuer to measure (loopback only; default: the configured issuer, --config or MYACCOUNT_ISSUER, else http://localhost:8080)")
	clientID := fs.String("client-id", "", "a confidential client allowed client_credentials (client_credentials, introspection)")
	clientSecret := fs.String("client-secret", "", "its secret")
	loginID := fs.String("login-client-id", "", "a first-party confidential client with a redirect URI (sign-in, refresh)")
	loginSecret := fs.String("login-client-secret", "", "its secret")
	redirect := fs.String("redirect", "", "the login client's redirect URI")
	password := fs.String("password", "", "the users' password (as printed by myaccount seed)")
	users := fs.Int("users", 1, "how many users the email pattern covers")
	pattern := fs.String("email-pattern", seedEmail, "the users' addresses, fmt-style with one %d")
	workers := fs.Int("workers", 8, fmt.Sprintf("closed-loop workers (at most %d)", loadgen.MaxWorkers))
	duration := fs.Duration("duration", 5*time.Second, fmt.Sprintf("time per scenario and round (at most %v)", loadgen.MaxDuration))
	rounds := fs.Int("rounds", 1, fmt.Sprintf("rounds; scenarios and issuers alternate in each (at most %d)", loadgen.MaxRounds))
	maxReq := fs.Int("max-requests", 1_000_000, "cap on requests per scenario and round")
	scenarios := fs.String("scenarios", strings.Join(loadgen.AllScenarios, ","), "which scenarios, comma-separated")
	pid := fs.Int("pid", 0, "the server's process id: report its resident memory (and its CPU per sign-in)")
	metricsURL := fs.String("metrics", "", "the server's metrics URL (metrics.listen, loopback): what a password hash costs inside it")
	a2mem := fs.Uint("argon2-memory", uint(secret.DefaultMemory), "argon2id scenario: memory cost in KiB (with --metrics and neither flag: the server's)")
	a2time := fs.Uint("argon2-time", uint(secret.DefaultIterations), "argon2id scenario: passes (with --metrics and neither flag: the server's)")
	a2threads := fs.Uint("argon2-threads", uint(secret.DefaultParallelism), "argon2id scenario: lanes")
	signins := fs.Int("signins", 0, fmt.Sprintf("measure this many concurrent sign-ins instead (at most %d)", loadgen.MaxBurst))
	var peers multiFlag
	fs.Var(&peers, "peer", "another issuer to measure side by side: ISSUER,CLIENT_ID,SECRET[,REFRESH_TOKENS_URL] (repeatable)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *issuer == "" {
		cfg, err := loadConfig(e, *path)
		if err != nil {
			return err
		}
		*issuer = cfg.Issuer
	}
	tgt := loadgen.Target{Issuer: *issuer, ClientID: *clientID, ClientSecret: *clientSecret, PID: *pid, MetricsURL: *metricsURL}
	if *loginID != "" {
		if *redirect == "" || *password == "" {
			return fmt.Errorf("--login-client-id needs --redirect and --password")
		}
		if strings.Count(*pattern, "%") != 1 || !strings.Contains(*pattern, "%d") && !strings.Contains(*pattern, "%0") {
			return fmt.Errorf("--email-pattern needs exactly one %%d")
		}
		tgt.Login = &loadgen.Login{ClientID: *loginID, ClientSecret: *loginSecret, Redirect: *redirect,
			Password: *password, Users: max(1, *users), EmailPattern: *pattern}
	}
	if *signins > 0 {
		return loadgen.Burst(ctx, tgt, *signins, e.stdout)
	}
	targets := []loadgen.Target{tgt}
	for _, p := range peers {
		f := strings.SplitN(p, ",", 4)
		if len(f) < 3 {
			return fmt.Errorf("--peer %q: want ISSUER,CLIENT_ID,SECRET[,REFRESH_TOKENS_URL]", p)
		}
		t := loadgen.Target{Issuer: f[0], ClientID: f[1], ClientSecret: f[2]}
		if len(f) == 4 {
			t.RefreshTokensURL = f[3]
		}
		targets = append(targets, t)
	}
	var sc []string
	for s := range strings.SplitSeq(*scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sc = append(sc, s)
		}
	}
	// Whether the argon2id cost was chosen here, or may be taken from the server's metrics.
	a2given := false
	fs.Visit(func(f *flag.Flag) { a2given = a2given || f.Name == "argon2-memory" || f.Name == "argon2-time" })
	fmt.Fprintf(e.stdout, "bench: %d workers, %v per scenario, %d round(s)\n", *workers, *duration, *rounds)
	return loadgen.Run(ctx, loadgen.Options{Workers: *workers, Duration: *duration, Rounds: *rounds,
		Scenarios: sc, MaxRequests: *maxReq, Out: e.stdout,
		Argon2:      secret.Params{Memory: uint32(min(*a2mem, 1<<22)), Iterations: uint32(min(*a2time, 100)), Parallelism: uint8(min(*a2threads, 255))},
		Argon2Given: a2given}, targets)
}
