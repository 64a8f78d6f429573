package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// assertionKey is a private_key_jwt client's signing key.
type assertionKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newAssertionKey(t *testing.T, kid string) *assertionKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &assertionKey{kid: kid, priv: k}
}

func (k *assertionKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"}
}

func jwksJSON(t *testing.T, keys ...*assertionKey) string {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertion signs claims (defaults: iss=sub=client, aud=issuer, exp in a minute, iat now,
// a fresh jti) with the key; edit changes them before signing.
func (k *assertionKey) assertion(t *testing.T, clientID, aud string, edit func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "jti": secret.NewID()}
	if edit != nil {
		edit(claims)
	}
	return signClaims(t, jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, k.kid, claims)
}

func signClaims(t *testing.T, key jose.SigningKey, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// privateKeyJWTClient registers a confidential client authenticating by private_key_jwt
// (no secret), with the grants given.
func (e *testEnv) privateKeyJWTClient(jwks, jwksURI string, grants ...string) *testClient {
	e.t.Helper()
	tc := e.addClient(storage.ClientConfidential, firstParty, withGrants(grants...), func(c *storage.Client) {
		c.SecretHash, c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI = "", storage.AuthMethodPrivateKeyJWT, jwks, jwksURI
		c.Scopes = []string{"api.read"}
	})
	tc.Secret = "" // it is issued none
	return tc
}

func assertionForm(assertion string) url.Values {
	return url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
}

func withForm(v url.Values, kv ...string) url.Values {
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// TestPrivateKeyJWTClientCredentials: a client authenticates with an assertion (through
// x/oauth2's clientcredentials, which sends the extra parameters), at the token, introspection
// and revocation endpoints; a replayed assertion, a wrong key, audience or algorithm, an
// expired one, and a secret are refused with invalid_client.
func TestPrivateKeyJWTClientCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	key := newAssertionKey(t, "k1")
	c := e.privateKeyJWTClient(jwksJSON(t, key), "", "client_credentials")

	// x/oauth2 as a relying party: client_id in the form, the assertion as extra parameters.
	a := key.assertion(t, c.ID, e.issuer, nil)
	cc := &clientcredentials.Config{ClientID: c.ID, TokenURL: e.addr + "/oauth/token", Scopes: []string{"api.read"},
		AuthStyle: oauth2.AuthStyleInParams, EndpointParams: assertionForm(a)}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client_credentials with a valid assertion: %v", err)
	}
	// The same assertion again is a replay.
	if _, err := cc.Token(ctx); !isInvalidClient(err) {
		t.Errorf("replayed assertion: %v, want invalid_client", err)
	}

	// Introspection and revocation authenticate it the same way (the token endpoint's URL as
	// audience is accepted too).
	status, _, body := e.postForm("/oauth/introspect", withForm(assertionForm(key.assertion(t, c.ID, e.issuer+"/oauth/token", nil)),
		"token", tok.AccessToken), "", "")
	if status != http.StatusOK || !strings.Contains(body, `"active":true`) {
		t.Fatalf("introspection by assertion: %d %s", status, body)
	}
	status, _, body = e.postForm("/revoke", withForm(assertionForm(key.assertion(t, c.ID, e.issuer, nil)), "token", tok.AccessToken), "", "")
	if status != http.StatusOK {
		t.Fatalf("revocation by assertion: %d %s", status, body)
	}

	other := newAssertionKey(t, "k1") // same kid, another key
	setKey := []byte(jwksJSON(t, key))
	ecPub, _ := x509.MarshalPKIXPublicKey(key.priv.Public())
	cases := []struct {
		name string
		form url.Values
		user string // HTTP Basic user
	}{
		{"wrong key", assertionForm(other.assertion(t, c.ID, e.issuer, nil)), ""},
		{"wrong audience", assertionForm(key.assertion(t, c.ID, "https://other.example", nil)), ""},
		{"expired", assertionForm(key.assertion(t, c.ID, e.issuer, func(m map[string]any) {
			m["exp"], m["iat"] = time.Now().Add(-2*time.Minute).Unix(), time.Now().Add(-3*time.Minute).Unix()
		})), ""},
		{"exp too far ahead", assertionForm(key.assertion(t, c.ID, e.issuer, func(m map[string]any) { m["exp"] = time.Now().Add(time.Hour).Unix() })), ""},
		{"no exp", assertionForm(key.assertion(t, c.ID, e.issuer, func(m map[string]any) { delete(m, "exp") })), ""},
		{"no jti", assertionForm(key.assertion(t, c.ID, e.issuer, func(m map[string]any) { delete(m, "jti") })), ""},
		{"sub is not the client", assertionForm(key.assertion(t, c.ID, e.issuer, func(m map[string]any) { m["sub"] = "someone" })), ""},
		{"client_id differs", withForm(assertionForm(key.assertion(t, c.ID, e.issuer, nil)), "client_id", "another"), ""},
		{"alg none", assertionForm(unsignedJWT(map[string]any{"iss": c.ID, "sub": c.ID, "aud": e.issuer,
			"exp": time.Now().Add(time.Minute).Unix(), "jti": secret.NewID()})), ""},
		{"HS256 keyed with the public JWK Set", assertionForm(signClaims(t, jose.SigningKey{Algorithm: jose.HS256, Key: setKey}, "k1",
			map[string]any{"iss": c.ID, "sub": c.ID, "aud": e.issuer, "exp": time.Now().Add(time.Minute).Unix(), "jti": secret.NewID()})), ""},
		{"HS256 keyed with the public key", assertionForm(signClaims(t, jose.SigningKey{Algorithm: jose.HS256, Key: ecPub}, "k1",
			map[string]any{"iss": c.ID, "sub": c.ID, "aud": e.issuer, "exp": time.Now().Add(time.Minute).Unix(), "jti": secret.NewID()})), ""},
		{"a client secret besides", withForm(assertionForm(key.assertion(t, c.ID, e.issuer, nil)), "client_secret", "x"), ""},
		{"a secret instead", url.Values{"client_id": {c.ID}, "client_secret": {"anything"}}, ""},
		{"Basic with a secret", url.Values{}, c.ID},
		{"no authentication at all", url.Values{"client_id": {c.ID}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := withForm(tc.form, "grant_type", "client_credentials")
			pass := ""
			if tc.user != "" {
				pass = "anything"
			}
			status, _, body := e.postForm("/oauth/token", form, tc.user, pass)
			if status < 400 || status >= 500 || !(strings.Contains(body, `"invalid_client"`) || strings.Contains(body, `"invalid_request"`)) {
				t.Errorf("got %d %s, want invalid_client", status, body)
			}
			if strings.Contains(body, "access_token") {
				t.Error("a token was issued")
			}
		})
	}

	// A client that is not registered for private_key_jwt cannot use an assertion, even
	// one its would-be keys sign.
	plain := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	status, _, body = e.postForm("/oauth/token", withForm(assertionForm(key.assertion(t, plain.ID, e.issuer, nil)),
		"grant_type", "client_credentials"), "", "")
	if status != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("assertion for a secret client: %d %s", status, body)
	}
}

