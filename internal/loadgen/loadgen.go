// Package loadgen measures a running OpenID provider from outside: requests per second and
// latency percentiles for each scenario (a baseline, discovery, JWKS, client_credentials,
// rotating refresh, introspection, and the authorization code flow with a password sign-in),
// each with the same closed-loop concurrency for the same time. Figures are reported as
// ratios to a baseline from the same run, because shared machines drift.
//
// Endpoints come from the issuer's discovery document, so any issuer can be measured given
// client credentials; the sign-in scenario, which needs MyAccount's own password form, is
// skipped, with a note, for other issuers, and so is refresh unless the issuer's target
// names a URL that hands out refresh tokens (Target.RefreshTokensURL). It only targets
// loopback addresses and every run is bounded in time and requests: it is for sizing one's
// own hardware, not for hammering other hosts.
package loadgen

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
)

// Bounds on what one run may ask for.
const (
	MaxWorkers  = 256
	MaxDuration = time.Minute
	MaxRounds   = 10
)

// Scenario names, in the order they run.
const (
	Baseline          = "baseline"
	Discovery         = "discovery"
	JWKS              = "jwks"
	ClientCredentials = "client_credentials"
	Refresh           = "refresh"
	Introspection     = "introspection"
	SignIn            = "signin"
	// Argon2id is not a request: the bench hashes passwords itself, at Options.Argon2, to
	// measure the ceiling sign-ins are sized against (ceiling.go).
	Argon2id = "argon2id"
)

// AllScenarios is every scenario, in run order.
var AllScenarios = []string{Baseline, Discovery, JWKS, ClientCredentials, Refresh, Introspection, Argon2id, SignIn}

// Target is one issuer to measure.
type Target struct {
	// Name labels the target's rows (default: the issuer's host:port).
	Name   string
	Issuer string
	// ClientID and ClientSecret are a confidential client allowed client_credentials; with
	// them the client_credentials and introspection scenarios run.
	ClientID, ClientSecret string
	// Login, when set, enables the sign-in and refresh scenarios on a MyAccount issuer.
	Login *Login
	// RefreshTokensURL, for another issuer, enables the refresh scenario there: POST
	// RefreshTokensURL?n=N answers a JSON array of N fresh refresh tokens of ClientID (for
	// oidc-provider, docs/peer/oidc-provider.mjs serves one). Loopback only.
	RefreshTokensURL string
	// PID, when set, is the server's process id (on this host): its resident memory is
	// reported after each scenario.
	PID int
	// MetricsURL, when set, is the server's Prometheus metrics (MyAccount's metrics.listen,
	// loopback only): the sign-in scenario then reports what a password hash cost inside
	// the server (hashcost.go).
	MetricsURL string
}

// Login is what a password sign-in through the code flow needs: a first-party confidential
// client (no consent page) with the authorization_code and refresh_token grants, and users
// fmt.Sprintf(EmailPattern, i) for i in [0, Users), all with Password.
type Login struct {
	ClientID, ClientSecret, Redirect string
	EmailPattern                     string
	Users                            int
	Password                         string
}

// Options bound and shape a run.
type Options struct {
	Workers   int
	Duration  time.Duration // per scenario and round
	Rounds    int           // scenarios alternate between targets round after round
	Scenarios []string      // default AllScenarios
	// MaxRequests caps the requests of one scenario in one round (0: 1,000,000).
	MaxRequests int
	Out         io.Writer
	// Argon2 are the password-hashing parameters of the Argon2id scenario (zero fields: the
	// server's defaults). Unless Argon2Given, a server whose metrics (Target.MetricsURL)
	// report its cost is measured at that cost instead.
	Argon2      secret.Params
	Argon2Given bool
}

// CheckLoopback refuses any URL whose host is not a loopback address.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: not an http(s) URL", raw)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s: only loopback addresses are measured (localhost, 127.0.0.0/8, [::1])", raw)
	}
	return nil
}

// plan is a target with its endpoints discovered and its scenarios decided.
type plan struct {
	Target
	ours                                 bool // MyAccount: answers /healthz
	baselineURL                          string
	tokenURL, jwksURL, introURL, authURL string
	scenarios                            []string
	notes                                []string
	introToken                           string
	// refresh holds one refresh token per worker, each rotated by its own worker.
	refresh []string
	shapes  tokenShapes
	results map[string]*tally
	rss     map[string]int64 // KiB after each scenario
	peakRSS int64
	cost    *signinCost // the sign-in scenario's server CPU and hashing, when readable
}

