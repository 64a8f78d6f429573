package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// codeForm is a code exchange's form.
func codeForm(code, verifier, redirect string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
}

// exchangeRaw posts a code exchange as client c and returns the status and the JSON answer.
func (e *testEnv) exchangeRaw(c *testClient, form url.Values) (int, map[string]any) {
	e.t.Helper()
	f, user, pass := clientForm(c, form)
	st, _, body := e.postForm("/oauth/token", f, user, pass)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		e.t.Fatalf("token answer %d is not JSON: %s", st, body)
	}
	return st, m
}

// cHash is OpenID Connect Core §3.3.2.11's c_hash of code for an RS256 or ES256 ID token.
func cHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// A code exchange of a JWT client (answered by op/codegrant.go) gives what the library's
// gives an opaque-token client: the same members, an ID token go-oidc verifies with the same
// claims (nonce, acr, amr, auth_time, sid, user claims, at_hash over the access token the
// client gets, c_hash over the code), and an at+jwt access token with the claims the library
// builds (its device grant's, still answered there). x/oauth2 exchanges through it. The
// library's refusals are kept, status, error and description alike, and none of them spends
// the code; a replayed code revokes what the first exchange issued.
func TestCodeTokenShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty, withGrants("authorization_code", "refresh_token", grantDevice))
	co := e.addClient(storage.ClientConfidential, firstParty, opaqueTokens)
	b := e.browser()
	nonce := oauth2.SetAuthURLParam("nonce", "n-0123456789")

	// The same sign-in (one browser, one session) answered for each client.
	res, verifier := e.signIn(b, c, "ada@example.com", nonce)
	st, ours := e.exchangeRaw(c, codeForm(res.code, verifier, c.Redirect))
	if st != http.StatusOK {
		t.Fatalf("code exchange: %d %v", st, ours)
	}
	lres, lverifier := e.signIn(b, co, "ada@example.com", nonce)
	st, lib := e.exchangeRaw(co, codeForm(lres.code, lverifier, co.Redirect))
	if st != http.StatusOK {
		t.Fatalf("library's code exchange: %d %v", st, lib)
	}
	if got, want := slices.Sorted(maps.Keys(ours)), slices.Sorted(maps.Keys(lib)); !slices.Equal(got, want) {
		t.Fatalf("answer members %v, the library gives %v", got, want)
	}
	for _, k := range []string{"token_type", "scope"} {
		if !equalJSON(ours[k], lib[k]) {
			t.Errorf("%s: %v, the library gives %v", k, ours[k], lib[k])
		}
	}
	if d := math.Abs(ours["expires_in"].(float64) - lib["expires_in"].(float64)); d > 1 {
		t.Errorf("expires_in %v, the library gives %v", ours["expires_in"], lib["expires_in"])
	}

	// The ID tokens: verified, and claim for claim the library's but for the client's own
	// (aud, azp, client_id), the token hashes and the times.
	idClaims := func(tc *testClient, m map[string]any) map[string]any {
		t.Helper()
		raw, _ := m["id_token"].(string)
		idt, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: tc.ID}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		if err := idt.VerifyAccessToken(m["access_token"].(string)); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		if h := jwtHeader(t, raw); h["typ"] != "JWT" || h["alg"] != "RS256" || h["kid"] == nil {
			t.Errorf("ID token header %v", h)
		}
		var claims map[string]any
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		return claims
	}
	oc, lc := idClaims(c, ours), idClaims(co, lib)
	if got, want := slices.Sorted(maps.Keys(oc)), slices.Sorted(maps.Keys(lc)); !slices.Equal(got, want) {
		t.Fatalf("ID token claims %v, the library gives %v", got, want)
	}
	if oc["c_hash"] != cHash(res.code) || lc["c_hash"] != cHash(lres.code) {
		t.Errorf("c_hash %v (the library's %v), want the code's, SHA-256: %v (%v)", oc["c_hash"], lc["c_hash"], cHash(res.code), cHash(lres.code))
	}
	for k := range lc {
		switch k {
		case "aud", "azp", "client_id":
			if !equalJSON(oc[k], c.ID) && !equalJSON(oc[k], []string{c.ID}) {
				t.Errorf("ID token %s = %v, want the client's %s", k, oc[k], c.ID)
			}
		case "iat", "exp":
			if d := math.Abs(oc[k].(float64) - lc[k].(float64)); d > 1 {
				t.Errorf("ID token %s %v, the library's %v", k, oc[k], lc[k])
			}
		case "at_hash", "c_hash", "jti":
		default:
			if !equalJSON(oc[k], lc[k]) {
				t.Errorf("ID token %s = %v, the library gives %v", k, oc[k], lc[k])
			}
		}
	}
	if oc["nonce"] != "n-0123456789" || oc["exp"].(float64)-oc["iat"].(float64) != lc["exp"].(float64)-lc["iat"].(float64) {
		t.Errorf("ID token nonce %v, lifetime %v", oc["nonce"], oc["exp"].(float64)-oc["iat"].(float64))
	}

	// The access token: at+jwt, verified by the published keys, with the claims the library
	// builds for this client's tokens (its device grant, answered there and re-signed).
	access := ours["access_token"].(string)
	if h := jwtHeader(t, access); h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] == nil {
		t.Errorf("access token header %v", h)
	}
	if _, err := gooidc.NewRemoteKeySet(ctx, e.issuer+"/keys").VerifySignature(ctx, access); err != nil {
		t.Fatalf("access token signature: %v", err)
	}
	at := jwtPayload(t, access)
	da := e.authorizeDevice(c, "openid email profile offline_access", nil)
	e.decideDevice(b, da.UserCode, "approve")
	st, dev := e.pollDevice(c, da.DeviceCode)
	if st != http.StatusOK {
		t.Fatalf("device poll: %d %v", st, dev)
	}
	dat := jwtPayload(t, dev["access_token"].(string))
	if got, want := slices.Sorted(maps.Keys(at)), slices.Sorted(maps.Keys(dat)); !slices.Equal(got, want) {
		t.Errorf("access token claims %v, the library builds %v", got, want)
	}
	for _, k := range []string{"iss", "sub", "aud", "client_id", "scope"} {
		if !equalJSON(at[k], dat[k]) {
			t.Errorf("access token %s = %v, the library builds %v", k, at[k], dat[k])
		}
	}
	if at["exp"].(float64)-at["iat"].(float64) != dat["exp"].(float64)-dat["iat"].(float64) || at["nbf"] != at["iat"] || at["jti"] == "" {
		t.Errorf("access token times or jti: %v", at)
	}
	if !e.introspectActive(c, access) {
		t.Error("the access token is not active")
	}

	// x/oauth2 exchanges through it, and refreshes what it got.
	tok := e.tokens(ctx, b, c, "ada@example.com")
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Errorf("x/oauth2 exchange: %+v", tok)
	}
	if _, err := e.oauth2Config(c).TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("refresh of the exchanged token: %v", err)
	}

	// Without offline_access: no refresh token, as the library.
	res2, v2 := e.signIn(b, c, "ada@example.com", oauth2.SetAuthURLParam("scope", "openid email"))
	lres2, lv2 := e.signIn(b, co, "ada@example.com", oauth2.SetAuthURLParam("scope", "openid email"))
	_, o2 := e.exchangeRaw(c, codeForm(res2.code, v2, c.Redirect))
	_, l2 := e.exchangeRaw(co, codeForm(lres2.code, lv2, co.Redirect))
	if got, want := slices.Sorted(maps.Keys(o2)), slices.Sorted(maps.Keys(l2)); !slices.Equal(got, want) || o2["refresh_token"] != nil || o2["scope"] != "openid email" {
		t.Errorf("without offline_access: members %v (scope %v), the library gives %v", got, o2["scope"], want)
	}

	// Refusals, as the library answers them (the opaque client's exchange is the library's),
	// before the code is spent: the right exchange works after them.
	other := e.addClient(storage.ClientConfidential, firstParty)
	otherLib := e.addClient(storage.ClientConfidential, firstParty, opaqueTokens)
	refusals := func(tc, wrongClient *testClient) (map[string]string, func() (int, map[string]any)) {
		r, v := e.signIn(b, tc, "ada@example.com")
		wrongVerifier, _ := pkce()
		got := map[string]string{}
		for _, x := range []struct {
			name   string
			client *testClient
			form   url.Values
		}{
			{"no code", tc, codeForm("", v, tc.Redirect)},
			{"unknown code", tc, codeForm("nope", v, tc.Redirect)},
			{"wrong redirect_uri", tc, codeForm(r.code, v, tc.Redirect+"/x")},
			{"no redirect_uri", tc, codeForm(r.code, v, "")},
			{"wrong verifier", tc, codeForm(r.code, wrongVerifier, tc.Redirect)},
			{"no verifier", tc, codeForm(r.code, "", tc.Redirect)},
			{"another client's code", wrongClient, codeForm(r.code, v, tc.Redirect)},
		} {
			st, m := e.exchangeRaw(x.client, x.form)
			got[x.name] = fmt.Sprint(st, " ", m["error"], " ", m["error_description"])
		}
		return got, func() (int, map[string]any) { return e.exchangeRaw(tc, codeForm(r.code, v, tc.Redirect)) }
	}
	got, then := refusals(c, other)
	want, libThen := refusals(co, otherLib)
	for name, w := range want {
		if got[name] != w || w[:3] != "400" {
			t.Errorf("%s: %s, the library answers %s", name, got[name], w)
		}
	}
	if st, m := then(); st != http.StatusOK {
		t.Errorf("the code after the refusals: %d %v", st, m)
	}
	if st, m := libThen(); st != http.StatusOK {
		t.Errorf("the library's code after the refusals: %d %v", st, m)
	}

	// A replayed code is invalid_grant and revokes what its first exchange issued.
	for _, tc := range []*testClient{c, co} {
		r, v := e.signIn(b, tc, "ada@example.com")
		st, first := e.exchangeRaw(tc, codeForm(r.code, v, tc.Redirect))
		if st != http.StatusOK {
			t.Fatalf("first exchange: %d %v", st, first)
		}
		if st, m := e.exchangeRaw(tc, codeForm(r.code, v, tc.Redirect)); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Errorf("replayed code (%s): %d %v, want 400 invalid_grant", tc.c.AccessTokenFormat, st, m)
		}
		f, user, pass := clientForm(tc, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}})
		if st, _, body := e.postForm("/oauth/token", f, user, pass); st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_grant" {
			t.Errorf("the first exchange's refresh token after the replay (%s): %d %s, want invalid_grant", tc.c.AccessTokenFormat, st, body)
		}
		if e.introspectActive(tc, first["access_token"].(string)) {
			t.Errorf("the first exchange's access token (%s) is still active after the replay", tc.c.AccessTokenFormat)
		}
	}
}

