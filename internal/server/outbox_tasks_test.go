package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/internal/sms"
	"github.com/myaccount/myaccount/internal/sms/smstest"
	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// The tests of this file drive the outbox worker's tasks (internal/mail/outbox.go, the
// handlers the server registers) through what they meet in production: payloads they cannot
// read, failures of chosen store calls inside the worker and the retries after them.

// retryNow makes the items of kind that wait for a retry due now, as if their backoff had
// passed, and returns them (as claimed). The server's outbox waits 5-10 s before a first
// retry, on the wall clock, which the tests' clock does not move; so the test claims the
// items itself, as of retryAhead from now, and releases them untried, which gives back the
// attempt its claim counted: the worker's next poll (1 s) runs them. Items not attempted yet
// are released as they were and waited past; it returns nil when no item of kind failed an
// attempt within 5 s.
func (e *testEnv) retryNow(t *testing.T, kind string) []*storage.OutboxItem {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		items, err := e.store.ClaimOutbox(ctx, "test-retry", []string{kind}, 10, time.Minute, time.Now().Add(retryAhead))
		if err != nil {
			t.Fatal(err)
		}
		var failed []*storage.OutboxItem
		outcomes := make([]storage.OutboxOutcome, 0, len(items))
		for _, it := range items {
			outcomes = append(outcomes, storage.OutboxOutcome{ID: it.ID, Status: storage.OutboxPending,
				LastError: it.LastError, At: time.Now().UTC(), Untried: true})
			if it.LastError != "" {
				failed = append(failed, it)
			}
		}
		if len(outcomes) > 0 {
			if _, err := e.store.RecordOutbox(ctx, "test-retry", outcomes); err != nil {
				t.Fatal(err)
			}
		}
		if len(failed) > 0 {
			return failed
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retryAhead is how far ahead the tests' own claims look: past a first or second retry's
// backoff (5-20 s), and short of what is left of the worker's live claims, which are renewed
// to a lease (mail.claim_lease, 45 s) every third of it, so never end sooner than 30 s
// ahead: a claim of the worker's is never taken from it.
const retryAhead = 25 * time.Second

// waitDone waits until the worker recorded the outbox item id as status (sent or failed)
// and returns it.
func (e *testEnv) waitDone(t *testing.T, id, status string) *storage.OutboxItem {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		it, err := e.store.GetOutbox(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if it.Status == status {
			return it
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox item %s (%s) is %s after %d attempts (%q), want %s", id, it.Kind, it.Status, it.Attempts, it.LastError, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitApplied waits until the worker met the rule's failure.
func waitApplied(t *testing.T, fs *faultstore.Store, r *faultstore.Rule) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fs.Applied(r) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the %s failure was never applied: the test tests nothing", r.Method)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle gives a mail the worker queued a moment to arrive (it lingers 100 ms after a nudge).
func settle() { time.Sleep(600 * time.Millisecond) }

// counterValue sums the counters of the server's registry that carry the given labels
// (whatever their others; 0 when none).
func counterValue(t *testing.T, e *testEnv, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := e.srv.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestUndecodableTaskGivenUpAtOnce: a queued task whose payload opens but no longer decodes
// (cut short, or written by a version whose payload this one cannot read) is given up at its
// first attempt, for every kind of task: no retry can decode it, and ten of them only put
// off the alarm by hours. Giving up is what an operator sees: logged at ERROR with the kind,
// and counted in myaccount_mail_failures_total{outcome="given_up"}; neither the log nor the
// row's last error carries what the payload held. A payload that cannot be opened at all is
// given up at once likewise.
func TestUndecodableTaskGivenUpAtOnce(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	e, _ := phoneEnv(t, false, nil, envOptions{logTo: &logs, configure: func(c *config.Config) { c.Accounts.ResetBySMS = true }})
	ctx := context.Background()
	mk, _, err := server.MasterKey(ctx, e.cfg, e.store)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	// Cut short in the middle of what it carries: an address, a password's hash, a code.
	const cut = `{"Email":"ada.secret@example.com","E164":"+4915112345678","Hash":"$argon2id$v=19$SECRETHASH`
	kinds := []string{account.RegisterTask, account.ActivationRequestTask, account.ResetRequestTask,
		account.EmailChangeTask, account.FailureTask, phone.ResetRequestTask, sms.TaskKind, backchannel.TaskKind}
	// queue queues payload as a task of kind, sealed as the server seals (nil: a payload
	// sealed under another item's id, which cannot be opened).
	queue := func(kind string, payload []byte) string {
		id := secret.NewID()
		aad := "outbox:" + id
		if payload == nil {
			payload, aad = []byte(cut), "outbox:"+secret.NewID()
		}
		sealed, err := sealer.Seal(aad, payload)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if err := e.store.EnqueueOutbox(ctx, &storage.OutboxItem{ID: id, Kind: kind, Payload: sealed, CreatedAt: now, NextAttemptAt: now}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	ids := map[string]string{}
	for _, kind := range kinds {
		ids[queue(kind, []byte(cut))] = kind
	}
	ids[queue(account.ResetRequestTask, nil)] = account.ResetRequestTask + " (unopenable)"
	for id, kind := range ids {
		it := e.waitDone(t, id, storage.OutboxFailed)
		if it.Attempts != 1 {
			t.Errorf("%s: given up after %d attempts, want 1", kind, it.Attempts)
		}
		if strings.Contains(it.LastError, "secret") || strings.Contains(it.LastError, "SECRET") || strings.Contains(it.LastError, "4915112345678") {
			t.Errorf("%s: the row's last error carries the payload: %q", kind, it.LastError)
		}
	}
	if got := counterValue(t, e, "myaccount_mail_failures_total", map[string]string{"outcome": "given_up"}); got != float64(len(ids)) {
		t.Errorf("myaccount_mail_failures_total{outcome=given_up} = %v, want %d", got, len(ids))
	}
	if got := counterValue(t, e, "myaccount_mail_failures_total", map[string]string{"outcome": "retry"}); got != 0 {
		t.Errorf("myaccount_mail_failures_total{outcome=retry} = %v, want 0: an undecodable task was retried", got)
	}
	out := logs.String()
	for _, kind := range kinds {
		if !strings.Contains(out, `level=ERROR msg="mail outbox: giving up"`) || !strings.Contains(out, "kind="+kind) {
			t.Errorf("giving up a %s task was not logged at ERROR with its kind", kind)
		}
	}
	for _, leak := range []string{"secret", "SECRET", "4915112345678"} {
		if strings.Contains(out, leak) {
			t.Errorf("the log carries %q of a payload", leak)
		}
	}
}

// TestRegisterNoticeRetriedAndCountedOnce: a registration for a taken address mails its
// owner a notice, at most 3 an hour. When queueing the notice fails in the worker, the
// registration task is retried and the owner gets the notice once, counted once against the
// limit.
func TestRegisterNoticeRetriedAndCountedOnce(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	// The request queues the task (the first EnqueueOutbox); the worker queues the notice.
	r := fs.Add(faultstore.Rule{Method: "EnqueueOutbox", Skip: 1, Times: 1, Err: faultstore.ErrInjected})
	b := e.browser()
	if p := e.register(b, b.get(e.issuer+"/register"), "ada@example.com", "a fine long passphrase", "a fine long passphrase"); p.status != http.StatusOK {
		t.Fatalf("registration: %d", p.status)
	}
	waitApplied(t, fs, r)
	items := e.retryNow(t, account.RegisterTask)
	if len(items) != 1 {
		t.Fatalf("%d registration tasks wait for a retry after the notice could not be queued, want 1: the notice is lost", len(items))
	}
	e.waitDone(t, items[0].ID, storage.OutboxSent)
	m := e.smtp.WaitFor(t, "ada@example.com", mailWait)
	if !strings.Contains(m.Text, e.issuer+"/forgot") {
		t.Errorf("the mail is not the already-registered notice: %q\n%s", m.Subject, m.Text)
	}
	settle()
	if n := mailsTo(e, "ada@example.com"); n != 1 {
		t.Errorf("%d notices, want 1", n)
	}
	if n, _, err := e.store.GetCounter(ctx, "mail:already_registered:ada@example.com"); err != nil || n != 1 {
		t.Errorf("the notice limit counted %d (%v), want 1: a notice never sent was counted", n, err)
	}
	if n := e.events(t, "ada@example.com", "registration_attempt"); n != 1 {
		t.Errorf("%d registration_attempt events, want 1", n)
	}
}

// linkRetryCases are the failures inside a task that issues an emailed link, each failing
// the task's first attempt: the link's write, the mail's queueing, the mail queued but its
// answer lost, and the commit's answer lost (the transaction committed, the worker was told
// it failed, as when the connection drops after COMMIT; a retry after a success whose record
// was lost meets the same). The request queued the task (the first EnqueueOutbox).
var linkRetryCases = []struct {
	name string
	rule faultstore.Rule
}{
	{"link write fails", faultstore.Rule{Method: "CreateOneTimeToken", Times: 1, Err: faultstore.ErrInjected}},
	{"mail queueing fails", faultstore.Rule{Method: "EnqueueOutbox", Skip: 1, Times: 1, Err: faultstore.ErrInjected}},
	{"mail queued answer lost", faultstore.Rule{Method: "EnqueueOutbox", Skip: 1, Times: 1, Err: faultstore.ErrInjected, AfterCall: true}},
	{"commit answer lost", faultstore.Rule{Method: "InTx", Times: 1, Err: faultstore.ErrInjected, AfterCall: true}},
}

// TestRegisterRetryMailsOneWorkingLink: when the registration task fails after it created the
// account (the activation link's write, its mail's queueing, or the commit's answer), or
// the answer to the account's creation is lost, its retry creates no second account, the
// activity log holds one "registered" event, and the person gets one activation mail whose
// link activates the account.
func TestRegisterRetryMailsOneWorkingLink(t *testing.T) {
	t.Parallel()
	registerRetryCases(t, nil)
}

// TestRegisterRetryMailsOneWorkingLinkPostgres is TestRegisterRetryMailsOneWorkingLink on
// PostgreSQL, where the statement that finds the mail queued already aborts its transaction.
func TestRegisterRetryMailsOneWorkingLinkPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	registerRetryCases(t, func(t *testing.T) map[string]string {
		return postgresVars(t)
	})
}

// registerRetryCases runs the cases of TestRegisterRetryMailsOneWorkingLink, each on a server
// of its own started with env(t) (nil: SQLite).
func registerRetryCases(t *testing.T, env func(t *testing.T) map[string]string) {
	cases := append(slices.Clone(linkRetryCases), linkRetryCases[0])
	cases[len(cases)-1].name = "account created, answer lost"
	cases[len(cases)-1].rule = faultstore.Rule{Method: "CreateUser", Times: 1, Err: faultstore.ErrInjected, AfterCall: true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := envOptions{smtp: mailtest.NewServer(t)}
			if env != nil {
				o.env = env(t)
			}
			var fs *faultstore.Store
			o.wrapStore = func(s storage.Store) storage.Store {
				fs = faultstore.New(s)
				return fs
			}
			e := newEnvWith(t, o)
			const email = "new@example.com"
			r := fs.Add(tc.rule)
			b := e.browser()
			e.register(b, b.get(e.issuer+"/register"), email, "a fine long passphrase", "a fine long passphrase")
			waitApplied(t, fs, r)
			items := e.retryNow(t, account.RegisterTask)
			if len(items) != 1 {
				t.Fatalf("%d registration tasks wait for a retry, want 1", len(items))
			}
			e.waitDone(t, items[0].ID, storage.OutboxSent)
			link := e.waitLink(email, "/activate?token=")
			settle()
			if n := mailsTo(e, email); n != 1 {
				t.Errorf("%d activation mails, want 1", n)
			}
			if registered := e.events(t, email, "registered"); registered != 1 {
				t.Errorf("%d registered events, want 1", registered)
			}
			if p := b.confirmLink(link); p.url.Path != "/login" || !strings.Contains(p.body, "Your email address is confirmed") {
				t.Fatalf("the mailed link: %d %s, want the account activated:\n%.300s", p.status, p.url, p.body)
			}
		})
	}
}

// TestRegisterRetryKeepsDeletedAccountDeleted: an operator who deletes a pending account
// between a registration task's attempts (its first committed, the answer lost) has it
// deleted: the retry does not create it again, and mails nothing more.
func TestRegisterRetryKeepsDeletedAccountDeleted(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	const email = "new@example.com"
	r := fs.Add(faultstore.Rule{Method: "InTx", Times: 1, Err: faultstore.ErrInjected, AfterCall: true})
	b := e.browser()
	e.register(b, b.get(e.issuer+"/register"), email, "a fine long passphrase", "a fine long passphrase")
	waitApplied(t, fs, r)
	e.waitLink(email, "/activate?token=") // the first attempt's mail went
	u, err := e.store.GetUserByEmail(ctx, email)
	if err != nil {
		t.Fatalf("the first attempt created no account: %v", err)
	}
	if err := e.store.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	items := e.retryNow(t, account.RegisterTask)
	if len(items) != 1 {
		t.Fatalf("%d registration tasks wait for a retry, want 1", len(items))
	}
	e.waitDone(t, items[0].ID, storage.OutboxSent)
	settle()
	if u, err := e.store.GetUserByEmail(ctx, email); err == nil {
		t.Errorf("the retry created the deleted account again (%s, %s)", u.ID, u.Status)
	} else if !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	if n := mailsTo(e, email); n != 1 {
		t.Errorf("%d activation mails, want 1 (the first attempt's)", n)
	}
}

// TestResetRequestRetryMailsOneWorkingLink: when the reset-request task fails in the link's
// transaction (its write, its mail's queueing, the commit's answer), its retry mails one
// reset link, and that link works.
func TestResetRequestRetryMailsOneWorkingLink(t *testing.T) {
	t.Parallel()
	for _, tc := range linkRetryCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, fs := faultMailEnv(t)
			const email = "ada@example.com"
			e.addUser(email)
			b := e.browser()
			f := b.get(e.issuer + "/forgot").formValues()
			f.Set("email", email)
			r := fs.Add(tc.rule)
			if p := b.post(e.issuer+"/forgot", f); p.status != http.StatusOK {
				t.Fatalf("forgot: %d", p.status)
			}
			waitApplied(t, fs, r)
			items := e.retryNow(t, account.ResetRequestTask)
			if len(items) != 1 {
				t.Fatalf("%d reset requests wait for a retry, want 1", len(items))
			}
			e.waitDone(t, items[0].ID, storage.OutboxSent)
			link := e.waitLink(email, "/reset?token=")
			settle()
			if n := mailsTo(e, email); n != 1 {
				t.Errorf("%d reset mails, want 1", n)
			}
			p := b.get(link)
			if !strings.Contains(p.body, `name="password"`) {
				t.Fatalf("the mailed link is dead: %d\n%.300s", p.status, p.body)
			}
			form := p.formValues()
			const pw = "a brand new passphrase"
			form.Set("password", pw)
			form.Set("confirm", pw)
			if p := b.post(e.issuer+"/reset", form); p.status != http.StatusOK || !strings.Contains(p.body, "sign in with the new one") {
				t.Fatalf("the mailed link: %d, want the reset done:\n%.300s", p.status, p.body)
			}
			// The request is in the activity log once: written in the link's transaction,
			// not after it (a lost commit answer lost it).
			if n := e.events(t, email, "reset_requested"); n != 1 {
				t.Errorf("%d reset_requested events, want 1", n)
			}
		})
	}
}

// events counts the activity events of type typ on the account of email.
func (e *testEnv) events(t *testing.T, email, typ string) int {
	t.Helper()
	u, err := e.store.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := e.store.QueryAuditEvents(context.Background(), storage.AuditQuery{UserID: u.ID, Type: typ, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestActivationRequestRetryMailsOneWorkingLink: when the task of a request for a new
// activation link fails in the link's transaction, its retry mails one new link, and that
// link works.
func TestActivationRequestRetryMailsOneWorkingLink(t *testing.T) {
	t.Parallel()
	for _, tc := range linkRetryCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, fs := faultMailEnv(t)
			const email = "slow@example.com"
			b := e.browser()
			e.register(b, b.get(e.issuer+"/register"), email, "a fine long passphrase", "a fine long passphrase")
			e.waitLink(email, "/activate?token=")
			csrf := b.get(e.issuer + "/login").formValues().Get("csrf_token")
			r := fs.Add(tc.rule)
			if p := b.post(e.issuer+"/activate/resend", url.Values{"csrf_token": {csrf}, "email": {email}}); p.status != http.StatusOK {
				t.Fatalf("resend: %d", p.status)
			}
			waitApplied(t, fs, r)
			items := e.retryNow(t, account.ActivationRequestTask)
			if len(items) != 1 {
				t.Fatalf("%d activation requests wait for a retry, want 1", len(items))
			}
			e.waitDone(t, items[0].ID, storage.OutboxSent)
			link := e.waitLink(email, "/activate?token=")
			settle()
			if n := mailsTo(e, email); n != 2 {
				t.Errorf("%d activation mails after one resend, want 2", n)
			}
			if p := b.confirmLink(link); p.url.Path != "/login" || !strings.Contains(p.body, "Your email address is confirmed") {
				t.Fatalf("the new link: %d %s, want the account activated", p.status, p.url)
			}
		})
	}
}

// TestEmailChangeRetryMailsOneWorkingLink: when the email-change task fails after its link
// was written (its mail's queueing, its answer, the commit's answer), its retry mails one
// confirmation link to the new address, and that link changes the address. Before, the link
// and its mail were two writes: a retry after the mail was queued voided the link it carried
// and mailed a second.
func TestEmailChangeRetryMailsOneWorkingLink(t *testing.T) {
	t.Parallel()
	for _, tc := range linkRetryCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, fs := faultMailEnv(t)
			ctx := context.Background()
			e.addUser("ada@example.com")
			b := e.signedInBrowser("ada@example.com")
			csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
			settle() // the sign-in's notice, if any, is queued before the rule
			r := fs.Add(tc.rule)
			// Not following the redirect: the account page's own calls would meet the rule.
			b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			p := b.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "email": {"ada.new@example.com"}})
			b.c.CheckRedirect = nil
			if p.header.Get("Location") != "/account?done=email" {
				t.Fatalf("change email: %d %s", p.status, p.header.Get("Location"))
			}
			if tc.rule.Method == "InTx" {
				// Without a transaction of its own the link and its mail cannot be one.
				deadline := time.Now().Add(3 * time.Second)
				for fs.Applied(r) == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if fs.Applied(r) == 0 {
					t.Fatal("the email change's link and mail are not written in one transaction")
				}
			}
			waitApplied(t, fs, r)
			items := e.retryNow(t, account.EmailChangeTask)
			if len(items) != 1 {
				t.Fatalf("%d email changes wait for a retry, want 1", len(items))
			}
			e.waitDone(t, items[0].ID, storage.OutboxSent)
			link := e.waitLink("ada.new@example.com", "/account/email/confirm?token=")
			settle()
			if n := mailsTo(e, "ada.new@example.com"); n != 1 {
				t.Errorf("%d confirmation mails, want 1", n)
			}
			if p := b.confirmLink(link); p.url.RequestURI() != "/account?done=email-changed" {
				t.Fatalf("the mailed link: %d %s, want the address changed", p.status, p.url)
			}
			if _, err := e.store.GetUserByEmail(ctx, "ada.new@example.com"); err != nil {
				t.Errorf("the address did not change: %v", err)
			}
		})
	}
}

