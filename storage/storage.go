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

// Failed reports whether err is a failure to answer (the database down or slow, a broken
// connection), not one of the sentinels above, which are the store's answers about the
// data. It is the one test that tells our failures from what a client or a person is told
// about their request: the store guard's (internal/fault), the protocol's and the pages'.
func Failed(err error) bool {
	return err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) &&
		!errors.Is(err, ErrAlreadyUsed) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrRevoked)
}

// User statuses.
const (
	UserPending  = "pending"  // registered, not yet activated
	UserActive   = "active"   // may sign in
	UserLocked   = "locked"   // locked by an admin
	UserDisabled = "disabled" // kept for audit, may not sign in
)

// MaySignIn is the one rule of which accounts may be signed in to, and used by a session or
// a token: an active one. Every status this version does not know may not (refused is the
// safe answer). account.MaySignIn says why not, for the person who proved who they are.
func (u *User) MaySignIn() bool { return u.Status == UserActive }

// MayResetPassword is the one rule of which accounts a password reset (a link, an SMS code)
// may be sent to and used for: an active one, or one not yet activated, which the reset then
// activates (it proves the mailbox or the number). An account an operator locked or disabled
// may not: a reset would lift the lock.
func (u *User) MayResetPassword() bool { return u.Status == UserActive || u.Status == UserPending }

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
	// ReminderSentAt is when the "activate within a day" reminder went out (pending only).
	ReminderSentAt *time.Time `db:"reminder_sent_at"`
	// LockedUntil is the end of a temporary password lockout (nil when not locked out);
	// LockoutCount counts lockouts so each one lasts longer (reset by a password reset).
	LockedUntil  *time.Time `db:"locked_until"`
	LockoutCount int        `db:"lockout_count"`
	// MFA settings (issue 4): the preferred factor is offered first at sign-in.
	PreferredMFA string `db:"preferred_mfa"`
}

// Client types.
const (
	ClientConfidential = "confidential"
	ClientPublic       = "public"
	ClientNative       = "native"
)

// AuthMethodPrivateKeyJWT is Client.TokenEndpointAuthMethod for RFC 7523 assertions.
const AuthMethodPrivateKeyJWT = "private_key_jwt"

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
	IDTokenAlg             string        `db:"id_token_alg"` // RS256 (default), ES256 or EdDSA
	AccessTokenTTL         time.Duration `db:"-"`
	IDTokenTTL             time.Duration `db:"-"`
	RefreshTokenTTL        time.Duration `db:"-"`
	RequireMFA             bool          `db:"require_mfa"`
	// Who is asking, shown on the consent page: https URLs or "" (the CLI validates them).
	LogoURI   string `db:"logo_uri"`
	ClientURI string `db:"client_uri"` // home page; its domain is shown as text
	PolicyURI string `db:"policy_uri"` // privacy policy
	TosURI    string `db:"tos_uri"`    // terms of service

	// Protocol features (issue 16; migration 0016).
	// TokenEndpointAuthMethod is "" (the type's default: client_secret_basic for confidential
	// clients, none for public ones) or AuthMethodPrivateKeyJWT.
	TokenEndpointAuthMethod string `db:"token_endpoint_auth_method"`
	JWKSURI                 string `db:"jwks_uri"` // https URL of the client's JWK Set
	JWKS                    string `db:"jwks"`     // the client's JWK Set (JSON), when not by URI
	// BackchannelLogoutURI receives logout tokens (OIDC Back-Channel Logout 1.0); with
	// BackchannelLogoutSessionRequired the token always carries sid.
	BackchannelLogoutURI             string `db:"backchannel_logout_uri"`
	BackchannelLogoutSessionRequired bool   `db:"backchannel_logout_session_required"`
	RequirePAR                       bool   `db:"require_par"`              // RFC 9126
	DPoPBoundAccessTokens            bool   `db:"dpop_bound_access_tokens"` // RFC 9449 §5.2
	// Resources are the resource indicators (RFC 8707) the client may name; absolute URIs.
	Resources []string `db:"-"`

	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
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
	// HintSubject is the subject of the request's verified id_token_hint: only that person
	// may answer the request ("" when there was no hint).
	HintSubject string
	ACRValues   []string
	DeviceName  string
	// DeviceID is the installation's stable id the product sent (device_id), for licence
	// seats (issue 14); "" when it sent none.
	DeviceID string
	// Resources are the resource indicators (RFC 8707) the request asked for, each one
	// registered for the client; they become the tokens' audience.
	Resources []string
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
	DeviceID   string // the installation's stable id (see AuthRequest.DeviceID)
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  *time.Time
	// AccessExpiresAt is when the last row-less access token of the grant expires (a
	// person's JWT, which names its grant instead of having an access_tokens row);
	// housekeeping keeps the grant until then. Zero: none was issued.
	AccessExpiresAt time.Time
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
	// DPoPJKT binds the token to a DPoP key (RFC 9449 §5, public clients): the RFC 7638
	// SHA-256 thumbprint of the key whose proof must come with its use; "" = not bound.
	DPoPJKT string
	// GrantAccessExpiresAt, on the successor handed to RotateRefreshToken, is the expiry of
	// the row-less access token issued with it: the rotation records it on the grant
	// (Grant.AccessExpiresAt) in the statement that already locks the grant row. Not a
	// column of the token; zero records nothing.
	GrantAccessExpiresAt time.Time
}

