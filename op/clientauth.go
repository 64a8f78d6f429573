package op

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Client authentication by a signed assertion: private_key_jwt (RFC 7523 §2.2 and §3, OpenID
// Connect Core §9). The assertion is checked here, once, for every endpoint that
// authenticates clients (token, introspection, revocation, and with the token endpoint the
// device grant), before the library sees the request: the library's own checks differ per
// endpoint (only the issuer as audience, three algorithms, the wall clock, none at all for
// client_credentials) and know nothing of replays. A verified request is then handed on as
// the client's: the assertion parameters are replaced by HTTP Basic with the client id and
// no secret, and AuthorizeClientIDSecret accepts exactly that client, in this request only
// (requestInfo.assertedClient).

const (
	// maxAssertionLen bounds the assertion read (a JWS of a few claims is well under 2 KiB).
	maxAssertionLen = 8 << 10
	// maxAssertionLife bounds how far in the future exp may be: the jti is remembered until
	// exp, so an assertion must be short-lived (RFC 7523 §3 item 4 allows the bound).
	maxAssertionLife = 10 * time.Minute
	// assertionSkew is the clock difference tolerated on exp, iat and nbf.
	assertionSkew = 30 * time.Second
	// jwksTTL is how long a client's fetched JWK Set is used before it is fetched again;
	// jwksRefetchEvery is the least time between two fetches caused by an unknown kid (a
	// client rotating its keys), so assertions naming made-up kids cannot make us hammer the
	// client's server.
	jwksTTL          = 5 * time.Minute
	jwksRefetchEvery = 30 * time.Second
	// maxJWKSCache bounds the number of cached key sets (one per jwks_uri).
	maxJWKSCache = 1000
)

// assertionAlgs are the algorithms an assertion may be signed with: asymmetric only, so
// neither "none" nor an HMAC keyed with the client's public key can pass.
var assertionAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

func assertionAlgNames() []string {
	out := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = string(a)
	}
	return out
}

// errClientKeys is a client's key set that could not be had (unreachable, malformed): the
// client's problem, answered invalid_client.
var errClientKeys = errors.New("op: client keys unavailable")

// clientKeys serves the public keys of private_key_jwt clients: the registered JWK Set, or
// the one at jwks_uri, fetched through the outbound rules and cached.
type clientKeys struct {
	out *backchannel.Outbound
	now func() time.Time
	// mu guards cache.
	mu    sync.Mutex
	cache map[string]*jwksEntry // by jwks_uri
}

type jwksEntry struct {
	keys      []jose.JSONWebKey
	fetched   time.Time
	refetched time.Time // last fetch caused by an unknown kid
}

func newClientKeys(now func() time.Time) *clientKeys {
	return &clientKeys{out: backchannel.NewOutbound(), now: now, cache: map[string]*jwksEntry{}}
}

// keys returns the client's keys that may carry kid ("" = any).
func (k *clientKeys) keys(ctx context.Context, c *storage.Client, kid string) ([]jose.JSONWebKey, error) {
	if c.JWKS != "" {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil {
			return nil, fmt.Errorf("%w: registered jwks: %w", errClientKeys, err)
		}
		return withKID(set.Keys, kid), nil
	}
	if c.JWKSURI == "" {
		return nil, fmt.Errorf("%w: none registered", errClientKeys)
	}
	now := k.now()
	k.mu.Lock()
	e := k.cache[c.JWKSURI]
	fresh := e != nil && now.Sub(e.fetched) < jwksTTL
	refetch := fresh && kid != "" && len(withKID(e.keys, kid)) == 0 && now.Sub(e.refetched) >= jwksRefetchEvery
	if refetch {
		e.refetched = now // claimed now: concurrent unknown kids do not all refetch
	}
	k.mu.Unlock()
	if fresh && !refetch {
		return withKID(e.keys, kid), nil
	}
	keys, err := k.fetch(ctx, c.JWKSURI)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.cache) >= maxJWKSCache {
		clear(k.cache)
	}
	ne := &jwksEntry{keys: keys, fetched: now}
	if refetch {
		ne.refetched = now
	}
	k.cache[c.JWKSURI] = ne
	k.mu.Unlock()
	return withKID(keys, kid), nil
}

