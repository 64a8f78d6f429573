package server_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/requestid"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/wrap"
)

// Whether an address (or a phone number) has an account must not show in anything an
// attacker sees: the page (status, text, cookies, where it ends), the limits it meets, or the
// work the request does. The work is compared as the store calls made in the request itself
// (the outbox worker's, which the request only queued, are not the requester's wait) and the
// password hashes counted by the metrics listener, not by the clock.

// requestCalls records the store calls made on behalf of an HTTP request (those whose context
// carries a request id), with repeats, while on.
type requestCalls struct {
	mu    sync.Mutex
	on    bool
	calls []string
}

func (l *requestCalls) wrap(s storage.Store) storage.Store {
	return wrap.New(s, func(ctx context.Context, method string, next func(context.Context) error) error {
		if requestid.From(ctx) != "" {
			l.mu.Lock()
			if l.on {
				l.calls = append(l.calls, method)
			}
			l.mu.Unlock()
		}
		return next(ctx)
	})
}

// enumEnv is a server whose request store calls and password hashes can be observed.
type enumEnv struct {
	*testEnv
	calls   *requestCalls
	metrics string
}

func newEnumEnv(t *testing.T, o envOptions) *enumEnv {
	t.Helper()
	calls := &requestCalls{}
	next := o.configure
	o.configure = func(c *config.Config) {
		c.Metrics.Listen = "127.0.0.1:0"
		if next != nil {
			next(c)
		}
	}
	o.wrapStore = calls.wrap
	e := newEnvWith(t, o)
	addr, stop, err := e.srv.StartMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return &enumEnv{testEnv: e, calls: calls, metrics: addr}
}

// newEnumPhoneEnv is newEnumEnv with SMS to a fake gateway and the SMS reset on.
func newEnumPhoneEnv(t *testing.T) (*enumEnv, *smstest.Gateway) {
	t.Helper()
	calls := &requestCalls{}
	e, g := phoneEnv(t, false, nil, envOptions{wrapStore: calls.wrap, configure: func(c *config.Config) {
		c.Metrics.Listen = "127.0.0.1:0"
		c.Accounts.ResetBySMS = true
		c.SMS.Limits = config.SMSLimits{PerNumber: 1000, PerAccount: 1000, PerIP: 1000, PerCountry: 1000, HourlyBudget: 1000}
	}})
	addr, stop, err := e.srv.StartMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return &enumEnv{testEnv: e, calls: calls, metrics: addr}, g
}

// seen is what one request showed and cost.
type seen struct {
	status  int
	path    string // where the browser ended (redirects followed)
	page    string // the body, the subject (address or number) and per-request values removed
	cookies string // the names of the cookies the browser holds afterwards
	calls   string // the store calls of the request, in order
	hashes  float64
}

var (
	nonceRE   = regexp.MustCompile(`nonce="[^"]*"`)
	captchaRE = regexp.MustCompile(`data:(image|audio)/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+`)
)

// observe runs do in b and returns what it showed and cost; subjects are replaced by
// SUBJECT in the page.
func (e *enumEnv) observe(b *browser, do func() *page, subjects ...string) seen {
	e.t.Helper()
	before := value(scrape(e.t.(*testing.T), e.metrics), "myaccount_password_hashes_total", nil)
	e.calls.mu.Lock()
	e.calls.on, e.calls.calls = true, nil
	e.calls.mu.Unlock()
	p := do()
	e.calls.mu.Lock()
	e.calls.on = false
	calls := strings.Join(e.calls.calls, " ")
	e.calls.mu.Unlock()
	after := value(scrape(e.t.(*testing.T), e.metrics), "myaccount_password_hashes_total", nil)
	body := p.body
	for _, s := range subjects {
		body = strings.ReplaceAll(body, s, "SUBJECT")
		body = strings.ReplaceAll(body, url.QueryEscape(s), "SUBJECT")
		body = strings.ReplaceAll(body, strings.ReplaceAll(s, "+", "&#43;"), "SUBJECT")
	}
	body = hiddenRE.ReplaceAllString(body, "")
	body = csrfValueRE.ReplaceAllString(body, "")
	body = nonceRE.ReplaceAllString(body, "")
	body = captchaRE.ReplaceAllString(body, "")
	u, _ := url.Parse(e.issuer)
	var names []string
	for _, c := range b.c.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return seen{status: p.status, path: p.url.Path, page: body, cookies: strings.Join(names, ","), calls: calls, hashes: after - before}
}

