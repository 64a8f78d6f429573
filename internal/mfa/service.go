package mfa

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// Errors of the second-factor rules, matched with errors.Is. The ui shows ErrInvalidCode for
// every wrong, unknown, expired or used code, so a guesser learns nothing about which.
var (
	ErrInvalidCode = errors.New("mfa: invalid or expired code")
	// ErrCodeReused: a correct TOTP code that was already accepted (a replay, or the same
	// person submitting twice); the person should wait for the next code.
	ErrCodeReused = errors.New("mfa: code already used")
	// ErrTooManyAttempts: the person's second-factor attempts are used up for now.
	ErrTooManyAttempts = errors.New("mfa: too many attempts")
	// ErrAttemptsCapped: the daily cap is reached; the second step stays closed until the
	// day's window passes. It is an ErrTooManyAttempts too.
	ErrAttemptsCapped = fmt.Errorf("%w: daily cap reached", ErrTooManyAttempts)
	// ErrEnrolmentExpired: a pending TOTP enrolment that does not open, belongs to someone
	// else, or is too old.
	ErrEnrolmentExpired = errors.New("mfa: enrolment expired or invalid")
	// ErrEnrolmentDone: a pending TOTP enrolment that was already confirmed and stored.
	ErrEnrolmentDone = errors.New("mfa: enrolment already finished")
	// ErrCeremonyInvalid: ceremony state that is unknown, expired, already taken, or another
	// person's.
	ErrCeremonyInvalid = errors.New("mfa: ceremony expired, used or unknown")
	// ErrNoStrongFactor: recovery codes asked for by a person without an authenticator app
	// or a key that can sign in here; the codes would stand in for nothing.
	ErrNoStrongFactor = errors.New("mfa: no strong factor for recovery codes to stand in for")
)

// Lifetimes of the state Service keeps.
const (
	// TOTPEnrolmentTTL bounds the time between showing a QR code and confirming it.
	TOTPEnrolmentTTL = 30 * time.Minute
	// CeremonyTTL bounds a WebAuthn ceremony: the browser's own timeout is five minutes.
	CeremonyTTL = 5 * time.Minute
	// TrustedBrowserTTL is "remember this browser for 30 days".
	TrustedBrowserTTL = 30 * 24 * time.Hour
	// PurposeCeremony is the one-time-token purpose of saved ceremony state.
	PurposeCeremony = "mfa_ceremony"
)

// Store is what the second-factor rules need from storage.
type Store interface {
	storage.MFAStore
	storage.OneTimeTokenStore
	storage.CounterStore
	// UpdateUser records the method a passed step offers first (Passed).
	UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error)
	// LockUser locks the person for the rest of a transaction (LockFactors).
	LockUser(ctx context.Context, id string) error
	// InTx runs fn in one transaction (storage.Store.InTx).
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// Sealer encrypts secrets at rest with additional authenticated data; *keys.Sealer is one.
type Sealer interface {
	Seal(kid string, plaintext []byte) ([]byte, error)
	Open(kid string, sealed []byte) ([]byte, error)
}

// Limits bound second-factor guessing per person: at most MaxFailures attempts in Window,
// shared by TOTP, recovery codes and emailed codes (they all guard the same door). Only a
// person who already passed the password reaches them, so the limit cannot be used to lock
// out someone else. A correct code resets the count.
type Limits struct {
	MaxFailures int
	Window      time.Duration
	// DayCap is a hard cap on attempts per person per day, whatever Window allows: at 5 per
	// 15 minutes someone who has the password could otherwise try 480 codes a day.
	DayCap int
}

// DefaultLimits allows 5 attempts per 15 minutes: against a 6-digit TOTP with a ±1 step
// window that is a 1.5·10⁻⁵ chance per window, about 1.4·10⁻³ per day of non-stop guessing.
// The day cap of 20 holds such a guesser to a 6·10⁻⁵ chance per day.
func DefaultLimits() Limits { return Limits{MaxFailures: 5, Window: 15 * time.Minute, DayCap: 20} }

// dayWindow is the window of the daily cap.
const dayWindow = 24 * time.Hour

// Service applies the second-factor rules over a store.
type Service struct {
	Store Store
	// Sealer seals TOTP secrets (required for TOTP).
	Sealer Sealer
	// Issuer is the product name authenticator apps show next to the code.
	Issuer string
	// Limits; the zero value means DefaultLimits.
	Limits Limits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger hears of best-effort writes that failed; nil means slog.Default.
	Logger *slog.Logger
	// NoWebAuthn says passkeys and security keys are off here (no domain to be their
	// relying party): a key the person has cannot be asked for, so it neither counts as
	// enrolled nor as a factor a sign-in must have proved.
	NoWebAuthn bool
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) limits() Limits {
	if s.Limits.MaxFailures <= 0 || s.Limits.Window <= 0 {
		return DefaultLimits()
	}
	l := s.Limits
	if l.DayCap <= 0 {
		l.DayCap = DefaultLimits().DayCap
	}
	return l
}

