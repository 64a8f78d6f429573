package phone_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/sms"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// gateway keeps the SMS the outbox worker delivers.
type gateway struct {
	mu   sync.Mutex
	sent []sms.Message
}

func (g *gateway) Send(_ context.Context, m sms.Message) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent = append(g.sent, m)
	return nil
}

type plainTexts struct{}

func (plainTexts) T(_ string, msg string, _ ...any) string { return msg }

var otcLine = regexp.MustCompile(`#(\d{6})$`)

// TestSendSignInCode: the sign-in code's send is one domain method, on the real SMS service,
// outbox and limits. The code goes to the verified number and is stored hashed, bound to
// the person; a refusal (no verified number, or the limits) is ErrRefused and leaves the
// pending code working; a failure of ours (reading the number, writing the code) is an error
// that is never "refused", and also leaves the pending code working.
func TestSendSignInCode(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs := faultstore.New(db)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ob, err := mail.NewOutbox(mail.OutboxConfig{Store: fs, Sender: mail.LogSender{Logger: log}, Holder: "test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	gw := &gateway{}
	svc := &sms.Service{Outbox: ob, Guard: &guard.Guard{Store: fs}, Sender: gw, Texts: plainTexts{}, Host: "id.example.com",
		Product: "Example", Limits: sms.Limits{PerNumber: 100, PerAccount: 2, PerIP: 100, PerCountry: 100, HourlyBudget: 100}}
	ob.Handle(sms.TaskKind, svc.Deliver)
	codes := &mfa.Service{Store: fs}
	s := &phone.Service{Store: fs, SMS: svc, Codes: codes, Key: []byte("0123456789abcdef0123456789abcdef")}

	now := time.Now()
	for _, id := range []string{"u1", "u2"} {
		if err := db.CreateUser(ctx, &storage.User{ID: id, Email: id + "@example.com", EmailNormalized: id + "@example.com",
			Status: storage.UserActive, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	// delivered runs the outbox worker and returns the code of the one SMS it sent, to to.
	delivered := func(to string) string {
		t.Helper()
		n := len(gw.sent)
		ob.Work(ctx)
		if len(gw.sent) != n+1 || gw.sent[n].To != to {
			t.Fatalf("delivered %+v after %d, want one SMS to %s", gw.sent, n, to)
		}
		m := otcLine.FindStringSubmatch(gw.sent[n].Body)
		if m == nil {
			t.Fatalf("no code in %q", gw.sent[n].Body)
		}
		return m[1]
	}
	nothingSent := func(what string) {
		t.Helper()
		n := len(gw.sent)
		if ob.Work(ctx); len(gw.sent) != n {
			t.Errorf("%s: an SMS went out: %+v", what, gw.sent[n:])
		}
	}
	works := func(userID, code string) bool {
		t.Helper()
		_, err := codes.CheckSMSCode(ctx, userID, storage.TokenSMSCode, code) // checks, spends nothing
		if err != nil && !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("check %s's code: %v", userID, err)
		}
		return err == nil
	}

	// No verified number: refused, nothing stored or sent.
	if err := s.SendSignInCode(ctx, "u1", "192.0.2.1", "en"); !errors.Is(err, phone.ErrRefused) {
		t.Fatalf("no verified number: %v, want ErrRefused", err)
	}
	nothingSent("no verified number")

	// pendingNumber stores a verification of e164 for userID under codeHash, as Start would.
	pendingNumber := func(userID, e164, codeHash string) {
		t.Helper()
		v := &storage.PhoneVerification{UserID: userID, E164: e164, CodeHash: codeHash, Sends: 1, CreatedAt: now,
			LastSentAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.PutPhoneVerification(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	// verified gives userID the verified number e164.
	verified := func(userID, e164 string) {
		t.Helper()
		pendingNumber(userID, e164, "h")
		if _, err := db.ConfirmPhone(ctx, userID, "h", now); err != nil {
			t.Fatal(err)
		}
	}
	const number = "+4915123456789"
	verified("u1", number)

	// Sent to the verified number; stored hashed, for the person only.
	if err := s.SendSignInCode(ctx, "u1", "192.0.2.1", "en"); err != nil {
		t.Fatal(err)
	}
	first := delivered(number)
	if !works("u1", first) {
		t.Fatal("the code sent does not work")
	}
	if works("u2", first) {
		t.Error("u1's code works for u2: its hash is not bound to the person")
	}
	if _, err := db.ConsumeOneTimeToken(ctx, mfa.SMSCodeHash(storage.TokenSMSCode, "u1", first), storage.TokenSMSCode, time.Now()); err != nil {
		t.Fatalf("the code is not stored under its hash: %v", err)
	}
	// (Spent by that look-up: send another.)
	if err := s.SendSignInCode(ctx, "u1", "192.0.2.1", "en"); err != nil {
		t.Fatal(err)
	}
	pending := delivered(number)

	// A failure of ours, reading the number or writing the code: an error, not a refusal;
	// nothing sent, the pending code still works.
	for _, method := range []string{"GetPhone", "CreateOneTimeToken", "DeleteOneTimeTokens"} {
		rule := fs.Add(faultstore.Rule{Method: method, Times: 1, Err: faultstore.ErrInjected})
		err := s.SendSignInCode(ctx, "u1", "192.0.2.1", "en")
		fs.Clear()
		if fs.Applied(rule) != 1 || err == nil || errors.Is(err, phone.ErrRefused) || !errors.Is(err, faultstore.ErrInjected) {
			t.Errorf("%s failing: %v (applied %d), want our error, not refused", method, err, fs.Applied(rule))
		}
		nothingSent(method + " failing")
		if !works("u1", pending) {
			t.Errorf("%s failing: the pending code no longer works", method)
		}
	}

	// The account's limit (2 an hour) refuses the third send: ErrRefused, and the code the
	// person has still works.
	err = s.SendSignInCode(ctx, "u1", "192.0.2.1", "en")
	if !errors.Is(err, phone.ErrRefused) || !errors.Is(err, sms.ErrRefused) {
		t.Fatalf("over the limit: %v, want ErrRefused", err)
	}
	nothingSent("over the limit")
	if !works("u1", pending) {
		t.Error("a refused send voided the pending code")
	}

	// A new number confirmed ends the codes sent to the one before; so does removing the
	// number (u2's): a code on a phone the person has just let go of no longer signs in.
	pendingNumber("u1", "+4915199999999", s.HashCode(phone.PurposeVerify, "u1", "246810"))
	if _, err := s.Confirm(ctx, signedIn("u1"), "246810", nil); err != nil {
		t.Fatal(err)
	}
	if works("u1", pending) {
		t.Error("a code sent to the number before still works once a new number is confirmed")
	}
	const other = "+4915188888888"
	verified("u2", other)
	if err := s.SendSignInCode(ctx, "u2", "192.0.2.1", "en"); err != nil {
		t.Fatal(err)
	}
	code := delivered(other)
	if !works("u2", code) {
		t.Fatal("u2's code does not work")
	}
	if err := s.Remove(ctx, signedIn("u2"), nil); err != nil {
		t.Fatal(err)
	}
	if works("u2", code) {
		t.Error("a code sent to a number still works once the number is removed")
	}
}