// same reports every way got differs from want.
func same(t *testing.T, what string, want, got seen) {
	t.Helper()
	if want.status != got.status || want.path != got.path {
		t.Errorf("%s: answered %d at %s, an unknown one %d at %s", what, got.status, got.path, want.status, want.path)
	}
	if want.page != got.page {
		t.Errorf("%s: the page differs from an unknown one's:\n%s\n--- unknown:\n%s", what, diffLines(got.page, want.page), diffLines(want.page, got.page))
	}
	if want.cookies != got.cookies {
		t.Errorf("%s: cookies %q, an unknown one's %q", what, got.cookies, want.cookies)
	}
	if want.calls != got.calls {
		t.Errorf("%s: store calls\n  %s\nan unknown one's\n  %s", what, got.calls, want.calls)
	}
	if want.hashes != got.hashes {
		t.Errorf("%s: %v password hashes, an unknown one's %v", what, got.hashes, want.hashes)
	}
}

// diffLines is the lines of a missing from b.
func diffLines(a, b string) string {
	bl := strings.Split(b, "\n")
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !slices.Contains(bl, l) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}

// enumAccounts creates an account in every state an address can be in, besides none:
// active, not yet activated, locked and disabled by an admin, and deleted.
func enumAccounts(t *testing.T, e *testEnv) map[string]string {
	t.Helper()
	ctx := context.Background()
	e.addUser("active@example.com")
	svc := e.accounts()
	for _, st := range []string{storage.UserPending, storage.UserLocked, storage.UserDisabled} {
		if _, err := svc.Create(ctx, st+"@example.com", testPassword, st); err != nil {
			t.Fatal(err)
		}
	}
	gone := e.addUser("deleted@example.com")
	if err := e.store.DeleteUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"active": "active@example.com", "pending": "pending@example.com",
		"locked": "locked@example.com", "disabled": "disabled@example.com", "deleted": "deleted@example.com"}
}

var enumKinds = []string{"active", "pending", "locked", "disabled", "deleted"}

// TestEnumerationSignIn: a wrong password for an address with an account, in any state, is
// answered and costs exactly as for an address without one: with no device cookie, with the
// device cookie of another account (the attacker's own), and up to and past the lockout.
func TestEnumerationSignIn(t *testing.T) {
	t.Parallel()
	e := newEnumEnv(t, envOptions{})
	addrs := enumAccounts(t, e.testEnv)
	e.addUser("eve@example.com")
	try := func(b *browser, email string) seen {
		form := b.get(e.issuer + "/login")
		return e.observe(b, func() *page { return b.submitLogin(form, email, "wrong password here") }, email)
	}
	// A first attempt warms what the server caches.
	try(e.browser(), "warm@example.com")
	for _, device := range []bool{false, true} {
		fresh := func() *browser {
			if !device {
				return e.browser()
			}
			b := e.signedInBrowser("eve@example.com")
			e.signOut(b)
			return b
		}
		name := map[bool]string{false: "no device cookie", true: "another account's device cookie"}[device]
		t.Run(name, func(t *testing.T) {
			for i, kind := range enumKinds {
				unknown := try(fresh(), "nobody"+string(rune('a'+i))+map[bool]string{true: "d"}[device]+"@example.com")
				same(t, kind, unknown, try(fresh(), addrs[kind]))
			}
		})
	}
	t.Run("lockout", func(t *testing.T) {
		// Accounts no attempt was made on yet.
		ctx := context.Background()
		svc := e.accounts()
		for _, kind := range []string{storage.UserActive, storage.UserPending} {
			if _, err := svc.Create(ctx, "lock-"+kind+"@example.com", testPassword, kind); err != nil {
				t.Fatal(err)
			}
			bu, bk := e.browser(), e.browser()
			for i := range 7 {
				unknown := try(bu, "lockme-"+kind+"@example.com")
				got := try(bk, "lock-"+kind+"@example.com")
				unknown.page = strings.ReplaceAll(unknown.page, "lockme-"+kind+"@example.com", "SUBJECT")
				same(t, kind+" attempt "+string(rune('1'+i)), unknown, got)
			}
		}
	})
}

