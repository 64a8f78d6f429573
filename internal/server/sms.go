package server

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/metrics"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/sms"
	"github.com/myaccount/myaccount/internal/subkey"
	"github.com/myaccount/myaccount/internal/tracing"
	"github.com/myaccount/myaccount/storage"
)

// NewSMSSender returns the configured gateway (sms.sender).
func NewSMSSender(cfg *config.Config, log *slog.Logger) (sms.Sender, error) {
	s := cfg.SMS
	switch s.Sender {
	case config.SMSSenderWebhook:
		return &sms.Webhook{URL: s.Webhook.URL, Secret: []byte(s.Webhook.Secret)}, nil
	case config.SMSSenderTwilio:
		return &sms.Twilio{BaseURL: s.Twilio.APIURL, AccountSID: s.Twilio.AccountSID, AuthToken: s.Twilio.AuthToken, From: s.Twilio.From}, nil
	case config.SMSSenderLog, "":
		return sms.LogSender{Logger: log}, nil
	}
	return nil, fmt.Errorf("unknown sms sender %q", s.Sender)
}

// newPhones wires issue 15: the SMS service on the mail outbox (task "sms") with its fraud
// limits and metric, and the phone number service that sends through it; lost names an SMS
// that never went out on its account (account.Service.Lost).
func newPhones(cfg *config.Config, store storage.Store, outbox *mail.Outbox, guards *guard.Guard, codes *mfa.Service, bundle *i18n.Bundle,
	subkeys *subkey.Deriver, m *metrics.Metrics, tp *tracing.Provider, issuer string, lost phone.LostFunc, log *slog.Logger, now func() time.Time) (*phone.Service, error) {
	sender, err := NewSMSSender(cfg, log)
	if err != nil {
		return nil, err
	}
	host := issuer
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	// Counted on the server's own registry: sent, failed, expired, queued, and refused by
	// the limit that refused (the person is never told which).
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "myaccount", Name: "sms_total",
		Help: "SMS by result (queued, sent, failed, expired, refused) and, for refusals, the reason (number, account, ip, country, country_limit, budget)."},
		[]string{"result", "reason"})
	if err := m.Registry().Register(counter); err != nil {
		return nil, fmt.Errorf("sms metric: %w", err)
	}
	l := cfg.SMS.Limits
	svc := &sms.Service{
		Outbox: outbox, Guard: guards, Sender: sender, Texts: bundle, Logger: log, Now: now,
		Limits:    sms.Limits{PerNumber: l.PerNumber, PerAccount: l.PerAccount, PerIP: l.PerIP, PerCountry: l.PerCountry, HourlyBudget: l.HourlyBudget},
		Countries: sms.NormalizeCountries(cfg.SMS.AllowedCountries),
		Host:      host, Product: cfg.UI.ProductName,
		Count: func(result, reason string) { counter.WithLabelValues(result, reason).Inc() },
		Lost:  lost,
	}
	outbox.Handle(sms.TaskKind, traceTask(tp, sms.TaskKind, svc.Deliver))
	outbox.OnGivenUpOf(sms.TaskKind, svc.GivenUp)
	ps := &phone.Service{Store: store, SMS: svc, Codes: codes, Key: subkeys.Key(subkey.PhoneCodes), Lost: lost, Now: now, Logger: log}
	if cfg.Accounts.ResetBySMS {
		// A reset request is queued and served by the worker, for every number alike.
		ps.Reset, ps.Queue = store, outbox
		outbox.Handle(phone.ResetRequestTask, traceTask(tp, phone.ResetRequestTask, ps.RunResetRequest))
		outbox.OnGivenUpOf(phone.ResetRequestTask, ps.GivenUp)
	}
	return ps, nil
}
