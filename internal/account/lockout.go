package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// LockoutPolicy: Threshold wrong passwords within Window lock password sign-in for Base,
// doubling with each lock in a row (up to Max). Per client IP, at most IPLimit failures
// within Window are accepted at all, so one attacker cannot lock out every account cheaply.
type LockoutPolicy struct {
	Threshold int
	Window    time.Duration
	Base      time.Duration
	Max       time.Duration
	IPLimit   int
}

// DefaultLockout is 5 failures in 15 minutes → 15 minutes, doubling, capped at a day.
func DefaultLockout() LockoutPolicy {
	return LockoutPolicy{Threshold: 5, Window: 15 * time.Minute, Base: 15 * time.Minute, Max: 24 * time.Hour, IPLimit: 50}
}

func (p LockoutPolicy) orDefault() LockoutPolicy {
	if p.Threshold <= 0 {
		return DefaultLockout()
	}
	return p
}

// LockedError says that password sign-in is locked until a time.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return "account: sign-in locked until " + e.Until.Format(time.RFC3339)
}

// Lockout state lives in SQL counters keyed by the normalised email, whether or not an account
// has it: an unknown address locks exactly like a real one, so the lock message reveals nothing.
func failKey(email string) string  { return "pwfail:" + email }
func lockKey(email string) string  { return "pwlock:" + email }
func lockLevelKey(e string) string { return "pwlocklevel:" + e }
func ipFailKey(ip string) string   { return "ipfail:" + ip }
func lockDuration(p LockoutPolicy, level int) time.Duration {
	d := p.Base
	for i := 1; i < level && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// scope is whose failures a password attempt counts as. Attempts from a browser holding a
// device cookie of the account (OWASP "device cookies"; Meta.Device) count for that cookie
// alone and are not stopped by the account's lock: failures from elsewhere cannot lock the
// owner out of a browser they signed in from before. Every other attempt counts for the
// address, which any browser can lock.
type scope struct {
	fail, lock, level string
	device            bool
}

func accountScope(norm string) scope {
	return scope{fail: failKey(norm), lock: lockKey(norm), level: lockLevelKey(norm)}
}

// scopeFor picks the scope of an attempt on the account u (nil when the address has none).
func scopeFor(norm string, u *storage.User, m Meta) scope {
	if u != nil && m.Device != "" && m.DeviceUser == u.ID {
		return scope{fail: "devfail:" + m.Device, lock: "devlock:" + m.Device, level: "devlocklevel:" + m.Device, device: true}
	}
	return accountScope(norm)
}

// lockedUntil returns when the current lock of a scope ends (zero when not locked).
func (s *Service) lockedUntil(ctx context.Context, sc scope) (time.Time, error) {
	_, start, err := s.Store.GetCounter(ctx, sc.lock)
	if errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	level, _, err := s.Store.GetCounter(ctx, sc.level)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, err
	}
	until := start.Add(lockDuration(s.Lockout.orDefault(), max(level, 1)))
	if !s.now().Before(until) {
		return time.Time{}, nil
	}
	return until, nil
}

// admit applies the per-IP limit (not to a known device: its own lock bounds it) and the
// scope's lock before a password is checked. A refusal does the work of a verification: the
// lock must not be a timing oracle either.
func (s *Service) admit(ctx context.Context, sc scope, password string, m Meta) error {
	p := s.Lockout.orDefault()
	if m.IP != "" && !sc.device {
		if n, err := s.Store.CounterValue(ctx, ipFailKey(m.IP), p.Window, s.now()); err == nil && n >= p.IPLimit {
			if err := s.dummyVerify(ctx, password); err != nil {
				return err
			}
			return ErrTooManyAttempts
		}
	}
	until, err := s.lockedUntil(ctx, sc)
	if err != nil {
		return fmt.Errorf("lockout: %w", err)
	}
	if !until.IsZero() {
		if err := s.dummyVerify(ctx, password); err != nil {
			return err
		}
		return &LockedError{Until: until}
	}
	return nil
}

// SignIn is a password sign-in with lockout and throttling. Errors: ErrInvalidCredentials,
// *LockedError, ErrTooManyAttempts, ErrNotActive, ErrLocked (admin lock).
func (s *Service) SignIn(ctx context.Context, email, password string, m Meta) (u *storage.User, err error) {
	defer func() { s.recorder().SignIn("password", signInResult(err)) }()
	norm := NormalizeEmail(email)
	var known *lookup
	if m.Device != "" {
		// Only a device cookie makes the account matter before the password is checked; it
		// names an account this browser signed in to, so the look-up tells its holder nothing.
		// The password is then checked against the account read here, not read again.
		u, err := s.Store.GetUserByEmail(ctx, norm)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("sign in: %w", err)
		}
		known = &lookup{u: u}
	}
	sc := scopeFor(norm, known.user(), m)
	if err := s.admit(ctx, sc, password, m); err != nil {
		return nil, err
	}
	u, err = s.authenticate(ctx, email, password, known)
	if errors.Is(err, ErrInvalidCredentials) {
		return nil, s.failed(ctx, sc, norm, nil, "login_failed", m)
	}
	if err != nil {
		return u, err
	}
	// Read first: most sign-ins follow no failure, and a read spares the single writer a
	// delete of nothing.
	if n, _, err := s.Store.GetCounter(ctx, sc.fail); n > 0 || (err != nil && !errors.Is(err, storage.ErrNotFound)) {
		_ = s.Store.ResetCounter(ctx, sc.fail)
	}
	// "login" is recorded when the session starts, after any second step.
	return u, nil
}

