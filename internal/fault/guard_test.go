package fault_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

func guarded(t *testing.T, timeout time.Duration) (storage.Store, *faultstore.Store, *bytes.Buffer) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), t.TempDir()+"/g.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs := faultstore.New(db)
	var logs bytes.Buffer
	return fault.GuardStore(fs, timeout, slog.New(slog.NewTextHandler(&logs, nil))), fs, &logs
}

func TestGuardClassifies(t *testing.T) {
	st, fs, logs := guarded(t, time.Second)
	ctx, rec := fault.NewContext(context.Background())

	// A domain answer is not a failure.
	if _, err := st.GetUser(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) || fault.Is(err) {
		t.Fatalf("unknown user: %v, want ErrNotFound unmarked", err)
	}
	if rec.Err() != nil || logs.Len() != 0 {
		t.Fatalf("not-found recorded as a failure: %v / %s", rec.Err(), logs)
	}
	// A database failure is marked, recorded once and logged at ERROR with its cause.
	fs.Fail("GetUser")
	_, err := st.GetUser(ctx, "x")
	if !fault.Is(err) || !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("failure: %v, want marked and wrapping the cause", err)
	}
	if rec.Count() != 1 || !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "method=GetUser") {
		t.Fatalf("failure not recorded/logged: count %d, log %s", rec.Count(), logs)
	}
	fs.Clear()

	// A transaction callback's own error is the caller's business, not a failure.
	mine := errors.New("refused by the caller")
	ctx2, rec2 := fault.NewContext(context.Background())
	err = st.InTx(ctx2, func(tx storage.Store) error { return mine })
	if !errors.Is(err, mine) || fault.Is(err) || rec2.Err() != nil {
		t.Fatalf("callback error: %v (recorded %v), want it unmarked", err, rec2.Err())
	}
	// So is an Update* callback's (a reset refused for a locked account): before, the store
	// returned it and the guard took it for a database failure, logged it at ERROR and had
	// the request answered 503 "try again" instead of the refusal.
	if err := st.CreateUser(ctx2, &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com"}); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	if _, err := st.UpdateUser(ctx2, "u1", func(*storage.User) error { return mine }); !errors.Is(err, mine) || fault.Is(err) {
		t.Fatalf("UpdateUser callback error: %v, want it unmarked", err)
	}
	if rec2.Err() != nil || logs.Len() != 0 {
		t.Fatalf("UpdateUser callback error recorded as a failure: %v / %s", rec2.Err(), logs)
	}
	// A failure of the update itself still is one.
	fs.Fail("UpdateUser")
	if _, err := st.UpdateUser(ctx2, "u1", func(*storage.User) error { return nil }); !fault.Is(err) || rec2.Err() == nil {
		t.Fatalf("UpdateUser failure: %v (recorded %v), want it marked", err, rec2.Err())
	}
	fs.Clear()
	ctx2, rec2 = fault.NewContext(context.Background())

	// A failing call inside a transaction is a failure, logged once.
	fs.Fail("CountRecoveryCodes")
	logs.Reset()
	err = st.InTx(ctx2, func(tx storage.Store) error {
		_, err := tx.CountRecoveryCodes(ctx2, "u")
		return err
	})
	if !fault.Is(err) || rec2.Err() == nil || strings.Count(logs.String(), "level=ERROR") != 1 {
		t.Fatalf("failure inside a transaction: %v, recorded %v, log %s", err, rec2.Err(), logs)
	}
}

func TestGuardDeadline(t *testing.T) {
	st, fs, logs := guarded(t, 50*time.Millisecond)
	fs.Add(faultstore.Rule{Method: "GetClient", Delay: time.Minute})
	ctx, rec := fault.NewContext(context.Background())
	start := time.Now()
	_, err := st.GetClient(ctx, "c")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a stalled call took %v under a 50ms deadline", took)
	}
	if !fault.Is(err) || !errors.Is(err, context.DeadlineExceeded) || rec.Err() == nil {
		t.Fatalf("stalled call: %v, want a recorded deadline failure", err)
	}
	if !strings.Contains(logs.String(), "deadline") {
		t.Errorf("log does not say the deadline passed: %s", logs)
	}
	// The rest of that request does not wait out a deadline per call: it never reaches the
	// store (asserted by the calls made, not by a time, which a loaded host would stretch).
	fs.ResetCalls()
	if _, err := st.GetUser(ctx, "u"); !fault.Is(err) || len(fs.Calls()) != 0 {
		t.Errorf("call after a stall: %v, store calls %v; want a failure without a call", err, fs.Calls())
	}
	// Another request is not affected.
	if _, err := st.GetUser(context.Background(), "u"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("another request: %v, want ErrNotFound", err)
	}
}

// BenchmarkGuard is the guard's cost per store call (a deadline, the stalled-request check)
// over a call that does nothing, next to the bare call.
func BenchmarkGuard(b *testing.B) {
	db, err := sqlite.Open(b.Context(), b.TempDir()+"/g.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	fs := faultstore.New(db)
	fs.Add(faultstore.Rule{Method: "GetUser", Err: storage.ErrNotFound})
	ctx, _ := fault.NewContext(context.Background())
	for _, bc := range []struct {
		name string
		st   storage.Store
	}{{"bare", fs}, {"guarded", fault.GuardStore(fs, 5*time.Second, slog.New(slog.DiscardHandler))}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.st.GetUser(ctx, "u"); !errors.Is(err, storage.ErrNotFound) {
					b.Fatal(err)
				}
			}
		})
	}
}
