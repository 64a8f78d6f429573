package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// dpopKey is a client's DPoP key pair, and the proofs it makes (RFC 9449 §4).
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jkt  string
}

func newDPoPKey(t testing.TB) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: priv, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proofClaims are a proof's claims; a test changes them before signing.
type proofClaims map[string]any

// claims returns the claims of a fresh, correct proof for method and u.
func (k *dpopKey) claims(method, u, nonce, accessToken string) proofClaims {
	c := proofClaims{"jti": base64.RawURLEncoding.EncodeToString(randBytes(16)), "htm": method, "htu": u,
		"iat": time.Now().Unix()}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return c
}

// sign makes the proof JWT: typ dpop+jwt, ES256, the public key in the jwk header.
func (k *dpopKey) sign(t testing.TB, c proofClaims) string {
	t.Helper()
	payload, _ := json.Marshal(c)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (k *dpopKey) proof(t testing.TB, method, u, nonce, accessToken string) string {
	t.Helper()
	return k.sign(t, k.claims(method, u, nonce, accessToken))
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// rawJWT assembles a JWS from a header and claims with the given signature function (for the
// algorithms go-jose refuses to make: none, and HS256 with an asymmetric jwk).
func rawJWT(header, claims any, sig func(input []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig([]byte(input)))
}

// dpopTransport is a DPoP client for golang.org/x/oauth2: every request gets a proof by key,
// and a use_dpop_nonce answer is retried once with the nonce the server gave (RFC 9449 §8).
type dpopTransport struct {
	t   testing.TB
	key *dpopKey
	mu  sync.Mutex
	// nonce is the last DPoP-Nonce the server sent.
	nonce string
}

func (d *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		r := req.Clone(req.Context())
		if req.GetBody != nil {
			r.Body, _ = req.GetBody()
		}
		u := *req.URL
		u.RawQuery, u.Fragment = "", ""
		d.mu.Lock()
		nonce := d.nonce
		d.mu.Unlock()
		r.Header.Set("DPoP", d.key.proof(d.t, req.Method, u.String(), nonce, ""))
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			d.mu.Lock()
			d.nonce = n
			d.mu.Unlock()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if attempt == 0 && resp.StatusCode == http.StatusBadRequest && strings.Contains(string(body), "use_dpop_nonce") {
			continue
		}
		return resp, nil
	}
}

// nonce fetches a DPoP-Nonce: a token request without one is answered use_dpop_nonce.
func (e *testEnv) dpopNonce(t *testing.T, k *dpopKey, c *testClient) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.Secret == "" {
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {c.ID}}
	}
	st, h, body := e.tokenRequest(form, c.ID, c.Secret, k.proof(t, "POST", e.issuer+"/oauth/token", "", ""))
	if st != http.StatusBadRequest || jsonStr(body, "error") != "use_dpop_nonce" || h.Get("DPoP-Nonce") == "" {
		t.Fatalf("proof without nonce: %d %s (DPoP-Nonce %q), want 400 use_dpop_nonce with a nonce", st, body, h.Get("DPoP-Nonce"))
	}
	return h.Get("DPoP-Nonce")
}

// tokenRequest posts a token request with an optional DPoP proof and basic auth.
func (e *testEnv) tokenRequest(form url.Values, user, pass, proof string) (int, http.Header, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.addr+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return do(e.t, req)
}

// userinfo calls /userinfo with the scheme, the token and an optional proof.
func (e *testEnv) userinfo(scheme, token, proof string) (int, http.Header, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.addr+"/userinfo", nil)
	req.Header.Set("Authorization", scheme+" "+token)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return do(e.t, req)
}

func do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func jsonStr(body, name string) string {
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	s, _ := m[name].(string)
	return s
}

