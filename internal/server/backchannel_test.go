package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// logoutRP is a relying party's back-channel logout endpoint on loopback. It verifies every
// logout token it receives against the provider's JWKS (go-oidc) and checks the claims
// Back-Channel Logout 1.0 §2.6 asks a client to check; what passes is recorded per client.
type logoutRP struct {
	t        *testing.T
	srv      *httptest.Server
	provider *gooidc.Provider
	issuer   string
	mu       sync.Mutex
	got      map[string][]logoutClaims // by client id (the token's aud)
	status   atomic.Int32              // answered status; 0 is 200
	arrived  chan string
}

type logoutClaims struct {
	Issuer   string                     `json:"iss"`
	Audience string                     `json:"aud"`
	IssuedAt int64                      `json:"iat"`
	Expiry   int64                      `json:"exp"`
	ID       string                     `json:"jti"`
	Events   map[string]json.RawMessage `json:"events"`
	Subject  string                     `json:"sub"`
	SID      string                     `json:"sid"`
	Nonce    *string                    `json:"nonce"`
	Alg      string                     `json:"-"` // the JWS header's
}

func newLogoutRP(t *testing.T, e *testEnv) *logoutRP {
	rp := &logoutRP{t: t, provider: e.provider(context.Background()), issuer: e.issuer, got: map[string][]logoutClaims{},
		arrived: make(chan string, 64)}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	return rp
}

// uri is the logout URI registered for client id.
func (rp *logoutRP) uri(id string) string { return rp.srv.URL + "/bc/" + url.PathEscape(id) }

func (rp *logoutRP) serve(w http.ResponseWriter, r *http.Request) {
	if s := rp.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		return
	}
	clientID := r.URL.Path[len("/bc/"):]
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		rp.t.Errorf("logout request: %s %s", r.Method, r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	raw := r.PostFormValue("logout_token")
	c, err := rp.verify(r.Context(), clientID, raw)
	if err != nil {
		rp.t.Errorf("logout token for %s refused: %v", clientID, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rp.mu.Lock()
	rp.got[clientID] = append(rp.got[clientID], c)
	rp.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	rp.arrived <- clientID
}

// verify checks a logout token as a client must: signature by the provider's JWKS, iss, aud,
// exp and iat (go-oidc), typ logout+jwt, the back-channel logout event, sub or sid, and no
// nonce.
func (rp *logoutRP) verify(ctx context.Context, clientID, raw string) (logoutClaims, error) {
	var c logoutClaims
	v := rp.provider.VerifierContext(ctx, &gooidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{"RS256", "ES256", "EdDSA"}})
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return c, err
	}
	if err := tok.Claims(&c); err != nil {
		return c, err
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return c, err
	}
	c.Alg = jws.Signatures[0].Header.Algorithm
	if typ, _ := jws.Signatures[0].Header.ExtraHeaders["typ"].(string); typ != backchannel.TokenType {
		return c, errorf("typ %q, want %q", typ, backchannel.TokenType)
	}
	now := time.Now().Unix()
	switch {
	case c.Issuer != rp.issuer || c.Audience != clientID:
		return c, errorf("iss %q aud %q", c.Issuer, c.Audience)
	case c.IssuedAt == 0 || c.IssuedAt > now+5 || c.Expiry-c.IssuedAt > 300:
		return c, errorf("iat %d exp %d (now %d)", c.IssuedAt, c.Expiry, now)
	case c.ID == "":
		return c, errorf("no jti")
	case c.Nonce != nil:
		return c, errorf("a logout token must not carry a nonce")
	case c.Subject == "" && c.SID == "":
		return c, errorf("neither sub nor sid")
	}
	if ev, ok := c.Events[backchannel.Event]; !ok || string(ev) != "{}" {
		return c, errorf("events %v", c.Events)
	}
	return c, nil
}

type errString string

func (e errString) Error() string { return string(e) }

func errorf(format string, a ...any) error {
	b, _ := json.Marshal(a)
	return errString(format + " " + string(b))
}

// await waits until n more tokens arrived and returns, per client, what arrived so far.
func (rp *logoutRP) await(n int) map[string][]logoutClaims {
	rp.t.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-rp.arrived:
		case <-deadline:
			rp.t.Fatalf("only %d of %d logout tokens arrived", i, n)
		}
	}
	// Anything else queued would be delivered within a poll: give it the chance to show up.
	time.Sleep(300 * time.Millisecond)
	rp.mu.Lock()
	defer rp.mu.Unlock()
	out := map[string][]logoutClaims{}
	for k, v := range rp.got {
		out[k] = append([]logoutClaims(nil), v...)
	}
	rp.got = map[string][]logoutClaims{}
	for len(rp.arrived) > 0 {
		<-rp.arrived
	}
	return out
}

