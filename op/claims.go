package op

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// SetUserinfoFromScopes is deprecated in the library; SetUserinfoFromRequest does the work.
func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// sessionIDer is implemented by the requests that come from a browser sign-in.
type sessionIDer interface{ GetSessionID() string }

// SetUserinfoFromRequest fills the ID token's user claims, plus sid.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req zop.IDTokenRequest, scopes []string) error {
	if err := s.fillUserinfo(ctx, ui, req.GetSubject(), scopes); err != nil {
		return err
	}
	if err := s.addLicencesClaim(ctx, ui, req, scopes); err != nil {
		return err
	}
	if r, ok := req.(sessionIDer); ok && r.GetSessionID() != "" {
		ui.AppendClaims("sid", r.GetSessionID())
	}
	return nil
}

// SetUserinfoFromToken serves /userinfo: the access token must be live (not revoked, not
// expired, its grant not revoked) and belong to a user.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	at, _, err := s.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if at.GrantID == "" {
		return fmt.Errorf("userinfo: token has no user: %w", errInvalid)
	}
	if err := checkTokenBinding(requestInfoFrom(ctx), at); err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if err := s.fillUserinfo(ctx, ui, subject, at.Scopes); err != nil {
		return err
	}
	es, ok, err := s.tokenLicences(ctx, at)
	if err != nil {
		return err
	}
	if ok {
		ui.AppendClaims(licence.Scope, es)
	}
	return nil
}

// SetIntrospectionFromToken serves RFC 7662. Any authenticated client may learn whether a
// token is active, but only the token's own audience gets its details beyond that.
func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	at, _, err := s.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if !slices.Contains(at.Audience, clientID) && at.ClientID != clientID {
		return fmt.Errorf("introspect: client %q is not in the audience: %w", clientID, errInvalid)
	}
	resp.Scope = at.Scopes
	resp.ClientID = at.ClientID
	resp.Subject = at.Subject
	resp.Audience = at.Audience
	resp.Expiration = oidc.FromTime(at.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(at.CreatedAt)
	resp.TokenType = oidc.BearerToken
	if at.DPoPJKT != "" {
		// RFC 9449 §6.2: the resource server learns the key the token is bound to.
		resp.TokenType = "DPoP"
		if resp.Claims == nil {
			resp.Claims = map[string]any{}
		}
		resp.Claims["cnf"] = map[string]string{"jkt": at.DPoPJKT}
	}
	if at.GrantID != "" {
		// A person who is not active has their token answered without their claims; a
		// store failure is ours: the answer is a 503 (introspectWriter), never the token
		// without the claims its scopes promise.
		ui := new(oidc.UserInfo)
		switch err := s.fillUserinfo(ctx, ui, subject, at.Scopes); {
		case err == nil:
			resp.SetUserInfo(ui)
		case fault.Is(err):
			noteStoreFailure(ctx, err)
			return err
		}
		// The product's entitlement summary; a store failure makes the answer a 503
		// (introspectWriter), never "inactive".
		es, ok, err := s.tokenLicences(ctx, at)
		if err != nil {
			return err
		}
		if ok {
			if resp.Claims == nil {
				resp.Claims = map[string]any{}
			}
			resp.Claims[licence.Scope] = es
		}
	}
	return nil
}

// liveAccessToken decides whether the access token tokenID of subject is active, and returns
// it with its grant, which it reads anyway (nil for a token without one: a client's own).
func (s *opStorage) liveAccessToken(ctx context.Context, tokenID, subject string) (*storage.AccessToken, *storage.Grant, error) {
	if c, ok := s.statelessClaims(ctx, tokenID, subject); ok {
		return s.liveStatelessToken(ctx, tokenID, c)
	}
	at, err := s.store.GetAccessToken(ctx, secret.HashToken(tokenID))
	if err != nil {
		noteStoreFailure(ctx, err)
		return nil, nil, fmt.Errorf("access token: %w", err)
	}
	switch {
	case at.RevokedAt != nil:
		return nil, nil, fmt.Errorf("access token: %w", storage.ErrRevoked)
	case !s.now().Before(at.ExpiresAt):
		return nil, nil, fmt.Errorf("access token: %w", storage.ErrExpired)
	case !secret.Equal(at.Subject, subject):
		return nil, nil, fmt.Errorf("access token: subject mismatch: %w", errInvalid)
	}
	var g *storage.Grant
	if at.GrantID != "" {
		g, err = s.store.GetGrant(ctx, at.GrantID)
		if err != nil {
			noteStoreFailure(ctx, err)
			return nil, nil, fmt.Errorf("access token grant: %w", err)
		}
		if g.RevokedAt != nil {
			return nil, nil, fmt.Errorf("access token grant: %w", storage.ErrRevoked)
		}
	}
	return at, g, nil
}

// fillUserinfo maps the account onto the standard claims the scopes ask for.
func (s *opStorage) fillUserinfo(ctx context.Context, ui *oidc.UserInfo, userID string, scopes []string) error {
	u := requestInfoFrom(ctx).tokenUser // read with the code or refresh token
	if u == nil || u.ID != userID {
		var err error
		if u, err = s.store.GetUser(ctx, userID); err != nil {
			return fmt.Errorf("userinfo user: %w", err)
		}
	}
	if !u.MaySignIn() {
		return fmt.Errorf("userinfo user %q is %s: %w", userID, u.Status, errInvalid)
	}
	ui.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeEmail:
			ui.Email = u.Email
			ui.EmailVerified = oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			ui.Name = u.Name
			ui.Zoneinfo = u.ZoneInfo
			if u.Locale != "" {
				if tag, err := language.Parse(u.Locale); err == nil {
					ui.Locale = oidc.NewLocale(tag)
				}
			}
			ui.UpdatedAt = oidc.FromTime(u.UpdatedAt)
		case oidc.ScopeAddress:
			if u.Country != "" {
				ui.Address = &oidc.UserInfoAddress{Country: u.Country, Region: u.Region}
			}
		case oidc.ScopePhone:
			if err := s.fillPhone(ctx, ui, userID); err != nil {
				return err
			}
		}
	}
	return nil
}

// GetPrivateClaimsFromScopes adds nothing to JWT access tokens beyond the standard claims.
// The library calls GetPrivateClaimsFromRequest instead, since we implement it.
func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetPrivateClaimsFromRequest adds a user's JWT access token's scopes and the grant it names
// (it has no row); a client_credentials one, which is stateless, gets its mark and scopes
// (see stateless.go). The library calls it
// while building a JWT access token, right before it asks SigningKey for the key, and only
// then: so it marks that next key as the access token's (see SigningKey).
func (s *opStorage) GetPrivateClaimsFromRequest(ctx context.Context, req zop.TokenRequest, _ []string) (map[string]any, error) {
	ri := requestInfoFrom(ctx)
	ri.signingAccessToken = true
	m := map[string]any{}
	if r, ok := req.(*clientCredentialsRequest); ok {
		var err error
		if m, err = s.statelessPrivateClaims(ctx, r); err != nil {
			return nil, err
		}
	} else {
		if sc := req.GetScopes(); len(sc) > 0 {
			m["scope"] = strings.Join(sc, " ") // RFC 9068 §2.2.3
		}
		if ri.accessGrant != "" {
			m[grantIDClaim] = ri.accessGrant // no row: the grant decides (stateless.go)
		}
	}
	if ri.dpopJKT != "" {
		m["cnf"] = map[string]string{"jkt": ri.dpopJKT} // RFC 9449 §6.1
	}
	return m, nil
}
