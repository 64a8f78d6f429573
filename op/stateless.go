package op

// Stateless JWT access tokens: a client_credentials token, and a person's token (code
// exchange, refresh, device grant) of a client with JWT access tokens.
//
// Neither has an access_tokens row: storing one was a SQL write per token (six B-tree pages:
// the table and its indexes), the main cost of the client_credentials grant and the largest
// part of a refresh's commit. Everything a row held is in the signed token (sub, client_id,
// aud, scope, iat, exp, jti, cnf), plus a signed mark of how its state is decided, so that
// the row lookup is skipped, and a token whose row is gone is never taken for a stateless
// one:
//
//   - gty=client_credentials (a machine token): its client still exists, is confidential
//     and may use client_credentials, and was not deleted and re-created since the token was
//     issued (the token names the client's created_at).
//   - gid=<grant id> (a person's token): its grant still exists, is not revoked, and is the
//     token's subject's and client's. Every action that ended a person's access tokens by
//     their rows (revoking the grant, every grant of the user or of the user and a client,
//     deleting the user or the client, which deletes the grant) ends the grant with them;
//     housekeeping keeps the grant while such a token can be live (Grant.AccessExpiresAt).
//
// Both are checked for issuer and expiry (the library, then us on the same verified bytes)
// and against a denylist: RFC 7009 revocation of one token puts the SHA-256 of its jti in
// the shared database until the token expires (plus denylistMargin), so revocation is
// immediate on every instance. A store failure on the way is answered 503, never "inactive".
// Opaque access tokens and tokens issued without the mark keep their rows.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

const (
	// grantTypeClaim marks a stateless access token (Auth0 names the grant type the same way).
	grantTypeClaim    = "gty"
	clientCredentials = "client_credentials"
	// clientCreatedClaim is the creation time (unix ms) of the client the token was issued
	// to: a client deleted and re-created under the same id does not revive its old tokens.
	// Compared for equality with the stored value, it needs no clock agreement between
	// instances.
	clientCreatedClaim = "client_created"
	// grantIDClaim names the grant of a person's stateless access token.
	grantIDClaim = "gid"
	// denylistMargin keeps a denylist entry past the token's expiry, longer than any clock
	// skew between instances.
	denylistMargin = 5 * time.Minute
)

// capturingKeySet is the library's access-token key set, remembering in the request the
// payload whose signature it verified: the library hands the storage only the jti and subject,
// and a stateless token's scopes, audience and expiry are in its claims.
type capturingKeySet struct{ inner oidc.KeySet }

func (k capturingKeySet) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	payload, err := k.inner.VerifySignature(ctx, jws)
	if err == nil {
		requestInfoFrom(ctx).verifiedAccessToken = payload
	}
	return payload, err
}

// statelessClaims returns the claims of the stateless token tokenID when it is the one whose
// signature this request verified. Any other token (opaque, a JWT with a row, a payload of
// another jti) is not stateless.
func (s *opStorage) statelessClaims(ctx context.Context, tokenID, subject string) (*oidc.AccessTokenClaims, bool) {
	payload := requestInfoFrom(ctx).verifiedAccessToken
	if payload == nil {
		return nil, false
	}
	var c oidc.AccessTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, false
	}
	if !isStateless(&c) || c.JWTID != tokenID || c.Subject != subject {
		return nil, false
	}
	return &c, true
}

// isStateless reports whether verified claims are a stateless token's: a machine one or a
// person's naming its grant, with a jti to deny it by.
func isStateless(c *oidc.AccessTokenClaims) bool {
	return isMachineToken(c) || (c.JWTID != "" && tokenGrant(c) != "")
}

// isMachineToken reports whether verified claims are a stateless client_credentials token's.
func isMachineToken(c *oidc.AccessTokenClaims) bool {
	gty, _ := c.Claims[grantTypeClaim].(string)
	return gty == clientCredentials && c.JWTID != ""
}

// tokenGrant is the grant a person's stateless token names ("" for any other token).
func tokenGrant(c *oidc.AccessTokenClaims) string {
	gid, _ := c.Claims[grantIDClaim].(string)
	return gid
}

// liveStatelessToken decides whether a stateless token is active (see the package comment
// above), and returns it in the shape of a stored one, with a person's token's grant, which
// it reads anyway (nil for a machine token).
func (s *opStorage) liveStatelessToken(ctx context.Context, tokenID string, c *oidc.AccessTokenClaims) (*storage.AccessToken, *storage.Grant, error) {
	iat, exp := c.IssuedAt.AsTime(), c.Expiration.AsTime()
	switch {
	case c.Issuer != s.issuer:
		return nil, nil, fmt.Errorf("access token: issuer %q: %w", c.Issuer, errInvalid)
	case !s.now().Before(exp):
		return nil, nil, fmt.Errorf("access token: %w", storage.ErrExpired)
	}
	var gid string
	var g *storage.Grant
	var err error
	if isMachineToken(c) {
		err = s.liveTokenClient(ctx, c)
	} else {
		gid = tokenGrant(c)
		g, err = s.liveTokenGrant(ctx, gid, c)
	}
	if err != nil {
		return nil, nil, err
	}
	idHash := secret.HashToken(tokenID)
	denied, err := s.store.AccessTokenDenied(ctx, idHash)
	if err != nil {
		noteStoreFailure(ctx, err)
		return nil, nil, fmt.Errorf("access token denylist: %w", err)
	}
	if denied {
		return nil, nil, fmt.Errorf("access token: %w", storage.ErrRevoked)
	}
	return &storage.AccessToken{
		IDHash: idHash, GrantID: gid, ClientID: c.ClientID, Subject: c.Subject, Scopes: c.Scopes,
		Audience: c.Audience, CreatedAt: iat, ExpiresAt: exp, DPoPJKT: cnfJKT(c.Claims),
	}, g, nil
}

