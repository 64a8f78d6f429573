package guard

import (
	"context"
	"fmt"
	"time"
)

// SMS sending (issue 15). Every SMS costs the operator money, and SMS pumping fraud sends
// codes to premium numbers for the revenue share, so each send counts against all of these
// in one-hour windows; the limits are the operator's (sms.limits), hence AllowUpTo.
const (
	// SMSNumber: sends to one number. Subject: the E.164 number.
	SMSNumber Rule = iota + 200
	// SMSAccount: sends for one account. Subject: the user id ("" for none).
	SMSAccount
	// SMSIP: sends asked for from one client IP. Subject: the IP.
	SMSIP
	// SMSCountry: sends to one destination country. Subject: its ISO code.
	SMSCountry
	// SMSBudget: every send of the installation. Subject: "".
	SMSBudget
)

// SMSWindow is the window of the SMS rules.
const SMSWindow = time.Hour

// smsSpec describes the SMS rules; their limits here are fallbacks, AllowUpTo gets the
// operator's.
func smsSpec(r Rule) (spec, bool) {
	switch r {
	case SMSNumber:
		return spec{"sms per number", "sms-number:", SMSWindow, 3, true}, true
	case SMSAccount:
		return spec{"sms per account", "sms-user:", SMSWindow, 5, false}, true
	case SMSIP:
		return spec{"sms per ip", "sms-ip:", SMSWindow, 10, false}, true
	case SMSCountry:
		return spec{"sms per country", "sms-country:", SMSWindow, 100, false}, true
	case SMSBudget:
		return spec{"sms budget", "sms-budget:", SMSWindow, 500, false}, true
	}
	return spec{}, false
}

// AllowUpTo is Allow with the limit given by the caller (an operator's setting) instead of
// the rule's own.
func (g *Guard) AllowUpTo(ctx context.Context, r Rule, subject string, limit int) (bool, error) {
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	n, err := g.Store.HitCounter(ctx, r.Key(subject), r.Window(), now.UTC())
	if err != nil {
		return false, fmt.Errorf("guard %s: %w", r, err)
	}
	return n <= limit, nil
}
