package op

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// KeySource is what the provider needs from the signing-key manager.
type KeySource interface {
	Signer(ctx context.Context, alg string) (*keys.Key, error)
	PublicKeys(ctx context.Context) ([]jose.JSONWebKey, error)
	// PublishedKeys is PublicKeys for the JWKS, from a copy at most a second old.
	PublishedKeys(ctx context.Context) ([]jose.JSONWebKey, error)
	// HasPublicKey reports whether kid is published, reading the keys again first when it
	// is not in the copy in memory (see ownKeySet).
	HasPublicKey(ctx context.Context, kid string) (bool, error)
}

// Lifetimes are the default token lifetimes; a client may override some of them.
type Lifetimes struct {
	AccessToken  time.Duration
	IDToken      time.Duration
	RefreshToken time.Duration
	AuthCode     time.Duration
	AuthRequest  time.Duration
	// RetryGrace is how long after a rotation the same client may present the previous
	// refresh token again (a lost response) without the family being revoked, and how long
	// after a device code's use the device may poll with it again; 0 = never.
	RetryGrace time.Duration
}

// opStorage implements zitadel's op.Storage over our store and keys.
type opStorage struct {
	store      storage.Store
	keys       KeySource
	lifetimes  Lifetimes
	loginURL   func(string) string
	logoutPath string
	now        func() time.Time
	log        *slog.Logger
	// onToken counts an issued token by grant type (Config.OnToken); nil counts nothing.
	onToken func(grant string)
	// deviceLifetime and devicePoll are the device grant's code lifetime and poll interval.
	deviceLifetime time.Duration
	devicePoll     time.Duration
	// accessTokenAlg signs JWT access tokens (Config.AccessTokenAlg).
	accessTokenAlg string
	// issuer is checked again on a stateless token's claims.
	issuer string
	// licences serves the licences claim (Config.Licences); nil serves none.
	licences Entitlements
	// draftKey signs what the token writer signs again (requestInfo.draft).
	draftKey draftKey
	// sessions ends sessions at end_session (Config.Sessions); nil only revokes them.
	sessions SessionEnder
	// clientKeys serves private_key_jwt clients' public keys (see clientauth.go).
	clientKeys *clientKeys
}

var (
	_ zop.Storage                        = (*opStorage)(nil)
	_ zop.ClientCredentialsStorage       = (*opStorage)(nil)
	_ zop.CanSetUserinfoFromRequest      = (*opStorage)(nil)
	_ zop.CanTerminateSessionFromRequest = (*opStorage)(nil)
	_ zop.CanGetPrivateClaimsFromRequest = (*opStorage)(nil)
)

// getClient reads a client once per request (see requestInfo.client). A failure to read it
// is noted as the request's store failure: whatever the caller makes of the error, the
// request is not the client's fault (authenticateClient answers 503 and counts nothing).
func (s *opStorage) getClient(ctx context.Context, id string) (*storage.Client, error) {
	ri := requestInfoFrom(ctx)
	if ri.client != nil && ri.client.ID == id {
		return ri.client, nil
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		noteStoreFailure(ctx, err)
		return nil, err
	}
	ri.client = c
	return c, nil
}

// errInvalid is returned where the library only needs "no"; the cause is logged, not shown.
var errInvalid = errors.New("op: invalid")

func (s *opStorage) Health(ctx context.Context) error { return s.store.Ping(ctx) }

