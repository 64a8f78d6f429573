package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/devicecode"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
)

// Device authorization grant (RFC 8628): a device asks for codes, a person approves on
// /device in a browser, the device polls the token endpoint.

const grantDevice = "urn:ietf:params:oauth:grant-type:device_code"

// deviceClient registers a client allowed to use the device grant (and refresh tokens).
func (e *testEnv) deviceClient(typ string) *testClient {
	e.t.Helper()
	return e.addClient(typ, withGrants(grantDevice, "refresh_token"))
}

// deviceAuth is the device authorization response as a device sees it.
type deviceAuth struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// clientForm adds the client's identity: client_id in the form for a public client, HTTP
// Basic for a confidential one (returned as user and password for postForm).
func clientForm(c *testClient, f url.Values) (url.Values, string, string) {
	if c.Secret != "" {
		return f, c.ID, c.Secret
	}
	f.Set("client_id", c.ID)
	return f, "", ""
}

// authorizeDevice runs a device authorization request and fails the test unless it succeeds.
func (e *testEnv) authorizeDevice(c *testClient, scope string, extra url.Values) deviceAuth {
	e.t.Helper()
	f := url.Values{"scope": {scope}}
	for k, v := range extra {
		f[k] = v
	}
	f, user, pass := clientForm(c, f)
	st, hdr, body := e.postForm("/device_authorization", f, user, pass)
	if st != http.StatusOK {
		e.t.Fatalf("device authorization: %d %s", st, body)
	}
	if cc := hdr.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("device authorization Cache-Control = %q, want no-store", cc)
	}
	var da deviceAuth
	if err := json.Unmarshal([]byte(body), &da); err != nil {
		e.t.Fatal(err)
	}
	return da
}

// pollDevice makes one device access token request; it returns the status and the JSON.
func (e *testEnv) pollDevice(c *testClient, deviceCode string) (int, map[string]any) {
	e.t.Helper()
	f, user, pass := clientForm(c, url.Values{"grant_type": {grantDevice}, "device_code": {deviceCode}})
	st, hdr, body := e.postForm("/oauth/token", f, user, pass)
	if cc := hdr.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("token response Cache-Control = %q, want no-store", cc)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		e.t.Fatalf("token response %d is not JSON: %s", st, body)
	}
	return st, m
}

// wantPollError polls once and checks the OAuth error.
func (e *testEnv) wantPollError(c *testClient, deviceCode, want string) {
	e.t.Helper()
	st, m := e.pollDevice(c, deviceCode)
	if st != http.StatusBadRequest || m["error"] != want {
		e.t.Fatalf("poll: %d %v, want 400 %s", st, m, want)
	}
}

var userCodeInputRE = regexp.MustCompile(`id="user_code"[^>]*\bvalue="([^"]*)"`)

// enteredCode is the code filled into the form on the device page p.
func enteredCode(t testing.TB, p *page) string {
	t.Helper()
	m := userCodeInputRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("expected the device code form, got %d at %s:\n%.600s", p.status, p.url, p.body)
	}
	return html.UnescapeString(m[1])
}

// enterCode posts typed on the device page's form (fetching the form first).
func (e *testEnv) enterCode(b *browser, typed string) *page {
	e.t.Helper()
	p := b.get(e.issuer + "/device")
	f := p.formValues()
	f.Set("user_code", typed)
	return b.post(e.issuer+"/device", f)
}

// decide answers the confirmation page p with "approve" or "deny".
func (b *browser) decide(p *page, decision string) *page {
	b.t.Helper()
	if !strings.Contains(p.body, `action="/device/decision"`) {
		b.t.Fatalf("expected the device confirmation page, got %d at %s:\n%.800s", p.status, p.url, p.body)
	}
	f := p.formValues()
	f.Set("decision", decision)
	return b.post(b.issuer+"/device/decision", f)
}

// signedInBrowser returns a browser signed in as email.
func (e *testEnv) signedInBrowser(email string) *browser {
	e.t.Helper()
	b := e.browser()
	p := b.submitLogin(b.get(e.issuer+"/login"), email, testPassword)
	if p.url.Path != "/account" && p.url.Path != "/profile" {
		e.t.Fatalf("sign-in ended at %s", p.url)
	}
	return b
}

// decideDevice has a signed-in browser enter the code and answer.
func (e *testEnv) decideDevice(b *browser, userCode, decision string) *page {
	e.t.Helper()
	return b.decide(e.enterCode(b, userCode), decision)
}

func TestDeviceFlowEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientNative)

	// Discovery announces the endpoint and the grant; the device finds it there.
	prov := e.provider(ctx)
	var doc struct {
		DeviceEndpoint string   `json:"device_authorization_endpoint"`
		Grants         []string `json:"grant_types_supported"`
	}
	if err := prov.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.DeviceEndpoint != e.issuer+"/device_authorization" || !slices.Contains(doc.Grants, grantDevice) {
		t.Fatalf("discovery: device endpoint %q, grants %v", doc.DeviceEndpoint, doc.Grants)
	}
	cfg := &oauth2.Config{ClientID: c.ID, Endpoint: prov.Endpoint(),
		Scopes: []string{gooidc.ScopeOpenID, "email", "profile", gooidc.ScopeOfflineAccess}}

	da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("device_name", "Living room TV"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(da.UserCode) {
		t.Errorf("user code %q, want BCDF-GHJK style", da.UserCode)
	}
	if da.VerificationURI != e.issuer+"/device" {
		t.Errorf("verification_uri = %q", da.VerificationURI)
	}
	if da.VerificationURIComplete != e.issuer+"/device?user_code="+da.UserCode {
		t.Errorf("verification_uri_complete = %q", da.VerificationURIComplete)
	}
	if da.Interval != 5 {
		t.Errorf("interval = %d, want 5", da.Interval)
	}
	if left := time.Until(da.Expiry); left < 9*time.Minute || left > 10*time.Minute {
		t.Errorf("expires in %v, want 10 minutes", left)
	}
	// Stored: the user code normalised, the device code only as its hash.
	normalized := strings.ReplaceAll(da.UserCode, "-", "")
	dc, err := e.store.GetDeviceCodeByUserCode(ctx, normalized)
	if err != nil {
		t.Fatal(err)
	}
	if dc.DeviceCodeHash != secret.HashToken(da.DeviceCode) || dc.DeviceName != "Living room TV" || dc.ClientID != c.ID {
		t.Errorf("stored device code = %+v", dc)
	}

	// The device polls with the real client library, which waits, and handles
	// authorization_pending and slow_down itself.
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := cfg.DeviceAccessToken(ctx, da)
		done <- result{tok, err}
	}()
	// Let it poll once while the request is still pending.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		dc, err := e.store.GetDeviceCode(ctx, secret.HashToken(da.DeviceCode))
		if err != nil {
			t.Fatal(err)
		}
		if dc.LastPolledAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the device never polled")
		}
	}

	// The person opens verification_uri_complete on a phone: the code is filled in; they
	// are asked to sign in on the normal sign-in page, which returns to the device page.
	b := e.browser()
	p := b.get(da.VerificationURIComplete)
	if got := enteredCode(t, p); got != da.UserCode {
		t.Fatalf("code filled in = %q, want %q", got, da.UserCode)
	}
	f := p.formValues()
	f.Set("user_code", enteredCode(t, p))
	p = b.post(e.issuer+"/device", f)
	if !strings.Contains(p.url.RawQuery, "return=") {
		t.Errorf("sign-in page %s does not carry the way back", p.url)
	}
	p = b.submitLogin(p, "ada@example.com", testPassword)
	// Straight to the confirmation: the code is not asked for a second time (issue 11, 6).
	if p.url.Path != "/device" || strings.Contains(p.body, `id="user_code"`) || !strings.Contains(p.body, `action="/device/decision"`) {
		t.Fatalf("after sign-in: %s, want the confirmation, not the code form again:\n%.800s", p.url, p.body)
	}
	for _, want := range []string{c.c.Name, "ada@example.com", "Living room TV", da.UserCode, "See your email address", "Stay signed in when you are not using it"} {
		if !strings.Contains(p.body, html.EscapeString(want)) {
			t.Errorf("confirmation page lacks %q:\n%.1500s", want, p.body)
		}
	}
	p = b.decide(p, "approve")
	if p.status != http.StatusOK || !strings.Contains(p.body, "You can return to your device") {
		t.Fatalf("after approval: %d\n%.800s", p.status, p.body)
	}
	// Post/redirect/get: the result is a page of its own (reload and language switch work).
	if p.url.Path != "/device" || p.url.Query().Get("done") != "approved" || !strings.Contains(p.body, c.c.Name) {
		t.Errorf("after approval the browser is at %s, want the GET result page naming the product", p.url)
	}
	approvedAt := time.Now()

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("the device got no token")
	}
	if res.err != nil {
		t.Fatalf("device access token: %v", res.err)
	}
	tok := res.tok
	// Its next poll got the tokens: it was never told to slow down (x/oauth2 first tries
	// Basic authentication, then the form, on every poll until one succeeds).
	if d := time.Since(approvedAt); d > 7*time.Second {
		t.Errorf("tokens %v after approval, want within one 5 s interval", d)
	}

	// The ID token verifies against the JWKS and names the person and how they signed in.
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if cl.Sub != u.ID || cl.Email != "ada@example.com" || !slices.Equal(cl.AMR, []string{"pwd"}) {
		t.Errorf("ID token sub/email/amr = %q/%q/%v", cl.Sub, cl.Email, cl.AMR)
	}
	if d := time.Since(time.Unix(cl.AuthTime, 0)); d < 0 || d > time.Minute {
		t.Errorf("auth_time %d is not the recent sign-in", cl.AuthTime)
	}
	if cl.SID != "" {
		t.Errorf("sid = %q: a device's tokens are not tied to the browser session", cl.SID)
	}
	if _, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Errorf("userinfo with the device's access token: %v", err)
	}

	// The tokens are a grant of their own, with the device's name, shown on "My devices".
	grants, err := e.store.ListGrants(ctx, u.ID)
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants = %v, %v; want one", grants, err)
	}
	g := grants[0]
	if g.ClientID != c.ID || g.DeviceName != "Living room TV" || g.SessionID != "" || !strings.HasPrefix(g.UserAgent, "Go-http-client") ||
		!slices.Contains(g.Scopes, "offline_access") || !slices.Equal(g.AMR, []string{"pwd"}) {
		t.Errorf("grant = %+v", g)
	}
	if p := b.get(e.issuer + "/account/devices"); !strings.Contains(p.body, "Living room TV") {
		t.Errorf("My devices does not show the device:\n%.1500s", p.body)
	}

	// The refresh token rotates...
	refresh := func(rt string) (int, map[string]any) {
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ID}}, "", "")
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return st, m
	}
	st, r1 := refresh(tok.RefreshToken)
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %v", st, r1)
	}
	rt2, _ := r1["refresh_token"].(string)
	if rt2 == "" || rt2 == tok.RefreshToken {
		t.Fatalf("refresh token not rotated: %v", r1)
	}
	// The device code is spent: the device used what it got, so a poll is no retry of a
	// lost answer (TestDevicePollRetriedAfterLostAnswer).
	e.wantPollError(c, da.DeviceCode, "invalid_grant")
	// ...and revoking it signs the device out.
	if st, _, body := e.postForm("/revoke", url.Values{"token": {rt2}, "token_type_hint": {"refresh_token"}, "client_id": {c.ID}}, "", ""); st != http.StatusOK {
		t.Fatalf("revoke: %d %s", st, body)
	}
	if st, m := refresh(rt2); st != http.StatusBadRequest {
		t.Errorf("refresh after revocation: %d %v", st, m)
	}
	if g, _ := e.store.GetGrant(ctx, g.ID); g == nil || g.RevokedAt == nil {
		t.Error("grant not revoked")
	}
}

func TestDeviceTokenErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientConfidential)

	// A client not registered for the grant may neither start nor redeem.
	plain := e.addClient(storage.ClientConfidential)
	st, _, body := e.postForm("/device_authorization", url.Values{"scope": {"openid"}}, plain.ID, plain.Secret)
	if st != http.StatusBadRequest || !strings.Contains(body, `"unauthorized_client"`) {
		t.Errorf("device authorization by a client without the grant: %d %s", st, body)
	}
	da := e.authorizeDevice(c, "openid email", nil)
	e.wantPollError(plain, da.DeviceCode, "unauthorized_client")
	// A confidential client must authenticate.
	st, _, body = e.postForm("/device_authorization", url.Values{"scope": {"openid"}, "client_id": {c.ID}}, "", "")
	if st != http.StatusUnauthorized || !strings.Contains(body, `"invalid_client"`) {
		t.Errorf("device authorization without the secret: %d %s", st, body)
	}
	st, _, body = e.postForm("/oauth/token", url.Values{"grant_type": {grantDevice}, "device_code": {da.DeviceCode}, "client_id": {c.ID}}, "", "")
	if st != http.StatusUnauthorized || !strings.Contains(body, `"invalid_client"`) {
		t.Errorf("device token request without the secret: %d %s", st, body)
	}
	st, _, body = e.postForm("/oauth/token", url.Values{"grant_type": {grantDevice}, "device_code": {da.DeviceCode}}, c.ID, "wrong")
	if st != http.StatusUnauthorized || !strings.Contains(body, `"invalid_client"`) {
		t.Errorf("device token request with a wrong secret: %d %s", st, body)
	}
	// Only POST.
	resp, err := http.Get(e.issuer + "/device_authorization?client_id=" + c.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /device_authorization: %d", resp.StatusCode)
	}

	// Pending, then too fast: slow_down; after the interval, pending again.
	e.wantPollError(c, da.DeviceCode, "authorization_pending")
	e.wantPollError(c, da.DeviceCode, "slow_down")
	e.wantPollError(c, da.DeviceCode, "slow_down") // each poll counts
	e.clock.Advance(5 * time.Second)
	e.wantPollError(c, da.DeviceCode, "authorization_pending")

	// Unknown, missing, or another client's device code.
	e.wantPollError(c, "not-a-device-code", "invalid_grant")
	st, m := e.pollDevice(c, "")
	if st != http.StatusBadRequest || m["error"] != "invalid_request" {
		t.Errorf("poll without device_code: %d %v", st, m)
	}
	other := e.deviceClient(storage.ClientNative)
	e.wantPollError(other, da.DeviceCode, "invalid_grant")

	// Denied: access_denied, for good.
	b := e.signedInBrowser("ada@example.com")
	p := e.decideDevice(b, da.UserCode, "deny")
	if !strings.Contains(p.body, "The device was not given access") {
		t.Errorf("after deny:\n%.800s", p.body)
	}
	e.wantPollError(c, da.DeviceCode, "access_denied")
	e.wantPollError(c, da.DeviceCode, "access_denied")
	// A decided code cannot be answered again: its answer is shown to the person who gave it
	// (TestDeviceDecisionSentTwice), with no form to change it.
	if p := e.enterCode(b, da.UserCode); !strings.Contains(p.body, "The device was not given access") || strings.Contains(p.body, `action="/device/decision"`) {
		t.Errorf("entering a decided code:\n%.800s", p.body)
	}
	e.wantPollError(c, da.DeviceCode, "access_denied")

	// Scopes the client may not have are dropped; the device name is cleaned.
	da2 := e.authorizeDevice(c, "openid payments.read offline_access openid", url.Values{"device_name": {"  Kitchen\x1b[31m TV\u200b  "}})
	dc, err := e.store.GetDeviceCodeByUserCode(ctx, devicecode.Normalize(da2.UserCode))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dc.Scopes, []string{"openid", "offline_access"}) || dc.DeviceName != "Kitchen[31m TV" {
		t.Errorf("stored scopes %q, device name %q", dc.Scopes, dc.DeviceName)
	}

	// Expired: expired_token, and the page no longer knows the code.
	e.clock.Advance(10*time.Minute + time.Second)
	e.wantPollError(c, da2.DeviceCode, "expired_token")
	if p := e.enterCode(b, da2.UserCode); !strings.Contains(p.body, "This code is unknown or has expired") {
		t.Errorf("entering an expired code:\n%.800s", p.body)
	}
}

