package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/sms"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// The tests of this file give up outbox items whose payload names no account's address (an
// email change's new address, an SMS, a back-channel logout) and check whose activity, if
// anyone's, tells of it.

// lostEvents returns every event of type typ.
func (e *testEnv) lostEvents(t *testing.T, typ string) []*storage.AuditEvent {
	t.Helper()
	evs, err := e.store.QueryAuditEvents(context.Background(), storage.AuditQuery{Type: typ, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// giveUp runs the item of kind that failed its first attempt to its tenth and last, which
// fails as the first did, and returns it.
func (e *testEnv) giveUp(t *testing.T, kind string) *storage.OutboxItem {
	t.Helper()
	items := e.retryNow(t, kind)
	if len(items) != 1 {
		t.Fatalf("%d %s items wait for a retry, want 1", len(items), kind)
	}
	e.spendAttempts(t, kind, items[0].ID)
	return e.waitDone(t, items[0].ID, storage.OutboxFailed)
}

// TestGivenUpEmailChangeNamedOnItsAccount: the link confirming an email change goes to the
// new address, which is no account's; given up, it is named on the account that asked for
// the change (mail_lost, its kind), and the event names neither address.
func TestGivenUpEmailChangeNamedOnItsAccount(t *testing.T) {
	t.Parallel()
	smtp := mailtest.NewServer(t)
	e := newEnvWith(t, envOptions{smtp: smtp})
	u := e.addUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	settle() // what the sign-in mailed is out
	smtp.RefuseRecipients(true)
	p := b.post(e.issuer+"/account/email", url.Values{"csrf_token": {csrf}, "current": {testPassword}, "email": {"ada.new@example.com"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("email change: %d", p.status)
	}
	e.giveUp(t, storage.OutboxMessage)
	lost := e.lostEvents(t, account.MailLostEvent)
	if len(lost) != 1 || lost[0].UserID != u.ID || lost[0].Detail != mail.EmailChangeVerify {
		t.Fatalf("%s events: %+v, want one on %s naming %s", account.MailLostEvent, lost, u.ID, mail.EmailChangeVerify)
	}
	if ev := *lost[0]; strings.Contains(ev.Detail+ev.ClientID+ev.UserAgent+ev.Reason+ev.Target, "@") {
		t.Errorf("the event names an address: %+v", ev)
	}
}

// TestGivenUpSMSNamedOnItsAccount: a code to confirm a number, given up after its gateway
// refused every attempt, is named on the account that asked for it (sms_lost), as is a
// request for an SMS reset code given up before it found the number's account; for a
// number without an account nothing is written anywhere.
func TestGivenUpSMSNamedOnItsAccount(t *testing.T) {
	t.Parallel()
	smsEnv := func(t *testing.T, fs **faultstore.Store) *testEnv {
		e, g := phoneEnv(t, false, nil, envOptions{smtp: mailtest.NewServer(t),
			configure: func(c *config.Config) { c.Accounts.ResetBySMS = true },
			wrapStore: func(s storage.Store) storage.Store {
				*fs = faultstore.New(s)
				return *fs
			}})
		e.germanUser("ada@example.com")
		e.confirmPhone(e.signedInBrowser("ada@example.com"), g, "DE", "030 123456")
		g.FailNext(1000)
		return e
	}
	t.Run("verification code", func(t *testing.T) {
		t.Parallel()
		var fs *faultstore.Store
		e := smsEnv(t, &fs)
		if p := e.sendPhoneCode(e.signedInBrowser("ada@example.com"), "DE", "030 654321"); p.status != http.StatusOK {
			t.Fatalf("sending a code: %d %q", p.status, fieldError(p))
		}
		e.giveUp(t, sms.TaskKind)
		if n := e.events(t, "ada@example.com", phone.SMSLostEvent); n != 1 {
			t.Fatalf("%d %s events on the account, want 1", n, phone.SMSLostEvent)
		}
		if lost := e.lostEvents(t, phone.SMSLostEvent); lost[0].Detail != sms.TaskKind {
			t.Errorf("the event's detail is %q, want %q", lost[0].Detail, sms.TaskKind)
		}
	})
	t.Run("code expired before delivery", func(t *testing.T) {
		t.Parallel()
		var fs *faultstore.Store
		e := smsEnv(t, &fs)
		if p := e.sendPhoneCode(e.signedInBrowser("ada@example.com"), "DE", "030 654321"); p.status != http.StatusOK {
			t.Fatalf("sending a code: %d %q", p.status, fieldError(p))
		}
		items := e.retryNow(t, sms.TaskKind)
		if len(items) != 1 {
			t.Fatalf("%d SMS wait for a retry, want 1", len(items))
		}
		// The gateway's outage outlasts the code: the SMS is dropped unsent, not given up.
		e.clock.Advance(phone.CodeTTL + time.Minute)
		e.waitDone(t, items[0].ID, storage.OutboxSent)
		if n := e.events(t, "ada@example.com", phone.SMSLostEvent); n != 1 {
			t.Fatalf("%d %s events on the account, want 1", n, phone.SMSLostEvent)
		}
	})
	for _, tc := range []struct {
		name, number string
		owned        bool
	}{{"reset request, the account's number", "030 123456", true}, {"reset request, no account's number", "030 999999", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var fs *faultstore.Store
			e := smsEnv(t, &fs)
			// The worker's look-up fails the first attempt and the tenth, the last.
			r := fs.Add(faultstore.Rule{Method: "UserByPhone", Times: 2, Err: faultstore.ErrInjected})
			b := e.browser()
			f := b.get(e.issuer + "/forgot/sms").formValues()
			f.Set("country", "DE")
			f.Set("number", tc.number)
			if p := b.post(e.issuer+"/forgot/sms", f); p.status >= 400 {
				t.Fatalf("SMS reset request: %d", p.status)
			}
			waitApplied(t, fs, r)
			e.giveUp(t, phone.ResetRequestTask)
			lost := e.lostEvents(t, phone.SMSLostEvent)
			if !tc.owned {
				if len(lost) != 0 {
					t.Errorf("%d %s events for a number without an account, want none: %+v", len(lost), phone.SMSLostEvent, lost[0])
				}
				return
			}
			if n := e.events(t, "ada@example.com", phone.SMSLostEvent); n != 1 || lost[0].Detail != phone.ResetRequestTask {
				t.Fatalf("%s events: %+v, want one on the account naming %s", phone.SMSLostEvent, lost, phone.ResetRequestTask)
			}
		})
	}
}

// TestGivenUpBackchannelLogoutNamedOnItsPerson: an app whose back-channel logout endpoint
// fails every attempt was not told that the person signed out; given up, the person's
// activity says so, naming the app (logout_not_delivered, with its client), so that they
// can sign out of it themselves. A person deleted meanwhile gets nothing.
func TestGivenUpBackchannelLogoutNamedOnItsPerson(t *testing.T) {
	t.Parallel()
	for _, deleted := range []bool{false, true} {
		t.Run(map[bool]string{false: "signed out", true: "account deleted"}[deleted], func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			u := e.addUser("ada@example.com")
			down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down", http.StatusInternalServerError)
			}))
			t.Cleanup(down.Close)
			a := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.BackchannelLogoutURI = down.URL + "/bc" })
			b := e.browser()
			e.tokens(ctx, b, a, "ada@example.com")
			if deleted {
				if err := e.srv.Accounts.DeleteAccount(ctx, u, testPassword, account.Meta{}); err != nil {
					t.Fatal(err)
				}
			} else {
				p := b.get(e.issuer + "/logout")
				if p = b.post(e.issuer+"/logout", p.formValues()); p.status >= 400 {
					t.Fatalf("sign-out: %d", p.status)
				}
			}
			e.giveUp(t, backchannel.TaskKind)
			lost := e.lostEvents(t, backchannel.LostEvent)
			if deleted {
				if len(lost) != 0 {
					t.Errorf("%d %s events for a deleted account, want none: %+v", len(lost), backchannel.LostEvent, lost[0])
				}
				return
			}
			if len(lost) != 1 || lost[0].UserID != u.ID || lost[0].ClientID != a.ID || lost[0].Detail != backchannel.TaskKind {
				t.Fatalf("%s events: %+v, want one on %s naming client %s", backchannel.LostEvent, lost, u.ID, a.ID)
			}
		})
	}
}
