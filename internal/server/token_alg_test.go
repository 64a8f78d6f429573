package server_test

import (
	"context"
	"net/url"
	"strings"
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
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		e.t.Fatalf("parse %q: %v", token, err)
	}
	if _, err := gooidc.NewRemoteKeySet(ctx, e.issuer+"/keys").VerifySignature(ctx, token); err != nil {
		e.t.Fatalf("the JWKS does not verify the token: %v", err)
	}
	return jws.Signatures[0].Header.Algorithm
}

// checkMachineToken gets a client_credentials token and checks it is signed alg and
// introspects active.
func (e *testEnv) checkMachineToken(ctx context.Context, alg string) {
	e.t.Helper()
	cc := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, cc.ID, cc.Secret)
	if st != 200 {
		e.t.Fatalf("client_credentials: %d %s", st, body)
	}
	at := jsonFieldT(e.t, body, "access_token")
	if got := e.jwtAlg(ctx, at); got != alg {
		e.t.Errorf("client_credentials access token alg = %s, want %s", got, alg)
	}
	if !e.introspectActive(cc, at) {
		e.t.Errorf("%s access token does not introspect active", alg)
	}
}

// Access tokens are signed ES256 by default (an ES256 signature is far cheaper than an
// RS256-2048 one); ID tokens stay RS256 unless the client registered ES256.
func TestTokenAlgorithms(t *testing.T) {
	t.Parallel()
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

		e.checkMachineToken(ctx, "ES256")
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
		e.checkMachineToken(ctx, "RS256")
	})
	// EdDSA (Ed25519) for both, where the relying party and resource servers accept it: the
	// ID token verifies with coreos/go-oidc, at_hash included, on the code exchange and on a
	// refresh; the access tokens are accepted by userinfo and introspection.
	t.Run("tokens.access_token_alg EdDSA", func(t *testing.T) {
		e := newEnvWith(t, envOptions{configure: func(c *config.Config) { c.Tokens.AccessTokenAlg = "EdDSA" }})
		e.addUser("ada@example.com")
		ed := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.IDTokenAlg = "EdDSA" })
		verifier := e.provider(ctx).Verifier(&gooidc.Config{ClientID: ed.ID, SupportedSigningAlgs: []string{"EdDSA"}})
		check := func(step, access, idt string) {
			t.Helper()
			if a, i := e.jwtAlg(ctx, access), e.jwtAlg(ctx, idt); a != "EdDSA" || i != "EdDSA" {
				t.Fatalf("%s: access/ID token algs = %s/%s, want EdDSA/EdDSA", step, a, i)
			}
			id, err := verifier.Verify(ctx, idt)
			if err != nil {
				t.Fatalf("%s: go-oidc does not verify the EdDSA ID token: %v", step, err)
			}
			if err := id.VerifyAccessToken(access); err != nil {
				t.Fatalf("%s: at_hash: %v", step, err)
			}
			if st, _, body := e.userinfo("Bearer", access, ""); st != 200 {
				t.Fatalf("%s: userinfo with the EdDSA access token: %d %s", step, st, body)
			}
		}
		b := e.browser()
		tok := e.tokens(ctx, b, ed, "ada@example.com")
		idt, _ := tok.Extra("id_token").(string)
		check("code exchange", tok.AccessToken, idt)
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, ed.ID, ed.Secret)
		if st != 200 {
			t.Fatalf("refresh: %d %s", st, body)
		}
		check("refresh", jsonFieldT(t, body, "access_token"), jsonFieldT(t, body, "id_token"))
		// The EdDSA ID token is a valid id_token_hint: logout goes back to the client.
		bye := ed.c.PostLogoutRedirectURIs[0]
		p := b.get(e.issuer + "/end_session?" + url.Values{"id_token_hint": {jsonFieldT(t, body, "id_token")}, "post_logout_redirect_uri": {bye}, "state": {"s1"}}.Encode())
		if loc := p.location(); loc == nil || !strings.HasPrefix(loc.String(), bye) || loc.Query().Get("state") != "s1" {
			t.Fatalf("logout with an EdDSA id_token_hint: redirect %v, want %s?state=s1 (%d %.300s)", loc, bye, p.status, p.body)
		}

		e.checkMachineToken(ctx, "EdDSA")
	})
}
