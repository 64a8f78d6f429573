package server_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// A client_credentials JWT (answered by op/ccgrant.go, not the library) is what a resource
// server expects: taken by golang.org/x/oauth2's clientcredentials, typed at+jwt, verified
// with the published key set by go-oidc, exactly the claims of a stateless token, only the
// registered scopes, the resource as audience, and active at introspection.
func TestClientCredentialsTokenShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), withResources("https://api.example/"),
		func(c *storage.Client) { c.Scopes = []string{"api.read"} })
	cc := e.clientCredentials(c, oauth2.AuthStyleInHeader)
	cc.Scopes = []string{"api.read", "openid", "api.write"}
	cc.EndpointParams = url.Values{"resource": {"https://api.example/"}}
	before := time.Now().Unix()
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.Extra("scope") != "api.read" {
		t.Errorf("token_type %q, scope %v; want Bearer, api.read", tok.TokenType, tok.Extra("scope"))
	}
	if left := time.Until(tok.Expiry); left <= 0 || left > 15*time.Minute+time.Second {
		t.Errorf("expires in %v, want the 15 minutes default", left)
	}
	at := tok.AccessToken
	if h := jwtHeader(t, at); h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] == nil {
		t.Errorf("header %v, want typ at+jwt, alg ES256 and a kid", h)
	}
	jws, err := gooidc.NewRemoteKeySet(ctx, e.issuer+"/keys").VerifySignature(ctx, at)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(jws, &claims); err != nil {
		t.Fatal(err)
	}
	want := []string{"aud", "client_created", "client_id", "exp", "gty", "iat", "iss", "jti", "nbf", "scope", "sub"}
	if got := slices.Sorted(maps.Keys(claims)); !slices.Equal(got, want) {
		t.Errorf("claims %v, want exactly %v", got, want)
	}
	aud, _ := claims["aud"].([]any)
	if claims["iss"] != e.issuer || claims["sub"] != c.ID || claims["client_id"] != c.ID || claims["gty"] != "client_credentials" ||
		claims["scope"] != "api.read" || len(aud) != 2 || aud[0] != c.ID || aud[1] != "https://api.example/" {
		t.Errorf("claims %v", claims)
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if int64(iat) < before-1 || claims["nbf"] != claims["iat"] || exp-iat != 900 {
		t.Errorf("iat %v nbf %v exp %v", claims["iat"], claims["nbf"], claims["exp"])
	}
	// Introspection (op/introspectcc.go) answers RFC 7662's members, twice alike (the second
	// from the verified-token memory), and nothing for a forged copy or another client.
	for i := range 2 {
		st, _, body := e.postForm("/oauth/introspect", url.Values{"token": {at}}, c.ID, c.Secret)
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); st != http.StatusOK || err != nil {
			t.Fatalf("introspection %d: %d %s", i, st, body)
		}
		want := []string{"active", "aud", "client_id", "exp", "iat", "scope", "sub", "token_type"}
		if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, want) || got["active"] != true ||
			got["scope"] != "api.read" || got["sub"] != c.ID || got["client_id"] != c.ID || got["token_type"] != "Bearer" ||
			got["exp"] != claims["exp"] || got["iat"] != claims["iat"] || len(got["aud"].([]any)) != 2 {
			t.Errorf("introspection %d: %v", i, got)
		}
	}
	forged := at[:strings.LastIndexByte(at, '.')+1] + strings.Repeat("A", len(at)-strings.LastIndexByte(at, '.')-1)
	if e.introspectActive(c, forged) {
		t.Error("a token with a forged signature introspects active")
	}
	if other := e.addClient(storage.ClientConfidential, withGrants("client_credentials")); e.introspectActive(other, at) {
		t.Error("a client outside the token's audience sees it active")
	}
	if st, _, _ := e.postForm("/oauth/introspect", url.Values{"token": {at}}, c.ID, "wrong"); st != http.StatusUnauthorized {
		t.Errorf("introspection with a wrong secret: %d, want 401", st)
	}
	// Without scope or resource: no scope member, the client as the only audience.
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
	if st != http.StatusOK || strings.Contains(body, `"scope"`) {
		t.Fatalf("plain request: %d %s", st, body)
	}
	if claims := jwtPayload(t, jsonFieldT(t, body, "access_token")); claims["scope"] != nil || len(claims["aud"].([]any)) != 1 {
		t.Errorf("plain request's claims %v", claims)
	}
	// Refusals still come from the library, as before.
	for _, tc := range []struct {
		name       string
		cl         *testClient
		secret     string
		wantStatus int
		wantErr    string
	}{
		{"wrong secret", c, "wrong", http.StatusUnauthorized, "invalid_client"},
		{"grant not allowed", e.addClient(storage.ClientConfidential), "", http.StatusBadRequest, "unauthorized_client"},
	} {
		sec := tc.secret
		if sec == "" {
			sec = tc.cl.Secret
		}
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, tc.cl.ID, sec)
		if st != tc.wantStatus || !strings.Contains(body, tc.wantErr) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, st, body, tc.wantStatus, tc.wantErr)
		}
	}
}

// Two instances on one database each cache clients (storage/clientcache). A secret rotated
// through one works at once on the other (a refused secret is checked against the row), and
// the old secret stops working there within the cache's second.
func TestClientSecretRotatedOnAnotherInstance(t *testing.T) {
	t.Parallel()
	shared := map[string]string{"MYACCOUNT_DATABASE_URL": filepath.Join(t.TempDir(), "myaccount.db"), "MYACCOUNT_MASTER_KEY": keys.NewMasterKey()}
	a := newEnvWith(t, envOptions{env: shared})
	b := newEnvWith(t, envOptions{env: shared, issuer: a.issuer})
	c := a.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	token := func(e *testEnv, sec string) int {
		st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, sec)
		return st
	}
	if st := token(b, c.Secret); st != http.StatusOK { // b now holds the client in its cache
		t.Fatalf("before the rotation: %d", st)
	}
	old := c.Secret
	c.Secret = secret.RandomToken(32)
	if _, err := a.store.UpdateClient(context.Background(), c.ID, func(x *storage.Client) error {
		x.SecretHash = secret.HashToken(c.Secret)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st := token(b, c.Secret); st != http.StatusOK {
		t.Fatalf("the new secret on the other instance right after the rotation: %d", st)
	}
	if st := token(a, old); st != http.StatusUnauthorized {
		t.Errorf("the old secret on the instance that rotated it: %d, want 401", st)
	}
	time.Sleep(1100 * time.Millisecond)
	if st := token(b, old); st != http.StatusUnauthorized {
		t.Errorf("the old secret on the other instance a second later: %d, want 401", st)
	}
}
