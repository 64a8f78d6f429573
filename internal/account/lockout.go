package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/myaccount/myaccount/internal/addrkey"
	"github.com/myaccount/myaccount/internal/mail"
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
func ipFailKey(ip string) string   { return "ipfail:" + addrkey.LimitKey(ip) }
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
			if err := s.dummyVerify(ctx, password, nil); err != nil {
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
		if err := s.dummyVerify(ctx, password, nil); err != nil {
			return err
		}
		return &LockedError{Until: until}
	}
	return nil
}

// attempt is a password check that counts toward its scope's lock (SignIn, checkPassword).
type attempt struct {
	sc      scope
	n       int       // the scope's attempts in the window, this one included, once counted
	at      time.Time // when it was counted (zero: not counted)
	refusal error     // why the password is not to be checked (count), nil when it is
}

// count counts the attempt a before its password is checked, once the check has its place
// in the hashing queue (hashSlot): a check refused for want of one (503) counts nothing.
// Counting first, not after a wrong password, is what holds the threshold: parallel wrong
// passwords cannot all be checked before the first failure is counted, and only one of them
// reaches the threshold (and locks, when wrong). An attempt beyond the threshold, parallel
// to the one at it, is not checked (a.refusal: throttled), nor one that finds the scope
// locked since admit looked; refused either way after a check's work (refused), for an
// unknown address exactly as for an account. The error is the store's.
func (s *Service) count(ctx context.Context, a *attempt) error {
	p := s.Lockout.orDefault()
	now := s.now()
	n, err := s.Store.HitCounter(ctx, a.sc.fail, p.Window, now)
	if err != nil {
		return fmt.Errorf("count password attempt: %w", err)
	}
	a.n, a.at = n, now
	if n > p.Threshold {
		a.refusal = ErrTooManyAttempts
		return nil
	}
	// A lock set since admit looked (by a parallel attempt at the threshold, which cleared
	// the count, so this one's count started again) holds this attempt too.
	until, err := s.lockedUntil(ctx, a.sc)
	if err != nil {
		err = fmt.Errorf("lockout: %w", err)
		s.settle(ctx, a, err)
		return err
	}
	if !until.IsZero() {
		a.refusal = &LockedError{Until: until}
	}
	return nil
}

// refused does, in the slot the caller holds, the work of a check that count refused, and
// returns the refusal (nil: the password is to be checked).
func (s *Service) refused(a *attempt, password string) error {
	if a == nil || a.refusal == nil {
		return nil
	}
	s.dummyWork(password)
	return a.refusal
}

// settle gives back a's count when err, the outcome of its check, is a failure of ours (not
// a wrong password, a lock or a refusal): the check could not conclude, and our failure must
// not count toward locking the person out. Best effort: what a failure leaves is one count
// that expires with its window.
func (s *Service) settle(ctx context.Context, a *attempt, err error) {
	if a == nil || a.at.IsZero() || err == nil || signInResult(err) != "error" {
		return
	}
	if uerr := storage.GiveBack(ctx, s.Store, a.at, storage.Hit{Key: a.sc.fail, Window: s.Lockout.orDefault().Window}); uerr != nil {
		s.log().WarnContext(ctx, "give back a password attempt our failure cut short", "err", uerr)
	}
	a.at = time.Time{}
}