// TestDeviceCodeSingleUse: of 8 concurrent polls of an approved code exactly one gets tokens
// that work: the polls that come after the first one's commit are retries within the grace
// (TestDevicePollRetriedAfterLostAnswer), each replacing the grant before it, so one grant
// is left live.
func TestDeviceCodeSingleUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientNative)
	da := e.authorizeDevice(c, "openid offline_access", nil)
	if p := e.decideDevice(e.signedInBrowser("ada@example.com"), da.UserCode, "approve"); !strings.Contains(p.body, "You can return to your device") {
		t.Fatalf("approval:\n%.800s", p.body)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok int
	var others []string
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := url.Values{"grant_type": {grantDevice}, "device_code": {da.DeviceCode}, "client_id": {c.ID}}
			st, _, body := e.postForm("/oauth/token", f, "", "")
			mu.Lock()
			defer mu.Unlock()
			if st == http.StatusOK {
				ok++
				return
			}
			var m map[string]any
			_ = json.Unmarshal([]byte(body), &m)
			others = append(others, fmt.Sprintf("%d %v", st, m["error"]))
		}()
	}
	wg.Wait()
	if ok == 0 {
		t.Fatalf("none of %d concurrent polls got tokens (others: %v)", n, others)
	}
	for _, o := range others {
		if o != "400 invalid_grant" && o != "400 expired_token" {
			t.Errorf("losing poll answered %s, want 400 invalid_grant", o)
		}
	}
	if grants, live := e.grants(u.ID); len(live) != 1 || len(grants) != ok {
		t.Errorf("%d grants issued, %d live; want one per answered poll (%d), one live", len(grants), len(live), ok)
	}
}

