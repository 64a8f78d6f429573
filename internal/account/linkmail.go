package account

import (
	"context"
	"fmt"
	"net/url"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Emailed links (activation, password reset) are issued through a transaction's store: the
// link's token, the voiding of the account's older links of its kind and, with the outbox,
// the queued mail carrying it commit or roll back together, with whatever else the caller
// writes in that transaction (the admin service's audit event). ActivationLinkIn and
// ResetLinkIn are the one place of each link's rules, for the person's own requests
// (Register, ResendActivation, StartReset, "This wasn't me"), which run them in a
// transaction of their own, and for an operator's (admin.Service).

// SentLink is an emailed link issued through a caller's transaction. Call Committed once
// that transaction committed (not when it failed: then nothing was issued).
type SentLink struct {
	s    *Service
	kind string
	// msg is the rendered mail (nil: no mailer or templates, nothing to send); queued says
	// it was written in the transaction (the mailer is a TxMailer).
	msg    *mail.Message
	queued bool
	userID string
}

// Committed finishes the link after its transaction committed: it wakes the mail worker for
// the queued mail, or sends the mail through a mailer that cannot queue in a transaction (a
// failure is logged and returned: the link is stored, its mail did not go). A nil SentLink
// does nothing.
func (l *SentLink) Committed(ctx context.Context) error {
	if l == nil {
		return nil
	}
	s := l.s
	switch {
	case l.msg == nil:
	case l.queued:
		s.Mail.(TxMailer).Nudge()
	default:
		if err := s.Mail.Send(ctx, *l.msg); err != nil {
			s.log().ErrorContext(ctx, "send mail", "kind", l.kind, "err", err)
			return fmt.Errorf("send %s mail: %w", l.kind, err)
		}
	}
	return nil
}

// ActivationLinkIn issues a pending account a fresh activation link through tx, a
// transaction's store, valid until the account's activation period ends; older activation
// links stop working. Any other account is refused with ErrWrongState. u is the account as
// the caller read it.
func (s *Service) ActivationLinkIn(ctx context.Context, tx storage.Store, u *storage.User, m Meta) (*SentLink, error) {
	if u.Status != storage.UserPending {
		return nil, fmt.Errorf("activation link for a %s account: %w", u.Status, ErrWrongState)
	}
	tok := secret.RandomToken(32)
	now := s.now()
	expires := u.CreatedAt.Add(s.activationTTL())
	l, err := s.linkIn(ctx, tx, u, u.Email, &storage.OneTimeToken{
		Hash: secret.HashToken(tok), Purpose: storage.TokenActivation, UserID: u.ID, Data: m.Continue,
		CreatedAt: now, ExpiresAt: expires,
	}, userLang(u, m), mail.Activation, mail.Data{
		Email: u.Email, Link: s.link("/activate", url.Values{"token": {tok}}), ValidFor: expires.Sub(now),
	})
	if err != nil {
		return nil, fmt.Errorf("activation link: %w", err)
	}
	return l, nil
}

// ResetLinkIn issues a password-reset link through tx, a transaction's store; older reset
// links stop working. Only an active or pending account may reset: an operator-locked or
// disabled one is refused with ErrWrongState (unlock it first). u is the account as the
// caller read it. The person's activity event "reset_requested" is written through tx too:
// recorded after the commit, it was lost when that failed, or its answer was lost and the
// queued request ran again.
func (s *Service) ResetLinkIn(ctx context.Context, tx storage.Store, u *storage.User, m Meta) (*SentLink, error) {
	if !u.MayResetPassword() {
		return nil, fmt.Errorf("reset link for a %s account: %w", u.Status, ErrWrongState)
	}
	tok := secret.RandomToken(32)
	now := s.now()
	l, err := s.linkIn(ctx, tx, u, u.Email, &storage.OneTimeToken{
		Hash: secret.HashToken(tok), Purpose: storage.TokenReset, UserID: u.ID,
		CreatedAt: now, ExpiresAt: now.Add(s.resetTTL()),
	}, userLang(u, m), mail.PasswordReset, mail.Data{
		Email: u.Email, Link: s.link("/reset", url.Values{"token": {tok}}), ValidFor: s.resetTTL(),
		IP: m.IP, UserAgent: m.UserAgent,
	})
	if err != nil {
		return nil, fmt.Errorf("reset link: %w", err)
	}
	if err := s.auditIn(ctx, tx, u.ID, "reset_requested", m, ""); err != nil {
		return nil, fmt.Errorf("reset link: %w", err)
	}
	return l, nil
}

// linkIn renders the mail of kind to to (u's address, or the new one of an email change),
// then through tx stores t (voiding u's older tokens of its purpose) and, when the mailer
// can, queues the mail. A mail that cannot be rendered or queued fails the whole: no link
// without its mail.
func (s *Service) linkIn(ctx context.Context, tx storage.Store, u *storage.User, to string, t *storage.OneTimeToken, lang, kind string, data mail.Data) (*SentLink, error) {
	if err := issueTokenIn(ctx, tx, t); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return s.mailIn(ctx, tx, u.ID, to, lang, kind, data)
}

// mailIn renders the mail of kind to to and, when the mailer can, queues it through tx, so
// that it commits with what it tells of; otherwise Committed sends it after the commit. A
// mail that cannot be rendered or queued fails the whole. Without a mailer or templates
// there is nothing to send.
func (s *Service) mailIn(ctx context.Context, tx storage.Store, userID, to, lang, kind string, data mail.Data) (*SentLink, error) {
	l := &SentLink{s: s, kind: kind, userID: userID}
	if s.Mail == nil || s.Templates == nil {
		return l, nil
	}
	msg, err := s.message(ctx, to, lang, kind, data)
	if err != nil {
		return nil, err // logged
	}
	// Whose it is goes with it: to may be no account's address (an email change's new
	// one), and a lost mail is named on the account that waits for it (GivenUp).
	msg.UserID = userID
	l.msg = &msg
	if q, ok := s.Mail.(TxMailer); ok {
		if err := q.SendIn(ctx, tx, msg); err != nil {
			return nil, fmt.Errorf("queue %s mail: %w", kind, err)
		}
		l.queued = true
	}
	return l, nil
}
