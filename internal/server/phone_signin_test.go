package server_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/storage"
)

// confirmPhone adds and confirms number on the person's phone page in browser b.
func (e *testEnv) confirmPhone(b *browser, g *smstest.Gateway, country, number string) {
	e.t.Helper()
	p := e.sendPhoneCode(b, country, number)
	_, code := smstest.Code(e.t, g.Wait(e.t))
	f := p.formValues()
	f.Set("code", code)
	if p = b.post(e.issuer+"/account/phone/verify", f); !strings.Contains(p.body, "verified-number") {
		e.t.Fatalf("confirming the number: %d %q", p.status, fieldError(p))
	}
}

// TestSMSSignIn: with mfa.sms fallback, a person with a confirmed number and no strong
// factor gets the new-browser check's code by SMS; the ID token says amr pwd + sms at the
// 1fa level. A client that requires MFA is not satisfied by it: no SMS is sent, the person
// is sent to set up a strong factor.
func TestSMSSignIn(t *testing.T) {
	t.Parallel()
	e, g := phoneEnv(t, false, map[string]string{"MYACCOUNT_MFA_SMS": "fallback"}, envOptions{})
	e.germanUser("ada@example.com")
	first := e.signedInBrowser("ada@example.com")
	e.confirmPhone(first, g, "DE", "0151 23456789")
	if p := first.get(e.issuer + "/account/security"); !strings.Contains(p.body, `id="sms-h"`) || !strings.Contains(p.body, "Least safe") {
		t.Fatalf("the security page does not show SMS as the weakest way:\n%.1500s", p.body)
	}

	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser() // a browser that never signed in
	verifier, _ := pkce()
	p := b.get(e.oauth2Config(c).AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	p = b.submitLogin(p, "ada@example.com", testPassword)
	if p.url.Path != "/mfa" || !strings.Contains(p.body, `value="sms_code"`) || !strings.Contains(html.UnescapeString(p.body), "+49 •••• •••••89") {
		t.Fatalf("after the password: %d at %s\n%.2000s", p.status, p.url, p.body)
	}
	m := g.Wait(t)
	_, code := smstest.Code(t, m)
	if m.To != "+4915123456789" || !strings.HasPrefix(m.Body, "My Account sign-in code: "+code+".") {
		t.Fatalf("sign-in SMS %+v", m)
	}
	f := p.formValues()
	f.Set("method", "sms_code")
	f.Set("code", "99999"+code[5:]) // wrong unless the code ends so; then the next check catches it
	if code != "99999"+code[5:] {
		if p2 := b.post(e.issuer+"/mfa", f); !strings.Contains(p2.body, "The code is not correct.") {
			t.Fatalf("wrong code: %d\n%.800s", p2.status, p2.body)
		}
	}
	f.Set("code", code)
	res := redirectResult(t, b.post(e.issuer+"/mfa", f), c.Redirect)
	tok, err := e.oauth2Config(c).Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(claims.AMR, []string{"pwd", "sms"}) || claims.ACR != "urn:myaccount:acr:1fa" {
		t.Fatalf("amr %q acr %q, want [pwd sms] at 1fa", claims.AMR, claims.ACR)
	}

	// A client that requires MFA: SMS is not offered, nothing is sent.
	strict := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.RequireMFA = true })
	b = e.browser()
	p = b.submitLogin(b.get(e.oauth2Config(strict).AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))), "ada@example.com", testPassword)
	if p.url.Path == "/mfa" || strings.Contains(p.body, `value="sms_code"`) {
		t.Fatalf("SMS offered to a client that requires MFA: %s", p.url)
	}
	if n := len(g.Messages()); n != 2 {
		t.Fatalf("the gateway has %d messages, want 2 (the number's and one sign-in)", n)
	}
}

var statusRE = regexp.MustCompile(`<p role="status">([^<]*)</p>`)

