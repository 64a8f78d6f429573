package mail_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/storage"
)

// A task that panics fails its attempt (retried, then given up, each counted) instead of
// taking the process down; the panic is logged at ERROR with its stack.
func TestJobsOutboxTaskPanicFailsTheAttempt(t *testing.T) {
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	var logs syncbuf.Buffer
	var mu sync.Mutex
	var outcomes []string
	sender := senderFunc(func(ctx context.Context, m mail.Message) error { return nil })
	o := newOutbox(t, st, sender, "a", func(c *mail.OutboxConfig) {
		c.MaxAttempts = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.OnFailure = func(_, outcome string) { mu.Lock(); outcomes = append(outcomes, outcome); mu.Unlock() }
	})
	var calls atomic.Int32
	o.Handle("boom", func(ctx context.Context, payload []byte) error {
		calls.Add(1)
		if calls.Load() == 2 {
			panic("cannot send to ada@example.com") // a value naming the recipient
		}
		var m map[string]int
		m["x"] = 1 // a nil-map write: a real bug's panic
		return nil
	})
	run(t, o)
	if err := o.Enqueue(t.Context(), "boom", []byte("x")); err != nil {
		t.Fatal(err)
	}
	it := waitStatus(t, st, st.last(), storage.OutboxFailed)
	if it.Attempts != 2 || calls.Load() != 2 || !strings.Contains(it.LastError, "panic") {
		t.Fatalf("after panics: attempts %d, calls %d, last error %q", it.Attempts, calls.Load(), it.LastError)
	}
	mu.Lock()
	got := slices.Clone(outcomes)
	mu.Unlock()
	if !slices.Equal(got, []string{"retry", "given_up"}) {
		t.Fatalf("failures counted as %v, want [retry given_up]", got)
	}
	l := logs.String()
	if !strings.Contains(l, `level=ERROR msg="mail outbox: attempt panicked"`) || !strings.Contains(l, "runtime/debug.Stack") {
		t.Fatalf("the panic was not logged at ERROR with its stack:\n%s", l)
	}
	if strings.Contains(l, "ada@example.com") || strings.Contains(it.LastError, "ada@example.com") {
		t.Errorf("a panic's value named the recipient in the log or last_error:\n%s\n%s", l, it.LastError)
	}
}

// An item whose claims all ended without an outcome (its workers died mid-attempt, as a
// panic or an OOM kill would leave it) runs at most MaxAttempts times: the next claim gives
// it up untried instead of running it, and killing a worker, forever.
func TestJobsOutboxGivesUpAnItemAbandonedMaxAttemptsTimes(t *testing.T) {
	for _, tc := range []struct {
		abandoned int
		wantCalls int32
		want      string
	}{
		{abandoned: 2, wantCalls: 1, want: storage.OutboxSent}, // the third and last attempt runs
		{abandoned: 3, wantCalls: 0, want: storage.OutboxFailed},
		{abandoned: 5, wantCalls: 0, want: storage.OutboxFailed},
	} {
		st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
		var logs syncbuf.Buffer
		sender := senderFunc(func(ctx context.Context, m mail.Message) error { return nil })
		o := newOutbox(t, st, sender, "live", func(c *mail.OutboxConfig) {
			c.MaxAttempts = 3
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		var calls atomic.Int32
		o.Handle("poison", func(ctx context.Context, payload []byte) error { calls.Add(1); return nil })
		if err := o.Enqueue(t.Context(), "poison", []byte("x")); err != nil {
			t.Fatal(err)
		}
		for range tc.abandoned {
			// A worker claims it and dies: the claim lapses with no outcome recorded.
			got, err := st.ClaimOutbox(t.Context(), "dead", []string{"poison"}, 1, time.Millisecond, time.Now())
			if err != nil || len(got) != 1 {
				t.Fatalf("claim: %v %v", got, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		o.Work(t.Context())
		it := onlyItem(t, st, st.last())
		if calls.Load() != tc.wantCalls || it.Status != tc.want {
			t.Fatalf("after %d abandoned claims: task ran %d times (want %d), status %s (want %s)",
				tc.abandoned, calls.Load(), tc.wantCalls, it.Status, tc.want)
		}
		if tc.want == storage.OutboxFailed && !strings.Contains(logs.String(), `level=ERROR msg="mail outbox: giving up"`) {
			t.Fatalf("giving up was not logged at ERROR:\n%s", logs.String())
		}
	}
}
