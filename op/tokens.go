package op

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// refreshIDPrefix marks token ids that GetRefreshTokenInfo hands back to RevokeToken, so
// that RevokeToken can tell a refresh token from an access-token id (ours never contain '.').
const refreshIDPrefix = "rt."

// CreateAccessToken issues an access token without a refresh token: a code exchange without
// offline_access, or client_credentials.
func (s *opStorage) CreateAccessToken(ctx context.Context, req zop.TokenRequest) (string, time.Time, error) {
	now := s.now()
	switch r := req.(type) {
	case authRequest:
		var id string
		var exp time.Time
		err := s.store.InTx(ctx, func(tx storage.Store) error {
			if err := tx.CreateGrant(ctx, s.grantFromAuthRequest(ctx, r, now)); err != nil {
				return err
			}
			var err error
			id, exp, err = s.newAccessToken(ctx, tx, r.ID, r.ClientID, r.UserID, r.Scopes, r.GetAudience(), now)
			return err
		})
		return id, exp, err
	case *clientCredentialsRequest:
		return s.newAccessToken(ctx, s.store, "", r.clientID, r.clientID, r.scopes, r.GetAudience(), now)
	case *zop.DeviceAuthorizationState:
		id, _, exp, err := s.deviceTokens(ctx, r, false)
		return id, exp, err
	default:
		return "", time.Time{}, fmt.Errorf("create access token: unsupported request %T", req)
	}
}

// CreateAccessAndRefreshTokens issues a first refresh token for a new grant, or rotates the
// presented one: the old token is consumed in SQL, and a token already consumed revokes the
// whole grant (reuse detection, RFC 9700 §4.14.2).
func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req zop.TokenRequest, current string) (string, string, time.Time, error) {
	now := s.now()
	switch r := req.(type) {
	case authRequest:
		var accessID, refresh string
		var exp time.Time
		err := s.store.InTx(ctx, func(tx storage.Store) error {
			g := s.grantFromAuthRequest(ctx, r, now)
			if err := tx.CreateGrant(ctx, g); err != nil {
				return err
			}
			var err error
			if accessID, exp, err = s.newAccessToken(ctx, tx, g.ID, g.ClientID, g.UserID, g.Scopes, g.Audience, now); err != nil {
				return err
			}
			refresh, err = s.newRefreshToken(ctx, tx, g, "", r.Scopes, now)
			return err
		})
		if err != nil {
			return "", "", time.Time{}, fmt.Errorf("issue tokens: %w", err)
		}
		return accessID, refresh, exp, nil
	case *refreshRequest:
		value, next := s.refreshRow(ctx, r.grant, r.token.ID, r.token.Scopes, now)
		// Not inside InTx: when the rotation detects reuse, its revocation of the grant must
		// commit even though we return an error.
		if err := s.store.RotateRefreshToken(ctx, secret.HashToken(current), next, now); err != nil {
			if errors.Is(err, storage.ErrAlreadyUsed) {
				s.log.WarnContext(ctx, "refresh token reused; grant revoked", "client_id", r.grant.ClientID, "user_id", r.grant.UserID)
			}
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithParent(err)
		}
		accessID, exp, err := s.newAccessToken(ctx, s.store, r.grant.ID, r.grant.ClientID, r.grant.UserID, r.scopes, r.grant.Audience, now)
		if err != nil {
			return "", "", time.Time{}, err
		}
		return accessID, value, exp, nil
	case *zop.DeviceAuthorizationState:
		return s.deviceTokens(ctx, r, true)
	default:
		return "", "", time.Time{}, fmt.Errorf("create tokens: unsupported request %T", req)
	}
}

func (s *opStorage) grantFromAuthRequest(ctx context.Context, r authRequest, now time.Time) *storage.Grant {
	ri := requestInfoFrom(ctx)
	// The grant id is the auth request id: a replayed code finds its grant without a lookup.
	return &storage.Grant{
		ID:         r.ID,
		UserID:     r.UserID,
		ClientID:   r.ClientID,
		Scopes:     r.Scopes,
		Audience:   r.GetAudience(),
		AuthTime:   r.AuthTime,
		AMR:        r.AMR,
		ACR:        r.ACR,
		SessionID:  r.SessionID,
		DeviceName: r.DeviceName,
		UserAgent:  ri.userAgent,
		IP:         ri.ip,
		CreatedAt:  now,
		LastUsedAt: now,
	}
}

