package op

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/myaccount/myaccount/internal/secret"
)

// refreshTokenLen is the length of every refresh token we mint (secret.RandomToken(32), see
// refreshRow).
var refreshTokenLen = base64.RawURLEncoding.EncodedLen(32)

// mayBeRefreshToken reports whether token has the shape of our refresh tokens. Access tokens
// never do (a JWT has dots; an opaque one is longer), so their introspection skips the
// refresh-token lookup, a database round trip.
func mayBeRefreshToken(token string) bool {
	return len(token) == refreshTokenLen && !strings.Contains(token, ".")
}

// introspectRefresh answers RFC 7662 introspection of a refresh token, which the library
// does not (it understands access tokens only). It reports whether it answered; anything that
// is not one of our refresh tokens is left to the library.
func (p *Provider) introspectRefresh(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		return false
	}
	token := r.PostForm.Get("token")
	if !mayBeRefreshToken(token) || r.PostForm.Get("token_type_hint") == "access_token" {
		return false
	}
	clientID, sec, ok := r.BasicAuth()
	if ok {
		// RFC 6749 §2.3.1: the credentials are form-encoded before Basic encoding.
		clientID, _ = url.QueryUnescape(clientID)
		sec, _ = url.QueryUnescape(sec)
	} else {
		clientID, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	writeJSON := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	ctx := r.Context()
	// The client authenticates before its token is looked at.
	if err := p.storage.AuthorizeClientIDSecret(ctx, clientID, sec); err != nil {
		writeJSON(http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return true
	}
	// The token with its grant, in the one read a refresh uses.
	rt, g, _, err := p.cfg.Store.GetRefreshTokenGrant(ctx, secret.HashToken(token))
	if err != nil {
		noteStoreFailure(ctx, err)
		return false
	}
	now := p.cfg.Now().UTC()
	active := rt.ClientID == clientID && rt.UsedAt == nil && rt.RevokedAt == nil && now.Before(rt.ExpiresAt) &&
		g.RevokedAt == nil
	if !active {
		// Another client's token, a used or revoked one: inactive, and nothing more (§2.2).
		writeJSON(http.StatusOK, map[string]bool{"active": false})
		return true
	}
	writeJSON(http.StatusOK, refreshIntrospection{
		Active: true, TokenType: "refresh_token", ClientID: rt.ClientID, Subject: rt.UserID,
		Scope: strings.Join(rt.Scopes, " "), Expiry: rt.ExpiresAt.Unix(), IssuedAt: rt.CreatedAt.Unix(),
	})
	return true
}

// refreshIntrospection is the RFC 7662 answer for an active refresh token.
type refreshIntrospection struct {
	Active    bool   `json:"active"`
	ClientID  string `json:"client_id"`
	Expiry    int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	Scope     string `json:"scope"`
	Subject   string `json:"sub"`
	TokenType string `json:"token_type"`
}
