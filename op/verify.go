package op

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	// AMR are the methods that sign-in proved (the grant's amr); nil for a client's token.
	AMR []string
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
	token = objectClaims(token) // a null payload would panic the library's verification
	var tokenID, subject string
	if plain, err := p.zop.Crypto().Decrypt(token); err == nil {
		var ok bool
		if tokenID, subject, ok = strings.Cut(plain, ":"); !ok {
			return nil, ErrInvalidToken
		}
	} else {
		claims, err := zop.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, p.zop.AccessTokenVerifier(ctx))
		if err != nil && ri.storeFailed != nil {
			return nil, fmt.Errorf("access token keys: %w", ri.storeFailed) // not verified, not invalid
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		tokenID, subject = claims.JWTID, claims.Subject
	}
	at, g, err := p.storage.liveAccessToken(ctx, tokenID, subject)
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
	bt := &BearerToken{Subject: at.Subject, ClientID: at.ClientID, Scopes: at.Scopes, Person: at.GrantID != ""}
	if g != nil {
		bt.AMR = g.AMR
	}
	return bt, nil
}

// emptyClaims is the payload "{}": a JWT with no claims, which every verification refuses
// (no issuer) as it refuses any other invalid token.
const emptyClaims = "e30"

// objectClaims returns tok with its payload replaced by emptyClaims when tok is a compact JWT
// whose payload does not decode to a JSON object. The library decodes claims into a pointer
// that a JSON null sets to nil, and then reads the issuer from it: a panic (a 500 and an
// ERROR line) reachable without authentication. Any other token is returned as it is.
func objectClaims(tok string) string {
	head, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return tok
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return tok
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || isJSONObject(b) {
		return tok // an object, or refused by the library's own decoding
	}
	return head + "." + emptyClaims + "." + sig
}

// isJSONObject reports whether b starts as a JSON object does: decoding it then either fails
// or fills the claims, never sets them to nil.
func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// objectClaimsRequest applies objectClaims to every token of r the library verifies: the
// bearer token (header or form) at /userinfo, the token at introspection and revocation, and
// the id_token_hint at end_session. Each endpoint then answers as it answers any invalid token.
func objectClaimsRequest(r *http.Request) {
	var params []string
	switch r.URL.Path {
	case "/userinfo":
		if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
			if t := objectClaims(tok); t != tok {
				r.Header.Set("Authorization", scheme+" "+t)
			}
		}
		params = []string{"access_token"}
	case "/oauth/introspect", "/revoke":
		params = []string{"token"}
	case "/end_session":
		params = []string{"id_token_hint"}
	default:
		return
	}
	if r.ParseForm() != nil {
		return // the library refuses the request as unreadable
	}
	for _, k := range params {
		for _, form := range []url.Values{r.Form, r.PostForm} {
			for i, v := range form[k] {
				form[k][i] = objectClaims(v)
			}
		}
	}
}
