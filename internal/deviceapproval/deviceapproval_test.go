package deviceapproval_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/deviceapproval"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type fixture struct {
	svc   *deviceapproval.Service
	store *faultstore.Store
	clock *clock
}

// newFixture stores a plain client "tv" with code BCDFGHJK and an MFA-requiring client
// "bank" with code LMNPQRST, both pending for ten minutes, and user u1.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com", Status: storage.UserActive}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		client, code string
		mfa          bool
	}{{"tv", "BCDFGHJK", false}, {"bank", "LMNPQRST", true}} {
		if err := db.CreateClient(ctx, &storage.Client{ID: x.client, Name: x.client, Type: storage.ClientNative, RequireMFA: x.mfa}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateDeviceCode(ctx, &storage.DeviceCode{DeviceCodeHash: "h-" + x.code, UserCode: x.code, ClientID: x.client,
			Scopes: []string{"openid"}, State: storage.DevicePending, CreatedAt: c.t, ExpiresAt: c.t.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	fs := faultstore.New(db)
	return &fixture{store: fs, clock: c, svc: &deviceapproval.Service{Store: fs, Guard: &guard.Guard{Store: fs, Now: c.now}, Now: c.now}}
}

func session(amr ...string) *storage.Session {
	return &storage.Session{ID: "s1", UserID: "u1", AuthTime: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), AMR: amr}
}

func TestLookup(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	req, err := f.svc.Lookup(ctx, "bcdf-ghjk", "192.0.2.1", "u1")
	if err != nil || req.Code.UserCode != "BCDFGHJK" || req.Client.ID != "tv" {
		t.Fatalf("Lookup = %+v, %v", req, err)
	}
	if _, err := f.svc.Lookup(ctx, "hello", "192.0.2.1", "u1"); !errors.Is(err, deviceapproval.ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}
	if _, err := f.svc.Lookup(ctx, "ZZZZ-ZZZZ", "192.0.2.1", "u1"); !errors.Is(err, deviceapproval.ErrUnknown) {
		t.Errorf("unknown: %v", err)
	}
	f.clock.t = f.clock.t.Add(10 * time.Minute)
	if _, err := f.svc.Lookup(ctx, "BCDFGHJK", "192.0.2.1", "u1"); !errors.Is(err, deviceapproval.ErrUnknown) {
		t.Errorf("expired: %v", err)
	}
}

// TestGuessesAreLimitedPerIP: the limit holds for found and unknown codes alike; a malformed
// input costs nothing; another IP has its own allowance.
func TestGuessesAreLimitedPerIP(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for range 10 {
		if _, err := f.svc.Lookup(ctx, "not a code", "192.0.2.1", "u1"); !errors.Is(err, deviceapproval.ErrMalformed) {
			t.Fatal(err)
		}
	}
	for i := range guard.DeviceCodeGuess.Limit() {
		code := "ZZZZZZZZ"
		if i%2 == 0 {
			code = "BCDFGHJK"
		}
		if _, err := f.svc.Lookup(ctx, code, "192.0.2.1", "u1"); errors.Is(err, deviceapproval.ErrTooManyGuesses) {
			t.Fatalf("guess %d refused", i+1)
		}
	}
	if _, err := f.svc.Lookup(ctx, "BCDFGHJK", "192.0.2.1", "u1"); !errors.Is(err, deviceapproval.ErrTooManyGuesses) {
		t.Errorf("guess beyond the limit: %v, want ErrTooManyGuesses", err)
	}
	if _, err := f.svc.Lookup(ctx, "BCDFGHJK", "198.51.100.1", "u1"); err != nil {
		t.Errorf("another IP: %v", err)
	}
}

func TestDecide(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tv, err := f.svc.Lookup(ctx, "BCDFGHJK", "ip", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Decide(ctx, tv, true, session("pwd"), nil); err != nil {
		t.Fatal(err)
	}
	dc, err := f.store.GetDeviceCode(ctx, "h-BCDFGHJK")
	if err != nil || dc.State != storage.DeviceApproved || dc.UserID != "u1" {
		t.Fatalf("after approval: %+v, %v", dc, err)
	}
	// Decided once: a second answer (another tab) finds nothing pending.
	if err := f.svc.Decide(ctx, tv, false, session("pwd"), nil); !errors.Is(err, deviceapproval.ErrUnknown) {
		t.Errorf("second decision: %v, want ErrUnknown", err)
	}
	// The person who answered, looking the code up again (the form sent twice, the answer
	// lost), is shown that answer; anyone else finds nothing, as for an expired code, even
	// after the code expired.
	if again, err := f.svc.Lookup(ctx, "BCDFGHJK", "ip", "u1"); !errors.Is(err, deviceapproval.ErrDecided) ||
		again == nil || again.Code.State != storage.DeviceApproved || again.Client.ID != "tv" {
		t.Errorf("decided code, looked up by its approver: %+v, %v; want ErrDecided with the approval", again, err)
	}
	for _, who := range []string{"u2", ""} {
		if _, err := f.svc.Lookup(ctx, "BCDFGHJK", "ip", who); !errors.Is(err, deviceapproval.ErrUnknown) {
			t.Errorf("decided code still found by %q: %v", who, err)
		}
	}

	bank, err := f.svc.Lookup(ctx, "LMNPQRST", "ip", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Decide(ctx, bank, true, session("pwd"), nil); !errors.Is(err, deviceapproval.ErrNeedsMFA) {
		t.Errorf("approval without MFA: %v, want ErrNeedsMFA", err)
	}
	if dc, _ := f.store.GetDeviceCode(ctx, "h-LMNPQRST"); dc.State != storage.DevicePending {
		t.Errorf("refused approval changed the state to %s", dc.State)
	}
	// Denying needs no second factor.
	if err := f.svc.Decide(ctx, bank, false, session("pwd"), nil); err != nil {
		t.Errorf("deny: %v", err)
	}
	if dc, _ := f.store.GetDeviceCode(ctx, "h-LMNPQRST"); dc.State != storage.DeviceDenied {
		t.Errorf("state = %s, want denied", dc.State)
	}
}

func TestDecideWithMFA(t *testing.T) {
	f := newFixture(t)
	bank, err := f.svc.Lookup(t.Context(), "LMNPQRST", "ip", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Decide(t.Context(), bank, true, session("pwd", "otp"), nil); err != nil {
		t.Errorf("approval with MFA: %v", err)
	}
}

// TestStorageFailuresAreOurs: a failing database is never "unknown code" (the person would
// be told their code is wrong) nor "too many guesses".
func TestStorageFailuresAreOurs(t *testing.T) {
	for _, method := range []string{"HitCounter", "GetDeviceCodeByUserCode", "GetClient"} {
		t.Run(method, func(t *testing.T) {
			f := newFixture(t)
			f.store.Fail(method)
			_, err := f.svc.Lookup(t.Context(), "BCDFGHJK", "ip", "u1")
			if !errors.Is(err, faultstore.ErrInjected) {
				t.Errorf("Lookup = %v, want the injected failure", err)
			}
		})
	}
	f := newFixture(t)
	req, err := f.svc.Lookup(t.Context(), "BCDFGHJK", "ip", "u1")
	if err != nil {
		t.Fatal(err)
	}
	f.store.Fail("DecideDeviceCode")
	if err := f.svc.Decide(t.Context(), req, true, session("pwd"), nil); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("Decide = %v, want the injected failure", err)
	}
}
