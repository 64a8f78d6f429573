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
	id, exp, err := s.createAccessToken(ctx, req)
	if err == nil {
		s.countToken(req)
	}
	return id, exp, err
}

// countToken reports an issued token by its grant type (metrics).
func (s *opStorage) countToken(req zop.TokenRequest) {
	if s.onToken == nil {
		return
	}
	grant := "other"
	switch req.(type) {
	case authRequest:
		grant = "authorization_code"
	case *clientCredentialsRequest:
		grant = "client_credentials"
	case *refreshRequest:
		grant = "refresh_token"
	case *zop.DeviceAuthorizationState:
		grant = "device_code"
	}
	s.onToken(grant)
}

func (s *opStorage) createAccessToken(ctx context.Context, req zop.TokenRequest) (string, time.Time, error) {
	now := s.now()
	switch r := req.(type) {
	case authRequest:
		var id string
		var exp time.Time
		err := s.exchangeCode(ctx, r, now, func(tx storage.Store, g *storage.Grant) error {
			var err error
			id, exp, err = s.newGrant(ctx, tx, g, now)
			return err
		})
		return id, exp, err
	case *clientCredentialsRequest:
		c, err := s.getClient(ctx, r.clientID)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("client %q: %w", r.clientID, err)
		}
		if c.AccessTokenFormat != storage.TokenFormatOpaque {
			// A JWT: stateless, nothing stored (see stateless.go). An opaque token keeps its row.
			return secret.NewID(), now.Add(s.accessTTL(c)), nil
		}
		return s.newAccessToken(ctx, s.store, r.clientID, r.scopes, r.GetAudience(), now)
	case *zop.DeviceAuthorizationState:
		id, _, exp, err := s.deviceTokens(ctx, r, false)
		return id, exp, err
	default:
		return "", time.Time{}, fmt.Errorf("create access token: unsupported request %T", req)
	}
}

// CreateAccessAndRefreshTokens issues a first refresh token for a new grant, or rotates the
// presented one: the old token is consumed in SQL, and a token already consumed revokes the
// whole grant (reuse detection, RFC 9700 §4.14.2), unless it is a retry within the grace.
func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req zop.TokenRequest, current string) (string, string, time.Time, error) {
	id, refresh, exp, err := s.createAccessAndRefreshTokens(ctx, req, current)
	if err == nil {
		s.countToken(req)
	}
	return id, refresh, exp, err
}

func (s *opStorage) createAccessAndRefreshTokens(ctx context.Context, req zop.TokenRequest, current string) (string, string, time.Time, error) {
	now := s.now()
	switch r := req.(type) {
	case authRequest:
		var accessID, refresh string
		var exp time.Time
		err := s.exchangeCode(ctx, r, now, func(tx storage.Store, g *storage.Grant) error {
			var err error
			if accessID, exp, err = s.newGrant(ctx, tx, g, now); err != nil {
				return err
			}
			refresh, err = s.newRefreshToken(ctx, tx, g, "", r.Scopes, now)
			return err
		})
		if err != nil {
			return "", "", time.Time{}, err
		}
		return accessID, refresh, exp, nil
	case *refreshRequest:
		return s.rotate(ctx, r, current, now)
	case *zop.DeviceAuthorizationState:
		return s.deviceTokens(ctx, r, true)
	default:
		return "", "", time.Time{}, fmt.Errorf("create tokens: unsupported request %T", req)
	}
}