// TestDeviceWithoutRefreshGrant: a client without refresh_token gets no refresh token (and
// is not shown "stay signed in"), and opaque access tokens work for devices too.
func TestDeviceWithoutRefreshGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, withGrants(grantDevice), opaqueTokens)
	da := e.authorizeDevice(c, "openid email offline_access", nil)
	b := e.signedInBrowser("ada@example.com")
	p := e.enterCode(b, da.UserCode)
	if strings.Contains(p.body, "Stay signed in") || !strings.Contains(p.body, "See your email address") {
		t.Errorf("confirmation page scopes:\n%.1500s", p.body)
	}
	if p := b.decide(p, "approve"); !strings.Contains(p.body, "You can return to your device") {
		t.Fatalf("approval:\n%.800s", p.body)
	}
	st, m := e.pollDevice(c, da.DeviceCode)
	if st != http.StatusOK {
		t.Fatalf("poll: %d %v", st, m)
	}
	if _, ok := m["refresh_token"]; ok || m["id_token"] == nil || m["scope"] != "openid email" {
		t.Errorf("token response = %v, want an ID token, no refresh token, scope \"openid email\"", m)
	}
	at, _ := m["access_token"].(string)
	if strings.Count(at, ".") == 2 {
		t.Errorf("access token looks like a JWT for an opaque client")
	}
	if !e.introspectActive(c, at) {
		t.Error("device access token inactive")
	}
	if _, err := e.provider(ctx).UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at, TokenType: "Bearer"})); err != nil {
		t.Errorf("userinfo: %v", err)
	}
	if grants, _ := e.store.ListGrants(ctx, u.ID); len(grants) != 1 || slices.Contains(grants[0].Scopes, "offline_access") {
		t.Errorf("grants = %+v", grants)
	}
}

// TestDeviceUserCodeEntry: what people type is normalised; wrong codes get a clear message.
func TestDeviceUserCodeEntry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientNative)
	da := e.authorizeDevice(c, "openid", nil)
	b := e.signedInBrowser("ada@example.com")

	// Lower case, spaces and an en dash instead of the hyphen, an 8 for a B, a Cyrillic С.
	typed := "  " + strings.ToLower(da.UserCode[:4]) + " – " + da.UserCode[5:] + " "
	typed = strings.ReplaceAll(strings.ReplaceAll(typed, "b", "8"), "C", "С")
	p := e.enterCode(b, typed)
	if !strings.Contains(p.body, `action="/device/decision"`) || !strings.Contains(p.body, da.UserCode) {
		t.Fatalf("typed %q: no confirmation for %s:\n%.800s", typed, da.UserCode, p.body)
	}

	for _, bad := range []string{"", "AEIO-UAEI", "BCDF-GHJ", "BCDF-GHJK-L", "<script>"} {
		p := e.enterCode(b, bad)
		if p.status != http.StatusOK || !strings.Contains(p.body, "That is not a valid code") {
			t.Errorf("typed %q: %d\n%.600s", bad, p.status, p.body)
		}
	}
	unknown := "BBBB-BBBB"
	if unknown == da.UserCode {
		unknown = "CCCC-CCCC"
	}
	if p := e.enterCode(b, unknown); !strings.Contains(p.body, "This code is unknown or has expired") {
		t.Errorf("unknown code:\n%.600s", p.body)
	}
	// The form is CSRF-protected like every other.
	p = b.post(e.issuer+"/device", url.Values{"user_code": {da.UserCode}})
	if p.status != http.StatusForbidden {
		t.Errorf("device form without CSRF token: %d", p.status)
	}
	p = b.post(e.issuer+"/device/decision", url.Values{"user_code": {da.UserCode}, "decision": {"approve"}})
	if p.status != http.StatusForbidden {
		t.Errorf("decision without CSRF token: %d", p.status)
	}
	// Other languages.
	if p := b.get(e.issuer + "/lang?to=de&back=/device"); !strings.Contains(p.body, "Geben Sie den Code ein") {
		t.Errorf("German device page:\n%.600s", p.body)
	}
}

