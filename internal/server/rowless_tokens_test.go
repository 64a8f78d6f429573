package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// A person's JWT access token (code exchange, refresh) has no access_tokens row: it names
// its grant (gid), and the grant decides whether it is live.

// onSQLiteAndPostgres runs f on a server over SQLite and over PostgreSQL.
func onSQLiteAndPostgres(t *testing.T, f func(t *testing.T, e *testEnv)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) {
		f(t, newEnvWith(t, envOptions{env: map[string]string{"MYACCOUNT_DATABASE_URL": pgtest.MigratedURL(t)}}))
	})
}

// rowlessToken asserts that at is a JWT naming grant gid (any grant when "") with no row, and
// returns its claims.
func (e *testEnv) rowlessToken(at, gid string) map[string]any {
	e.t.Helper()
	if strings.Count(at, ".") != 2 {
		e.t.Fatalf("not a JWT: %s", at)
	}
	claims := jwtPayload(e.t.(*testing.T), at)
	if got, _ := claims["gid"].(string); got == "" || (gid != "" && got != gid) {
		e.t.Fatalf("token names grant %v, want %q", claims["gid"], gid)
	}
	if _, err := e.store.GetAccessToken(context.Background(), hashOf(claims["jti"].(string))); !errors.Is(err, storage.ErrNotFound) {
		e.t.Fatalf("a person's JWT access token has a row (err %v)", err)
	}
	return claims
}

// userTokenLive reports whether at is active at introspection (by c) and accepted at
// userinfo, failing the test when the two disagree.
func (e *testEnv) userTokenLive(c *testClient, at string) bool {
	e.t.Helper()
	active := e.introspectActive(c, at)
	st := bearerStatus(e.t.(*testing.T), e.addr+"/userinfo", at)
	if active != (st == http.StatusOK) {
		e.t.Fatalf("introspection active=%v but userinfo %d", active, st)
	}
	if !active && st != http.StatusUnauthorized {
		e.t.Fatalf("userinfo of an inactive token: %d, want 401", st)
	}
	return active
}

func TestUserJWTAccessTokensHaveNoRow(t *testing.T) {
	t.Parallel()
	onSQLiteAndPostgres(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		u := e.addUser("ada@example.com")
		c := e.addClient(storage.ClientConfidential, firstParty)
		other := e.addClient(storage.ClientConfidential, firstParty)
		tok := e.tokens(ctx, e.browser(), c, "ada@example.com")
		g := e.grantOf(tok.RefreshToken)
		claims := e.rowlessToken(tok.AccessToken, g.ID)
		if !e.userTokenLive(c, tok.AccessToken) {
			t.Fatal("code exchange's token inactive")
		}
		st, _, body := e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, c.ID, c.Secret)
		var m map[string]any
		if st != 200 || json.Unmarshal([]byte(body), &m) != nil {
			t.Fatalf("introspect: %d %s", st, body)
		}
		if m["sub"] != u.ID || m["client_id"] != c.ID || m["email"] != "ada@example.com" || m["exp"] != claims["exp"] {
			t.Errorf("introspection: %s", body)
		}
		if exp := time.Unix(int64(claims["exp"].(float64)), 0); g.AccessExpiresAt.Before(exp) {
			t.Errorf("grant records access expiry %v, before the token's %v", g.AccessExpiresAt, exp)
		}

		r := e.refreshWith(c, tok.RefreshToken)
		if !r.ok() {
			t.Fatalf("refresh: %d %s", r.status, r.err)
		}
		rc := e.rowlessToken(r.access, g.ID)
		if !e.userTokenLive(c, r.access) {
			t.Fatal("refresh's token inactive")
		}
		if g2 := e.grantOf(r.refresh); g2.AccessExpiresAt.Before(time.Unix(int64(rc["exp"].(float64)), 0)) {
			t.Errorf("refresh did not record its token's expiry on the grant: %v", g2.AccessExpiresAt)
		}

		// RFC 7009: another client's attempt is invalid_client and changes nothing.
		st, _, body = e.postForm("/revoke", url.Values{"token": {r.access}}, other.ID, other.Secret)
		if st != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
			t.Errorf("revocation by another client: %d %s", st, body)
		}
		if !e.userTokenLive(c, r.access) {
			t.Fatal("token inactive after another client's refused revocation")
		}
		revoke(t, e, c, r.access)
		if e.userTokenLive(c, r.access) {
			t.Error("revoked token still live")
		}
		revoke(t, e, c, r.access) // again: fine (RFC 7009)
		if !e.userTokenLive(c, tok.AccessToken) {
			t.Error("revoking one token ended another of its grant")
		}
		// Its grant and refresh token live on.
		if r2 := e.refreshWith(c, r.refresh); !r2.ok() || !e.userTokenLive(c, r2.access) {
			t.Errorf("the grant did not survive revoking one access token: %d %s", r2.status, r2.err)
		}
		// Opaque tokens keep their rows.
		co := e.addClient(storage.ClientConfidential, firstParty, opaqueTokens)
		otok := e.tokens(ctx, e.browser(), co, "ada@example.com")
		if strings.Count(otok.AccessToken, ".") == 2 || !e.introspectActive(co, otok.AccessToken) {
			t.Errorf("opaque token: %q", otok.AccessToken)
		}
	})
}

