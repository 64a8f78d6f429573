package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/storage"
)

// panickyStore panics in its first DeleteExpired, as a bug in the sweep would.
type panickyStore struct {
	storage.Store
	panicked atomic.Bool
}

func (p *panickyStore) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	if p.panicked.CompareAndSwap(false, true) {
		panic("sweep bug")
	}
	return p.Store.DeleteExpired(ctx, now)
}

// A job that panics ends only its own turn: it is logged at ERROR with its stack, the
// instance lives on (the test binary with it), still serves, and the jobs stop cleanly.
func TestJobsPanicInAJobIsRecovered(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	e := newEnvWith(t, envOptions{logTo: logs, wrapStore: func(s storage.Store) storage.Store {
		return &panickyStore{Store: s}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.RunJobs(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `msg="job panicked"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no panic logged:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	l := logs.String()
	if !strings.Contains(l, `level=ERROR msg="job panicked"`) || !strings.Contains(l, "job=housekeeping") ||
		!strings.Contains(l, "sweep bug") || !strings.Contains(l, "runtime/debug.Stack") {
		t.Fatalf("the panic was not logged at ERROR with the job and its stack:\n%s", l)
	}
	// The server still serves.
	res, err := e.http.Client().Get(e.http.URL + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz after the panic: %v %v", res, err)
	}
	res.Body.Close()
}

// deadlineStore records the deadline of the pending-account purge's first read.
type deadlineStore struct {
	storage.Store
	got chan time.Time
}

func (d *deadlineStore) ListPendingUsers(ctx context.Context, before time.Time) ([]*storage.User, error) {
	dl, _ := ctx.Deadline() // zero without one
	select {
	case d.got <- dl:
	default:
	}
	return d.Store.ListPendingUsers(ctx, before)
}

// TestJobsTurnEndsWithItsLease: a job's turn is stopped before its lease lapses (half its
// period plus a minute): past it another instance takes the lease and runs the job beside
// it. The purge of pending accounts runs every 2 s here, so its lease is 61 s, shorter than
// the per-call database deadline (2 m here) that would otherwise hide the turn's own.
func TestJobsTurnEndsWithItsLease(t *testing.T) {
	t.Parallel()
	ds := &deadlineStore{got: make(chan time.Time, 1)}
	e := newEnvWith(t, envOptions{
		wrapStore: func(s storage.Store) storage.Store { ds.Store = s; return ds },
		configure: func(c *config.Config) {
			c.Accounts.PurgeInterval = config.Duration(2 * time.Second)
			c.Database.Timeout = config.Duration(2 * time.Minute)
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { e.srv.RunJobs(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case dl := <-ds.got:
		if dl.IsZero() {
			t.Fatal("the purge runs without a deadline: it may outlive its lease")
		}
		lease := start.Add(61 * time.Second)
		if !dl.Before(lease) || dl.Before(lease.Add(-time.Minute)) {
			t.Fatalf("the purge's deadline is %v after its start, want shortly before its lease's 61s", dl.Sub(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the purge did not run")
	}
}