func isInvalidClient(err error) bool {
	var re *oauth2.RetrieveError
	return asRetrieve(err, &re) && re.ErrorCode == "invalid_client"
}

func unsignedJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": "k1"})
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// TestPrivateKeyJWTCodeAndRefresh: the code exchange and the refresh authenticate by
// assertion (x/oauth2's Exchange carries the extra parameters); a code exchange without
// one is refused.
func TestPrivateKeyJWTCodeAndRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	key := newAssertionKey(t, "k1")
	c := e.privateKeyJWTClient(jwksJSON(t, key), "", "authorization_code", "refresh_token")
	cfg := e.oauth2Config(c)
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	res, verifier := e.signIn(e.browser(), c, "ada@example.com")
	// Without the assertion: refused, and the code stays usable.
	if _, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier)); !isInvalidClient(err) {
		t.Fatalf("code exchange without an assertion: %v, want invalid_client", err)
	}
	a := key.assertion(t, c.ID, e.issuer, nil)
	tok, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier),
		oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
		oauth2.SetAuthURLParam("client_assertion", a))
	if err != nil {
		t.Fatalf("code exchange with an assertion: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatal("no refresh or ID token")
	}
	status, _, body := e.postForm("/oauth/token", withForm(assertionForm(key.assertion(t, c.ID, e.issuer, nil)),
		"grant_type", "refresh_token", "refresh_token", tok.RefreshToken), "", "")
	if status != http.StatusOK || !strings.Contains(body, "access_token") {
		t.Fatalf("refresh with an assertion: %d %s", status, body)
	}
	// A refresh with the old token and no assertion: invalid_client, not a reuse.
	status, _, body = e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {c.ID}}, "", "")
	if status != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("refresh without an assertion: %d %s", status, body)
	}
}

// jwksServer serves a client's JWK Set on loopback and counts the fetches.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	body    string
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	j := &jwksServer{body: body}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(j.body))
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) set(body string) {
	j.mu.Lock()
	j.body = body
	j.mu.Unlock()
}

// TestPrivateKeyJWTKeysByURI: the key set at jwks_uri is fetched once and cached; an unknown
// kid (the client rotated) fetches it again, but not again and again.
func TestPrivateKeyJWTKeysByURI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k1, k2 := newAssertionKey(t, "k1"), newAssertionKey(t, "k2")
	js := newJWKSServer(t, jwksJSON(t, k1))
	c := e.privateKeyJWTClient("", js.srv.URL+"/jwks.json", "client_credentials")
	token := func(a string) int {
		status, _, _ := e.postForm("/oauth/token", withForm(assertionForm(a), "grant_type", "client_credentials"), "", "")
		return status
	}
	for i := 0; i < 3; i++ {
		if s := token(k1.assertion(t, c.ID, e.issuer, nil)); s != http.StatusOK {
			t.Fatalf("assertion %d by k1: %d", i, s)
		}
	}
	if n := js.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for three assertions, want 1 (cached)", n)
	}
	// The client rotates to k2: the unknown kid fetches the set again.
	js.set(jwksJSON(t, k2))
	if s := token(k2.assertion(t, c.ID, e.issuer, nil)); s != http.StatusOK {
		t.Fatalf("assertion by the rotated key: %d", s)
	}
	if n := js.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the rotation, want 2", n)
	}
	// Made-up kids do not make us fetch again right away.
	k3 := newAssertionKey(t, "k3")
	for i := 0; i < 3; i++ {
		if s := token(k3.assertion(t, c.ID, e.issuer, nil)); s != http.StatusUnauthorized {
			t.Fatalf("assertion by an unknown key: %d", s)
		}
	}
	if n := js.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after unknown kids, want still 2", n)
	}
	// An unreachable jwks_uri is the client's problem: invalid_client, not 5xx.
	js.srv.Close()
	down := e.privateKeyJWTClient("", js.srv.URL+"/jwks.json", "client_credentials")
	status, _, body := e.postForm("/oauth/token", withForm(assertionForm(k1.assertion(t, down.ID, e.issuer, nil)),
		"grant_type", "client_credentials"), "", "")
	if status != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("unreachable jwks_uri: %d %s", status, body)
	}
}

