package phone_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// inbox is a Sender that keeps the codes, writing a code's hash through db's transaction
// (sms.Service's refusals and rollbacks are tested with it in signin_test.go, and the whole
// path end to end in internal/server against a fake gateway).
type inbox struct {
	db    storage.Store
	codes []phone.Code
}

func (b *inbox) SendCode(_ context.Context, c phone.Code) error {
	b.codes = append(b.codes, c)
	return nil
}

func (b *inbox) SendCodeWith(ctx context.Context, c phone.Code, also func(context.Context, storage.Store) error) error {
	if err := b.db.InTx(ctx, func(tx storage.Store) error { return also(ctx, tx) }); err != nil {
		return err
	}
	return b.SendCode(ctx, c)
}

// signedIn is a sign-in of userID made just now, as the UI hands the service.
func signedIn(userID string) sessions.Recent {
	rc, err := (&sessions.Service{}).Recent(context.Background(), &storage.Session{UserID: userID, AuthTime: time.Now()})
	if err != nil {
		panic(err)
	}
	return rc
}

func setup(t *testing.T) (*phone.Service, *inbox, *time.Time) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := db.CreateUser(t.Context(), &storage.User{ID: "u1", Email: "a@example.com", EmailNormalized: "a@example.com",
		Status: storage.UserActive, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	b := &inbox{db: db}
	return &phone.Service{Store: db, SMS: b, Key: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }}, b, &now
}

func TestVerify(t *testing.T) {
	t.Parallel()
	s, b, now := setup(t)
	ctx := t.Context()
	if err := s.Start(ctx, signedIn("u1"), "+4930123456", "192.0.2.1", "de"); err != nil {
		t.Fatal(err)
	}
	if len(b.codes) != 1 || len(b.codes[0].Code) != 6 || b.codes[0].To != "+4930123456" || b.codes[0].Purpose != phone.PurposeVerify {
		t.Fatalf("sent %+v", b.codes)
	}
	// The resend waits 30 s, then 1 min.
	var soon *phone.TooSoonError
	if err := s.Resend(ctx, signedIn("u1"), "", "de"); !errors.As(err, &soon) || soon.Wait != 30*time.Second {
		t.Fatalf("resend at once: %v", err)
	}
	*now = now.Add(30 * time.Second)
	if err := s.Resend(ctx, signedIn("u1"), "", "de"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, signedIn("u1"), "+4930999999", "", "de"); !errors.As(err, &soon) || soon.Wait != time.Minute {
		t.Fatalf("typing another number skips the delay: %v", err)
	}
	// The same number again within the delay is the code just sent: nothing new goes out.
	if err := s.Start(ctx, signedIn("u1"), "+4930123456", "", "de"); err != nil || len(b.codes) != 2 {
		t.Fatalf("the same number again: %v, %d codes sent", err, len(b.codes))
	}
	if _, err := s.Confirm(ctx, signedIn("u1"), b.codes[0].Code, nil); !errors.Is(err, phone.ErrWrongCode) {
		t.Fatalf("the replaced code: %v", err)
	}
	p, err := s.Confirm(ctx, signedIn("u1"), b.codes[1].Code, nil)
	if err != nil || p.E164 != "+4930123456" {
		t.Fatalf("confirm: %+v, %v", p, err)
	}
	// Used again (the form sent again), it is the confirmation of a moment ago; later, no code.
	if _, err := s.Confirm(ctx, signedIn("u1"), b.codes[1].Code, nil); !errors.Is(err, phone.ErrConfirmed) {
		t.Fatalf("second use: %v", err)
	}
	*now = now.Add(10 * time.Minute)
	if _, err := s.Confirm(ctx, signedIn("u1"), b.codes[1].Code, nil); !errors.Is(err, phone.ErrNoCode) {
		t.Fatalf("second use ten minutes later: %v", err)
	}
}

