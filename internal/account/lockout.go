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

// lockedUntil returns when the current lock of an email ends (zero when not locked).
func (s *Service) lockedUntil(ctx context.Context, email string) (time.Time, error) {
	_, start, err := s.Store.GetCounter(ctx, lockKey(email))
	if errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	level, _, err := s.Store.GetCounter(ctx, lockLevelKey(email))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, err
	}
	until := start.Add(lockDuration(s.Lockout.orDefault(), max(level, 1)))
	if !s.now().Before(until) {
		return time.Time{}, nil
	}
	return until, nil
}

// SignIn is a password sign-in with lockout and throttling. Errors: ErrInvalidCredentials,
// *LockedError, ErrTooManyAttempts, ErrNotActive, ErrLocked (admin lock).
func (s *Service) SignIn(ctx context.Context, email, password string, m Meta) (*storage.User, error) {
	p := s.Lockout.orDefault()
	norm := NormalizeEmail(email)
	now := s.now()
	if m.IP != "" {
		if n, err := s.Store.CounterValue(ctx, ipFailKey(m.IP), p.Window, now); err == nil && n >= p.IPLimit {
			if err := s.dummyVerify(ctx, password); err != nil {
				return nil, err
			}
			return nil, ErrTooManyAttempts
		}
	}
	until, err := s.lockedUntil(ctx, norm)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if !until.IsZero() {
		// Same work as a real check: the lock must not be a timing oracle either.
		if err := s.dummyVerify(ctx, password); err != nil {
			return nil, err
		}
		return nil, &LockedError{Until: until}
	}
	u, err := s.Authenticate(ctx, email, password)
	if errors.Is(err, ErrInvalidCredentials) {
		return nil, s.failed(ctx, norm, m, p)
	}
	if err != nil {
		return u, err
	}
	_ = s.Store.ResetCounter(ctx, failKey(norm))
	// "login" is recorded when the session starts, after any second step.
	return u, nil
}

// failed counts a wrong password and locks the email when the threshold is reached.
func (s *Service) failed(ctx context.Context, norm string, m Meta, p LockoutPolicy) error {
	now := s.now()
	if m.IP != "" {
		if _, err := s.Store.HitCounter(ctx, ipFailKey(m.IP), p.Window, now); err != nil {
			s.log().WarnContext(ctx, "count ip failure", "err", err)
		}
	}
	n, err := s.Store.HitCounter(ctx, failKey(norm), p.Window, now)
	if err != nil {
		return fmt.Errorf("count failure: %w", err)
	}
	u, uerr := s.Store.GetUserByEmail(ctx, norm)
	if uerr == nil {
		s.audit(ctx, u.ID, "login_failed", m, "")
	}
	if n < p.Threshold {
		return ErrInvalidCredentials
	}
	// Lock: a new lock window starting now, one level higher than the last (within a day).
	level, err := s.Store.HitCounter(ctx, lockLevelKey(norm), 24*time.Hour+p.Max, now)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	_ = s.Store.ResetCounter(ctx, lockKey(norm))
	if _, err := s.Store.HitCounter(ctx, lockKey(norm), p.Max, now); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	_ = s.Store.ResetCounter(ctx, failKey(norm))
	until := now.Add(lockDuration(p, level))
	if uerr == nil {
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
