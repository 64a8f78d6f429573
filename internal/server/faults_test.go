package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// faultEnv is a real server over a real SQLite file whose store calls can be made to fail.
func faultEnv(t *testing.T, configure func(*config.Config)) (*testEnv, *faultstore.Store) {
	t.Helper()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{configure: configure, wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	return e, fs
}

// faultMailEnv is faultEnv with a loopback SMTP server receiving the server's mail.
func faultMailEnv(t *testing.T) (*testEnv, *faultstore.Store) {
	t.Helper()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	return e, fs
}

// answer is one HTTP response as a client sees it.
type answer struct {
	status int
	header http.Header
	body   string
}

// leaks lists text that must never reach a client: what the injected error says, and
// what the store's own error messages look like.
var leaks = []string{"faultstore", "injected", "db.internal", "disk is full", "storage:", "sql", "get client"}

// randomFields are the answer's fields whose values are random or encrypted, not text.
var randomFields = []string{"access_token", "refresh_token", "id_token", "code", "device_code", "user_code", "state", "session_state"}

// withoutRandom is the answer's body and Location without the request id and the values of
// randomFields.
func withoutRandom(a answer) (body, loc string) {
	body = a.body
	if id := a.header.Get("X-Request-Id"); id != "" {
		body = strings.ReplaceAll(body, id, "")
	}
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) == nil {
		for _, f := range randomFields {
			delete(m, f)
		}
		b, _ := json.Marshal(m)
		body = string(b)
	}
	loc = a.header.Get("Location")
	if u, err := url.Parse(loc); err == nil && loc != "" {
		for _, q := range []*string{&u.RawQuery, &u.Fragment} {
			v, err := url.ParseQuery(*q)
			if err != nil {
				continue
			}
			for _, f := range randomFields {
				v.Del(f)
			}
			*q = v.Encode()
		}
		loc = u.String()
	}
	return body, loc
}

// checkFailureAnswer asserts what a client may be told when a store call failed: the normal
// answer (the call was best effort), or a 5xx with a fixed description — never a 4xx that
// blames the client, and never internal text.
func checkFailureAnswer(t *testing.T, what string, normal, got answer) {
	t.Helper()
	// The page's support reference is the random request id, and a success carries random
	// tokens and codes: any of them may spell "sql", so they are not read as text.
	body, loc := withoutRandom(got)
	for _, l := range leaks {
		if strings.Contains(strings.ToLower(body), l) || strings.Contains(strings.ToLower(loc), l) {
			t.Errorf("%s: answer leaks %q: %d %s %.300s", what, l, got.status, got.header.Get("Location"), got.body)
		}
	}
	if loc := got.header.Get("Location"); loc != "" {
		u, _ := url.Parse(loc)
		if e := u.Query().Get("error"); e != "" && e != "temporarily_unavailable" && e != "server_error" {
			t.Errorf("%s: error redirect %q blames the client for our failure", what, e)
		}
	}
	switch {
	case got.status >= 500:
		if got.status == http.StatusServiceUnavailable && got.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", what)
		}
		if strings.HasPrefix(got.header.Get("Content-Type"), "application/json") {
			var m map[string]string
			if err := json.Unmarshal([]byte(got.body), &m); err != nil {
				t.Errorf("%s: %d body is not JSON: %s", what, got.status, got.body)
			}
			want := map[string]string{
				"temporarily_unavailable": "The service is temporarily unavailable. Please retry shortly.",
				"server_error":            "The server could not complete the request.",
			}
			if d, ok := want[m["error"]]; !ok || m["error_description"] != d {
				t.Errorf("%s: %d answered %v, want a fixed temporarily_unavailable/server_error", what, got.status, m)
			}
		}
	case got.status != normal.status:
		t.Errorf("%s: status %d, want %d (as without the failure) or 5xx:\n%.300s", what, got.status, normal.status, got.body)
	}
}

// The sweep of every protocol route's store calls is TestEveryProtocolStoreFailureIsOurs
// (op15_sweep_test.go), whose scenarios include those once here.

