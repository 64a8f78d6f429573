// Package account holds the rules of a person's account: email normalisation, the password
// policy, creation, and password sign-in. It knows nothing of HTTP.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/passwords"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// Errors of the account rules. Callers show ErrInvalidCredentials for both an unknown email
// and a wrong password, so the two cannot be told apart.
var (
	ErrInvalidCredentials = errors.New("account: invalid email or password")
	ErrNotActive          = errors.New("account: not activated")
	ErrLocked             = errors.New("account: locked")
	ErrInvalidEmail       = errors.New("account: invalid email address")
	ErrPasswordTooShort   = errors.New("account: password too short")
	ErrPasswordTooLong    = errors.New("account: password too long")
	ErrPasswordCommon     = errors.New("account: password too common")
	ErrTooManyAttempts    = errors.New("account: too many attempts")
	ErrLinkInvalid        = errors.New("account: link expired or already used")
	// ErrPasswordPredictable is a password made of the account's email, the product's name
	// or keyboard walks; it is a kind of ErrPasswordCommon, and shown like one.
	ErrPasswordPredictable = fmt.Errorf("%w: made of the email address, the product name or a keyboard walk", ErrPasswordCommon)
)

// Password length bounds. The maximum keeps hashing cost bounded; there are no composition
// rules (NIST SP 800-63B §5.1.1.2).
const (
	DefaultMinPasswordLen = 12
	MaxPasswordLen        = 128
)

