package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
