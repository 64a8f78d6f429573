package server_test

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/captcha"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// clock is a movable clock shared by the server under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

// Advance moves the clock forward from the real time (or the last set time).
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = time.Now()
	}
	c.now = c.now.Add(d)
}

// testEnv is a real MyAccount on a loopback port with a SQLite file in a temp dir.
type testEnv struct {
	t      testing.TB
	srv    *server.Server
	http   *httptest.Server
	issuer string
	// addr is where this instance listens (differs from issuer for a second instance).
	addr  string
	store storage.Store
	clock *clock
	cfg   *config.Config
	tape  *randTape
	smtp  *mailtest.Server
}

const testPassword = "correct horse battery staple"

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnvWith(t, envOptions{})
}

// envOptions adds real parts a test needs.
type envOptions struct {
	// smtp is a loopback SMTP server that receives the server's mail.
	smtp *mailtest.Server
	// env adds MYACCOUNT_* variables.
	env map[string]string
	// issuer overrides the issuer (several instances of one deployment share it).
	issuer string
	// clock shares a clock between instances.
	clock *clock
	// configure adjusts the loaded configuration.
	configure func(*config.Config)
	// listen is the address to listen on ("" = a free loopback port).
	listen string
	// wrapStore wraps the real store (e.g. with storage/faultstore) under the server's guard.
	wrapStore func(storage.Store) storage.Store
	// localhost makes the issuer http://localhost:PORT (the listener stays on 127.0.0.1):
	// a real browser's WebAuthn needs a domain, not an IP address.
	localhost bool
	// logTo also receives the server's log (at DEBUG), for tests that check what it logs.
	logTo io.Writer
	// tape records the captcha's randomness; instances of one cluster share one, so a test
	// answers a captcha whichever instance drew it.
	tape *randTape
	// productionHashCost keeps the configured argon2id cost (secret.DefaultParams) instead of
	// testHashCost: for tests of the hashing itself (its CPU in the metrics) and benchmarks.
	productionHashCost bool
	// firstStart starts the server on an empty data directory, as a first start does: it
	// migrates the new database and generates the master key and signing keys. Without it a
	// test on the default SQLite file in its data directory starts from a copy of
	// sharedFirstStart's (see startFrom).
	firstStart bool
}

// testHashCost is the argon2id cost of passwords in the tests' servers, unless they ask for
// productionHashCost: the cheapest argon2id (64 KiB, one pass), still the real hashing, the
// real PHC strings and the real verification, but some 0.1 ms a hash instead of tens. A
// password sign-in hashes at least once and every test signs in, so at the production cost
// hashing was a third of the package's CPU. No test here is about the cost itself but those
// that opt out; the secret package tests the production parameters.
var testHashCost = secret.Params{Memory: 64, Iterations: 1, Parallelism: 1}

