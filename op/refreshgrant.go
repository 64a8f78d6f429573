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
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/storage"
)

// refreshToken answers the refresh_token grant for the authenticated client c when its
// access tokens are JWTs; it reports whether it answered.
func (p *Provider) refreshToken(w http.ResponseWriter, r *http.Request, c *client) bool {
	if r.PostForm.Get("grant_type") != string(oidc.GrantTypeRefreshToken) || c.c.AccessTokenFormat == storage.TokenFormatOpaque {
		return false
	}
	ctx := r.Context()
	ri := requestInfoFrom(ctx)
	s := p.storage
	fail := func(err error) bool {
		if ri.invalidTarget {
			// RFC 8707 §2: a resource the grant does not cover (see tokenWriter).
			writeOAuthError(w, &oidc.Error{ErrorType: errInvalidTarget,
				Description: "a requested resource is not among those granted"}, http.StatusBadRequest)
			return true
		}
		var oe *oidc.Error
		if !errors.As(err, &oe) {
			// Ours to fail, and its text is ours: logged, not handed to the client (the
			// fault mapping turns a store failure's answer into a 503).
			p.cfg.Logger.ErrorContext(ctx, "refresh token", "err", err)
			err = oidc.ErrServerError()
		}
		zop.RequestError(w, r, err, nil)
		return true
	}
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
	access, idToken, err := p.refreshJWTs(r, cl, req, accessID, exp)
	if err != nil {
		// The rotation committed: the client's retry within the grace gets new tokens.
		return fail(fmt.Errorf("refresh token response for %s: %w", cl.GetID(), err))
	}
	tokenType := oidc.BearerToken
	if ri.dpopJKT != "" {
		tokenType = "DPoP" // RFC 9449 §5
	}
	body, err := json.Marshal(&oidc.AccessTokenResponse{
		AccessToken:  access,
		IDToken:      idToken,
		RefreshToken: refresh,
		TokenType:    tokenType,
		ExpiresIn:    uint64(validity.Seconds()),
		Scope:        req.GetScopes(),
	})
	if err != nil {
		return fail(err)
	}
	writeTokenJSON(w, body)
	return true
}

// refreshJWTs signs a refresh's access token (RFC 9068, as CreateJWT builds it) and ID token
// (as CreateIDToken builds it, at_hash over the access token the client gets).
func (p *Provider) refreshJWTs(r *http.Request, cl *client, req zop.RefreshTokenRequest, accessID string, exp time.Time) (string, string, error) {
	ctx := r.Context()
	ri := requestInfoFrom(ctx)
	s := p.storage
	skew := cl.ClockSkew()
	at := oidc.NewAccessTokenClaims(p.cfg.Issuer, req.GetSubject(), req.GetAudience(), exp, accessID, cl.GetID(), skew)
	private, err := s.GetPrivateClaimsFromRequest(ctx, req, removeUserinfoScopes(cl.RestrictAdditionalAccessTokenScopes()(req.GetScopes())))
	ri.signingAccessToken = false // no SigningKey call follows here
	if err != nil {
		return "", "", err
	}
	at.Claims = private
	payload, err := json.Marshal(at)
	if err != nil {
		return "", "", err
	}
	access, err := p.sign(ctx, p.cfg.AccessTokenAlg, accessTokenType, payload)
	if err != nil {
		return "", "", err
	}

	alg := ri.idTokenAlg
	if alg == "" {
		alg = string(jose.RS256) // as SigningKey
	}
	idt := oidc.NewIDTokenClaims(p.cfg.Issuer, req.GetSubject(), req.GetAudience(),
		time.Now().UTC().Add(skew).Add(cl.IDTokenLifetime()), req.GetAuthTime(), "", "", req.GetAMR(), req.GetClientID(), skew)
	if idt.AccessTokenHash, err = oidc.ClaimHash(access, jose.SignatureAlgorithm(alg)); err != nil {
		return "", "", err
	}
	scopes := cl.RestrictAdditionalIdTokenScopes()(req.GetScopes())
	if !cl.IDTokenUserinfoClaimsAssertion() {
		scopes = removeUserinfoScopes(scopes)
	}
	if len(scopes) > 0 {
		ui := new(oidc.UserInfo)
		if err := s.SetUserinfoFromScopes(ctx, ui, req.GetSubject(), req.GetClientID(), scopes); err != nil {
			return "", "", err
		}
		if err := s.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
			return "", "", err
		}
		idt.SetUserInfo(ui)
	}
	if payload, err = json.Marshal(idt); err != nil {
		return "", "", err
	}
	idToken, err := p.sign(ctx, alg, "JWT", payload)
	return access, idToken, err
}

// removeUserinfoScopes is the library's (unexported there): the scopes that only ask for
// user claims do not go into an access token.
func removeUserinfoScopes(scopes []string) []string {
	return slices.DeleteFunc(slices.Clone(scopes), func(s string) bool {
		switch s {
		case oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeAddress, oidc.ScopePhone:
			return true
		}
		return false
	})
}