// TestSMSResetRetrySendsOneCode: when the task of an SMS reset request is retried after its
// code, its counts and its SMS committed (the commit's answer lost, or the worker's record of
// its success), the retry sends no second SMS: the person gets one code, which works, and
// the send is counted once against the number's limit. Before, the retry replaced the code
// (the one sent stopped working), sent a second SMS and counted it again: money, the hourly
// budget and the number's limit spent on a code nobody could use.
func TestSMSResetRetrySendsOneCode(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e, g := phoneEnv(t, false, nil, envOptions{
		configure: func(c *config.Config) {
			c.Accounts.ResetBySMS = true
			c.SMS.Limits = config.SMSLimits{PerNumber: 3, PerAccount: 1000, PerIP: 1000, PerCountry: 1000, HourlyBudget: 1000}
		},
		wrapStore: func(s storage.Store) storage.Store {
			fs = faultstore.New(s)
			return fs
		}})
	e.germanUser("ada@example.com")
	e.confirmPhone(e.signedInBrowser("ada@example.com"), g, "DE", "030 123456") // the number's first SMS
	settle()
	ask := func(b *browser) *page {
		f := b.get(e.issuer + "/forgot/sms").formValues()
		f.Set("country", "DE")
		f.Set("number", "030 123456")
		return b.post(e.issuer+"/forgot/sms", f)
	}
	r := fs.Add(faultstore.Rule{Method: "InTx", Times: 1, Err: faultstore.ErrInjected, AfterCall: true})
	b := e.browser()
	p := ask(b)
	waitApplied(t, fs, r)
	items := e.retryNow(t, phone.ResetRequestTask)
	if len(items) != 1 {
		t.Fatalf("%d SMS reset requests wait for a retry, want 1", len(items))
	}
	e.waitDone(t, items[0].ID, storage.OutboxSent)
	_, code := smstest.Code(t, g.Wait(t))
	settle()
	if n := len(g.Messages()); n != 2 {
		t.Errorf("%d SMS reached the gateway, want 2 (the number's confirmation, one reset code)", n)
	}
	f := p.formValues()
	f.Set("code", code)
	if p := b.post(e.issuer+"/forgot/sms/code", f); p.url.Path != "/reset" {
		t.Fatalf("the code sent: %d at %s, want the reset page", p.status, p.url)
	}
	// Counted once: the number's third SMS this hour is allowed (a fourth would not be).
	ask(e.browser())
	g.Wait(t)
}

