package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// keyTTL is the signing keys' cache lifetime in these tests: past it, the next request that
// needs a key reads them again (ListSigningKeys), and that read is what fails.
const keyTTL = 200 * time.Millisecond

func keyReloadEnv(t *testing.T, configure func(*config.Config)) (*testEnv, *faultstore.Store) {
	t.Helper()
	return faultEnv(t, func(c *config.Config) {
		c.Keys.CacheTTL = config.Duration(keyTTL)
		if configure != nil {
			configure(c)
		}
	})
}

// staleKeys waits until the key cache must be read again.
func staleKeys() { time.Sleep(keyTTL + 100*time.Millisecond) }

// TestKeyReloadFailureIsNotInactive: a JWT access token checked when the signing keys must be
// reloaded and cannot be is not known to be invalid. Introspection once answered
// {"active":false} for a live token (the failure was recorded but not as the token's state);
// it, userinfo and the admin API answer 503.
func TestKeyReloadFailureIsNotInactive(t *testing.T) {
	e, fs := keyReloadEnv(t, nil)
	ctx := context.Background()
	e.addUser("ada@example.com")
	person := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token"))
	machineClient, machine := e.automation(t, "admin:read")
	user := e.tokens(ctx, e.browser(), person, "ada@example.com").AccessToken
	// Each token is introspected by its own client (another one is told "inactive", §2.2).
	owner := map[string]*testClient{machine: machineClient, user: person}
	introspect := func(tok string) (int, string) {
		st, _, body := e.postForm("/oauth/introspect", url.Values{"token": {tok}}, owner[tok].ID, owner[tok].Secret)
		return st, body
	}
	userinfo := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, e.addr+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	staleKeys()
	fs.Fail("ListSigningKeys")
	for name, tok := range map[string]string{"machine token": machine, "user token": user} {
		if st, body := introspect(tok); st != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") {
			t.Errorf("introspection of a live %s with the keys unreadable: %d %s, want 503", name, st, body)
		}
	}
	if st := userinfo(user); st != http.StatusServiceUnavailable {
		t.Errorf("userinfo with the keys unreadable: %d, want 503", st)
	}
	if a := e.call(t, http.MethodGet, "/clients", machine, nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("admin API with the keys unreadable: %d %s, want 503", a.status, a.body)
	}
	fs.Clear()
	for name, tok := range map[string]string{"machine token": machine, "user token": user} {
		if st, body := introspect(tok); st != http.StatusOK || !strings.Contains(body, `"active":true`) {
			t.Errorf("%s after the keys are back: %d %s, want active", name, st, body)
		}
	}
}

// TestKeyReloadFailureRevokesNothing: /revoke that cannot read the signing keys cannot verify
// a JWT access token; it once went on with the raw token, found no row and answered 200
// "revoked" with the token still live. It answers 503, and the retry revokes.
func TestKeyReloadFailureRevokesNothing(t *testing.T) {
	e, fs := keyReloadEnv(t, nil)
	ctx := context.Background()
	e.addUser("ada@example.com")
	person := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token"))
	machineClient := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	machine := e.scopedToken(t, machineClient)
	user := e.tokens(ctx, e.browser(), person, "ada@example.com").AccessToken

	for _, tc := range []struct {
		name string
		c    *testClient
		tok  string
	}{{"machine token", machineClient, machine}, {"user token", person, user}} {
		revoke := func() (int, string) {
			st, _, body := e.postForm("/revoke", url.Values{"token": {tc.tok}}, tc.c.ID, tc.c.Secret)
			return st, body
		}
		active := func() bool {
			st, _, body := e.postForm("/oauth/introspect", url.Values{"token": {tc.tok}}, tc.c.ID, tc.c.Secret)
			if st != http.StatusOK {
				t.Fatalf("%s: introspection: %d %s", tc.name, st, body)
			}
			return strings.Contains(body, `"active":true`)
		}
		staleKeys()
		fs.Fail("ListSigningKeys")
		st, body := revoke()
		fs.Clear()
		if st != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") {
			t.Errorf("%s: revocation with the keys unreadable: %d %s, want 503", tc.name, st, body)
		}
		if !active() {
			t.Fatalf("%s: not active after the failed revocation", tc.name)
		}
		if st, body := revoke(); st != http.StatusOK || active() {
			t.Errorf("%s: the retry: %d %s, active afterwards: %v", tc.name, st, body, active())
		}
	}
}

