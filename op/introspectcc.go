package op

// Introspection of stateless client_credentials tokens (stateless.go), answered here.
//
// A resource server typically introspects the same machine token on every call it serves.
// Through the library each answer cost a signature verification (ES256 verification is
// about three times a signature), the client read twice over and a generic claims merge.
// Here a token whose signature was verified in the last minute is not verified again
// (verifiedTokens, keyed by the token's hash), and the client comes from the request's cache.
// Everything that can change is still checked on every call, as liveStatelessToken always
// did: expiry, the client (still allowed the grant, not re-created) and the denylist, so a
// revocation is seen at once. Anything else (user tokens, opaque tokens, failed client
// authentication) is left to the library.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// stateless tokens carry a gty claim; this much of their payload is read before verifying.
type gtyProbe struct {
	GrantType string `json:"gty"`
}

// ccIntrospection is RFC 7662's answer for an active stateless token, in the library's
// member order (oidc.IntrospectionResponse).
type ccIntrospection struct {
	Active    bool      `json:"active"`
	Scope     string    `json:"scope,omitempty"`
	ClientID  string    `json:"client_id"`
	TokenType string    `json:"token_type"`
	Expiry    int64     `json:"exp"`
	IssuedAt  int64     `json:"iat"`
	Subject   string    `json:"sub"`
	Audience  []string  `json:"aud"`
	Cnf       *cnfClaim `json:"cnf,omitempty"`
}

// introspectStateless answers the introspection of a stateless client_credentials token by
// an authenticated confidential client; it reports whether it answered.
func (p *Provider) introspectStateless(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		return false
	}
	token := r.PostForm.Get("token")
	if strings.Count(token, ".") != 2 || r.PostForm.Get("token_type_hint") == "refresh_token" {
		return false
	}
	key := sha256.Sum256([]byte(token))
	claims, known := p.verified.lookup(key)
	if !known {
		_, payload, err := splitJWT(token)
		var probe gtyProbe
		if err != nil || json.Unmarshal(payload, &probe) != nil || probe.GrantType != clientCredentials {
			return false // not one of ours, or a user's token: the library answers
		}
	}
	c, oerr := p.checkClient(r)
	if oerr != nil || (c.c.Type != storage.ClientConfidential && !c.asserted) {
		return false // the library refuses the client, as it always has
	}
	ctx := r.Context()
	inactive := func() bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK) // 503 instead when a store failure decided it (introspectWriter)
		_, _ = w.Write([]byte(`{"active":false}`))
		return true
	}
	if !known {
		var ok bool
		if claims, ok = p.verified.verify(ctx, key, token, ownKeySet{p.storage}); !ok {
			return inactive()
		}
	}
	// As statelessClaims, on claims that are shared and only read: a machine token's only.
	if !isMachineToken(claims) {
		return inactive()
	}
	at, _, err := p.storage.liveStatelessToken(ctx, claims.JWTID, claims)
	if err != nil {
		return inactive()
	}
	if at.ClientID != c.c.ID && !slices.Contains(at.Audience, c.c.ID) {
		return inactive() // another client's token, not meant for this one (§2.2)
	}
	resp := ccIntrospection{
		Active: true, Scope: strings.Join(at.Scopes, " "), ClientID: at.ClientID, TokenType: oidc.BearerToken,
		Expiry: at.ExpiresAt.Unix(), IssuedAt: at.CreatedAt.Unix(), Subject: at.Subject, Audience: at.Audience,
	}
	if at.DPoPJKT != "" {
		resp.TokenType, resp.Cnf = "DPoP", &cnfClaim{JKT: at.DPoPJKT}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp.appendJSON(make([]byte, 0, 256)))
	return true
}

// appendJSON appends what json.Marshal(c) gives, without its reflection (a few per cent of
// an introspection's CPU): every introspection of a resource server's calls builds one.
func (c *ccIntrospection) appendJSON(b []byte) []byte {
	b = append(b, `{"active":`...)
	b = strconv.AppendBool(b, c.Active)
	if c.Scope != "" {
		b = appendJSONString(append(b, `,"scope":`...), c.Scope)
	}
	b = appendJSONString(append(b, `,"client_id":`...), c.ClientID)
	b = appendJSONString(append(b, `,"token_type":`...), c.TokenType)
	b = strconv.AppendInt(append(b, `,"exp":`...), c.Expiry, 10)
	b = strconv.AppendInt(append(b, `,"iat":`...), c.IssuedAt, 10)
	b = appendJSONString(append(b, `,"sub":`...), c.Subject)
	b = append(b, `,"aud":`...)
	if c.Audience == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	if c.Cnf != nil {
		b = appendJSONString(append(b, `,"cnf":{"jkt":`...), c.Cnf.JKT)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendJSONString appends s as encoding/json writes it: plain printable ASCII as is, and
// anything it would escape (quotes, backslashes, control characters, <, >, &) or check
// (non-ASCII) by encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// verifiedTokens remembers, for up to verifiedTTL and never past their expiry, the payloads
// of access tokens whose signature verified. A signature that verified once verifies again
// while its key is published; keys stay published long after the tokens they signed expire
// (keys.Manager), so a minute's memory changes no answer. Keyed by the token's SHA-256: no
// token is kept in memory.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	// claims are shared between requests: read, never changed.
	claims *oidc.AccessTokenClaims
	until  time.Time
}

const (
	verifiedTTL = time.Minute
	// maxVerified bounds the memory (about a kilobyte an entry); past it the map is emptied.
	maxVerified = 2048
)

// lookup returns the claims of a token verified less than verifiedTTL ago and not expired.
func (v *verifiedTokens) lookup(key [sha256.Size]byte) (*oidc.AccessTokenClaims, bool) {
	v.mu.Lock()
	e, ok := v.m[key]
	v.mu.Unlock()
	if !ok || !time.Now().Before(e.until) {
		return nil, false
	}
	return e.claims, true
}

// verify checks token's signature against the published keys and remembers its claims.
func (v *verifiedTokens) verify(ctx context.Context, key [sha256.Size]byte, token string, ks oidc.KeySet) (*oidc.AccessTokenClaims, bool) {
	jws, err := jose.ParseSignedCompact(token, keys.Algorithms())
	if err != nil {
		return nil, false
	}
	payload, err := ks.VerifySignature(ctx, jws)
	if err != nil {
		return nil, false
	}
	claims := new(oidc.AccessTokenClaims)
	if json.Unmarshal(payload, claims) != nil {
		return nil, false
	}
	until := time.Now().Add(verifiedTTL)
	if t := claims.Expiration.AsTime(); t.Before(until) {
		until = t
	}
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = make(map[[sha256.Size]byte]verifiedToken)
	}
	v.m[key] = verifiedToken{claims: claims, until: until}
	v.mu.Unlock()
	return claims, true
}
