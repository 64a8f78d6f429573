package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage/sqlite"
)

// A counter's key holds an email or IP address (lockout, rate limits); a failed call's error,
// which is logged, names only the key's kind.
func TestCounterErrorsDoNotNameTheKey(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "myaccount.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	const key = "pwfail:secret.person@example.com"
	_, err1 := db.HitCounter(ctx, key, time.Minute, time.Now())
	_, err2 := db.CounterValue(ctx, key, time.Minute, time.Now())
	_, _, err3 := db.GetCounter(ctx, key)
	err4 := db.ResetCounter(ctx, key)
	for i, err := range []error{err1, err2, err3, err4} {
		if err == nil {
			t.Fatalf("call %d with a cancelled context succeeded", i+1)
		}
		if strings.Contains(err.Error(), "secret.person") || !strings.Contains(err.Error(), "pwfail:") {
			t.Errorf("call %d: %q, want the key's kind and not the address", i+1, err)
		}
	}
}
