package op

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/internal/devicecode"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Device authorization grant (RFC 8628). The library serves /device_authorization: it draws
// the codes and calls StoreDeviceAuthorization. The device access token request is answered
// here (Provider.deviceToken), not by the library, because the library cannot answer
// slow_down, checks expiry against the wall clock, reads (and would consume) the state before
// it authenticates the client, and does not make the device code single-use.

const (
	defaultDevicePath         = "/device"
	defaultDeviceCodeLifetime = 10 * time.Minute
	defaultDevicePollInterval = 5 * time.Second
	// maxDeviceNameLen bounds the device_name a device may send (in runes).
	maxDeviceNameLen = 100
)

var _ zop.DeviceAuthorizationStorage = (*opStorage)(nil)

// deviceConfig is what the provider tells the library about the device grant.
func deviceConfig(cfg Config) zop.DeviceAuthorizationConfig {
	return zop.DeviceAuthorizationConfig{
		Lifetime:     cfg.DeviceCodeLifetime,
		PollInterval: cfg.DevicePollInterval,
		UserFormPath: cfg.DevicePath,
		// Eight letters without vowels or look-alikes, shown as BCDF-GHJK (RFC 8628 §6.1).
		UserCode: zop.UserCodeConfig{CharSet: devicecode.Alphabet, CharAmount: devicecode.Length, DashInterval: devicecode.Group},
	}
}

// StoreDeviceAuthorization stores a new device authorization: only the SHA-256 of the device
// code, the user code normalised, the scopes the client may ask for, and the device name the
// request carried. The library computes expires from the wall clock; ours comes from the
// provider's clock, with the same lifetime.
func (s *opStorage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, _ time.Time, scopes []string) error {
	code := devicecode.Normalize(userCode)
	if code == "" {
		return errors.New("store device authorization: the user code is not of the device-code alphabet")
	}
	c, err := s.getClient(ctx, clientID)
	if err != nil {
		return fmt.Errorf("store device authorization: client %q: %w", clientID, err)
	}
	now := s.now()
	err = s.store.CreateDeviceCode(ctx, &storage.DeviceCode{
		DeviceCodeHash: secret.HashToken(deviceCode),
		UserCode:       code,
		ClientID:       clientID,
		Scopes:         deviceScopes(c, scopes),
		DeviceName:     requestInfoFrom(ctx).deviceName,
		DeviceID:       requestInfoFrom(ctx).deviceID,
		State:          storage.DevicePending,
		CreatedAt:      now,
		ExpiresAt:      now.Add(s.deviceLifetime),
	})
	if err != nil {
		// ErrConflict (a user code drawn twice) is one in billions; the device simply retries.
		return fmt.Errorf("store device authorization: %w", err)
	}
	return nil
}

