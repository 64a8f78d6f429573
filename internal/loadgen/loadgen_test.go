package loadgen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
)

// fakePeer is an issuer that is not MyAccount: discovery, a token endpoint that rotates
// refresh tokens (a token used twice is an error, as reuse would be), and a URL that mints
// refresh tokens for the bench.
type fakePeer struct {
	mu     sync.Mutex
	live   map[string]bool
	n      int
	reused int
}

func (f *fakePeer) mint() string {
	f.n++
	t := fmt.Sprintf("rt-%d", f.n)
	f.live[t] = true
	return t
}

func (f *fakePeer) handler(issuer *string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": *issuer, "token_endpoint": *issuer + "/token"})
	})
	mux.HandleFunc("POST /bench/refresh-tokens", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		out := []string{}
		for range n {
			out = append(out, f.mint())
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if id != "peer" || secret != "s3cret" || r.PostFormValue("grant_type") != "refresh_token" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		old := r.PostFormValue("refresh_token")
		if !f.live[old] {
			f.reused++
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		delete(f.live, old)
		json.NewEncoder(w).Encode(map[string]string{"access_token": "at", "refresh_token": f.mint()})
	})
	return mux
}

// Another issuer's refresh scenario runs on tokens from Target.RefreshTokensURL, one chain
// per worker, each worker rotating only its own.
func TestPeerRefresh(t *testing.T) {
	f := &fakePeer{live: map[string]bool{}}
	var issuer string
	srv := httptest.NewServer(f.handler(&issuer))
	defer srv.Close()
	issuer = srv.URL

	var out bytes.Buffer
	err := Run(context.Background(), Options{Workers: 4, Duration: 200 * time.Millisecond, Rounds: 1,
		Scenarios: []string{Refresh}, MaxRequests: 200, Out: &out},
		[]Target{{Issuer: issuer, ClientID: "peer", ClientSecret: "s3cret", RefreshTokensURL: issuer + "/bench/refresh-tokens"}})
	if err != nil {
		t.Fatal(err)
	}
	var row []string
	for line := range strings.Lines(out.String()) {
		if fields := strings.Fields(line); len(fields) > 3 && fields[1] == Refresh {
			row = fields
		}
	}
	if row == nil {
		t.Fatalf("no refresh row in:\n%s", out.String())
	}
	// issuer scenario requests errors ...
	if row[2] == "0" || row[3] != "0" {
		t.Errorf("refresh: %s requests, %s errors; want some, none:\n%s", row[2], row[3], out.String())
	}
	t.Log(out.String())
	if !strings.Contains(out.String(), ": tokens in refresh answers: access_token opaque, id_token none\n") {
		t.Errorf("the refresh answers' tokens are not described:\n%s", out.String())
	}
	if f.reused != 0 {
		t.Errorf("%d refresh tokens presented twice", f.reused)
	}

	// Without the URL the scenario is skipped with a note, not failed.
	out.Reset()
	err = Run(context.Background(), Options{Workers: 1, Duration: 100 * time.Millisecond, Rounds: 1,
		Scenarios: []string{Refresh}, Out: &out}, []Target{{Issuer: issuer, ClientID: "peer", ClientSecret: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "refresh skipped") {
		t.Errorf("want a skip note:\n%s", out.String())
	}
}

func TestTokenShape(t *testing.T) {
	jws := func(header string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(header)) + ".e30.c2ln"
	}
	for tok, want := range map[string]string{
		"":                                "none",
		"opaque-token":                    "opaque",
		jws(`{"alg":"ES256","kid":"k"}`):  "JWT ES256",
		jws(`{"alg":"RS256"}`):            "JWT RS256",
		jws(`{"kid":"k"}`):                "opaque",
		jws(`not json`):                   "opaque",
		"a.b":                             "opaque",
		jws(`{"alg":"ES256"}`) + ".extra": "opaque",
		"!!!.e30.c2ln":                    "opaque",
	} {
		if got := tokenShape(tok); got != want {
			t.Errorf("tokenShape(%q) = %q, want %q", tok, got, want)
		}
	}
}

func TestCountCPUList(t *testing.T) {
	for list, want := range map[string]int{"0": 1, "0-3": 4, "0-3,8,10-11": 7, "1": 1} {
		if got, err := countCPUList(list); err != nil || got != want {
			t.Errorf("countCPUList(%q) = %d, %v; want %d", list, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "0-x", "-1", "0-100000"} {
		if n, err := countCPUList(bad); err == nil {
			t.Errorf("countCPUList(%q) = %d, want an error", bad, n)
		}
	}
	if got, err := parseCPUList("0-2,5"); err != nil || fmt.Sprint(got) != "[0 1 2 5]" {
		t.Errorf("parseCPUList(0-2,5) = %v, %v", got, err)
	}
}

// TestCeilingOnTheServersCores: with --pid the ceiling's hashes run on the server's CPUs,
// one pinned thread each (here the server is this process), and the report says so.
func TestCeilingOnTheServersCores(t *testing.T) {
	cpus, err := serverCPUs(os.Getpid())
	if err != nil {
		t.Skip("no CPU affinity here:", err)
	}
	e := &env{opts: Options{Duration: 50 * time.Millisecond, Argon2: secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}}}
	e.measureCeiling(context.Background(), os.Getpid())
	if fmt.Sprint(e.ceil.cpus) != fmt.Sprint(cpus) || e.ceil.cores != len(cpus) || e.ceil.hashes == 0 {
		t.Fatalf("ceiling on cpus %v (%d cores, %d hashes), want the server's %v", e.ceil.cpus, e.ceil.cores, e.ceil.hashes, cpus)
	}
	var out bytes.Buffer
	e.reportCeiling(&out, nil)
	if !strings.Contains(out.String(), fmt.Sprintf("on %d core(s) of the server, pinned)", len(cpus))) {
		t.Errorf("report:\n%s", out.String())
	}
	// The pinning is the hashing threads' alone: this goroutine's thread is as it was.
	if after, err := serverCPUs(os.Getpid()); err != nil || fmt.Sprint(after) != fmt.Sprint(cpus) {
		t.Errorf("the process's CPUs after the ceiling: %v, %v; want %v", after, err, cpus)
	}
}

// The argon2id scenario hashes in the bench (not against the issuer), once a round, and
// reports the sign-ins as a ratio to cores × hashes per core; parameters the server would
// refuse are refused before anything runs.
func TestArgon2idCeiling(t *testing.T) {
	var issuer string
	peer := &fakePeer{live: map[string]bool{}}
	srv := httptest.NewServer(peer.handler(&issuer))
	defer srv.Close()
	issuer = srv.URL
	var out bytes.Buffer
	cheap := secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}
	err := Run(context.Background(), Options{Workers: 1, Duration: 100 * time.Millisecond, Rounds: 2,
		Scenarios: []string{Argon2id}, Out: &out, Argon2: cheap}, []Target{{Issuer: issuer}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "argon2id ceiling: ") || !strings.Contains(out.String(), "(m=64 KiB, t=1, p=1;") {
		t.Errorf("no ceiling reported:\n%s", out.String())
	}
	e := &env{ceil: &ceiling{params: cheap, cores: 1, hashes: 100, busy: time.Second}}
	out.Reset()
	p := &plan{Target: Target{Name: "x", PID: os.Getpid()}, results: map[string]*tally{SignIn: {n: 80, elapsed: 2 * time.Second}}}
	e.reportCeiling(&out, []*plan{p})
	n, err := allowedCPUs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("x: signin ÷ ceiling: 40.0/s ÷ (100.0/s × %d core(s), the server's CPU affinity) = %.3f", n, 40/(100*float64(n)))
	if !strings.Contains(out.String(), want) {
		t.Errorf("got\n%s\nwant a line %q", out.String(), want)
	}
	err = Run(context.Background(), Options{Scenarios: []string{Argon2id}, Out: &out, Argon2: secret.Params{Memory: 1 << 30}}, []Target{{Issuer: issuer}})
	if err == nil || !strings.Contains(err.Error(), "argon2id scenario") {
		t.Errorf("a memory cost of 1 TiB: %v, want refused", err)
	}
}

// The sign-in's cost split: unlabelled samples of a Prometheus exposition, this process's
// CPU time, and the line that puts them together.
func TestSigninCost(t *testing.T) {
	m, err := parseSamples(strings.NewReader("# HELP x y\n# TYPE myaccount_password_hashes_total counter\n" +
		"myaccount_password_hashes_total 12\nmyaccount_password_hash_cpu_seconds_total 0.25\n" +
		"myaccount_http_requests_total{route=\"/\"} 3\nmyaccount_password_hash_seconds_total 3e-01\n"))
	if err != nil || m["myaccount_password_hashes_total"] != 12 || m["myaccount_password_hash_cpu_seconds_total"] != 0.25 ||
		m["myaccount_password_hash_seconds_total"] != 0.3 || len(m) != 3 {
		t.Fatalf("parsed %v, %v", m, err)
	}
	if rss, peak, err := readRSS(os.Getpid()); err != nil || rss <= 0 || peak < rss {
		t.Errorf("readRSS: %d KiB, peak %d KiB, %v", rss, peak, err)
	}
	c0, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the process's CPU time moves (it counts in clock ticks, and a loaded host
	// may give a short loop none), within a bound no working counter comes near.
	c1 := c0
	for end := time.Now().Add(10 * time.Second); c1 <= c0 && err == nil && time.Now().Before(end); {
		for spin := time.Now().Add(20 * time.Millisecond); time.Now().Before(spin); {
		}
		c1, err = processCPU(os.Getpid())
	}
	if err != nil || c1 <= c0 {
		t.Errorf("CPU time %v then %v (%v): 10 s of busy loop did not count", c0, c1, err)
	}
	e := &env{ceil: &ceiling{cores: 1, hashes: 40, busy: time.Second}}
	p := &plan{Target: Target{Name: "x"}, results: map[string]*tally{SignIn: {n: 10, elapsed: time.Second}}}
	p.cost = &signinCost{}
	p.cost.add(hashSample{slots: 2, hashCPU: 0.1, hashWall: 0.12, procCPU: time.Second, ok: true, procOK: true},
		hashSample{slots: 12, hashCPU: 0.35, hashWall: 0.42, procCPU: time.Second + 300*time.Millisecond, ok: true, procOK: true})
	var out bytes.Buffer
	e.reportSigninCost(&out, p)
	want := "x: signin cost: server CPU 30.0 ms per sign-in, a hash 25.0 ms CPU (30.0 ms wall) inside the server, against 25.0 ms alone in the bench, hashing 83 % of the server's CPU\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

// The argon2id ceiling follows the server's cost as its metrics report it: taken when no cost
// was given, refused (with the flags to pass) when another one was.
func TestHashCostFromMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# TYPE myaccount_password_hash_memory_kib gauge\nmyaccount_password_hash_memory_kib 7168\n"+
			"# TYPE myaccount_password_hash_iterations gauge\nmyaccount_password_hash_iterations 5\n")
	}))
	defer srv.Close()
	p := &plan{Target: Target{Issuer: "http://127.0.0.1:1", MetricsURL: srv.URL}}

	var out bytes.Buffer
	e := &env{opts: Options{Out: &out}, client: srv.Client()}
	if err := e.checkHashCost(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if got := e.opts.Argon2; got.Memory != 7168 || got.Iterations != 5 {
		t.Errorf("no cost given: measuring at %+v, want the server's m=7168, t=5", got)
	}
	if !strings.Contains(out.String(), "from its metrics: m=7168 KiB, t=5") {
		t.Errorf("output %q does not say where the cost came from", out.String())
	}

	e = &env{opts: Options{Out: &out, Argon2Given: true}, client: srv.Client()}
	err := e.checkHashCost(t.Context(), p)
	if err == nil || !strings.Contains(err.Error(), "pass --argon2-memory 7168 --argon2-time 5") {
		t.Errorf("the default cost given explicitly: %v, want refused with the server's flags", err)
	}
	e = &env{opts: Options{Out: &out, Argon2Given: true, Argon2: secret.Params{Memory: 7168, Iterations: 5}}, client: srv.Client()}
	if err := e.checkHashCost(t.Context(), p); err != nil {
		t.Errorf("the server's own cost given: %v", err)
	}
}
