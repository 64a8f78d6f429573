package op

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/storage"
)

// Entitlements computes the licences claim (issue 14); internal/licence's Service is one.
type Entitlements interface {
	Entitlements(ctx context.Context, userID, clientID string, g *storage.Grant, bind bool) ([]licence.Entitlement, error)
	// EntitlementsIn is Entitlements read and bound in tx, the caller's transaction.
	EntitlementsIn(ctx context.Context, tx storage.Store, userID, clientID string, g *storage.Grant, bind bool) ([]licence.Entitlement, error)
}

// maxDeviceIDLen bounds the device_id an installation may send.
const maxDeviceIDLen = 128

// deviceIDParam cleans the optional device_id: a stable per-install id is an opaque token, so
// anything but printable ASCII without spaces is refused (as absent), as is anything longer
// than maxDeviceIDLen.
func deviceIDParam(s string) string {
	if s == "" || len(s) > maxDeviceIDLen || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return ""
		}
	}
	return s
}

// licenceGrant finds the grant (the installation) behind an ID token request: the code's
// grant has the auth request's id, a refresh carries its grant, and a device-grant response
// remembers the one it just created.
func (s *opStorage) licenceGrant(ctx context.Context, req zop.IDTokenRequest) (*storage.Grant, error) {
	switch r := req.(type) {
	case *refreshRequest:
		return r.grant, nil
	case authRequest:
		g, err := s.store.GetGrant(ctx, r.ID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil // an implicit-style request without a grant: no installation
		}
		return g, err
	}
	return requestInfoFrom(ctx).issuedGrant, nil
}

// codeLicences computes the licences claim of a code exchange (or device grant) in tx, the
// transaction that consumes the code and stores the grant g, binding a free seat on the way; the ID token takes
// it from the request (addLicencesClaim). Computed after the code was used, a failure would
// leave the client a used code whose retry is a replay (invalid_grant, the grant revoked) for
// a failure of ours; here it rolls the exchange back and the code stays usable.
func (s *opStorage) codeLicences(ctx context.Context, tx storage.Store, g *storage.Grant) error {
	ri := requestInfoFrom(ctx)
	ri.codeLicences = nil // a retried transaction starts over
	if s.licences == nil || !slices.Contains(g.Scopes, licence.Scope) {
		return nil
	}
	es, err := s.licences.EntitlementsIn(ctx, tx, g.UserID, g.ClientID, g, true)
	if err != nil {
		return fmt.Errorf("licences claim: %w", err)
	}
	ri.codeLicences = es
	return nil
}

// addLicencesClaim adds the licences claim to an ID token when the scope asks for it, binding
// a free seat to the installation on the way (the first token issuance binds, a refresh
// retries). A code exchange computed it with the code's use (codeLicences). A store failure
// fails the token response as ours, never as the client's.
func (s *opStorage) addLicencesClaim(ctx context.Context, ui *oidc.UserInfo, req zop.IDTokenRequest, scopes []string) error {
	if s.licences == nil || !slices.Contains(scopes, licence.Scope) {
		return nil
	}
	if es := requestInfoFrom(ctx).codeLicences; es != nil {
		switch req.(type) {
		case authRequest, *zop.DeviceAuthorizationState:
			ui.AppendClaims(licence.Scope, es)
			return nil
		}
	}
	g, err := s.licenceGrant(ctx, req)
	if err != nil {
		noteStoreFailure(ctx, err)
		return fmt.Errorf("licences claim: %w", err)
	}
	es, err := s.licences.Entitlements(ctx, req.GetSubject(), req.GetClientID(), g, true)
	if err != nil {
		noteStoreFailure(ctx, err)
		return fmt.Errorf("licences claim: %w", err)
	}
	ui.AppendClaims(licence.Scope, es)
	return nil
}

// tokenLicences is the licences claim for a live access token (userinfo, introspection):
// nothing is bound here, the token only reports.
func (s *opStorage) tokenLicences(ctx context.Context, at *storage.AccessToken) ([]licence.Entitlement, bool, error) {
	if s.licences == nil || at.GrantID == "" || !slices.Contains(at.Scopes, licence.Scope) {
		return nil, false, nil
	}
	g, err := s.store.GetGrant(ctx, at.GrantID)
	if err == nil {
		var es []licence.Entitlement
		if es, err = s.licences.Entitlements(ctx, at.Subject, at.ClientID, g, false); err == nil {
			return es, true, nil
		}
	}
	noteStoreFailure(ctx, err)
	return nil, false, fmt.Errorf("licences claim: %w", err)
}

// ErrBadLicenceToken is a bearer token the licence API refuses: not a live access token of a
// person with the licences scope.
var ErrBadLicenceToken = errors.New("op: not a live access token with the licences scope")

// LicenceBearer is a person's live access token with the licences scope, for the licence
// API: the installation it was issued to and its client.
type LicenceBearer struct {
	Grant *storage.Grant
}

// VerifyLicenceToken checks a bearer access token as /userinfo does (the library's decryption or JWT verification, then the token's row and grant)
// and returns its grant. A token that is not live, not a person's, or without the licences
// scope is ErrBadLicenceToken; a store failure is returned as itself.
func (p *Provider) VerifyLicenceToken(ctx context.Context, token string) (*LicenceBearer, error) {
	ri := &requestInfo{}
	ctx = withRequestInfo(zop.ContextWithIssuer(ctx, p.cfg.Issuer), ri)
	var tokenID, subject string
	if plain, err := p.zop.Crypto().Decrypt(token); err == nil {
		var ok bool
		if tokenID, subject, ok = strings.Cut(plain, ":"); !ok {
			return nil, ErrBadLicenceToken
		}
	} else {
		claims, err := zop.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, p.zop.AccessTokenVerifier(ctx))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadLicenceToken, err)
		}
		tokenID, subject = claims.JWTID, claims.Subject
	}
	at, _, err := p.storage.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		if ri.storeFailed != nil {
			return nil, fmt.Errorf("access token state: %w", ri.storeFailed)
		}
		return nil, fmt.Errorf("%w: %w", ErrBadLicenceToken, err)
	}
	if at.GrantID == "" || !slices.Contains(at.Scopes, licence.Scope) {
		return nil, fmt.Errorf("%w: not a person's token with the %s scope", ErrBadLicenceToken, licence.Scope)
	}
	g, err := p.cfg.Store.GetGrant(ctx, at.GrantID)
	if err != nil {
		return nil, fmt.Errorf("access token grant: %w", err)
	}
	return &LicenceBearer{Grant: g}, nil
}
