package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
)

// TestPagesStateTheConfiguredLinkLifetime: the page after registering says how long the
// activation link works from accounts.activation_ttl, as the mail does; before, it said
// "5 days" whatever the operator set. The forgot-password page states the reset link's
// lifetime the same way, in the person's language.
func TestPagesStateTheConfiguredLinkLifetime(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), configure: func(c *config.Config) {
		c.Accounts.ActivationTTL = config.Duration(72 * time.Hour)
	}})
	b := e.browser()
	p := e.register(b, b.get(e.issuer+"/register"), "new@example.com", testPassword, testPassword)
	if !strings.Contains(p.body, "The link is valid for 3 days.") || strings.Contains(p.body, "5 days") {
		t.Errorf("registered: the page does not state the configured 3 days:\n%.1500s", p.body)
	}
	m := e.smtp.WaitFor(t, "new@example.com", mailWait)
	if !strings.Contains(m.Text, "3 days") {
		t.Errorf("the activation mail does not say 3 days:\n%s", m.Text)
	}

	de := e.browser()
	de.get(e.issuer + "/lang?to=de&back=/forgot")
	f := de.get(e.issuer + "/forgot").formValues()
	f.Set("email", "someone@example.com")
	p = de.post(e.issuer+"/forgot", f)
	if !strings.Contains(p.body, "Der Link ist eine Stunde lang gültig.") {
		t.Errorf("forgot (de): the page does not state the reset link's hour:\n%.1500s", p.body)
	}
}
