package server_test

import (
	"context"
	"net/url"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/storage"
)

// jwtAlg returns the alg of a compact JWS, after checking that the issuer's published JWKS
// verifies it (what a resource server does).
func (e *testEnv) jwtAlg(ctx context.Context, token string) string {
	e.t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		e.t.Fatalf("parse %q: %v", token, err)
	}
	if _, err := gooidc.NewRemoteKeySet(ctx, e.issuer+"/keys").VerifySignature(ctx, token); err != nil {
		e.t.Fatalf("the JWKS does not verify the token: %v", err)
	}
	return jws.Signatures[0].Header.Algorithm
}

// Access tokens are signed ES256 by default (an ES256 signature is far cheaper than an
// RS256-2048 one); ID tokens stay RS256 unless the client registered ES256.
func TestTokenAlgorithms(t *testing.T) {
	ctx := context.Background()
	t.Run("default", func(t *testing.T) {
		e := newEnv(t)
		e.addUser("ada@example.com")
		rs := e.addClient(storage.ClientConfidential, firstParty)
		tok := e.tokens(ctx, e.browser(), rs, "ada@example.com")
		idt, _ := tok.Extra("id_token").(string)
		if got := e.jwtAlg(ctx, tok.AccessToken); got != "ES256" {
			t.Errorf("access token alg = %s, want ES256", got)
		}
		if got := e.jwtAlg(ctx, idt); got != "RS256" {
			t.Errorf("ID token alg = %s, want RS256 (the client's registration)", got)
		}
		// A refresh keeps both choices.
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, rs.ID, rs.Secret)
		if st != 200 {
			t.Fatalf("refresh: %d %s", st, body)
		}
		if got := e.jwtAlg(ctx, jsonFieldT(t, body, "access_token")); got != "ES256" {
			t.Errorf("refreshed access token alg = %s, want ES256", got)
		}
		if got := e.jwtAlg(ctx, jsonFieldT(t, body, "id_token")); got != "RS256" {
			t.Errorf("refreshed ID token alg = %s, want RS256", got)
		}

		es := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.IDTokenAlg = "ES256" })
		tok = e.tokens(ctx, e.browser(), es, "ada@example.com")
		idt, _ = tok.Extra("id_token").(string)
		if a, i := e.jwtAlg(ctx, tok.AccessToken), e.jwtAlg(ctx, idt); a != "ES256" || i != "ES256" {
			t.Errorf("ES256 client: access/ID token algs = %s/%s, want ES256/ES256", a, i)
		}

		cc := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
		st, _, body = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, cc.ID, cc.Secret)
		if st != 200 {
			t.Fatalf("client_credentials: %d %s", st, body)
		}
		at := jsonFieldT(t, body, "access_token")
		if got := e.jwtAlg(ctx, at); got != "ES256" {
			t.Errorf("client_credentials access token alg = %s, want ES256", got)
		}
		if !e.introspectActive(cc, at) {
			t.Error("ES256 access token does not introspect active")
		}
	})
	t.Run("tokens.access_token_alg RS256", func(t *testing.T) {
		e := newEnvWith(t, envOptions{configure: func(c *config.Config) { c.Tokens.AccessTokenAlg = "RS256" }})
		e.addUser("ada@example.com")
		es := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.IDTokenAlg = "ES256" })
		tok := e.tokens(ctx, e.browser(), es, "ada@example.com")
		idt, _ := tok.Extra("id_token").(string)
		if a, i := e.jwtAlg(ctx, tok.AccessToken), e.jwtAlg(ctx, idt); a != "RS256" || i != "ES256" {
			t.Errorf("access/ID token algs = %s/%s, want RS256/ES256", a, i)
		}
		cc := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, cc.ID, cc.Secret)
		if st != 200 {
			t.Fatalf("client_credentials: %d %s", st, body)
		}
		if got := e.jwtAlg(ctx, jsonFieldT(t, body, "access_token")); got != "RS256" {
			t.Errorf("client_credentials access token alg = %s, want RS256", got)
		}
	})
}