// passed forgets a's count after the right password: the attempt was no failure, and the
// failures before it are forgiven.
func (s *Service) passed(ctx context.Context, a *attempt) {
	if err := s.Store.ResetCounter(ctx, a.sc.fail); err != nil {
		s.log().WarnContext(ctx, "reset password failures", "err", err)
	}
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
	a := &attempt{sc: sc}
	u, err = s.authenticate(ctx, email, password, known, a)
	s.settle(ctx, a, err)
	if errors.Is(err, ErrInvalidCredentials) {
		return nil, s.failed(ctx, a, norm, nil, "login_failed", m)
	}
	if u != nil {
		s.passed(ctx, a) // the right password, also of an account not active
	}
	// "login" is recorded when the session starts, after any second step.
	return u, err
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
func (s *Service) checkPassword(ctx context.Context, u *storage.User, password string, m Meta) (err error) {
	sc := scopeFor(u.EmailNormalized, u, m)
	if err := s.admit(ctx, sc, password, m); err != nil {
		return err
	}
	a := &attempt{sc: sc}
	defer func() { s.settle(ctx, a, err) }()
	if len(password) > 4*MaxPasswordLen {
		// Bound the hashing work asked for, as authenticate does; still counted.
		if err := s.dummyVerify(ctx, "", a); err != nil {
			return err
		}
		return s.failed(ctx, a, u.EmailNormalized, u, "current_password_failed", m)
	}
	ok, legacy, err := s.verifyPassword(ctx, u.PasswordHash, password, a)
	if err != nil {
		return err
	}
	if !ok {
		return s.failed(ctx, a, u.EmailNormalized, u, "current_password_failed", m)
	}
	s.passed(ctx, a)
	if legacy {
		s.rehash(ctx, u, password)
	}
	return nil
}

// failed handles the wrong password of attempt a (counted already) and locks its scope when
// a reached the threshold. u is the account when the caller has it (a signed-in person);
// otherwise the bookkeeping looks it up by norm, queued (see recordFailure). event is the
// audit event of the failure.
func (s *Service) failed(ctx context.Context, a *attempt, norm string, u *storage.User, event string, m Meta) error {
	p := s.Lockout.orDefault()
	now := s.now()
	if m.IP != "" {
		if _, err := s.Store.HitCounter(ctx, ipFailKey(m.IP), p.Window, now); err != nil {
			s.log().WarnContext(ctx, "count ip failure", "err", err)
		}
	}
	rec := failureRecord{Email: norm, Event: event, Meta: m, At: now, Device: a.sc.device}
	if u != nil {
		rec.UserID = u.ID
	}
	if a.n < p.Threshold {
		return s.recordFailure(ctx, rec, u, ErrInvalidCredentials)
	}
	// Lock: a new lock window starting now, one level higher than the last (within a day).
	// Only the attempt that reached the threshold gets here (count refuses those beyond it),
	// so one burst of failures raises the level once.
	level, err := s.Store.HitCounter(ctx, a.sc.level, 24*time.Hour+p.Max, now)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	// A window of a millisecond restarts the lock's window at now in one statement: a
	// delete and a new hit would leave a moment in which the scope reads as unlocked.
	if _, err := s.Store.HitCounter(ctx, a.sc.lock, time.Millisecond, now); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	_ = s.Store.ResetCounter(ctx, a.sc.fail)
	until := now.Add(lockDuration(p, level))
	if a.sc.device {
		s.recorder().Lockout("device")
	} else {
		s.recorder().Lockout("account")
	}
	rec.Until, rec.Level = until, level
	return s.recordFailure(ctx, rec, u, &LockedError{Until: until})
}

// FailureTask is the outbox task that records a wrong password on its account (see
// recordFailure); the server registers RunFailure for it.
const FailureTask = "password-failure"

// failureRecord is what a wrong password leaves on its account: the audit event and, when it
// locked the scope, the lock's event, notice and record on the account.
type failureRecord struct {
	Email  string // normalised
	UserID string // the account when the caller knew it; "" to look Email up
	Event  string
	Meta   Meta
	At     time.Time
	Device bool      // the attempt counted for a known browser, not the address
	Until  time.Time // zero unless this failure locked the scope
	Level  int
}

// recordFailure writes rec's bookkeeping and returns verdict. A failure of a sign-in by
// address is queued (one INSERT, the same for an address with an account and one without):
// done in the request, the look-up, audit row, notice and account update that only an
// account gets made a wrong password answer later for a registered address. Without an
// outbox (CLI, unit tests), or with the account known to the caller (a signed-in person, who
// learns nothing), it is done at once.
func (s *Service) recordFailure(ctx context.Context, rec failureRecord, u *storage.User, verdict error) error {
	if q, ok := s.Mail.(TaskQueue); ok && u == nil {
		if err := enqueue(ctx, q, FailureTask, rec); err != nil {
			s.log().WarnContext(ctx, "queue password failure", "err", err)
		}
		return verdict
	}
	if err := s.writeFailure(ctx, rec, u); err != nil {
		s.log().WarnContext(ctx, "record password failure", "err", err)
	}
	return verdict
}

// RunFailure is the outbox worker's half of recordFailure. An error (the look-up, the
// writes) makes the worker retry it; what an earlier run wrote (an answer lost after its
// commit) is not written again: the events' ids are the task's own (auditEvent), and the
// notice's (see mail.Task).
func (s *Service) RunFailure(ctx context.Context, payload []byte) error {
	rec, err := decode[failureRecord](FailureTask, payload)
	if err != nil {
		return err
	}
	return s.writeFailure(ctx, rec, nil)
}

// writeFailure writes rec on its account (u, or the one rec names; none: nothing to write):
// its audit event and, when it locked the scope, the lock's event and, for a locked account,
// the owner's notice and the lock on the account. A lock's writes are one transaction, the
// notice queued in it (with the outbox), and an error writes none of them: apart, a notice
// that could not be queued was lost (only logged, the task done), and a retry of the
// bookkeeping would have written its events twice.
func (s *Service) writeFailure(ctx context.Context, rec failureRecord, u *storage.User) error {
	if u == nil {
		var err error
		if rec.UserID != "" {
			u, err = s.Store.GetUser(ctx, rec.UserID)
		} else {
			u, err = s.Store.GetUserByEmail(ctx, rec.Email)
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up account: %w", err)
		}
	}
	m := rec.Meta
	failure := s.auditEventAt(ctx, u.ID, rec.Event, m, "", rec.At)
	if rec.Until.IsZero() {
		if err := s.Store.AddAuditEvent(ctx, failure); err != nil {
			return fmt.Errorf("audit %s: %w", rec.Event, err)
		}
		return nil
	}
	if rec.Device {
		// Only this browser is locked; the account and its other browsers are not.
		locked := s.auditEventAt(ctx, u.ID, "locked_out", m, "device until "+rec.Until.UTC().Format(time.RFC3339), rec.At)
		return s.Store.InTx(ctx, func(tx storage.Store) error {
			return addEvents(ctx, tx, failure, locked)
		})
	}
	locked := s.auditEventAt(ctx, u.ID, "locked_out", m, rec.Until.UTC().Format(time.RFC3339), rec.At)
	data := mail.Data{
		Email: u.Email, Until: rec.Until, TimeZone: u.ZoneInfo, DateFormat: u.DateFormat,
		Link: s.link("/forgot", nil), IP: m.IP, UserAgent: m.UserAgent,
	}
	until, level := rec.Until, rec.Level
	var notice *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := addEvents(ctx, tx, failure, locked); err != nil {
			return err
		}
		var err error
		if notice, err = s.mailIn(ctx, tx, u.ID, u.Email, userLang(u, m), mail.Lockout, data); err != nil {
			return err
		}
		if _, err := tx.UpdateUser(ctx, u.ID, func(x *storage.User) error {
			x.LockedUntil, x.LockoutCount = &until, level
			return nil
		}); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("record lockout: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	_ = notice.Committed(ctx) // logged
	return nil
}

// addEvents writes audit events through tx.
func addEvents(ctx context.Context, tx storage.Store, events ...*storage.AuditEvent) error {
	for _, e := range events {
		if err := tx.AddAuditEvent(ctx, e); err != nil {
			return fmt.Errorf("audit %s: %w", e.Type, err)
		}
	}
	return nil
}

// UnlockIn lifts a password lockout through tx, the caller's transaction: an operator's
// unlock lifts it with the account's status and its audit event, or not at all (a reset
// lifts it in its own transaction).
func (s *Service) UnlockIn(ctx context.Context, tx storage.Store, u *storage.User) error {
	return unlock(ctx, tx, u)
}

// unlockStore is what lifting a lockout writes to: the store, or a transaction's.
type unlockStore interface {
	ResetCounter(ctx context.Context, key string) error
	UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error)
}

// unlock is Unlock through st, so that a reset lifts the lockout in its own transaction.
func unlock(ctx context.Context, st unlockStore, u *storage.User) error {
	norm := u.EmailNormalized
	for _, k := range []string{failKey(norm), lockKey(norm), lockLevelKey(norm)} {
		if err := st.ResetCounter(ctx, k); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("unlock: %w", err)
		}
	}
	if u.LockedUntil != nil || u.LockoutCount != 0 {
		if _, err := st.UpdateUser(ctx, u.ID, func(x *storage.User) error {
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
