package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/storage"
)

// TestRefusalInsideAnUpdateIsNotOurFailure: a rule decided inside a store update's callback
// (here: a password reset for an account locked after its link was sent) is the person's
// answer. Before, the store guard took the callback's error for a database failure, logged
// it at ERROR and had the request answered 503 "Temporarily unavailable. Nothing you entered
// is wrong: please try again", which no retry could change.
func TestRefusalInsideAnUpdateIsNotOurFailure(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t), logTo: logs})
	const email, pw = "ada@example.com", "a brand new passphrase"
	u := e.addUser(email)
	b := e.browser()
	f := b.get(e.resetLink(b, email)).formValues()
	if _, err := e.store.UpdateUser(context.Background(), u.ID, func(x *storage.User) error { x.Status = storage.UserLocked; return nil }); err != nil {
		t.Fatal(err)
	}
	f.Set("password", pw)
	f.Set("confirm", pw)
	p := b.post(e.issuer+"/reset", f)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "This account is locked") {
		t.Errorf("reset of a locked account: %d, want 403 saying it is locked:\n%.600s", p.status, p.body)
	}
	if strings.Contains(logs.String(), "database call failed") {
		t.Error("the refusal was logged as a database failure")
	}
}
