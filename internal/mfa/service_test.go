package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// recent is a sign-in of userID made now, as the UI hands the services that change factors.
func (f *fixture) recent(userID string) sessions.Recent {
	rc, err := (&sessions.Service{Now: func() time.Time { return f.now }}).Recent(context.Background(), &storage.Session{UserID: userID, AuthTime: f.now})
	if err != nil {
		panic(err)
	}
	return rc
}

// Compile-time check: the master-key sealer is what Service expects.
var _ Sealer = (*keys.Sealer)(nil)

// fixture is a Service over a real SQLite store with two people and a settable clock.
type fixture struct {
	svc   *Service
	db    storage.Store
	now   time.Time
	alice string
	bob   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mfa.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newFixtureOn(t, db)
}

// newFixtureOn is newFixture over db, an empty migrated store.
func newFixtureOn(t *testing.T, db storage.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	mk := make([]byte, keys.MasterKeySize)
	_, _ = rand.Read(mk)
	sealer, err := keys.NewSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, now: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC), alice: "alice-id", bob: "bob-id"}
	for _, id := range []string{f.alice, f.bob} {
		u := &storage.User{ID: id, Email: id + "@example.com", EmailNormalized: id + "@example.com",
			Status: storage.UserActive, CreatedAt: f.now, UpdatedAt: f.now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	f.svc = &Service{Store: db, Sealer: sealer, Issuer: "MyAccount", Now: func() time.Time { return f.now }}
	return f
}

// enrolTOTP enrols a TOTP credential for userID and returns it with its raw secret.
func (f *fixture) enrolTOTP(t *testing.T, userID string) (*storage.MFACredential, []byte) {
	t.Helper()
	c, _, secret := f.enrolTOTPWith(t, userID)
	return c, secret
}

// enrolTOTPCodes is enrolTOTP returning the recovery codes made with the credential.
func (f *fixture) enrolTOTPCodes(t *testing.T, userID string) (*storage.MFACredential, []string) {
	t.Helper()
	c, codes, _ := f.enrolTOTPWith(t, userID)
	return c, codes
}

func (f *fixture) enrolTOTPWith(t *testing.T, userID string) (*storage.MFACredential, []string, []byte) {
	t.Helper()
	e, pending, err := f.svc.BeginTOTP(userID, userID+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	c, codes, err := f.svc.FinishTOTP(context.Background(), f.recent(userID), pending, TOTPCode(e.Secret, f.now), "phone", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, codes, e.Secret
}

func TestTOTPEnrolment(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	e, pending, err := f.svc.BeginTOTP(f.alice, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pending, e.SecretBase32) {
		t.Fatal("pending enrolment carries the secret in clear")
	}
	code := TOTPCode(e.Secret, f.now)

	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	if _, _, err := f.svc.FinishTOTP(ctx, f.recent(f.alice), pending, wrong, "phone", nil); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("wrong confirmation code: %v, want ErrInvalidCode", err)
	}
	again, err := f.svc.ResumeTOTP(f.alice, "alice@example.com", pending)
	if err != nil || !bytes.Equal(again.Secret, e.Secret) || again.URL != e.URL {
		t.Fatalf("ResumeTOTP does not show the same secret: %v", err)
	}
	for name, p := range map[string]string{"other person": "", "tampered": pending[:len(pending)-2] + "AA", "garbage": "!!"} {
		user := f.alice
		if name == "other person" {
			user, p = f.bob, pending
		}
		if _, _, err := f.svc.FinishTOTP(ctx, f.recent(user), p, code, "phone", nil); !errors.Is(err, ErrEnrolmentExpired) {
			t.Errorf("%s: %v, want ErrEnrolmentExpired", name, err)
		}
	}

	c, _, err := f.svc.FinishTOTP(ctx, f.recent(f.alice), pending, code, "phone", nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.db.ListMFACredentials(ctx, f.alice)
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored credentials: %v, %v", stored, err)
	}
	s := stored[0]
	if s.ID != c.ID || s.Kind != storage.MFATOTP || s.Name != "phone" || s.LastStep != f.now.Unix()/30 {
		t.Errorf("stored %+v", s)
	}
	if bytes.Contains(s.Secret, e.Secret) {
		t.Error("secret stored in clear")
	}
	if _, err := f.svc.Sealer.Open("mfa-totp:other-id", s.Secret); err == nil {
		t.Error("sealed secret opens under another credential id")
	}
	// The code that confirmed the enrolment cannot be replayed at sign-in.
	if _, err := f.svc.VerifyTOTP(ctx, f.alice, code); !errors.Is(err, ErrCodeReused) {
		t.Errorf("confirmation code at sign-in: %v, want ErrCodeReused", err)
	}

	f.now = f.now.Add(TOTPEnrolmentTTL)
	if _, _, err := f.svc.FinishTOTP(ctx, f.recent(f.alice), pending, TOTPCode(e.Secret, f.now), "phone", nil); !errors.Is(err, ErrEnrolmentExpired) {
		t.Errorf("expired enrolment: %v, want ErrEnrolmentExpired", err)
	}
}

func TestVerifyTOTPAcceptsOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, key := f.enrolTOTP(t, f.alice)

	f.now = f.now.Add(TOTPPeriod)
	code := TOTPCode(key, f.now)
	c, err := f.svc.VerifyTOTP(ctx, f.alice, code)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastStep != f.now.Unix()/30 {
		t.Errorf("LastStep = %d", c.LastStep)
	}
	if _, err := f.svc.VerifyTOTP(ctx, f.alice, code); !errors.Is(err, ErrCodeReused) {
		t.Errorf("replay: %v, want ErrCodeReused", err)
	}
	// Codes are accepted in step order only: an earlier code, still inside the window, is
	// refused once a later one was used.
	f.now = f.now.Add(TOTPPeriod)
	later := TOTPCode(key, f.now.Add(TOTPPeriod))
	if _, err := f.svc.VerifyTOTP(ctx, f.alice, later); err != nil {
		t.Fatalf("next step's code (clock drift): %v", err)
	}
	if _, err := f.svc.VerifyTOTP(ctx, f.alice, TOTPCode(key, f.now)); !errors.Is(err, ErrCodeReused) {
		t.Errorf("earlier code after a later one: %v, want ErrCodeReused", err)
	}
	if _, err := f.svc.VerifyTOTP(ctx, f.bob, later); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("someone else's code: %v, want ErrInvalidCode", err)
	}
}