// jwtHeader decodes a JWT's header.
func jwtHeader(t *testing.T, jwt string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func cnfOf(m map[string]any) string {
	cnf, _ := m["cnf"].(map[string]any)
	s, _ := cnf["jkt"].(string)
	return s
}

// A public client's code flow with DPoP through golang.org/x/oauth2: the tokens are bound to
// the key; the refresh token is useless without it (no proof, another key), and such tries
// do not revoke anything; userinfo needs the DPoP scheme, a proof by the key and its ath.
func TestDPoPPublicClientCodeFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientPublic, firstParty)
	e.addUser("dpop@example.com")
	keyA, keyB := newDPoPKey(t), newDPoPKey(t)
	tr := &dpopTransport{t: t, key: keyA}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr})

	res, verifier := e.signIn(e.browser(), c, "dpop@example.com")
	tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" {
		t.Errorf("token_type = %q, want DPoP", tok.TokenType)
	}
	if got := cnfOf(jwtPayload(t, tok.AccessToken)); got != keyA.jkt {
		t.Errorf("access token cnf.jkt = %q, want the key's thumbprint %q", got, keyA.jkt)
	}
	if typ := jwtHeader(t, tok.AccessToken)["typ"]; typ != "at+jwt" {
		t.Errorf("access token typ = %v, want at+jwt", typ)
	}
	rt := tok.RefreshToken
	tokenURL := e.issuer + "/oauth/token"
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ID}}

	// A thief with the refresh token but not the key: no proof, then a proof by another key.
	st, _, body := e.tokenRequest(refresh, "", "", "")
	if st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_grant" {
		t.Errorf("refresh without a proof: %d %s, want 400 invalid_grant", st, body)
	}
	nonce := e.dpopNonce(t, keyB, c)
	st, _, body = e.tokenRequest(refresh, "", "", keyB.proof(t, "POST", tokenURL, nonce, ""))
	if st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_grant" {
		t.Errorf("refresh with another key's proof: %d %s, want 400 invalid_grant", st, body)
	}

	// The holder of the key still refreshes: the thief's tries revoked nothing.
	st, _, body = e.tokenRequest(refresh, "", "", keyA.proof(t, "POST", tokenURL, nonce, ""))
	if st != http.StatusOK {
		t.Fatalf("refresh with the key: %d %s", st, body)
	}
	if jsonStr(body, "token_type") != "DPoP" || cnfOf(jwtPayload(t, jsonStr(body, "access_token"))) != keyA.jkt {
		t.Errorf("refreshed tokens not bound to the key: %s", body)
	}
	// The successor is bound too.
	next := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {jsonStr(body, "refresh_token")}, "client_id": {c.ID}}
	if st, _, body := e.tokenRequest(next, "", "", keyB.proof(t, "POST", tokenURL, nonce, "")); st != http.StatusBadRequest {
		t.Errorf("rotated refresh token with another key: %d %s, want 400", st, body)
	}

	at := tok.AccessToken
	ui := e.issuer + "/userinfo"
	if st, h, body := e.userinfo("DPoP", at, keyA.proof(t, "GET", ui, "", at)); st != http.StatusOK || !strings.Contains(body, "dpop@example.com") {
		t.Errorf("userinfo with DPoP: %d %s %v", st, body, h)
	}
	cases := []struct {
		name, scheme, proof, wantErr string
	}{
		{"bound token as Bearer", "Bearer", "", "invalid_token"},
		{"bound token as Bearer beside a proof", "Bearer", keyA.proof(t, "GET", ui, "", at), "invalid_token"},
		{"proof by another key", "DPoP", keyB.proof(t, "GET", ui, "", at), "invalid_token"},
		{"proof without ath", "DPoP", keyA.proof(t, "GET", ui, "", ""), "invalid_dpop_proof"},
		{"proof for another method", "DPoP", keyA.proof(t, "POST", ui, "", at), "invalid_dpop_proof"},
		{"proof for another URL", "DPoP", keyA.proof(t, "GET", e.issuer+"/oauth/token", "", at), "invalid_dpop_proof"},
		{"no proof", "DPoP", "", "invalid_dpop_proof"},
	}
	for _, tc := range cases {
		st, h, body := e.userinfo(tc.scheme, at, tc.proof)
		wa := h.Get("WWW-Authenticate")
		if st != http.StatusUnauthorized || !strings.Contains(wa, `error="`+tc.wantErr+`"`) {
			t.Errorf("%s: %d %s (WWW-Authenticate %q), want 401 %s", tc.name, st, body, wa, tc.wantErr)
		}
		if tc.scheme == "DPoP" && !strings.HasPrefix(wa, "DPoP ") {
			t.Errorf("%s: WWW-Authenticate %q, want the DPoP scheme", tc.name, wa)
		}
	}
	// A replayed proof at userinfo.
	p := keyA.proof(t, "GET", ui, "", at)
	if st, _, _ := e.userinfo("DPoP", at, p); st != http.StatusOK {
		t.Errorf("first use of a proof: %d", st)
	}
	if st, h, _ := e.userinfo("DPoP", at, p); st != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_dpop_proof") {
		t.Errorf("replayed proof at userinfo: %d %q", st, h.Get("WWW-Authenticate"))
	}
}

