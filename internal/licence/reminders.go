package licence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/storage"
)

// Sender delivers mail; the server gives the durable outbox, so a reminder survives a
// restart and an SMTP outage.
type Sender interface {
	Send(ctx context.Context, m mail.Message) error
}

// Translator is the message catalog (i18n.Bundle).
type Translator interface {
	T(lang, msg string, args ...any) string
}

// Reminders mails the owners of licences 30 and 7 days before expiry and on expiry, in the
// account's language, with the end in the account's date format and zone.
type Reminders struct {
	Mail Sender
	Text Translator
	// AccountURL is the dashboard's licences page, linked from every mail.
	AccountURL string
	// RenewalURL is where licences are renewed (operator configured; "" = none).
	RenewalURL string
}

// reminderBatch bounds one run; the next run goes on where this one stopped.
const reminderBatch = 200

// SendReminders queues every reminder due now and returns how many it queued. Each is
// marked in the store before it is queued, in the UPDATE that claims it: of several
// instances one sends it, and a run that crashes in between loses that mail rather than
// sending it twice. Only the latest due reminder is sent: a licence extended or redeemed
// with 5 days left gets the 7-day mail, not the 30-day one as well. The expiry reminder
// also records the licence_expired activity.
func (s *Service) SendReminders(ctx context.Context) (int, error) {
	if s.Reminders == nil {
		return 0, nil
	}
	now := s.now()
	due, err := s.Store.LicencesDue(ctx, now, reminderBatch)
	if err != nil {
		return 0, fmt.Errorf("licence reminders: %w", err)
	}
	sent := 0
	var errs []error
	for _, l := range due {
		kind, skip := dueReminder(l, now)
		if kind == "" {
			continue
		}
		ok, err := s.Store.MarkLicenceReminder(ctx, l.ID, kind, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, k := range skip { // earlier ones that are no longer worth sending
			if _, err := s.Store.MarkLicenceReminder(ctx, l.ID, k, now); err != nil {
				errs = append(errs, err)
			}
		}
		if !ok {
			continue
		}
		if kind == storage.ReminderExpiry {
			s.audit(ctx, &storage.AuditEvent{UserID: l.UserID, Type: EventExpired, Detail: l.ProductID, Target: "licence:" + l.ID})
		}
		if err := s.remind(ctx, l, kind); err != nil {
			s.log().ErrorContext(ctx, "licence reminder", "licence", l.ID, "kind", kind, "err", err)
			errs = append(errs, err)
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}

// dueReminder is the latest reminder due for l at now that is not yet sent, and the earlier
// unsent ones it makes pointless.
func dueReminder(l *storage.Licence, now time.Time) (kind string, skip []string) {
	if l.ExpiresAt == nil {
		return "", nil
	}
	left := l.ExpiresAt.Sub(now)
	unsent30, unsent7 := l.Reminded30At == nil, l.Reminded7At == nil
	switch {
	case left <= 0 && l.ExpiryNotifiedAt == nil:
		kind = storage.ReminderExpiry
	case left > 0 && left <= 7*24*time.Hour && unsent7:
		kind, unsent7 = storage.Reminder7Days, false
	case left > 7*24*time.Hour && left <= 30*24*time.Hour && unsent30:
		return storage.Reminder30Days, nil
	default:
		return "", nil
	}
	if unsent30 {
		skip = append(skip, storage.Reminder30Days)
	}
	if unsent7 {
		skip = append(skip, storage.Reminder7Days)
	}
	return kind, skip
}

func (s *Service) remind(ctx context.Context, l *storage.Licence, kind string) error {
	u, err := s.Store.GetUser(ctx, l.UserID)
	if err != nil {
		return fmt.Errorf("owner: %w", err)
	}
	p, err := s.Store.GetProduct(ctx, l.ProductID)
	if err != nil {
		return fmt.Errorf("product: %w", err)
	}
	lang := mail.MatchLanguage(u.Locale)
	r := s.Reminders
	end := geo.FormatDateIn(*l.ExpiresAt, u.DateFormat, u.ZoneInfo, lang)
	var subject, lead string
	switch kind {
	case storage.Reminder30Days:
		subject = r.Text.T(lang, "Your %s licence ends in 30 days", p.Name)
		lead = r.Text.T(lang, "Your %s licence is valid until %s.", p.Name, end)
	case storage.Reminder7Days:
		subject = r.Text.T(lang, "Your %s licence ends in 7 days", p.Name)
		lead = r.Text.T(lang, "Your %s licence is valid until %s.", p.Name, end)
	default:
		subject = r.Text.T(lang, "Your %s licence has expired", p.Name)
		lead = r.Text.T(lang, "Your %s licence expired on %s. Its devices no longer get the product's features.", p.Name, end)
	}
	var b strings.Builder
	b.WriteString(lead + "\n\n")
	if r.RenewalURL != "" {
		b.WriteString(r.Text.T(lang, "Renew it here: %s", r.RenewalURL) + "\n\n")
	}
	if r.AccountURL != "" {
		b.WriteString(r.Text.T(lang, "See your licences and devices: %s", r.AccountURL) + "\n")
	}
	to := u.Email
	return r.Mail.Send(ctx, mail.Message{To: to, Subject: subject, Text: b.String()})
}