// RetryAfter is how long after a refusal for too many attempts (ErrTooManyAttempts, or
// ErrAttemptsCapped for the day's cap) the person may try again at the latest: the window
// of the count that refused, for pages and Retry-After to state. Zero for any other error.
func (s *Service) RetryAfter(err error) time.Duration {
	switch {
	case errors.Is(err, ErrAttemptsCapped):
		return dayWindow
	case errors.Is(err, ErrTooManyAttempts):
		return s.limits().Window
	}
	return 0
}

// attemptKey and dayKey are the counters of a person's second-factor attempts.
func attemptKey(userID string) string { return "mfa:" + userID }
func dayKey(userID string) string     { return "mfa-day:" + userID }

// attempt counts one attempt before the code is even looked at. Counting first (an atomic
// SQL increment) rather than checking and counting failures afterwards means that N parallel
// guesses get N distinct counts, so no burst of concurrent requests slips past the limit.
//
// The check calls settle with its outcome, typically deferred: an error that is neither a
// wrong code nor a refusal is ours (the store, the sealer), the check could not conclude,
// and the attempt is given back, so that a failure of ours never counts toward closing the
// person's second step. settle returns the error it was given.
func (s *Service) attempt(ctx context.Context, subject string) (settle func(error) error, err error) {
	l := s.limits()
	at := s.now()
	day, err := s.Store.HitCounter(ctx, dayKey(subject), dayWindow, at)
	if err != nil {
		return nil, fmt.Errorf("mfa: count attempt: %w", err)
	}
	if day > l.DayCap {
		return nil, ErrAttemptsCapped
	}
	n, err := s.Store.HitCounter(ctx, attemptKey(subject), l.Window, at)
	if err != nil {
		s.giveBack(ctx, subject, at, false)
		return nil, fmt.Errorf("mfa: count attempt: %w", err)
	}
	if n > l.MaxFailures {
		return nil, ErrTooManyAttempts
	}
	return func(err error) error {
		if err != nil && !errors.Is(err, ErrInvalidCode) && !errors.Is(err, ErrCodeReused) {
			s.giveBack(ctx, subject, at, true)
		}
		return err
	}, nil
}

// giveBack takes back an attempt of subject counted at at: its day's hit and, with window,
// its window's. Best effort, as succeeded is: what a failure leaves is one count that
// expires with its window.
func (s *Service) giveBack(ctx context.Context, subject string, at time.Time, window bool) {
	hits := []storage.Hit{{Key: dayKey(subject), Window: dayWindow}}
	if window {
		hits = append(hits, storage.Hit{Key: attemptKey(subject), Window: s.limits().Window})
	}
	if err := storage.GiveBack(ctx, s.Store, at, hits...); err != nil {
		s.logger().WarnContext(ctx, "mfa: give back an attempt our failure cut short", "err", err, "user_id", subject)
	}
}

// succeeded clears the attempt count after a correct code, so the person's next sign-in does
// not inherit their typos. It is best effort: a failure is logged, never returned, because
// failing the sign-in for it would turn our failure into a refused code (the code is accepted
// by then), and all it leaves behind is a count that expires with its window.
func (s *Service) succeeded(ctx context.Context, userID string) {
	for _, k := range []string{attemptKey(userID), dayKey(userID)} {
		if err := s.Store.ResetCounter(ctx, k); err != nil {
			s.logger().WarnContext(ctx, "mfa: reset attempts after a correct code", "err", err, "user_id", userID)
			return
		}
	}
}

// Enrolled summarises the person's second factors for NextStep. Flagged WebAuthn credentials
// (possible clones) are not counted: they cannot sign in. EmailCode is left for the caller.
func (s *Service) Enrolled(ctx context.Context, userID string) (Enrolled, error) {
	return s.enrolledIn(ctx, s.Store, userID)
}

// enrolledIn is Enrolled through st (the store or a transaction's).
func (s *Service) enrolledIn(ctx context.Context, st Store, userID string) (Enrolled, error) {
	e, err := enrolled(ctx, st, userID)
	if s.NoWebAuthn {
		e.WebAuthn = 0
	}
	return e, err
}

// LockFactors locks the person userID in tx for the rest of the transaction. Every
// transaction that changes a person's second factors or recovery codes from what it read of
// them calls it first, before any other read or write of them, so that two such
// transactions on one person run one after the other. Under PostgreSQL's READ COMMITTED,
// several instances run them at once and neither sees what the other has not committed: a
// regeneration of codes racing the removal of the last factor left codes standing in for
// nothing, two removals of the person's two factors left codes with no factor, and a first
// factor's enrolment racing a removal left the new factor without codes. Locking the user's
// row, always first, also keeps their lock order the same, so they cannot deadlock. (SQLite's
// write transactions exclude each other already; the lock costs it nothing.)
func LockFactors(ctx context.Context, tx Store, userID string) error {
	if err := tx.LockUser(ctx, userID); err != nil {
		return fmt.Errorf("mfa: lock the person's factors: %w", err)
	}
	return nil
}