// fetch reads the JWK Set at uri: 200, JSON, at most 64 KiB, public keys only.
func (k *clientKeys) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, backchannel.OutboundTimeout)
	defer cancel()
	resp, err := k.out.Get(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s: %w", errClientKeys, uri, err)
	}
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch %s: status %d", errClientKeys, uri, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(resp.Body, &set); err != nil {
		return nil, fmt.Errorf("%w: fetch %s: %w", errClientKeys, uri, err)
	}
	out := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, key := range set.Keys {
		if key.Valid() && (key.Use == "" || key.Use == "sig") {
			out = append(out, key.Public())
		}
	}
	return out, nil
}

// withKID returns the keys that may carry kid: those with that id, or when none has it the
// keys registered without an id ("" = every key).
func withKID(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return keys
	}
	var out, anonymous []jose.JSONWebKey
	for _, k := range keys {
		switch k.KeyID {
		case kid:
			out = append(out, k)
		case "":
			anonymous = append(anonymous, k)
		}
	}
	if len(out) == 0 {
		return anonymous
	}
	return out
}

// GetKeyByIDAndClientID returns the private_key_jwt client's public key keyID, from its
// registered JWK Set or its jwks_uri.
func (s *opStorage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	c, err := s.getClient(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("client %q: %w", clientID, err)
	}
	if c.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT {
		return nil, fmt.Errorf("client %q: no keys: %w", clientID, errInvalid)
	}
	keys, err := s.clientKeys.keys(ctx, c, keyID)
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("client %q: key %q: %w", clientID, keyID, errInvalid)
	}
	return &keys[0], nil
}

// assertionClaims are the claims RFC 7523 §3 and OIDC Core §9 put in a client assertion.
type assertionClaims struct {
	josejwt.Claims
}

// hasAssertion reports whether the request authenticates (or tries to) by assertion.
func hasAssertion(form url.Values) bool {
	return form.Has("client_assertion") || form.Has("client_assertion_type")
}

// preClientAssertion authenticates a request that carries a client assertion, at the token,
// introspection and revocation endpoints, and answers the failure. A request without one is
// left alone. It reports whether the request may go on.
func (p *Provider) preClientAssertion(w http.ResponseWriter, r *http.Request, ri *requestInfo) bool {
	if r.Method != http.MethodPost || r.ParseForm() != nil || !hasAssertion(r.PostForm) {
		return true // the endpoint's own handling answers these
	}
	if blocked, err := p.clientAuthBlocked(r); err != nil {
		httphelper.MarshalJSONWithStatus(w, oidc.ErrServerError(), http.StatusInternalServerError)
		return false
	} else if blocked {
		p.clientError(w, r, &oidc.Error{ErrorType: "too_many_attempts"})
		return false
	}
	if k := repeated(r.Form); k != "" {
		p.clientError(w, r, oidc.ErrInvalidRequest().WithDescription("a parameter is repeated: %s", k))
		return false
	}
	if _, _, basic := r.BasicAuth(); basic || r.PostForm.Get("client_secret") != "" {
		// RFC 6749 §2.3: one authentication method per request.
		p.clientError(w, r, oidc.ErrInvalidRequest().WithDescription("use only one client authentication method"))
		return false
	}
	id, oerr := p.verifyAssertion(r.Context(), r.PostForm, p.assertionAudiences(r.URL.Path))
	if oerr != nil {
		if oerr.ErrorType == oidc.ServerError {
			// Ours (answered 503 when the store failed, see internal/server/faults.go).
			httphelper.MarshalJSONWithStatus(w, oerr, http.StatusInternalServerError)
			return false
		}
		p.clientAuthFailed(r, id)
		p.clientError(w, r, oerr)
		return false
	}
	ri.assertedClient = id
	for _, k := range []string{"client_assertion", "client_assertion_type", "client_id"} {
		r.PostForm.Del(k)
		r.Form.Del(k)
	}
	r.SetBasicAuth(url.QueryEscape(id), "")
	return true
}

// assertionAudiences are the values of aud that name us: the issuer (what RFC 7523bis and
// the 2025 OpenID advisory recommend), the token endpoint (OIDC Core §9's wording) and the
// endpoint the assertion is presented at.
func (p *Provider) assertionAudiences(path string) []string {
	iss := strings.TrimSuffix(p.cfg.Issuer, "/")
	return []string{iss, iss + "/oauth/token", iss + path}
}