// A public client's exchange needs PKCE and its own client_id, as the library has it; a
// confidential client's exchange bound by DPoP is typed DPoP with cnf.jkt, as the library's.
func TestCodeTokenPublicAndDPoP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	b := e.browser()
	pub := e.addClient(storage.ClientPublic, firstParty)
	r, v := e.signIn(b, pub, "ada@example.com")
	if st, m := e.exchangeRaw(pub, codeForm(r.code, "", pub.Redirect)); st != http.StatusBadRequest || m["error"] != "invalid_request" {
		t.Errorf("public client without a verifier: %d %v, want invalid_request", st, m)
	}
	if st, m := e.exchangeRaw(pub, codeForm(r.code, v, pub.Redirect)); st != http.StatusOK || m["token_type"] != "Bearer" || m["refresh_token"] == nil {
		t.Errorf("public client: %d %v", st, m)
	}

	for _, tc := range []*testClient{
		e.addClient(storage.ClientConfidential, firstParty),
		e.addClient(storage.ClientConfidential, firstParty, opaqueTokens),
	} {
		k := newDPoPKey(t)
		nonce := e.dpopNonce(t, k, tc)
		r, v := e.signIn(b, tc, "ada@example.com")
		st, h, body := e.tokenRequest(codeForm(r.code, v, tc.Redirect), tc.ID, tc.Secret, k.proof(t, "POST", e.issuer+"/oauth/token", nonce, ""))
		if st != http.StatusOK || jsonStr(body, "token_type") != "DPoP" || h.Get("DPoP-Nonce") == "" {
			t.Errorf("DPoP exchange (%s): %d %s (DPoP-Nonce %q), want DPoP with a nonce", tc.c.AccessTokenFormat, st, body, h.Get("DPoP-Nonce"))
			continue
		}
		if tc.c.AccessTokenFormat == storage.TokenFormatJWT {
			if got := cnfOf(jwtPayload(t, jsonStr(body, "access_token"))); got != k.jkt {
				t.Errorf("access token cnf.jkt %q, want %q", got, k.jkt)
			}
		}
	}
}