// TestStalledDatabaseAnswers503Fast: a call that hangs is cut at the database deadline and
// answered 503 temporarily_unavailable, not left hanging.
func TestStalledDatabaseAnswers503Fast(t *testing.T) {
	e, fs := faultEnv(t, func(c *config.Config) { c.Database.Timeout = config.Duration(300 * time.Millisecond) })
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	fs.Add(faultstore.Rule{Method: "GetClient", Delay: time.Minute})
	start := time.Now()
	st, hdr, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
	took := time.Since(start)
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") || hdr.Get("Retry-After") == "" {
		t.Fatalf("stalled database: %d %s (Retry-After %q), want 503 temporarily_unavailable", st, body, hdr.Get("Retry-After"))
	}
	if took > 5*time.Second {
		t.Errorf("answer took %v with a 300ms database deadline", took)
	}
	// The readiness probe fails too, and recovers when the database does.
	fs.Clear()
	fs.Add(faultstore.Rule{Method: "Ping", Delay: time.Minute})
	if r := probe(t, e.addr+"/readyz"); r != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a stalled database: %d, want 503", r)
	}
	if r := probe(t, e.addr+"/healthz"); r != http.StatusOK {
		t.Errorf("/healthz with a stalled database: %d, want 200 (the process serves)", r)
	}
	fs.Clear()
	if r := probe(t, e.addr+"/readyz"); r != http.StatusOK {
		t.Errorf("/readyz after recovery: %d, want 200", r)
	}
	if st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret); st != 200 {
		t.Errorf("after recovery: %d %s", st, body)
	}
}

// TestUnavailablePage: a page whose store call fails answers the 503 "try again" page,
// not "unknown application" or a stack trace.
func TestUnavailablePage(t *testing.T) {
	e, fs := faultEnv(t, nil)
	c := e.addClient(storage.ClientConfidential)
	fs.Fail("GetClient")
	_, challenge := pkce()
	p := e.browser().get(e.oauth2Config(c).AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", challenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256")))
	if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" {
		t.Fatalf("authorize with the client store failing: %d (Retry-After %q)\n%.400s", p.status, p.header.Get("Retry-After"), p.body)
	}
	if strings.Contains(p.body, "not registered") || !strings.Contains(p.body, "Temporarily unavailable") {
		t.Errorf("page does not say the service is briefly unavailable:\n%.600s", p.body)
	}
	if p.header.Get("Content-Security-Policy") == "" {
		t.Error("the 503 page lost the security headers")
	}
}

