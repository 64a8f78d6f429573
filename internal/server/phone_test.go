package server_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

const (
	hookSecret  = "a-webhook-secret-for-tests"
	twilioSID   = "AC0123456789"
	twilioToken = "twilio-auth-token"
)

// phoneEnv is a server that sends SMS to a fake gateway: by the signed webhook, or through
// Twilio's API when twilio is set. vars adds MYACCOUNT_* settings.
func phoneEnv(t *testing.T, twilio bool, vars map[string]string, o envOptions) (*testEnv, *smstest.Gateway) {
	t.Helper()
	g := smstest.New(t, []byte(hookSecret), twilioSID, twilioToken)
	env := map[string]string{"MYACCOUNT_SMS_ALLOWED_COUNTRIES": "DE,GB",
		"MYACCOUNT_SMS_SENDER": "webhook", "MYACCOUNT_SMS_WEBHOOK_URL": g.URL + "/hook", "MYACCOUNT_SMS_WEBHOOK_SECRET": hookSecret}
	if twilio {
		env = map[string]string{"MYACCOUNT_SMS_ALLOWED_COUNTRIES": "DE,GB",
			"MYACCOUNT_SMS_SENDER": "twilio", "MYACCOUNT_SMS_TWILIO_ACCOUNT_SID": twilioSID,
			"MYACCOUNT_SMS_TWILIO_AUTH_TOKEN": twilioToken, "MYACCOUNT_SMS_TWILIO_FROM": "+15005550006"}
		next := o.configure
		o.configure = func(c *config.Config) {
			c.SMS.Twilio.APIURL = g.URL
			if next != nil {
				next(c)
			}
		}
	}
	for k, v := range vars {
		env[k] = v
	}
	o.env = env
	return newEnvWith(t, o), g
}

