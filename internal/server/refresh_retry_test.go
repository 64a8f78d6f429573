package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// tokenAnswer is a token endpoint response as the client reads it.
type tokenAnswer struct {
	status  int
	refresh string
	access  string
	err     string
}

func (a tokenAnswer) ok() bool { return a.status == 200 && a.refresh != "" && a.access != "" }

// blamesClient reports whether a failed answer tells the client its grant or credentials are
// bad: after a failure of ours that would make it throw away good tokens.
func (a tokenAnswer) blamesClient() bool {
	return a.status < 500 || a.err == "invalid_grant" || a.err == "invalid_client"
}

func (e *testEnv) refreshWith(c *testClient, rt string) tokenAnswer {
	e.t.Helper()
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, c.Secret)
	var m struct {
		RefreshToken string `json:"refresh_token"`
		AccessToken  string `json:"access_token"`
		Error        string `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &m)
	return tokenAnswer{status: st, refresh: m.RefreshToken, access: m.AccessToken, err: m.Error}
}

// retryEnv is a server whose store can fail, a user signed in to a confidential client
// (with opts), and the client's first tokens.
func retryEnv(t *testing.T, opts ...clientOpt) (*testEnv, *faultstore.Store, *testClient, *oauth2.Token) {
	t.Helper()
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, append([]clientOpt{firstParty}, opts...)...)
	tok := e.tokens(context.Background(), e.browser(), c, "ada@example.com")
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	return e, fs, c, tok
}

// grantOf returns the grant (family) a refresh token belongs to.
func (e *testEnv) grantOf(rt string) *storage.Grant {
	e.t.Helper()
	t, err := e.store.GetRefreshToken(context.Background(), hashOf(rt))
	if err != nil {
		e.t.Fatal(err)
	}
	g, err := e.store.GetGrant(context.Background(), t.GrantID)
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

// A failure to store the new access token rolls the rotation back: the client hears 5xx
// (not invalid_grant) and its retry with the same token succeeds. An opaque token's row is
// stored after the rotation (a JWT has none: the rotation records it on the grant).
func TestRefreshStoreFailureIsRetryable(t *testing.T) {
	t.Parallel()
	e, fs, c, tok := retryEnv(t, opaqueTokens)
	rule := fs.Add(faultstore.Rule{Method: "CreateAccessToken", Err: faultstore.ErrInjected, Times: 1})
	got := e.refreshWith(c, tok.RefreshToken)
	if fs.Applied(rule) != 1 {
		t.Fatalf("the access-token insert was not failed (calls %v)", fs.Calls())
	}
	if got.ok() || got.blamesClient() {
		t.Fatalf("refresh with a failing store: %d %q, want 5xx and not invalid_grant/invalid_client", got.status, got.err)
	}
	rt, err := e.store.GetRefreshToken(context.Background(), hashOf(tok.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	if rt.UsedAt != nil {
		t.Fatal("the rotation committed although its access token was not stored")
	}
	retry := e.refreshWith(c, tok.RefreshToken)
	if !retry.ok() {
		t.Fatalf("retry with the same refresh token: %d %q", retry.status, retry.err)
	}
	if next := e.refreshWith(c, retry.refresh); !next.ok() {
		t.Fatalf("the family did not survive: %d %q", next.status, next.err)
	}
	if g := e.grantOf(tok.RefreshToken); g.RevokedAt != nil {
		t.Fatal("grant revoked")
	}
}

// A response lost after the rotation committed (the transaction commits, then the client sees
// a failure): the client retries with its previous token within the grace and gets a working
// token; the successor it never received is retired.
func TestRefreshLostResponseRetriedWithinGrace(t *testing.T) {
	t.Parallel()
	e, fs, c, tok := retryEnv(t)
	rule := fs.Add(faultstore.Rule{Method: "InTx", Err: faultstore.ErrInjected, AfterCall: true, Times: 1})
	lost := e.refreshWith(c, tok.RefreshToken)
	if fs.Applied(rule) != 1 {
		t.Fatalf("no transaction was failed (calls %v)", fs.Calls())
	}
	if lost.ok() || lost.blamesClient() {
		t.Fatalf("lost response: %d %q, want 5xx", lost.status, lost.err)
	}
	if rt, err := e.store.GetRefreshToken(context.Background(), hashOf(tok.RefreshToken)); err != nil || rt.UsedAt == nil {
		t.Fatalf("the rotation did not commit before the failure (%v): the test proves nothing", err)
	}
	e.clock.Advance(10 * time.Second)
	retry := e.refreshWith(c, tok.RefreshToken)
	if !retry.ok() {
		t.Fatalf("retry within the grace: %d %q", retry.status, retry.err)
	}
	if !e.introspectActive(c, retry.access) || !e.introspectActive(c, retry.refresh) {
		t.Fatal("the retry's tokens are not active")
	}
	next := e.refreshWith(c, retry.refresh)
	if !next.ok() {
		t.Fatalf("the retry's refresh token does not rotate: %d %q", next.status, next.err)
	}
	if g := e.grantOf(tok.RefreshToken); g.RevokedAt != nil {
		t.Fatal("grant revoked")
	}
}

// The same with a successor the test can see: the one the retry replaced is retired at once,
// so only one live chain remains; presenting it later is reuse.
func TestRefreshRetryRetiresTheUnreceivedSuccessor(t *testing.T) {
	t.Parallel()
	e, _, c, tok := retryEnv(t)
	first := e.refreshWith(c, tok.RefreshToken) // pretend this response was lost
	if !first.ok() {
		t.Fatalf("refresh: %d %q", first.status, first.err)
	}
	retry := e.refreshWith(c, tok.RefreshToken)
	if !retry.ok() {
		t.Fatalf("retry within the grace: %d %q", retry.status, retry.err)
	}
	if retry.refresh == first.refresh {
		t.Fatal("the retry got the same refresh token: only hashes are stored, it must be a fresh one")
	}
	if e.introspectActive(c, first.refresh) {
		t.Error("the replaced successor is still active: two live chains")
	}
	if !e.introspectActive(c, retry.refresh) {
		t.Fatal("the retry's refresh token is not active")
	}
	// The replaced successor never reached the client: whoever presents it got it elsewhere.
	if got := e.refreshWith(c, first.refresh); got.status != 400 || got.err != "invalid_grant" {
		t.Fatalf("replaced successor presented: %d %q, want invalid_grant", got.status, got.err)
	}
	if got := e.refreshWith(c, retry.refresh); got.ok() {
		t.Error("family survived the replaced successor's reuse")
	}
}

// Past the grace, presenting the previous token is reuse: the family is revoked.
func TestRefreshRetryAfterGraceRevokesFamily(t *testing.T) {
	t.Parallel()
	e, _, c, tok := retryEnv(t)
	first := e.refreshWith(c, tok.RefreshToken)
	if !first.ok() {
		t.Fatalf("refresh: %d %q", first.status, first.err)
	}
	e.clock.Advance(e.cfg.Tokens.RefreshReuseInterval.Std() + time.Second)
	if got := e.refreshWith(c, tok.RefreshToken); got.status != 400 || got.err != "invalid_grant" {
		t.Fatalf("retry after the grace: %d %q, want invalid_grant", got.status, got.err)
	}
	if got := e.refreshWith(c, first.refresh); got.ok() {
		t.Error("successor still works after reuse")
	}
	if e.grantOf(tok.RefreshToken).RevokedAt == nil {
		t.Error("grant not revoked")
	}
	if e.introspectActive(c, first.access) {
		t.Error("the successor's access token is still active")
	}
}

// A successor that was used reached its holder: the previous token coming back, even within
// the grace, is reuse.
func TestRefreshRetryAfterSuccessorUsedRevokesFamily(t *testing.T) {
	t.Parallel()
	e, _, c, tok := retryEnv(t)
	first := e.refreshWith(c, tok.RefreshToken)
	second := e.refreshWith(c, first.refresh)
	if !first.ok() || !second.ok() {
		t.Fatalf("refreshes: %d %d", first.status, second.status)
	}
	if got := e.refreshWith(c, tok.RefreshToken); got.status != 400 || got.err != "invalid_grant" {
		t.Fatalf("old token after its successor was used: %d %q, want invalid_grant", got.status, got.err)
	}
	if got := e.refreshWith(c, second.refresh); got.ok() {
		t.Error("newest token still works after reuse")
	}
	if e.grantOf(tok.RefreshToken).RevokedAt == nil {
		t.Error("grant not revoked")
	}
}

// The grace is for the token's own client: another client presenting it is reuse.
func TestRefreshRetryFromAnotherClientRevokesFamily(t *testing.T) {
	t.Parallel()
	e, _, c, tok := retryEnv(t)
	first := e.refreshWith(c, tok.RefreshToken)
	if !first.ok() {
		t.Fatalf("refresh: %d %q", first.status, first.err)
	}
	other := e.addClient(storage.ClientConfidential, firstParty)
	if got := e.refreshWith(other, tok.RefreshToken); got.status != 400 || got.err != "invalid_grant" {
		t.Fatalf("another client within the grace: %d %q, want invalid_grant", got.status, got.err)
	}
	if e.grantOf(tok.RefreshToken).RevokedAt == nil {
		t.Error("grant not revoked")
	}
	if got := e.refreshWith(c, first.refresh); got.ok() {
		t.Error("successor still works")
	}
}

// A failure to store the tokens of a code exchange rolls back the code's consumption: 5xx,
// then the retry with the same code succeeds.
func TestCodeExchangeStoreFailureIsRetryable(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	res, verifier := e.signIn(e.browser(), c, "ada@example.com")
	// The last insert of the exchange (a JWT access token has no row).
	rule := fs.Add(faultstore.Rule{Method: "CreateRefreshToken", Err: faultstore.ErrInjected, Times: 1})
	_, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if fs.Applied(rule) != 1 {
		t.Fatalf("the refresh-token insert was not failed (calls %v, err %v)", fs.Calls(), err)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode < 500 || re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client" {
		t.Fatalf("exchange with a failing store: %v, want 5xx", err)
	}
	tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("retry with the same code: %v", err)
	}
	if !e.introspectActive(c, tok.AccessToken) {
		t.Fatal("access token inactive")
	}
	if got := e.refreshWith(c, tok.RefreshToken); !got.ok() {
		t.Fatalf("refresh after the retried exchange: %d %q", got.status, got.err)
	}
}

// Once an exchange has committed, the code is spent even if its response was lost: a second
// presentation is a replay (RFC 6749 §4.1.2) and revokes what the first issued. Unlike refresh
// there is no grace (see exchangeCode in op/tokens.go).
func TestCodeReplayAfterCommitRevokes(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)

	t.Run("after a successful exchange", func(t *testing.T) {
		res, verifier := e.signIn(e.browser(), c, "ada@example.com")
		tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("replay: %v, want invalid_grant", err)
		}
		if e.introspectActive(c, tok.AccessToken) {
			t.Error("access token of the first exchange still active")
		}
		if got := e.refreshWith(c, tok.RefreshToken); got.ok() {
			t.Error("refresh token of the first exchange still works")
		}
	})
	t.Run("after a lost response", func(t *testing.T) {
		res, verifier := e.signIn(e.browser(), c, "ada@example.com")
		rule := fs.Add(faultstore.Rule{Method: "InTx", Err: faultstore.ErrInjected, AfterCall: true, Times: 1})
		_, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		if fs.Applied(rule) != 1 || err == nil {
			t.Fatalf("no transaction was failed (calls %v, err %v)", fs.Calls(), err)
		}
		_, err = e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("replay after a lost response: %v, want invalid_grant", err)
		}
		ar, err := e.store.GetAuthRequestByCode(ctx, hashOf(res.code))
		if err != nil {
			t.Fatal(err)
		}
		g, err := e.store.GetGrant(ctx, ar.ID)
		if err != nil {
			t.Fatalf("the first exchange's grant: %v", err)
		}
		if g.RevokedAt == nil {
			t.Error("the first exchange's grant survived the replay")
		}
	})
}
