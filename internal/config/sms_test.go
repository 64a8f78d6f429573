package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSMSConfig(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook")
	if err := os.WriteFile(secretFile, []byte("a-long-enough-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // "" = valid
	}{
		{"default: log sender, any country", nil, ""},
		{"webhook from the environment with a secret file", map[string]string{"MYACCOUNT_SMS_SENDER": "webhook",
			"MYACCOUNT_SMS_WEBHOOK_URL": "https://sms.example.com/send", "MYACCOUNT_SMS_WEBHOOK_SECRET_FILE": secretFile,
			"MYACCOUNT_SMS_ALLOWED_COUNTRIES": "DE, AT"}, ""},
		{"a real sender needs countries", map[string]string{"MYACCOUNT_SMS_SENDER": "webhook",
			"MYACCOUNT_SMS_WEBHOOK_URL": "https://sms.example.com/send", "MYACCOUNT_SMS_WEBHOOK_SECRET": "a-long-enough-secret"},
			"sms.allowed_countries"},
		{"webhook over plain http elsewhere", map[string]string{"MYACCOUNT_SMS_SENDER": "webhook",
			"MYACCOUNT_SMS_WEBHOOK_URL": "http://sms.example.com/send", "MYACCOUNT_SMS_WEBHOOK_SECRET": "a-long-enough-secret",
			"MYACCOUNT_SMS_ALLOWED_COUNTRIES": "DE"}, "sms.webhook.url"},
		{"twilio without a token", map[string]string{"MYACCOUNT_SMS_SENDER": "twilio", "MYACCOUNT_SMS_TWILIO_ACCOUNT_SID": "AC1",
			"MYACCOUNT_SMS_TWILIO_FROM": "+15005550006", "MYACCOUNT_SMS_ALLOWED_COUNTRIES": "US"}, "sms.twilio"},
		{"bad country code", map[string]string{"MYACCOUNT_SMS_ALLOWED_COUNTRIES": "Germany"}, "sms.allowed_countries"},
		{"bad mode", map[string]string{"MYACCOUNT_MFA_SMS": "always"}, "mfa.sms"},
		{"unknown sender", map[string]string{"MYACCOUNT_SMS_SENDER": "pigeon"}, "sms.sender"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("", func(k string) string { return tc.env[k] })
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got error %v, want one about %s", err, tc.want)
			}
			if tc.want == "" && tc.env["MYACCOUNT_SMS_WEBHOOK_SECRET_FILE"] != "" && cfg.SMS.Webhook.Secret != "a-long-enough-secret" {
				t.Fatalf("secret from file: got %q", cfg.SMS.Webhook.Secret)
			}
		})
	}
}
