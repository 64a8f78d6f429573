package guard_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newGuard(t *testing.T) (*guard.Guard, *clock, *faultstore.Store) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs := faultstore.New(db)
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return &guard.Guard{Store: fs, Now: c.now}, c, fs
}

// TestKeysUnchanged: counter keys are stored data; a deploy must keep counting the same rows.
func TestKeysUnchanged(t *testing.T) {
	tests := []struct {
		r       guard.Rule
		subject string
		want    string
	}{
		{guard.TOTPEnrolment, "abc", "totp-enrol:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{guard.CodesShown, "n1", "codes-shown:n1"},
		{guard.PasskeyChallenge, "abc", "passkey-challenge:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{guard.EmailCode, "u1", "mfa-email:u1"},
		{guard.DeviceCodeGuess, "192.0.2.1", "device_code_ip:192.0.2.1"},
	}
	for _, tt := range tests {
		if got := tt.r.Key(tt.subject); got != tt.want {
			t.Errorf("%s.Key(%q) = %q, want %q", tt.r, tt.subject, got, tt.want)
		}
	}
}

func TestLimitsAndWindows(t *testing.T) {
	tests := []struct {
		r      guard.Rule
		limit  int
		window time.Duration
	}{
		{guard.TOTPEnrolment, 1, 30 * time.Minute},
		{guard.CodesShown, 1, 10 * time.Minute},
		{guard.PasskeyChallenge, 1, 5 * time.Minute},
		{guard.EmailCode, 3, 10 * time.Minute},
		{guard.DeviceCodeGuess, 20, 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.r.String(), func(t *testing.T) {
			g, c, _ := newGuard(t)
			ctx := t.Context()
			for i := 1; i <= tt.limit; i++ {
				if ok, err := g.Allow(ctx, tt.r, "s"); err != nil || !ok {
					t.Fatalf("use %d: %v, %v; want allowed", i, ok, err)
				}
			}
			if ok, err := g.Allow(ctx, tt.r, "s"); err != nil || ok {
				t.Fatalf("use %d: %v, %v; want refused", tt.limit+1, ok, err)
			}
			// Another subject has its own count.
			if ok, _ := g.Allow(ctx, tt.r, "other"); !ok {
				t.Error("another subject refused")
			}
			// A new window starts over (a single-use item has expired by then anyway).
			c.t = c.t.Add(tt.window + time.Second)
			if ok, err := g.Allow(ctx, tt.r, "s"); err != nil || !ok {
				t.Errorf("after the window: %v, %v; want allowed", ok, err)
			}
		})
	}
}

// TestSingleUseUnderRace: of many parallel first uses exactly one wins.
func TestSingleUseUnderRace(t *testing.T) {
	g, _, _ := newGuard(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 16 {
		wg.Go(func() {
			ok, err := g.Allow(context.Background(), guard.TOTPEnrolment, "pending")
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d parallel uses passed, want 1", wins)
	}
}

func TestStorageFailureIsAnError(t *testing.T) {
	g, _, fs := newGuard(t)
	fs.Fail("HitCounter")
	ok, err := g.Allow(t.Context(), guard.EmailCode, "u1")
	if ok || !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("Allow = %v, %v; want false and the injected failure", ok, err)
	}
}

// The rules per client address count an IPv6 /64 as one address (addrkey.LimitKey).
func TestAddressRulesCountAnIPv6SubnetOnce(t *testing.T) {
	for _, r := range []guard.Rule{guard.DeviceCodeGuess, guard.LicenceRedeemIP, guard.SMSIP} {
		if a, b := r.Key("2001:db8:1:2::1"), r.Key("2001:db8:1:2:ffff::9"); a != b {
			t.Errorf("%v: %q and %q, want one key for one /64", r, a, b)
		}
		if a, b := r.Key("2001:db8:1:2::1"), r.Key("2001:db8:1:3::1"); a == b {
			t.Errorf("%v: two /64s share the key %q", r, a)
		}
	}
}
