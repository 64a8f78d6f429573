package op

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/storage"
)

// authRequest adapts storage.AuthRequest to zop.AuthRequest.
type authRequest struct{ *storage.AuthRequest }

var _ zop.AuthRequest = authRequest{}

func (a authRequest) GetID() string          { return a.ID }
func (a authRequest) GetACR() string         { return a.ACR }
func (a authRequest) GetAMR() []string       { return a.AMR }
func (a authRequest) GetAudience() []string  { return audience(a.ClientID, a.Resources) }
func (a authRequest) GetAuthTime() time.Time { return a.AuthTime }
func (a authRequest) GetClientID() string    { return a.ClientID }
func (a authRequest) GetNonce() string       { return a.Nonce }
func (a authRequest) GetRedirectURI() string { return a.RedirectURI }
func (a authRequest) GetScopes() []string    { return a.Scopes }
func (a authRequest) GetState() string       { return a.State }
func (a authRequest) GetSubject() string     { return a.UserID }
func (a authRequest) Done() bool             { return a.AuthRequest.Done }
func (a authRequest) GetSessionID() string   { return a.SessionID }
func (a authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.ResponseType)
}
func (a authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.ResponseMode)
}
func (a authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethod(a.CodeChallengeMethod)}
}

// refreshRequest is what a refresh token stands for: its grant, with the scopes of this use.
type refreshRequest struct {
	grant  *storage.Grant
	token  *storage.RefreshToken
	scopes []string
	// aud is the audience of this use: the grant's, or fewer resources (RFC 8707).
	aud []string
}

var _ zop.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string            { return r.grant.AMR }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.grant.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.grant.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.grant.UserID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }
func (r *refreshRequest) GetSessionID() string        { return r.grant.SessionID }

// GetAudience is this use's audience (see aud), else the grant's.
func (r *refreshRequest) GetAudience() []string {
	if r.aud != nil {
		return r.aud
	}
	return r.grant.Audience
}

// clientCredentialsRequest is a client_credentials token request: the client is the subject.
type clientCredentialsRequest struct {
	clientID string
	scopes   []string
	// resources are the checked resource indicators (RFC 8707) of the request.
	resources []string
}

func (c *clientCredentialsRequest) GetSubject() string    { return c.clientID }
func (c *clientCredentialsRequest) GetAudience() []string { return audience(c.clientID, c.resources) }
func (c *clientCredentialsRequest) GetScopes() []string   { return c.scopes }

// client adapts storage.Client to zop.Client.
type client struct {
	c        *storage.Client
	loginURL func(string) string
	defaults Lifetimes
	// asserted: this request authenticated the client by a private_key_jwt assertion.
	asserted bool
}

var _ zop.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c *client) LoginURL(id string) string        { return c.loginURL(id) }
func (c *client) DevMode() bool                    { return false }
func (c *client) ClockSkew() time.Duration         { return 0 }

// IDTokenUserinfoClaimsAssertion is true so that the ID token carries the profile and email
// claims the scopes ask for, even when an access token is issued alongside.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *client) ApplicationType() zop.ApplicationType {
	switch c.c.Type {
	case storage.ClientNative:
		return zop.ApplicationTypeNative
	case storage.ClientPublic:
		return zop.ApplicationTypeUserAgent
	default:
		return zop.ApplicationTypeWeb
	}
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.TokenEndpointAuthMethod == storage.AuthMethodPrivateKeyJWT && !c.asserted {
		return oidc.AuthMethodPrivateKeyJWT
	}
	// A verified assertion was handed on to the library as Basic without a secret, which
	// AuthorizeClientIDSecret accepts for this client in this request only.
	if c.c.Type == storage.ClientConfidential {
		// Basic is what we announce; the library accepts client_secret_post as well.
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodNone
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

func (c *client) AccessTokenType() zop.AccessTokenType {
	if c.c.AccessTokenFormat == storage.TokenFormatOpaque {
		return zop.AccessTokenTypeBearer
	}
	return zop.AccessTokenTypeJWT
}

func (c *client) IDTokenLifetime() time.Duration {
	if c.c.IDTokenTTL > 0 {
		return c.c.IDTokenTTL
	}
	return c.defaults.IDToken
}

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed admits the non-standard scopes registered for the client; the library
// admits the OIDC standard scopes itself.
func (c *client) IsScopeAllowed(scope string) bool {
	for _, s := range c.c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}
