package op

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"
)

// ErrInvalidToken is a bearer token that is not a live access token of this provider.
var ErrInvalidToken = errors.New("op: invalid access token")

// BearerToken is a live access token as VerifyAccessToken found it.
type BearerToken struct {
	// Subject is the person (a user token) or the client (client_credentials).
	Subject  string
	ClientID string
	Scopes   []string
	// Person: the token was issued to a person's sign-in (it belongs to a grant), not to a
	// client on its own behalf.
	Person bool
}

// VerifyAccessToken checks a bearer access token exactly as /userinfo and introspection do
// (the library's decryption of opaque tokens or its JWT verification: signature, issuer,
// expiry; then our state checks: the row or, for a stateless client_credentials token, the
// client and the denylist). A token that is not live is ErrInvalidToken; a store that failed
// on the way is that failure (never ErrInvalidToken: a live token must not be refused as
// invalid because the database hiccuped).
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (*BearerToken, error) {
	ri := &requestInfo{}
	ctx = withRequestInfo(zop.ContextWithIssuer(ctx, p.cfg.Issuer), ri)
	var tokenID, subject string
	if plain, err := p.zop.Crypto().Decrypt(token); err == nil {
		var ok bool
		if tokenID, subject, ok = strings.Cut(plain, ":"); !ok {
			return nil, ErrInvalidToken
		}
	} else {
		claims, err := zop.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, p.zop.AccessTokenVerifier(ctx))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		tokenID, subject = claims.JWTID, claims.Subject
	}
	at, err := p.storage.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		if ri.storeFailed != nil {
			return nil, fmt.Errorf("access token state: %w", ri.storeFailed)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if at.DPoPJKT != "" {
		// Bound to a DPoP key (RFC 9449): a bearer of it alone proves nothing.
		return nil, fmt.Errorf("%w: DPoP-bound token presented as bearer", ErrInvalidToken)
	}
	return &BearerToken{Subject: at.Subject, ClientID: at.ClientID, Scopes: at.Scopes, Person: at.GrantID != ""}, nil
}
