package secret_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
)

func TestLimiterBoundsConcurrencyAndQueue(t *testing.T) {
	l := secret.NewLimiter(2, 3)
	var running, peak atomic.Int32
	gate := make(chan struct{})
	started := make(chan struct{}, 5)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range 5 { // 2 running + 3 queued: all admitted
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Do(t.Context(), func() {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				started <- struct{}{}
				<-gate
				running.Add(-1)
			})
		}()
	}
	<-started
	<-started
	waitFor(t, func() bool { r, w := l.Stats(); return r == 2 && w == 3 })
	// The queue is full: the next one is refused at once.
	start := time.Now()
	if err := l.Do(t.Context(), func() { t.Error("ran beyond the queue") }); !errors.Is(err, secret.ErrBusy) {
		t.Fatalf("beyond the queue: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("refusal took %v, want immediate", d)
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("hash %d: %v", i, err)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
	if r, w := l.Stats(); r != 0 || w != 0 {
		t.Errorf("after: running %d, waiting %d", r, w)
	}
}

func TestLimiterWaiterGivesUpWithContext(t *testing.T) {
	l := secret.NewLimiter(1, 1)
	release, err := l.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the deadline: %v, want DeadlineExceeded", err)
	}
	// The one that gave up left the queue: another may wait again.
	done := make(chan error, 1)
	go func() {
		r, err := l.Acquire(t.Context())
		if err == nil {
			r()
		}
		done <- err
	}()
	waitFor(t, func() bool { _, w := l.Stats(); return w == 1 })
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNilLimiterIsUnlimited(t *testing.T) {
	var l *secret.Limiter
	ran := false
	if err := l.Do(t.Context(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("nil limiter: ran=%v err=%v", ran, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// AcquireAfter runs its work with a place in the queue and before the wait for a slot: not
// when the queue is full (the refusal does nothing), and while every slot is taken (the work
// does not wait for one); its error gives the place back.
func TestAcquireAfter(t *testing.T) {
	l := secret.NewLimiter(1, 1)
	hold, err := l.Acquire(t.Context()) // the one slot
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		release, err := l.AcquireAfter(t.Context(), func() error { close(ran); return nil })
		if err == nil {
			release()
		}
		got <- err
	}()
	select {
	case <-ran: // ran while the slot was still held
	case <-time.After(5 * time.Second):
		t.Fatal("before did not run while the slot was taken")
	}
	// The queue is full now: a third is refused without running its work.
	if _, err := l.AcquireAfter(t.Context(), func() error { t.Error("before ran for a refused acquire"); return nil }); !errors.Is(err, secret.ErrBusy) {
		t.Errorf("third acquire: %v, want ErrBusy", err)
	}
	hold()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// before's error is returned as it is, and gives the place back.
	boom := errors.New("boom")
	if _, err := l.AcquireAfter(t.Context(), func() error { return boom }); err != boom {
		t.Errorf("AcquireAfter = %v, want before's error", err)
	}
	if running, waiting := l.Stats(); running != 0 || waiting != 0 {
		t.Errorf("after before's error: %d running, %d waiting", running, waiting)
	}
}
