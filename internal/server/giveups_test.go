package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
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
