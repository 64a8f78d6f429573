package op

// The token answer of the user grants we answer ourselves (codegrant.go, refreshgrant.go)
// for clients with JWT access tokens: claims built by the library's own constructors, as its
// CreateJWT and CreateIDToken build them, each token signed once with its real key, and the
// library's answer and refusals.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/storage"
)

// jwtGrant reports whether r asks for grant and c's access tokens are JWTs: a user grant
// that codeToken or refreshToken answers. Opaque access tokens, whose value the library
// encrypts, go through the library.
func jwtGrant(r *http.Request, c *client, grant oidc.GrantType) bool {
	return r.PostForm.Get("grant_type") == string(grant) && c.c.AccessTokenFormat != storage.TokenFormatOpaque
}

// grantJWTs signs the access token of req (RFC 9068, as CreateJWT builds it) and its ID token
// (as CreateIDToken builds it, at_hash over the access token the client gets). For a code's
// auth request the ID token carries its nonce and acr, and code, when given, is hashed into
// c_hash, as the library does in a code exchange. ui is the ID token's user claims from
// idTokenClaims (nil: none).
func (p *Provider) grantJWTs(ctx context.Context, cl *client, req zop.IDTokenRequest, accessID string, exp time.Time, code string, ui *oidc.UserInfo) (string, string, error) {
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
	payload, err := marshalAccessClaims(at)
	if err != nil {
		return "", "", err
	}
	access, err := p.sign(ctx, p.cfg.AccessTokenAlg, accessTokenType, payload)
	if err != nil {
		return "", "", err
	}

	alg := idTokenAlg(ri)
	var nonce, acr string
	if ar, ok := req.(zop.AuthRequest); ok {
		nonce, acr = ar.GetNonce(), ar.GetACR()
	}
	idt := oidc.NewIDTokenClaims(p.cfg.Issuer, req.GetSubject(), req.GetAudience(),
		time.Now().UTC().Add(skew).Add(cl.IDTokenLifetime()), req.GetAuthTime(), nonce, acr, req.GetAMR(), req.GetClientID(), skew)
	if idt.AccessTokenHash, err = oidc.ClaimHash(access, alg); err != nil {
		return "", "", err
	}
	if ui != nil {
		idt.SetUserInfo(ui)
	}
	if code != "" {
		if idt.CodeHash, err = oidc.ClaimHash(code, alg); err != nil {
			return "", "", err
		}
	}
	if payload, err = marshalIDClaims(idt); err != nil {
		return "", "", err
	}
	idToken, err := p.sign(ctx, string(alg), "JWT", payload)
	return access, idToken, err
}

// idTokenClaims reads the user claims of req's ID token (as CreateIDToken gathers them; nil
// when its scopes ask for none).
func (p *Provider) idTokenClaims(ctx context.Context, cl *client, req zop.IDTokenRequest) (*oidc.UserInfo, error) {
	scopes := cl.RestrictAdditionalIdTokenScopes()(req.GetScopes())
	if !cl.IDTokenUserinfoClaimsAssertion() {
		scopes = removeUserinfoScopes(scopes)
	}
	if len(scopes) == 0 {
		return nil, nil
	}
	ui := new(oidc.UserInfo)
	if err := p.storage.SetUserinfoFromScopes(ctx, ui, req.GetSubject(), req.GetClientID(), scopes); err != nil {
		return nil, err
	}
	if err := p.storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return nil, err
	}
	return ui, nil
}

// idTokenAlg is the algorithm of the ID tokens of the client this request authenticated.
func idTokenAlg(ri *requestInfo) jose.SignatureAlgorithm {
	if ri.idTokenAlg == "" {
		return jose.RS256 // as SigningKey
	}
	return jose.SignatureAlgorithm(ri.idTokenAlg)
}

// writeGrantTokens writes the library's answer of a user grant (oidc.AccessTokenResponse),
// typed DPoP when the tokens are bound to this request's proof key (RFC 9449 §5).
func writeGrantTokens(w http.ResponseWriter, ri *requestInfo, access, idToken, refresh string, validity time.Duration, scopes []string) error {
	tokenType := oidc.BearerToken
	if ri.dpopJKT != "" {
		tokenType = "DPoP"
	}
	body, err := json.Marshal(&oidc.AccessTokenResponse{
		AccessToken:  access,
		IDToken:      idToken,
		RefreshToken: refresh,
		TokenType:    tokenType,
		ExpiresIn:    uint64(validity.Seconds()),
		Scope:        scopes,
	})
	if err != nil {
		return err
	}
	writeTokenJSON(w, body)
	return nil
}

// grantFailure answers a user grant we answer ourselves that did not give tokens, and
// reports that it answered. An *oidc.Error is the library's refusal, answered as the library
// does; any other error is ours to fail: logged with what (the grant), and answered with a
// bare server_error, its text not handed to the client (the fault mapping turns a store
// failure's answer into a 503). A resource the grant does not cover is invalid_target
// (RFC 8707 §2, see tokenWriter).
func (p *Provider) grantFailure(w http.ResponseWriter, r *http.Request, what string, err error) bool {
	ctx := r.Context()
	if requestInfoFrom(ctx).invalidTarget {
		writeOAuthError(w, &oidc.Error{ErrorType: errInvalidTarget,
			Description: "a requested resource is not among those granted"}, http.StatusBadRequest)
		return true
	}
	var oe *oidc.Error
	if !errors.As(err, &oe) {
		p.cfg.Logger.ErrorContext(ctx, what, "err", err)
		w.Header().Del(dpopNonceHeader)
		err = oidc.ErrServerError()
	}
	zop.RequestError(w, r, err, nil)
	return true
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
