package account

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/storage"
)

// Meta describes the request behind an account action, for audit events and mail language.
type Meta struct {
	IP        string
	UserAgent string
	ClientID  string
	Lang      string
	// Continue is an authorization request to return to after activation (optional).
	Continue string
	// Device is the id of a device cookie the caller verified, and DeviceUser the account it
	// names: a browser that signed in to that account before. Password failures from it
	// count for it alone (see scope).
	Device, DeviceUser string
}

// link builds an absolute link below BaseURL.
func (s *Service) link(path string, q url.Values) string {
	u := strings.TrimSuffix(s.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// notify renders and sends (with the outbox: queues) one email. Failures are logged, and
// returned for the outbox tasks that retry; request paths ignore them: a person's action
// must not fail (or reveal anything) because mail did.
func (s *Service) notify(ctx context.Context, to, lang, kind string, data mail.Data) error {
	if s.Mail == nil || s.Templates == nil {
		return nil
	}
	msg, err := s.message(ctx, to, lang, kind, data)
	if err != nil {
		return err
	}
	if err := s.Mail.Send(ctx, msg); err != nil {
		s.log().ErrorContext(ctx, "send mail", "kind", kind, "err", err)
		return fmt.Errorf("send %s mail: %w", kind, err)
	}
	return nil
}

// message renders one email to to (a failure is logged and returned).
func (s *Service) message(ctx context.Context, to, lang, kind string, data mail.Data) (mail.Message, error) {
	msg, err := s.Templates.Render(kind, lang, data)
	if err != nil {
		s.log().ErrorContext(ctx, "render mail", "kind", kind, "err", err)
		return mail.Message{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	// Accounts stored before addresses were canonical may hold another spelling of the
	// mailbox; mail goes to the canonical one.
	if c, err := CanonicalEmail(to); err == nil {
		to = c
	}
	msg.To = to
	return msg, nil
}

// userLang is the language for mail to u: the account's locale, else the request's.
func userLang(u *storage.User, m Meta) string {
	if u != nil && u.Locale != "" {
		return u.Locale
	}
	return m.Lang
}

// audit records a security event; failures are logged only.
func (s *Service) audit(ctx context.Context, userID, typ string, m Meta, detail string) {
	// The UI audits every second step with its kind as detail: one place to count them.
	switch typ {
	case "mfa_passed":
		s.recorder().MFA(detail, true)
	case "mfa_failed":
		s.recorder().MFA(detail, false)
	}
	if userID == "" {
		return
	}
	if err := s.Store.AddAuditEvent(ctx, s.auditEvent(ctx, userID, typ, m, detail)); err != nil {
		s.log().WarnContext(ctx, "audit event", "type", typ, "err", err)
	}
}

// auditEventAt is auditEvent of an event that happened at (zero: now): the queued
// bookkeeping of a wrong password runs later.
func (s *Service) auditEventAt(ctx context.Context, userID, typ string, m Meta, detail string, at time.Time) *storage.AuditEvent {
	e := s.auditEvent(ctx, userID, typ, m, detail)
	if !at.IsZero() {
		e.CreatedAt = at.UTC()
	}
	return e
}

// auditEvent is the activity-log row of one event. Written by an outbox task, its id is the
// task's own for the account, the type and how many of those the run wrote before it
// (mail.WriteID), which the store takes once: a task run again after an attempt whose
// outcome was lost (a wrong password's bookkeeping, a registration) writes its events once,
// though nothing it queued tells the re-run that the earlier one wrote them.
func (s *Service) auditEvent(ctx context.Context, userID, typ string, m Meta, detail string) *storage.AuditEvent {
	return &storage.AuditEvent{
		ID: mail.WriteID(ctx, "audit "+userID+" "+typ), UserID: userID, Type: typ, IP: m.IP, UserAgent: truncate(m.UserAgent, 256),
		ClientID: m.ClientID, Detail: detail, CreatedAt: s.now(),
	}
}

// auditIn writes the activity event through tx, the transaction of the change it records,
// so that the change and its event commit together: written after it, a failure lost the
// event while the change stood.
func (s *Service) auditIn(ctx context.Context, tx storage.Store, userID, typ string, m Meta, detail string) error {
	if err := tx.AddAuditEvent(ctx, s.auditEvent(ctx, userID, typ, m, detail)); err != nil {
		return fmt.Errorf("activity event %s: %w", typ, err)
	}
	return nil
}

// EventIn is an mfa.Tell that writes the activity event typ through the change's transaction.
func (s *Service) EventIn(userID, typ string, m Meta, detail string) func(context.Context, storage.Store) error {
	return func(ctx context.Context, tx storage.Store) error { return s.auditIn(ctx, tx, userID, typ, m, detail) }
}

// Audit records an event on behalf of other packages (sign-in through the UI, consent).
func (s *Service) Audit(ctx context.Context, userID, typ string, m Meta, detail string) {
	s.audit(ctx, userID, typ, m, detail)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SendSignInCodeWith mails code, a sign-in code (the second step from a new browser, or of
// an account without a strong factor), in one transaction with store, which counts the send
// against its limit and stores the code (mfa.Service.StoreEmailCode), and reports whether
// store allowed it. The code, the mail's "This wasn't me" token and the queued mail commit
// together: a failure leaves the person's previous code working and nothing counted, and
// the caller hears of it. (Before, the code replaced the previous one, the mail was queued
// apart, and a failure to queue it was only logged: the page said a code was sent, and the
// one the person had no longer worked.) With a mailer that cannot queue in a transaction
// (tests' fakes), the mail is sent once the rest committed.
func (s *Service) SendSignInCodeWith(ctx context.Context, u *storage.User, code string, m Meta,
	store func(context.Context, storage.Store) (bool, error)) (bool, error) {
	allowed := false
	var sent *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		sent = nil // a retried transaction starts over
		var err error
		// A refusal is carried out in allowed, not as an error: the transaction commits the
		// count, and an error from here would read as a failure of the store.
		if allowed, err = store(ctx, tx); err != nil || !allowed {
			return err
		}
		sent, err = s.noticeIn(ctx, tx, u, u.Email, m, "", "", mail.SignInCode,
			mail.Data{Email: u.Email, Code: code, IP: m.IP, UserAgent: m.UserAgent}, "")
		return err
	})
	if err != nil {
		return false, err
	}
	if err := sent.Committed(ctx); err != nil {
		return false, err // a mailer that cannot queue failed to send it
	}
	return allowed, nil
}

// FactorNotice is the owner's notice that a second factor (or their phone number, or their
// recovery codes) was added or removed, with its activity event ("mfa_added",
// "mfa_removed"): In writes both in the transaction of the change (mfa.Tell), Committed
// finishes after its commit. Sent after the change on their own, a failure in between lost
// them, and the notice is how an owner learns that someone with their password added an
// authenticator of their own.
type FactorNotice struct {
	s       *Service
	u       *storage.User
	factor  string
	removed bool
	m       Meta
	sent    *SentLink
}

// FactorNotice prepares the notice of a change to u's factors.
func (s *Service) FactorNotice(u *storage.User, factor string, removed bool, m Meta) *FactorNotice {
	return &FactorNotice{s: s, u: u, factor: factor, removed: removed, m: m}
}

// In writes the notice and its activity event through tx (an mfa.Tell).
func (n *FactorNotice) In(ctx context.Context, tx storage.Store) error {
	typ := "mfa_added"
	if n.removed {
		typ = "mfa_removed"
	}
	u, m := n.u, n.m
	var err error
	n.sent, err = n.s.noticeIn(ctx, tx, u, u.Email, m, typ, n.factor, mail.MFAChanged, mail.Data{Email: u.Email,
		Factor: n.factor, FactorRemoved: n.removed, Link: n.s.link("/account/security", nil), IP: m.IP, UserAgent: m.UserAgent}, "")
	return err
}

// Committed wakes the mail worker once the change committed (or sends the notice through
// a mailer that cannot queue); a failure is logged.
func (n *FactorNotice) Committed(ctx context.Context) { _ = n.sent.Committed(ctx) }

// secondStepNoticeWindow: at most one "your password was used" mail per person per window,
// however many second steps fail.
const secondStepNoticeWindow = time.Hour

// NotifySecondStepFailed tells the owner that someone passed the password but failed the
// second step: the password is known to someone else (or it was them, mistyping a code).
// The count and the notice are one transaction: counted apart, a notice that failed left the
// hour's count spent and the owner untold for the hour. A failure is logged: the person at
// the second step is answered about their code, not about this mail.
func (s *Service) NotifySecondStepFailed(ctx context.Context, u *storage.User, m Meta) {
	var told *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		told = nil // a retried transaction starts over
		n, err := tx.HitCounter(ctx, "mfa-notice:"+u.ID, secondStepNoticeWindow, s.now())
		if err != nil || n != 1 {
			return err
		}
		told, err = s.noticeIn(ctx, tx, u, u.Email, m, "", "", mail.SecondStepFailed, mail.Data{Email: u.Email,
			Link: s.link("/account", nil), IP: m.IP, UserAgent: m.UserAgent}, "")
		return err
	})
	if err != nil {
		s.log().WarnContext(ctx, "second-step notice", "err", err)
		return
	}
	_ = told.Committed(ctx) // logged
}
