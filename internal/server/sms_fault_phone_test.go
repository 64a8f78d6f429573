package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// smsFaultEnv is phoneEnv over a store whose calls can be made to fail, with the SMS limits
// of limits (wide when zero).
func smsFaultEnv(t *testing.T, limits config.SMSLimits) (*testEnv, *smstest.Gateway, *faultstore.Store) {
	t.Helper()
	if limits == (config.SMSLimits{}) {
		limits = config.SMSLimits{PerNumber: 1000, PerAccount: 1000, PerIP: 1000, PerCountry: 1000, HourlyBudget: 1000}
	}
	var fs *faultstore.Store
	e, g := phoneEnv(t, false, nil, envOptions{
		configure: func(c *config.Config) { c.SMS.Limits = limits },
		wrapStore: func(s storage.Store) storage.Store {
			fs = faultstore.New(s)
			return fs
		}})
	return e, g, fs
}

var failEnqueue = faultstore.Rule{Method: "EnqueueOutbox", Err: faultstore.ErrInjected, Times: 1}

// TestPhoneSendFailureDoesNotMakeWait: a code that our side failed to queue (503) leaves the
// verification as it was: an immediate retry sends (no "wait a minute"), the code sent before
// still works, and failures use up none of the sends.
func TestPhoneSendFailureDoesNotMakeWait(t *testing.T) {
	t.Parallel()
	e, g, fs := smsFaultEnv(t, config.SMSLimits{})
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")

	// A first send that fails, then one at once that works.
	fs.Add(failEnqueue)
	if p := e.sendPhoneCode(b, "DE", "030 123456"); p.status != http.StatusServiceUnavailable {
		t.Fatalf("send with the outbox failing: %d %q, want 503", p.status, fieldError(p))
	}
	p := e.sendPhoneCode(b, "DE", "030 123456")
	if p.status != http.StatusOK {
		t.Fatalf("send right after our failure: %d %q, want 200", p.status, fieldError(p))
	}
	g.Wait(t)
	f := p.formValues()

	// Resends once the delay has passed: each failure (more than MaxSends of them) is
	// followed by a retry that works; the code sent before stays good until one does.
	e.clock.Advance(31 * time.Second)
	for i := range 6 {
		fs.Add(failEnqueue)
		if p := b.post(e.issuer+"/account/phone/resend", f); p.status != http.StatusServiceUnavailable {
			t.Fatalf("resend %d with the outbox failing: %d %q, want 503", i, p.status, fieldError(p))
		}
	}
	if p := b.post(e.issuer+"/account/phone/resend", f); p.status != http.StatusOK || !strings.Contains(p.body, "We sent a new code.") {
		t.Fatalf("resend after our failures: %d Retry-After %q %q, want 200", p.status, p.header.Get("Retry-After"), fieldError(p))
	}
	_, second := smstest.Code(t, g.Wait(t))
	f.Set("code", second)
	if p := b.post(e.issuer+"/account/phone/verify", f); !strings.Contains(p.body, "verified-number") {
		t.Fatalf("confirming the code: %d %q", p.status, fieldError(p))
	}
}

// TestPhoneSendFailureKeepsPendingCode: a resend that failed on our side leaves the code
// sent before good.
func TestPhoneSendFailureKeepsPendingCode(t *testing.T) {
	t.Parallel()
	e, g, fs := smsFaultEnv(t, config.SMSLimits{})
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	p := e.sendPhoneCode(b, "DE", "030 123456")
	_, code := smstest.Code(t, g.Wait(t))
	f := p.formValues()
	e.clock.Advance(31 * time.Second)
	fs.Add(failEnqueue)
	if p := b.post(e.issuer+"/account/phone/resend", f); p.status != http.StatusServiceUnavailable {
		t.Fatalf("resend with the outbox failing: %d, want 503", p.status)
	}
	f.Set("code", code)
	if p := b.post(e.issuer+"/account/phone/verify", f); !strings.Contains(p.body, "verified-number") {
		t.Fatalf("the code sent before our failure: %d %q, want confirmed", p.status, fieldError(p))
	}
}

// TestSMSOutboxFailuresCountNoLimit: sends our outbox failed to queue (503) count against no
// SMS limit: with a limit of 3 per number, 3 failures leave the next send allowed.
func TestSMSOutboxFailuresCountNoLimit(t *testing.T) {
	t.Parallel()
	e, g, fs := smsFaultEnv(t, config.SMSLimits{PerNumber: 3, PerAccount: 3, PerIP: 3, PerCountry: 3, HourlyBudget: 3})
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	for i := range 3 {
		fs.Add(failEnqueue)
		if p := e.sendPhoneCode(b, "DE", "030 123456"); p.status != http.StatusServiceUnavailable {
			t.Fatalf("send %d with the outbox failing: %d %q, want 503", i, p.status, fieldError(p))
		}
	}
	if p := e.sendPhoneCode(b, "DE", "030 123456"); p.status != http.StatusOK {
		t.Fatalf("send after 3 failures of ours: %d %q, want 200", p.status, fieldError(p))
	}
	g.Wait(t)
}