// The device grant's token (the library's path, re-signed by tokenWriter) has no row either.
func TestUserJWTDeviceTokenHasNoRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, withGrants(grantDevice, "refresh_token"))
	da := e.authorizeDevice(c, "openid email offline_access", nil)
	e.decideDevice(e.signedInBrowser("ada@example.com"), da.UserCode, "approve")
	st, m := e.pollDevice(c, da.DeviceCode)
	if st != http.StatusOK {
		t.Fatalf("device token: %d %v", st, m)
	}
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	g := e.grantOf(rt)
	e.rowlessToken(at, g.ID)
	if g.AccessExpiresAt.IsZero() || !e.userTokenLive(c, at) {
		t.Fatalf("device token: grant access expiry %v", g.AccessExpiresAt)
	}
	revoke(t, e, c, rt) // revokes the grant
	if e.userTokenLive(c, at) {
		t.Error("device token live after its grant was revoked")
	}
}

// Every way a person's access tokens end by their rows ends a row-less token at the same
// moment: each revokes or deletes the grant it names.
func TestUserJWTAccessTokenRevocationPaths(t *testing.T) {
	t.Parallel()
	type path struct {
		name string
		// end ends the access token of tok (issued to c for u).
		end func(t *testing.T, e *testEnv, u *storage.User, c *testClient, tok *oauth2.Token)
	}
	ctx := context.Background()
	paths := []path{
		{"RFC 7009 revocation of the access token", func(t *testing.T, e *testEnv, _ *storage.User, c *testClient, tok *oauth2.Token) {
			revoke(t, e, c, tok.AccessToken)
		}},
		{"RFC 7009 revocation of the refresh token (its grant)", func(t *testing.T, e *testEnv, _ *storage.User, c *testClient, tok *oauth2.Token) {
			revoke(t, e, c, tok.RefreshToken)
		}},
		{"refresh token reuse", func(t *testing.T, e *testEnv, _ *storage.User, c *testClient, tok *oauth2.Token) {
			r1 := e.refreshWith(c, tok.RefreshToken)
			if r2 := e.refreshWith(c, r1.refresh); !r2.ok() {
				t.Fatalf("refresh: %d %s", r2.status, r2.err)
			}
			if r := e.refreshWith(c, tok.RefreshToken); r.err != "invalid_grant" {
				t.Fatalf("reuse: %d %s", r.status, r.err)
			}
		}},
		{"grant revoked (devices page, code replay)", func(t *testing.T, e *testEnv, _ *storage.User, _ *testClient, tok *oauth2.Token) {
			if err := e.store.RevokeGrant(ctx, e.grantOf(tok.RefreshToken).ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"the user's grants of the client (apps page)", func(t *testing.T, e *testEnv, u *storage.User, c *testClient, _ *oauth2.Token) {
			if err := e.store.RevokeUserClientGrants(ctx, u.ID, c.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"every grant of the user (sign out everywhere, password change, reset, this wasn't me, lock)", func(t *testing.T, e *testEnv, u *storage.User, _ *testClient, _ *oauth2.Token) {
			if err := e.store.RevokeUserClientGrants(ctx, u.ID, "", time.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"user deleted", func(t *testing.T, e *testEnv, u *storage.User, _ *testClient, _ *oauth2.Token) {
			if err := e.store.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	onSQLiteAndPostgres(t, func(t *testing.T, e *testEnv) {
		for i, p := range paths {
			t.Run(p.name, func(t *testing.T) {
				email := "p" + string(rune('a'+i)) + "@example.com"
				u := e.addUser(email)
				c := e.addClient(storage.ClientConfidential, firstParty)
				tok := e.tokens(ctx, e.browser(), c, email)
				e.rowlessToken(tok.AccessToken, "")
				if !e.userTokenLive(c, tok.AccessToken) {
					t.Fatal("inactive before")
				}
				p.end(t, e, u, c, tok)
				if p.name == "user deleted" {
					// Userinfo refuses; introspection by the (surviving) client says inactive.
					if e.introspectActive(c, tok.AccessToken) || bearerStatus(t, e.addr+"/userinfo", tok.AccessToken) != http.StatusUnauthorized {
						t.Error("token of a deleted user still live")
					}
					return
				}
				if e.userTokenLive(c, tok.AccessToken) {
					t.Error("token still live")
				}
			})
		}
		// Code replay revokes the grant the first exchange made.
		t.Run("code replay", func(t *testing.T) {
			e.addUser("replay@example.com")
			c := e.addClient(storage.ClientConfidential, firstParty)
			res, verifier := e.signIn(e.browser(), c, "replay@example.com")
			tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			e.rowlessToken(tok.AccessToken, "")
			if _, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier)); err == nil {
				t.Fatal("replayed code accepted")
			}
			if e.userTokenLive(c, tok.AccessToken) {
				t.Error("token of a replayed code still live")
			}
		})
		// Deleting the client deletes its grants: the token names a grant that is gone.
		t.Run("client deleted", func(t *testing.T) {
			e.addUser("client@example.com")
			c := e.addClient(storage.ClientConfidential, firstParty)
			other := e.addClient(storage.ClientConfidential, firstParty)
			tok := e.tokens(ctx, e.browser(), c, "client@example.com")
			if err := e.store.DeleteClient(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			if e.introspectActive(other, tok.AccessToken) || bearerStatus(t, e.addr+"/userinfo", tok.AccessToken) != http.StatusUnauthorized {
				t.Error("token of a deleted client still live")
			}
		})
	})
}

// A revocation on one instance is seen at once by another over the same PostgreSQL.
func TestTwoInstancesUserJWTRevocation(t *testing.T) {
	a, b := newCluster(t, pgtest.URL(t))
	ctx := context.Background()
	u := a.addUser("ada@example.com")
	c := a.addClient(storage.ClientConfidential, firstParty)
	tok := a.tokens(ctx, a.browser(), c, "ada@example.com")
	a.rowlessToken(tok.AccessToken, "")
	if !b.userTokenLive(c, tok.AccessToken) {
		t.Fatal("token from A inactive on B")
	}
	revoke(t, a, c, tok.AccessToken)
	if b.userTokenLive(c, tok.AccessToken) {
		t.Error("token revoked on A still live on B")
	}
	r := b.refreshWith(c, tok.RefreshToken)
	if !r.ok() || !a.userTokenLive(c, r.access) {
		t.Fatalf("refresh on B: %d %s", r.status, r.err)
	}
	if err := b.store.RevokeUserClientGrants(ctx, u.ID, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if a.userTokenLive(c, r.access) {
		t.Error("token of grants revoked on B still live on A")
	}
}

// Every store call of a row-less token's introspection, userinfo and revocation, failing,
// gives a 5xx: never "inactive" (nor "revoked") for a token whose state could not be read.
func TestUserJWTStoreFailuresAreOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	fresh := func() string {
		return e.tokens(context.Background(), e.browser(), c, "ada@example.com").AccessToken
	}
	for _, sc := range []struct {
		name string
		req  func(at string) answer
	}{
		{"introspection", e.tokenPost("/oauth/introspect", c)},
		{"userinfo", func(at string) answer {
			req, _ := http.NewRequest(http.MethodGet, e.addr+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+at)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, resp.Body)
			return answer{resp.StatusCode, resp.Header, b.String()}
		}},
		{"revocation", e.tokenPost("/revoke", c)},
	} {
		t.Run(sc.name, func(t *testing.T) {
			e.rowlessToken(fresh(), "")
			failEachCall(t, fs, sc.name, fresh, sc.req, func(m, at string, got answer) {
				switch {
				case got.status >= 500:
				case m == "GetUser" && sc.name == "introspection" && strings.Contains(got.body, `"active":true`):
					// The user's claims are best effort (as for a token with a row).
				default:
					t.Errorf("%s with %s failing: %d %s, want 503", sc.name, m, got.status, got.body)
				}
				if !e.userTokenLive(c, at) {
					t.Errorf("%s failed with %s but the token is not live", sc.name, m)
				}
			})
		})
	}
}

// tokenPost posts a token to path (introspection, revocation) as c.
func (e *testEnv) tokenPost(path string, c *testClient) func(at string) answer {
	return func(at string) answer {
		st, h, body := e.postForm(path, url.Values{"token": {at}}, c.ID, c.Secret)
		return answer{st, h, body}
	}
}

// failEachCall makes sc's request for a fresh token once without failures, then once with
// each store call it made failing: every answer must be one a client may get for our
// failure (checkFailureAnswer), and check sees it too.
func failEachCall(t *testing.T, fs *faultstore.Store, name string, fresh func() string, req func(at string) answer, check func(method, at string, got answer)) {
	t.Helper()
	first := fresh()
	fs.ResetCalls()
	normal := req(first)
	methods := fs.Calls()
	if normal.status != 200 || len(methods) == 0 {
		t.Fatalf("without failure: %d %s (calls %v)", normal.status, normal.body, methods)
	}
	for _, m := range methods {
		at := fresh()
		fs.Add(faultstore.Rule{Method: m, Err: faultstore.ErrInjected})
		got := req(at)
		fs.Clear()
		checkFailureAnswer(t, name+" with "+m+" failing", normal, got)
		check(m, at, got)
	}
}

// Housekeeping keeps a grant while its row-less access token can be live, even one that a
// newer grant supersedes, and purges it after.
func TestUserJWTGrantKeptWhileTokenLive(t *testing.T) {
	t.Parallel()
	onSQLiteAndPostgres(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		e.addUser("ada@example.com")
		// No refresh tokens: the grant holds nothing but the row-less access token.
		c := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code"))
		old := e.tokens(ctx, e.browser(), c, "ada@example.com")
		if old.RefreshToken != "" {
			t.Fatal("a refresh token")
		}
		oc := e.rowlessToken(old.AccessToken, "")
		g, err := e.store.GetGrant(ctx, oc["gid"].(string))
		if err != nil {
			t.Fatal(err)
		}
		newer := e.tokens(ctx, e.browser(), c, "ada@example.com") // supersedes old's grant
		e.rowlessToken(newer.AccessToken, "")
		if _, err := e.store.DeleteExpired(ctx, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.GetGrant(ctx, g.ID); err != nil {
			t.Fatalf("grant of a live token purged: %v", err)
		}
		if !e.userTokenLive(c, old.AccessToken) {
			t.Fatal("token inactive after housekeeping")
		}
		if _, err := e.store.DeleteExpired(ctx, g.AccessExpiresAt); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.GetGrant(ctx, g.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("grant kept after its token expired: %v", err)
		}
	})
}

// TestRefreshIntrospectionStoreFailuresAreOurs: introspecting a refresh token (its one read
// with the grant, GetRefreshTokenGrant) answers a failing store 5xx, never "inactive".
func TestRefreshIntrospectionStoreFailuresAreOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	fresh := func() string {
		return e.tokens(context.Background(), e.browser(), c, "ada@example.com").RefreshToken
	}
	failEachCall(t, fs, "refresh introspection", fresh, e.tokenPost("/oauth/introspect", c), func(m, _ string, got answer) {
		if got.status < 500 {
			t.Errorf("refresh introspection with %s failing: %d %s, want 5xx", m, got.status, got.body)
		}
	})
}
