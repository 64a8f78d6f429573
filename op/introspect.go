package op

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/myaccount/myaccount/internal/secret"
)

// introspectRefresh answers RFC 7662 introspection of a refresh token, which the library
// does not (it understands access tokens only). It reports whether it answered; anything that
// is not one of our refresh tokens is left to the library.
func (p *Provider) introspectRefresh(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		return false
	}
	token := r.PostForm.Get("token")
	if token == "" || r.PostForm.Get("token_type_hint") == "access_token" {
		return false
	}
	ctx := r.Context()
	rt, err := p.cfg.Store.GetRefreshToken(ctx, secret.HashToken(token))
	if err != nil {
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
	if err := p.storage.AuthorizeClientIDSecret(ctx, clientID, sec); err != nil {
		writeJSON(http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return true
	}
	now := p.cfg.Now().UTC()
	active := rt.ClientID == clientID && rt.UsedAt == nil && rt.RevokedAt == nil && now.Before(rt.ExpiresAt)
	if active {
		g, err := p.cfg.Store.GetGrant(ctx, rt.GrantID)
		active = err == nil && g.RevokedAt == nil
	}
	if !active {
		// Another client's token, a used or revoked one: inactive, and nothing more (§2.2).
		writeJSON(http.StatusOK, map[string]bool{"active": false})
		return true
	}
	writeJSON(http.StatusOK, map[string]any{
		"active": true, "token_type": "refresh_token", "client_id": rt.ClientID, "sub": rt.UserID,
		"scope": strings.Join(rt.Scopes, " "), "exp": rt.ExpiresAt.Unix(), "iat": rt.CreatedAt.Unix(),
	})
	return true
}