// germanUser is an active account whose profile country is Germany.
func (e *testEnv) germanUser(email string) *storage.User {
	e.t.Helper()
	u := e.addUser(email)
	u, err := e.store.UpdateUser(context.Background(), u.ID, func(x *storage.User) error {
		x.Country, x.Region, x.ZoneInfo = "DE", "", "Europe/Berlin"
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// sendPhoneCode posts number (typed for country) on the phone page.
func (e *testEnv) sendPhoneCode(b *browser, country, number string) *page {
	e.t.Helper()
	f := b.get(e.issuer + "/account/phone").formValues()
	f.Set("country", country)
	f.Set("number", number)
	return b.post(e.issuer+"/account/phone", f)
}

var csrfValueRE = regexp.MustCompile(`(name="csrf-token" content|name="csrf_token" value)="[^"]*"`)

var fieldErrorRE = regexp.MustCompile(`id="(?:number|code)-error" role="alert">([^<]*)<`)

func fieldError(p *page) string {
	m := fieldErrorRE.FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// TestPhoneNumberAndPhoneScope: a number typed in national form for the profile's country
// is sent a code through the signed webhook, a wrong code is refused, the right one confirms
// it; an app with the phone scope then gets phone_number and phone_number_verified in the ID
// token and from userinfo (coreos/go-oidc + x/oauth2).
func TestPhoneNumberAndPhoneScope(t *testing.T) {
	t.Parallel()
	e, g := phoneEnv(t, false, nil, envOptions{})
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")

	p := b.get(e.issuer + "/account/phone")
	if p.status != http.StatusOK || !strings.Contains(p.body, `<option value="DE" selected>`) || !strings.Contains(p.body, `type="tel"`) {
		t.Fatalf("phone page: %d, profile's country not preselected:\n%.1500s", p.status, p.body)
	}
	if p = e.sendPhoneCode(b, "DE", "zwei"); p.status != http.StatusUnprocessableEntity || fieldError(p) == "" {
		t.Fatalf("a word for a number: %d %q", p.status, fieldError(p))
	}
	p = e.sendPhoneCode(b, "DE", "030 123456")
	if p.status != http.StatusOK || !strings.Contains(p.body, `autocomplete="one-time-code"`) || !strings.Contains(html.UnescapeString(p.body), "+49 30 123456") {
		t.Fatalf("after sending: %d\n%.1500s", p.status, p.body)
	}
	m := g.Wait(t)
	host, code := smstest.Code(t, m)
	if m.To != "+4930123456" || host != "127.0.0.1" || !strings.HasPrefix(m.Body, "My Account code to confirm this phone number: "+code) {
		t.Fatalf("SMS %+v (host %q)", m, host)
	}
	if n := g.BadSignatures(); n != 0 {
		t.Fatalf("%d webhook requests failed the signature check", n)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	f := p.formValues()
	f.Set("code", wrong)
	if p = b.post(e.issuer+"/account/phone/verify", f); p.status != http.StatusUnprocessableEntity || fieldError(p) == "" {
		t.Fatalf("wrong code: %d %q", p.status, fieldError(p))
	}
	f.Set("code", code[:3]+" "+code[3:])
	p = b.post(e.issuer+"/account/phone/verify", f)
	if p.status != http.StatusOK || !strings.Contains(html.UnescapeString(p.body), `id="verified-number">+49 30 123456<`) {
		t.Fatalf("after confirming: %d\n%.1500s", p.status, p.body)
	}

	// The phone scope through a real relying party.
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, firstParty)
	cfg := e.oauth2Config(c, gooidc.ScopeOpenID, "phone")
	res, verifier := e.signIn(b, c, "ada@example.com", oauth2.SetAuthURLParam("scope", "openid phone"))
	tok, err := cfg.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	prov := e.provider(ctx)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Phone    string `json:"phone_number"`
		Verified bool   `json:"phone_number_verified"`
		Email    string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Phone != "+4930123456" || !claims.Verified || claims.Email != "" {
		t.Fatalf("ID token claims %+v", claims)
	}
	ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	claims.Phone, claims.Verified = "", false
	if err := ui.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Phone != "+4930123456" || !claims.Verified {
		t.Fatalf("userinfo claims %+v", claims)
	}

	// Removed: the claims go too.
	f = b.get(e.issuer + "/account/phone").formValues()
	if p = b.post(e.issuer+"/account/phone/remove", f); strings.Contains(p.body, "verified-number") {
		t.Fatalf("still shown after removal:\n%.800s", p.body)
	}
	ui, err = prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	claims.Phone = ""
	if err := ui.Claims(&claims); err != nil || claims.Phone != "" {
		t.Fatalf("userinfo after removal: %+v %v", claims, err)
	}
}

// TestPhoneResendWaits: a resend waits 30 s, then a minute; the new code replaces the old.
func TestPhoneResendWaits(t *testing.T) {
	t.Parallel()
	e, g := phoneEnv(t, true, nil, envOptions{})
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	p := e.sendPhoneCode(b, "GB", "+44 20 7946 0958")
	_, first := smstest.Code(t, g.Wait(t))
	f := p.formValues()
	if p = b.post(e.issuer+"/account/phone/resend", f); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "30" {
		t.Fatalf("resend at once: %d Retry-After %q %q", p.status, p.header.Get("Retry-After"), fieldError(p))
	}
	e.clock.Advance(31 * time.Second)
	if p = b.post(e.issuer+"/account/phone/resend", f); p.status != http.StatusOK || !strings.Contains(p.body, "We sent a new code.") {
		t.Fatalf("resend after 31 s: %d %q", p.status, fieldError(p))
	}
	m := g.Wait(t)
	_, second := smstest.Code(t, m)
	if m.To != "+442079460958" {
		t.Fatalf("twilio got %+v", m)
	}
	if first != second {
		f.Set("code", first)
		if p = b.post(e.issuer+"/account/phone/verify", f); p.status != http.StatusUnprocessableEntity {
			t.Fatalf("the replaced code: %d", p.status)
		}
	}
	f.Set("code", second)
	if p = b.post(e.issuer+"/account/phone/verify", f); !strings.Contains(html.UnescapeString(p.body), "+44 20 7946 0958") || !strings.Contains(p.body, "verified-number") {
		t.Fatalf("confirm: %d %q", p.status, fieldError(p))
	}
}

// TestSMSLimits: each fraud limit, and a country not on the list, refuses with the same
// answer, which does not name the limit; the gateway receives nothing refused, and the metric
// counts the refusal by its reason.
func TestSMSLimits(t *testing.T) {
	t.Parallel()
	const answer = "We cannot send a code to this number right now. Try again later or use another number."
	high := map[string]string{}
	type send struct {
		user, country, number string
	}
	tests := []struct {
		name   string
		limit  string // the sms.limits key set to 1
		first  send
		second send // refused
		reason string
	}{
		{"per number", "per_number", send{"a", "DE", "030 123456"}, send{"b", "DE", "030 123456"}, "number"},
		{"per account", "per_account", send{"a", "DE", "030 123456"}, send{"a", "DE", "030 654321"}, "account"},
		{"per ip", "per_ip", send{"a", "DE", "030 123456"}, send{"b", "DE", "030 654321"}, "ip"},
		{"per country", "per_country", send{"a", "DE", "030 123456"}, send{"b", "DE", "030 654321"}, "country_limit"},
		{"hourly budget", "hourly_budget", send{"a", "DE", "030 123456"}, send{"b", "GB", "020 7946 0958"}, "budget"},
		{"country not allowed", "", send{"a", "DE", "030 123456"}, send{"b", "US", "(201) 555-0123"}, "country"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, g := phoneEnv(t, tc.name == "per ip", high, envOptions{configure: func(c *config.Config) {
				l := &c.SMS.Limits
				l.PerNumber, l.PerAccount, l.PerIP, l.PerCountry, l.HourlyBudget = 100, 100, 100, 100, 100
				switch tc.limit {
				case "per_number":
					l.PerNumber = 1
				case "per_account":
					l.PerAccount = 1
				case "per_ip":
					l.PerIP = 1
				case "per_country":
					l.PerCountry = 1
				case "hourly_budget":
					l.HourlyBudget = 1
				}
			}})
			browsers := map[string]*browser{}
			for _, u := range []string{"a", "b"} {
				e.germanUser(u + "@example.com")
				browsers[u] = e.signedInBrowser(u + "@example.com")
			}
			if p := e.sendPhoneCode(browsers[tc.first.user], tc.first.country, tc.first.number); p.status != http.StatusOK {
				t.Fatalf("first send: %d %q", p.status, fieldError(p))
			}
			g.Wait(t)
			e.clock.Advance(time.Minute) // past the resend delay: only the limit can refuse
			p := e.sendPhoneCode(browsers[tc.second.user], tc.second.country, tc.second.number)
			if p.status != http.StatusUnprocessableEntity || fieldError(p) != answer {
				t.Fatalf("second send: %d %q, want 422 %q", p.status, fieldError(p), answer)
			}
			time.Sleep(200 * time.Millisecond) // a wrongly queued SMS would arrive by now
			if n := len(g.Messages()); n != 1 {
				t.Fatalf("the gateway received %d messages, want 1", n)
			}
			if got := smsMetric(t, e, "refused", tc.reason); got != 1 {
				t.Fatalf("myaccount_sms_total{refused,%s} = %v, want 1", tc.reason, got)
			}
		})
	}
}

// smsMetric reads myaccount_sms_total{result,reason} from the server's registry.
func smsMetric(t *testing.T, e *testEnv, result, reason string) float64 {
	t.Helper()
	mfs, err := e.srv.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "myaccount_sms_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["result"] == result && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestPhoneStoreFailuresAreOurs fails every store call of the phone paths one at a time:
// the answer is ours (5xx), never a wrong-code or limit answer.
func TestPhoneStoreFailuresAreOurs(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e, g := phoneEnv(t, false, map[string]string{"MYACCOUNT_MFA_SMS": "fallback"}, envOptions{
		configure: func(c *config.Config) {
			c.Accounts.ResetBySMS = true
			c.SMS.Limits = config.SMSLimits{PerNumber: 1000, PerAccount: 1000, PerIP: 1000, PerCountry: 1000, HourlyBudget: 1000}
		},
		wrapStore: func(s storage.Store) storage.Store {
			fs = faultstore.New(s)
			return fs
		}})
	u := e.germanUser("ada@example.com")
	var b *browser
	// Each case signs in afresh: changes to the number need a recent sign-in, and the
	// clock moves past each code's life between cases.
	signIn := func() { b = e.signedInBrowser("ada@example.com") }
	confirm := func() {
		if _, err := e.store.GetPhone(context.Background(), u.ID); err == nil {
			return // confirmed by an earlier case
		}
		signIn()
		n := len(g.Messages())
		p := e.sendPhoneCode(b, "DE", "030 123456")
		if p.status != http.StatusOK {
			t.Fatalf("sending the confirmation code: %d %q", p.status, fieldError(p))
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(g.Messages()) <= n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		ms := g.Messages()
		if len(ms) <= n {
			t.Fatal("no confirmation SMS")
		}
		_, code := smstest.Code(t, ms[n])
		f := p.formValues()
		f.Set("code", code)
		if p = b.post(e.issuer+"/account/phone/verify", f); !strings.Contains(p.body, "verified-number") {
			t.Fatalf("confirming: %d %q", p.status, fieldError(p))
		}
	}
	do := func(path string, form url.Values) func() answer {
		return func() answer {
			var p *page
			if form == nil {
				p = b.get(e.issuer + path)
			} else {
				p = b.post(e.issuer+path, form)
			}
			return answer{p.status, p.header, p.body}
		}
	}
	scenarios := []struct {
		name string
		prep func() func() answer
	}{
		{"phone page", func() func() answer { signIn(); return do("/account/phone", nil) }},
		{"send a code", func() func() answer {
			e.clock.Advance(11 * time.Minute) // the last code expired: a fresh start
			signIn()
			f := b.get(e.issuer + "/account/phone").formValues()
			f.Set("country", "DE")
			f.Set("number", "030 123456")
			return do("/account/phone", f)
		}},
		{"confirm a code", func() func() answer {
			e.clock.Advance(11 * time.Minute)
			signIn()
			p := e.sendPhoneCode(b, "DE", "030 123456")
			f := p.formValues()
			f.Set("code", "000000")
			return do("/account/phone/verify", f)
		}},
		{"remove", func() func() answer {
			signIn()
			return do("/account/phone/remove", b.get(e.issuer+"/account/phone").formValues())
		}},
		{"a wrong sign-in code by SMS", func() func() answer {
			e.clock.Advance(11 * time.Minute)
			confirm()
			sb := e.browser()
			p := sb.submitLogin(sb.get(e.issuer+"/login"), "ada@example.com", testPassword)
			if p.url.Path != "/mfa" {
				t.Fatalf("sign-in by SMS: at %s", p.url)
			}
			f := p.formValues()
			f.Set("method", "sms_code")
			f.Set("code", "000000")
			return func() answer { p := sb.post(e.issuer+"/mfa", f); return answer{p.status, p.header, p.body} }
		}},
		{"an SMS reset code", func() func() answer {
			e.clock.Advance(11 * time.Minute)
			confirm()
			rb := e.browser()
			f := rb.get(e.issuer + "/forgot/sms").formValues()
			f.Set("country", "DE")
			f.Set("number", "030 123456")
			return func() answer { p := rb.post(e.issuer+"/forgot/sms", f); return answer{p.status, p.header, p.body} }
		}},
	}
	// bestEffort are calls whose failure may leave the normal answer: the activity log and
	// the notice mail.
	bestEffort := map[string]bool{"AddAuditEvent": true, "EnqueueOutbox": true}
	for _, sc := range scenarios {
		req := sc.prep()
		fs.ResetCalls()
		normal := req()
		methods := fs.Calls()
		if normal.status >= 500 || len(methods) == 0 {
			t.Fatalf("%s without failures: %d (%d store calls) %.300s", sc.name, normal.status, len(methods), normal.body)
		}
		for _, m := range methods {
			req := sc.prep()
			fs.Add(faultstore.Rule{Method: m, Err: faultstore.ErrInjected})
			got := req()
			fs.Clear()
			if got.status < 500 && !bestEffort[m] && (normal.status >= 400 || strings.Contains(normal.body, "not correct")) {
				t.Errorf("%s with %s failing: %d %q, want ours (5xx)", sc.name, m, got.status, fieldError(&page{body: got.body}))
			}
			// A random CSRF token may spell "sql" in any case; it is no leak.
			got.body = csrfValueRE.ReplaceAllString(got.body, "")
			checkFailureAnswer(t, fmt.Sprintf("%s with %s failing", sc.name, m), normal, got)
		}
	}
}