// Store is what the account rules need from storage.
type Store interface {
	storage.UserStore
	storage.OneTimeTokenStore
	storage.CounterStore
	storage.AuditStore
	storage.LeaseStore
	RevokeUserSessions(ctx context.Context, userID string, now time.Time) error
	RevokeUserClientGrants(ctx context.Context, userID, clientID string, now time.Time) error
	// ListSessions names the sessions a reset ends, for their clients (back-channel logout).
	ListSessions(ctx context.Context, userID string) ([]*storage.Session, error)
	// GetClient names the applications in a person's activity and installations.
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	// QueryAuditEvents tells a first sign-in (SignInRecords).
	QueryAuditEvents(ctx context.Context, q storage.AuditQuery) ([]*storage.AuditEvent, error)
	GetGrant(ctx context.Context, id string) (*storage.Grant, error)
	ListGrants(ctx context.Context, userID string) ([]*storage.Grant, error)
	RevokeGrant(ctx context.Context, id string, now time.Time) error
	// InTx runs fn in one transaction (storage.Store.InTx): "This wasn't me" locks an
	// account down all at once, and a link is peeked at in a transaction rolled back.
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// Mailer sends one rendered email (mail.Outbox queues it durably; mail.LogSender logs it).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Renderer renders one kind of email in a language (mail.Renderer).
type Renderer interface {
	Render(kind, lang string, data mail.Data) (mail.Message, error)
}

// Blocklist knows common and breached passwords.
type Blocklist interface {
	Common(password string) bool
}

// Service applies the account rules over a store.
type Service struct {
	Store          Store
	MinPasswordLen int
	// Blocklist refuses common passwords when set.
	Blocklist Blocklist
	// Mail sends notifications; Templates renders them. Nil Mail sends nothing (CLI use).
	// When Mail is also a TaskQueue (the server's outbox), work that must not show in a
	// request's timing is queued for its worker.
	Mail      Mailer
	Templates Renderer
	// ProductName is refused as (the bulk of) a password, like "myaccount".
	ProductName string
	// BaseURL is the issuer: links in emails point below it.
	BaseURL string
	Lockout LockoutPolicy
	// ActivationTTL is how long an activation link works and a pending account lives.
	ActivationTTL time.Duration
	ResetTTL      time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
	// Hasher hashes new passwords and tells which stored hashes to upgrade; its zero value
	// uses the default argon2id parameters. The server builds it from the configuration.
	Hasher secret.Hasher
	// Hashes bounds the password hashing done at once (argon2id, Hasher's memory each); every hash
	// and verification of the service waits for one of its slots, and a full queue fails
	// the call with an error marked fault.ErrUnavailable. Nil means no limit (CLI, tests).
	Hashes *secret.Limiter
	// Metrics counts sign-ins, second steps and lockouts; nil counts nothing.
	Metrics Recorder
	// SignedOut queues, in their transaction, the logout tokens of the sessions a reset, a
	// password change, a deletion or "This wasn't me" ends (back-channel logout); nil tells
	// no one.
	SignedOut sessions.Notifier

	// cost is what a hash at Hasher's cost takes here, to pad checks of other costs to.
	cost hashCost
	// padHook, in tests, is told each padding instead of waiting it.
	padHook func(time.Duration)
}

// Recorder counts the outcomes the service sees. It is an interface so that the domain does
// not import the Prometheus client (which brings net/http); *metrics.Metrics implements it.
type Recorder interface {
	SignIn(method, result string)
	MFA(kind string, ok bool)
	Lockout(scope string)
}

type noRecorder struct{}

func (noRecorder) SignIn(string, string) {}
func (noRecorder) MFA(string, bool)      {}
func (noRecorder) Lockout(string)        {}

// recorder is s.Metrics, or one that counts nothing.
func (s *Service) recorder() Recorder {
	if s.Metrics == nil {
		return noRecorder{}
	}
	return s.Metrics
}

// ValidatePassword applies the password policy to pw as it will be hashed (NFC): the length
// bounds (counted in characters, not bytes), the blocklist, and predictability. context names
// what the password must not be made of, besides the product's name: the account's email
// address (its local part is checked too). There are no composition rules (NIST SP 800-63B
// §5.1.1.2).
func (s *Service) ValidatePassword(pw string, context ...string) error {
	pw = norm.NFC.String(pw)
	minLen := s.MinPasswordLength()
	n := utf8.RuneCountInString(pw)
	switch {
	case n < minLen:
		return fmt.Errorf("%w: at least %d characters", ErrPasswordTooShort, minLen)
	case n > MaxPasswordLen:
		return fmt.Errorf("%w: at most %d characters", ErrPasswordTooLong, MaxPasswordLen)
	case s.Blocklist != nil && s.Blocklist.Common(pw):
		return ErrPasswordCommon
	case passwords.Predictable(pw, append(context, s.productWords()...)...):
		return ErrPasswordPredictable
	}
	return nil
}

// productWords are the names of this service a password must not be made of.
func (s *Service) productWords() []string {
	words := []string{"myaccount"}
	if s.ProductName != "" {
		words = append(words, s.ProductName)
	}
	return words
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Create makes an account with the given status. Admin-created accounts are active at once.
func (s *Service) Create(ctx context.Context, email, password, status string) (*storage.User, error) {
	return s.CreateIn(ctx, s.Store, email, password, status)
}

// CreateIn is Create through st, the caller's transaction: an operator's creation commits
// with its profile and its audit event, or not at all.
func (s *Service) CreateIn(ctx context.Context, st storage.UserStore, email, password, status string) (*storage.User, error) {
	email, err := CanonicalEmail(email)
	if err != nil {
		return nil, err
	}
	if err := s.ValidatePassword(password, email); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &storage.User{
		ID:              secret.NewID(),
		Email:           email,
		EmailNormalized: strings.ToLower(email),
		PasswordHash:    hash,
		Status:          status,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	if status == storage.UserActive {
		u.EmailVerified = true
		u.ActivatedAt = &now
	}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// MinPasswordLength is the configured minimum, for messages.
func (s *Service) MinPasswordLength() int {
	if s.MinPasswordLen > 0 {
		return s.MinPasswordLen
	}
	return DefaultMinPasswordLen
}

// Authenticate checks an email and password without lockout bookkeeping (SignIn adds it).
// An unknown email costs the same argon2id work as a wrong password, and both return
// ErrInvalidCredentials. Account state (pending, locked) is revealed only after the correct
// password. When no hashing slot is free (see Service.Hashes) the error is marked
// fault.ErrUnavailable, for an unknown email as for a known one.
func (s *Service) Authenticate(ctx context.Context, email, password string) (*storage.User, error) {
	return s.authenticate(ctx, email, password, nil, nil)
}

// authenticate is Authenticate; known, when not nil, is the account the caller read for the
// address already (known.u nil: it has none), which is not read again; a, when not nil, is
// the attempt to count (SignIn).
func (s *Service) authenticate(ctx context.Context, email, password string, known *lookup, a *attempt) (*storage.User, error) {
	if len(password) > 4*MaxPasswordLen {
		// Bound the hashing work an attacker can ask for; still do one hash for timing.
		if err := s.dummyVerify(ctx, "", a); err != nil {
			return nil, err
		}
		return nil, ErrInvalidCredentials
	}
	var u *storage.User
	var err error
	switch {
	case known == nil:
		u, err = s.Store.GetUserByEmail(ctx, NormalizeEmail(email))
	case known.u == nil:
		err = storage.ErrNotFound
	default:
		u = known.u
	}
	if errors.Is(err, storage.ErrNotFound) {
		if err := s.dummyVerify(ctx, password, a); err != nil {
			return nil, err
		}
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	ok, legacy, err := s.verifyPassword(ctx, u.PasswordHash, password, a)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !ok {
		return nil, ErrInvalidCredentials
	}
	if err := MaySignIn(u); err != nil {
		return u, err
	}
	if legacy || s.Hasher.NeedsRehash(u.PasswordHash) {
		s.rehash(ctx, u, password)
	}
	return u, nil
}

// rehash replaces a stored hash not at the configured cost after a successful sign-in. It is
// best effort: it queues for a hashing slot like any check, and when refused one it records
// no failure (the sign-in succeeded; the next one will replace the hash).
func (s *Service) rehash(ctx context.Context, u *storage.User, password string) {
	release, err := s.Hashes.Acquire(ctx)
	if err != nil {
		return
	}
	h, err := s.Hasher.Hash(norm.NFC.String(password))
	release()
	if err != nil {
		return
	}
	if _, err := s.Store.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.PasswordHash = h; return nil }); err != nil && s.Logger != nil {
		s.Logger.WarnContext(ctx, "rehash password", "err", err, "user_id", u.ID)
	}
}
