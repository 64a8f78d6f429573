package op

// The authorization_code grant of a client with JWT access tokens, answered here rather
// than by the library.
//
// Through the library a code exchange signed two drafts with the throwaway key (atjwt.go),
// parsed its own answer back, and signed both tokens again: the drafts, that round trip and
// the library's claim building were a good part of the token endpoint's share of a
// sign-in. Here the request that preToken authenticated (client, resource indicators,
// DPoP, the verifier's syntax) goes through CodeExchange's checks in its order, with its
// errors, and through the same storage callbacks in the library's order (AuthRequestByCode,
// CreateAccessAndRefreshTokens or CreateAccessToken, GetPrivateClaimsFromRequest,
// SetUserinfoFromRequest, DeleteAuthRequest); the claims are built by the library's own
// constructors (grantJWTs) and each token is signed once. The code is consumed, and a
// replayed one revokes its grant, in those callbacks (exchangeCode). What the client gets
// is the library's answer, member for member (TestCodeTokenShape). Opaque access tokens,
// whose value the library encrypts, still go through the library.

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/storage"
)

// codeToken answers the authorization_code grant for the authenticated client c when its
// access tokens are JWTs; it reports whether it answered.
func (p *Provider) codeToken(w http.ResponseWriter, r *http.Request, c *client) bool {
	if !jwtGrant(r, c, oidc.GrantTypeCode) {
		return false
	}
	fail := func(err error) bool { return p.grantFailure(w, r, "code exchange", err) }
	// The library's checks, in its order (CodeExchange, AuthorizeCodeClient,
	// ValidateAccessTokenRequest); preToken authenticated the client already.
	code := r.PostForm.Get("code")
	if code == "" {
		return fail(oidc.ErrInvalidRequest().WithDescription("code missing"))
	}
	ctx, s := r.Context(), p.storage
	ar, err := s.AuthRequestByCode(ctx, code)
	if err != nil {
		if storage.Failed(err) && !errors.Is(err, errInvalid) {
			return fail(err) // ours: never invalid_grant
		}
		return fail(oidc.ErrInvalidGrant().WithDescription("invalid code").WithParent(err))
	}
	if !ar.Done() {
		// Never so: a code is stored only with a completed request.
		return fail(oidc.ErrInvalidGrant().WithDescription("invalid code"))
	}
	challenge := ar.GetCodeChallenge()
	if err := zop.AuthorizeCodeChallenge(r.PostForm.Get("code_verifier"), challenge); err != nil {
		return fail(err)
	}
	switch c.AuthMethod() {
	case oidc.AuthMethodPrivateKeyJWT:
		return fail(oidc.ErrInvalidClient().WithDescription("private_key_jwt not allowed for this client"))
	case oidc.AuthMethodNone:
		if challenge == nil {
			return fail(oidc.ErrInvalidRequest().WithDescription("PKCE required"))
		}
	}
	if c.GetID() != ar.GetClientID() {
		return fail(oidc.ErrInvalidGrant())
	}
	if !zop.ValidateGrantType(c, oidc.GrantTypeCode) {
		return fail(oidc.ErrUnauthorizedClient().WithDescription("client missing grant type " + string(oidc.GrantTypeCode)))
	}
	if r.PostForm.Get("redirect_uri") != ar.GetRedirectURI() {
		return fail(oidc.ErrInvalidGrant().WithDescription("redirect_uri does not correspond"))
	}

	// CreateTokenResponse: a refresh token as needsRefreshToken decides for an auth request.
	var accessID, refresh string
	var exp time.Time
	if slices.Contains(ar.GetScopes(), oidc.ScopeOfflineAccess) && ar.GetResponseType() == oidc.ResponseTypeCode &&
		zop.ValidateGrantType(c, oidc.GrantTypeRefreshToken) {
		accessID, refresh, exp, err = s.CreateAccessAndRefreshTokens(ctx, ar, "")
	} else {
		accessID, exp, err = s.CreateAccessToken(ctx, ar)
	}
	if err != nil {
		return fail(err) // a replayed or expired code is invalid_grant (exchangeCode)
	}
	validity := exp.Add(c.ClockSkew()).Sub(time.Now().UTC())
	ui, err := p.idTokenClaims(ctx, c, ar) // the user read before the code was used (AuthRequestByCode)
	var access, idToken string
	if err == nil {
		access, idToken, err = p.grantJWTs(ctx, c, ar, accessID, exp, code, ui)
	}
	if err == nil {
		err = s.DeleteAuthRequest(ctx, ar.GetID())
	}
	if err != nil {
		// The code is consumed: the client must sign in again. Nothing here should read the
		// store: the user and the signing keys were read before the code was used
		// (AuthRequestByCode), the licences claim with its use (exchangeCode).
		return fail(fmt.Errorf("code exchange response for %s: %w", c.GetID(), err))
	}
	if err := writeGrantTokens(w, requestInfoFrom(ctx), access, idToken, refresh, validity, ar.GetScopes()); err != nil {
		return fail(err)
	}
	return true
}
