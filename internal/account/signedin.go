package account

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/useragent"
	"github.com/myaccount/myaccount/storage"
)

// A finished sign-in writes, besides its session, the "login" event of the activity log and,
// from a browser new to the account, the owner's notice: a "This wasn't me" token and a
// queued mail. They are prepared first (the read that decides the notice and the mail's
// rendering, outside any transaction) and written in the session's own transaction
// (sessions.Start.Also): one commit instead of four on the single writer. They stay best
// effort all the same: when one of them cannot be stored, the sign-in starts without them
// and they are written apart, each failure logged (WriteApart), as they always were.

// TxMailer is a Mailer that can also queue a message through a transaction's store
// (mail.Outbox), so that the message commits with what it tells of. Nudge wakes its worker
// once that transaction has committed.
type TxMailer interface {
	SendIn(ctx context.Context, st storage.OutboxStore, m mail.Message) error
	Nudge()
}

// SignedIn describes a sign-in about to start its session.
type SignedIn struct {
	User *storage.User
	// Meta is the request (its device fields are not looked at: NewBrowser says it).
	Meta Meta
	// Login records the "login" event, with AMR (the methods used) as its detail. A sign-in
	// that must set up a second factor before it may continue records none.
	Login bool
	AMR   []string
	// NewBrowser: the browser had not signed in to the account before (the UI tells it from
	// its device cookie), and no emailed code was part of the sign-in (that code's mail,
	// with its own "This wasn't me" link, already told the owner).
	NewBrowser bool
	// SecondStep is the method of the second step this sign-in has just passed ("": none):
	// its "mfa_passed" event is recorded with the "login" one, and counted once committed.
	SecondStep string
}

// SignInRecords are the prepared records of one sign-in: Write them in the session's
// transaction, then call Committed once it committed.
type SignInRecords struct {
	s     *Service
	event *storage.AuditEvent
	// passed is the "mfa_passed" event of SignedIn.SecondStep, its detail the method (nil:
	// no second step).
	passed *storage.AuditEvent
	// token and msg are the new sign-in notice (nil: none is due, or it could not be
	// rendered).
	token *storage.OneTimeToken
	msg   *mail.Message
	// user, meta and data send the notice apart, with a token of its own (WriteApart).
	user *storage.User
	meta Meta
	data mail.Data
	// queued: Write queued msg in the transaction (the mailer is a TxMailer).
	queued bool
	// failed: a store call of the last Write failed.
	failed bool
}

// firstSignInWindow: an account activated this recently whose activity log shows no sign-in
// yet is signing in for the first time. The log is pruned after accounts.audit_retention
// (a year by default), so the window must stay far below it or an old account would look new.
const firstSignInWindow = 7 * 24 * time.Hour

// SignInRecords prepares what the sign-in records besides its session. A sign-in from a
// new browser tells the owner ("New sign-in to your account"), except the very first
// sign-in of a freshly activated account: activating proved the mailbox a moment ago, and a
// "new browser" notice for the only browser ever used is noise that teaches people to
// ignore these mails. That is recognised cheaply, with one read of the newest activity and
// only for accounts activated within firstSignInWindow: no "login" event yet. When that
// read fails the notice goes out (a needless mail beats a missed one). Nothing here fails:
// a notice that cannot be rendered is logged and not sent.
func (s *Service) SignInRecords(ctx context.Context, in SignedIn) *SignInRecords {
	r := &SignInRecords{s: s}
	u, m := in.User, in.Meta
	if in.Login {
		r.event = s.auditEvent(ctx, u.ID, "login", m, strings.Join(in.AMR, " "))
	}
	if in.SecondStep != "" {
		r.passed = s.auditEvent(ctx, u.ID, "mfa_passed", m, in.SecondStep)
	}
	if !in.NewBrowser || s.Mail == nil || s.Templates == nil {
		return r
	}
	now := s.now()
	if u.ActivatedAt != nil && now.Sub(*u.ActivatedAt) < firstSignInWindow {
		// One row at most: any earlier sign-in (reading the newest 50 events instead was a
		// tenth of a sign-in's CPU besides the password hash, docs/sizing-journal.md).
		events, err := s.Store.QueryAuditEvents(ctx, storage.AuditQuery{UserID: u.ID, Type: "login", Limit: 1})
		if err != nil {
			s.log().WarnContext(ctx, "new sign-in notice: read activity", "err", err)
		} else if len(events) == 0 {
			return r
		}
	}
	agent := ""
	if strings.TrimSpace(m.UserAgent) != "" {
		agent = useragent.Describe(m.UserAgent)
	}
	token, link := s.notMeToken(u, "")
	r.user, r.meta = u, m
	r.data = mail.Data{Email: u.Email, At: now, TimeZone: u.ZoneInfo, DateFormat: u.DateFormat,
		Link: s.link("/account/devices", nil), IP: m.IP, UserAgent: agent}
	d := r.data
	d.NotMeLink = link
	msg, err := s.message(ctx, u.Email, userLang(u, m), mail.NewSignIn, d)
	if err != nil {
		return r // logged
	}
	r.token, r.msg = token, &msg
	return r
}

