package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/storage"
)

// newLoggedEnv is newEnv (a real server over HTTP on a SQLite file) whose log is kept, so a
// test can search it.
func newLoggedEnv(t *testing.T, configure func(*config.Config)) (*testEnv, *syncbuf.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	vars := map[string]string{"MYACCOUNT_ISSUER": issuer, "MYACCOUNT_DATA_DIR": t.TempDir()}
	cfg, err := config.Load("", func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(cfg)
	}
	logs := &syncbuf.Buffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, &testWriter{t})
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &clock{}
	srv, err := server.New(t.Context(), cfg, log, server.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return &testEnv{t: t, srv: srv, http: hs, issuer: issuer, addr: issuer, store: srv.Store, clock: clk, cfg: cfg}, logs
}

// signInOutcome is how one concurrent sign-in ended.
type signInOutcome struct {
	ok       bool          // tokens obtained
	busy     bool          // a step answered 503
	loginDur time.Duration // how long the password POST took
	err      error         // anything else: a failure
}

// lockedText is what SQLite says when two of our own connections collide.
var lockedText = []string{"database is locked", "database table is locked", "SQLITE_BUSY"}

func mentionsLock(s string) bool {
	return slices.ContainsFunc(lockedText, func(l string) bool { return strings.Contains(s, l) })
}

// concurrentSignIn runs one browser through the authorization code flow (authorize, the
// password form, the redirect back) and the code exchange. It never calls t.Fatal, so it
// can run in any goroutine.
func (e *testEnv) concurrentSignIn(ctx context.Context, c *testClient, email string) signInOutcome {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 60 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), e.issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	fetch := func(req *http.Request) (*http.Response, string, error) {
		resp, err := hc.Do(req.WithContext(ctx))
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if mentionsLock(string(body)) {
			return resp, string(body), fmt.Errorf("%s answered %d mentioning a lock: %.300s", req.URL.Path, resp.StatusCode, body)
		}
		return resp, string(body), nil
	}
	verifier, challenge := pkce()
	state := secret.RandomToken(8)
	req, _ := http.NewRequest(http.MethodGet, e.oauth2Config(c).AuthCodeURL(state,
		oauth2.SetAuthURLParam("code_challenge", challenge), oauth2.SetAuthURLParam("code_challenge_method", "S256")), nil)
	resp, body, err := fetch(req)
	switch {
	case err != nil:
		return signInOutcome{err: err}
	case resp.StatusCode == http.StatusServiceUnavailable:
		return signInOutcome{busy: true}
	case !strings.Contains(body, `action="/login"`):
		return signInOutcome{err: fmt.Errorf("authorize: %d, not the sign-in page: %.300s", resp.StatusCode, body)}
	}
	form := (&page{body: body}).formValues()
	form.Set("email", email)
	form.Set("password", testPassword)
	req, _ = http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	resp, body, err = fetch(req)
	out := signInOutcome{loginDur: time.Since(start)}
	switch {
	case err != nil:
		out.err = err
		return out
	case resp.StatusCode == http.StatusServiceUnavailable:
		out.busy = true
		return out
	case resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther:
		out.err = fmt.Errorf("sign-in: %d at %s, want a redirect to the client: %.300s", resp.StatusCode, resp.Request.URL, body)
		return out
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if q.Get("error") == "temporarily_unavailable" {
		out.busy = true
		return out
	}
	if q.Get("code") == "" || q.Get("state") != state {
		out.err = fmt.Errorf("redirect to the client without a code: %s", loc)
		return out
	}
	tok, err := e.oauth2Config(c).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response.StatusCode == http.StatusServiceUnavailable:
		out.busy = true
	case err != nil:
		out.err = fmt.Errorf("code exchange: %w", err)
	case tok.RefreshToken == "":
		out.err = errors.New("code exchange: no refresh token")
	default:
		out.ok = true
	}
	return out
}

// tokenTraffic requests client_credentials tokens and rotates a refresh token in a loop
// until ctx ends, as relying parties do beside the sign-ins. It returns the failures that
// are not a 503.
func (e *testEnv) tokenTraffic(ctx context.Context, cc, rp *testClient, refresh string) (requests int, failures []string) {
	for ctx.Err() == nil {
		for _, form := range []url.Values{
			{"grant_type": {"client_credentials"}},
			{"grant_type": {"refresh_token"}, "refresh_token": {refresh}},
		} {
			user, pass := cc.ID, cc.Secret
			if form.Get("grant_type") == "refresh_token" {
				user, pass = rp.ID, rp.Secret
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.addr+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					failures = append(failures, err.Error())
				}
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			requests++
			switch {
			case mentionsLock(string(body)):
				failures = append(failures, fmt.Sprintf("%s: %d %s", form.Get("grant_type"), resp.StatusCode, body))
			case resp.StatusCode == http.StatusServiceUnavailable:
			case resp.StatusCode != http.StatusOK:
				failures = append(failures, fmt.Sprintf("%s: %d %s", form.Get("grant_type"), resp.StatusCode, body))
			case form.Get("grant_type") == "refresh_token":
				var v struct {
					RefreshToken string `json:"refresh_token"`
				}
				if err := json.Unmarshal(body, &v); err != nil || v.RefreshToken == "" {
					failures = append(failures, fmt.Sprintf("refresh: no new token in %s", body))
				} else {
					refresh = v.RefreshToken
				}
			}
		}
	}
	return requests, failures
}

