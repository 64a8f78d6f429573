// Package storage defines MyAccount's domain records and the store interfaces every SQL backend
// implements. It is the bottom of the import graph: it imports nothing of ours and only the
// standard library, so the sqlite and postgres backends and every consumer can share it.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors that every backend maps its driver errors onto. Match with errors.Is.
var (
	// ErrNotFound: no row matched.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a unique constraint was violated (duplicate email, client id, ...).
	ErrConflict = errors.New("storage: conflict")
	// ErrAlreadyUsed: a single-use item (code, refresh token) was already consumed.
	ErrAlreadyUsed = errors.New("storage: already used")
	// ErrExpired: the item exists but is past its expiry.
	ErrExpired = errors.New("storage: expired")
	// ErrRevoked: the item (or its family) was revoked.
	ErrRevoked = errors.New("storage: revoked")
)

// User statuses.
const (
	UserPending  = "pending"  // registered, not yet activated
	UserActive   = "active"   // may sign in
	UserLocked   = "locked"   // locked by an admin
	UserDisabled = "disabled" // kept for audit, may not sign in
)

// User is a person's account.
type User struct {
	ID              string     `db:"id"`
	Email           string     `db:"email"`            // as typed by the person
	EmailNormalized string     `db:"email_normalized"` // NFKC + lower case; unique
	EmailVerified   bool       `db:"email_verified"`
	PasswordHash    string     `db:"password_hash"` // argon2id PHC string
	Status          string     `db:"status"`
	Name            string     `db:"name"`
	Locale          string     `db:"locale"`
	ZoneInfo        string     `db:"zoneinfo"`
	Country         string     `db:"country"`
	Region          string     `db:"region"`
	DateFormat      string     `db:"date_format"`
	CreatedAt       time.Time  `db:"created_at"`
	UpdatedAt       time.Time  `db:"updated_at"`
	ActivatedAt     *time.Time `db:"activated_at"`
}

// Client types.
const (
	ClientConfidential = "confidential"
	ClientPublic       = "public"
	ClientNative       = "native"
)

// Access-token formats.
const (
	TokenFormatJWT    = "jwt"
	TokenFormatOpaque = "opaque"
)

// Client is an OAuth client (a product that shows "Sign in with My Account").
type Client struct {
	ID                     string        `db:"id"`
	SecretHash             string        `db:"secret_hash"` // SHA-256 hex of the secret; empty for public/native
	Name                   string        `db:"name"`
	Type                   string        `db:"type"`
	RedirectURIs           []string      `db:"-"`
	PostLogoutRedirectURIs []string      `db:"-"`
	GrantTypes             []string      `db:"-"`
	Scopes                 []string      `db:"-"` // allowed scopes beyond the OIDC standard ones
	FirstParty             bool          `db:"first_party"`
	AccessTokenFormat      string        `db:"access_token_format"`
	IDTokenAlg             string        `db:"id_token_alg"` // RS256 (default) or ES256
	AccessTokenTTL         time.Duration `db:"-"`
	IDTokenTTL             time.Duration `db:"-"`
	RefreshTokenTTL        time.Duration `db:"-"`
	RequireMFA             bool          `db:"require_mfa"`
	CreatedAt              time.Time     `db:"created_at"`
	UpdatedAt              time.Time     `db:"updated_at"`
}

// AuthRequest is an OIDC authorization request between /authorize and the code exchange.
// The authorization code lives on the same row: only its SHA-256 is stored.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *int64 // seconds; nil when absent
	UILocales           []string
	LoginHint           string
	ACRValues           []string
	DeviceName          string
	// BrowserHash is the SHA-256 of the binding secret held in the browser's cookie.
	BrowserHash string
	// Filled when the person has signed in and consented.
	UserID    string
	SessionID string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	Done      bool
	// CodeHash is the SHA-256 of the issued authorization code ("" before one is issued).
	CodeHash      string
	CodeExpiresAt time.Time
	CodeUsedAt    *time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// Session is a browser's SSO session. The cookie holds a secret whose SHA-256 is TokenHash;
// ID is public (it is the sid claim).
type Session struct {
	ID         string
	TokenHash  string
	UserID     string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
}

// Grant is a token family: everything issued from one sign-in for one client (one
// authorization code, one device approval, or one client-credentials request). Revoking
// the grant revokes every token in it.
type Grant struct {
	ID         string
	UserID     string // empty for client_credentials
	ClientID   string
	Scopes     []string
	Audience   []string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	SessionID  string
	DeviceName string
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  *time.Time
}