func TestVerifyGuessesAndExpiry(t *testing.T) {
	t.Parallel()
	s, b, now := setup(t)
	ctx := t.Context()
	if err := s.Start(ctx, signedIn("u1"), "+4930123456", "", "en"); err != nil {
		t.Fatal(err)
	}
	wrong := "000000"
	if b.codes[0].Code == wrong {
		wrong = "111111"
	}
	for i := range phone.MaxAttempts {
		if _, err := s.Confirm(ctx, signedIn("u1"), wrong, nil); !errors.Is(err, phone.ErrWrongCode) {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	if _, err := s.Confirm(ctx, signedIn("u1"), b.codes[0].Code, nil); !errors.Is(err, phone.ErrNoCode) {
		t.Fatalf("the right code after every guess is spent: %v", err)
	}
	*now = now.Add(10 * time.Minute)
	if err := s.Start(ctx, signedIn("u1"), "+4930123456", "", "en"); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(phone.CodeTTL)
	if _, err := s.Confirm(ctx, signedIn("u1"), b.codes[1].Code, nil); !errors.Is(err, phone.ErrNoCode) {
		t.Fatalf("expired code: %v", err)
	}
}

// TestPhoneChangesNeedARecentSignIn: adding, confirming and removing a number (a way to sign
// in and to reset the password) are refused without a recent sign-in, whatever calls the
// service; the refusal sends nothing.
func TestPhoneChangesNeedARecentSignIn(t *testing.T) {
	t.Parallel()
	s, b, _ := setup(t)
	ctx := t.Context()
	var none sessions.Recent
	for name, err := range map[string]error{
		"start":   s.Start(ctx, none, "+4930123456", "", "en"),
		"resend":  s.Resend(ctx, none, "", "en"),
		"confirm": func() error { _, err := s.Confirm(ctx, none, "123456", nil); return err }(),
		"remove":  s.Remove(ctx, none, nil),
	} {
		if !errors.Is(err, sessions.ErrNotRecent) {
			t.Errorf("%s without a recent sign-in: %v, want ErrNotRecent", name, err)
		}
	}
	if len(b.codes) != 0 {
		t.Errorf("%d codes sent without a recent sign-in", len(b.codes))
	}
}

// TestRedeemReset: the right reset code for a confirmed number turns into a reset token of the
// account (stored hashed, usable once); a code whose number left the account since it was sent
// is answered as a wrong one and spent, and a wrong code spends nothing.
func TestRedeemReset(t *testing.T) {
	t.Parallel()
	s, b, now := setup(t)
	ctx := t.Context()
	db := s.Store.(storage.Store)
	s.Reset = db
	s.Codes = &mfa.Service{Store: db, Now: func() time.Time { return *now }}
	const number = "+4930123456"
	if err := s.Start(ctx, signedIn("u1"), number, "", "de"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Confirm(ctx, signedIn("u1"), b.codes[0].Code, nil); err != nil {
		t.Fatal(err)
	}
	sent := func() string {
		t.Helper()
		n := len(b.codes)
		if err := s.StartReset(ctx, number, "192.0.2.1", "de"); err != nil || len(b.codes) != n+1 {
			t.Fatalf("reset code: %v, %d sent", err, len(b.codes)-n)
		}
		c := b.codes[n]
		if c.Purpose != phone.PurposeReset || c.To != number {
			t.Fatalf("sent %+v", c)
		}
		return c.Code
	}

	code := sent()
	wrong := "000000"
	if wrong == code {
		wrong = "000001"
	}
	if _, err := s.RedeemReset(ctx, number, wrong); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("a wrong code: %v", err)
	}
	tok, err := s.RedeemReset(ctx, number, code)
	if err != nil || tok == "" {
		t.Fatalf("the right code after a wrong one: %q, %v", tok, err)
	}
	got, err := db.ConsumeOneTimeToken(ctx, secret.HashToken(tok), storage.TokenReset, *now)
	if err != nil || got.UserID != "u1" || !got.ExpiresAt.Equal(now.Add(phone.ResetTokenTTL)) {
		t.Fatalf("the reset token: %+v, %v", got, err)
	}
	if _, err := s.RedeemReset(ctx, number, code); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("the code again: %v", err)
	}

	// The number leaves the account after its code was sent: the code resets nothing.
	code = sent()
	*now = now.Add(time.Hour) // past the removal's wait for a recent sign-in
	if err := s.Remove(ctx, signedIn("u1"), nil); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(-time.Hour + time.Minute)
	if tok, err := s.RedeemReset(ctx, number, code); !errors.Is(err, mfa.ErrInvalidCode) || tok != "" {
		t.Fatalf("a code for a number removed since: %q, %v", tok, err)
	}
	if _, err := db.ConsumeOneTimeToken(ctx, mfa.SMSCodeHash(storage.TokenSMSReset, "number:"+number, code), storage.TokenSMSReset, *now); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("the code for a number removed since is spent: %v", err)
	}
}