// RefreshGrace lets a client retry a refresh whose response it lost (a dropped connection, a
// crash after the commit): it presents its previous token again. Within Window after that
// token's rotation, from the token's own client (ClientID, the authenticated client), and as
// long as no successor of it was used, RotateRefreshToken treats it as a retry, not as reuse.
// The zero value allows no retry.
type RefreshGrace struct {
	Window   time.Duration
	ClientID string
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
	// DPoPJKT is the thumbprint of the DPoP key the token is bound to (cnf.jkt, RFC 9449
	// §6); "" = a plain bearer token.
	DPoPJKT string
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
	Alg       string // RS256, ES256 or EdDSA
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

// One-time token purposes.
const (
	TokenActivation  = "activation"   // email activation link
	TokenReset       = "reset"        // password reset link
	TokenEmailChange = "email_change" // verify a new email address (Data holds it)
	TokenEmailCode   = "email_code"   // 6-digit sign-in code sent by email
	// TokenNotMe is the "This wasn't me" link of a security notice: it locks the account
	// down and starts a password reset. Data holds the address to restore when the notice
	// was about an email change (empty otherwise).
	TokenNotMe = "not_me"
)

// OneTimeToken is a single-use secret sent to a person (a link or a code). Only its SHA-256
// is stored.
type OneTimeToken struct {
	Hash      string
	Purpose   string
	UserID    string
	Data      string // purpose-specific, e.g. the new email for email_change
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Captcha is one captcha challenge; only the hash of its answer is stored.
type Captcha struct {
	ID         string
	AnswerHash string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     *time.Time
}

// AuditEvent is one entry of a person's security activity.
type AuditEvent struct {
	ID        string
	UserID    string
	Type      string // e.g. "login", "login_failed", "password_changed"
	IP        string
	UserAgent string
	ClientID  string
	Detail    string
	CreatedAt time.Time
	// Actor, Target and Reason describe an admin action (issue 13): who did it ("user:ID",
	// "client:ID" or "cli"), what it touched ("user:ID", "client:ID") and why. They are
	// empty on a person's own events.
	Actor  string
	Target string
	Reason string
}

// Second-factor kinds stored in mfa_credentials.
const (
	MFATOTP     = "totp"
	MFAWebAuthn = "webauthn"
)

// MFACredential is an enrolled second factor: a TOTP secret (sealed) or a WebAuthn
// credential.
type MFACredential struct {
	ID           string
	UserID       string
	Kind         string // MFATOTP or MFAWebAuthn
	Name         string // chosen by the person
	CredentialID []byte // WebAuthn credential id (nil for TOTP); unique
	Secret       []byte // TOTP: sealed secret; WebAuthn: the JSON of webauthn.Credential
	SignCount    uint32
	// LastStep is the last accepted TOTP time step, so a code is accepted once.
	LastStep   int64
	Flagged    bool // a WebAuthn sign-count regression was seen (possible clone)
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// RecoveryCode is one hashed single-use recovery code.
type RecoveryCode struct {
	UserID string
	Hash   string
	UsedAt *time.Time
}

// TrustedBrowser remembers that a browser passed MFA ("remember this browser for 30 days").
type TrustedBrowser struct {
	TokenHash string
	UserID    string
	UserAgent string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Device-code states (RFC 8628).
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// DeviceCode is a device authorization request. DeviceCodeHash is the SHA-256 of the device
// code; UserCode is stored normalised (upper case, no dash) and is low-entropy, so it expires
// fast and guesses are rate-limited.
type DeviceCode struct {
	DeviceCodeHash string
	UserCode       string
	ClientID       string
	Scopes         []string
	DeviceName     string
	DeviceID       string // the installation's stable id (see AuthRequest.DeviceID)
	State          string
	UserID         string
	AuthTime       time.Time
	AMR            []string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	LastPolledAt   *time.Time
	// ConsumedAt is set when the tokens were issued: a device code yields tokens once.
	ConsumedAt *time.Time
	// GrantID is the grant those tokens were issued in ("" before; and on codes consumed by
	// a release that did not record it, which are never retried).
	GrantID string
}

// UserStore keeps accounts.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByEmail looks up by the normalised email.
	GetUserByEmail(ctx context.Context, emailNormalized string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser runs fn on the current row inside one transaction and stores the result.
	// An error fn returns is returned (wrapped) and stores nothing. Like InTx's callback, it
	// is the caller's outcome, never a store failure: storage/wrap passes it through as
	// such, so a refusal decided in fn is not answered "temporarily unavailable". The same
	// holds for every Update* method that takes a callback.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
	// DeleteUser removes the user and everything that belongs to it (sessions, grants, tokens,
	// consents, one-time tokens, MFA credentials, audit events).
	DeleteUser(ctx context.Context, id string) error
	// LockUser locks the user's row until the end of the transaction it runs in (ErrNotFound
	// when there is no such user), so that transactions that decide from what the person has
	// (their second factors and recovery codes) run one after the other instead of each
	// deciding from a state the other is changing. Outside a transaction it only reports
	// whether the user exists.
	LockUser(ctx context.Context, id string) error
	// ListPendingUsers returns pending (never activated) users created before the given time.
	ListPendingUsers(ctx context.Context, createdBefore time.Time) ([]*User, error)
	// DeletePendingUsers deletes pending users created before the given time, and only those
	// (a user activated meanwhile is kept); it returns how many were deleted.
	DeletePendingUsers(ctx context.Context, createdBefore time.Time) (int64, error)
}

// OneTimeTokenStore keeps single-use links and codes.
type OneTimeTokenStore interface {
	CreateOneTimeToken(ctx context.Context, t *OneTimeToken) error
	// ConsumeOneTimeToken marks the token used atomically (UPDATE ... WHERE used_at IS NULL)
	// and returns it. Unknown or other-purpose: ErrNotFound; used: ErrAlreadyUsed (token
	// returned too); expired: ErrExpired.
	ConsumeOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (*OneTimeToken, error)
	// DeleteOneTimeTokens removes every token of the user with the purpose ("" = all).
	DeleteOneTimeTokens(ctx context.Context, userID, purpose string) error
}

// CaptchaStore keeps captcha challenges.
type CaptchaStore interface {
	CreateCaptcha(ctx context.Context, c *Captcha) error
	// ConsumeCaptcha marks the captcha used and returns it; a captcha is good for one
	// answer, right or wrong. ErrNotFound / ErrAlreadyUsed / ErrExpired as for tokens.
	ConsumeCaptcha(ctx context.Context, id string, now time.Time) (*Captcha, error)
	// ReleaseCaptcha makes the captcha that ConsumeCaptcha used at usedAt usable again: for a
	// right answer whose request then failed on our side, so that the form sent again is not
	// told its numbers were wrong. A captcha used at another time, or not at all, is left as
	// it is; releasing none is not an error.
	ReleaseCaptcha(ctx context.Context, id string, usedAt time.Time) error
}

// CounterStore keeps fixed-window counters for rate limits and lockouts, in SQL so they hold
// across restarts and instances.
type CounterStore interface {
	// HitCounter adds one to the counter key in the current window and returns the new count.
	// When the stored window started more than window ago, the counter restarts at 1. Parallel
	// hits lose nothing.
	HitCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// CounterValue returns the count in the current window (0 when absent or expired).
	CounterValue(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// GetCounter returns the stored count and window start whatever their age (ErrNotFound
	// when absent); lockouts use the window start to say when a lock ends.
	GetCounter(ctx context.Context, key string) (count int, windowStart time.Time, err error)
	ResetCounter(ctx context.Context, key string) error
	// UnhitCounter takes back one hit made at hitAt on key with window: it subtracts one
	// from the count if the window that hit counted in is still the stored one, and does
	// nothing otherwise (the window restarted or the key was reset since). An attempt counted
	// before its check (a password, a code) is given back so when the check could not
	// conclude for a failure of ours.
	UnhitCounter(ctx context.Context, key string, window time.Duration, hitAt time.Time) error
}

// AuditStore keeps the security activity log.
type AuditStore interface {
	// AddAuditEvent records e. An event whose ID is stored already is not written again,
	// and that is no error (nor, in a transaction, a failed statement): an outbox task run
	// again after an attempt whose outcome was lost writes its events under the ids of its
	// first run (mail.WriteID), once.
	AddAuditEvent(ctx context.Context, e *AuditEvent) error
	// ListAuditEvents returns the user's newest events first.
	ListAuditEvents(ctx context.Context, userID string, limit int) ([]*AuditEvent, error)
	// DeleteAuditEventsBefore removes events older than the retention boundary and returns
	// how many went.
	DeleteAuditEventsBefore(ctx context.Context, before time.Time) (int64, error)
}

// MFAStore keeps second factors, recovery codes and trusted browsers.
type MFAStore interface {
	CreateMFACredential(ctx context.Context, c *MFACredential) error
	ListMFACredentials(ctx context.Context, userID string) ([]*MFACredential, error)
	GetMFACredentialByCredentialID(ctx context.Context, credentialID []byte) (*MFACredential, error)
	UpdateMFACredential(ctx context.Context, id string, fn func(*MFACredential) error) (*MFACredential, error)
	// AcceptTOTPStep records step as used for the credential only if it is greater than the
	// last accepted step (in SQL); false means the code was already used (a replay).
	AcceptTOTPStep(ctx context.Context, id string, step int64, now time.Time) (bool, error)
	DeleteMFACredential(ctx context.Context, userID, id string) error
	// ReplaceRecoveryCodes voids the old set and stores the new hashes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error
	// UseRecoveryCode marks a matching unused code used; ErrNotFound when none matches.
	UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error
	CountRecoveryCodes(ctx context.Context, userID string) (unused int, err error)
	CreateTrustedBrowser(ctx context.Context, b *TrustedBrowser) error
	// GetTrustedBrowser returns a live (unexpired) entry.
	GetTrustedBrowser(ctx context.Context, tokenHash, userID string, now time.Time) (*TrustedBrowser, error)
	DeleteTrustedBrowsers(ctx context.Context, userID string) error
}

// DeviceCodeStore keeps device authorization requests (RFC 8628).
type DeviceCodeStore interface {
	// CreateDeviceCode fails with ErrConflict when the user code is taken.
	CreateDeviceCode(ctx context.Context, d *DeviceCode) error
	GetDeviceCodeByUserCode(ctx context.Context, userCode string) (*DeviceCode, error)
	GetDeviceCode(ctx context.Context, deviceCodeHash string) (*DeviceCode, error)
	// DecideDeviceCode approves or denies a pending, unexpired code (ErrNotFound otherwise).
	DecideDeviceCode(ctx context.Context, userCode, state, userID string, authTime time.Time, amr []string, now time.Time) error
	// PollDeviceCode records a poll and returns the code with the previous poll time, so the
	// caller can answer slow_down.
	PollDeviceCode(ctx context.Context, deviceCodeHash string, now time.Time) (d *DeviceCode, previousPoll *time.Time, err error)
	// ConsumeDeviceCode marks an approved code consumed by grant grantID, exactly once
	// (ErrAlreadyUsed after), except for a retry within grace of the first use: see
	// sqlstore's ConsumeDeviceCode. replaced is the grant a retry revoked ("" otherwise).
	ConsumeDeviceCode(ctx context.Context, deviceCodeHash, grantID string, now time.Time, grace time.Duration) (d *DeviceCode, replaced string, err error)
}

// LeaseStore lets one instance of a cluster run a job at a time.
type LeaseStore interface {
	// AcquireLease takes or renews the named lease for holder until now+ttl when it is free,
	// expired, or already held by holder; it reports whether holder has it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Outbox item kinds and states.
const (
	// OutboxMessage is a rendered email; other kinds are tasks a handler turns into mail.
	OutboxMessage = "message"

	OutboxPending = "pending" // waiting for its (next) attempt
	OutboxSent    = "sent"    // delivered, or a task done
	OutboxFailed  = "failed"  // given up after the last attempt
)

// OutboxItem is one piece of mail work in the durable outbox: a message to send or a task
// (e.g. "a reset was requested for this address") that becomes one.
type OutboxItem struct {
	ID   string
	Kind string
	// Payload is opaque to the store (the mail package seals it); it is emptied when the
	// item is finished.
	Payload       []byte
	Status        string
	Attempts      int // attempts started, counting the current claim
	NextAttemptAt time.Time
	ClaimedBy     string
	ClaimedUntil  *time.Time
	LastError     string
	CreatedAt     time.Time
	DoneAt        *time.Time
}

// OutboxOutcome is how one attempt at a claimed item ended, for RecordOutbox.
type OutboxOutcome struct {
	ID string
	// Status is OutboxSent or OutboxFailed to finish the item (its payload dropped), or
	// OutboxPending to release the claim and make the item due again at At.
	Status    string
	LastError string
	// At is when the item finished (final status) or when it is due again (OutboxPending).
	At time.Time
	// Untried (with OutboxPending) releases an item that was claimed but not attempted (a
	// shutdown came before its turn): the attempt its claim counted is taken back, so that
	// restarts do not use up its attempts.
	Untried bool
}

// OutboxStore keeps the mail outbox. Any number of workers may share it: a claim is a
// per-item lease, so an item is worked on by one holder at a time, and an item whose claimer
// died is claimed again once the claim expires.
type OutboxStore interface {
	// EnqueueOutbox stores a pending item, due at NextAttemptAt.
	EnqueueOutbox(ctx context.Context, it *OutboxItem) error
	// ClaimOutbox claims up to limit pending items of the given kinds due by now whose
	// claim is absent or expired, for holder until now+ttl, oldest due first, and returns
	// them with Attempts counting this claim. Items another holder claims meanwhile are
	// skipped. Items of other kinds are left to workers that handle them: during a rolling
	// upgrade an older instance must not spend (and give up) the tasks only newer ones know.
	ClaimOutbox(ctx context.Context, holder string, kinds []string, limit int, ttl time.Duration, now time.Time) ([]*OutboxItem, error)
	// RecordOutbox records the outcomes of holder's attempts in one transaction and returns
	// the ids of the items holder no longer held, which it left alone. An error records none
	// of them.
	RecordOutbox(ctx context.Context, holder string, outcomes []OutboxOutcome) (lost []string, err error)
	// ExtendOutboxClaims renews holder's claims of the items ids (still pending and still
	// claimed by holder) until until, in one transaction, and returns the ids holder no
	// longer held (finished, taken over, unknown), which it left alone. A worker renews its
	// claims while it works on them, so that a short claim outlives a long attempt and an
	// item of a worker that died waits only that short claim out.
	ExtendOutboxClaims(ctx context.Context, holder string, ids []string, until time.Time) (lost []string, err error)
	// GetOutbox returns an item whatever its state (tests, diagnosis).
	GetOutbox(ctx context.Context, id string) (*OutboxItem, error)
	// PurgeOutbox deletes items finished before the given time and returns how many went.
	PurgeOutbox(ctx context.Context, finishedBefore time.Time) (int64, error)
}

// ClientStore keeps OAuth clients.
type ClientStore interface {
	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]*Client, error)
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) (*Client, error)
	DeleteClient(ctx context.Context, id string) error
	// LockClient locks the client's row until the end of the transaction it runs in
	// (ErrNotFound when there is no such client), so that a transaction that decides from
	// the client as it read it (a deletion sent with If-Match) is not raced by an update
	// committed between its read and its write. Outside a transaction it only reports
	// whether the client exists.
	LockClient(ctx context.Context, id string) error
}

// AuthRequestStore keeps authorization requests and their codes.
type AuthRequestStore interface {
	CreateAuthRequest(ctx context.Context, ar *AuthRequest) error
	// GetAuthRequest returns ErrNotFound for unknown and ErrExpired for expired requests.
	GetAuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// CompleteAuthRequest marks the request done for a user; it fails with ErrNotFound when the
	// request is unknown, expired or already done.
	CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error
	// RebindAuthRequests moves the unexpired requests without a code that are bound to a
	// browser's old binding secret (oldHash) to its new one, when the browser's binding
	// cookie is re-issued. It returns how many moved; an empty oldHash moves none.
	RebindAuthRequests(ctx context.Context, oldHash, newHash string) (int64, error)
	// SaveAuthCode stores the hash of a code issued for a done request.
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	// GetAuthRequestByCode returns the request holding the code whatever the code's state
	// (used, expired): the code exchange validates with it and consumes the code later, in the
	// transaction that issues the tokens. ErrNotFound when no request holds the code.
	GetAuthRequestByCode(ctx context.Context, codeHash string) (*AuthRequest, error)
	// ConsumeAuthCode atomically marks the code used and returns its request. A code already
	// used returns the request together with ErrAlreadyUsed (so the caller can revoke what the
	// first use issued); an expired code returns ErrExpired; an unknown one ErrNotFound. Run
	// it in the transaction that creates the grant and tokens, so that a failure in between
	// leaves the code unused for the client's retry.
	ConsumeAuthCode(ctx context.Context, codeHash string, now time.Time) (*AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
}

// SessionStore keeps browser SSO sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	// GetSessionByTokenHash returns live sessions only (not revoked, not expired).
	GetSessionByTokenHash(ctx context.Context, tokenHash string, now time.Time) (*Session, error)
	// GetSession returns the session whatever its state; in a transaction it locks the row
	// until the commit, so a revocation decided on what it read is not raced by another.
	GetSession(ctx context.Context, id string) (*Session, error)
	TouchSession(ctx context.Context, id string, now time.Time) error
	RevokeSession(ctx context.Context, id string, now time.Time) error
	ListSessions(ctx context.Context, userID string) ([]*Session, error)
	RevokeUserSessions(ctx context.Context, userID string, now time.Time) error
	// ListExpiredSessions returns up to limit sessions expired by now and never revoked,
	// soonest expired first: housekeeping tells their clients (back-channel logout) and
	// revokes them before the sweep deletes them.
	ListExpiredSessions(ctx context.Context, now time.Time, limit int) ([]*Session, error)
	// ListIdleSessions returns up to limit sessions never revoked and last seen by
	// seenBefore, least recently seen first: housekeeping ends them when they fall idle.
	ListIdleSessions(ctx context.Context, seenBefore time.Time, limit int) ([]*Session, error)
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
	// DenyAccessToken revokes a stateless access token: a client_credentials JWT or a
	// person's JWT naming its grant, neither of which has an access_tokens row. The entry (the jti's hash) is kept
	// until expiresAt, when the token's own expiry refuses it; denying again keeps the first.
	DenyAccessToken(ctx context.Context, idHash, clientID string, expiresAt, now time.Time) error
	// AccessTokenDenied reports whether the stateless access token idHash was revoked.
	AccessTokenDenied(ctx context.Context, idHash string) (bool, error)

	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// GetRefreshToken returns the token by hash whatever its state.
	GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, error)
	// GetRefreshTokenGrant returns the token by hash whatever its state, with its grant and
	// the grant's user, in one read; a token whose grant has no user is ErrNotFound.
	GetRefreshTokenGrant(ctx context.Context, hash string) (*RefreshToken, *Grant, *User, error)
	// RotateRefreshToken marks the token with oldHash used and stores next (same grant) in one
	// transaction. When the old token was already used it revokes the whole grant and returns
	// ErrAlreadyUsed, unless grace allows the retry (see RefreshGrace): then next is stored as
	// the old token's new successor and its earlier, never-used successors are retired, so one
	// live chain remains. When the old token (or its grant) is revoked: ErrRevoked; when
	// expired, ErrExpired. Called inside InTx, a reuse revocation commits only if the caller
	// commits: return nil from the transaction and report the reuse afterwards.
	RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken, now time.Time, grace RefreshGrace) error
	RevokeRefreshToken(ctx context.Context, hash string, now time.Time) error
}

// ConsentStore keeps remembered consents.
type ConsentStore interface {
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// ListConsents returns every consent of the person, in no order: one read for a page that
	// shows them all, however many clients there are.
	ListConsents(ctx context.Context, userID string) ([]*Consent, error)
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

// Roles on accounts (issue 13). admin may do everything in the admin API; support may find
// people and help them (unlock, resend, reset, sign out) but never sees clients or secrets.
const (
	RoleAdmin   = "admin"
	RoleSupport = "support"
)

// Roles lists every role, for validation.
var Roles = []string{RoleAdmin, RoleSupport}

// RoleStore keeps the roles granted to accounts.
type RoleStore interface {
	// GrantRole gives the user the role; granting a held role again changes nothing.
	// ErrNotFound when the user does not exist.
	GrantRole(ctx context.Context, userID, role string, now time.Time) error
	// RevokeRole takes the role away; ErrNotFound when the user did not hold it.
	RevokeRole(ctx context.Context, userID, role string) error
	// ListUserRoles returns the user's roles, sorted (empty when none).
	ListUserRoles(ctx context.Context, userID string) ([]string, error)
	// ListRoleUsers returns the ids of the users holding the role, sorted.
	ListRoleUsers(ctx context.Context, role string) ([]string, error)
}

// UserQuery selects users for the admin API, in id order, one page at a time.
type UserQuery struct {
	EmailPrefix string // matched against the normalised email ("" = any)
	Status      string // "" = any
	AfterID     string // keyset cursor: only ids greater than this
	Limit       int    // <= 0: no limit
}

// AuditQuery selects audit events for the admin API, newest first, one page at a time.
type AuditQuery struct {
	ID       string // the event of this id alone ("" = any)
	UserID   string
	ClientID string
	Type     string
	Actor    string    // AuditEvent.Actor ("" = any)
	Target   string    // AuditEvent.Target ("" = any)
	Since    time.Time // inclusive; zero = unbounded
	Until    time.Time // exclusive; zero = unbounded
	// Before is a keyset cursor: only events older than (BeforeAt, BeforeID).
	BeforeAt time.Time
	BeforeID string
	Limit    int // <= 0: no limit
}

// AdminQueryStore answers the admin API's searches.
type AdminQueryStore interface {
	SearchUsers(ctx context.Context, q UserQuery) ([]*User, error)
	QueryAuditEvents(ctx context.Context, q AuditQuery) ([]*AuditEvent, error)
}

// InitialAccessToken lets its holder register clients dynamically (RFC 7591 §3) a limited
// number of times before it expires. Only its SHA-256 is stored.
type InitialAccessToken struct {
	Hash      string
	UsesLeft  int
	CreatedBy string // the admin actor that issued it ("cli", "user:ID")
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RegistrationStore keeps dynamic client registration's tokens (RFC 7591/7592).
type RegistrationStore interface {
	// CreateInitialAccessToken stores t; a duplicate hash is ErrConflict.
	CreateInitialAccessToken(ctx context.Context, t *InitialAccessToken) error
	// UseInitialAccessToken spends one use of the token in one statement, so concurrent
	// registrations cannot spend the same use twice. Unknown: ErrNotFound; expired:
	// ErrExpired; no use left: ErrAlreadyUsed.
	UseInitialAccessToken(ctx context.Context, hash string, now time.Time) error
	// SetRegistrationToken stores (or replaces) the hash of the client's registration access
	// token (RFC 7592). ErrNotFound when the client does not exist. The row goes with the
	// client.
	SetRegistrationToken(ctx context.Context, clientID, hash string, now time.Time) error
	// ClientByRegistrationToken returns the id of the client registered under the token
	// hash; ErrNotFound for an unknown hash.
	ClientByRegistrationToken(ctx context.Context, hash string) (string, error)
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
	OneTimeTokenStore
	CaptchaStore
	CounterStore
	AuditStore
	MFAStore
	DeviceCodeStore
	LeaseStore
	OutboxStore
	RoleStore
	AdminQueryStore
	RegistrationStore
	LicenceStore
	PhoneStore
	PushedRequestStore
	ReplayStore
	// InTx runs fn with a Store whose calls all happen in one transaction; fn's error rolls
	// back. Nested InTx calls reuse the outer transaction. fn may be called again when the
	// transaction failed only because of concurrency (see WithTxAttempts).
	InTx(ctx context.Context, fn func(Store) error) error
	// DeleteExpired removes expired auth requests, sessions, tokens, revoked grants, one-time
	// tokens, captchas, device codes, trusted browsers, denylist entries and stale counters;
	// it returns the number of rows removed.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}