func (s *opStorage) newAccessToken(ctx context.Context, st storage.Store, grantID, clientID, subject string, scopes, aud []string, now time.Time) (string, time.Time, error) {
	ttl := s.lifetimes.AccessToken
	if c, err := s.getClient(ctx, clientID); err == nil && c.AccessTokenTTL > 0 {
		ttl = c.AccessTokenTTL
	}
	id := secret.NewID()
	exp := now.Add(ttl)
	err := st.CreateAccessToken(ctx, &storage.AccessToken{
		IDHash:    secret.HashToken(id),
		GrantID:   grantID,
		ClientID:  clientID,
		Subject:   subject,
		Scopes:    scopes,
		Audience:  aud,
		CreatedAt: now,
		ExpiresAt: exp,
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("store access token: %w", err)
	}
	return id, exp, nil
}

func (s *opStorage) newRefreshToken(ctx context.Context, st storage.Store, g *storage.Grant, parent string, scopes []string, now time.Time) (string, error) {
	value, row := s.refreshRow(ctx, g, parent, scopes, now)
	if err := st.CreateRefreshToken(ctx, row); err != nil {
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return value, nil
}

// refreshRow mints a refresh token of grant g: the value for the client and the row to store
// (only its hash).
func (s *opStorage) refreshRow(ctx context.Context, g *storage.Grant, parent string, scopes []string, now time.Time) (string, *storage.RefreshToken) {
	value := secret.RandomToken(32)
	return value, &storage.RefreshToken{
		ID:        secret.NewID(),
		Hash:      secret.HashToken(value),
		GrantID:   g.ID,
		ParentID:  parent,
		ClientID:  g.ClientID,
		UserID:    g.UserID,
		Scopes:    scopes,
		CreatedAt: now,
		ExpiresAt: now.Add(s.refreshTTL(ctx, g.ClientID)),
	}
}

func (s *opStorage) refreshTTL(ctx context.Context, clientID string) time.Duration {
	if c, err := s.getClient(ctx, clientID); err == nil && c.RefreshTokenTTL > 0 {
		return c.RefreshTokenTTL
	}
	return s.lifetimes.RefreshToken
}

// TokenRequestByRefreshToken loads what a refresh token stands for. A token that was already
// rotated away is a replay: the whole family is revoked before we refuse it.
func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (zop.RefreshTokenRequest, error) {
	now := s.now()
	rt, err := s.store.GetRefreshToken(ctx, secret.HashToken(token))
	if err != nil {
		return nil, fmt.Errorf("refresh token: %w", err)
	}
	if rt.UsedAt != nil {
		if err := s.store.RevokeGrant(ctx, rt.GrantID, now); err != nil {
			s.log.ErrorContext(ctx, "revoke grant after refresh reuse", "err", err, "client_id", rt.ClientID)
		}
		s.log.WarnContext(ctx, "refresh token reused; grant revoked", "client_id", rt.ClientID, "user_id", rt.UserID)
		return nil, fmt.Errorf("refresh token: %w", storage.ErrAlreadyUsed)
	}
	if rt.RevokedAt != nil {
		return nil, fmt.Errorf("refresh token: %w", storage.ErrRevoked)
	}
	if !now.Before(rt.ExpiresAt) {
		return nil, fmt.Errorf("refresh token: %w", storage.ErrExpired)
	}
	g, err := s.store.GetGrant(ctx, rt.GrantID)
	if err != nil {
		return nil, fmt.Errorf("refresh token grant: %w", err)
	}
	if g.RevokedAt != nil {
		return nil, fmt.Errorf("refresh token grant: %w", storage.ErrRevoked)
	}
	return &refreshRequest{grant: g, token: rt, scopes: rt.Scopes}, nil
}

// GetRefreshTokenInfo identifies a refresh token for revocation.
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, err := s.store.GetRefreshToken(ctx, secret.HashToken(token))
	if err != nil {
		return "", "", zop.ErrInvalidRefreshToken
	}
	return rt.UserID, refreshIDPrefix + rt.Hash, nil
}

// RevokeToken implements RFC 7009. Revoking a refresh token revokes its whole grant (the
// access tokens too); revoking an access token revokes that token. Unknown tokens are not an
// error (RFC 7009 §2.2); another client's token is.
func (s *opStorage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	now := s.now()
	if hash, ok := strings.CutPrefix(tokenOrID, refreshIDPrefix); ok {
		rt, err := s.store.GetRefreshToken(ctx, hash)
		if err != nil {
			return nil
		}
		if rt.ClientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was issued to another client")
		}
		if err := s.store.RevokeGrant(ctx, rt.GrantID, now); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	}
	at, err := s.store.GetAccessToken(ctx, secret.HashToken(tokenOrID))
	if err != nil {
		return nil
	}
	if at.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was issued to another client")
	}
	if err := s.store.RevokeAccessToken(ctx, at.IDHash, now); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// TerminateSession is the plain variant; TerminateSessionFromRequest is used instead.
func (s *opStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	return nil
}

// TerminateSessionFromRequest ends the SSO session named by the id_token_hint's sid. Without
// an id_token_hint nothing is ended here: the person is sent to the logout page, which asks
// before signing out, so a cross-site link cannot sign anyone out.
func (s *opStorage) TerminateSessionFromRequest(ctx context.Context, req *zop.EndSessionRequest) (string, error) {
	if req.IDTokenHintClaims == nil || req.UserID == "" {
		return s.logoutURL(ctx, req), nil
	}
	sid := req.IDTokenHintClaims.SessionID
	if sid == "" {
		if v, ok := req.IDTokenHintClaims.Claims["sid"].(string); ok {
			sid = v
		}
	}
	if sid != "" {
		sess, err := s.store.GetSession(ctx, sid)
		if err == nil && sess.UserID == req.UserID {
			if err := s.store.RevokeSession(ctx, sid, s.now()); err != nil {
				return "", fmt.Errorf("end session: %w", err)
			}
		}
	}
	if s.postLogoutURI(ctx, req) == "" {
		return s.logoutPath + "?done=1", nil
	}
	// req.RedirectURI is the registered URI with state appended by the library.
	return req.RedirectURI, nil
}