// tally accumulates one scenario of one target over the rounds.
type tally struct {
	n, errors int
	elapsed   time.Duration
	lat       []time.Duration
	sample    string // one error, to say what went wrong
}

type env struct {
	opts   Options
	client *http.Client
	hello  string // the in-process hello-world baseline for foreign issuers
	ceil   *ceiling
}

// Run measures every target and prints one table.
func Run(ctx context.Context, opts Options, targets []Target) error {
	if len(targets) == 0 {
		return errors.New("no issuer to measure")
	}
	opts.Workers = max(1, min(opts.Workers, MaxWorkers))
	opts.Duration = max(100*time.Millisecond, min(opts.Duration, MaxDuration))
	opts.Rounds = max(1, min(opts.Rounds, MaxRounds))
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = 1_000_000
	}
	if len(opts.Scenarios) == 0 {
		opts.Scenarios = AllScenarios
	}
	for _, s := range opts.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(AllScenarios, ", "))
		}
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if slices.Contains(opts.Scenarios, Argon2id) {
		if _, err := (secret.Hasher{Params: opts.Argon2}).Hash("probe"); err != nil {
			return fmt.Errorf("argon2id scenario: %w", err)
		}
	}
	e := &env{opts: opts, client: &http.Client{
		Timeout: 30 * time.Second,
		// One idle connection per worker: closed-loop workers keep theirs alive.
		Transport: &http.Transport{MaxIdleConns: 2 * opts.Workers, MaxIdleConnsPerHost: opts.Workers + 4},
		// Redirects are part of what is measured (the sign-in follows them itself).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	var plans []*plan
	for _, t := range targets {
		p, err := e.prepare(ctx, t)
		if err != nil {
			return err
		}
		plans = append(plans, p)
	}
	if slices.Contains(opts.Scenarios, Argon2id) {
		for _, p := range plans {
			if err := e.checkHashCost(ctx, p); err != nil {
				return err
			}
		}
	}
	for r := range opts.Rounds {
		for _, sc := range opts.Scenarios {
			if sc == Argon2id {
				e.measureCeiling(ctx, ceilingPID(plans)) // once a round, whatever the targets
				continue
			}
			for _, p := range plans {
				if !slices.Contains(p.scenarios, sc) {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				var before hashSample
				if sc == SignIn {
					before = e.sampleHash(ctx, p)
				}
				e.measure(ctx, p, sc)
				if sc == SignIn {
					if p.cost == nil {
						p.cost = &signinCost{}
					}
					p.cost.add(before, e.sampleHash(ctx, p))
				}
				if p.PID > 0 {
					if kb, peak, err := readRSS(p.PID); err == nil {
						p.rss[sc] = kb
						p.peakRSS = max(p.peakRSS, peak)
					}
				}
			}
		}
		fmt.Fprintf(opts.Out, "round %d of %d done\n", r+1, opts.Rounds)
	}
	return e.report(plans)
}

// prepare discovers the endpoints and sets up what the scenarios need (an access token to
// introspect, one refresh token per worker), untimed.
func (e *env) prepare(ctx context.Context, t Target) (*plan, error) {
	t.Issuer = strings.TrimSuffix(t.Issuer, "/")
	if err := CheckLoopback(t.Issuer); err != nil {
		return nil, err
	}
	if t.MetricsURL != "" {
		if err := CheckLoopback(t.MetricsURL); err != nil {
			return nil, fmt.Errorf("--metrics: %w", err)
		}
	}
	if t.Name == "" {
		u, _ := url.Parse(t.Issuer)
		t.Name = u.Host
	}
	p := &plan{Target: t, results: map[string]*tally{}, rss: map[string]int64{}}
	var doc struct {
		TokenEndpoint         string `json:"token_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
	}
	if err := e.getJSON(ctx, t.Issuer+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, fmt.Errorf("%s: discovery: %w", t.Name, err)
	}
	for _, u := range []string{doc.TokenEndpoint, doc.JWKSURI, doc.IntrospectionEndpoint, doc.AuthorizationEndpoint} {
		if u == "" {
			continue
		}
		if err := CheckLoopback(u); err != nil {
			return nil, fmt.Errorf("%s: discovery names an endpoint off this host: %w", t.Name, err)
		}
	}
	p.tokenURL, p.jwksURL, p.introURL, p.authURL = doc.TokenEndpoint, doc.JWKSURI, doc.IntrospectionEndpoint, doc.AuthorizationEndpoint

	// MyAccount answers /healthz with a constant: the cheapest request it serves, which is
	// the baseline. Other issuers are compared with a hello-world server in this process.
	if resp, err := e.get(ctx, t.Issuer+"/healthz"); err == nil && resp == http.StatusOK {
		p.ours = true
		p.baselineURL = t.Issuer + "/healthz"
	} else {
		if e.hello == "" {
			h, err := startHello()
			if err != nil {
				return nil, err
			}
			e.hello = h
		}
		p.baselineURL = e.hello
		p.note("baseline is a hello-world Go server in the bench process (the issuer has no /healthz)")
	}
	for _, sc := range e.opts.Scenarios {
		if why := p.cannot(sc); why != "" {
			p.note(sc + " skipped: " + why)
			continue
		}
		p.scenarios = append(p.scenarios, sc)
	}
	if slices.Contains(p.scenarios, Introspection) {
		tok, err := e.clientCredentials(ctx, p)
		if err != nil {
			p.note("introspection skipped: no access token to introspect: " + err.Error())
			p.scenarios = slices.DeleteFunc(p.scenarios, func(s string) bool { return s == Introspection })
		}
		p.introToken = tok
	}
	if slices.Contains(p.scenarios, Refresh) && !p.ours {
		var tokens []string
		err := e.postJSON(ctx, fmt.Sprintf("%s?n=%d", p.RefreshTokensURL, e.opts.Workers), &tokens)
		if err == nil && len(tokens) != e.opts.Workers {
			err = fmt.Errorf("got %d refresh tokens, want %d", len(tokens), e.opts.Workers)
		}
		if err != nil {
			p.note("refresh skipped: " + err.Error())
			p.scenarios = slices.DeleteFunc(p.scenarios, func(s string) bool { return s == Refresh })
		}
		p.refresh = tokens
	}
	if slices.Contains(p.scenarios, Refresh) && p.ours {
		// One chain per worker: rotating one token from two workers would be reuse.
		err := parallel(e.opts.Workers, func(i int) error {
			r := e.signIn(ctx, p, i)
			if r.outcome != "ok" {
				return errors.New(r.outcome)
			}
			p.refresh[i] = r.refresh
			return nil
		}, func() { p.refresh = make([]string, e.opts.Workers) })
		if err != nil {
			p.note("refresh skipped: signing in to get refresh tokens failed: " + err.Error())
			p.scenarios = slices.DeleteFunc(p.scenarios, func(s string) bool { return s == Refresh })
		}
	}
	return p, nil
}

// cannot says why the scenario cannot run against p ("" when it can).
func (p *plan) cannot(sc string) string {
	switch sc {
	case JWKS:
		if p.jwksURL == "" {
			return "discovery has no jwks_uri"
		}
	case ClientCredentials, Introspection:
		if p.ClientID == "" {
			return "needs --client-id and --client-secret"
		}
		if p.tokenURL == "" {
			return "discovery has no token_endpoint"
		}
		if sc == Introspection && p.introURL == "" {
			return "discovery has no introspection_endpoint"
		}
	case Refresh, SignIn:
		if sc == Refresh && !p.ours {
			if p.RefreshTokensURL == "" {
				return "needs MyAccount's sign-in form or a refresh-token URL (the fourth --peer field)"
			}
			if p.ClientID == "" {
				return "needs the issuer's client id and secret"
			}
			if err := CheckLoopback(p.RefreshTokensURL); err != nil {
				return err.Error()
			}
			return ""
		}
		if !p.ours {
			return "needs MyAccount's sign-in form (not this issuer's)"
		}
		if p.Login == nil {
			return "needs --login-client-id, --login-client-secret, --redirect and --password"
		}
	}
	return ""
}

func (p *plan) note(s string) { p.notes = append(p.notes, s) }

func parallel(n int, f func(i int) error, init func()) error {
	init()
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	sem := make(chan struct{}, 16) // set-up sign-ins are not the measurement: go easy
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := f(i); err != nil {
				first.CompareAndSwap(nil, &err)
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// startHello serves "ok" on a loopback port for the life of the process.
func startHello() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok\n")
		}))
	}()
	return "http://" + ln.Addr().String() + "/", nil
}

func (e *env) get(ctx context.Context, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (e *env) getJSON(ctx context.Context, u string, v any) error {
	return e.doJSON(ctx, http.MethodGet, u, v)
}

// postJSON is getJSON with an empty POST.
func (e *env) postJSON(ctx context.Context, u string, v any) error {
	return e.doJSON(ctx, http.MethodPost, u, v)
}

func (e *env) doJSON(ctx context.Context, method, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// post sends a form with HTTP Basic client authentication (RFC 6749 §2.3.1 encoding).
func post(ctx context.Context, c *http.Client, u, id, secret string, form url.Values) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b, err
}

func (e *env) clientCredentials(ctx context.Context, p *plan) (string, error) {
	resp, body, err := post(ctx, e.client, p.tokenURL, p.ClientID, p.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("%d %s", resp.StatusCode, snippet(body))
	}
	return tok.AccessToken, nil
}

// tokenShapes says, per scenario, what the issuer's first successful answer carried: two
// issuers compare like for like only when they sign the same tokens with the same algorithms
// (an RS256 ID token costs a dozen ES256 ones), so the report shows it beside the figures.
type tokenShapes struct {
	mu sync.Mutex
	m  map[string]string
}

// record sets scenario sc's description, made by describe, unless it is set already.
func (t *tokenShapes) record(sc string, describe func() string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[sc]; ok {
		return
	}
	if t.m == nil {
		t.m = map[string]string{}
	}
	t.m[sc] = describe()
}

// tokenShape describes a token: "JWT <alg>" for a JWS whose header names its algorithm,
// "opaque" for anything else, "none" when there is no token.
func tokenShape(tok string) string {
	if tok == "" {
		return "none"
	}
	header, _, ok := strings.Cut(tok, ".")
	if !ok || strings.Count(tok, ".") != 2 {
		return "opaque"
	}
	b, err := base64.RawURLEncoding.DecodeString(header)
	var h struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(b, &h) != nil || h.Alg == "" {
		return "opaque"
	}
	return "JWT " + h.Alg
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// measure runs the workers against one scenario of p for the duration (or MaxRequests).
// Workers stop starting requests at the deadline and finish the one in flight, which counts:
// cutting it off would lose every sign-in slower than the duration. The rate is over the
// time until the last one finished.
func (e *env) measure(ctx context.Context, p *plan, sc string) {
	end := time.Now().Add(e.opts.Duration)
	t := p.results[sc]
	if t == nil {
		t = &tally{}
		p.results[sc] = t
	}
	var mu sync.Mutex
	var issued atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range e.opts.Workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) && issued.Add(1) <= int64(e.opts.MaxRequests) {
				t0 := time.Now()
				errText := e.once(ctx, p, sc, w)
				el := time.Since(t0)
				mu.Lock()
				if errText == "" {
					t.lat = append(t.lat, el)
					t.n++
				} else {
					t.errors++
					if t.sample == "" {
						t.sample = errText
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.elapsed += time.Since(start)
}

// once is one request (one whole sign-in for SignIn); it returns "" or what went wrong.
func (e *env) once(ctx context.Context, p *plan, sc string, w int) string {
	getOK := func(u string) string {
		code, err := e.get(ctx, u)
		if err != nil {
			return err.Error()
		}
		if code != http.StatusOK {
			return "HTTP " + strconv.Itoa(code)
		}
		return ""
	}
	switch sc {
	case Baseline:
		return getOK(p.baselineURL)
	case Discovery:
		return getOK(p.Issuer + "/.well-known/openid-configuration")
	case JWKS:
		return getOK(p.jwksURL)
	case ClientCredentials:
		at, err := e.clientCredentials(ctx, p)
		if err != nil {
			return err.Error()
		}
		p.shapes.record(ClientCredentials, func() string { return "access_token " + tokenShape(at) })
		return ""
	case Introspection:
		resp, body, err := post(ctx, e.client, p.introURL, p.ClientID, p.ClientSecret, url.Values{"token": {p.introToken}})
		if err != nil {
			return err.Error()
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"active":true`) {
			return fmt.Sprintf("%d %s", resp.StatusCode, snippet(body))
		}
		return ""
	case Refresh:
		id, secret := p.ClientID, p.ClientSecret
		if p.ours {
			id, secret = p.Login.ClientID, p.Login.ClientSecret
		}
		resp, body, err := post(ctx, e.client, p.tokenURL, id, secret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.refresh[w]}})
		if err != nil {
			return err.Error()
		}
		var tok struct {
			RefreshToken string `json:"refresh_token"`
			AccessToken  string `json:"access_token"`
			IDToken      string `json:"id_token"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.RefreshToken == "" {
			return fmt.Sprintf("%d %s", resp.StatusCode, snippet(body))
		}
		p.refresh[w] = tok.RefreshToken // only worker w touches this slot
		p.shapes.record(Refresh, func() string {
			return "access_token " + tokenShape(tok.AccessToken) + ", id_token " + tokenShape(tok.IDToken)
		})
		return ""
	case SignIn:
		r := e.signIn(ctx, p, int(time.Now().UnixNano()))
		if r.outcome != "ok" {
			return r.outcome
		}
		return ""
	}
	return "unknown scenario"
}

func (e *env) report(plans []*plan) error {
	tw := tabwriter.NewWriter(e.opts.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "issuer\tscenario\trequests\terrors\treq/s\tp50\tp99\tvs baseline\n")
	for _, p := range plans {
		base := p.results[Baseline].rps()
		for _, sc := range AllScenarios {
			t := p.results[sc]
			if t == nil {
				continue
			}
			ratio := "-"
			if base > 0 {
				ratio = fmt.Sprintf("%.3f", t.rps()/base)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%v\t%v\t%s\n", p.Name, sc, t.n, t.errors, fmtRate(t.rps()),
				t.pct(0.5), t.pct(0.99), ratio)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	e.reportCeiling(e.opts.Out, plans)
	for _, p := range plans {
		e.reportSigninCost(e.opts.Out, p)
	}
	for _, p := range plans {
		for _, sc := range AllScenarios {
			if t := p.results[sc]; t != nil && t.sample != "" {
				fmt.Fprintf(e.opts.Out, "%s: %s: first error: %s\n", p.Name, sc, t.sample)
			}
		}
		for _, n := range p.notes {
			fmt.Fprintf(e.opts.Out, "%s: note: %s\n", p.Name, n)
		}
		for _, sc := range AllScenarios {
			if d, ok := p.shapes.m[sc]; ok {
				fmt.Fprintf(e.opts.Out, "%s: tokens in %s answers: %s\n", p.Name, sc, d)
			}
		}
		if p.PID > 0 {
			var parts []string
			for _, sc := range AllScenarios {
				if kb, ok := p.rss[sc]; ok {
					parts = append(parts, fmt.Sprintf("%s %.0f MB", sc, float64(kb)/1024))
				}
			}
			fmt.Fprintf(e.opts.Out, "%s: RSS after each scenario: %s; peak %.0f MB\n", p.Name, strings.Join(parts, ", "), float64(p.peakRSS)/1024)
		}
	}
	return nil
}

func (t *tally) rps() float64 {
	if t == nil || t.elapsed <= 0 {
		return 0
	}
	return float64(t.n) / t.elapsed.Seconds()
}

func (t *tally) pct(p float64) time.Duration {
	if len(t.lat) == 0 {
		return 0
	}
	slices.Sort(t.lat)
	d := t.lat[min(len(t.lat)-1, int(float64(len(t.lat))*p))]
	if d > time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func fmtRate(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'f', 1, 64)
}

// readRSS reads a process's resident and peak resident memory in KiB (Linux).
func readRSS(pid int) (rss, peak int64, err error) {
	st, err := procStatus(pid)
	if err != nil {
		return 0, 0, err
	}
	rss, _ = strconv.ParseInt(strings.TrimSuffix(st["VmRSS"], " kB"), 10, 64)
	peak, _ = strconv.ParseInt(strings.TrimSuffix(st["VmHWM"], " kB"), 10, 64)
	return rss, peak, nil
}

// procStatus reads /proc/PID/status as field: value (Linux).
func procStatus(pid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}