// verifyAssertion checks the form's client assertion and returns the client it
// authenticates. Everything wrong with the assertion, or with the client's key set, is
// invalid_client; a failure of our store is server_error (answered 503 by the fault mapping).
func (p *Provider) verifyAssertion(ctx context.Context, form url.Values, audiences []string) (string, *oidc.Error) {
	bad := func(desc string) *oidc.Error { return oidc.ErrInvalidClient().WithDescription("%s", desc) }
	if form.Get("client_assertion_type") != oidc.ClientAssertionTypeJWTAssertion {
		return "", bad("client_assertion_type must be " + oidc.ClientAssertionTypeJWTAssertion)
	}
	raw := form.Get("client_assertion")
	if raw == "" || len(raw) > maxAssertionLen {
		return "", bad("client_assertion is missing or too long")
	}
	tok, err := josejwt.ParseSigned(raw, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return "", bad("client_assertion is not a JWS signed with an asymmetric algorithm")
	}
	var claims assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		return "", bad("client_assertion claims cannot be read")
	}
	id := claims.Issuer
	if id == "" || claims.Subject != id {
		return "", bad("client_assertion iss and sub must both be the client_id")
	}
	if fid := form.Get("client_id"); fid != "" && fid != id {
		return id, bad("client_id does not match the assertion")
	}
	c, err := p.storage.getClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return id, bad("client authentication failed")
	} else if err != nil {
		p.cfg.Logger.ErrorContext(ctx, "client assertion: read client", "err", err, "client_id", id)
		return id, oidc.ErrServerError()
	}
	if c.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT {
		return id, bad("client authentication failed")
	}
	h := tok.Headers[0]
	keys, err := p.storage.clientKeys.keys(ctx, c, h.KeyID)
	if err != nil {
		p.cfg.Logger.WarnContext(ctx, "client assertion: client keys", "err", err, "client_id", id)
		return id, bad("the client's keys could not be read")
	}
	verified := false
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		var got assertionClaims
		if err := tok.Claims(k.Key, &got); err == nil {
			claims, verified = got, true
			break
		}
	}
	if !verified {
		return id, bad("client_assertion signature does not verify with the client's keys")
	}
	now := p.cfg.Now().UTC()
	switch {
	case !slices.ContainsFunc(audiences, func(a string) bool { return claims.Audience.Contains(a) }):
		return id, bad("client_assertion aud must be the issuer or the token endpoint")
	case claims.Expiry == nil:
		return id, bad("client_assertion has no exp")
	case !now.Before(claims.Expiry.Time().Add(assertionSkew)):
		return id, bad("client_assertion has expired")
	case claims.Expiry.Time().After(now.Add(maxAssertionLife + assertionSkew)):
		return id, bad("client_assertion exp is too far in the future")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionSkew)):
		return id, bad("client_assertion iat is in the future")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionSkew)):
		return id, bad("client_assertion is not valid yet")
	case claims.ID == "" || len(claims.ID) > 256:
		return id, bad("client_assertion needs a jti")
	}
	// Single use: the jti (hashed, per client) is remembered until the assertion expires.
	hash := secret.HashToken(id + "\x00" + claims.ID)
	fresh, err := p.cfg.Store.RememberJTI(ctx, storage.ReplayAssertion, hash, claims.Expiry.Time().Add(assertionSkew))
	if err == nil && !fresh {
		p.cfg.Logger.WarnContext(ctx, "client assertion replayed", "client_id", id)
		return id, bad("client_assertion was already used")
	}
	// Used up by a request that then fails on our side, the assertion is given back: the
	// client's retry of that request is no replay. So is one whose remembering failed: the
	// insert may have committed with its answer lost.
	store := p.cfg.Store
	fault.OnFailure(ctx, func(ctx context.Context) error { return store.ForgetJTI(ctx, storage.ReplayAssertion, hash) })
	if err != nil {
		p.cfg.Logger.ErrorContext(ctx, "client assertion: remember jti", "err", err, "client_id", id)
		return id, oidc.ErrServerError()
	}
	return id, nil
}