func withBackchannel(uri string, sessionRequired bool) clientOpt {
	return func(c *storage.Client) {
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = uri, sessionRequired
	}
}

// idTokenSID returns the sid of the token's ID token, verified.
func idTokenSID(t *testing.T, e *testEnv, c *testClient, raw string) string {
	t.Helper()
	idt, err := e.provider(context.Background()).Verifier(&gooidc.Config{ClientID: c.ID}).Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var cl struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	return cl.SID
}

// TestBackchannelLogout: a person signing out of one browser is told to the clients holding
// grants in that session only, with the ID token's sid; a password reset (everywhere) to
// every client holding a grant; a client without a logout URI hears nothing.
func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	var a, b, d *testClient
	a = e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) {
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = rp.srv.URL+"/bc/"+c.ID, true
	})
	b = e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) {
		c.BackchannelLogoutURI, c.IDTokenAlg = rp.srv.URL+"/bc/"+c.ID, "EdDSA" // its logout tokens too
	})
	d = e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.srv.URL + "/bc/" + c.ID })
	plain := e.addClient(storage.ClientConfidential, firstParty)

	// Browser 1 signs in to a, b and the plain client (one SSO session); browser 2 to d.
	b1, b2 := e.browser(), e.browser()
	tokA := e.tokens(ctx, b1, a, "ada@example.com")
	idtA, _ := tokA.Extra("id_token").(string)
	sid1 := idTokenSID(t, e, a, idtA)
	tokB := e.tokens(ctx, b1, b, "ada@example.com")
	e.tokens(ctx, b1, plain, "ada@example.com")
	tokD := e.tokens(ctx, b2, d, "ada@example.com")
	sid2 := idTokenSID(t, e, d, tokD.Extra("id_token").(string))
	if sid1 == "" || sid2 == "" || sid1 == sid2 {
		t.Fatalf("sids %q and %q: want two different non-empty ones", sid1, sid2)
	}
	if got := idTokenSID(t, e, b, tokB.Extra("id_token").(string)); got != sid1 {
		t.Fatalf("b's sid %q, want the session's %q", got, sid1)
	}
	// The sid is the session's public id, not its cookie or the cookie's hash.
	cookie := cookieValue(b1, e.issuer, e.cfg.Session.CookieName)
	if sid1 == cookie || sid1 == secret.HashToken(cookie) {
		t.Fatal("sid reveals the session cookie")
	}

	// Browser 1 signs out (end_session with its ID token): a and b hear of session 1.
	p := b1.get(e.issuer + "/end_session?" + url.Values{"id_token_hint": {idtA}}.Encode())
	if p.status >= 400 {
		t.Fatalf("end_session: %d", p.status)
	}
	got := rp.await(2)
	if len(got) != 2 || len(got[a.ID]) != 1 || len(got[b.ID]) != 1 {
		t.Fatalf("after one browser's sign-out: %v, want one token each for a and b", got)
	}
	for _, c := range []logoutClaims{got[a.ID][0], got[b.ID][0]} {
		if c.SID != sid1 || c.Subject != u.ID {
			t.Errorf("token sid %q sub %q, want %q %q", c.SID, c.Subject, sid1, u.ID)
		}
	}
	if a, b := got[a.ID][0].Alg, got[b.ID][0].Alg; a != "RS256" || b != "EdDSA" {
		t.Errorf("logout tokens signed %s and %s, want each client's ID-token algorithm, RS256 and EdDSA", a, b)
	}

	// A password reset signs out everywhere: d hears of session 2, and a (whose grant of
	// session 1 is still live: the browser's sign-out leaves refresh tokens) hears again.
	token := secret.RandomToken(32)
	now := time.Now().UTC()
	if err := e.store.CreateOneTimeToken(ctx, &storage.OneTimeToken{Hash: secret.HashToken(token), Purpose: storage.TokenReset,
		UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Accounts.Reset(ctx, token, "a whole new passphrase here", account.Meta{}); err != nil {
		t.Fatal(err)
	}
	got = rp.await(3)
	if len(got[d.ID]) != 1 || got[d.ID][0].SID != sid2 {
		t.Errorf("d after the reset: %v, want one token with sid %q", got[d.ID], sid2)
	}
	for _, c := range []*testClient{a, b} {
		if len(got[c.ID]) != 1 || got[c.ID][0].SID != sid1 {
			t.Errorf("%s after the reset: %v, want one token with sid %q", c.ID, got[c.ID], sid1)
		}
	}
	if len(got) != 3 {
		t.Errorf("after the reset tokens went to %d clients, want 3", len(got))
	}
}

// TestBackchannelSignOutOthers: "sign out other sessions" tells the clients of the other
// sessions only.
func TestBackchannelSignOutOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	a := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.srv.URL + "/bc/" + c.ID })
	d := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.srv.URL + "/bc/" + c.ID })
	b1, b2 := e.browser(), e.browser()
	e.tokens(ctx, b1, a, "ada@example.com")
	tokD := e.tokens(ctx, b2, d, "ada@example.com")
	sid2 := idTokenSID(t, e, d, tokD.Extra("id_token").(string))
	live, err := e.srv.Sessions.List(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	keep := ""
	for _, s := range live {
		if s.ID != sid2 {
			keep = s.ID
		}
	}
	if err := e.srv.Sessions.SignOutOthers(ctx, u.ID, keep, nil); err != nil {
		t.Fatal(err)
	}
	got := rp.await(1)
	if len(got) != 1 || len(got[d.ID]) != 1 || got[d.ID][0].SID != sid2 {
		t.Fatalf("after signing out the others: %v, want one token for d with sid %q", got, sid2)
	}
}