// liveTokenClient checks a machine token's client: the token's subject, still allowed the
// grant, and not re-created since.
func (s *opStorage) liveTokenClient(ctx context.Context, c *oidc.AccessTokenClaims) error {
	if c.ClientID == "" || c.ClientID != c.Subject {
		return fmt.Errorf("access token: client %q is not the subject: %w", c.ClientID, errInvalid)
	}
	cl, err := s.getClient(ctx, c.ClientID)
	if err != nil {
		noteStoreFailure(ctx, err)
		return fmt.Errorf("access token client: %w", err)
	}
	switch {
	case cl.Type != storage.ClientConfidential || !slices.Contains(cl.GrantTypes, clientCredentials):
		return fmt.Errorf("access token: client %q may no longer use client_credentials: %w", cl.ID, errInvalid)
	case clientGeneration(c) != cl.CreatedAt.UnixMilli():
		// A token of a deleted client of the same id: deleting a client revokes its tokens.
		return fmt.Errorf("access token: client %q was re-created: %w", cl.ID, storage.ErrRevoked)
	}
	return nil
}

// liveTokenGrant checks a person's token's grant gid, as the row path checks a row's grant:
// it exists (a deleted user or client took it), is not revoked, and is the token's subject's
// (compared in constant time, as a row's subject is) and client's.
func (s *opStorage) liveTokenGrant(ctx context.Context, gid string, c *oidc.AccessTokenClaims) (*storage.Grant, error) {
	g, err := s.store.GetGrant(ctx, gid)
	if err != nil {
		noteStoreFailure(ctx, err)
		return nil, fmt.Errorf("access token grant: %w", err)
	}
	switch {
	case g.RevokedAt != nil:
		return nil, fmt.Errorf("access token grant: %w", storage.ErrRevoked)
	case g.UserID == "" || !secret.Equal(g.UserID, c.Subject):
		return nil, fmt.Errorf("access token: subject mismatch: %w", errInvalid)
	case c.ClientID == "" || g.ClientID != c.ClientID:
		return nil, fmt.Errorf("access token: grant of another client: %w", errInvalid)
	}
	return g, nil
}

// statelessPrivateClaims are the claims a stateless token carries beyond the library's.
func (s *opStorage) statelessPrivateClaims(ctx context.Context, r *clientCredentialsRequest) (map[string]any, error) {
	c, err := s.getClient(ctx, r.clientID) // read for this request already
	if err != nil {
		return nil, fmt.Errorf("client %q: %w", r.clientID, err)
	}
	m := map[string]any{grantTypeClaim: clientCredentials, clientCreatedClaim: c.CreatedAt.UnixMilli()}
	if len(r.scopes) > 0 {
		m["scope"] = strings.Join(r.scopes, " ")
	}
	return m, nil
}

// clientGeneration is the token's clientCreatedClaim (-1 when absent or malformed).
func clientGeneration(c *oidc.AccessTokenClaims) int64 {
	switch v := c.Claims[clientCreatedClaim].(type) {
	case float64: // unix ms are far below 2^53: exact
		return int64(v)
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
	}
	return -1
}

// noteStoreFailure records a store failure met while deciding a token's state.
func noteStoreFailure(ctx context.Context, err error) {
	if storage.Failed(err) {
		requestInfoFrom(ctx).storeFailed = err
	}
}

// introspectWriter answers 503 instead of the library's {"active":false} when the token's
// state could not be read: a resource server must not be told that a live token is revoked
// (nor, for a denylist it could not read, that a revoked one is live). The server's fault
// mapping then writes its fixed temporarily_unavailable answer.
type introspectWriter struct {
	http.ResponseWriter
	ri      *requestInfo
	wrote   bool
	dropped bool
}

func (w *introspectWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *introspectWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code == http.StatusOK && w.ri.storeFailed != nil {
		w.dropped = true
		w.ResponseWriter.Header().Set("Content-Type", "application/json")
		w.ResponseWriter.Header().Set("Retry-After", "5")
		w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.ResponseWriter.Write([]byte(`{"error":"temporarily_unavailable"}` + "\n"))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *introspectWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.dropped {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
