package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// cluster is two MyAccount instances of one deployment on one PostgreSQL: same issuer, same
// database, same master key, empty data directories of their own.
func newCluster(t *testing.T, dbURL string) (a, b *testEnv) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	ln.Close() // A listens here again below; B gets a port of its own
	env := map[string]string{"MYACCOUNT_DATABASE_URL": dbURL, "MYACCOUNT_MASTER_KEY": keys.NewMasterKey()}
	fast := func(c *config.Config) { c.Keys.CacheTTL = config.Duration(time.Second) }
	clk := &clock{}
	var wg sync.WaitGroup
	wg.Add(2)
	// Both start at once on the same database: migrations run under an advisory lock.
	go func() {
		defer wg.Done()
		a = newEnvWith(t, envOptions{env: env, issuer: issuer, listen: ln.Addr().String(), clock: clk, configure: fast})
	}()
	go func() {
		defer wg.Done()
		b = newEnvWith(t, envOptions{env: env, issuer: issuer, clock: clk, configure: fast})
	}()
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	return a, b
}

func TestTwoInstancesOnOnePostgres(t *testing.T) {
	a, b := newCluster(t, pgtest.URL(t))
	ctx := context.Background()
	a.addUser("ada@example.com")
	c := a.addClient(storage.ClientConfidential, firstParty)

	// Both serve the same JWKS although neither has keys on disk.
	if ka, kb := jwksKids(t, a.addr), jwksKids(t, b.addr); strings.Join(ka, ",") != strings.Join(kb, ",") || len(ka) == 0 {
		t.Fatalf("JWKS differ: A %v, B %v", ka, kb)
	}

	// Sign in on A, redeem the code on B.
	res, verifier := a.signIn(a.browser(), c, "ada@example.com")
	onB := a.oauth2Config(c)
	onB.Endpoint.TokenURL = b.addr + "/oauth/token"
	tok, err := onB.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code from A redeemed on B: %v", err)
	}
	// Refresh on A.
	st, _, body := a.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret)
	if st != 200 {
		t.Fatalf("refresh on A: %d %s", st, body)
	}
	var r struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	// Revoke on B, inactive on A.
	if !a.introspectActive(c, r.AccessToken) {
		t.Fatal("fresh token inactive on A")
	}
	if st, _, body := b.postForm("/revoke", url.Values{"token": {r.RefreshToken}}, c.ID, c.Secret); st != 200 {
		t.Fatalf("revoke on B: %d %s", st, body)
	}
	if a.introspectActive(c, r.AccessToken) {
		t.Error("token revoked on B still active on A")
	}

	// A lockout reached through A holds on B.
	ba := a.browser()
	for i := 0; i < 5; i++ {
		ba.submitLogin(ba.get(a.issuer+"/login"), "ada@example.com", "wrong password")
	}
	bb := b.browser()
	bb.issuer = b.addr
	if p := bb.submitLogin(bb.get(b.addr+"/login"), "ada@example.com", testPassword); !strings.Contains(p.body, "Too many failed sign-in attempts") {
		t.Errorf("lockout from A not seen on B: %d %.200s", p.status, p.body)
	}

	// A key rotated on A is served by B, and tokens A signs with it verify with B's keys.
	before := jwksKids(t, b.addr)
	if _, err := a.srv.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	cc := a.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	atok, err := a.clientCredentials(cc, oauth2.AuthStyleInHeader).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := jwksKids(t, b.addr)
		if len(after) > len(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never served A's new key: before %v, after %v", before, after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ks := gooidc.NewRemoteKeySet(ctx, b.addr+"/keys")
	if _, err := ks.VerifySignature(ctx, atok.AccessToken); err != nil {
		t.Errorf("token signed by A after rotation does not verify with B's JWKS: %v", err)
	}
}

func TestClusterRotatesOnce(t *testing.T) {
	a, b := newCluster(t, pgtest.URL(t))
	ctx := context.Background()
	// Far enough into the period that the next key is due to be published.
	a.clock.Advance(a.cfg.Keys.RotationPeriod.Std() - a.cfg.Keys.Prepublish.Std() + time.Hour)
	var wg sync.WaitGroup
	for _, e := range []*testEnv{a, b, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); e.srv.RotateKeys(ctx) }()
	}
	wg.Wait()
	all, err := a.store.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for _, k := range all {
		if k.State == storage.KeyNext {
			next[k.Alg]++
		}
	}
	if next["RS256"] != 1 || next["ES256"] != 1 {
		t.Errorf("next keys after concurrent rotation: %v, want one per algorithm", next)
	}
}

func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}