// CreateAuthRequest stores the request, bound to the browser that sent it. hintSubject is
// the subject of the verified id_token_hint ("" without one): only that person may answer it.
func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (zop.AuthRequest, error) {
	ri := requestInfoFrom(ctx)
	if ri.browserHash == "" {
		return nil, errors.New("create auth request: no browser binding")
	}
	now := s.now()
	ar := &storage.AuthRequest{
		ID:                  secret.NewID(),
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		State:               req.State,
		Nonce:               req.Nonce,
		Scopes:              req.Scopes,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              req.Prompt,
		UILocales:           uiLocales(req.UILocales),
		LoginHint:           req.LoginHint,
		HintSubject:         hintSubject,
		ACRValues:           req.ACRValues,
		DeviceName:          ri.deviceName,
		DeviceID:            ri.deviceID,
		Resources:           ri.resources,
		BrowserHash:         ri.browserHash,
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.lifetimes.AuthRequest),
	}
	if ar.LoginHint == "" && hintSubject != "" {
		ar.LoginHint = ri.hintEmail // the hint's own claim: nothing the holder did not know
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		ar.MaxAge = &v
	}
	if ri.pushedHash == "" {
		if err := s.store.CreateAuthRequest(ctx, ar); err != nil {
			return nil, fmt.Errorf("create auth request: %w", err)
		}
		return authRequest{ar}, nil
	}
	// A pushed request is used up by the auth request made of it, in one transaction: a
	// failure to store that leaves it for a reload, and of concurrent loads one gets it.
	// Its id is the one a reload finds again (reloadPushed).
	ar.ID = pushedAuthRequestID(ri.pushedHash)
	var gone error
	err := s.store.InTx(ctx, func(tx storage.Store) error {
		gone = nil // a retried transaction starts over
		_, err := tx.TakePushedRequest(ctx, ri.pushedHash, ri.pushedClient, now)
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) {
			gone = err
		}
		if err != nil {
			return err
		}
		return tx.CreateAuthRequest(ctx, ar)
	})
	if gone != nil {
		// Another load of the same request_uri took it since takePushed read it: the same
		// browser's (a double click) goes on with the request that load made, as a reload
		// would (reloadPushed); anyone else's is refused.
		if made, err := s.store.GetAuthRequest(ctx, ar.ID); err == nil && !made.Done && made.CodeHash == "" &&
			made.ClientID == ar.ClientID && secret.Equal(made.BrowserHash, ri.browserHash) {
			return authRequest{made}, nil
		}
		return nil, oidc.ErrInvalidRequest().WithDescription("the request_uri was already used or has expired").WithParent(gone)
	}
	if err != nil {
		return nil, fmt.Errorf("create auth request: %w", err)
	}
	return authRequest{ar}, nil
}

func uiLocales(l oidc.Locales) []string {
	out := make([]string, 0, len(l))
	for _, t := range l {
		out = append(out, t.String())
	}
	return out
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (zop.AuthRequest, error) {
	ar, err := s.store.GetAuthRequest(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("auth request %q: %w", id, err)
	}
	if ar.CodeHash != "" {
		// A code was already issued for it: the callback must not mint a second one.
		return nil, fmt.Errorf("auth request %q: %w", id, storage.ErrAlreadyUsed)
	}
	return authRequest{ar}, nil
}

// AuthRequestByCode finds the code's request; the code is consumed later, in the transaction
// that issues the tokens (exchangeCode), so that a failure to store them leaves it usable for
// the client's retry. A code already used is a replay: every token issued from its first use
// is revoked (RFC 6749 §4.1.2), because a replayed code means it leaked.
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (zop.AuthRequest, error) {
	now := s.now()
	ar, err := s.store.GetAuthRequestByCode(ctx, secret.HashToken(code))
	if err != nil {
		return nil, fmt.Errorf("code: %w", err)
	}
	if ar.CodeUsedAt != nil {
		if err := s.store.RevokeGrant(ctx, ar.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.ErrorContext(ctx, "revoke grant after code reuse", "err", err, "client_id", ar.ClientID)
			return nil, fmt.Errorf("code replayed, revoking its grant: %w", err)
		}
		s.log.WarnContext(ctx, "authorization code replayed; grant revoked", "client_id", ar.ClientID, "user_id", ar.UserID)
		return nil, fmt.Errorf("code: %w", storage.ErrAlreadyUsed)
	}
	if !now.Before(ar.CodeExpiresAt) {
		return nil, fmt.Errorf("code: %w", storage.ErrExpired)
	}
	// RFC 8707: the exchange may name fewer of the authorized resources; when the
	// authorization named none, any registered one (checked in preToken).
	if ri := requestInfoFrom(ctx); len(ri.resources) > 0 && len(ar.Resources) > 0 {
		res, ok := narrowResources(ar.Resources, ri.resources)
		if !ok {
			ri.invalidTarget = true
			return nil, fmt.Errorf("code: resource not authorized: %w", errInvalid)
		}
		ar.Resources = res
	} else if len(ri.resources) > 0 {
		ar.Resources = ri.resources
	}
	// What the tokens will need is read now, while the code is unused: once it is used, a
	// failure to read would leave the client a used code, whose retry is a replay
	// (invalid_grant, the grant revoked) for a failure of ours. The user, for the ID token's
	// claims (with their number, for the phone scope), and the signing keys, held for the
	// rest of the request (holdTokenUser, holdSigners).
	if ar.UserID != "" {
		u, err := s.store.GetUser(ctx, ar.UserID)
		if err != nil {
			return nil, fmt.Errorf("code's user: %w", err)
		}
		if !u.MaySignIn() {
			// Locked (or disabled) since the code was issued: the lock ended the sign-in the
			// code stands for, so the grant is no longer valid (invalid_grant), not ours to
			// fail on, and the code is left unused.
			return nil, fmt.Errorf("code's user %q is %s: %w", u.ID, u.Status, storage.ErrRevoked)
		}
		if err := s.holdTokenUser(ctx, u, ar.Scopes); err != nil {
			return nil, fmt.Errorf("code's user: %w", err)
		}
	}
	if err := s.holdSigners(ctx); err != nil {
		return nil, err
	}
	return authRequest{ar}, nil
}

// holdSigners reads the keys this token request signs with (the access token's and the
// client's ID-token algorithm) and keeps them in the request: called before the code or
// refresh token is used, so that signing after that reads no store. Otherwise the key cache
// could expire in between and its reload fail: a 503 with the code burnt, or the refresh
// token rotated and its retry taken for reuse (invalid_grant, the grant revoked).
func (s *opStorage) holdSigners(ctx context.Context) error {
	ri := requestInfoFrom(ctx)
	for _, alg := range []string{s.accessTokenAlg, string(idTokenAlg(ri))} {
		k, err := s.keys.Signer(ctx, alg)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", alg, err)
		}
		if ri.signers == nil {
			ri.signers = make(map[string]*keys.Key, 2)
		}
		ri.signers[alg] = k
	}
	return nil
}

