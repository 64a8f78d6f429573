package op

// The refresh_token grant of a client with JWT access tokens, answered here rather than by
// the library.
//
// Through the library a refresh signed two drafts with the throwaway key (atjwt.go), parsed
// its own answer back, and signed both tokens again: a fifth of a refresh's CPU besides the
// two real signatures. Here the request that preToken authenticated (client, resource
// indicators, DPoP) goes through the same storage callbacks in the library's order
// (TokenRequestByRefreshToken, CreateAccessAndRefreshTokens, GetPrivateClaimsFromRequest,
// SetUserinfoFromRequest), with claims built by the library's own constructors, and each
// token is signed once. What the client gets is the library's answer, member for member
// (TestRefreshTokenShape). Opaque access tokens, whose value the library encrypts, still
// go through the library.

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"
)

// refreshToken answers the refresh_token grant for the authenticated client c when its
// access tokens are JWTs; it reports whether it answered.
func (p *Provider) refreshToken(w http.ResponseWriter, r *http.Request, c *client) bool {
	if !jwtGrant(r, c, oidc.GrantTypeRefreshToken) {
		return false
	}
	ctx := r.Context()
	s := p.storage
	fail := func(err error) bool { return p.grantFailure(w, r, "refresh token", err) }
	// The library's checks, in its order (AuthorizeRefreshClient, ValidateRefreshTokenRequest).
	token := r.PostForm.Get("refresh_token")
	if token == "" {
		return fail(oidc.ErrInvalidRequest().WithDescription("refresh_token missing"))
	}
	zc, err := s.GetClientByClientID(ctx, c.c.ID) // also the ID token's algorithm (requestInfo)
	if err != nil {
		return fail(err)
	}
	cl := zc.(*client)
	if !zop.ValidateGrantType(cl, oidc.GrantTypeRefreshToken) {
		return fail(oidc.ErrUnauthorizedClient())
	}
	req, err := s.TokenRequestByRefreshToken(ctx, token)
	if err != nil {
		return fail(oidc.ErrInvalidGrant().WithParent(err))
	}
	if cl.GetID() != req.GetClientID() {
		return fail(oidc.ErrInvalidGrant())
	}
	if sc := r.PostForm.Get("scope"); sc != "" { // an empty scope asks for no narrowing
		if err := zop.ValidateRefreshTokenScopes(strings.Split(sc, " "), req); err != nil {
			return fail(err)
		}
	}
	accessID, refresh, exp, err := s.CreateAccessAndRefreshTokens(ctx, req, token)
	if err != nil {
		return fail(err)
	}
	skew := cl.ClockSkew()
	validity := exp.Add(skew).Sub(time.Now().UTC())
	ui, err := p.idTokenClaims(ctx, cl, req)
	if err != nil {
		// The rotation committed: the client's retry within the grace gets new tokens.
		return fail(fmt.Errorf("refresh token claims for %s: %w", cl.GetID(), err))
	}
	access, idToken, err := p.grantJWTs(ctx, cl, req, accessID, exp, "", ui)
	if err != nil {
		// The rotation committed: the client's retry within the grace gets new tokens.
		return fail(fmt.Errorf("refresh token response for %s: %w", cl.GetID(), err))
	}
	if err := writeGrantTokens(w, requestInfoFrom(ctx), access, idToken, refresh, validity, req.GetScopes()); err != nil {
		return fail(err)
	}
	return true
}