// exchangeCode consumes the authorization code and runs issue (grant and tokens) and the
// licences claim (codeLicences) in one transaction: if storing the tokens or binding a seat
// fails, the code stays unused and the client's retry with the same code works.
//
// Unlike a refresh token, a code has no retry grace: once the exchange has committed, a
// second presentation revokes what the first issued, even if the first response was lost
// (RFC 6749 §4.1.2: the server SHOULD revoke the tokens issued from a code used twice). A
// code travels through the browser and can leak from it; a refresh token travels only
// between the client and us, and its retry is further limited to the token's own
// authenticated client and to successors never used.
func (s *opStorage) exchangeCode(ctx context.Context, r authRequest, now time.Time, issue func(tx storage.Store, g *storage.Grant) error) error {
	if r.CodeHash == "" {
		return errors.New("exchange code: the auth request has no code")
	}
	replayed := false
	err := s.store.InTx(ctx, func(tx storage.Store) error {
		replayed = false // a retried transaction starts over
		_, err := tx.ConsumeAuthCode(ctx, r.CodeHash, now)
		if errors.Is(err, storage.ErrAlreadyUsed) {
			// A concurrent exchange won since AuthRequestByCode looked: a replay all the same.
			// Revoke in this transaction and commit it, then refuse.
			replayed = true
			if err := tx.RevokeGrant(ctx, r.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			return nil
		}
		if err != nil {
			return err
		}
		g := s.grantFromAuthRequest(ctx, r, now) // anew in a retried transaction
		if err := issue(tx, g); err != nil {
			return err
		}
		// The licences claim binds a seat to the new grant: in this transaction, so that a
		// failure leaves the code usable.
		return s.codeLicences(ctx, tx, g)
	})
	switch {
	case err == nil && replayed:
		s.log.WarnContext(ctx, "authorization code replayed; grant revoked", "client_id", r.ClientID, "user_id", r.UserID)
		return oidc.ErrInvalidGrant().WithDescription("invalid code")
	case errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrNotFound):
		return oidc.ErrInvalidGrant().WithDescription("invalid code").WithParent(err)
	case err != nil:
		return fmt.Errorf("issue tokens: %w", err)
	}
	return nil
}

// rotate exchanges a refresh token: the rotation and the new access token commit together, so
// a failure in between leaves the presented token unused for the client's retry.
//
// A client that lost the response of a committed rotation (a dropped connection, a crash)
// retries with the only token it has, the previous one. Within Lifetimes.RetryGrace after
// that rotation, from the same client, and while no successor was used, the store answers
// with a fresh successor and retires the one the client never received (only token hashes
// are stored, so the same successor cannot be returned). Anything else is reuse: the grant
// is revoked, and that revocation commits even though the client gets invalid_grant.
func (s *opStorage) rotate(ctx context.Context, r *refreshRequest, current string, now time.Time) (string, string, time.Time, error) {
	grace := storage.RefreshGrace{Window: s.lifetimes.RetryGrace, ClientID: presentingClient(ctx)}
	var accessID, value string
	var exp time.Time
	reused := false
	err := s.store.InTx(ctx, func(tx storage.Store) error {
		reused = false // a retried transaction starts over
		v, next, err := s.refreshRow(ctx, r.grant, r.token.ID, r.token.Scopes, now)
		if err != nil {
			return err
		}
		if next.DPoPJKT == "" {
			next.DPoPJKT = r.token.DPoPJKT // a binding is never dropped
		}
		id, aexp, rowless, err := s.mintAccessToken(ctx, r.grant.ID, r.grant.ClientID, now)
		if err != nil {
			return err
		}
		if rowless {
			next.GrantAccessExpiresAt = aexp // recorded on the grant by the rotation
		}
		err = tx.RotateRefreshToken(ctx, secret.HashToken(current), next, now, grace)
		if errors.Is(err, storage.ErrAlreadyUsed) {
			reused = true // the grant's revocation must commit: no error from here
			return nil
		}
		if err != nil {
			return err
		}
		value, accessID, exp = v, id, aexp
		if rowless {
			return nil
		}
		return s.storeAccessToken(ctx, tx, id, exp, r.grant.ID, r.grant.ClientID, r.grant.UserID, r.scopes, r.GetAudience(), now)
	})
	switch {
	case err == nil && reused:
		s.log.WarnContext(ctx, "refresh token reused; grant revoked", "client_id", r.grant.ClientID, "user_id", r.grant.UserID)
		return "", "", time.Time{}, oidc.ErrInvalidGrant()
	case errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrNotFound):
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithParent(err)
	case err != nil:
		// Our failure, not the client's: its token is still good for a retry.
		return "", "", time.Time{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	if r.token.UsedAt != nil {
		s.log.InfoContext(ctx, "refresh retried within the grace; earlier successor retired", "client_id", r.grant.ClientID, "user_id", r.grant.UserID)
	}
	return accessID, value, exp, nil
}

// presentingClient is the client that authenticated this token request: the library looks it
// up (GetClientByClientID, memoised in requestInfo) before it asks for the refresh token.
func presentingClient(ctx context.Context) string {
	if c := requestInfoFrom(ctx).client; c != nil {
		return c.ID
	}
	return ""
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
		DeviceID:   r.DeviceID,
		UserAgent:  ri.userAgent,
		IP:         ri.ip,
		CreatedAt:  now,
		LastUsedAt: now,
	}
}