// deviceScopes keeps the requested scopes the client may have, each once: the standard ones
// we support, offline_access only for a client that may use refresh tokens (a device must not
// be told it stays signed in when it will not), and the client's registered extra scopes.
func deviceScopes(c *storage.Client, requested []string) []string {
	out := make([]string, 0, len(requested))
	for _, sc := range requested {
		ok := false
		switch sc {
		case oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeAddress, oidc.ScopePhone:
			ok = true
		case oidc.ScopeOfflineAccess:
			ok = slices.Contains(c.GrantTypes, string(oidc.GrantTypeRefreshToken))
		default:
			ok = slices.Contains(c.Scopes, sc)
		}
		if ok && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// GetDeviceAuthorizatonState is the library's way of answering a device access token
// request. Provider.deviceToken answers those requests before the library sees them; this is
// a fallback with the same single-use semantics, as far as the library can express them (it
// has no slow_down).
func (s *opStorage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*zop.DeviceAuthorizationState, error) {
	dc, err := s.pollDevice(ctx, clientID, deviceCode)
	if err == nil {
		return deviceState(dc), nil
	}
	switch err.ErrorType {
	case oidc.AuthorizationPending, oidc.SlowDown:
		return &zop.DeviceAuthorizationState{ClientID: clientID, Scopes: dc.Scopes, Expires: dc.ExpiresAt}, nil
	case oidc.AccessDenied:
		return &zop.DeviceAuthorizationState{ClientID: clientID, Denied: true}, nil
	case oidc.ExpiredToken:
		return &zop.DeviceAuthorizationState{ClientID: clientID}, nil // zero Expires: expired_token
	}
	return nil, err
}

// deviceState is the library's view of an approved device code.
func deviceState(dc *storage.DeviceCode) *zop.DeviceAuthorizationState {
	return &zop.DeviceAuthorizationState{
		ClientID: dc.ClientID,
		Audience: []string{dc.ClientID},
		Scopes:   dc.Scopes,
		Expires:  dc.ExpiresAt,
		Done:     true,
		Subject:  dc.UserID,
		AMR:      dc.AMR,
		AuthTime: dc.AuthTime,
	}
}

// pollDevice answers one poll of a device access token request (RFC 8628 §3.4–3.5) for an
// authenticated client. It returns the device code once it is approved, else the OAuth error
// to answer (with the code, when one was found). An approved code is not used here: it is
// consumed in the transaction that issues its tokens (deviceTokens), so that a failure of
// ours leaves it for the device's next poll. What the tokens need that could fail to be read
// (the user, the signing keys) is read now, before that transaction: once it has committed,
// a failure would leave the device a used code for our failure.
//
// slow_down: every poll records its time (PollDeviceCode). A pending code polled again sooner
// than the interval, less a fifth for network jitter, is answered slow_down. Only a pending
// code is: slow_down is a variant of authorization_pending, and a final answer (tokens,
// access_denied, expired_token) is given however fast the device asks.
func (s *opStorage) pollDevice(ctx context.Context, clientID, deviceCode string) (*storage.DeviceCode, *oidc.Error) {
	now := s.now()
	hash := secret.HashToken(deviceCode)
	dc, prev, err := s.store.PollDeviceCode(ctx, hash, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("unknown device code")
	case err != nil:
		s.log.ErrorContext(ctx, "poll device code", "err", err, "client_id", clientID)
		return nil, oidc.ErrServerError()
	case dc.ClientID != clientID:
		s.log.WarnContext(ctx, "device code presented by another client", "client_id", clientID, "owner", dc.ClientID)
		return nil, oidc.ErrInvalidGrant().WithDescription("unknown device code")
	case dc.ConsumedAt != nil && !s.mayRetryDevice(dc, now):
		return dc, oidc.ErrInvalidGrant().WithDescription("the device code was already used")
	case dc.ConsumedAt == nil && !now.Before(dc.ExpiresAt):
		return dc, oidc.ErrExpiredDeviceCode().WithDescription("the device code has expired")
	case dc.State == storage.DeviceDenied:
		return dc, oidc.ErrAccessDenied().WithDescription("the user denied the request")
	case dc.State == storage.DevicePending:
		if prev != nil && now.Sub(*prev) < s.devicePoll-s.devicePoll/5 {
			return dc, oidc.ErrSlowDown().WithDescription("polling too fast: wait at least %d seconds between requests", int((s.devicePoll+5*time.Second)/time.Second))
		}
		return dc, oidc.ErrAuthorizationPending().WithDescription("the user has not yet approved the request")
	case dc.State != storage.DeviceApproved:
		s.log.ErrorContext(ctx, "device code in an unknown state", "state", dc.State, "client_id", clientID)
		return nil, oidc.ErrServerError()
	}
	u, err := s.store.GetUser(ctx, dc.UserID)
	switch {
	case storage.Failed(err):
		s.log.ErrorContext(ctx, "device code's user", "err", err, "client_id", clientID)
		return nil, oidc.ErrServerError()
	case err != nil || !u.MaySignIn():
		// Deleted or locked between approval and this poll.
		return dc, oidc.ErrAccessDenied().WithDescription("the account can no longer be used")
	}
	ri := requestInfoFrom(ctx)
	if err := s.holdTokenUser(ctx, u, dc.Scopes); err != nil { // the ID token's claims (fillUserinfo)
		s.log.ErrorContext(ctx, "device code's user", "err", err, "client_id", clientID)
		return nil, oidc.ErrServerError()
	}
	if err := s.holdSigners(ctx); err != nil {
		s.log.ErrorContext(ctx, "device token signing keys", "err", err, "client_id", clientID)
		return nil, oidc.ErrServerError()
	}
	ri.device = dc // consumed by deviceTokens
	return dc, nil
}

// mayRetryDevice reports whether the used code dc may still be polled again: within the retry
// grace after its use, when its use recorded its grant (see ConsumeDeviceCode, which makes the
// final, atomic decision). The caller checked that the presenting client is dc's.
func (s *opStorage) mayRetryDevice(dc *storage.DeviceCode, now time.Time) bool {
	return s.lifetimes.RetryGrace > 0 && dc.GrantID != "" && now.Before(dc.ConsumedAt.Add(s.lifetimes.RetryGrace))
}

// consumeDevice marks the approved device code of this request (pollDevice) used by grant
// grantID, in tx, the transaction that issues its tokens. The UPDATE decides: of any number of
// polls, concurrent or not, exactly one commits it; the others get the OAuth error to answer.
//
// A device whose token answer was lost after the commit polls again with the code. Within the
// retry grace, and while the grant it was given is live and never refreshed, that poll is a
// retry: the grant the device never received is revoked and the poll's grant replaces it, so
// the device need not start over and the person's device list keeps one entry.
func (s *opStorage) consumeDevice(ctx context.Context, tx storage.Store, dc *storage.DeviceCode, grantID string, now time.Time) error {
	_, replaced, err := tx.ConsumeDeviceCode(ctx, dc.DeviceCodeHash, grantID, now, s.lifetimes.RetryGrace)
	if err == nil && replaced != "" {
		s.log.InfoContext(ctx, "device poll retried within the grace; earlier grant revoked", "client_id", dc.ClientID,
			"user_id", dc.UserID, "replaced_grant", replaced)
	}
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		// Used before, and no retry (a concurrent poll, the grace over, the device refreshed).
		return oidc.ErrInvalidGrant().WithDescription("the device code was already used").WithParent(err)
	case errors.Is(err, storage.ErrExpired):
		return oidc.ErrExpiredDeviceCode().WithDescription("the device code has expired").WithParent(err)
	case errors.Is(err, storage.ErrNotFound):
		return oidc.ErrInvalidGrant().WithDescription("unknown device code").WithParent(err)
	case err != nil:
		return fmt.Errorf("consume device code: %w", err)
	}
	return nil
}

// deviceTokens issues the tokens of an approved device code: a new grant (the token family
// that the person can see and revoke on "My devices"), an access token and, with
// offline_access, a first refresh token, in one transaction that also consumes the code. A
// failure to store them leaves the code unused for the device's next poll.
func (s *opStorage) deviceTokens(ctx context.Context, r *zop.DeviceAuthorizationState, withRefresh bool) (accessID, refresh string, exp time.Time, err error) {
	now := s.now()
	ri := requestInfoFrom(ctx)
	dc := ri.device
	if dc == nil || dc.ClientID != r.ClientID || dc.UserID != r.Subject {
		// Never issue without consuming the code the tokens stand for.
		return "", "", time.Time{}, errors.New("issue device tokens: no approved device code in this request")
	}
	g := &storage.Grant{
		ID:         secret.NewID(),
		UserID:     r.Subject,
		ClientID:   r.ClientID,
		Scopes:     r.Scopes,
		Audience:   r.GetAudience(),
		AuthTime:   r.AuthTime,
		AMR:        r.AMR,
		UserAgent:  truncate(ri.userAgent, 256),
		IP:         ri.ip,
		CreatedAt:  now,
		LastUsedAt: now,
		// No SessionID: signing out of the browser that approved does not sign the device out.
	}
	g.DeviceName = dc.DeviceName
	g.DeviceID = dc.DeviceID
	ri.issuedGrant = g
	err = s.store.InTx(ctx, func(tx storage.Store) error {
		refresh = "" // a retried transaction starts over
		if err := s.consumeDevice(ctx, tx, dc, g.ID, now); err != nil {
			return err
		}
		var err error
		if accessID, exp, err = s.newGrant(ctx, tx, g, now); err != nil {
			return err
		}
		if withRefresh {
			if refresh, err = s.newRefreshToken(ctx, tx, g, "", g.Scopes, now); err != nil {
				return err
			}
		}
		// The licences claim binds its seat with the code's use, as a code exchange does.
		return s.codeLicences(ctx, tx, g)
	})
	if oerr := (*oidc.Error)(nil); errors.As(err, &oerr) {
		return "", "", time.Time{}, oerr // the code's own answer (used, expired)
	}
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("issue device tokens: %w", err)
	}
	return accessID, refresh, exp, nil
}