// TestEnumerationForgotPassword: the reset request by email answers and costs the same.
func TestEnumerationForgotPassword(t *testing.T) {
	t.Parallel()
	e := newEnumEnv(t, envOptions{})
	addrs := enumAccounts(t, e.testEnv)
	forgot := func(email string) seen {
		b := e.browser()
		f := b.get(e.issuer + "/forgot").formValues()
		f.Set("email", email)
		return e.observe(b, func() *page { return b.post(e.issuer+"/forgot", f) }, email)
	}
	forgot("warm@example.com")
	for i, kind := range enumKinds {
		e.clock.Advance(time.Hour) // past the limit of mails an hour from one address
		same(t, kind, forgot("new"+string(rune('a'+i))+"@example.com"), forgot(addrs[kind]))
	}
	// The limit (3 an hour an address) is met alike.
	e.clock.Advance(time.Hour)
	for i := range 4 {
		same(t, "repeat "+string(rune('1'+i)), forgot("again@example.com"), forgot(addrs["active"]))
	}
}

// TestEnumerationPhoneAdd: adding a number another account has confirmed sends the code
// and answers a wrong code as for any number; only the right code (the number's owner, by
// SMS) learns that it is taken.
func TestEnumerationPhoneAdd(t *testing.T) {
	t.Parallel()
	e, g := newEnumPhoneEnv(t)
	e.germanUser("ada@example.com")
	e.confirmPhone(e.signedInBrowser("ada@example.com"), g, "DE", "030 123456")
	e.germanUser("eve@example.com")
	e.germanUser("mallory@example.com")
	subjects := func(number string) []string {
		return []string{"+49 30 " + number[4:], "+4930" + strings.ReplaceAll(number[4:], " ", ""), number}
	}
	start := func(b *browser, number string) seen {
		f := b.get(e.issuer + "/account/phone").formValues()
		f.Set("country", "DE")
		f.Set("number", number)
		s := e.observe(b, func() *page { return b.post(e.issuer+"/account/phone", f) }, subjects(number)...)
		g.Wait(t)
		return s
	}
	wrong := func(b *browser, number string) seen {
		f := b.get(e.issuer + "/account/phone").formValues()
		f.Set("code", "000000")
		return e.observe(b, func() *page { return b.post(e.issuer+"/account/phone/verify", f) }, subjects(number)...)
	}
	be, bm := e.signedInBrowser("eve@example.com"), e.signedInBrowser("mallory@example.com")
	start(e.signedInBrowser("ada@example.com"), "030 999999") // warm
	same(t, "start", start(bm, "030 654321"), start(be, "030 123456"))
	same(t, "wrong code", wrong(bm, "030 654321"), wrong(be, "030 123456"))
}

// TestEnumerationSMSResetCode: a wrong reset code typed for a number confirmed on an
// account is answered as for any other number, in the page, the work and the limit: the
// account's answers turned to "Too many wrong codes" (429) after five, an unknown number's
// never did.
func TestEnumerationSMSResetCode(t *testing.T) {
	t.Parallel()
	e, g := newEnumPhoneEnv(t)
	e.germanUser("ada@example.com")
	e.confirmPhone(e.signedInBrowser("ada@example.com"), g, "DE", "030 123456")
	bu, bk := e.browser(), e.browser()
	for _, b := range []*browser{bu, bk} {
		f := b.get(e.issuer + "/forgot/sms").formValues()
		f.Set("country", "DE")
		f.Set("number", map[*browser]string{bu: "030 654321", bk: "030 123456"}[b])
		if p := b.post(e.issuer+"/forgot/sms", f); p.status != http.StatusOK {
			t.Fatalf("send: %d", p.status)
		}
	}
	code := func(b *browser, number string) seen {
		f := b.get(e.issuer + "/forgot/sms").formValues()
		f.Set("code", "000000")
		return e.observe(b, func() *page { return b.post(e.issuer+"/forgot/sms/code", f) }, "+49 30 "+number[4:])
	}
	for i := range 7 {
		same(t, "wrong code "+string(rune('1'+i)), code(bu, "030 654321"), code(bk, "030 123456"))
	}
}

// TestEnumerationResendActivation: asking for a new activation link answers and costs the
// same for an address without an account, a pending one and an active one.
func TestEnumerationResendActivation(t *testing.T) {
	t.Parallel()
	e := newEnumEnv(t, envOptions{})
	addrs := enumAccounts(t, e.testEnv)
	resend := func(email string) seen {
		b := e.browser()
		f := b.get(e.issuer + "/forgot").formValues()
		f.Set("email", email)
		return e.observe(b, func() *page { return b.post(e.issuer+"/activate/resend", f) }, email)
	}
	resend("warm@example.com")
	for i, kind := range enumKinds {
		e.clock.Advance(time.Hour) // past the limit of mails an hour from one address
		same(t, kind, resend("new"+string(rune('a'+i))+"@example.com"), resend(addrs[kind]))
	}
}