// Write stores the records through tx, the session's transaction. Its error rolls the
// transaction back (on PostgreSQL a failed statement aborts it anyway); then Failed is true
// and the caller starts the session without the records and calls WriteApart. It may run
// again when the transaction is retried.
func (r *SignInRecords) Write(ctx context.Context, tx storage.Store) error {
	r.queued, r.failed = false, false
	if r.msg != nil {
		if err := tx.CreateOneTimeToken(ctx, r.token); err != nil {
			r.failed = true
			return fmt.Errorf("new sign-in notice: not-me token: %w", err)
		}
		if q, ok := r.s.Mail.(TxMailer); ok {
			if err := q.SendIn(ctx, tx, *r.msg); err != nil {
				r.failed = true
				return fmt.Errorf("new sign-in notice: %w", err)
			}
			r.queued = true
		}
	}
	for _, e := range r.events() {
		if err := tx.AddAuditEvent(ctx, e); err != nil {
			r.failed = true
			return fmt.Errorf("%s event: %w", e.Type, err)
		}
	}
	return nil
}

// events are the activity events to record, in the order they happened.
func (r *SignInRecords) events() []*storage.AuditEvent {
	var out []*storage.AuditEvent
	for _, e := range []*storage.AuditEvent{r.passed, r.event} {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// Failed reports whether the last Write failed (in a store call of its own).
func (r *SignInRecords) Failed() bool { return r.failed }

// WriteApart stores the records outside the session's transaction, each on its own and best
// effort, once the session committed without them (Write failed): the notice goes out as
// every other notice does (Service.notice: without its link when its token cannot be
// stored), and a failure to record the event is logged. A person's sign-in does not fail
// because of them.
func (r *SignInRecords) WriteApart(ctx context.Context) {
	s := r.s
	if r.msg != nil {
		s.notice(ctx, r.user, r.user.Email, r.meta, mail.NewSignIn, r.data, "")
		r.msg = nil // sent: Committed has nothing left to do
	}
	for _, e := range r.events() {
		if err := s.Store.AddAuditEvent(ctx, e); err != nil {
			s.log().WarnContext(ctx, "audit event", "type", e.Type, "err", err)
		}
	}
}

// Committed finishes after the commit: it wakes the mail worker for the queued notice, or
// sends the notice through a mailer that cannot queue in a transaction (a failure is
// logged: the sign-in stands).
func (r *SignInRecords) Committed(ctx context.Context) {
	if r.passed != nil {
		r.s.recorder().MFA(r.passed.Detail, true) // as Audit counts every second step
	}
	switch {
	case r.msg == nil:
	case r.queued:
		r.s.Mail.(TxMailer).Nudge()
	default:
		if err := r.s.Mail.Send(ctx, *r.msg); err != nil {
			r.s.log().ErrorContext(ctx, "send mail", "kind", mail.NewSignIn, "err", err)
		}
	}
}