func TestVerifyTOTPConcurrentReplay(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.svc.Limits = Limits{MaxFailures: 100, Window: time.Minute}
	_, key := f.enrolTOTP(t, f.alice)
	f.now = f.now.Add(TOTPPeriod)
	code := TOTPCode(key, f.now)

	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := f.svc.VerifyTOTP(ctx, f.alice, code)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrCodeReused):
			t.Errorf("concurrent submit: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent submits of one code succeeded, want exactly 1", ok, n)
	}
}

func TestAttemptLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, key := f.enrolTOTP(t, f.alice)
	f.now = f.now.Add(TOTPPeriod)
	good := TOTPCode(key, f.now)
	bad := "000000"
	if bad == good {
		bad = "111111"
	}
	l := DefaultLimits()
	for i := range l.MaxFailures {
		if _, err := f.svc.VerifyTOTP(ctx, f.alice, bad); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := f.svc.VerifyTOTP(ctx, f.alice, good); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("right code after the limit: %v, want ErrTooManyAttempts", err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.alice, "abcde-fghjk"); !errors.Is(err, ErrTooManyAttempts) {
		t.Errorf("recovery code shares the limit: %v", err)
	}
	if _, err := f.svc.VerifyTOTP(ctx, f.bob, bad); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("another person is not limited: %v", err)
	}
	f.now = f.now.Add(l.Window)
	good = TOTPCode(key, f.now)
	if _, err := f.svc.VerifyTOTP(ctx, f.alice, good); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Success resets the count: the next typos start from zero.
	for i := range l.MaxFailures {
		if _, err := f.svc.VerifyTOTP(ctx, f.alice, bad); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("wrong code %d after a success: %v", i, err)
		}
	}
}

func TestAttemptLimitUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.enrolTOTP(t, f.alice)
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := f.svc.VerifyTOTP(ctx, f.alice, "000001")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	evaluated := 0
	for err := range errs {
		switch {
		case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrCodeReused), err == nil:
			evaluated++
		case !errors.Is(err, ErrTooManyAttempts):
			t.Errorf("guess: %v", err)
		}
	}
	if max := DefaultLimits().MaxFailures; evaluated > max {
		t.Errorf("%d of %d parallel guesses were evaluated, limit %d", evaluated, n, max)
	}
}

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.enrolTOTP(t, f.alice) // codes stand in for a factor (TestNewCodesNeedAStrongFactor)
	codes, err := f.svc.RegenerateRecoveryCodes(ctx, f.recent(f.alice), nil)
	if err != nil || len(codes) != RecoveryCodeCount {
		t.Fatalf("RegenerateRecoveryCodes: %d codes, %v", len(codes), err)
	}
	messy := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	left, err := f.svc.UseRecoveryCode(ctx, f.alice, messy)
	if err != nil || left != RecoveryCodeCount-1 {
		t.Fatalf("UseRecoveryCode(%q) = %d, %v", messy, left, err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.alice, codes[0]); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("used code again: %v, want ErrInvalidCode", err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.bob, codes[1]); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("someone else's code: %v, want ErrInvalidCode", err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.alice, "not a code"); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("malformed code: %v, want ErrInvalidCode", err)
	}

	// Two sign-ins presenting the same code at once: one wins.
	var wg sync.WaitGroup
	results := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, err := f.svc.UseRecoveryCode(ctx, f.alice, codes[2])
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		if err == nil {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent uses of one code succeeded, want 1", wins)
	}

	fresh, err := f.svc.RegenerateRecoveryCodes(ctx, f.recent(f.alice), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.alice, codes[3]); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("code of the replaced set: %v, want ErrInvalidCode", err)
	}
	if left, err := f.svc.UseRecoveryCode(ctx, f.alice, fresh[9]); err != nil || left != RecoveryCodeCount-1 {
		t.Errorf("code of the new set: %d, %v", left, err)
	}
}

// newEmailCode stores a fresh code for userID the way a sign-in does, in a transaction.
func (f *fixture) newEmailCode(t *testing.T, userID string) string {
	t.Helper()
	code, _ := NewEmailCode(userID)
	err := f.svc.Store.InTx(context.Background(), func(tx storage.Store) error {
		return f.svc.StoreEmailCode(context.Background(), tx, userID, code)
	})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestEmailCodes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	code := f.newEmailCode(t, f.alice)
	if err := f.svc.VerifyEmailCode(ctx, f.bob, code); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("another person's code: %v, want ErrInvalidCode", err)
	}
	if err := f.svc.VerifyEmailCode(ctx, f.alice, code[:3]+" "+code[3:]); err != nil {
		t.Fatalf("right code: %v", err)
	}
	if err := f.svc.VerifyEmailCode(ctx, f.alice, code); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("used code: %v, want ErrInvalidCode", err)
	}

	first := f.newEmailCode(t, f.alice)
	second := f.newEmailCode(t, f.alice)
	if first != second {
		if err := f.svc.VerifyEmailCode(ctx, f.alice, first); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("superseded code: %v, want ErrInvalidCode", err)
		}
	}
	f.now = f.now.Add(EmailCodeTTL)
	if err := f.svc.VerifyEmailCode(ctx, f.alice, second); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("expired code: %v, want ErrInvalidCode", err)
	}
}

