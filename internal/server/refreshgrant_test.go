package server_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// A refresh (answered by op/refreshgrant.go, not the library) gives what the code exchange
// (op/codegrant.go, the library's answer member for member: TestCodeTokenShape) gives: the
// same response members, an ID token go-oidc verifies with the same claims (less the
// sign-in's nonce) and an at_hash over the new access token, and an at+jwt access token
// with the same claims. x/oauth2 refreshes through it, a narrower scope narrows every token,
// and the library's refusals are kept: another client's token, a scope never granted, no
// token at all.
func TestRefreshTokenShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	first := e.tokens(ctx, e.browser(), c, "ada@example.com", oauth2.SetAuthURLParam("nonce", "n-0123456789"))
	verifier := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID})

	// x/oauth2 refreshes an expired token through the grant.
	old := &oauth2.Token{AccessToken: first.AccessToken, RefreshToken: first.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	second, err := e.oauth2Config(c).TokenSource(ctx, old).Token()
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("the refresh did not rotate the tokens")
	}
	if second.TokenType != "Bearer" || second.Extra("scope") != first.Extra("scope") {
		t.Errorf("token_type %q scope %v, want Bearer and the code's %v", second.TokenType, second.Extra("scope"), first.Extra("scope"))
	}
	if left := time.Until(second.Expiry); left < 14*time.Minute || left > 15*time.Minute+time.Second {
		t.Errorf("expires in %v, want the 15 minutes default", left)
	}

	idClaims := func(tok *oauth2.Token) map[string]any {
		t.Helper()
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		if h := jwtHeader(t, raw); h["typ"] != "JWT" || h["alg"] != "RS256" || h["kid"] == nil {
			t.Errorf("ID token header %v", h)
		}
		var m map[string]any
		if err := idt.Claims(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	code, refreshed := idClaims(first), idClaims(second)
	if code["nonce"] != "n-0123456789" || refreshed["nonce"] != nil {
		t.Errorf("nonce %v then %v: the sign-in's nonce is not repeated on refresh", code["nonce"], refreshed["nonce"])
	}
	// As the library's refresh (an opaque-token client's, still answered there): no nonce,
	// c_hash or acr, which belong to the sign-in's answer.
	for _, k := range []string{"nonce", "c_hash", "acr"} {
		delete(code, k)
	}
	co := e.addClient(storage.ClientConfidential, firstParty, opaqueTokens)
	cf := e.tokens(ctx, e.browser(), co, "ada@example.com")
	lib, err := e.oauth2Config(co).TokenSource(ctx, &oauth2.Token{RefreshToken: cf.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil {
		t.Fatal(err)
	}
	libClaims := jwtPayload(t, lib.Extra("id_token").(string))
	if got, want := slices.Sorted(maps.Keys(refreshed)), slices.Sorted(maps.Keys(libClaims)); !slices.Equal(got, want) {
		t.Errorf("refreshed ID token claims %v, the library's refresh gives %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(refreshed)), slices.Sorted(maps.Keys(code)); !slices.Equal(got, want) {
		t.Errorf("refreshed ID token claims %v, want the code's %v", got, want)
	}
	for _, k := range []string{"iss", "sub", "azp", "client_id", "auth_time", "sid", "email", "email_verified", "name", "locale"} {
		if !equalJSON(code[k], refreshed[k]) {
			t.Errorf("ID token %s: %v after the code, %v after the refresh", k, code[k], refreshed[k])
		}
	}
	if !equalJSON(code["aud"], refreshed["aud"]) || !equalJSON(code["amr"], refreshed["amr"]) {
		t.Errorf("aud/amr %v %v, then %v %v", code["aud"], code["amr"], refreshed["aud"], refreshed["amr"])
	}

	atClaims := func(tok *oauth2.Token) map[string]any {
		t.Helper()
		if h := jwtHeader(t, tok.AccessToken); h["typ"] != "at+jwt" || h["alg"] != "ES256" {
			t.Errorf("access token header %v", h)
		}
		if _, err := gooidc.NewRemoteKeySet(ctx, e.issuer+"/keys").VerifySignature(ctx, tok.AccessToken); err != nil {
			t.Fatalf("access token signature: %v", err)
		}
		return jwtPayload(t, tok.AccessToken)
	}
	a1, a2 := atClaims(first), atClaims(second)
	if got, want := slices.Sorted(maps.Keys(a2)), slices.Sorted(maps.Keys(a1)); !slices.Equal(got, want) {
		t.Errorf("refreshed access token claims %v, want the code's %v", got, want)
	}
	for _, k := range []string{"iss", "sub", "aud", "client_id", "scope"} {
		if !equalJSON(a1[k], a2[k]) {
			t.Errorf("access token %s: %v, then %v", k, a1[k], a2[k])
		}
	}
	if a1["jti"] == a2["jti"] {
		t.Error("the refreshed access token repeats the jti")
	}
	if e.introspectActive(c, second.AccessToken) != true {
		t.Error("the refreshed access token is not active")
	}

	// The same members as the code exchange's answer, raw.
	members := func(form url.Values) (int, map[string]any) {
		t.Helper()
		st, _, body := e.postForm("/oauth/token", form, c.ID, c.Secret)
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%d %s", st, body)
		}
		return st, m
	}
	st, third := members(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.RefreshToken}})
	if want := []string{"access_token", "expires_in", "id_token", "refresh_token", "scope", "token_type"}; st != http.StatusOK ||
		!slices.Equal(slices.Sorted(maps.Keys(third)), want) {
		t.Fatalf("refresh answer %d %v, want members %v", st, third, want)
	}

	// A narrower scope narrows the access token and drops the ID token's user claims.
	st, narrow := members(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {third["refresh_token"].(string)}, "scope": {"openid offline_access"}})
	if st != http.StatusOK || narrow["scope"] != "openid offline_access" {
		t.Fatalf("narrowed refresh: %d %v", st, narrow)
	}
	if at := jwtPayload(t, narrow["access_token"].(string)); at["scope"] != "openid offline_access" {
		t.Errorf("narrowed access token scope %v", at["scope"])
	}
	if idt := jwtPayload(t, narrow["id_token"].(string)); idt["email"] != nil || idt["name"] != nil || idt["sub"] != code["sub"] {
		t.Errorf("narrowed ID token %v: no email or profile claims", idt)
	}
	live := narrow["refresh_token"].(string)

	// Refusals, as the library answers them; none of them costs the grant.
	other := e.addClient(storage.ClientConfidential, firstParty)
	for _, tc := range []struct {
		name      string
		form      url.Values
		id, sec   string
		status    int
		wantError string
	}{
		{"no token", url.Values{"grant_type": {"refresh_token"}}, c.ID, c.Secret, 400, "invalid_request"},
		{"scope never granted", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {live}, "scope": {"openid admin"}}, c.ID, c.Secret, 400, "invalid_scope"},
		{"another client's token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {live}}, other.ID, other.Secret, 400, "invalid_grant"},
		{"unknown token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, c.ID, c.Secret, 400, "invalid_grant"},
		{"wrong secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {live}}, c.ID, "wrong", 401, "invalid_client"},
	} {
		st, _, body := e.postForm("/oauth/token", tc.form, tc.id, tc.sec)
		if st != tc.status || jsonFieldT(t, body, "error") != tc.wantError {
			t.Errorf("%s: %d %s, want %d %s", tc.name, st, body, tc.status, tc.wantError)
		}
	}
	if st, last := members(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {live}}); st != http.StatusOK || last["access_token"] == nil {
		t.Errorf("the live token after the refusals: %d %v", st, last)
	}

	// A client without the grant is refused as the library refuses it.
	noGrant := e.addClient(storage.ClientConfidential, withGrants("authorization_code"))
	if st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {live}}, noGrant.ID, noGrant.Secret); st != 400 ||
		jsonFieldT(t, body, "error") != "unauthorized_client" {
		t.Errorf("client without the grant: %d %s", st, body)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