// Attacks on the token endpoint's proof check, each answered 400 with the RFC's error.
func TestDPoPProofAttacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	k := newDPoPKey(t)
	tokenURL := e.issuer + "/oauth/token"
	nonce := e.dpopNonce(t, k, c)
	form := url.Values{"grant_type": {"client_credentials"}}
	replayed := k.proof(t, "POST", tokenURL, nonce, "")
	if st, _, body := e.tokenRequest(form, c.ID, c.Secret, replayed); st != http.StatusOK {
		t.Fatalf("a good proof: %d %s", st, body)
	}
	hdr := func(alg string) map[string]any {
		jwk := jose.JSONWebKey{Key: &k.priv.PublicKey}
		return map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": jwk}
	}
	privJWK := jose.JSONWebKey{Key: k.priv}
	withPrivate, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"jwk": privJWK}}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	privProof := func() string {
		payload, _ := json.Marshal(k.claims("POST", tokenURL, nonce, ""))
		jws, err := withPrivate.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}()
	mod := func(f func(proofClaims)) string {
		c := k.claims("POST", tokenURL, nonce, "")
		f(c)
		return k.sign(t, c)
	}
	cases := []struct {
		name, proof, wantErr string
	}{
		{"replayed proof (same jti)", replayed, "invalid_dpop_proof"},
		{"proof for another method", k.proof(t, "GET", tokenURL, nonce, ""), "invalid_dpop_proof"},
		{"proof for another URL", k.proof(t, "POST", e.issuer+"/oauth/introspect", nonce, ""), "invalid_dpop_proof"},
		{"proof for another host", k.proof(t, "POST", "https://evil.example/oauth/token", nonce, ""), "invalid_dpop_proof"},
		{"no nonce", k.proof(t, "POST", tokenURL, "", ""), "use_dpop_nonce"},
		{"forged nonce", k.proof(t, "POST", tokenURL, base64.RawURLEncoding.EncodeToString(randBytes(24)), ""), "use_dpop_nonce"},
		{"expired iat", mod(func(c proofClaims) { c["iat"] = time.Now().Add(-10 * time.Minute).Unix() }), "invalid_dpop_proof"},
		{"iat in the future", mod(func(c proofClaims) { c["iat"] = time.Now().Add(10 * time.Minute).Unix() }), "invalid_dpop_proof"},
		{"no jti", mod(func(c proofClaims) { delete(c, "jti") }), "invalid_dpop_proof"},
		{"alg none", rawJWT(hdr("none"), k.claims("POST", tokenURL, nonce, ""), func([]byte) []byte { return nil }), "invalid_dpop_proof"},
		{"alg HS256", rawJWT(hdr("HS256"), k.claims("POST", tokenURL, nonce, ""), func(in []byte) []byte {
			m := hmac.New(sha256.New, []byte("a shared secret anyone can pick"))
			m.Write(in)
			return m.Sum(nil)
		}), "invalid_dpop_proof"},
		{"private key in jwk", privProof, "invalid_dpop_proof"},
		{"typ JWT", rawJWT(map[string]any{"typ": "JWT", "alg": "ES256", "jwk": jose.JSONWebKey{Key: &k.priv.PublicKey}},
			k.claims("POST", tokenURL, nonce, ""), func(in []byte) []byte { return es256(t, k.priv, in) }), "invalid_dpop_proof"},
		{"signed by another key than jwk", rawJWT(hdr("ES256"), k.claims("POST", tokenURL, nonce, ""),
			func(in []byte) []byte { return es256(t, newDPoPKey(t).priv, in) }), "invalid_dpop_proof"},
		{"not a JWT", "not-a-proof", "invalid_dpop_proof"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, h, body := e.tokenRequest(form, c.ID, c.Secret, tc.proof)
			if st != http.StatusBadRequest || jsonStr(body, "error") != tc.wantErr {
				t.Errorf("%d %s, want 400 %s", st, body, tc.wantErr)
			}
			if tc.wantErr == "use_dpop_nonce" && h.Get("DPoP-Nonce") == "" {
				t.Error("use_dpop_nonce without a DPoP-Nonce header")
			}
		})
	}
	// Two DPoP headers.
	req, _ := http.NewRequest(http.MethodPost, e.addr+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	req.Header.Add("DPoP", k.proof(t, "POST", tokenURL, nonce, ""))
	req.Header.Add("DPoP", k.proof(t, "POST", tokenURL, nonce, ""))
	if st, _, body := do(t, req); st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_dpop_proof" {
		t.Errorf("two DPoP headers: %d %s", st, body)
	}
}

