package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// signInResult is one sign-in: its latency, how it ended ("ok", "503" or the failure) and
// the refresh token it got.
type signInResult struct {
	d       time.Duration
	outcome string
	refresh string
}

var (
	titleRE     = regexp.MustCompile(`(?s)<title>(.*?)</title>`)
	alertRE     = regexp.MustCompile(`(?s)role="alert"[^>]*>(.*?)<`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// signIn runs one whole sign-in as user i (modulo Users) in a fresh browser: authorize, the
// password form, the code exchange.
func (e *env) signIn(ctx context.Context, p *plan, i int) signInResult {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	if i < 0 {
		i = -i
	}
	outcome, refresh := e.flow(ctx, p, fmt.Sprintf(p.Login.EmailPattern, i%max(1, p.Login.Users)))
	return signInResult{d: time.Since(start), outcome: outcome, refresh: refresh}
}

func (e *env) flow(ctx context.Context, p *plan, email string) (string, string) {
	l := p.Login
	jar, _ := cookiejar.New(nil)
	// A fresh cookie jar is a fresh browser; the transport (and its connections) is shared.
	c := &http.Client{Jar: jar, Transport: e.client.Transport, Timeout: e.client.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), p.Issuer) || len(via) > 10 {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	do := func(req *http.Request) (*http.Response, string, error) {
		resp, err := c.Do(req.WithContext(ctx))
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return resp, string(b), nil
	}
	bad := func(step string, resp *http.Response, body string) string {
		if resp.StatusCode == http.StatusServiceUnavailable {
			return "503"
		}
		// The page's title and first alert say what went wrong; the rest is layout.
		what := ""
		for _, re := range []*regexp.Regexp{titleRE, alertRE} {
			if m := re.FindStringSubmatch(body); m != nil {
				what += " " + strings.Join(strings.Fields(html.UnescapeString(m[1])), " ")
			}
		}
		if what == "" {
			what = " " + snippet([]byte(body))
		}
		return fmt.Sprintf("%s: %d%s", step, resp.StatusCode, what)
	}
	vb := make([]byte, 32)
	_, _ = rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {l.ClientID}, "redirect_uri": {l.Redirect},
		"scope": {"openid email offline_access"}, "state": {"s" + verifier[:8]},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest(http.MethodGet, p.authURL+"?"+q.Encode(), nil)
	resp, body, err := do(req)
	if err != nil {
		return "authorize: " + err.Error(), ""
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/login"`) {
		return bad("authorize", resp, body), ""
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("email", email)
	form.Set("password", l.Password)
	req, _ = http.NewRequest(http.MethodPost, p.Issuer+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body, err = do(req)
	if err != nil {
		return "login: " + err.Error(), ""
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || loc == nil || !strings.HasPrefix(loc.String(), l.Redirect) {
		return bad("login", resp, body), ""
	}
	if e := loc.Query().Get("error"); e != "" {
		if e == "temporarily_unavailable" {
			return "503", ""
		}
		return "authorize redirect: " + e, ""
	}
	r, b, err := post(ctx, c, p.tokenURL, l.ClientID, l.ClientSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {l.Redirect}, "code_verifier": {verifier}})
	if err != nil {
		return "token: " + err.Error(), ""
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if r.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.RefreshToken == "" {
		return bad("token", r, string(b)), ""
	}
	return "ok", tok.RefreshToken
}

// MaxBurst bounds Burst's concurrent sign-ins.
const MaxBurst = 500

// Burst measures sign-ins under a burst: five one after the other (the baseline), then n at
// once, and prints latencies, how many were shed with 503 (the password-hashing limiter at
// work) and the server's memory when t.PID is set.
func Burst(ctx context.Context, t Target, n int, out io.Writer) error {
	n = max(1, min(n, MaxBurst))
	e := &env{opts: Options{Workers: n, Scenarios: []string{SignIn}, Out: out}, client: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n},
	}}
	p, err := e.prepare(ctx, t)
	if err != nil {
		return err
	}
	if !slices.Contains(p.scenarios, SignIn) {
		return fmt.Errorf("%s: cannot sign in: %s", p.Name, strings.Join(p.notes, "; "))
	}
	var rssBefore int64
	if t.PID > 0 {
		rssBefore, _, _ = readRSS(t.PID)
	}
	var alone []signInResult
	for i := range 5 {
		alone = append(alone, e.signIn(ctx, p, i))
	}
	var mu sync.Mutex
	var all []signInResult
	var wg sync.WaitGroup
	gate := make(chan struct{})
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			<-gate
			r := e.signIn(ctx, p, i)
			mu.Lock()
			all = append(all, r)
			mu.Unlock()
		})
	}
	close(gate)
	wg.Wait()
	wall := time.Since(start)

	base, conc := summarize(alone), summarize(all)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\tsign-ins\tok\t503\tfailed\tp50\tp99\tp50/baseline\tp99/baseline\n")
	for _, r := range []struct {
		name string
		s    summary
	}{{"alone (baseline)", base}, {fmt.Sprintf("%d at once", n), conc}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%v\t%v\t%.2f\t%.2f\n", r.name, r.s.n, r.s.ok, r.s.busy, r.s.failed,
			r.s.p50.Round(time.Millisecond), r.s.p99.Round(time.Millisecond),
			float64(r.s.p50)/float64(max(1, base.p50)), float64(r.s.p99)/float64(max(1, base.p50)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "wall time for %d at once: %v (%.1f sign-ins/s)\n", n, wall.Round(time.Millisecond),
		float64(conc.ok)/wall.Seconds())
	for f, c := range conc.failures {
		fmt.Fprintf(out, "failure x%d: %s\n", c, f)
	}
	if t.PID > 0 {
		if rss, peak, err := readRSS(t.PID); err == nil {
			fmt.Fprintf(out, "server RSS: %.0f MB before, %.0f MB after, peak (VmHWM, whole process life) %.0f MB\n",
				float64(rssBefore)/1024, float64(rss)/1024, float64(peak)/1024)
		}
	}
	return nil
}

type summary struct {
	n, ok, busy, failed int
	p50, p99            time.Duration
	failures            map[string]int
}

// summarize takes percentiles over the sign-ins that succeeded.
func summarize(rs []signInResult) summary {
	s := summary{n: len(rs), failures: map[string]int{}}
	var lat []time.Duration
	for _, r := range rs {
		switch r.outcome {
		case "ok":
			s.ok++
			lat = append(lat, r.d)
		case "503":
			s.busy++
		default:
			s.failed++
			s.failures[r.outcome]++
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	s.p50, s.p99 = pct(0.5), pct(0.99)
	return s
}