// TestLockNoticeRetriedOnce: the wrong password that locks an account is recorded by the
// worker (account.FailureTask): its audit rows, the owner's lock notice and the lock on the
// account. When queueing the notice fails, the task is retried: the owner gets the notice,
// once, and the activity log holds each event once.
func TestLockNoticeRetriedOnce(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	// Each wrong password's request queues its task (five EnqueueOutbox); the fifth locks,
	// and its task queues the notice.
	r := fs.Add(faultstore.Rule{Method: "EnqueueOutbox", Skip: 5, Times: 1, Err: faultstore.ErrInjected})
	b := e.browser()
	for range 5 {
		b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", "a wrong password")
	}
	waitApplied(t, fs, r)
	items := e.retryNow(t, account.FailureTask)
	if len(items) != 1 {
		t.Fatalf("%d wrong-password tasks wait for a retry after the lock notice could not be queued, want 1: the notice is lost", len(items))
	}
	e.waitDone(t, items[0].ID, storage.OutboxSent)
	m := e.smtp.WaitFor(t, "ada@example.com", mailWait)
	if !strings.Contains(m.Text, e.issuer+"/forgot") {
		t.Errorf("the mail is not the lock notice: %q\n%s", m.Subject, m.Text)
	}
	settle()
	if n := mailsTo(e, "ada@example.com"); n != 1 {
		t.Errorf("%d lock notices, want 1", n)
	}
	events, err := e.store.ListAuditEvents(ctx, u.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range events {
		count[ev.Type]++
	}
	if count["login_failed"] != 5 || count["locked_out"] != 1 {
		t.Errorf("activity log: %d login_failed, %d locked_out; want 5 and 1", count["login_failed"], count["locked_out"])
	}
	if got, err := e.store.GetUser(ctx, u.ID); err != nil || got.LockedUntil == nil {
		t.Errorf("the lock is not on the account: %v", err)
	}
}

// TestWrongPasswordRecordedOnce: a wrong password (one that does not lock) leaves one
// login_failed row, written by the worker (account.FailureTask). When that write's answer
// is lost (the row committed, the worker told it failed; a lost record of the task's success
// meets the same), the task runs again, and nothing it queued tells it that the row is
// there: the row's id is the task's own, which the store takes once.
func TestWrongPasswordRecordedOnce(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	e.addUser("ada@example.com")
	r := fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected, AfterCall: true})
	b := e.browser()
	b.submitLogin(b.get(e.issuer+"/login"), "ada@example.com", "a wrong password")
	waitApplied(t, fs, r)
	items := e.retryNow(t, account.FailureTask)
	if len(items) != 1 {
		t.Fatalf("%d wrong-password tasks wait for a retry, want 1", len(items))
	}
	e.waitDone(t, items[0].ID, storage.OutboxSent)
	if failed := e.events(t, "ada@example.com", "login_failed"); failed != 1 {
		t.Errorf("%d login_failed events for one wrong password, want 1", failed)
	}
}

