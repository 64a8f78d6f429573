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

// Sender queues mail in the durable outbox (mail.Outbox), so a reminder survives a restart
// and an SMTP outage: SendIn through the transaction that marks the reminder sent, Nudge
// once that committed.
type Sender interface {
	SendIn(ctx context.Context, st storage.OutboxStore, m mail.Message) error
	Nudge()
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
// marked sent by the UPDATE that claims it (of several instances one sends it) in one
// transaction with its mail's queueing: a failure to queue it, or a crash, leaves it unsent
// for the next run, and it is never queued twice. (Before, the mark committed on its own
// and a failed queueing lost the reminder for good.) Only the latest due reminder is sent:
// a licence extended or redeemed with 5 days left gets the 7-day mail, not the 30-day one
// as well. The expiry reminder also records the licence_expired activity, in the same
// transaction.
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
		queued := false
		err := s.Store.InTx(ctx, func(tx storage.Store) error {
			queued = false // a retried transaction starts over
			ok, err := tx.MarkLicenceReminder(ctx, l.ID, kind, now)
			if err != nil {
				return err
			}
			for _, k := range skip { // earlier ones that are no longer worth sending
				if _, err := tx.MarkLicenceReminder(ctx, l.ID, k, now); err != nil {
					return err
				}
			}
			if !ok {
				return nil // another run or instance has sent it
			}
			// The licence was read before this transaction; the mark's UPDATE now holds its
			// row, so what is read here stays until the commit. An extension or a revocation
			// committed in between (another instance; SQLite too) left the reminder decided
			// from the old term: it was marked sent and mailed with the old end, and the new
			// term's own reminder was lost. Rolled back, the next run decides afresh.
			if cur, err := tx.GetLicence(ctx, l.ID); err != nil {
				return err
			} else if !sameTerm(cur, l) {
				return errTermChanged
			}
			if kind == storage.ReminderExpiry {
				if err := s.auditIn(ctx, tx, &storage.AuditEvent{UserID: l.UserID, Type: EventExpired,
					Detail: l.ProductID, Target: "licence:" + l.ID}); err != nil {
					return err
				}
			}
			queued, err = s.remind(ctx, tx, l, kind, now)
			return err
		})
		if errors.Is(err, errTermChanged) {
			continue // changed since it was listed: the next run sees it as it is
		}
		if err != nil {
			s.log().ErrorContext(ctx, "licence reminder", "licence", l.ID, "kind", kind, "err", err)
			errs = append(errs, err)
			continue
		}
		if queued {
			sent++
		}
	}
	if sent > 0 {
		s.Reminders.Mail.Nudge()
	}
	return sent, errors.Join(errs...)
}

// errTermChanged rolls back a reminder whose licence changed since it was listed.
var errTermChanged = errors.New("licence: term changed since the reminder was decided")

// sameTerm reports whether cur, the licence as it is now, still has the term and state the
// reminder was decided from (was, as listed).
func sameTerm(cur, was *storage.Licence) bool {
	sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	return cur.UserID == was.UserID && sameTime(cur.ExpiresAt, was.ExpiresAt) && sameTime(cur.RevokedAt, was.RevokedAt)
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

// remind queues the reminder of kind for l through tx, and reports whether it did: a licence
// whose owner is gone is told to nobody.
func (s *Service) remind(ctx context.Context, tx storage.Store, l *storage.Licence, kind string, now time.Time) (bool, error) {
	u, err := tx.GetUser(ctx, l.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("owner: %w", err)
	}
	p, err := tx.GetProduct(ctx, l.ProductID)
	if err != nil {
		return false, fmt.Errorf("product: %w", err)
	}
	lang := mail.MatchLanguage(u.Locale)
	r := s.Reminders
	end := geo.FormatDateIn(*l.ExpiresAt, u.DateFormat, u.ZoneInfo, lang)
	var subject, lead string
	switch kind {
	case storage.Reminder30Days, storage.Reminder7Days:
		// The time actually left: a licence issued or extended with 20 days left gets the
		// "30 days" reminder, which must not say 30.
		subject = r.Text.T(lang, "Your %s licence ends %s", p.Name, geo.RelativeTime(l.ExpiresAt.Sub(now), lang))
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
	if err := r.Mail.SendIn(ctx, tx, mail.Message{To: u.Email, Subject: subject, Text: b.String()}); err != nil {
		return false, err
	}
	return true, nil
}