// A store failure during a code exchange (ours, or the library's for opaque tokens) is
// ours: 5xx with a fixed text, never invalid_grant; one before the exchange commits leaves
// the code for the retry.
func TestCodeTokenStoreFailure(t *testing.T) {
	t.Parallel()
	t.Run("jwt", func(t *testing.T) { testCodeTokenStoreFailure(t, firstParty) })
	// The library's path: the same reads happen before the code is used (AuthRequestByCode).
	t.Run("opaque", func(t *testing.T) { testCodeTokenStoreFailure(t, firstParty, opaqueTokens) })
}

func testCodeTokenStoreFailure(t *testing.T, opts ...clientOpt) {
	e, fs := faultEnv(t, nil)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, opts...)
	b := e.browser()
	prep := func() func() answer {
		r, v := e.signIn(b, c, "ada@example.com")
		return func() answer {
			st, h, body := e.postForm("/oauth/token", codeForm(r.code, v, c.Redirect), c.ID, c.Secret)
			return answer{st, h, body}
		}
	}
	req := prep()
	fs.ResetCalls()
	normal := req()
	methods := fs.Calls()
	if normal.status != http.StatusOK {
		t.Fatalf("exchange without failures: %d %s", normal.status, normal.body)
	}
	for _, m := range methods {
		req := prep()
		fs.Add(faultstore.Rule{Method: m, Err: faultstore.ErrInjected})
		got := req()
		fs.Clear()
		checkFailureAnswer(t, "code exchange with "+m+" failing", normal, got)
	}
	// Every read the tokens need happens before the code is consumed (GetUser: the ID token's
	// claims), so a failure of any of these leaves the code for the client's retry.
	for _, m := range []string{"GetAuthRequestByCode", "GetUser", "ConsumeAuthCode", "CreateGrant", "CreateAccessToken", "CreateRefreshToken"} {
		if m == "CreateAccessToken" && c.c.AccessTokenFormat != storage.TokenFormatOpaque {
			continue // a person's JWT access token has no row
		}
		if !slices.Contains(methods, m) {
			t.Errorf("the exchange did not call %s (calls: %v)", m, methods)
			continue
		}
		req := prep()
		fs.Add(faultstore.Rule{Method: m, Err: faultstore.ErrInjected})
		got := req()
		fs.Clear()
		if got.status < 500 {
			t.Errorf("%s failing: %d %s, want 5xx", m, got.status, got.body)
		}
		if retry := req(); retry.status != http.StatusOK {
			t.Errorf("retry after %s failed: %d %s, want the tokens", m, retry.status, retry.body)
		}
	}
}
