package op

// The client_credentials grant of a JWT client, answered here rather than by the library.
//
// Through the library a machine token cost two signatures (the library's draft with the
// throwaway key, then ours as at+jwt, see atjwt.go), claims built through maps, and the
// library's answer parsed back and written again: about half of the grant's CPU. Here the
// authenticated request (preToken: client authentication, resource indicators, DPoP) gets
// its token in one signature. The token and the answer are the library's, member for member
// (stateless.go's claims, RFC 9068's typ; TestClientCredentialsTokenShape). Opaque tokens
// (which have rows) and the library's refusals still go through the library.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// ccClaims are a stateless client_credentials access token's claims, in the library's
// member order and encoding (oidc.AccessTokenClaims plus statelessPrivateClaims).
type ccClaims struct {
	Audience      []string  `json:"aud"`
	ClientCreated int64     `json:"client_created"`
	ClientID      string    `json:"client_id"`
	Cnf           *cnfClaim `json:"cnf,omitempty"`
	Expiration    oidc.Time `json:"exp"`
	GrantType     string    `json:"gty"`
	IssuedAt      oidc.Time `json:"iat"`
	Issuer        string    `json:"iss"`
	JWTID         string    `json:"jti"`
	NotBefore     oidc.Time `json:"nbf"`
	Scope         string    `json:"scope,omitempty"`
	Subject       string    `json:"sub"`
}

type cnfClaim struct {
	JKT string `json:"jkt"`
}

// ccResponse is the library's oidc.AccessTokenResponse for this grant.
type ccResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   uint64 `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	TokenType   string `json:"token_type"`
}

// clientCredentialsToken answers the grant for c when it is a confidential client allowed
// the grant and issued JWT access tokens; it reports whether it answered.
func (p *Provider) clientCredentialsToken(w http.ResponseWriter, r *http.Request, c *client) bool {
	cl := c.c
	if r.PostForm.Get("grant_type") != clientCredentials || cl.Type != storage.ClientConfidential {
		return false
	}
	if !slices.Contains(cl.GrantTypes, clientCredentials) {
		// Authenticated (preToken), but not allowed this grant: RFC 6749 §5.2's
		// unauthorized_client (the library says invalid_client, as if the secret were wrong).
		writeOAuthError(w, oidc.ErrUnauthorizedClient().WithDescription("client_credentials is not allowed for this client"), http.StatusBadRequest)
		return true
	}
	if cl.AccessTokenFormat == storage.TokenFormatOpaque {
		return false
	}
	ctx := r.Context()
	ri := requestInfoFrom(ctx)
	scopes := machineScopes(cl, strings.Split(r.PostForm.Get("scope"), " "))
	// As the library: issued and not-before from the wall clock, expiry from ours.
	issued := time.Now().UTC()
	exp := p.cfg.Now().Add(p.storage.accessTTL(cl))
	claims := ccClaims{
		Audience:      audience(cl.ID, ri.resources),
		ClientCreated: cl.CreatedAt.UnixMilli(),
		ClientID:      cl.ID,
		Expiration:    oidc.FromTime(exp),
		GrantType:     clientCredentials,
		IssuedAt:      oidc.FromTime(issued),
		Issuer:        p.cfg.Issuer,
		JWTID:         secret.NewID(),
		NotBefore:     oidc.FromTime(issued),
		Scope:         strings.Join(scopes, " "),
		Subject:       cl.ID,
	}
	tokenType := oidc.BearerToken
	if ri.dpopJKT != "" {
		claims.Cnf = &cnfClaim{JKT: ri.dpopJKT}
		tokenType = "DPoP"
	}
	payload, err := json.Marshal(claims)
	if err == nil {
		var tok string
		if tok, err = p.sign(ctx, p.cfg.AccessTokenAlg, accessTokenType, payload); err == nil {
			var body []byte
			body, err = json.Marshal(ccResponse{
				AccessToken: tok,
				ExpiresIn:   uint64(exp.Sub(time.Now().UTC()).Seconds()),
				Scope:       claims.Scope,
				TokenType:   tokenType,
			})
			if err == nil {
				p.storage.countToken(&clientCredentialsRequest{clientID: cl.ID, scopes: scopes})
				writeTokenJSON(w, body)
				return true
			}
		}
	}
	// Ours to fail: the signing key could not be read, or a signature not made.
	p.cfg.Logger.ErrorContext(ctx, "client_credentials token", "client_id", cl.ID, "err", err)
	w.Header().Del(dpopNonceHeader)
	writeOAuthError(w, oidc.ErrServerError(), http.StatusInternalServerError)
	return true
}

// writeTokenJSON writes a successful token response (our grants' answers, with their length).
func writeTokenJSON(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
