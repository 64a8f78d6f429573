package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// signInRun measures whole sign-ins: authorize, the password form, the code exchange.
type signInRun struct {
	base, clientID, secret, redirect, password string
	users                                      int
}

// signInResult is one sign-in: its latency, and how it ended ("ok", "503" or the failure).
type signInResult struct {
	d       time.Duration
	outcome string
}

var (
	titleRE = regexp.MustCompile(`(?s)<title>(.*?)</title>`)
	alertRE = regexp.MustCompile(`(?s)role="alert"[^>]*>(.*?)<`)
)

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func (s signInRun) run(n int) error {
	if s.clientID == "" || s.redirect == "" || s.password == "" {
		return fmt.Errorf("--signins needs --client-id, --client-secret, --redirect and --password")
	}
	// Baseline: five sign-ins one after the other.
	var alone []signInResult
	for i := range 5 {
		alone = append(alone, s.signIn(i))
	}
	var mu sync.Mutex
	var all []signInResult
	var wg sync.WaitGroup
	gate := make(chan struct{})
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			<-gate
			r := s.signIn(i)
			mu.Lock()
			all = append(all, r)
			mu.Unlock()
		})
	}
	close(gate)
	wg.Wait()
	wall := time.Since(start)

	base := summarize(alone)
	conc := summarize(all)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\tsign-ins\tok\t503\tfailed\tp50\tp99\tp50/baseline\tp99/baseline\n")
	for _, r := range []struct {
		name string
		s    summary
	}{{"alone (baseline)", base}, {fmt.Sprintf("%d at once", n), conc}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%v\t%v\t%.2f\t%.2f\n", r.name, r.s.n, r.s.ok, r.s.busy, r.s.failed,
			r.s.p50.Round(time.Millisecond), r.s.p99.Round(time.Millisecond),
			float64(r.s.p50)/float64(base.p50), float64(r.s.p99)/float64(base.p50))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("wall time for %d at once: %v\n", n, wall.Round(time.Millisecond))
	for f, c := range conc.failures {
		fmt.Printf("failure x%d: %s\n", c, f)
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

// signIn runs one sign-in as user i (modulo --users) in a fresh browser.
func (s signInRun) signIn(i int) signInResult {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	outcome := s.flow(ctx, fmt.Sprintf("load%03d@example.com", i%s.users))
	return signInResult{d: time.Since(start), outcome: outcome}
}

func (s signInRun) flow(ctx context.Context, email string) string {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), s.base) {
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
		b, _ := io.ReadAll(resp.Body)
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
		if what == "" && len(body) > 160 {
			what = " " + body[:160]
		}
		return fmt.Sprintf("%s: %d%s", step, resp.StatusCode, what)
	}
	vb := make([]byte, 32)
	_, _ = rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {s.clientID}, "redirect_uri": {s.redirect},
		"scope": {"openid email offline_access"}, "state": {"s" + verifier[:8]},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest(http.MethodGet, s.base+"/authorize?"+q.Encode(), nil)
	resp, body, err := do(req)
	if err != nil {
		return "authorize: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/login"`) {
		return bad("authorize", resp, body)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("email", email)
	form.Set("password", s.password)
	req, _ = http.NewRequest(http.MethodPost, s.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body, err = do(req)
	if err != nil {
		return "login: " + err.Error()
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || loc == nil || !strings.HasPrefix(loc.String(), s.redirect) {
		return bad("login", resp, body)
	}
	if e := loc.Query().Get("error"); e != "" {
		if e == "temporarily_unavailable" {
			return "503"
		}
		return "authorize redirect: " + e
	}
	tq := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {s.redirect}, "code_verifier": {verifier}}
	req, _ = http.NewRequest(http.MethodPost, s.base+"/oauth/token", strings.NewReader(tq.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(s.clientID), url.QueryEscape(s.secret))
	resp, body, err = do(req)
	if err != nil {
		return "token: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "refresh_token") {
		return bad("token", resp, body)
	}
	return "ok"
}
