package admin

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/clientmeta"
	"github.com/myaccount/myaccount/storage"
)

// Protocol is what a client registers for the protocol features of issue 16: private_key_jwt
// client authentication (RFC 7523), back-channel logout, pushed authorization requests (RFC
// 9126), DPoP (RFC 9449) and resource indicators (RFC 8707). The zero value is none of them.
type Protocol struct {
	// TokenEndpointAuthMethod is "" (the type's default) or "private_key_jwt", which needs
	// exactly one of JWKS and JWKSURI.
	TokenEndpointAuthMethod          string   `json:"token_endpoint_auth_method,omitempty"`
	JWKSURI                          string   `json:"jwks_uri,omitempty"`
	JWKS                             string   `json:"jwks,omitempty"` // a JWK Set, JSON; public keys only
	BackchannelLogoutURI             string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool     `json:"backchannel_logout_session_required,omitempty"`
	RequirePAR                       bool     `json:"require_pushed_authorization_requests,omitempty"`
	DPoPBoundAccessTokens            bool     `json:"dpop_bound_access_tokens,omitempty"`
	Resources                        []string `json:"resources,omitempty"`
}

func protocolOf(c *storage.Client) Protocol {
	return Protocol{
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKSURI: c.JWKSURI, JWKS: c.JWKS,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		RequirePAR: c.RequirePAR, DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, Resources: nonNil(c.Resources),
	}
}

func (p Protocol) applyTo(c *storage.Client) {
	c.TokenEndpointAuthMethod, c.JWKSURI, c.JWKS = p.TokenEndpointAuthMethod, p.JWKSURI, p.JWKS
	c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = p.BackchannelLogoutURI, p.BackchannelLogoutSessionRequired
	c.RequirePAR, c.DPoPBoundAccessTokens, c.Resources = p.RequirePAR, p.DPoPBoundAccessTokens, p.Resources
}

// maxJWKS bounds a registered key set; a handful of keys is a few kilobytes.
const maxJWKS = 64 << 10

// checkProtocol validates p for a client of type typ.
func checkProtocol(p Protocol, typ string) []Problem {
	var out []Problem
	bad := func(field, value, reason string) {
		out = append(out, Problem{Field: field, Value: value, Reason: reason})
	}
	switch p.TokenEndpointAuthMethod {
	case "":
	case storage.AuthMethodPrivateKeyJWT:
		if typ != storage.ClientConfidential {
			bad("token_endpoint_auth_method", p.TokenEndpointAuthMethod, "needs a confidential client")
		}
		if (p.JWKS == "") == (p.JWKSURI == "") {
			bad("token_endpoint_auth_method", p.TokenEndpointAuthMethod, "needs exactly one of jwks and jwks_uri")
		}
	default:
		bad("token_endpoint_auth_method", p.TokenEndpointAuthMethod, "must be private_key_jwt or empty (the client type's default)")
	}
	if p.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT && (p.JWKS != "" || p.JWKSURI != "") {
		bad("jwks", "", "is used only with token_endpoint_auth_method private_key_jwt")
	}
	if p.JWKSURI != "" {
		if reason := checkServerURL(p.JWKSURI); reason != "" {
			bad("jwks_uri", p.JWKSURI, reason)
		}
	}
	if p.JWKS != "" {
		if reason := CheckJWKS(p.JWKS); reason != "" {
			bad("jwks", "", reason)
		}
	}
	if p.BackchannelLogoutURI != "" {
		if reason := checkServerURL(p.BackchannelLogoutURI); reason != "" {
			bad("backchannel_logout_uri", p.BackchannelLogoutURI, reason)
		}
	} else if p.BackchannelLogoutSessionRequired {
		bad("backchannel_logout_session_required", "true", "needs a backchannel_logout_uri")
	}
	for _, r := range p.Resources {
		if reason := checkResource(r); reason != "" {
			bad("resources", r, reason)
		}
	}
	return out
}

// checkServerURL checks an address the server itself calls (a JWK Set, a logout endpoint):
// https, or plain http on loopback only, where no network sees it; no fragment, no user.
func checkServerURL(raw string) string {
	if len(raw) > clientmeta.MaxLen {
		return "is longer than 2000 characters"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "is not an absolute URL"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not contain a fragment"
	}
	if u.User != nil {
		return "must not contain a user name or password"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if h := u.Hostname(); h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return ""
		}
		return "must use https (plain http only on loopback)"
	default:
		return "must use https"
	}
}

// checkResource follows RFC 8707 §2: an absolute URI without a fragment.
func checkResource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || len(raw) > clientmeta.MaxLen {
		return "must be an absolute URI"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not contain a fragment"
	}
	return ""
}

// CheckJWKS tells why s is not a usable client key set ("" if it is): a JSON JWK Set of at
// least one valid public signing key. A private key is refused, so a secret pasted by
// mistake is never stored.
func CheckJWKS(s string) string {
	if len(s) > maxJWKS {
		return "is larger than 64 KiB"
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(s), &set); err != nil {
		return "is not a JSON Web Key Set"
	}
	if len(set.Keys) == 0 {
		return "holds no key"
	}
	for _, k := range set.Keys {
		if !k.Valid() {
			return "holds an invalid key"
		}
		if !k.IsPublic() {
			return "holds a private or symmetric key; register public keys only"
		}
		if k.Use != "" && k.Use != "sig" {
			return "holds a key whose use is not sig"
		}
	}
	return ""
}