func probe(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReadinessFollowsSchema: an instance whose database was migrated by a newer MyAccount
// stops being ready (it would misread what it does not know), and is ready again when the
// schema is one it knows.
func TestReadinessFollowsSchema(t *testing.T) {
	// A schema guard test: its server migrates its own new database.
	e := newEnvWith(t, envOptions{firstStart: true})
	if r := probe(t, e.addr+"/readyz"); r != http.StatusOK {
		t.Fatalf("/readyz on a fresh server: %d", r)
	}
	db, err := sqlite.Open(t.Context(), e.cfg.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQLX().ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 0)`); err != nil {
		t.Fatal(err)
	}
	if r := probe(t, e.addr+"/readyz"); r != http.StatusServiceUnavailable {
		t.Errorf("/readyz with an unknown migration applied: %d, want 503", r)
	}
	if r := probe(t, e.addr+"/healthz"); r != http.StatusOK {
		t.Errorf("/healthz: %d, want 200", r)
	}
	if _, err := db.SQLX().ExecContext(t.Context(), `DELETE FROM schema_migrations WHERE version = 999`); err != nil {
		t.Fatal(err)
	}
	if r := probe(t, e.addr+"/readyz"); r != http.StatusOK {
		t.Errorf("/readyz after the schema is known again: %d, want 200", r)
	}
}

// The leak check ignores random values only: text beside them is still read.
func TestWithoutRandomKeepsText(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-Request-Id": {"idsql"}, "Location": {"https://app.example/cb?code=xsqlx&error_description=sql+failed#state=sql"}}
	body, loc := withoutRandom(answer{200, h, `{"access_token":"aSqLb","error_description":"sql: no rows","ref":"idsql"}`})
	if strings.Contains(strings.ToLower(body), "asqlb") || strings.Contains(body, "idsql") {
		t.Errorf("random values kept: %s", body)
	}
	if !strings.Contains(body, "sql: no rows") {
		t.Errorf("text dropped: %s", body)
	}
	if strings.Contains(loc, "xsqlx") || strings.Contains(loc, "state=") || !strings.Contains(loc, "sql+failed") {
		t.Errorf("location: %s", loc)
	}
}

// TestRevocationSaysRevokedOnlyWhenItIs fails, once, each store call a revocation makes (the
// first, second, ... call of a method, not every call of it at once): a
// single failed lookup of a refresh token once made it "unknown", tried as an access token,
// and answered 200 while the token stayed live. A 200 must mean the token is dead; anything
// else must be our fixed 5xx.
func TestRevocationSaysRevokedOnlyWhenItIs(t *testing.T) {
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	e.addUser("ada@example.com")
	opaque := e.addClient(storage.ClientConfidential, firstParty, opaqueTokens, withGrants("authorization_code", "refresh_token"))
	jwt := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token"))
	b := e.browser()

	type kind struct {
		name string
		c    *testClient
		// token returns a fresh token of the kind; live reports whether it still works.
		token func(*oauth2.Token) string
		live  func(c *testClient, tok string) bool
	}
	refreshLive := func(c *testClient, rt string) bool {
		st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, c.Secret)
		return st == http.StatusOK
	}
	accessLive := func(c *testClient, at string) bool {
		st, _, body := e.postForm("/oauth/introspect", url.Values{"token": {at}}, c.ID, c.Secret)
		if st != http.StatusOK {
			t.Fatalf("introspection without failures: %d %s", st, body)
		}
		return strings.Contains(body, `"active":true`)
	}
	kinds := []kind{
		{"refresh token", opaque, func(t *oauth2.Token) string { return t.RefreshToken }, refreshLive},
		{"refresh token of a JWT client", jwt, func(t *oauth2.Token) string { return t.RefreshToken }, refreshLive},
		{"opaque access token", opaque, func(t *oauth2.Token) string { return t.AccessToken }, accessLive},
		{"JWT access token", jwt, func(t *oauth2.Token) string { return t.AccessToken }, accessLive},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			revoke := func(tok string) answer {
				st, hdr, body := e.postForm("/revoke", url.Values{"token": {tok}}, k.c.ID, k.c.Secret)
				return answer{st, hdr, body}
			}
			tok := k.token(e.tokens(ctx, b, k.c, "ada@example.com"))
			fs.ResetCalls()
			normal := revoke(tok)
			methods := fs.Calls()
			if normal.status != http.StatusOK || k.live(k.c, tok) {
				t.Fatalf("without failures: %d %s, live afterwards: %v", normal.status, normal.body, k.live(k.c, tok))
			}
			eachCallFailing(fs, methods, func() string { return k.token(e.tokens(ctx, b, k.c, "ada@example.com")) }, revoke,
				func(call, tok string, got answer) {
					what := "revoking with " + call
					if got.status == http.StatusOK && k.live(k.c, tok) {
						t.Errorf("%s: 200, but the token is still live", what)
						return
					}
					checkFailureAnswer(t, what, normal, got)
				})
		})
	}
}

// eachCallFailing fails, once, each store call of methods in turn: a method's first call,
// then its second, and so on until a request makes no more of them. For each, prepare sets
// up a fresh case while nothing fails, request runs it with that one call failing, and check
// judges the answer; what names the failing call ("call 2 of InTx failing").
func eachCallFailing[C, A any](fs *faultstore.Store, methods []string, prepare func() C, request func(C) A, check func(what string, c C, got A)) {
	for _, m := range methods {
		for skip := 0; ; skip++ {
			c := prepare()
			rule := fs.Add(faultstore.Rule{Method: m, Skip: skip, Times: 1, Err: faultstore.ErrInjected})
			got := request(c)
			fs.Clear()
			if fs.Applied(rule) == 0 {
				break
			}
			check(fmt.Sprintf("call %d of %s failing", skip+1, m), c, got)
		}
	}
}