// enrolled is Enrolled through st (the store or a transaction's).
func enrolled(ctx context.Context, st Store, userID string) (Enrolled, error) {
	creds, err := st.ListMFACredentials(ctx, userID)
	if err != nil {
		return Enrolled{}, fmt.Errorf("mfa: list factors: %w", err)
	}
	var e Enrolled
	for _, c := range creds {
		switch {
		case c.Kind == storage.MFATOTP:
			e.TOTP++
		case c.Kind == storage.MFAWebAuthn && !c.Flagged:
			e.WebAuthn++
		}
	}
	if e.RecoveryCodes, err = st.CountRecoveryCodes(ctx, userID); err != nil {
		return Enrolled{}, fmt.Errorf("mfa: count recovery codes: %w", err)
	}
	return e, nil
}

var _ sessions.Factors = (*Service)(nil)

// SignInProved reports whether a sign-in at at that proved amr proved the factors the person
// had then (sessions.Factors, for sessions.Recent): with an authenticator app or a WebAuthn
// key set up before it, only a multi-factor sign-in did. A remembered browser lets the
// password alone sign in, and mfa.sms: enabled lets an SMS code stand in for the app: neither
// may change how the account signs in. A factor added after the sign-in is not asked for.
func (s *Service) SignInProved(ctx context.Context, userID string, amr []string, at time.Time) (bool, error) {
	if EvidenceFromAMR(amr).MFA() {
		return true, nil
	}
	creds, err := s.Store.ListMFACredentials(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("mfa: list factors: %w", err)
	}
	for _, c := range creds {
		strong := c.Kind == storage.MFATOTP || (c.Kind == storage.MFAWebAuthn && !c.Flagged && !s.NoWebAuthn)
		if strong && c.CreatedAt.Before(at) {
			return false, nil
		}
	}
	return true, nil
}

// RemoveFactor deletes one of the person's credentials. Any trusted browser is forgotten (it
// was trusted on the strength of the factors as they were), and when no TOTP or WebAuthn
// credential is left the recovery codes are voided too: they are the fallback of a factor
// that no longer exists, and a sheet lying around for years should not come back to life when
// the person enrols again (enrolment issues a fresh set). It is one transaction (RemoveFactorIn):
// a failure leaves the factor, the browsers and the codes as they were, for the retry.
func (s *Service) RemoveFactor(ctx context.Context, rc sessions.Recent, id string, tell Tell) error {
	if err := rc.Check(); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := RemoveFactorIn(ctx, tx, rc.UserID(), id); err != nil {
			return err
		}
		return tellIn(ctx, tx, tell)
	})
}

// RemoveFactorIn is RemoveFactor through tx, for a caller that commits the removal with its
// own writes (the admin service's removal and its audit event). Written one by one, a failure
// after the credential's delete left the person's trusted browsers trusted for good, and the
// retry found no credential to remove.
//
// It locks the person first (LockFactors): what it voids depends on what is left.
func RemoveFactorIn(ctx context.Context, tx Store, userID, id string) error {
	if err := LockFactors(ctx, tx, userID); err != nil {
		return err
	}
	if err := tx.DeleteMFACredential(ctx, userID, id); err != nil {
		return fmt.Errorf("mfa: remove factor: %w", err)
	}
	if err := tx.DeleteTrustedBrowsers(ctx, userID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("mfa: forget trusted browsers: %w", err)
	}
	e, err := enrolled(ctx, tx, userID)
	if err != nil {
		return err
	}
	if !e.Strong() {
		if err := tx.ReplaceRecoveryCodes(ctx, userID, nil); err != nil {
			return fmt.Errorf("mfa: void recovery codes: %w", err)
		}
	}
	return nil
}

// SaveCeremony keeps state (a WebAuthn session) server-side, single use, bound to userID, for
// CeremonyTTL, and returns the handle to give the browser. Keeping it in SQL rather than in
// process memory is what lets the Finish request land on another instance or after a restart;
// storing only the handle's hash means a leaked database cannot answer a ceremony.
// Usernameless (discoverable) logins have no user to bind to: store those elsewhere.
func (s *Service) SaveCeremony(ctx context.Context, userID string, state []byte) (handle string, err error) {
	handle = secret.RandomToken(32)
	now := s.now()
	t := &storage.OneTimeToken{
		Hash: secret.HashToken(handle), Purpose: PurposeCeremony, UserID: userID,
		Data:      base64.StdEncoding.EncodeToString(state),
		CreatedAt: now, ExpiresAt: now.Add(CeremonyTTL),
	}
	if err := s.Store.CreateOneTimeToken(ctx, t); err != nil {
		return "", fmt.Errorf("mfa: save ceremony: %w", err)
	}
	return handle, nil
}