// TestTaskForAGoneAccountSendsNothing: a task whose first attempt failed, and whose account
// was deleted (or whose address changed) before its retry, sends nothing on the retry, to no
// address, and is done: no mail to a stale address, no SMS, no retries until it is given up.
func TestTaskForAGoneAccountSendsNothing(t *testing.T) {
	t.Parallel()
	type world struct {
		e *testEnv
		g *smstest.Gateway
		u *storage.User
	}
	deleteUser := func(t *testing.T, w *world) {
		if err := w.e.store.DeleteUser(context.Background(), w.u.ID); err != nil {
			t.Fatal(err)
		}
	}
	changeAddress := func(t *testing.T, w *world) {
		if _, err := w.e.store.UpdateUser(context.Background(), w.u.ID, func(x *storage.User) error {
			x.Email, x.EmailNormalized = "ada.new@example.com", "ada.new@example.com"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	forgot := func(t *testing.T, w *world) func() {
		return func() {
			b := w.e.browser()
			f := b.get(w.e.issuer + "/forgot").formValues()
			f.Set("email", "ada@example.com")
			b.post(w.e.issuer+"/forgot", f)
		}
	}
	cases := []struct {
		name string
		kind string
		// pending: the account is a registration waiting for activation.
		pending bool
		// fail is the worker's call that fails the first attempt; the request, which
		// prepare returns, makes none.
		fail    string
		prepare func(t *testing.T, w *world) (request func())
		change  func(t *testing.T, w *world)
	}{
		{"reset request, account deleted", account.ResetRequestTask, false, "GetUserByEmail", forgot, deleteUser},
		{"reset request, address changed", account.ResetRequestTask, false, "GetUserByEmail", forgot, changeAddress},
		{"activation request, account deleted", account.ActivationRequestTask, true, "GetUserByEmail", func(t *testing.T, w *world) func() {
			b := w.e.browser()
			csrf := b.get(w.e.issuer + "/login").formValues().Get("csrf_token")
			return func() {
				b.post(w.e.issuer+"/activate/resend", url.Values{"csrf_token": {csrf}, "email": {"ada@example.com"}})
			}
		}, deleteUser},
		{"email change, account deleted", account.EmailChangeTask, false, "GetUserByEmail", func(t *testing.T, w *world) func() {
			b := w.e.signedInBrowser("ada@example.com")
			csrf := b.get(w.e.issuer + "/account").formValues().Get("csrf_token")
			b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			return func() {
				b.post(w.e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "email": {"ada.other@example.com"}})
			}
		}, deleteUser},
		{"lock notice, account deleted", account.FailureTask, false, "InTx", func(t *testing.T, w *world) func() {
			return func() {
				b := w.e.browser()
				for range 5 {
					b.submitLogin(b.get(w.e.issuer+"/login"), "ada@example.com", "a wrong password")
				}
			}
		}, deleteUser},
		{"SMS reset request, account deleted", phone.ResetRequestTask, false, "UserByPhone", func(t *testing.T, w *world) func() {
			w.e.confirmPhone(w.e.signedInBrowser("ada@example.com"), w.g, "DE", "030 123456")
			return func() {
				b := w.e.browser()
				f := b.get(w.e.issuer + "/forgot/sms").formValues()
				f.Set("country", "DE")
				f.Set("number", "030 123456")
				b.post(w.e.issuer+"/forgot/sms", f)
			}
		}, deleteUser},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &world{}
			smtp := mailtest.NewServer(t)
			var fs *faultstore.Store
			w.e, w.g = phoneEnv(t, false, nil, envOptions{smtp: smtp,
				configure: func(c *config.Config) {
					c.Accounts.ResetBySMS = true
					c.SMS.Limits = config.SMSLimits{PerNumber: 1000, PerAccount: 1000, PerIP: 1000, PerCountry: 1000, HourlyBudget: 1000}
				},
				wrapStore: func(s storage.Store) storage.Store {
					fs = faultstore.New(s)
					return fs
				}})
			e := w.e
			w.u = e.germanUser("ada@example.com")
			request := tc.prepare(t, w)
			if tc.pending {
				if _, err := e.store.UpdateUser(context.Background(), w.u.ID, func(x *storage.User) error {
					x.Status, x.EmailVerified, x.ActivatedAt = storage.UserPending, false, nil
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			settle() // what the preparation mailed is out
			mails, texts := len(smtp.Messages()), len(w.g.Messages())
			r := fs.Add(faultstore.Rule{Method: tc.fail, Times: 1, Err: faultstore.ErrInjected})
			request()
			waitApplied(t, fs, r)
			items := e.retryNow(t, tc.kind)
			if len(items) != 1 {
				t.Fatalf("%d %s tasks wait for a retry, want 1", len(items), tc.kind)
			}
			tc.change(t, w)
			if it := e.waitDone(t, items[0].ID, storage.OutboxSent); it.Attempts != 2 {
				t.Errorf("done after %d attempts, want 2", it.Attempts)
			}
			settle()
			if got := smtp.Messages(); len(got) != mails {
				t.Errorf("%d mails after the change, want none: %v %q", len(got)-mails, got[len(got)-1].To, got[len(got)-1].Subject)
			}
			if n := len(w.g.Messages()) - texts; n != 0 {
				t.Errorf("%d SMS after the account was deleted, want none", n)
			}
		})
	}
}

// spendAttempts spends attempts 2 to 9 of the item id of kind, which failed its first and
// waits for its retry, as by workers that failed them (each claim counts one): its tenth,
// due now, is the worker's, and its last.
func (e *testEnv) spendAttempts(t *testing.T, kind, id string) {
	t.Helper()
	ctx := context.Background()
	for range 8 {
		claimed, err := e.store.ClaimOutbox(ctx, "test-spend", []string{kind}, 10, time.Minute, time.Now().Add(retryAhead))
		if err != nil || len(claimed) != 1 || claimed[0].ID != id {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		if _, err := e.store.RecordOutbox(ctx, "test-spend", []storage.OutboxOutcome{{ID: id, Status: storage.OutboxPending,
			LastError: claimed[0].LastError, At: time.Now().UTC()}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGivenUpLinkNamedOnItsAccount: a reset request given up drops its payload, and with it
// whose link was lost. Its account's activity gets a mail_lost event naming the kind of work
// (and no link), so that support can act; for an address without an account nothing is
// written anywhere, as nothing may tell that it has none.
func TestGivenUpLinkNamedOnItsAccount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		registered bool
	}{{"registered address", true}, {"unknown address", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, fs := faultMailEnv(t)
			ctx := context.Background()
			u := e.addUser("ada@example.com")
			email := "nobody@example.com"
			if tc.registered {
				email = u.Email
			}
			// The worker's look-up fails the first attempt and the tenth, the last.
			r := fs.Add(faultstore.Rule{Method: "GetUserByEmail", Times: 2, Err: faultstore.ErrInjected})
			b := e.browser()
			f := b.get(e.issuer + "/forgot").formValues()
			f.Set("email", email)
			if p := b.post(e.issuer+"/forgot", f); p.status != http.StatusOK {
				t.Fatalf("forgot: %d", p.status)
			}
			waitApplied(t, fs, r)
			items := e.retryNow(t, account.ResetRequestTask)
			if len(items) != 1 {
				t.Fatalf("%d reset requests wait for a retry, want 1", len(items))
			}
			e.spendAttempts(t, account.ResetRequestTask, items[0].ID)
			e.waitDone(t, items[0].ID, storage.OutboxFailed)
			lost, err := e.store.QueryAuditEvents(ctx, storage.AuditQuery{Type: account.MailLostEvent, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.registered {
				if len(lost) != 0 {
					t.Errorf("%d %s events for an address without an account, want none: %+v", len(lost), account.MailLostEvent, lost[0])
				}
				return
			}
			if len(lost) != 1 || lost[0].UserID != u.ID || lost[0].Detail != account.ResetRequestTask {
				t.Fatalf("%s events: %+v, want one on %s naming %s", account.MailLostEvent, lost, u.ID, account.ResetRequestTask)
			}
		})
	}
}

// TestGivenUpTaskIsVisible: the page said "we sent you a link"; when the worker gives the
// task up at its tenth failed attempt, an operator can see it: logged at ERROR with the
// task's kind and attempt (and not the address it was for), and counted in
// myaccount_mail_failures_total{outcome="given_up"}.
func TestGivenUpTaskIsVisible(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), logTo: &logs, wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	e.addUser("ada@example.com")
	r := fs.Add(faultstore.Rule{Method: "GetUserByEmail", Err: faultstore.ErrInjected}) // the worker's look-up, always
	b := e.browser()
	f := b.get(e.issuer + "/forgot").formValues()
	f.Set("email", "ada@example.com")
	if p := b.post(e.issuer+"/forgot", f); p.status != http.StatusOK {
		t.Fatalf("forgot: %d", p.status)
	}
	waitApplied(t, fs, r)
	items := e.retryNow(t, account.ResetRequestTask)
	if len(items) != 1 {
		t.Fatalf("%d reset requests wait for a retry, want 1", len(items))
	}
	id := items[0].ID
	e.spendAttempts(t, account.ResetRequestTask, id)
	it := e.waitDone(t, id, storage.OutboxFailed)
	if it.Attempts != 10 {
		t.Errorf("given up after %d attempts, want 10", it.Attempts)
	}
	if got := counterValue(t, e, "myaccount_mail_failures_total", map[string]string{"outcome": "given_up"}); got != 1 {
		t.Errorf("myaccount_mail_failures_total{outcome=given_up} = %v, want 1", got)
	}
	// The counter says which kind of work was lost, as the log does.
	if got := counterValue(t, e, "myaccount_mail_failures_total", map[string]string{"outcome": "given_up", "kind": account.ResetRequestTask}); got != 1 {
		t.Errorf("myaccount_mail_failures_total{outcome=given_up,kind=%s} = %v, want 1", account.ResetRequestTask, got)
	}
	// The first attempt was this worker's (attempts 2 to 9 were spent by hand above).
	if got := counterValue(t, e, "myaccount_mail_failures_total", map[string]string{"outcome": "retry", "kind": account.ResetRequestTask}); got != 1 {
		t.Errorf("myaccount_mail_failures_total{outcome=retry,kind=%s} = %v, want 1", account.ResetRequestTask, got)
	}
	if got := counterValue(t, e, "myaccount_mail_failures_total", map[string]string{"kind": storage.OutboxMessage}); got != 0 {
		t.Errorf("myaccount_mail_failures_total{kind=%s} = %v, want 0: no message failed", storage.OutboxMessage, got)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="mail outbox: giving up"`) {
			line = l
		}
	}
	if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "kind="+account.ResetRequestTask) || !strings.Contains(line, "attempt=10") {
		t.Errorf("giving up is not logged at ERROR with its kind and attempt: %q", line)
	}
	if strings.Contains(line, "ada@") {
		t.Errorf("the log names the address: %q", line)
	}
	if n := mailsTo(e, "ada@example.com"); n != 0 {
		t.Errorf("%d mails, want none", n)
	}
}