// es256 signs in as a JWS ES256 signature (r||s).
func es256(t *testing.T, k *ecdsa.PrivateKey, in []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(in)
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// client_credentials with DPoP, for JWT (stateless) and opaque tokens: the token is bound
// (cnf.jkt in the JWT), introspection says DPoP and cnf.jkt; a client registered with
// dpop_bound_access_tokens must send a proof.
func TestDPoPClientCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newDPoPKey(t)
	tokenURL := e.issuer + "/oauth/token"
	nonce := e.dpopNonce(t, k, e.addClient(storage.ClientConfidential, withGrants("client_credentials")))
	for _, format := range []string{storage.TokenFormatJWT, storage.TokenFormatOpaque} {
		t.Run(format, func(t *testing.T) {
			c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"),
				func(c *storage.Client) { c.AccessTokenFormat = format })
			st, h, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret, k.proof(t, "POST", tokenURL, nonce, ""))
			if st != http.StatusOK {
				t.Fatalf("token: %d %s", st, body)
			}
			if jsonStr(body, "token_type") != "DPoP" {
				t.Errorf("token_type: %s", body)
			}
			if h.Get("DPoP-Nonce") == "" {
				t.Error("no DPoP-Nonce with the answer")
			}
			at := jsonStr(body, "access_token")
			if format == storage.TokenFormatJWT {
				if got := cnfOf(jwtPayload(t, at)); got != k.jkt {
					t.Errorf("cnf.jkt = %q, want %q", got, k.jkt)
				}
				if typ := jwtHeader(t, at)["typ"]; typ != "at+jwt" {
					t.Errorf("typ = %v, want at+jwt", typ)
				}
			}
			st, _, body = e.postForm("/oauth/introspect", url.Values{"token": {at}}, c.ID, c.Secret)
			var m map[string]any
			_ = json.Unmarshal([]byte(body), &m)
			if st != http.StatusOK || m["active"] != true || m["token_type"] != "DPoP" || cnfOf(m) != k.jkt {
				t.Errorf("introspection: %d %s, want active, token_type DPoP, cnf.jkt %s", st, body, k.jkt)
			}
		})
	}
	// Without a proof the token is a plain bearer token.
	plain := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	st, _, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, plain.ID, plain.Secret, "")
	if st != http.StatusOK || !strings.EqualFold(jsonStr(body, "token_type"), "bearer") {
		t.Errorf("without a proof: %d %s", st, body)
	}
	bound := e.addClient(storage.ClientConfidential, withGrants("client_credentials"),
		func(c *storage.Client) { c.DPoPBoundAccessTokens = true })
	st, _, body = e.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, bound.ID, bound.Secret, "")
	if st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_dpop_proof" {
		t.Errorf("dpop_bound_access_tokens client without a proof: %d %s", st, body)
	}
	if st, _, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, bound.ID, bound.Secret,
		k.proof(t, "POST", tokenURL, nonce, "")); st != http.StatusOK {
		t.Errorf("dpop_bound_access_tokens client with a proof: %d %s", st, body)
	}
}

// A failure of the replay store is ours: 503 temporarily_unavailable, never invalid_dpop_proof.
func TestDPoPReplayStoreFailure(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	k := newDPoPKey(t)
	nonce := e.dpopNonce(t, k, c)
	fs.Fail("RememberJTI")
	st, h, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret, k.proof(t, "POST", e.issuer+"/oauth/token", nonce, ""))
	if st != http.StatusServiceUnavailable || jsonStr(body, "error") != "temporarily_unavailable" || h.Get("Retry-After") == "" {
		t.Errorf("replay store down: %d %s, want 503 temporarily_unavailable with Retry-After", st, body)
	}
	fs.Clear()
	if st, _, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret, k.proof(t, "POST", e.issuer+"/oauth/token", nonce, "")); st != http.StatusOK {
		t.Errorf("after recovery: %d %s", st, body)
	}
}

// A browser app may send DPoP proofs cross-origin and read the nonce (CORS).
func TestDPoPCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientPublic, firstParty)
	req, _ := http.NewRequest(http.MethodOptions, e.addr+"/oauth/token", nil)
	req.Header.Set("Origin", "https://rp.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,dpop")
	_, h, _ := do(t, req)
	if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "dpop") {
		t.Errorf("preflight: Access-Control-Allow-Headers %q, want DPoP (all headers: %v)", h.Get("Access-Control-Allow-Headers"), h)
	}
	k := newDPoPKey(t)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {c.ID}}
	preq, _ := http.NewRequest(http.MethodPost, e.addr+"/oauth/token", strings.NewReader(form.Encode()))
	preq.Header.Set("Origin", "https://rp.example")
	preq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	preq.Header.Set("DPoP", k.proof(t, "POST", e.issuer+"/oauth/token", "", ""))
	st, h, body := do(t, preq)
	if st != http.StatusBadRequest || jsonStr(body, "error") != "use_dpop_nonce" || h.Get("Access-Control-Allow-Origin") != "https://rp.example" {
		t.Errorf("cross-origin proof without nonce: %d %s, Access-Control-Allow-Origin %q", st, body, h.Get("Access-Control-Allow-Origin"))
	}
	if !strings.Contains(strings.ToLower(h.Get("Access-Control-Expose-Headers")), "dpop-nonce") {
		t.Errorf("Access-Control-Expose-Headers %q, want DPoP-Nonce", h.Get("Access-Control-Expose-Headers"))
	}
}