func newEnvWith(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	listen := o.listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	if o.localhost {
		issuer = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	}
	if o.issuer != "" {
		issuer = o.issuer
	}
	dir := t.TempDir()
	vars := map[string]string{"MYACCOUNT_ISSUER": issuer, "MYACCOUNT_DATA_DIR": dir}
	if o.smtp != nil {
		vars["MYACCOUNT_SMTP_HOST"] = o.smtp.Host()
		vars["MYACCOUNT_SMTP_PORT"] = fmt.Sprint(o.smtp.Port())
		vars["MYACCOUNT_SMTP_STARTTLS"] = "none"
		vars["MYACCOUNT_MAIL_FROM"] = "MyAccount <no-reply@myaccount.test>"
	}
	for k, v := range o.env {
		vars[k] = v
	}
	cfg, err := config.Load("", func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !o.productionHashCost {
		// Below what Validate accepts for a deployment, which is why it is set here.
		cfg.Security.PasswordHashMemoryKiB = int(testHashCost.Memory)
		cfg.Security.PasswordHashIterations = int(testHashCost.Iterations)
	}
	if o.configure != nil {
		o.configure(cfg)
	}
	clk := o.clock
	if clk == nil {
		clk = &clock{}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if o.logTo != nil {
		w := o.logTo
		if testing.Verbose() {
			w = io.MultiWriter(w, &testWriter{t})
		}
		log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tape := o.tape
	if tape == nil {
		tape = &randTape{}
	}
	if !o.firstStart {
		startFrom(t, cfg)
	}
	shared := sharedData(t)
	srv, err := server.New(context.Background(), cfg, log, server.Options{Now: clk.Now, CaptchaRand: tape, WrapStore: o.wrapStore,
		Geo: shared.Geo, Blocklist: shared.Blocklist})
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
	return &testEnv{t: t, srv: srv, http: hs, issuer: issuer, addr: "http://" + ln.Addr().String(), store: srv.Store, clock: clk, cfg: cfg, tape: tape, smtp: o.smtp}
}

// randTape is the captcha's randomness: crypto/rand, with a record of what the server drew,
// so a test can compute the answers the way an attacker cannot.
type randTape struct {
	mu  sync.Mutex
	log []byte
}

func (r *randTape) Read(p []byte) (int, error) {
	n, err := cryptorand.Read(p)
	r.mu.Lock()
	r.log = append(r.log, p[:n]...)
	r.mu.Unlock()
	return n, err
}

// answer returns the answer of the last captcha drawn since the previous call (an error page
// draws a new picture, so several may have been drawn).
func (r *randTape) answer(t testing.TB) string {
	t.Helper()
	r.mu.Lock()
	drawn := r.log
	r.log = nil
	r.mu.Unlock()
	rd := bytes.NewReader(drawn)
	last := ""
	for {
		a, err := captcha.Digits(rd, captcha.DefaultLength)
		if err != nil {
			break
		}
		last = a
	}
	if last == "" {
		t.Fatal("no captcha was drawn")
	}
	return last
}

type testWriter struct{ t testing.TB }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testClient is a registered client as a relying party sees it.
type testClient struct {
	ID, Secret string
	Redirect   string
	c          *storage.Client
}

type clientOpt func(*storage.Client)

func firstParty(c *storage.Client)   { c.FirstParty = true }
func opaqueTokens(c *storage.Client) { c.AccessTokenFormat = storage.TokenFormatOpaque }
func withGrants(g ...string) clientOpt {
	return func(c *storage.Client) { c.GrantTypes = g }
}

// addClient registers a client directly in the store, as `myaccount client create` does.
func (e *testEnv) addClient(typ string, opts ...clientOpt) *testClient {
	e.t.Helper()
	id := secret.NewID()
	redirect := "https://rp.example/" + id + "/callback"
	if typ == storage.ClientNative {
		redirect = "http://127.0.0.1/callback"
	}
	c := &storage.Client{
		ID: id, Name: "Test App " + id[:4], Type: typ,
		RedirectURIs:           []string{redirect},
		PostLogoutRedirectURIs: []string{"https://rp.example/" + id + "/bye"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		AccessTokenFormat:      storage.TokenFormatJWT, IDTokenAlg: "RS256",
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(),
	}
	tc := &testClient{ID: id, Redirect: redirect, c: c}
	if typ == storage.ClientConfidential {
		tc.Secret = secret.RandomToken(32)
		c.SecretHash = secret.HashToken(tc.Secret)
	}
	for _, o := range opts {
		o(c)
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return tc
}

// accounts is an account service on the server's store that hashes passwords at the
// server's cost, as `myaccount user create` does: its hashes are never upgraded at sign-in.
func (e *testEnv) accounts() *account.Service {
	return &account.Service{Store: e.store, Hasher: e.cfg.Security.PasswordHasher()}
}

// addUser creates an active account with testPassword.
func (e *testEnv) addUser(email string) *storage.User {
	e.t.Helper()
	svc := e.accounts()
	u, err := svc.Create(context.Background(), email, testPassword, storage.UserActive)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err = e.store.UpdateUser(context.Background(), u.ID, func(x *storage.User) error {
		x.Name, x.Locale, x.ZoneInfo, x.Country = "Ada Lovelace", "en-GB", "Europe/London", "GB"
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *testEnv) oauth2Config(c *testClient, scopes ...string) *oauth2.Config {
	if len(scopes) == 0 {
		scopes = []string{gooidc.ScopeOpenID, "email", "profile", gooidc.ScopeOfflineAccess}
	}
	return &oauth2.Config{
		ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: c.Redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

func (e *testEnv) provider(ctx context.Context) *gooidc.Provider {
	e.t.Helper()
	p, err := gooidc.NewProvider(ctx, e.issuer)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// browser is a cookie-keeping HTTP client that stops at redirects leaving MyAccount.
type browser struct {
	t      testing.TB
	c      *http.Client
	issuer string
}

func (e *testEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: e.t, issuer: e.issuer}
	b.c = &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), e.issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// page is a fetched response with its body read.
type page struct {
	status int
	url    *url.URL
	header http.Header
	body   string
}

func (p *page) location() *url.URL {
	u, _ := url.Parse(p.header.Get("Location"))
	return u
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &page{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: string(body)}
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formValues returns the hidden inputs of a page.
func (p *page) formValues() url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// submitLogin fills in and posts the sign-in form shown on p.
func (b *browser) submitLogin(p *page, email, password string) *page {
	b.t.Helper()
	if !strings.Contains(p.body, `action="/login"`) {
		b.t.Fatalf("expected the sign-in page, got %d at %s:\n%.600s", p.status, p.url, p.body)
	}
	f := p.formValues()
	f.Set("email", email)
	f.Set("password", password)
	return b.post(b.issuer+"/login", f)
}

// consent posts a decision on the consent page p.
func (b *browser) consent(p *page, decision string) *page {
	b.t.Helper()
	if !strings.Contains(p.body, `action="/consent"`) {
		b.t.Fatalf("expected the consent page, got %d at %s:\n%.600s", p.status, p.url, p.body)
	}
	f := p.formValues()
	f.Set("decision", decision)
	return b.post(b.issuer+"/consent", f)
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = oauth2.GenerateVerifier()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authResult is what arrived at the client's redirect URI.
type authResult struct {
	code, state, err, iss string
}

func redirectResult(t testing.TB, p *page, redirect string) authResult {
	t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("expected a redirect to the client, got %d at %s:\n%.800s", p.status, p.url, p.body)
	}
	loc := p.header.Get("Location")
	if !strings.HasPrefix(loc, redirect) {
		t.Fatalf("redirect to %q, want prefix %q", loc, redirect)
	}
	u, _ := url.Parse(loc)
	q := u.Query()
	return authResult{code: q.Get("code"), state: q.Get("state"), err: q.Get("error"), iss: q.Get("iss")}
}

// signIn runs the authorization request in browser b up to the redirect back to the client,
// signing in with the password when the sign-in page appears and allowing consent.
func (e *testEnv) signIn(b *browser, c *testClient, email string, opts ...oauth2.AuthCodeOption) (authResult, string) {
	e.t.Helper()
	verifier, _ := pkce()
	state := secret.RandomToken(8)
	opts = append(opts, oauth2.S256ChallengeOption(verifier))
	p := b.get(e.oauth2Config(c).AuthCodeURL(state, opts...))
	if strings.Contains(p.body, `action="/login"`) {
		p = b.submitLogin(p, email, testPassword)
	}
	if strings.Contains(p.body, `action="/consent"`) {
		p = b.consent(p, "allow")
	}
	res := redirectResult(e.t, p, c.Redirect)
	if res.state != state {
		e.t.Fatalf("state = %q, want %q", res.state, state)
	}
	return res, verifier
}

// tokens runs a full sign-in and code exchange.
func (e *testEnv) tokens(ctx context.Context, b *browser, c *testClient, email string, opts ...oauth2.AuthCodeOption) *oauth2.Token {
	e.t.Helper()
	res, verifier := e.signIn(b, c, email, opts...)
	if res.code == "" {
		e.t.Fatalf("no code: error %q", res.err)
	}
	tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// postForm posts to a protocol endpoint with optional basic auth and returns status and body.
func (e *testEnv) postForm(path string, form url.Values, user, pass string) (int, http.Header, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.addr+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// postgresVars are the variables of a server on a PostgreSQL database of its own (copied from
// the migrated template) with a master key of its own.
func postgresVars(t testing.TB) map[string]string {
	return map[string]string{"MYACCOUNT_DATABASE_URL": pgtest.URL(t), "MYACCOUNT_MASTER_KEY": keys.NewMasterKey()}
}