// TestDeviceUserCodeGuessing: user codes are short, so lookups are limited per client IP.
func TestDeviceUserCodeGuessing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientNative)
	da := e.authorizeDevice(c, "openid", nil)
	b := e.browser() // guessing needs no account
	guesses := 0
	for i := 0; guesses < 20; i++ {
		g := devicecode.Format(strings.Repeat(string(devicecode.Alphabet[i%20]), 4) + strings.Repeat(string(devicecode.Alphabet[(i/20)%20]), 4))
		if g == da.UserCode {
			continue
		}
		guesses++
		if p := e.enterCode(b, g); p.status != http.StatusOK || !strings.Contains(p.body, "This code is unknown or has expired") {
			t.Fatalf("guess %d: %d\n%.600s", guesses, p.status, p.body)
		}
	}
	// The limit is reached: even the right code is refused, from any browser at that address.
	p := e.enterCode(e.browser(), da.UserCode)
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many requests") {
		t.Fatalf("guess 21: %d\n%.600s", p.status, p.body)
	}
	// The window passes.
	e.clock.Advance(16 * time.Minute)
	da = e.authorizeDevice(c, "openid", nil)
	p = e.enterCode(b, da.UserCode)
	if !strings.Contains(p.body, "/login?return=") && !strings.Contains(p.url.RawQuery, "return=") {
		t.Fatalf("after the window, a right code should lead to sign-in; got %s:\n%.600s", p.url, p.body)
	}
}

// TestLoginReturnPath: the sign-in page goes back to a local page only.
func TestLoginReturnPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	for _, ret := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		b := e.browser()
		p := b.get(e.issuer + "/login?return=" + url.QueryEscape(ret))
		if strings.Contains(p.body, `name="return"`) {
			t.Errorf("return=%q kept on the sign-in page", ret)
		}
		f := p.formValues()
		f.Set("return", ret) // even when posted directly
		f.Set("email", "ada@example.com")
		f.Set("password", testPassword)
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		p = b.post(e.issuer+"/login", f)
		if loc := p.header.Get("Location"); loc != "/account" {
			t.Errorf("return=%q: redirected to %q, want /account", ret, loc)
		}
	}
	b := e.browser()
	p := b.submitLogin(b.get(e.issuer+"/login?return="+url.QueryEscape("/device?user_code=BCDFGHJK")), "ada@example.com", testPassword)
	if p.url.Path != "/device" || p.url.Query().Get("user_code") != "BCDFGHJK" {
		t.Errorf("local return path: ended at %s", p.url)
	}
	// Already signed in: straight back.
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if p := b.get(e.issuer + "/login?return=" + url.QueryEscape("/device")); p.header.Get("Location") != "/device" {
		t.Errorf("signed in, /login?return=/device redirects to %q", p.header.Get("Location"))
	}
}

// TestDeviceFlowAcrossInstances: the poll times and the single use live in SQL, so two
// instances on one PostgreSQL behave as one: of concurrent polls on both, those after the
// first one's commit are retries (TestDevicePollRetriedAfterLostAnswer), and one grant is
// left live.
func TestDeviceFlowAcrossInstances(t *testing.T) {
	a, b := newCluster(t, pgtest.URL(t))
	u := a.addUser("ada@example.com")
	c := a.deviceClient(storage.ClientNative)
	da := a.authorizeDevice(c, "openid offline_access", nil)
	a.wantPollError(c, da.DeviceCode, "authorization_pending")
	b.wantPollError(c, da.DeviceCode, "slow_down")
	if p := a.decideDevice(a.signedInBrowser("ada@example.com"), da.UserCode, "approve"); !strings.Contains(p.body, "You can return to your device") {
		t.Fatalf("approval:\n%.800s", p.body)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range n {
		e := a
		if i%2 == 1 {
			e = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := url.Values{"grant_type": {grantDevice}, "device_code": {da.DeviceCode}, "client_id": {c.ID}}
			if st, _, _ := e.postForm("/oauth/token", f, "", ""); st == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if grants, live := a.grants(u.ID); ok == 0 || len(live) != 1 || len(grants) != ok {
		t.Fatalf("%d of %d concurrent polls on two instances got tokens, %d grants, %d live; want one grant per answer, one live",
			ok, n, len(grants), len(live))
	}
}