// newGrant stores g and the first access token of it, in st (the caller's transaction). A
// row-less token's expiry goes into the grant's own row (see mintAccessToken).
func (s *opStorage) newGrant(ctx context.Context, st storage.Store, g *storage.Grant, now time.Time) (string, time.Time, error) {
	id, exp, rowless, err := s.mintAccessToken(ctx, g.ID, g.ClientID, now)
	if err != nil {
		return "", time.Time{}, err
	}
	if rowless {
		g.AccessExpiresAt = exp
	}
	if err := st.CreateGrant(ctx, g); err != nil {
		return "", time.Time{}, err
	}
	if rowless {
		return id, exp, nil
	}
	if err := s.storeAccessToken(ctx, st, id, exp, g.ID, g.ClientID, g.UserID, g.Scopes, g.Audience, now); err != nil {
		return "", time.Time{}, err
	}
	return id, exp, nil
}

// mintAccessToken draws the id and expiry of an access token of grant grantID ("" =
// standalone) for clientID, and tells whether it goes without an access_tokens row: a
// person's JWT, which names its grant in a signed claim (GetPrivateClaimsFromRequest), so
// that the grant decides whether it is live (stateless.go). The caller records a row-less
// token's expiry on the grant in the transaction that issues it, and stores a row for any
// other token (storeAccessToken). The client is this request's (read already); failing to
// read it fails the request rather than issuing with defaults.
func (s *opStorage) mintAccessToken(ctx context.Context, grantID, clientID string, now time.Time) (string, time.Time, bool, error) {
	c, err := s.getClient(ctx, clientID)
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("client %q: %w", clientID, err)
	}
	rowless := grantID != "" && c.AccessTokenFormat != storage.TokenFormatOpaque
	ri := requestInfoFrom(ctx)
	ri.accessGrant = ""
	if rowless {
		ri.accessGrant = grantID
	}
	return secret.NewID(), now.Add(s.accessTTL(c)), rowless, nil
}

// newAccessToken issues a standalone access token (an opaque client_credentials one): its
// row is all there is of it.
func (s *opStorage) newAccessToken(ctx context.Context, st storage.Store, clientID string, scopes, aud []string, now time.Time) (string, time.Time, error) {
	id, exp, _, err := s.mintAccessToken(ctx, "", clientID, now)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.storeAccessToken(ctx, st, id, exp, "", clientID, clientID, scopes, aud, now); err != nil {
		return "", time.Time{}, err
	}
	return id, exp, nil
}

// storeAccessToken stores the row of the access token id.
func (s *opStorage) storeAccessToken(ctx context.Context, st storage.Store, id string, exp time.Time, grantID, clientID, subject string, scopes, aud []string, now time.Time) error {
	err := st.CreateAccessToken(ctx, &storage.AccessToken{
		IDHash:    secret.HashToken(id),
		GrantID:   grantID,
		ClientID:  clientID,
		Subject:   subject,
		Scopes:    scopes,
		Audience:  aud,
		CreatedAt: now,
		ExpiresAt: exp,
		DPoPJKT:   requestInfoFrom(ctx).dpopJKT,
	})
	if err != nil {
		return fmt.Errorf("store access token: %w", err)
	}
	return nil
}

func (s *opStorage) accessTTL(c *storage.Client) time.Duration {
	if c.AccessTokenTTL > 0 {
		return c.AccessTokenTTL
	}
	return s.lifetimes.AccessToken
}