// TestPrivateKeyJWTStoreFailure: when the replay store fails the answer is ours (503
// temporarily_unavailable), never invalid_client.
func TestPrivateKeyJWTStoreFailure(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	key := newAssertionKey(t, "k1")
	c := e.privateKeyJWTClient(jwksJSON(t, key), "", "client_credentials")
	fs.Add(faultstore.Rule{Method: "RememberJTI", Err: faultstore.ErrInjected})
	status, _, body := e.postForm("/oauth/token", withForm(assertionForm(key.assertion(t, c.ID, e.issuer, nil)),
		"grant_type", "client_credentials"), "", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") {
		t.Errorf("replay store down: %d %s, want 503 temporarily_unavailable", status, body)
	}
	for _, l := range leaks {
		if strings.Contains(body, l) {
			t.Errorf("answer leaks %q: %s", l, body)
		}
	}
	fs.Clear()
	status, _, body = e.postForm("/oauth/token", withForm(assertionForm(key.assertion(t, c.ID, e.issuer, nil)),
		"grant_type", "client_credentials"), "", "")
	if status != http.StatusOK {
		t.Errorf("after the store came back: %d %s", status, body)
	}
}

// TestPrivateKeyJWTDeviceGrant: the device grant, which we serve ourselves, authenticates a
// private_key_jwt client by assertion at the device authorization and at every poll.
func TestPrivateKeyJWTDeviceGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	key := newAssertionKey(t, "k1")
	c := e.privateKeyJWTClient(jwksJSON(t, key), "", grantDevice, "refresh_token")
	st, _, body := e.postForm("/device_authorization", withForm(assertionForm(key.assertion(t, c.ID, e.issuer, nil)),
		"scope", "openid offline_access"), "", "")
	if st != http.StatusOK {
		t.Fatalf("device authorization by assertion: %d %s", st, body)
	}
	var da deviceAuth
	if err := json.Unmarshal([]byte(body), &da); err != nil {
		t.Fatal(err)
	}
	// Without an assertion the client is not authenticated.
	st, _, body = e.postForm("/device_authorization", url.Values{"client_id": {c.ID}, "scope": {"openid"}}, "", "")
	if st != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("device authorization without an assertion: %d %s", st, body)
	}
	e.decideDevice(e.signedInBrowser("ada@example.com"), da.UserCode, "approve")
	poll := func(form url.Values) (int, string) {
		st, _, body := e.postForm("/oauth/token", withForm(form, "grant_type", grantDevice, "device_code", da.DeviceCode), "", "")
		return st, body
	}
	if st, body := poll(url.Values{"client_id": {c.ID}}); st != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("poll without an assertion: %d %s", st, body)
	}
	if st, body := poll(assertionForm(key.assertion(t, c.ID, e.issuer, nil))); st != http.StatusOK || !strings.Contains(body, "refresh_token") {
		t.Fatalf("poll by assertion: %d %s", st, body)
	}
}

// TestPrivateKeyJWTPushedRequest: the PAR endpoint authenticates a private_key_jwt client by
// assertion (aud may be the issuer or the PAR endpoint) and refuses it without one.
func TestPrivateKeyJWTPushedRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := newAssertionKey(t, "k1")
	c := e.privateKeyJWTClient(jwksJSON(t, key), "", "authorization_code")
	params := func() url.Values {
		return url.Values{"response_type": {"code"}, "redirect_uri": {c.Redirect}, "scope": {"openid"}, "state": {"s"}}
	}
	st, _, body := e.postForm("/par", withForm(assertionForm(key.assertion(t, c.ID, e.issuer+"/par", nil)),
		"response_type", "code", "redirect_uri", c.Redirect, "scope", "openid", "state", "s"), "", "")
	if st != http.StatusCreated || !strings.Contains(body, "request_uri") {
		t.Fatalf("PAR by assertion: %d %s", st, body)
	}
	f := params()
	f.Set("client_id", c.ID)
	if st, _, body := e.postForm("/par", f, "", ""); st != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("PAR without an assertion: %d %s", st, body)
	}
}