// runConcurrentSignIns signs n users in at once while token traffic runs, and returns the
// outcomes. Users and clients are created first.
func runConcurrentSignIns(t *testing.T, e *testEnv, n, trafficWorkers int) []signInOutcome {
	t.Helper()
	rp := e.addClient(storage.ClientConfidential, firstParty)
	cc := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	emails := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("user%02d@example.com", i)
		e.addUser(emails[i])
	}
	ctx := t.Context()
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	var traffic sync.WaitGroup
	var mu sync.Mutex
	var trafficFailures []string
	totalRequests := 0
	for i := range trafficWorkers {
		// Each worker rotates its own refresh family.
		tok := e.tokens(ctx, e.browser(), rp, emails[i%n])
		traffic.Go(func() {
			reqs, fails := e.tokenTraffic(trafficCtx, cc, rp, tok.RefreshToken)
			mu.Lock()
			totalRequests += reqs
			trafficFailures = append(trafficFailures, fails...)
			mu.Unlock()
		})
	}
	outcomes := make([]signInOutcome, n)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-startGate
			outcomes[i] = e.concurrentSignIn(ctx, rp, emails[i])
		})
	}
	close(startGate)
	wg.Wait()
	stopTraffic()
	traffic.Wait()
	for _, f := range trafficFailures {
		t.Errorf("token request beside the sign-ins: %s", f)
	}
	if trafficWorkers > 0 && totalRequests == 0 {
		t.Error("no token request completed beside the sign-ins")
	}
	t.Logf("%d token requests ran beside %d sign-ins", totalRequests, n)
	return outcomes
}

// TestConcurrentSignInsOnSQLite: 50 people sign in at once (authorization code flow with the
// password form and a code exchange) while clients request and refresh tokens. On SQLite,
// with one writer by design, nothing may fail with "database is locked" (in a response or in
// the log), and every sign-in either succeeds or is told 503 "try again".
func TestConcurrentSignInsOnSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("50 argon2id sign-ins")
	}
	e, logs := newLoggedEnv(t, nil)
	outcomes := runConcurrentSignIns(t, e, 50, 4)
	ok, busy := 0, 0
	for i, o := range outcomes {
		switch {
		case o.err != nil:
			t.Errorf("sign-in %d: %v", i, o.err)
		case o.ok:
			ok++
		case o.busy:
			busy++
		}
	}
	t.Logf("%d signed in, %d told to try again", ok, busy)
	if ok == 0 {
		t.Error("no sign-in succeeded")
	}
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if mentionsLock(line) {
			t.Errorf("server log: %s", line)
		}
	}
}

// TestSignInsBeyondTheHashQueueGet503: with one hashing slot and a queue of one, a burst of
// sign-ins is mostly refused at once with 503 (not after waiting, not as "wrong password"),
// and the ones admitted succeed.
func TestSignInsBeyondTheHashQueueGet503(t *testing.T) {
	e, logs := newLoggedEnv(t, func(c *config.Config) {
		c.Security.PasswordHashConcurrency = 1
		c.Security.PasswordHashQueue = 1
	})
	const n = 24
	outcomes := runConcurrentSignIns(t, e, n, 0)
	ok, busy := 0, 0
	var slowest503 time.Duration
	for i, o := range outcomes {
		switch {
		case o.err != nil:
			t.Errorf("sign-in %d: %v", i, o.err)
		case o.ok:
			ok++
		case o.busy:
			busy++
			slowest503 = max(slowest503, o.loginDur)
		}
	}
	t.Logf("%d signed in, %d told to try again (slowest 503 after %v)", ok, busy, slowest503)
	if ok == 0 || busy == 0 {
		t.Fatalf("%d succeeded and %d got 503; want both (hash queue of 1 behind 1 slot)", ok, busy)
	}
	// Refused without waiting for a slot: far less than the queue of n hashes would take.
	if slowest503 > 2*time.Second {
		t.Errorf("a refused sign-in took %v; want an immediate 503", slowest503)
	}
	if !strings.Contains(logs.String(), "too many password hashes in progress") {
		t.Error("the log does not say why sign-ins were refused")
	}
	// Those told to try again can: the limiter holds no slot for them.
	for i, o := range outcomes {
		if o.busy {
			if again := e.concurrentSignIn(t.Context(), e.addClient(storage.ClientConfidential, firstParty), fmt.Sprintf("user%02d@example.com", i)); !again.ok {
				t.Errorf("sign-in %d again, alone: %+v", i, again)
			}
			break
		}
	}
}
