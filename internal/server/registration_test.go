package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/registration"
)

// registerReq sends a registration (or management) request with a Bearer token.
func (e *testEnv) registerReq(method, url, token string, body any) (int, http.Header, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: body %q is not JSON: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// initialToken issues an initial access token the way `myaccount client registration-token`
// does.
func (e *testEnv) initialToken(uses int) string {
	e.t.Helper()
	svc := &registration.Service{Store: e.store, Now: e.clock.Now}
	tok, _, err := svc.IssueInitialToken(context.Background(), "cli", uses, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func registrationEnabled(c *config.Config) { c.Registration.Enabled = true }

func TestRegistrationIsOffByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var claims struct {
		Registration *string `json:"registration_endpoint"`
	}
	if err := e.provider(t.Context()).Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Registration != nil {
		t.Fatalf("discovery advertises registration_endpoint %q while registration is off", *claims.Registration)
	}
	status, _, _ := e.registerReq(http.MethodPost, e.issuer+"/connect/register", e.initialToken(1),
		map[string]any{"client_name": "x", "redirect_uris": []string{"https://x.example/cb"}})
	if status != http.StatusNotFound {
		t.Fatalf("registration while off: %d, want 404", status)
	}
}

// TestDynamicClientSignsIn registers a client with an initial access token, signs a person in
// through it with golang.org/x/oauth2 and go-oidc, then manages and deletes the registration.
func TestDynamicClientSignsIn(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{configure: registrationEnabled})
	ctx := t.Context()
	var claims struct {
		Registration string `json:"registration_endpoint"`
	}
	if err := e.provider(ctx).Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Registration != e.issuer+"/connect/register" {
		t.Fatalf("registration_endpoint %q", claims.Registration)
	}
	md := map[string]any{"client_name": "Photo Vault", "redirect_uris": []string{"https://vault.example/cb"},
		"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "openid email offline_access",
		"unknown_extension": "ignored"}

	// No token, a made-up token: 401 with the RFC 6750 challenge.
	status, h, body := e.registerReq(http.MethodPost, claims.Registration, "", md)
	if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || body["error"] != "invalid_token" {
		t.Fatalf("no token: %d %v %v", status, h.Get("WWW-Authenticate"), body)
	}
	if status, _, _ = e.registerReq(http.MethodPost, claims.Registration, "made-up", md); status != http.StatusUnauthorized {
		t.Fatalf("made-up token: %d", status)
	}

	tok := e.initialToken(1)
	// A request that names an admin scope is refused and costs no use of the token.
	bad := map[string]any{"client_name": "Evil", "redirect_uris": []string{"https://evil.example/cb"}, "scope": "openid admin:write"}
	if status, _, body = e.registerReq(http.MethodPost, claims.Registration, tok, bad); status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
		t.Fatalf("admin scope: %d %v", status, body)
	}
	bad = map[string]any{"client_name": "Evil", "redirect_uris": []string{"https://evil.example/cb#frag"}}
	if status, _, body = e.registerReq(http.MethodPost, claims.Registration, tok, bad); status != http.StatusBadRequest || body["error"] != "invalid_redirect_uri" {
		t.Fatalf("fragment redirect: %d %v", status, body)
	}

	status, h, reg := e.registerReq(http.MethodPost, claims.Registration, tok, md)
	if status != http.StatusCreated || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d %v %v", status, h, reg)
	}
	id, _ := reg["client_id"].(string)
	sec, _ := reg["client_secret"].(string)
	rat, _ := reg["registration_access_token"].(string)
	uri, _ := reg["registration_client_uri"].(string)
	if id == "" || sec == "" || rat == "" || uri != claims.Registration+"/"+id {
		t.Fatalf("registration response %v", reg)
	}
	if _, ok := reg["unknown_extension"]; ok {
		t.Fatal("an unknown field was echoed back")
	}
	// The token was good for one registration.
	if status, _, _ = e.registerReq(http.MethodPost, claims.Registration, tok, md); status != http.StatusUnauthorized {
		t.Fatalf("second use of a one-use token: %d", status)
	}

	// The new client works with real client libraries: code flow with PKCE, consent (it is not
	// first-party), an ID token verified against the JWKS.
	e.addUser("ada@example.com")
	c := &testClient{ID: id, Secret: sec, Redirect: "https://vault.example/cb"}
	b := e.browser()
	res, verifier := e.signIn(b, c, "ada@example.com")
	if res.code == "" {
		t.Fatalf("no code: %q", res.err)
	}
	oauthTok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := oauthTok.Extra("id_token").(string)
	if _, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: id}).Verify(ctx, raw); err != nil {
		t.Fatalf("id token: %v", err)
	}

	// RFC 7592: read, update, and another client's token cannot touch it.
	status, _, got := e.registerReq(http.MethodGet, uri, rat, nil)
	if status != http.StatusOK || got["client_name"] != "Photo Vault" || got["registration_access_token"] != rat || got["client_secret"] != nil {
		t.Fatalf("read: %d %v", status, got)
	}
	other := e.initialToken(1)
	_, _, reg2 := e.registerReq(http.MethodPost, claims.Registration, other, md)
	rat2, _ := reg2["registration_access_token"].(string)
	if status, _, _ = e.registerReq(http.MethodGet, uri, rat2, nil); status != http.StatusUnauthorized {
		t.Fatalf("another client's token read this one: %d", status)
	}
	upd := map[string]any{"client_id": id, "client_name": "Photo Vault 2", "redirect_uris": []string{"https://vault.example/cb2"}}
	if status, _, got = e.registerReq(http.MethodPut, uri, rat, upd); status != http.StatusOK || got["client_name"] != "Photo Vault 2" {
		t.Fatalf("update: %d %v", status, got)
	}
	if status, _, _ = e.registerReq(http.MethodDelete, uri, rat2, nil); status != http.StatusUnauthorized {
		t.Fatalf("another client's token deleted this one: %d", status)
	}
	if status, _, _ = e.registerReq(http.MethodDelete, uri, rat, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if _, err := e.store.GetClient(ctx, id); err == nil {
		t.Fatal("the deleted client is still stored")
	}
	// Its refresh token died with it.
	if oauthTok.RefreshToken == "" {
		t.Fatal("no refresh token was issued for offline_access")
	}
	stale := &oauth2.Token{RefreshToken: oauthTok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
	if _, err := e.oauth2Config(c).TokenSource(ctx, stale).Token(); err == nil {
		t.Fatal("the deleted client's refresh token still works")
	}
}

// TestRegistrationStorageFailureIsOurs: a failing database during registration is a 503 with
// Retry-After, never a 401 that would make the client throw away a good initial token.
func TestRegistrationStorageFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, registrationEnabled)
	tok := e.initialToken(1)
	fs.Fail("UseInitialAccessToken")
	md := map[string]any{"client_name": "Vault", "redirect_uris": []string{"https://vault.example/cb"}}
	status, h, body := e.registerReq(http.MethodPost, e.issuer+"/connect/register", tok, md)
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || body["error"] != "temporarily_unavailable" {
		t.Fatalf("store failure: %d %v %v", status, h.Get("Retry-After"), body)
	}
	fs.Clear()
	if status, _, body = e.registerReq(http.MethodPost, e.issuer+"/connect/register", tok, md); status != http.StatusCreated {
		t.Fatalf("after the failure the token must still work: %d %v", status, body)
	}
}
