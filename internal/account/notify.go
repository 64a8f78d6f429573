package account

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/useragent"
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
	msg, err := s.Templates.Render(kind, lang, data)
	if err != nil {
		s.log().ErrorContext(ctx, "render mail", "kind", kind, "err", err)
		return fmt.Errorf("render %s mail: %w", kind, err)
	}
	// Accounts stored before addresses were canonical may hold another spelling of the
	// mailbox; mail goes to the canonical one.
	if c, err := CanonicalEmail(to); err == nil {
		to = c
	}
	msg.To = to
	if err := s.Mail.Send(ctx, msg); err != nil {
		s.log().ErrorContext(ctx, "send mail", "kind", kind, "err", err)
		return fmt.Errorf("send %s mail: %w", kind, err)
	}
	return nil
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
	err := s.Store.AddAuditEvent(ctx, &storage.AuditEvent{
		ID: newID(), UserID: userID, Type: typ, IP: m.IP, UserAgent: truncate(m.UserAgent, 256),
		ClientID: m.ClientID, Detail: detail, CreatedAt: s.now(),
	})
	if err != nil {
		s.log().WarnContext(ctx, "audit event", "type", typ, "err", err)
	}
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

// SendSignInCode mails a sign-in code (a second step from a new browser).
func (s *Service) SendSignInCode(ctx context.Context, u *storage.User, code string, m Meta) {
	s.notice(ctx, u, u.Email, m, mail.SignInCode, mail.Data{Email: u.Email, Code: code, IP: m.IP, UserAgent: m.UserAgent}, "")
}

// NotifyFactorChange tells the owner that a second factor was added or removed.
func (s *Service) NotifyFactorChange(ctx context.Context, u *storage.User, factor string, removed bool, m Meta) {
	typ := "mfa_added"
	if removed {
		typ = "mfa_removed"
	}
	s.audit(ctx, u.ID, typ, m, factor)
	s.notice(ctx, u, u.Email, m, mail.MFAChanged, mail.Data{Email: u.Email, Factor: factor, FactorRemoved: removed,
		Link: s.link("/account/security", nil), IP: m.IP, UserAgent: m.UserAgent}, "")
}

// secondStepNoticeWindow: at most one "your password was used" mail per person per window,
// however many second steps fail.
const secondStepNoticeWindow = time.Hour

// NotifySecondStepFailed tells the owner that someone passed the password but failed the
// second step: the password is known to someone else (or it was them, mistyping a code).
func (s *Service) NotifySecondStepFailed(ctx context.Context, u *storage.User, m Meta) {
	n, err := s.Store.HitCounter(ctx, "mfa-notice:"+u.ID, secondStepNoticeWindow, s.now())
	if err != nil {
		s.log().WarnContext(ctx, "count second-step notices", "err", err)
		return
	}
	if n != 1 {
		return
	}
	s.notice(ctx, u, u.Email, m, mail.SecondStepFailed, mail.Data{Email: u.Email,
		Link: s.link("/account", nil), IP: m.IP, UserAgent: m.UserAgent}, "")
}

// firstSignInWindow: an account activated this recently whose activity log shows no sign-in
// yet is signing in for the first time. The log is pruned after accounts.audit_retention
// (a year by default), so the window must stay far below it or an old account would look new.
const firstSignInWindow = 7 * 24 * time.Hour

// NotifyNewSignIn tells the owner that their account was just signed in to from a browser
// that had not signed in to it before (the UI decides that from its device cookie). The very
// first sign-in of a freshly activated account is not told: activating proved the mailbox a
// moment ago, and a "new browser" notice for the only browser ever used is noise that teaches
// people to ignore these mails. It is recognised cheaply, with one read of the newest
// activity and only for accounts activated within firstSignInWindow: no "login" event yet.
// When that read fails the notice goes out (a needless mail beats a missed one). Call it
// before the sign-in itself is audited.
func (s *Service) NotifyNewSignIn(ctx context.Context, u *storage.User, m Meta) {
	now := s.now()
	if u.ActivatedAt != nil && now.Sub(*u.ActivatedAt) < firstSignInWindow {
		// One row at most: any earlier sign-in (reading the newest 50 events instead was a
		// tenth of a sign-in's CPU besides the password hash, docs/sizing.md).
		events, err := s.Store.QueryAuditEvents(ctx, storage.AuditQuery{UserID: u.ID, Type: "login", Limit: 1})
		if err != nil {
			s.log().WarnContext(ctx, "new sign-in notice: read activity", "err", err)
		} else if len(events) == 0 {
			return
		}
	}
	agent := ""
	if strings.TrimSpace(m.UserAgent) != "" {
		agent = useragent.Describe(m.UserAgent)
	}
	s.notice(ctx, u, u.Email, m, mail.NewSignIn, mail.Data{Email: u.Email, At: now, TimeZone: u.ZoneInfo,
		DateFormat: u.DateFormat, Link: s.link("/account/devices", nil), IP: m.IP, UserAgent: agent}, "")
}
