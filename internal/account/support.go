package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/storage"
)

// Support operations (issue 13): what an operator does for a person through the admin API or
// console. The person-facing flows (ResendActivation, StartReset) apply per-address and
// per-IP mail limits and answer alike whatever the account's state, because anyone may call
// them; a support agent is authenticated and acts on a known account, so the admin service
// issues its links with ActivationLinkIn and ResetLinkIn in its own transaction (with its
// audit event), and tells the states those refuse apart.

// ErrWrongState is an operation the account's status does not allow (activation mail for
// an active account, a reset link for a locked one).
var ErrWrongState = errors.New("account: not possible in the account's current state")

// LockoutState is why password sign-in to an account is refused, if it is.
type LockoutState struct {
	// Until is the end of a password lockout after too many wrong passwords (zero when none).
	Until time.Time
	// Level counts lockouts in a row (each lasts longer).
	Level int
}

// LockoutOf reports the account's current password lockout, read from the same counters
// SignIn consults (a lockout of one remembered browser only is not the account's).
func (s *Service) LockoutOf(ctx context.Context, u *storage.User) (LockoutState, error) {
	until, err := s.lockedUntil(ctx, accountScope(u.EmailNormalized))
	if err != nil {
		return LockoutState{}, fmt.Errorf("lockout state: %w", err)
	}
	level, _, err := s.Store.GetCounter(ctx, lockLevelKey(u.EmailNormalized))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return LockoutState{}, fmt.Errorf("lockout level: %w", err)
	}
	return LockoutState{Until: until, Level: level}, nil
}

// NotifyFactorsRemoved tells the owner that an operator removed their second factors, with
// the same notice (and "This wasn't me" link) as when they remove one themselves. The
// admin service writes the audit event (with the operator and the reason).
func (s *Service) NotifyFactorsRemoved(ctx context.Context, u *storage.User, factor string, m Meta) {
	s.notice(ctx, u, u.Email, m, mail.MFAChanged, mail.Data{Email: u.Email, Factor: factor, FactorRemoved: true,
		Link: s.link("/account/security", nil), IP: m.IP, UserAgent: m.UserAgent}, "")
}