// TakeCeremony returns the state saved under handle for userID and marks it used, so each
// challenge can be answered once: a second take, an expired one, an unknown handle or another
// person's all give ErrCeremonyInvalid.
func (s *Service) TakeCeremony(ctx context.Context, userID, handle string) ([]byte, error) {
	return s.takeCeremony(ctx, s.Store, userID, handle)
}

// CheckCeremony is TakeCeremony without using the state up: it returns the state and the
// Spend that takes it, for the transaction that stores what the ceremony made (AddWebAuthn),
// so that a failure of ours in between leaves the ceremony good for the same answer again.
func (s *Service) CheckCeremony(ctx context.Context, userID, handle string) ([]byte, Spend, error) {
	take := func(ctx context.Context, tx Store) error {
		_, err := s.takeCeremony(ctx, tx, userID, handle)
		return err
	}
	var state []byte
	err := s.try(ctx, func(tx storage.Store) error {
		var err error
		state, err = s.takeCeremony(ctx, tx, userID, handle)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return state, take, nil
}

// takeCeremony is TakeCeremony through st.
func (s *Service) takeCeremony(ctx context.Context, st Store, userID, handle string) ([]byte, error) {
	if handle == "" {
		return nil, ErrCeremonyInvalid
	}
	t, err := st.ConsumeOneTimeToken(ctx, secret.HashToken(handle), PurposeCeremony, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrAlreadyUsed):
		return nil, fmt.Errorf("%w: %w", ErrCeremonyInvalid, err)
	case err != nil:
		return nil, fmt.Errorf("mfa: take ceremony: %w", err)
	case !secret.Equal(t.UserID, userID):
		return nil, ErrCeremonyInvalid
	}
	state, err := base64.StdEncoding.DecodeString(t.Data)
	if err != nil {
		return nil, fmt.Errorf("mfa: take ceremony: corrupt state: %w", err)
	}
	return state, nil
}

// TrustBrowser remembers that this browser passed MFA for userID and returns the secret for
// its cookie (only the hash is stored).
func (s *Service) TrustBrowser(ctx context.Context, userID, userAgent string) (string, error) {
	return s.trust(ctx, s.Store, userID, userAgent)
}

func (s *Service) trust(ctx context.Context, st interface {
	CreateTrustedBrowser(ctx context.Context, b *storage.TrustedBrowser) error
}, userID, userAgent string) (string, error) {
	token := secret.RandomToken(32)
	now := s.now()
	b := &storage.TrustedBrowser{TokenHash: secret.HashToken(token), UserID: userID,
		UserAgent: userAgent, CreatedAt: now, ExpiresAt: now.Add(TrustedBrowserTTL)}
	if err := st.CreateTrustedBrowser(ctx, b); err != nil {
		return "", fmt.Errorf("mfa: trust browser: %w", err)
	}
	return token, nil
}

// BrowserTrusted reports whether the cookie token marks this browser as trusted for userID.
func (s *Service) BrowserTrusted(ctx context.Context, userID, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	_, err := s.Store.GetTrustedBrowser(ctx, secret.HashToken(token), userID, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("mfa: trusted browser: %w", err)
	}
	return true, nil
}

// PassedStore is what Passed writes to: the store, or the transaction that starts the
// sign-in's session.
type PassedStore interface {
	UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error)
	CreateTrustedBrowser(ctx context.Context, b *storage.TrustedBrowser) error
}

// Passed writes, in st, what a second step passed with method leaves behind, whatever page
// it was passed on: the method is offered first at the next sign-in (not a recovery code: a
// last resort is not offered first), and the browser is trusted (TrustBrowser) when the
// person asked to be remembered, or proved it with a code sent to them (email, SMS), which
// marks it as known so that it is not asked for again. It returns the trusted browser's
// cookie secret ("" when none). Written in the transaction that starts the session, a
// failure of either leaves the sign-in, and its code, to be tried again, instead of a sign-in
// that silently forgot what the person asked for.
func (s *Service) Passed(ctx context.Context, st PassedStore, u *storage.User, method Method, remember bool, userAgent string) (string, error) {
	if u.PreferredMFA != string(method) && method != MethodRecoveryCode {
		if _, err := st.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.PreferredMFA = string(method); return nil }); err != nil {
			return "", fmt.Errorf("mfa: remember preferred factor: %w", err)
		}
	}
	if !remember && method != MethodEmailCode && method != MethodSMSCode {
		return "", nil
	}
	return s.trust(ctx, st, u.ID, userAgent)
}