func (s *opStorage) newRefreshToken(ctx context.Context, st storage.Store, g *storage.Grant, parent string, scopes []string, now time.Time) (string, error) {
	value, row, err := s.refreshRow(ctx, g, parent, scopes, now)
	if err != nil {
		return "", err
	}
	if err := st.CreateRefreshToken(ctx, row); err != nil {
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return value, nil
}

// refreshRow mints a refresh token of grant g: the value for the client and the row to store
// (only its hash). Its client's type and lifetime decide the row: a failure to read the client
// fails the request, rather than minting an unbound token of the default lifetime.
func (s *opStorage) refreshRow(ctx context.Context, g *storage.Grant, parent string, scopes []string, now time.Time) (string, *storage.RefreshToken, error) {
	c, err := s.getClient(ctx, g.ClientID)
	if err != nil {
		return "", nil, fmt.Errorf("client %q: %w", g.ClientID, err)
	}
	value := secret.RandomToken(32)
	// RFC 9449 §5: a public client's refresh token is bound to the DPoP key of the request
	// that got it; a confidential client's is bound by its authentication already.
	var jkt string
	if c.Type != storage.ClientConfidential {
		jkt = requestInfoFrom(ctx).dpopJKT
	}
	ttl := s.lifetimes.RefreshToken
	if c.RefreshTokenTTL > 0 {
		ttl = c.RefreshTokenTTL
	}
	return value, &storage.RefreshToken{
		ID:        secret.NewOrderedID(now),
		Hash:      secret.HashToken(value),
		GrantID:   g.ID,
		ParentID:  parent,
		ClientID:  g.ClientID,
		UserID:    g.UserID,
		Scopes:    scopes,
		CreatedAt: now,
		ExpiresAt: now.Add(ttl),
		DPoPJKT:   jkt,
	}, nil
}

// TokenRequestByRefreshToken loads what a refresh token stands for. A token that was already
// rotated away is a replay, and the whole family is revoked before we refuse it; except a
// token its own client presents again within the retry grace after its rotation: that one
// goes on to the rotation, which decides atomically whether it is a retry or reuse.
func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (zop.RefreshTokenRequest, error) {
	now := s.now()
	// One read: the token, its grant and the grant's user (for the ID token's claims).
	rt, g, u, err := s.store.GetRefreshTokenGrant(ctx, secret.HashToken(token))
	if err != nil {
		return nil, fmt.Errorf("refresh token: %w", err)
	}
	// A bound token without a proof by its key is refused before anything else: a thief
	// holding only the token can neither use it nor, by replaying it, revoke the grant.
	ri := requestInfoFrom(ctx)
	if rt.DPoPJKT != "" && !secret.Equal(rt.DPoPJKT, ri.dpopJKT) {
		return nil, fmt.Errorf("refresh token is bound to another DPoP key: %w", errInvalid)
	}
	if rt.UsedAt != nil && !s.mayRetry(ctx, rt, now) {
		if err := s.store.RevokeGrant(ctx, rt.GrantID, now); err != nil {
			s.log.ErrorContext(ctx, "revoke grant after refresh reuse", "err", err, "client_id", rt.ClientID)
			// Not revoked: say so (a storage failure), rather than claim reuse was handled.
			return nil, fmt.Errorf("refresh token reused, revoking its grant: %w", err)
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
	if g.RevokedAt != nil {
		return nil, fmt.Errorf("refresh token grant: %w", storage.ErrRevoked)
	}
	if err := s.holdTokenUser(ctx, u, rt.Scopes); err != nil {
		return nil, fmt.Errorf("refresh token's user: %w", err)
	}
	// RFC 8707 §2.2: a refresh may name fewer of the grant's resources, never others.
	res, ok := narrowResources(grantResources(g), ri.resources)
	if !ok {
		ri.invalidTarget = true
		return nil, fmt.Errorf("refresh token: resource not granted: %w", errInvalid)
	}
	// The keys before the rotation: once it commits, a retry within no grace is reuse.
	if err := s.holdSigners(ctx); err != nil {
		return nil, err
	}
	return &refreshRequest{grant: g, token: rt, scopes: rt.Scopes, aud: audience(g.ClientID, res)}, nil
}

// mayRetry reports whether the used token rt may still be a retry (see rotate); the rotation
// makes the final, atomic decision.
func (s *opStorage) mayRetry(ctx context.Context, rt *storage.RefreshToken, now time.Time) bool {
	return s.lifetimes.RetryGrace > 0 && rt.RevokedAt == nil &&
		now.Before(rt.UsedAt.Add(s.lifetimes.RetryGrace)) && presentingClient(ctx) == rt.ClientID
}

// GetRefreshTokenInfo identifies a refresh token for revocation.
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	if !mayBeRefreshToken(token) {
		return "", "", zop.ErrInvalidRefreshToken // an access token: no lookup
	}
	rt, err := s.store.GetRefreshToken(ctx, secret.HashToken(token))
	if storage.Failed(err) {
		// Not known to be unknown: ErrInvalidRefreshToken would have the library try it as an
		// access token, find nothing and answer "revoked" with the refresh token still live.
		// Any other error is the library's server_error (503 through the fault mapping).
		return "", "", fmt.Errorf("refresh token: %w", err)
	}
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
		if storage.Failed(err) {
			return oidc.ErrServerError().WithParent(err) // as for an access token below
		}
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
	if c, ok := s.statelessClaims(ctx, tokenOrID, userID); ok {
		// No row to mark: the token goes on the denylist until it expires.
		if c.ClientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was issued to another client")
		}
		// Kept a little past exp: an instance whose clock lags must not see it live once purged.
		until := c.Expiration.AsTime().Add(denylistMargin)
		if err := s.store.DenyAccessToken(ctx, secret.HashToken(tokenOrID), c.ClientID, until, now); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	}
	if f := requestInfoFrom(ctx).storeFailed; f != nil {
		// The token could not be verified for a failure of ours (its signing keys could not
		// be read): it is not known to be unknown, and "revoked" could leave it live.
		return oidc.ErrServerError().WithParent(f)
	}
	at, err := s.store.GetAccessToken(ctx, secret.HashToken(tokenOrID))
	if storage.Failed(err) {
		// Not known to be unknown: saying "revoked" could leave a live token behind.
		return oidc.ErrServerError().WithParent(err)
	}
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

// TerminateSessionFromRequest ends the SSO session named by the id_token_hint's sid, when
// this browser holds it (its session cookie is that session's). Otherwise nothing is ended
// here: the person is sent to the logout page, which asks before signing out, so neither a
// cross-site link nor a leaked ID token can sign anyone out.
func (s *opStorage) TerminateSessionFromRequest(ctx context.Context, req *zop.EndSessionRequest) (string, error) {
	if req.IDTokenHintClaims == nil || req.UserID == "" {
		return s.logoutURL(ctx, req)
	}
	sid := req.IDTokenHintClaims.SessionID
	if sid == "" {
		if v, ok := req.IDTokenHintClaims.Claims["sid"].(string); ok {
			sid = v
		}
	}
	browser := requestInfoFrom(ctx).sessionHash
	if sid == "" || browser == "" {
		return s.logoutURL(ctx, req)
	}
	// Where the person returns to is known before their session ends: a failure to read it
	// is ours (nothing ended), not a sign-out that forgets to send them back.
	uri, err := s.postLogoutURI(ctx, req)
	if err != nil {
		return "", err
	}
	sess, err := s.store.GetSession(ctx, sid)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
		// Already over (or never existed): nothing to end. Nothing to ask either, unless
		// this browser is signed in as the same person with another session (signed in
		// again since): sent back as signed out, they would stay signed in here unawares.
		live, err := s.store.GetSessionByTokenHash(ctx, browser, s.now())
		switch {
		case err == nil && live.UserID == req.UserID:
			return s.confirmURL(ctx, req, uri), nil
		case err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrExpired):
			return "", fmt.Errorf("end session: %w", err)
		}
	case err != nil:
		return "", fmt.Errorf("end session: %w", err)
	case sess.UserID != req.UserID || !secret.Equal(sess.TokenHash, browser):
		// Another browser's session, or a hint that names someone else's: ask.
		return s.confirmURL(ctx, req, uri), nil
	default:
		if err := s.endSession(ctx, sid); err != nil {
			return "", err
		}
	}
	if uri == "" {
		return s.logoutPath + "?done=1", nil
	}
	// req.RedirectURI is the registered URI with state appended by the library.
	return req.RedirectURI, nil
}