// The refresh retry grace works with bound refresh tokens: the holder of the key may present
// the previous token again (a lost response); a thief presenting it with another key gets
// invalid_grant, and that neither counts as reuse nor revokes the grant.
func TestDPoPRefreshRetryGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientPublic, firstParty)
	e.addUser("dpop-retry@example.com")
	keyA, keyB := newDPoPKey(t), newDPoPKey(t)
	tokenURL := e.issuer + "/oauth/token"
	nonce := e.dpopNonce(t, keyA, c)
	res, verifier := e.signIn(e.browser(), c, "dpop-retry@example.com")
	st, _, body := e.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {res.code},
		"redirect_uri": {c.Redirect}, "code_verifier": {verifier}, "client_id": {c.ID}}, "", "", keyA.proof(t, "POST", tokenURL, nonce, ""))
	if st != http.StatusOK {
		t.Fatalf("code exchange: %d %s", st, body)
	}
	rt1 := jsonStr(body, "refresh_token")
	refresh := func(rt string, k *dpopKey) (int, string) {
		st, _, body := e.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ID}},
			"", "", k.proof(t, "POST", tokenURL, nonce, ""))
		return st, body
	}
	if st, body := refresh(rt1, keyA); st != http.StatusOK {
		t.Fatalf("first refresh: %d %s", st, body)
	}
	// The response was "lost": the client retries with rt1, by its key, within the grace.
	if st, body := refresh(rt1, keyB); st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_grant" {
		t.Errorf("retry with another key: %d %s, want 400 invalid_grant", st, body)
	}
	st, body = refresh(rt1, keyA)
	if st != http.StatusOK {
		t.Fatalf("retry within the grace by the key's holder: %d %s", st, body)
	}
	if st, body := refresh(jsonStr(body, "refresh_token"), keyA); st != http.StatusOK {
		t.Errorf("the retry's successor: %d %s (the other key's try must not have revoked the grant)", st, body)
	}
}

// The device grant with DPoP: a native app's device tokens are bound to its key (the refresh
// token too); a resource indicator is refused for this grant.
func TestDPoPDeviceGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("dpop-device@example.com")
	c := e.deviceClient(storage.ClientNative)
	k, other := newDPoPKey(t), newDPoPKey(t)
	tokenURL := e.issuer + "/oauth/token"
	nonce := e.dpopNonce(t, k, c)
	da := e.authorizeDevice(c, "openid offline_access", nil)
	e.decideDevice(e.signedInBrowser("dpop-device@example.com"), da.UserCode, "approve")
	poll := url.Values{"grant_type": {grantDevice}, "device_code": {da.DeviceCode}, "client_id": {c.ID}}
	withResource := url.Values{"grant_type": {grantDevice}, "device_code": {da.DeviceCode}, "client_id": {c.ID}, "resource": {apiResource}}
	if st, _, body := e.tokenRequest(withResource, "", "", k.proof(t, "POST", tokenURL, nonce, "")); st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_target" {
		t.Errorf("device grant with a resource: %d %s, want 400 invalid_target", st, body)
	}
	st, _, body := e.tokenRequest(poll, "", "", k.proof(t, "POST", tokenURL, nonce, ""))
	if st != http.StatusOK {
		t.Fatalf("device token: %d %s", st, body)
	}
	at := jsonStr(body, "access_token")
	if jsonStr(body, "token_type") != "DPoP" || cnfOf(jwtPayload(t, at)) != k.jkt || jwtHeader(t, at)["typ"] != "at+jwt" {
		t.Errorf("device tokens not bound or not at+jwt: %s", body)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {jsonStr(body, "refresh_token")}, "client_id": {c.ID}}
	if st, _, body := e.tokenRequest(refresh, "", "", other.proof(t, "POST", tokenURL, nonce, "")); st != http.StatusBadRequest {
		t.Errorf("device refresh token with another key: %d %s, want 400", st, body)
	}
	if st, _, body := e.tokenRequest(refresh, "", "", k.proof(t, "POST", tokenURL, nonce, "")); st != http.StatusOK {
		t.Errorf("device refresh token with its key: %d %s", st, body)
	}
}