// deviceToken answers a token request with grant_type=urn:ietf:params:oauth:grant-type:device_code.
func (p *Provider) deviceToken(w http.ResponseWriter, r *http.Request) {
	// The library's handlers get the issuer from their own router; this one runs before it.
	r = r.WithContext(zop.ContextWithIssuer(r.Context(), p.cfg.Issuer))
	ctx := r.Context()
	fail := func(err *oidc.Error) { zop.RequestError(w, r, err, p.cfg.Logger) }
	c, oerr := p.authenticateClient(r)
	if oerr != nil {
		p.clientError(w, r, oerr)
		return
	}
	if !zop.ValidateGrantType(c, oidc.GrantTypeDeviceCode) {
		fail(oidc.ErrUnauthorizedClient().WithDescription("this client may not use the device authorization grant"))
		return
	}
	code := r.PostForm.Get("device_code")
	if code == "" {
		fail(oidc.ErrInvalidRequest().WithDescription("device_code is missing"))
		return
	}
	dc, oerr := p.storage.pollDevice(ctx, c.GetID(), code)
	if oerr != nil {
		fail(oerr)
		return
	}
	resp, err := zop.CreateDeviceTokenResponse(ctx, deviceState(dc), p.zop, c)
	if oerr := (*oidc.Error)(nil); errors.As(err, &oerr) && oerr.ErrorType != oidc.ServerError {
		// The code was used by a concurrent poll, or expired, when its tokens were to be stored.
		fail(oerr)
		return
	}
	if err != nil {
		// Before the code's transaction committed, the code is left for the next poll; after
		// it (the ID token's claims), the next poll within the retry grace is a retry.
		p.cfg.Logger.ErrorContext(ctx, "device token response", "err", err, "client_id", c.GetID())
		fail(oidc.ErrServerError())
		return
	}
	p.cfg.Logger.InfoContext(ctx, "device authorized", "client_id", c.GetID(), "user_id", dc.UserID)
	httphelper.MarshalJSON(w, resp)
}