func TestCeremonyState(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	state := []byte(`{"challenge":"abc"}` + "\x00\xff")
	h, err := f.svc.SaveCeremony(ctx, f.alice, state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.TakeCeremony(ctx, f.bob, h); !errors.Is(err, ErrCeremonyInvalid) {
		t.Errorf("another person's ceremony: %v, want ErrCeremonyInvalid", err)
	}
	h, err = f.svc.SaveCeremony(ctx, f.alice, state)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.TakeCeremony(ctx, f.alice, h)
	if err != nil || !bytes.Equal(got, state) {
		t.Fatalf("TakeCeremony = %q, %v", got, err)
	}
	if _, err := f.svc.TakeCeremony(ctx, f.alice, h); !errors.Is(err, ErrCeremonyInvalid) {
		t.Errorf("second take: %v, want ErrCeremonyInvalid", err)
	}
	for _, bad := range []string{"", "unknown"} {
		if _, err := f.svc.TakeCeremony(ctx, f.alice, bad); !errors.Is(err, ErrCeremonyInvalid) {
			t.Errorf("handle %q: %v, want ErrCeremonyInvalid", bad, err)
		}
	}
	h, err = f.svc.SaveCeremony(ctx, f.alice, state)
	if err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(CeremonyTTL)
	if _, err := f.svc.TakeCeremony(ctx, f.alice, h); !errors.Is(err, ErrCeremonyInvalid) {
		t.Errorf("expired ceremony: %v, want ErrCeremonyInvalid", err)
	}
}

func TestEnrolledAndRemoveFactor(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if e, err := f.svc.Enrolled(ctx, f.alice); err != nil || e != (Enrolled{}) {
		t.Fatalf("Enrolled before = %+v, %v", e, err)
	}
	c, _ := f.enrolTOTP(t, f.alice)
	for i, flagged := range []bool{false, true} {
		w := &storage.MFACredential{ID: "wa" + string(rune('0'+i)), UserID: f.alice, Kind: storage.MFAWebAuthn,
			CredentialID: []byte{byte(i + 1)}, Secret: []byte("{}"), Flagged: flagged, CreatedAt: f.now}
		if err := f.db.CreateMFACredential(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.RegenerateRecoveryCodes(ctx, f.recent(f.alice), nil); err != nil {
		t.Fatal(err)
	}
	token, err := f.svc.TrustBrowser(ctx, f.alice, "Firefox")
	if err != nil {
		t.Fatal(err)
	}
	want := Enrolled{TOTP: 1, WebAuthn: 1, RecoveryCodes: RecoveryCodeCount}
	if e, err := f.svc.Enrolled(ctx, f.alice); err != nil || e != want {
		t.Fatalf("Enrolled = %+v, %v; want %+v", e, err, want)
	}

	if err := f.svc.RemoveFactor(ctx, f.recent(f.alice), c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.svc.BrowserTrusted(ctx, f.alice, token); ok {
		t.Error("browser still trusted after a factor was removed")
	}
	if e, _ := f.svc.Enrolled(ctx, f.alice); e.RecoveryCodes != RecoveryCodeCount {
		t.Errorf("recovery codes voided while a WebAuthn key remains: %+v", e)
	}
	if err := f.svc.RemoveFactor(ctx, f.recent(f.alice), "wa0", nil); err != nil {
		t.Fatal(err)
	}
	if e, _ := f.svc.Enrolled(ctx, f.alice); e.RecoveryCodes != 0 || e.Strong() {
		t.Errorf("after removing the last strong factor: %+v", e)
	}
	if err := f.svc.RemoveFactor(ctx, f.recent(f.bob), "wa1", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("removing someone else's factor: %v, want ErrNotFound", err)
	}
}

func TestTrustedBrowser(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	token, err := f.svc.TrustBrowser(ctx, f.alice, "Firefox")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		user  string
		token string
		want  bool
	}{
		{"same person", f.alice, token, true},
		{"other person on the browser", f.bob, token, false},
		{"no cookie", f.alice, "", false},
		{"wrong cookie", f.alice, token + "x", false},
	}
	for _, tt := range tests {
		if got, err := f.svc.BrowserTrusted(ctx, tt.user, tt.token); err != nil || got != tt.want {
			t.Errorf("%s: BrowserTrusted = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	f.now = f.now.Add(TrustedBrowserTTL)
	if ok, _ := f.svc.BrowserTrusted(ctx, f.alice, token); ok {
		t.Error("trust outlived TrustedBrowserTTL")
	}
}

// TestRetryAfter: the wait a refusal states is the window of the count that refused: the
// configured one for too many attempts, a day for the day's cap (the SMS reset page said
// "15 minutes" for both).
func TestRetryAfter(t *testing.T) {
	s := &Service{Limits: Limits{MaxFailures: 3, Window: 7 * time.Minute}}
	for _, c := range []struct {
		err  error
		want time.Duration
	}{
		{ErrTooManyAttempts, 7 * time.Minute},
		{fmt.Errorf("verify: %w", ErrAttemptsCapped), 24 * time.Hour},
		{ErrInvalidCode, 0},
		{nil, 0},
	} {
		if got := s.RetryAfter(c.err); got != c.want {
			t.Errorf("RetryAfter(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if got := (&Service{}).RetryAfter(ErrTooManyAttempts); got != DefaultLimits().Window {
		t.Errorf("default limits: RetryAfter = %v, want %v", got, DefaultLimits().Window)
	}
}