// TestEnumerationRegister: registering an address that has an account (in any state) shows
// the page and costs the work of registering a new one; the owner is told by mail.
func TestEnumerationRegister(t *testing.T) {
	t.Parallel()
	e := newEnumEnv(t, envOptions{})
	addrs := enumAccounts(t, e.testEnv)
	const pw = "a fine long passphrase"
	reg := func(email string) seen {
		b := e.browser()
		form := b.get(e.issuer + "/register")
		return e.observe(b, func() *page { return e.register(b, form, email, pw, pw) }, email)
	}
	reg("warm@example.com")
	for i, kind := range enumKinds {
		same(t, kind, reg("new"+string(rune('a'+i))+"@example.com"), reg(addrs[kind]))
	}
}

// TestEnumerationEmailChange: a signed-in person changing their address to one another
// account has sees and waits for what a free address gives.
func TestEnumerationEmailChange(t *testing.T) {
	t.Parallel()
	e := newEnumEnv(t, envOptions{})
	addrs := enumAccounts(t, e.testEnv)
	change := func(b *browser, email string) seen {
		f := b.get(e.issuer + "/account").formValues()
		f.Set("current", testPassword)
		f.Set("email", email)
		return e.observe(b, func() *page { return b.post(e.issuer+"/account/email", f) }, email)
	}
	change(e.signedInBrowser(e.addUser("warm@example.com").Email), "warm2@example.com")
	for i, kind := range enumKinds {
		// A person may ask three changes an hour, and one client address ten: one person
		// per pair, an hour apart.
		e.clock.Advance(time.Hour)
		b := e.signedInBrowser(e.addUser("eve" + string(rune('a'+i)) + "@example.com").Email)
		same(t, kind, change(b, "free"+string(rune('a'+i))+"@example.com"), change(b, addrs[kind]))
	}
}

// TestEnumerationSMSResetSend: asking for a reset code for a number confirmed on an account
// answers and costs what it does for a number without one; only the owner's phone receives
// a code.
func TestEnumerationSMSResetSend(t *testing.T) {
	t.Parallel()
	e, g := newEnumPhoneEnv(t)
	e.germanUser("ada@example.com")
	e.confirmPhone(e.signedInBrowser("ada@example.com"), g, "DE", "030 123456")
	send := func(number string) seen {
		b := e.browser()
		f := b.get(e.issuer + "/forgot/sms").formValues()
		f.Set("country", "DE")
		f.Set("number", number)
		return e.observe(b, func() *page { return b.post(e.issuer+"/forgot/sms", f) }, "+49 30 "+number[4:])
	}
	send("030 999999")
	same(t, "confirmed number", send("030 654321"), send("030 123456"))
	if m := g.Wait(t); m.To != "+4930123456" {
		t.Errorf("a reset code went to %s", m.To)
	}
}

// TestSMSResetCodesLeaveTheSecondStepOpen: wrong reset codes typed for someone's number,
// which anyone may type, are limited for the number, not counted against the owner's second
// step: before, six of them closed the owner's authenticator app step for 15 minutes (and
// twenty for the day), even for the right code.
func TestSMSResetCodesLeaveTheSecondStepOpen(t *testing.T) {
	t.Parallel()
	e, g := newEnumPhoneEnv(t)
	e.germanUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	e.confirmPhone(b, g, "DE", "030 123456")
	key, _ := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")

	x := e.browser()
	f := x.get(e.issuer + "/forgot/sms").formValues()
	f.Set("country", "DE")
	f.Set("number", "030 123456")
	p := x.post(e.issuer+"/forgot/sms", f)
	for range 6 {
		f = p.formValues()
		f.Set("code", "000000")
		p = x.post(e.issuer+"/forgot/sms/code", f)
	}
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("the sixth wrong reset code: %d, want 429", p.status)
	}

	e.nextTOTPStep()
	b2 := e.browser()
	p = e.passwordSignIn(b2, "ada@example.com")
	if p = b2.mfaPost(p, "totp", e.totpNow(key), false); !signedInPage(p) {
		t.Fatalf("the owner's right app code after wrong reset codes for the number: %d at %s", p.status, p.url)
	}
}
