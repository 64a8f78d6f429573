// Package storagetest is the conformance suite for storage.Store. Every backend runs it
// unchanged (see storage/sqlite's tests), so a behaviour the rest of MyAccount relies on is
// asserted once, here, for all of them.
package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// Run runs the whole suite. newStore must return an empty, migrated store for each call; it
// is called once per leaf test and should register its own cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Users", userTests},
		{"Clients", clientTests},
		{"AuthRequests", authRequestTests},
		{"Sessions", sessionTests},
		{"Grants", grantTests},
		{"RefreshTokens", refreshTests},
		{"AccessTokenDenylist", denylistTests},
		{"Consents", consentTests},
		{"SigningKeys", keyTests},
		{"Transactions", txTests},
		{"DeleteExpired", gcTests},
		{"DeleteExpiredAccounts", gcAccountTests},
		{"PendingUsers", pendingUserTests},
		{"OneTimeTokens", oneTimeTokenTests},
		{"Captchas", captchaTests},
		{"Counters", counterTests},
		{"Leases", leaseTests},
		{"Outbox", outboxTests},
		{"Audit", auditTests},
		{"Roles", roleTests},
		{"AdminQueries", adminQueryTests},
		{"Registration", registrationTests},
		{"Licences", licenceTests},
		{"Phones", phoneTests},
		{"PushedRequests", parTests},
		{"Replay", replayTests},
		{"DPoPBinding", dpopBindingTests},
		{"MFA", mfaTests},
		{"RecoveryCodes", recoveryTests},
		{"TrustedBrowsers", browserTests},
		{"DeviceCodes", deviceCodeTests},
		{"DeviceRetry", deviceRetryTests},
		{"Concurrency", concurrencyTests},
		{"ConcurrencySingleUse", singleUseConcurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					s := newStore(t)
					tc.fn(t, s)
				})
			}
		})
	}
}

// test is one leaf of the suite; it gets a fresh store.
type test struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}

// errBoom is what test closures return to force a rollback.
var errBoom = errors.New("boom")

// base is the fixed "now" for calls that take one. It has sub-millisecond digits and a
// non-UTC zone on purpose: stores keep milliseconds and return UTC.
func base() time.Time {
	return time.Date(2024, 3, 10, 14, 30, 15, 123_456_789, time.FixedZone("UTC+2", 2*3600))
}

// wallNow is for the few calls that use the store's clock (GetAuthRequest and
// CompleteAuthRequest expiry): their fixtures must be relative to the real time.
func wallNow() time.Time { return time.Now() }

func ctx(t *testing.T) context.Context { return t.Context() }

func ptr[T any](v T) *T { return &v }

// must fails the test on an unexpected error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// equal compares with reflect.DeepEqual and prints both sides as JSON, which shows the
// values behind pointers.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("%s differs\n got: %s\nwant: %s", what, g, w)
	}
}

// ms is what a store returns for t: millisecond precision, UTC.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// stored returns a copy of the record as the store reads it back: times truncated to
// milliseconds in UTC (zero stays zero), durations in whole seconds, empty lists as nil.
func stored[T any](v *T) *T {
	c := *v
	normalize(reflect.ValueOf(&c).Elem())
	return &c
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

func normalize(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == timeType:
			if tm := f.Interface().(time.Time); !tm.IsZero() {
				f.Set(reflect.ValueOf(ms(tm)))
			}
		case f.Type() == reflect.PointerTo(timeType):
			if !f.IsNil() {
				f.Set(reflect.ValueOf(ptr(ms(*f.Interface().(*time.Time)))))
			}
		case f.Type() == durationType:
			f.Set(reflect.ValueOf(f.Interface().(time.Duration).Truncate(time.Second)))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			if f.Len() == 0 {
				f.Set(reflect.Zero(f.Type()))
			}
		}
	}
}

// race runs fn(i) for i in [0,n) on n goroutines released together and returns the errors
// by index; assertions happen on the test goroutine.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// countErrs counts nil errors and errors matching target; any other error fails the test.
func countErrs(t *testing.T, errs []error, target error) (ok, matched int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, target):
			matched++
		default:
			t.Errorf("goroutine %d: unexpected error %v", i, err)
		}
	}
	return ok, matched
}
