package server_test

import (
	"context"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/wrap"
)

// callLog records every store call (with repeats) made while it is on.
type callLog struct {
	mu    sync.Mutex
	on    bool
	calls []string
}

func (l *callLog) wrap(s storage.Store) storage.Store {
	return wrap.New(s, func(ctx context.Context, method string, next func(context.Context) error) error {
		l.mu.Lock()
		if l.on {
			l.calls = append(l.calls, method)
		}
		l.mu.Unlock()
		return next(ctx)
	})
}

func (l *callLog) record(f func()) []string {
	l.mu.Lock()
	l.on, l.calls = true, nil
	l.mu.Unlock()
	f()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	return l.calls
}

// TestHotPathStoreCalls pins the store calls (database round trips) of the hot requests: a
// new one there costs every request. The order is part of it: the client authenticates
// (GetClient) before any token is looked at. A client read in the last second comes from the
// client cache (storage/clientcache) and an address with no failed authentication is not
// read again within a second (op/policy.go), so the first call of each client reads both,
// and the calls after it neither.
func TestHotPathStoreCalls(t *testing.T) {
	var log callLog
	e := newEnvWith(t, envOptions{wrapStore: log.wrap})
	check := func(name string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: store calls %v, want %v", name, got, want)
		}
	}
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	var at string
	check("client_credentials", log.record(func() {
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
		if st != 200 {
			t.Fatal(body)
		}
		at = jsonFieldT(t, body, "access_token")
	}), "CounterValue", "GetClient") // a JWT client_credentials token writes nothing
	check("introspect access token", log.record(func() {
		if !e.introspectActive(c, at) {
			t.Error("access token inactive")
		}
	}), "AccessTokenDenied")
	check("revoke access token", log.record(func() {
		if st, _, body := e.postForm("/revoke", url.Values{"token": {at}}, c.ID, c.Secret); st != 200 {
			t.Errorf("revoke: %d %s", st, body)
		}
	}), "DenyAccessToken")
	check("introspect revoked access token", log.record(func() {
		if e.introspectActive(c, at) {
			t.Error("revoked access token active")
		}
	}), "AccessTokenDenied")
	// An opaque client_credentials token keeps its row.
	co := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), opaqueTokens)
	check("client_credentials, opaque", log.record(func() {
		if st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, co.ID, co.Secret); st != 200 {
			t.Fatal(body)
		}
	}), "GetClient", "CreateAccessToken")

	e.addUser("ada@example.com")
	c2 := e.addClient(storage.ClientConfidential, firstParty)
	tok := e.tokens(context.Background(), e.browser(), c2, "ada@example.com")
	var rt, uat string
	check("refresh", log.record(func() {
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c2.ID, c2.Secret)
		if st != 200 {
			t.Fatal(body)
		}
		rt, uat = jsonFieldT(t, body, "refresh_token"), jsonFieldT(t, body, "access_token")
	}), "GetRefreshTokenGrant", "InTx", "RotateRefreshToken") // one read: token, grant and user; a person's JWT has no row
	check("introspect a person's access token", log.record(func() {
		if !e.introspectActive(c2, uat) {
			t.Error("access token inactive")
		}
	}), "GetGrant", "AccessTokenDenied", "GetUser") // its grant and the denylist; the user's claims
	check("userinfo", log.record(func() {
		if st := bearerStatus(t, e.addr+"/userinfo", uat); st != 200 {
			t.Errorf("userinfo: %d", st)
		}
	}), "GetGrant", "AccessTokenDenied", "GetUser")
	check("introspect refresh token", log.record(func() {
		if !e.introspectActive(c2, rt) {
			t.Error("refresh token inactive")
		}
	}), "GetRefreshTokenGrant") // the token with its grant, as a refresh reads it
	// A wrong secret is refused before the token is looked up.
	check("introspect refresh token, wrong secret", log.record(func() {
		if st, _, _ := e.postForm("/oauth/introspect", url.Values{"token": {rt}}, c2.ID, "wrong"); st != 401 {
			t.Errorf("status %d, want 401", st)
		}
	}), "GetClient", "HitCounter", "HitCounter") // a refused secret is checked against the row, past the cache, and counted per address and client
}