// TestSMSReset: with accounts.reset_by_sms, a confirmed number receives a reset code; an
// unknown number gets the same answer and no SMS; the right code leads to the ordinary reset
// page, and the new password signs in.
func TestSMSReset(t *testing.T) {
	t.Parallel()
	e, g := phoneEnv(t, false, nil, envOptions{configure: func(c *config.Config) { c.Accounts.ResetBySMS = true }})
	e.germanUser("ada@example.com")
	e.confirmPhone(e.signedInBrowser("ada@example.com"), g, "DE", "030 123456")

	b := e.browser()
	if p := b.get(e.issuer + "/forgot"); !strings.Contains(p.body, `href="/forgot/sms"`) {
		t.Fatal("the forgot page does not offer the SMS reset")
	}
	send := func(b *browser, country, number string) *page {
		f := b.get(e.issuer + "/forgot/sms").formValues()
		f.Set("country", country)
		f.Set("number", number)
		return b.post(e.issuer+"/forgot/sms", f)
	}
	unknown := send(e.browser(), "DE", "030 654321")
	known := send(b, "", "+49 30 123456")
	say := func(p *page) string {
		m := statusRE.FindStringSubmatch(html.UnescapeString(p.body))
		if m == nil {
			t.Fatalf("no status line: %d\n%.1000s", p.status, p.body)
		}
		return strings.Replace(strings.Replace(m[1], "+49 30 654321", "N", 1), "+49 30 123456", "N", 1)
	}
	if unknown.status != known.status || say(unknown) != say(known) {
		t.Fatalf("the answers differ: %d %q / %d %q", unknown.status, say(unknown), known.status, say(known))
	}
	m := g.Wait(t)
	_, code := smstest.Code(t, m)
	if m.To != "+4930123456" || !strings.Contains(m.Body, "password reset code: "+code) {
		t.Fatalf("reset SMS %+v", m)
	}
	if n := len(g.Messages()); n != 2 {
		t.Fatalf("%d messages: the unknown number must get none", n)
	}
	f := known.formValues()
	f.Set("code", code)
	p := b.post(e.issuer+"/forgot/sms/code", f)
	if p.status != http.StatusOK || p.url.Path != "/reset" || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("after the code: %d at %s\n%.800s", p.status, p.url, p.body)
	}
	f = p.formValues()
	f.Set("password", "a brand new passphrase 42")
	f.Set("confirm", "a brand new passphrase 42")
	if p = b.post(e.issuer+"/reset", f); p.status != http.StatusOK || !strings.Contains(p.body, "Your password was changed.") {
		t.Fatalf("reset: %d\n%.800s", p.status, p.body)
	}
	b = e.browser()
	if p = b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", "a brand new passphrase 42"); p.url.Path != "/account" {
		t.Fatalf("sign-in with the new password ended at %s", p.url)
	}
	// The code was single use.
	b2 := e.browser()
	known = send(b2, "DE", "030 123456")
	g.Wait(t)
	f = known.formValues()
	f.Set("code", code)
	if p = b2.post(e.issuer+"/forgot/sms/code", f); p.status != http.StatusUnprocessableEntity {
		t.Fatalf("an old code: %d", p.status)
	}
}

// TestSMSPreferredEmailOffered: a person offered both emailed and SMS codes who chose SMS last
// time gets the code by SMS only. The page's email way offers to send a code and does not
// claim one was sent; asked for, the mail goes out and the page then takes the code.
func TestSMSPreferredEmailOffered(t *testing.T) {
	t.Parallel()
	mail := mailtest.NewServer(t)
	e, g := phoneEnv(t, false, map[string]string{"MYACCOUNT_MFA_SMS": "fallback"}, envOptions{smtp: mail,
		configure: func(c *config.Config) { c.MFA.EmailCodeForNewBrowsers = true }})
	u := e.germanUser("ada@example.com")
	// The number is put in place directly: confirming it on the page needs a sign-in, which
	// the new-browser check would already ask a code for.
	ctx, now := context.Background(), e.clock.Now()
	if err := e.store.PutPhoneVerification(ctx, &storage.PhoneVerification{UserID: u.ID, E164: "+4915123456789",
		CodeHash: "h", CreatedAt: now, LastSentAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ConfirmPhone(ctx, u.ID, "h", now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.PreferredMFA = "sms_code"; return nil }); err != nil {
		t.Fatal(err)
	}
	codeMails := func() (n int) {
		for _, r := range mail.Messages() {
			if strings.Contains(r.Subject, "sign-in code") {
				n++
			}
		}
		return n
	}
	before := codeMails()
	b := e.browser()
	p := b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", testPassword)
	if p.url.Path != "/mfa" || !strings.Contains(p.body, `value="sms_code"`) {
		t.Fatalf("after the password: %d at %s\n%.3000s", p.status, p.url, p.body)
	}
	smstest.Code(t, g.Wait(t))
	if strings.Index(p.body, `value="sms_code"`) > strings.Index(p.body, `value="email_resend"`) {
		t.Errorf("the way chosen last time (SMS) is not offered first")
	}
	if strings.Contains(p.body, "We sent a 6-digit code to") || !strings.Contains(p.body, `value="email_resend"`) ||
		!strings.Contains(p.body, "Email me a code") || strings.Contains(p.body, `id="email-code"`) {
		t.Fatalf("the email way when only an SMS went out:\n%.3000s", p.body)
	}
	if n := codeMails(); n != before {
		t.Fatalf("%d sign-in codes emailed although SMS was the way chosen", n-before)
	}
	f := p.formValues()
	f.Set("method", "email_resend")
	p = b.post(e.issuer+"/mfa", f)
	if !strings.Contains(p.body, `id="email-code"`) || !strings.Contains(p.body, "We sent a 6-digit code to") {
		t.Fatalf("after asking for an emailed code: %d\n%.3000s", p.status, p.body)
	}
	// The page remembers it for this sign-in: reloaded, it still takes the emailed code.
	if p = b.get(e.issuer + "/mfa"); !strings.Contains(p.body, `id="email-code"`) {
		t.Fatalf("reloaded after the mail: the email code field is gone\n%.2000s", p.body)
	}
	for deadline := time.Now().Add(10 * time.Second); codeMails() != before+1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sign-in code mails after asking for one, want 1", codeMails()-before)
		}
	}
}
