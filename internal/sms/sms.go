// Package sms sends the codes of internal/phone by SMS (issue 15): short, localised messages
// ending in the domain-bound one-time-code line ("@id.example.com #123456") so that phones
// offer to autofill the code only on the right site; queued through the durable mail outbox
// (task kind "sms"); delivered by the log (the embedded default), an HTTPS webhook or
// Twilio's REST API; and held back by the fraud limits: countries the operator allows, and
// sends per number, per account, per client IP, per destination country and in total per
// hour. A send over any limit is refused with ErrRefused, which says nothing of the limit.
package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// TaskKind is the outbox task that delivers one SMS.
const TaskKind = "sms"

// ErrRefused is the one answer for a send the limits or the country list refuse. Which limit
// it was goes to the log and the metrics only: telling an attacker would show them how to
// spread their sends. It wraps phone.ErrRefused, so the phone service tells it apart from a
// failure of ours.
var ErrRefused = fmt.Errorf("sms: not sent: %w", phone.ErrRefused)

// Message is one SMS to send.
type Message struct {
	// ID is unique per message and stays the same across retries, so that a gateway can
	// drop a duplicate.
	ID   string `json:"id"`
	To   string `json:"to"` // E.164
	Body string `json:"body"`
}

// Sender delivers a message (the gateway); an error is retried by the outbox.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Enqueuer queues an outbox task (mail.Outbox).
type Enqueuer interface {
	Enqueue(ctx context.Context, kind string, payload []byte) error
}

// Translator translates the messages (i18n.Bundle).
type Translator interface {
	T(lang, msg string, args ...any) string
}

// Limits are the operator's per-hour limits (sms.limits); a zero limit refuses every send.
type Limits struct {
	PerNumber, PerAccount, PerIP, PerCountry, HourlyBudget int
}

// Service checks the limits, writes the message and queues it; its Deliver runs in the
// outbox worker.
type Service struct {
	Outbox Enqueuer
	Guard  *guard.Guard
	Limits Limits
	// Countries are the ISO codes numbers may be in; empty allows every country (only
	// accepted by config with the log sender, which sends nothing).
	Countries []string
	// Host is the site's host name, for the one-time-code line.
	Host    string
	Product string
	Texts   Translator
	Sender  Sender
	// Count records sends: result "queued", "sent", "failed", "expired" or "refused" with
	// the refusing limit as reason (metrics). Nil counts nothing.
	Count func(result, reason string)
	// Lost (nil: nothing) names an SMS that never went out on the account it was for
	// (GivenUp, and Deliver's expired code).
	Lost   phone.LostFunc
	Logger *slog.Logger
	Now    func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) count(result, reason string) {
	if s.Count != nil {
		s.Count(result, reason)
	}
}

// task is the queued payload (sealed at rest by the outbox: it holds a live code). UserID,
// the account the code is for, is not the gateway's (Message is what it gets): it names
// whose SMS was lost.
type task struct {
	Message
	Expires time.Time `json:"expires"`
	UserID  string    `json:"user_id,omitempty"`
}

// SendCode queues c's message when every limit allows it; else ErrRefused. A storage
// failure counting the limits or queueing is returned as itself (ours, not the person's).
//
// In production the counts and the queued task are one transaction (SendCodeWith), so a send
// that failed on our side counts against no limit. A refused send counts nothing either.
func (s *Service) SendCode(ctx context.Context, c phone.Code) error {
	return s.SendCodeWith(ctx, c, nil)
}

// SendCodeWith is SendCode that also runs also (nil: nothing) in the transaction of the
// counts and the queued SMS, first: the write of the code the SMS carries commits with its
// sending, so a refused or failed send leaves the code the person already has as it was.
// Without a store that has transactions it fails when also is not nil.
func (s *Service) SendCodeWith(ctx context.Context, c phone.Code, also func(context.Context, storage.Store) error) error {
	country := phone.Region(c.To)
	if country == "" || (len(s.Countries) > 0 && !slices.Contains(s.Countries, country)) {
		return s.refuse(ctx, "country", c)
	}
	payload, err := json.Marshal(task{Message: Message{ID: secret.NewID(), To: c.To, Body: s.Body(c)}, Expires: c.Expires,
		UserID: c.UserID})
	if err != nil {
		return fmt.Errorf("sms: encode: %w", err)
	}
	txs, okStore := s.Guard.Store.(txStore)
	q, okQueue := s.Outbox.(txQueue)
	if !okStore || !okQueue {
		if also != nil {
			return errors.New("sms: a code's write with its sending needs a store with transactions")
		}
		// Tests' fakes: count, then queue.
		if reason, err := s.allow(ctx, s.Guard, c, country); err != nil {
			return err
		} else if reason != "" {
			return s.refuse(ctx, reason, c)
		}
		if err := s.Outbox.Enqueue(ctx, TaskKind, payload); err != nil {
			return fmt.Errorf("sms: queue: %w", err)
		}
		s.count("queued", "")
		return nil
	}
	var reason string
	err = txs.InTx(ctx, func(tx storage.Store) error {
		reason = "" // a retried transaction starts over
		if also != nil {
			if err := also(ctx, tx); err != nil {
				return err
			}
		}
		var err error
		if reason, err = s.allow(ctx, &guard.Guard{Store: tx, Now: s.Guard.Now}, c, country); err != nil || reason != "" {
			return errors.Join(err, errRefusedTx) // a refusal commits no count either
		}
		return q.EnqueueIn(ctx, tx, TaskKind, payload)
	})
	switch {
	case reason != "":
		return s.refuse(ctx, reason, c)
	case err != nil:
		return fmt.Errorf("sms: queue: %w", err)
	}
	q.Nudge() // after the commit: the worker would not see the task before it
	s.count("queued", "")
	return nil
}

