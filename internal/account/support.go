package account

import (
	"cmp"
	"context"
	"encoding/json"
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

// FactorsRemovedIn tells the owner that an operator removed their second factors, with the
// same notice (and "This wasn't me" link) as when they remove one themselves, through tx,
// the removal's transaction: the notice commits with it. The admin service writes the audit
// event (with the operator and the reason). Call Committed once tx committed.
func (s *Service) FactorsRemovedIn(ctx context.Context, tx storage.Store, u *storage.User, factor string, m Meta) (*SentLink, error) {
	return s.noticeIn(ctx, tx, u, u.Email, m, "", "", mail.MFAChanged, mail.Data{Email: u.Email, Factor: factor,
		FactorRemoved: true, Link: s.link("/account/security", nil), IP: m.IP, UserAgent: m.UserAgent}, "")
}

// MailLostEvent is the activity event of mail to an account that the outbox gave up (see
// GivenUp); its detail is the kind of mail, or of the task that was to send it.
const MailLostEvent = "mail_lost"

// GivenUp is the outbox's mail.GivenUpFunc: when an item is given up, its payload dropped,
// the account it was for gets a MailLostEvent naming the kind of mail or task, so that
// support, asked "my link never came", can tell whose mail was lost and act (issue another
// link). The event carries no link, code or address. A message names its account when its
// sender knew it (mail.Message.UserID: the account that asked for an email change, whose
// link went to the new address), else its address does. An item for an address without an
// account writes nothing, here or anywhere: nothing may tell that the address is
// unregistered. It handles messages and this service's link tasks (their address or
// account); a wrong password's bookkeeping lost is no mail the person waits for, and other
// kinds are their services' (mail.Outbox.OnGivenUpOf, with Lost). Failures are logged: the
// item is given up all the same.
func (s *Service) GivenUp(ctx context.Context, kind string, payload []byte) {
	var p struct {
		To, Email, UserID string // a message's, a task's
		Kind              string // a message's
	}
	detail := kind
	switch kind {
	case storage.OutboxMessage, RegisterTask, ActivationRequestTask, ResetRequestTask, EmailChangeTask:
	default:
		return
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return // undecodable: nothing tells whose it was
	}
	if kind == storage.OutboxMessage {
		p.Email, detail = p.To, cmp.Or(p.Kind, kind)
	}
	var (
		u   *storage.User
		err error
	)
	switch {
	case p.UserID != "":
		u, err = s.Store.GetUser(ctx, p.UserID)
	case p.Email != "":
		u, err = s.Store.GetUserByEmail(ctx, NormalizeEmail(p.Email))
	default:
		return
	}
	s.lost(ctx, u, err, MailLostEvent, "", detail)
}

// Lost is GivenUp for the services whose outbox items name the account they were for (an
// SMS, a back-channel logout): the account userID gets the activity event typ (with the
// app clientID, if any, and detail), written once however often the item is told of (ctx
// is the GivenUpFunc's, or the item's task run's: mail.WriteID). Nothing is written when
// userID is "" or no account's (any more). Failures are logged.
func (s *Service) Lost(ctx context.Context, userID, typ, clientID, detail string) {
	if userID == "" {
		return
	}
	u, err := s.Store.GetUser(ctx, userID)
	s.lost(ctx, u, err, typ, clientID, detail)
}

// lost writes typ on u, the account a given-up item was for as looked up (err: the look-up's
// error; ErrNotFound writes nothing). detail names the kind of what was lost.
func (s *Service) lost(ctx context.Context, u *storage.User, err error, typ, clientID, detail string) {
	if errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err != nil {
		s.log().ErrorContext(ctx, "given-up item: look up its account", "type", typ, "kind", detail, "err", err)
		return
	}
	if err := s.Store.AddAuditEvent(ctx, s.auditEvent(ctx, u.ID, typ, Meta{ClientID: clientID}, detail)); err != nil {
		s.log().ErrorContext(ctx, "given-up item: record it", "type", typ, "kind", detail, "user_id", u.ID, "err", err)
	}
}
