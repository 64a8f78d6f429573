package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/myaccount/myaccount/storage"
)

// RFC 9068: a user's JWT access token has header typ at+jwt and the profile's claims; the ID
// token issued with it still verifies with go-oidc, at_hash included; the token is accepted
// at userinfo (through go-oidc) and introspection.
func TestAccessTokenJWTProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, firstParty)
	u := e.addUser("at-jwt@example.com")
	tok := e.tokens(ctx, e.browser(), c, "at-jwt@example.com")
	at := tok.AccessToken
	h := jwtHeader(t, at)
	if h["typ"] != "at+jwt" || h["kid"] == nil || h["alg"] != "ES256" {
		t.Errorf("access token header = %v, want typ at+jwt, alg ES256 and a kid", h)
	}
	claims := jwtPayload(t, at)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if claims[k] == nil {
			t.Errorf("access token lacks %s: %v", k, claims)
		}
	}
	if claims["iss"] != e.issuer || claims["sub"] != u.ID || claims["client_id"] != c.ID {
		t.Errorf("iss/sub/client_id = %v/%v/%v", claims["iss"], claims["sub"], claims["client_id"])
	}
	if sc, _ := claims["scope"].(string); !slices.Contains(strings.Fields(sc), "openid") {
		t.Errorf("scope = %q", sc)
	}
	p := e.provider(ctx)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if err := idt.VerifyAccessToken(at); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	// The ID token is not typed at+jwt: one cannot pass for the other. It is signed with the
	// client's registered algorithm (the library's draft signature never leaves).
	if h := jwtHeader(t, raw); h["typ"] == "at+jwt" || h["alg"] != "RS256" {
		t.Errorf("ID token header = %v, want alg RS256 and not typ at+jwt", h)
	}
	ui, err := p.UserInfo(ctx, e.oauth2Config(c).TokenSource(ctx, tok))
	if err != nil || ui.Email != "at-jwt@example.com" {
		t.Errorf("userinfo: %v %v", ui, err)
	}
	if !e.introspectActive(c, at) {
		t.Error("introspection: not active")
	}
	// A refresh answers at+jwt too, with an ID token whose at_hash matches.
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret)
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %s", st, body)
	}
	at2 := jsonFieldT(t, body, "access_token")
	if jwtHeader(t, at2)["typ"] != "at+jwt" {
		t.Error("refreshed access token is not at+jwt")
	}
	if raw := jsonStr(body, "id_token"); raw != "" {
		idt, err := p.Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("refreshed ID token: %v", err)
		}
		if err := idt.VerifyAccessToken(at2); err != nil {
			t.Errorf("refreshed at_hash: %v", err)
		}
	}
}

// A stateless client_credentials JWT is at+jwt too, and still accepted by introspection and
// revocation (the library's access-token verifier does not insist on typ JWT).
func TestClientCredentialsJWTProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = []string{"api.read"} })
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}, c.ID, c.Secret)
	if st != http.StatusOK {
		t.Fatal(body)
	}
	at := jsonFieldT(t, body, "access_token")
	if jwtHeader(t, at)["typ"] != "at+jwt" {
		t.Errorf("header %v, want typ at+jwt", jwtHeader(t, at))
	}
	claims := jwtPayload(t, at)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if claims[k] == nil {
			t.Errorf("token lacks %s: %v", k, claims)
		}
	}
	if !e.introspectActive(c, at) {
		t.Fatal("introspection: not active")
	}
	revoke(t, e, c, at)
	if e.introspectActive(c, at) {
		t.Error("introspection after revocation: active")
	}
}