// signer is the active key of alg: the one this request holds (holdSigners), else the key
// manager's.
func (s *opStorage) signer(ctx context.Context, alg string) (*keys.Key, error) {
	if k := requestInfoFrom(ctx).signers[alg]; k != nil {
		return k, nil
	}
	return s.keys.Signer(ctx, alg)
}

func (s *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.store.SaveAuthCode(ctx, id, secret.HashToken(code), s.now().Add(s.lifetimes.AuthCode))
}

// DeleteAuthRequest is called by the library after a code exchange. The row is kept (garbage
// collection removes it later) because a replayed code must still find it to revoke the grant.
func (s *opStorage) DeleteAuthRequest(context.Context, string) error { return nil }

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (zop.Client, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("client %q: %w", id, err)
	}
	ri := requestInfoFrom(ctx)
	ri.idTokenAlg = c.IDTokenAlg
	return &client{c: c, loginURL: s.loginURL, defaults: s.lifetimes, asserted: ri.assertedClient == c.ID}, nil
}

// AuthorizeClientIDSecret checks a confidential client's secret. Client secrets are
// high-entropy, so SHA-256 plus a constant-time compare is the right strength.
func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, sec string) error {
	if sec == "" && id != "" && requestInfoFrom(ctx).assertedClient == id {
		// This request authenticated the client by its assertion (preClientAssertion),
		// which handed it on as Basic with no secret.
		return nil
	}
	c, err := s.getClient(ctx, id)
	if storage.Failed(err) {
		return fmt.Errorf("client %q: %w", id, err) // ours, not a wrong secret (noted by getClient)
	}
	if err != nil {
		// Same work as a real check, so a probe cannot time client existence.
		secret.Equal(secret.HashToken(sec), secret.HashToken(""))
		return fmt.Errorf("client %q: %w", id, errInvalid)
	}
	if c.Type != storage.ClientConfidential || c.SecretHash == "" || sec == "" {
		return fmt.Errorf("client %q: not confidential: %w", id, errInvalid)
	}
	if c.TokenEndpointAuthMethod == storage.AuthMethodPrivateKeyJWT {
		// It authenticates by assertion only (it is issued no secret; this holds if one
		// were stored anyway).
		return fmt.Errorf("client %q: private_key_jwt only: %w", id, errInvalid)
	}
	if !secret.Equal(secret.HashToken(sec), c.SecretHash) {
		// The client may come from a cache (storage/clientcache) that has not seen a secret
		// rotated by another process yet: a refused secret is checked once more against the
		// row itself, so a new secret works at once everywhere.
		if u, ok := s.store.(uncachedClients); ok {
			fresh, err := u.GetClientUncached(ctx, id)
			if err != nil {
				noteStoreFailure(ctx, err)
				return fmt.Errorf("client %q: %w", id, err)
			}
			if fresh.SecretHash != c.SecretHash {
				requestInfoFrom(ctx).client = fresh
				return s.AuthorizeClientIDSecret(ctx, id, sec)
			}
		}
		return fmt.Errorf("client %q: wrong secret: %w", id, errInvalid)
	}
	return nil
}