// lookup is the result of reading an account by address: u is nil when there is none.
type lookup struct{ u *storage.User }

func (l *lookup) user() *storage.User {
	if l == nil {
		return nil
	}
	return l.u
}

// signInResult is the metrics label of a sign-in's outcome.
func signInResult(err error) string {
	var locked *LockedError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalidCredentials):
		return "failed"
	case errors.As(err, &locked), errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, ErrTooManyAttempts):
		return "throttled"
	case errors.Is(err, ErrNotActive):
		return "inactive"
	default:
		return "error"
	}
}

// checkPassword verifies the current password of a signed-in person (before changing the
// password or the address, or deleting the account). A session is no licence to guess: the
// attempts count and lock exactly like sign-in failures, for the account and the IP.
func (s *Service) checkPassword(ctx context.Context, u *storage.User, password string, m Meta) error {
	sc := scopeFor(u.EmailNormalized, u, m)
	if err := s.admit(ctx, sc, password, m); err != nil {
		return err
	}
	if len(password) > 4*MaxPasswordLen {
		return s.failed(ctx, sc, u.EmailNormalized, u, "current_password_failed", m)
	}
	ok, legacy, err := s.verifyPassword(ctx, u.PasswordHash, password)
	if err != nil {
		return err
	}
	if !ok {
		return s.failed(ctx, sc, u.EmailNormalized, u, "current_password_failed", m)
	}
	_ = s.Store.ResetCounter(ctx, sc.fail)
	if legacy {
		s.rehash(ctx, u, password)
	}
	return nil
}

// failed counts a wrong password and locks the scope when the threshold is reached. u is the
// account when the caller has it; otherwise it is looked up by norm (an unknown address has
// none, and locks all the same). event is the audit event of the failure.
func (s *Service) failed(ctx context.Context, sc scope, norm string, u *storage.User, event string, m Meta) error {
	p := s.Lockout.orDefault()
	now := s.now()
	if m.IP != "" {
		if _, err := s.Store.HitCounter(ctx, ipFailKey(m.IP), p.Window, now); err != nil {
			s.log().WarnContext(ctx, "count ip failure", "err", err)
		}
	}
	n, err := s.Store.HitCounter(ctx, sc.fail, p.Window, now)
	if err != nil {
		return fmt.Errorf("count failure: %w", err)
	}
	if u == nil {
		if x, err := s.Store.GetUserByEmail(ctx, norm); err == nil {
			u = x
		}
	}
	if u != nil {
		s.audit(ctx, u.ID, event, m, "")
	}
	if n < p.Threshold {
		return ErrInvalidCredentials
	}
	// Lock: a new lock window starting now, one level higher than the last (within a day).
	level, err := s.Store.HitCounter(ctx, sc.level, 24*time.Hour+p.Max, now)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	_ = s.Store.ResetCounter(ctx, sc.lock)
	if _, err := s.Store.HitCounter(ctx, sc.lock, p.Max, now); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	_ = s.Store.ResetCounter(ctx, sc.fail)
	until := now.Add(lockDuration(p, level))
	if sc.device {
		s.recorder().Lockout("device")
	} else {
		s.recorder().Lockout("account")
	}
	if u == nil {
		return &LockedError{Until: until}
	}
	if sc.device {
		// Only this browser is locked; the account and its other browsers are not.
		s.audit(ctx, u.ID, "locked_out", m, "device until "+until.UTC().Format(time.RFC3339))
		return &LockedError{Until: until}
	}
	s.audit(ctx, u.ID, "locked_out", m, until.UTC().Format(time.RFC3339))
	s.notify(ctx, u.Email, userLang(u, m), mail.Lockout, mail.Data{
		Email: u.Email, Until: until, TimeZone: u.ZoneInfo, DateFormat: u.DateFormat,
		Link: s.link("/forgot", nil), IP: m.IP, UserAgent: m.UserAgent,
	})
	if _, err := s.Store.UpdateUser(ctx, u.ID, func(x *storage.User) error {
		x.LockedUntil, x.LockoutCount = &until, level
		return nil
	}); err != nil {
		s.log().WarnContext(ctx, "record lockout", "err", err)
	}
	return &LockedError{Until: until}
}

// Unlock lifts a password lockout (after a reset, or by an admin).
func (s *Service) Unlock(ctx context.Context, u *storage.User) error {
	norm := u.EmailNormalized
	for _, k := range []string{failKey(norm), lockKey(norm), lockLevelKey(norm)} {
		if err := s.Store.ResetCounter(ctx, k); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("unlock: %w", err)
		}
	}
	if u.LockedUntil != nil || u.LockoutCount != 0 {
		if _, err := s.Store.UpdateUser(ctx, u.ID, func(x *storage.User) error {
			x.LockedUntil, x.LockoutCount = nil, 0
			return nil
		}); err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
	}
	return nil
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func newID() string { return secret.NewID() }