// TestBackchannelSessionExpiry: a session that reaches its end of life is told to its
// clients by housekeeping, once, before the sweep deletes it.
func TestBackchannelSessionExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	a := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.srv.URL + "/bc/" + c.ID })
	tok := e.tokens(ctx, e.browser(), a, "ada@example.com")
	sid := idTokenSID(t, e, a, tok.Extra("id_token").(string))
	e.srv.Housekeeping(ctx) // nothing has expired yet
	e.clock.Advance(e.cfg.Session.TTL.Std() + time.Minute)
	e.srv.Housekeeping(ctx)
	got := rp.await(1)
	if len(got[a.ID]) != 1 || got[a.ID][0].SID != sid || got[a.ID][0].Subject != u.ID {
		t.Fatalf("after expiry: %v, want one token with sid %q", got, sid)
	}
	e.srv.Housekeeping(ctx)
	time.Sleep(300 * time.Millisecond)
	if n := len(rp.arrived); n != 0 {
		t.Errorf("%d more tokens after the next housekeeping run", n)
	}
	if _, err := e.store.GetSession(ctx, sid); err == nil {
		t.Error("expired session not deleted by the sweep")
	}
}

// TestBackchannelLogoutPage: signing out on MyAccount's own sign-out page (the form, with
// its CSRF token) tells the clients of that browser's session; signing in again in a
// browser replaces its session and tells them too.
func TestBackchannelLogoutPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	a := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.srv.URL + "/bc/" + c.ID })
	b := e.browser()
	tok := e.tokens(ctx, b, a, "ada@example.com")
	sid := idTokenSID(t, e, a, tok.Extra("id_token").(string))
	p := b.get(e.issuer + "/logout")
	if !strings.Contains(p.body, `action="/logout"`) {
		t.Fatalf("expected the sign-out page, got %d", p.status)
	}
	if p = b.post(e.issuer+"/logout", p.formValues()); p.status >= 400 {
		t.Fatalf("sign-out: %d", p.status)
	}
	got := rp.await(1)
	if len(got[a.ID]) != 1 || got[a.ID][0].SID != sid {
		t.Fatalf("after the sign-out page: %v, want one token with sid %q", got, sid)
	}

	// A new sign-in (prompt=login) in a signed-in browser replaces its session.
	tok = e.tokens(ctx, b, a, "ada@example.com")
	sid = idTokenSID(t, e, a, tok.Extra("id_token").(string))
	tok = e.tokens(ctx, b, a, "ada@example.com", oauth2.SetAuthURLParam("prompt", "login"))
	if again := idTokenSID(t, e, a, tok.Extra("id_token").(string)); again == sid {
		t.Fatal("prompt=login kept the session")
	}
	got = rp.await(1)
	if len(got[a.ID]) != 1 || got[a.ID][0].SID != sid {
		t.Fatalf("after a new sign-in: %v, want one token for the replaced session %q", got, sid)
	}
}

// TestBackchannelAccountDeleted: deleting the account signs it out everywhere first, so its
// clients are told (by sub and sid) although the person is gone.
func TestBackchannelAccountDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	rp := newLogoutRP(t, e)
	a := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = rp.srv.URL + "/bc/" + c.ID })
	tok := e.tokens(ctx, e.browser(), a, "ada@example.com")
	sid := idTokenSID(t, e, a, tok.Extra("id_token").(string))
	if err := e.srv.Accounts.DeleteAccount(ctx, u, testPassword, account.Meta{}); err != nil {
		t.Fatal(err)
	}
	got := rp.await(1)
	if len(got[a.ID]) != 1 || got[a.ID][0].SID != sid || got[a.ID][0].Subject != u.ID {
		t.Fatalf("after deleting the account: %v, want one token with sid %q", got, sid)
	}
}