// uncachedClients is a store that caches clients and can read one past its cache.
type uncachedClients interface {
	GetClientUncached(ctx context.Context, id string) (*storage.Client, error)
}

func (s *opStorage) ClientCredentials(ctx context.Context, id, sec string) (zop.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, sec); err != nil {
		return nil, err
	}
	c, err := s.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.GrantTypes(), oidc.GrantTypeClientCredentials) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("client_credentials is not allowed for this client")
	}
	return c, nil
}

func (s *opStorage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (zop.TokenRequest, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("client %q: %w", id, err)
	}
	return &clientCredentialsRequest{clientID: id, scopes: machineScopes(c, scopes), resources: requestInfoFrom(ctx).resources}, nil
}

// machineScopes are the requested scopes a client_credentials token gets: only the client's
// registered extra scopes make sense for a machine token.
func machineScopes(c *storage.Client, requested []string) []string {
	allowed := make([]string, 0, len(requested))
	for _, sc := range requested {
		if slices.Contains(c.Scopes, sc) {
			allowed = append(allowed, sc)
		}
	}
	return allowed
}

// SigningKey returns the active key, from the key manager's in-memory cache: for a JWT access
// token the configured access-token algorithm (ES256 by default, about 20 times cheaper to
// sign than RS256-2048), for an ID token the algorithm the client registered (RS256 unless it
// asked for ES256 or EdDSA). The library asks for the key of both through this one method; it calls
// GetPrivateClaimsFromRequest right before asking for an access token's key, which marks the
// next call as the access token's.
func (s *opStorage) SigningKey(ctx context.Context) (zop.SigningKey, error) {
	ri := requestInfoFrom(ctx)
	if ri.draft {
		ri.signingAccessToken = false
		return s.draftKey, nil // signed for real by the token writer
	}
	alg := ri.idTokenAlg
	if ri.signingAccessToken {
		ri.signingAccessToken = false
		alg = s.accessTokenAlg
	}
	if alg == "" {
		alg = string(jose.RS256)
	}
	k, err := s.signer(ctx, alg)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", alg, err)
	}
	return signingKey{k}, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return keys.Algorithms(), nil
}

func (s *opStorage) KeySet(ctx context.Context) ([]zop.Key, error) {
	pub, err := s.keys.PublicKeys(ctx)
	if err != nil {
		// Every verification of a token of ours reads the keys here (the library's, ours in
		// introspectcc.go): a token it cannot verify for want of keys is not known to be
		// invalid, so introspection, revocation and userinfo answer 503 (see storeFailed).
		noteStoreFailure(ctx, err)
		return nil, fmt.Errorf("key set: %w", err)
	}
	out := make([]zop.Key, 0, len(pub))
	for _, k := range pub {
		out = append(out, publicKey{k})
	}
	return out, nil
}

// ownKeySet verifies the signatures of our own tokens (access tokens, ID token hints) with
// the published keys, as the library's OpenIDKeySet does, after asking the key manager about
// the token's kid: one it does not know has the keys read again (at most every
// keys.RefreshEvery). A forced rotation signs with the new key at once on the instance that
// made it; without the second look, every other instance answered its tokens inactive at
// introspection, 401 at userinfo and "id_token_hint invalid" at end_session until its copy
// of the keys expired (keys.cache_ttl).
type ownKeySet struct{ st *opStorage }

func (k ownKeySet) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if kid, _ := oidc.GetKeyIDAndAlg(jws); kid != "" {
		if _, err := k.st.keys.HasPublicKey(ctx, kid); err != nil {
			noteStoreFailure(ctx, err) // not known to be invalid: see KeySet
			return nil, fmt.Errorf("key set: %w", err)
		}
	}
	return (&zop.OpenIDKeySet{Storage: k.st}).VerifySignature(ctx, jws)
}

func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("op: jwt profile is not supported")
}

type signingKey struct{ k *keys.Key }

// draftKey signs the tokens the token writer signs again before they leave (see atjwt.go):
// an Ed25519 key made at startup and never published, the cheapest algorithm the library
// can hash at_hash with.
type draftKey struct{ k ed25519.PrivateKey }

func (k draftKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.EdDSA }
func (k draftKey) Key() any                                    { return k.k }
func (k draftKey) ID() string                                  { return "draft" }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.k.Alg() }
func (k signingKey) Key() any                                    { return k.k.Private() }
func (k signingKey) ID() string                                  { return k.k.ID() }

type publicKey struct{ k jose.JSONWebKey }

func (k publicKey) ID() string                         { return k.k.KeyID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.SignatureAlgorithm(k.k.Algorithm) }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.k.Key }