// RefreshToken is one link of a rotating refresh-token chain. Only the hash is stored.
type RefreshToken struct {
	ID        string
	Hash      string
	GrantID   string
	ParentID  string
	ClientID  string
	UserID    string
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

// AccessToken records an issued access token (JWT or opaque) so that it can be revoked and
// introspected. IDHash is the SHA-256 of the token id (the JWT's jti): a leaked database does
// not reveal token ids.
type AccessToken struct {
	IDHash    string
	GrantID   string // empty for a standalone token
	ClientID  string
	Subject   string
	Scopes    []string
	Audience  []string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// Consent records that a person allowed a third-party client these scopes.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Signing-key states, in lifecycle order.
const (
	KeyNext    = "next"    // published in JWKS, not yet signing
	KeyActive  = "active"  // signing (one per algorithm)
	KeyRetired = "retired" // published only, until tokens it signed have expired
)

// SigningKey is a private signing key sealed under the master key.
type SigningKey struct {
	ID        string // kid
	Alg       string // RS256 or ES256
	Sealed    []byte // AES-256-GCM(nonce||ciphertext), AAD = kid
	PublicJWK []byte // the public key as JSON (JWK), for JWKS without unsealing
	State     string
	CreatedAt time.Time
	// ActivatedAt is when it started signing (nil while next).
	ActivatedAt *time.Time
	// RetiredAt is when it stopped signing (nil unless retired).
	RetiredAt *time.Time
	// DeleteAfter: once past, the key is no longer published and may be deleted.
	DeleteAfter *time.Time
}

// UserStore keeps accounts.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByEmail looks up by the normalised email.
	GetUserByEmail(ctx context.Context, emailNormalized string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser runs fn on the current row inside one transaction and stores the result.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
	// DeleteUser removes the user and everything that belongs to it (sessions, grants, tokens,
	// consents).
	DeleteUser(ctx context.Context, id string) error
}

// ClientStore keeps OAuth clients.
type ClientStore interface {
	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]*Client, error)
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) (*Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// AuthRequestStore keeps authorization requests and their codes.
type AuthRequestStore interface {
	CreateAuthRequest(ctx context.Context, ar *AuthRequest) error
	// GetAuthRequest returns ErrNotFound for unknown and ErrExpired for expired requests.
	GetAuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// CompleteAuthRequest marks the request done for a user; it fails with ErrNotFound when the
	// request is unknown, expired or already done.
	CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error
	// SaveAuthCode stores the hash of a code issued for a done request.
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	// ConsumeAuthCode atomically marks the code used and returns its request. A code already
	// used returns the request together with ErrAlreadyUsed (so the caller can revoke what the
	// first use issued); an expired code returns ErrExpired; an unknown one ErrNotFound.
	ConsumeAuthCode(ctx context.Context, codeHash string, now time.Time) (*AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
}

// SessionStore keeps browser SSO sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	// GetSessionByTokenHash returns live sessions only (not revoked, not expired).
	GetSessionByTokenHash(ctx context.Context, tokenHash string, now time.Time) (*Session, error)
	GetSession(ctx context.Context, id string) (*Session, error)
	TouchSession(ctx context.Context, id string, now time.Time) error
	RevokeSession(ctx context.Context, id string, now time.Time) error
	ListSessions(ctx context.Context, userID string) ([]*Session, error)
	RevokeUserSessions(ctx context.Context, userID string, now time.Time) error
}

// TokenStore keeps grants (token families), refresh tokens and access tokens.
type TokenStore interface {
	CreateGrant(ctx context.Context, g *Grant) error
	GetGrant(ctx context.Context, id string) (*Grant, error)
	ListGrants(ctx context.Context, userID string) ([]*Grant, error)
	// RevokeGrant revokes the grant and every refresh and access token in it.
	RevokeGrant(ctx context.Context, id string, now time.Time) error
	// RevokeUserClientGrants revokes every grant of the user for the client ("" = all clients).
	RevokeUserClientGrants(ctx context.Context, userID, clientID string, now time.Time) error

	CreateAccessToken(ctx context.Context, t *AccessToken) error
	// GetAccessToken returns the token by id hash; revoked tokens come back with RevokedAt set.
	GetAccessToken(ctx context.Context, idHash string) (*AccessToken, error)
	RevokeAccessToken(ctx context.Context, idHash string, now time.Time) error

	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// GetRefreshToken returns the token by hash whatever its state.
	GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, error)
	// RotateRefreshToken marks the token with oldHash used and stores next (same grant) in one
	// transaction. When the old token was already used it revokes the whole grant and returns
	// ErrAlreadyUsed; when it (or its grant) is revoked, ErrRevoked; when expired, ErrExpired.
	RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken, now time.Time) error
	RevokeRefreshToken(ctx context.Context, hash string, now time.Time) error
}

// ConsentStore keeps remembered consents.
type ConsentStore interface {
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// SaveConsent inserts or replaces the consent.
	SaveConsent(ctx context.Context, c *Consent) error
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// KeyStore keeps sealed signing keys.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// UpdateSigningKey runs fn on the row in one transaction.
	UpdateSigningKey(ctx context.Context, id string, fn func(*SigningKey) error) error
	DeleteSigningKey(ctx context.Context, id string) error
}

// Store is everything a backend provides.
type Store interface {
	UserStore
	ClientStore
	AuthRequestStore
	SessionStore
	TokenStore
	ConsentStore
	KeyStore
	// InTx runs fn with a Store whose calls all happen in one transaction; fn's error rolls
	// back. Nested InTx calls reuse the outer transaction.
	InTx(ctx context.Context, fn func(Store) error) error
	// DeleteExpired removes expired auth requests, sessions, tokens and revoked grants older
	// than the given time; it returns the number of rows removed.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}
