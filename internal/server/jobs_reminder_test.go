package server_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// A reminder run that fails after the claim (the new link's write, or queueing its mail)
// changes nothing: the first link still works and the reminder is not marked sent, so the
// next run sends it, with a link that activates the account.
func TestJobsFailedActivationReminderIsRetried(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"CreateOneTimeToken", "EnqueueOutbox"} {
		t.Run(method, func(t *testing.T) {
			var fs *faultstore.Store
			e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), wrapStore: func(s storage.Store) storage.Store {
				fs = faultstore.New(s)
				return fs
			}})
			ctx := context.Background()
			const addr = "slow@example.com"
			b := e.browser()
			e.register(b, b.get(e.issuer+"/register"), addr, "a fine long passphrase", "a fine long passphrase")
			first, _ := e.mailLink(addr, "/activate?token=")
			e.clock.Advance(4*24*time.Hour + time.Hour) // day 4 and a bit: reminder time

			fs.Add(faultstore.Rule{Method: method, Err: faultstore.ErrInjected, Times: 1})
			e.srv.PurgePending(ctx)
			u, err := e.store.GetUserByEmail(ctx, addr)
			if err != nil || u.ReminderSentAt != nil {
				t.Fatalf("after a failed reminder: %+v, %v; want it not marked sent", u, err)
			}
			// The first link still works: consumed in a transaction rolled back.
			q, _ := url.Parse(first)
			rollback := errors.New("rollback")
			err = e.store.InTx(ctx, func(tx storage.Store) error {
				_, err := tx.ConsumeOneTimeToken(ctx, secret.HashToken(q.Query().Get("token")), storage.TokenActivation, e.clock.Now())
				if err != nil {
					return err
				}
				return rollback
			})
			if !errors.Is(err, rollback) {
				t.Fatalf("first link after the failed reminder: %v", err)
			}
			mails := func() int {
				n := 0
				for _, m := range e.smtp.Messages() {
					if len(m.To) == 1 && m.To[0] == addr {
						n++
					}
				}
				return n
			}
			time.Sleep(300 * time.Millisecond)
			if n := mails(); n != 1 {
				t.Fatalf("%d mails after the failed reminder, want the activation mail only", n)
			}

			e.srv.PurgePending(ctx)
			deadline := time.Now().Add(mailWait)
			for mails() < 2 {
				if time.Now().After(deadline) {
					t.Fatal("no reminder after the retry")
				}
				time.Sleep(20 * time.Millisecond)
			}
			msgs := e.smtp.Messages()
			reminder := msgs[len(msgs)-1]
			link := mailtest.FirstLink(reminder.Text, e.issuer+"/activate?token=")
			if link == "" || link == first {
				t.Fatalf("reminder link %q (first link %q)", link, first)
			}
			if p := e.browser().confirmLink(link); p.url.Path != "/login" {
				t.Fatalf("reminder link led to %d %s", p.status, p.url)
			}
			if u, err := e.store.GetUserByEmail(ctx, addr); err != nil || u.Status != storage.UserActive {
				t.Fatalf("after the reminder's link: %+v, %v", u, err)
			}
		})
	}
}
