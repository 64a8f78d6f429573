package config

import (
	"net"
	"net/url"
	"regexp"
	"strings"
)

// SMS modes for second factors and sign-in codes (mfa.sms).
const (
	// SMSOff: no code is sent by SMS at sign-in (numbers may still be added, verified and
	// shared through the phone scope).
	SMSOff = "off"
	// SMSFallback: SMS is offered only when the sign-in has no stronger factor: the person
	// has no authenticator app, passkey or security key.
	SMSFallback = "fallback"
	// SMSEnabled: a person with a verified number may always choose SMS instead of email.
	SMSEnabled = "enabled"
)

// SMS senders (sms.sender).
const (
	SMSSenderLog     = "log"
	SMSSenderWebhook = "webhook"
	SMSSenderTwilio  = "twilio"
)

// SMS configures sending codes by SMS (issue 15).
type SMS struct {
	// Sender is log (printed, the embedded default), webhook or twilio.
	Sender string `yaml:"sender"`
	// AllowedCountries are the ISO 3166 codes of the countries codes may be sent to. Empty:
	// every country with the log sender, which sends nothing; a real sender requires a list.
	AllowedCountries []string   `yaml:"allowed_countries"`
	Webhook          SMSWebhook `yaml:"webhook"`
	Twilio           SMSTwilio  `yaml:"twilio"`
	Limits           SMSLimits  `yaml:"limits"`
}

// SMSWebhook is a generic HTTPS gateway that receives signed JSON.
type SMSWebhook struct {
	URL string `yaml:"url"`
	// Secret keys the HMAC-SHA256 signature of every request.
	Secret string `yaml:"secret"`
	// SecretFile names a file holding the secret; Load reads it into Secret.
	SecretFile string `yaml:"secret_file"`
}

// SMSTwilio is Twilio's Messages API.
type SMSTwilio struct {
	APIURL     string `yaml:"api_url"`
	AccountSID string `yaml:"account_sid"`
	AuthToken  string `yaml:"auth_token"`
	// AuthTokenFile names a file holding the auth token; Load reads it into AuthToken.
	AuthTokenFile string `yaml:"auth_token_file"`
	// From is the sending number (E.164) or a messaging service SID (MG...).
	From string `yaml:"from"`
}

// SMSLimits are per-hour limits on sends; going over any refuses the send with one generic
// answer.
type SMSLimits struct {
	PerNumber    int `yaml:"per_number"`
	PerAccount   int `yaml:"per_account"`
	PerIP        int `yaml:"per_ip"`
	PerCountry   int `yaml:"per_country"`
	HourlyBudget int `yaml:"hourly_budget"`
}

func defaultSMS() SMS {
	return SMS{
		Sender:           SMSSenderLog,
		AllowedCountries: []string{},
		Twilio:           SMSTwilio{APIURL: "https://api.twilio.com"},
		Limits:           SMSLimits{PerNumber: 3, PerAccount: 5, PerIP: 10, PerCountry: 100, HourlyBudget: 500},
	}
}

var isoCountry = regexp.MustCompile(`^[A-Z]{2}$`)

// validateSMS checks mfa.sms, accounts.reset_by_sms and the sms section.
func (c *Config) validateSMS(add func(key, format string, args ...any)) {
	switch c.MFA.SMS {
	case SMSOff, SMSFallback, SMSEnabled:
	default:
		add("mfa.sms", "%q must be one of off, fallback, enabled", c.MFA.SMS)
	}
	s := c.SMS
	for _, cc := range s.AllowedCountries {
		if !isoCountry.MatchString(cc) {
			add("sms.allowed_countries", "%q is not an ISO 3166 code in capitals, e.g. DE", cc)
		}
	}
	switch s.Sender {
	case SMSSenderLog:
	case SMSSenderWebhook:
		if !httpsOrLoopback(s.Webhook.URL) {
			add("sms.webhook.url", "must be an https URL (http only on a loopback address)")
		}
		if len(s.Webhook.Secret) < 16 {
			add("sms.webhook.secret", "must be set (secret, secret_file or MYACCOUNT_SMS_WEBHOOK_SECRET), at least 16 characters")
		}
	case SMSSenderTwilio:
		if !httpsOrLoopback(s.Twilio.APIURL) {
			add("sms.twilio.api_url", "must be an https URL (http only on a loopback address)")
		}
		if s.Twilio.AccountSID == "" || s.Twilio.AuthToken == "" || s.Twilio.From == "" {
			add("sms.twilio", "account_sid, auth_token (or auth_token_file, MYACCOUNT_SMS_TWILIO_AUTH_TOKEN) and from are required")
		}
	default:
		add("sms.sender", "%q must be one of log, webhook, twilio", s.Sender)
	}
	if s.Sender != SMSSenderLog && len(s.AllowedCountries) == 0 {
		add("sms.allowed_countries", "must list the countries codes may be sent to when a real sender is configured")
	}
	l := s.Limits
	if l.PerNumber < 1 || l.PerAccount < 1 || l.PerIP < 1 || l.PerCountry < 1 || l.HourlyBudget < 1 {
		add("sms.limits", "every limit must be at least 1")
	}
}

// httpsOrLoopback accepts an https URL, or http to a gateway on this machine.
func httpsOrLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	return u.Scheme == "http" && (strings.EqualFold(h, "localhost") || (ip != nil && ip.IsLoopback()))
}