// allow counts c against every limit through g and returns the refusing limit's reason, ""
// when all allow it.
func (s *Service) allow(ctx context.Context, g *guard.Guard, c phone.Code, country string) (string, error) {
	checks := []struct {
		rule    guard.Rule
		subject string
		limit   int
		reason  string
	}{
		{guard.SMSNumber, c.To, s.Limits.PerNumber, "number"},
		{guard.SMSAccount, c.UserID, s.Limits.PerAccount, "account"},
		{guard.SMSIP, c.IP, s.Limits.PerIP, "ip"},
		{guard.SMSCountry, country, s.Limits.PerCountry, "country_limit"},
		{guard.SMSBudget, "", s.Limits.HourlyBudget, "budget"},
	}
	for _, ch := range checks {
		if ch.rule == guard.SMSIP && ch.subject == "" {
			continue // no request (a job): nothing to count
		}
		ok, err := g.AllowUpTo(ctx, ch.rule, ch.subject, ch.limit)
		if err != nil {
			return "", fmt.Errorf("sms limits: %w", err)
		}
		if !ok {
			return ch.reason, nil
		}
	}
	return "", nil
}

// errRefusedTx rolls back the counts of a refused send.
var errRefusedTx = errors.New("sms: refused")

// txStore is the guard's store when it can run a transaction (storage.Store).
type txStore interface {
	InTx(ctx context.Context, fn func(storage.Store) error) error
}

// txQueue is the outbox's way to queue a task through a transaction's store (mail.Outbox).
type txQueue interface {
	EnqueueIn(ctx context.Context, st storage.OutboxStore, kind string, payload []byte) error
	Nudge()
}

func (s *Service) refuse(ctx context.Context, reason string, c phone.Code) error {
	s.count("refused", reason)
	if s.Logger != nil {
		// The number's country and the account say enough to investigate; not the number.
		s.Logger.WarnContext(ctx, "sms refused", "reason", reason, "user_id", c.UserID, "country", phone.Region(c.To), "ip", c.IP)
	}
	return ErrRefused
}

// Body is the message text: one short localised line, a blank line and the one-time-code
// line (https://wicg.github.io/sms-one-time-codes/), which must be the last.
func (s *Service) Body(c phone.Code) string {
	var line string
	switch c.Purpose {
	case phone.PurposeSignIn:
		line = s.Texts.T(c.Lang, "%s sign-in code: %s. Do not share it.", s.Product, c.Code)
	case phone.PurposeReset:
		line = s.Texts.T(c.Lang, "%s password reset code: %s. Do not share it.", s.Product, c.Code)
	default:
		line = s.Texts.T(c.Lang, "%s code to confirm this phone number: %s", s.Product, c.Code)
	}
	return line + "\n\n@" + s.Host + " #" + c.Code
}

// Deliver is the outbox task: it sends the queued message, unless its code has expired (a
// long gateway outage): an SMS nobody can use only costs money. A dropped SMS was lost as
// much as a given-up one, and is named on its account alike.
func (s *Service) Deliver(ctx context.Context, payload []byte) error {
	var t task
	if err := mail.DecodeTask(TaskKind, payload, &t); err != nil {
		return err // given up at once
	}
	if !t.Expires.IsZero() && !s.now().Before(t.Expires) {
		s.count("expired", "")
		if s.Logger != nil {
			s.Logger.WarnContext(ctx, "sms dropped: its code expired before delivery", "id", t.ID)
		}
		s.lost(ctx, t)
		return nil
	}
	if err := s.Sender.Send(ctx, t.Message); err != nil {
		s.count("failed", "")
		return err
	}
	s.count("sent", "")
	return nil
}

// GivenUp is the outbox's mail.GivenUpFunc of TaskKind: the account the SMS was for gets a
// phone.SMSLostEvent (through Lost), so that the person, and support asked "my code never
// came", can see that it was never sent. Every code is sent for an account (its number, or
// the number it is confirming), so none is written for a number alone; a task queued
// before tasks named their account names none and writes nothing.
func (s *Service) GivenUp(ctx context.Context, _ string, payload []byte) {
	var t task
	if json.Unmarshal(payload, &t) == nil {
		s.lost(ctx, t)
	}
}

// lost names t, an SMS that never went out, on its account.
func (s *Service) lost(ctx context.Context, t task) {
	if s.Lost != nil && t.UserID != "" {
		s.Lost(ctx, t.UserID, phone.SMSLostEvent, "", TaskKind)
	}
}

// NormalizeCountries upper-cases and trims a configured country list.
func NormalizeCountries(cs []string) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, strings.ToUpper(strings.TrimSpace(c)))
	}
	return out
}