// preDeviceAuthorization checks a device authorization request before the library serves it:
// POST only, the client authenticated when it is confidential (the library does not check),
// and registered for the device grant. It remembers the optional device_name.
func (p *Provider) preDeviceAuthorization(w http.ResponseWriter, r *http.Request, ri *requestInfo) bool {
	if isPreflight(r) {
		return true // answered by the library's CORS handler
	}
	if err := r.ParseForm(); err != nil {
		zop.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("cannot parse the form"), p.cfg.Logger)
		return false
	}
	if k := repeated(r.Form); k != "" {
		httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("a parameter is repeated: %s", k), http.StatusBadRequest)
		return false
	}
	c, err := p.authenticateClient(r)
	if err != nil {
		p.clientError(w, r, err)
		return false
	}
	if !zop.ValidateGrantType(c, oidc.GrantTypeDeviceCode) {
		zop.RequestError(w, r, oidc.ErrUnauthorizedClient().WithDescription("this client may not use the device authorization grant"), p.cfg.Logger)
		return false
	}
	ri.deviceName = deviceName(r.PostForm.Get("device_name"))
	ri.deviceID = deviceIDParam(r.PostForm.Get("device_id"))
	return true
}

// authenticateClient identifies the client of a form post: HTTP Basic or client_secret_post
// for a confidential client, which must authenticate, and client_id alone for a public or
// native one. Failures are invalid_client (RFC 6749 §5.2). A failure of our store on the way
// (the client could not be read) is a server error, answered 503, and never counted as a
// failed authentication: an outage must not lock a client's address out once it is over.
func (p *Provider) authenticateClient(r *http.Request) (*client, *oidc.Error) {
	if blocked, err := p.clientAuthBlocked(r); err != nil {
		return nil, oidc.ErrServerError()
	} else if blocked {
		return nil, &oidc.Error{ErrorType: "too_many_attempts"}
	}
	c, err := p.checkClient(r)
	if err != nil && requestInfoFrom(r.Context()).storeFailed != nil {
		return nil, oidc.ErrServerError()
	}
	if err != nil && err.ErrorType == oidc.InvalidClient {
		// Only a presented secret is a guess worth counting; a public client probing
		// Basic without one (see checkClient) is not.
		id, sec, basic := r.BasicAuth()
		if !basic {
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if sec != "" {
			id, _ = url.QueryUnescape(id)
			p.clientAuthFailed(r, id)
		}
	}
	return c, err
}

func (p *Provider) checkClient(r *http.Request) (*client, *oidc.Error) {
	ctx := r.Context()
	ri := requestInfoFrom(ctx)
	if ri.authenticatedClient != nil {
		return ri.authenticatedClient, nil // by preClientAuth, earlier in this request
	}
	if id := ri.assertedClient; id != "" {
		// Authenticated by its assertion (preClientAssertion).
		zc, err := p.storage.GetClientByClientID(ctx, id)
		if err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("client authentication failed")
		}
		return zc.(*client), nil
	}
	id, sec, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		sec, err2 = url.QueryUnescape(sec)
		if err1 != nil || err2 != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("malformed basic authentication")
		}
		if sec == "" && r.PostForm.Get("grant_type") == string(oidc.GrantTypeDeviceCode) {
			// Basic means a secret on device polls. Refusing it before the code is looked at
			// keeps clients that probe Basic first and then retry with client_id in the form
			// (golang.org/x/oauth2 does) from polling twice and earning slow_down. Elsewhere
			// Basic with an empty password names a public client, as that library sends it.
			return nil, oidc.ErrInvalidClient().WithDescription("client authentication failed")
		}
		if r.PostForm.Get("client_secret") != "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("use only one client authentication method")
		}
		if fid := r.PostForm.Get("client_id"); fid != "" && fid != id {
			return nil, oidc.ErrInvalidClient().WithDescription("client_id does not match the authentication")
		}
	} else {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("client_id is missing")
	}
	if sec != "" {
		if err := p.storage.AuthorizeClientIDSecret(ctx, id, sec); err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("client authentication failed")
		}
	}
	zc, err := p.storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	c := zc.(*client)
	if c.c.Type == storage.ClientConfidential && sec == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return c, nil
}

// deviceName cleans the optional device_name: no control or format characters (it is shown
// in the UI and printed by the CLI), trimmed, at most maxDeviceNameLen runes.
func deviceName(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxDeviceNameLen {
		s = strings.TrimSpace(string([]rune(s)[:maxDeviceNameLen]))
	}
	return s
}