// TestKeyReloadAfterRotationKeepsTheGrant: the signing keys a token answer needs are read
// before the refresh token is rotated or the code used. They were read after: a key cache
// that expired during the rotation and failed to reload answered 503 with the rotation
// committed, and with no reuse grace the client's retry was reuse (invalid_grant, its grant
// revoked); a code was burnt. Here the rotation (the code's consumption) stalls past the key
// cache's lifetime and the next key reload fails: the answer is the tokens, or a 503 whose
// retry gets them.
func TestKeyReloadAfterRotationKeepsTheGrant(t *testing.T) {
	const ttl = 500 * time.Millisecond
	e, fs := faultEnv(t, func(c *config.Config) {
		c.Keys.CacheTTL = config.Duration(ttl)
		c.Tokens.RefreshReuseInterval = 0 // a second presentation is reuse
	})
	ctx := context.Background()
	e.addUser("ada@example.com")
	b := e.browser()
	// freshKeys loads the key cache, so that the request that follows finds it fresh and
	// only a read after the stall reloads it.
	freshKeys := func() {
		if st := probe(t, e.addr+"/keys"); st != http.StatusOK {
			t.Fatalf("/keys: %d", st)
		}
	}
	// stall delays the commit's method past the cache's lifetime; the next reload fails.
	stall := func(method string) {
		fs.Add(faultstore.Rule{Method: method, Delay: ttl + 200*time.Millisecond, Times: 1})
		fs.Add(faultstore.Rule{Method: "ListSigningKeys", Err: faultstore.ErrInjected, Times: 1})
	}
	for _, tc := range []struct {
		name string
		opts []clientOpt
	}{{"JWT access tokens", nil}, {"opaque access tokens", []clientOpt{opaqueTokens}}} {
		c := e.addClient(storage.ClientConfidential, append([]clientOpt{firstParty, withGrants("authorization_code", "refresh_token")}, tc.opts...)...)
		// retried posts form twice at most: a 503 may be retried, nothing else may fail.
		retried := func(what string, form url.Values) {
			t.Helper()
			st, _, body := e.postForm("/oauth/token", form, c.ID, c.Secret)
			fs.Clear()
			if st == http.StatusServiceUnavailable {
				st, _, body = e.postForm("/oauth/token", form, c.ID, c.Secret)
			}
			if st != http.StatusOK || !strings.Contains(body, "id_token") {
				t.Errorf("%s, %s: %d %s, want the tokens", tc.name, what, st, body)
			}
		}

		rt := e.tokens(ctx, b, c, "ada@example.com").RefreshToken
		freshKeys()
		stall("RotateRefreshToken")
		retried("refresh with the key reload failing after the rotation",
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})

		res, verifier := e.signIn(b, c, "ada@example.com")
		freshKeys()
		stall("ConsumeAuthCode")
		retried("code exchange with the key reload failing after the code was used",
			url.Values{"grant_type": {"authorization_code"}, "code": {res.code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}})
	}
}

// TestKeyReloadFailureSharedByWaiters: requests that find the signing keys due for a reload
// while the database is slow and failing wait for one read and share its failure (503 each):
// they used to read the keys one after the other behind the reload lock, each waiting out
// the database, so the last of n concurrent requests was answered after n reads.
func TestKeyReloadFailureSharedByWaiters(t *testing.T) {
	const delay = 400 * time.Millisecond
	const n = 8
	e, fs := keyReloadEnv(t, nil)
	ctx := context.Background()
	e.addUser("ada@example.com")
	person := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token"))
	user := e.tokens(ctx, e.browser(), person, "ada@example.com").AccessToken
	staleKeys()
	slow := fs.Add(faultstore.Rule{Method: "ListSigningKeys", Delay: delay, Err: faultstore.ErrInjected})
	start := time.Now()
	codes := make(chan int, n)
	for range n {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, e.addr+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+user)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range n {
		if st := <-codes; st != http.StatusServiceUnavailable {
			t.Errorf("userinfo with the keys unreadable: %d, want 503", st)
		}
	}
	took := time.Since(start)
	k := fs.Applied(slow)
	fs.Clear()
	if k > 2 || took > 3*delay {
		t.Errorf("%d concurrent requests with the keys unreadable: %d reads, answered in %v; want one read (two at most), answered within %v", n, k, took.Round(time.Millisecond), 3*delay)
	}
	req, _ := http.NewRequest(http.MethodGet, e.addr+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+user)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("userinfo once the keys are back: %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}
}