// TestPhoneLastGuessSurvivesOurFailure: the right code on the last guess, when confirming
// fails on our side (503), still works on a retry.
func TestPhoneLastGuessSurvivesOurFailure(t *testing.T) {
	t.Parallel()
	e, g, fs := smsFaultEnv(t, config.SMSLimits{})
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	p := e.sendPhoneCode(b, "DE", "030 123456")
	_, code := smstest.Code(t, g.Wait(t))
	f := p.formValues()
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := range 4 {
		f.Set("code", wrong)
		if p := b.post(e.issuer+"/account/phone/verify", f); p.status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong guess %d: %d", i+1, p.status)
		}
	}
	f.Set("code", code)
	fs.Add(faultstore.Rule{Method: "ConfirmPhone", Err: faultstore.ErrInjected, Times: 1})
	if p := b.post(e.issuer+"/account/phone/verify", f); p.status != http.StatusServiceUnavailable {
		t.Fatalf("the right last guess with confirming failing: %d %q, want 503", p.status, fieldError(p))
	}
	if p := b.post(e.issuer+"/account/phone/verify", f); !strings.Contains(p.body, "verified-number") {
		t.Fatalf("the right last guess again: %d %q, want confirmed", p.status, fieldError(p))
	}
}

// TestPhoneSpentGuessesKeepResendDelay: spending all the guesses does not skip the resend
// delay: typing the number again at once waits like a resend.
func TestPhoneSpentGuessesKeepResendDelay(t *testing.T) {
	t.Parallel()
	e, g, _ := smsFaultEnv(t, config.SMSLimits{})
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	p := e.sendPhoneCode(b, "DE", "030 123456")
	_, code := smstest.Code(t, g.Wait(t))
	f := p.formValues()
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for range 5 {
		f.Set("code", wrong)
		b.post(e.issuer+"/account/phone/verify", f)
	}
	if p := e.sendPhoneCode(b, "DE", "030 123456"); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("sending again right after spending the guesses: %d Retry-After %q, want 429", p.status, p.header.Get("Retry-After"))
	}
	e.clock.Advance(31 * time.Second)
	if p := e.sendPhoneCode(b, "DE", "030 123456"); p.status != http.StatusOK {
		t.Fatalf("sending again after the delay: %d %q, want 200", p.status, fieldError(p))
	}
}

// TestRefusedSMSResendKeepsTheCode: a sign-in code resend that the SMS limits refuse leaves
// the code sent before working. The new code replaced it before the send was asked for, so
// the refusal left the person with no code that worked.
func TestRefusedSMSResendKeepsTheCode(t *testing.T) {
	t.Parallel()
	e, g := phoneEnv(t, false, map[string]string{"MYACCOUNT_MFA_SMS": "fallback"}, envOptions{configure: func(c *config.Config) {
		c.SMS.Limits = config.SMSLimits{PerNumber: 3, PerAccount: 1000, PerIP: 1000, PerCountry: 1000, HourlyBudget: 1000}
	}})
	e.germanUser("ada@example.com")
	e.confirmPhone(e.signedInBrowser("ada@example.com"), g, "DE", "0151 23456789") // the number's first SMS
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	p := b.submitLogin(e.authWith(b, c), "ada@example.com", testPassword) // the second
	if p.url.Path != "/mfa" {
		t.Fatalf("after the password: %d at %s", p.status, p.url)
	}
	g.Wait(t)
	f := p.formValues()
	f.Set("method", "sms_resend")
	if p := b.post(e.issuer+"/mfa", f); !strings.Contains(p.body, "We sent a new code.") { // the third
		t.Fatalf("first resend: %d %q", p.status, statusRE.FindString(p.body))
	}
	_, code := smstest.Code(t, g.Wait(t))
	if p := b.post(e.issuer+"/mfa", f); !strings.Contains(p.body, "We cannot send a code to this number right now.") {
		t.Fatalf("second resend: %d %q, want refused by the limit", p.status, statusRE.FindString(p.body))
	}
	f.Set("method", "sms_code")
	f.Set("code", code)
	if res := redirectResult(t, b.post(e.issuer+"/mfa", f), c.Redirect); res.code == "" {
		t.Errorf("the code sent before the refusal: %q, want a code", res.err)
	}
}
