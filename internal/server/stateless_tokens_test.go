package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// ccToken gets a client_credentials access token for c from e.
func ccToken(t *testing.T, e *testEnv, c *testClient) string {
	t.Helper()
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
	if st != 200 {
		t.Fatalf("client_credentials: %d %s", st, body)
	}
	return jsonFieldT(t, body, "access_token")
}

// jwtPayload decodes a JWT's claims (unverified: the test's own token).
func jwtPayload(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func bearerStatus(t *testing.T, u, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func revoke(t *testing.T, e *testEnv, c *testClient, token string) {
	t.Helper()
	if st, _, body := e.postForm("/revoke", url.Values{"token": {token}}, c.ID, c.Secret); st != 200 {
		t.Fatalf("revoke: %d %s", st, body)
	}
}

// A client_credentials JWT has no row; revoking it puts it on the denylist, and
// introspection refuses it at once.
func TestClientCredentialsJWTRevocation(t *testing.T) {
	e := newEnv(t)
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = []string{"api.read"} })
	other := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}, c.ID, c.Secret)
	if st != 200 {
		t.Fatal(body)
	}
	at := jsonFieldT(t, body, "access_token")
	if strings.Count(at, ".") != 2 {
		t.Fatalf("not a JWT: %s", at)
	}
	// Nothing was stored for it.
	claims := jwtPayload(t, at)
	if _, err := e.store.GetAccessToken(context.Background(), hashOf(claims["jti"].(string))); err == nil {
		t.Error("a client_credentials JWT has an access_tokens row")
	}
	// Introspection answers what the row used to hold, from the signed claims.
	st, _, body = e.postForm("/oauth/introspect", url.Values{"token": {at}}, c.ID, c.Secret)
	var m map[string]any
	if st != 200 || json.Unmarshal([]byte(body), &m) != nil {
		t.Fatalf("introspect: %d %s", st, body)
	}
	if claims["gty"] != "client_credentials" {
		t.Errorf("token claims lack the stateless mark: %v", claims)
	}
	if m["active"] != true || m["client_id"] != c.ID || m["sub"] != c.ID || m["scope"] != "api.read" || m["exp"] == nil {
		t.Errorf("introspection: %s", body)
	}
	// Another client may neither see its details nor revoke it.
	if e.introspectActive(other, at) {
		t.Error("a client outside the audience sees the token active")
	}
	if st, _, _ := e.postForm("/revoke", url.Values{"token": {at}}, other.ID, other.Secret); st != 401 {
		t.Errorf("revocation by another client: %d, want 401", st)
	}
	if !e.introspectActive(c, at) {
		t.Fatal("token inactive after another client's refused revocation")
	}
	revoke(t, e, c, at)
	if e.introspectActive(c, at) {
		t.Error("revoked token still active")
	}
	revoke(t, e, c, at) // revoking again is fine (RFC 7009)
	// Another token of the same client is not affected.
	if !e.introspectActive(c, ccToken(t, e, c)) {
		t.Error("a fresh token is inactive")
	}
	// Userinfo is not for client tokens.
	if st := bearerStatus(t, e.addr+"/userinfo", ccToken(t, e, c)); st < 400 {
		t.Errorf("userinfo with a client token: %d", st)
	}
}

// A stateless token dies with its client: deleted, re-created under the same id, or no
// longer allowed client_credentials.
func TestClientCredentialsJWTClientGone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	at := ccToken(t, e, c)
	if !e.introspectActive(c, at) {
		t.Fatal("inactive")
	}
	// Deleted and re-created with the same id (and secret): the old token stays dead.
	if err := e.store.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := e.postForm("/oauth/introspect", url.Values{"token": {at}}, c.ID, c.Secret); st != 401 {
		t.Errorf("deleted client introspects: %d", st)
	}
	c.c.CreatedAt = c.c.CreatedAt.Add(1e6) // a later creation
	if err := e.store.CreateClient(ctx, c.c); err != nil {
		t.Fatal(err)
	}
	if e.introspectActive(c, at) {
		t.Error("a token of the deleted client is active for its re-created namesake")
	}
	fresh := ccToken(t, e, c)
	if !e.introspectActive(c, fresh) {
		t.Fatal("fresh token inactive")
	}
	// The client loses the grant: its tokens are no longer active.
	if _, err := e.store.UpdateClient(ctx, c.ID, func(x *storage.Client) error {
		x.GrantTypes = []string{"authorization_code"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if e.introspectActive(c, fresh) {
		t.Error("token active after its client lost client_credentials")
	}
}

// Revocation on one instance is seen at once by another over the same PostgreSQL, or the
// same SQLite file (whose denylist each process reads on connections of its own).
func TestTwoInstancesClientCredentialsRevocation(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { twoInstancesRevocation(t, pgtest.URL(t)) })
	t.Run("sqlite", func(t *testing.T) { twoInstancesRevocation(t, filepath.Join(t.TempDir(), "myaccount.db")) })
}

func twoInstancesRevocation(t *testing.T, dbURL string) {
	a, b := newCluster(t, dbURL)
	c := a.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	at := ccToken(t, a, c)
	if !b.introspectActive(c, at) {
		t.Fatal("token from A inactive on B")
	}
	revoke(t, a, c, at)
	if b.introspectActive(c, at) {
		t.Error("token revoked on A still active on B")
	}
	bt := ccToken(t, b, c)
	revoke(t, b, c, bt)
	if a.introspectActive(c, bt) {
		t.Error("token revoked on B still active on A")
	}
}

// Every store call of a stateless token's introspection and revocation, failing, gives a
// 5xx: never "inactive" (nor "active") for a token whose state could not be read.
func TestStatelessTokenStoreFailuresAreOurs(t *testing.T) {
	e, fs := faultEnv(t, nil)
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	for _, sc := range []struct {
		name string
		req  func(at string) answer
	}{
		{"introspection", e.tokenPost("/oauth/introspect", c)},
		{"revocation", e.tokenPost("/revoke", c)},
	} {
		t.Run(sc.name, func(t *testing.T) {
			failEachCall(t, fs, sc.name, func() string { return ccToken(t, e, c) }, sc.req, func(m, at string, got answer) {
				if got.status < 500 {
					t.Errorf("%s with %s failing: %d %s, want 503", sc.name, m, got.status, got.body)
				}
				if sc.name == "revocation" && !e.introspectActive(c, at) {
					t.Errorf("revocation failed with %s but the token is inactive", m)
				}
			})
		})
	}
}
