package mail_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// countingStore counts the worker's calls: claims (polls) and those that took items (one
// transaction each), and the calls that record outcomes: all of them, those of a single
// outcome, and the batches it failed (with failBatches, every call of more than one
// outcome fails, as a batch whose transaction cannot commit would).
type countingStore struct {
	storage.Store
	failBatches                                    bool
	polls, claims, records, singles, failedBatches atomic.Int32
}

func (c *countingStore) ClaimOutbox(ctx context.Context, holder string, kinds []string, limit int, ttl time.Duration, now time.Time) ([]*storage.OutboxItem, error) {
	items, err := c.Store.ClaimOutbox(ctx, holder, kinds, limit, ttl, now)
	c.polls.Add(1)
	if len(items) > 0 {
		c.claims.Add(1)
	}
	return items, err
}

func (c *countingStore) RecordOutbox(ctx context.Context, holder string, outcomes []storage.OutboxOutcome) ([]string, error) {
	c.records.Add(1)
	if len(outcomes) == 1 {
		c.singles.Add(1)
	}
	if c.failBatches && len(outcomes) > 1 {
		c.failedBatches.Add(1)
		return nil, faultstore.ErrInjected
	}
	return c.Store.RecordOutbox(ctx, holder, outcomes)
}

// inbox is a Sender that keeps the recipients, for tests that need no SMTP exchange.
type inbox struct {
	mu sync.Mutex
	to []string
}

func (in *inbox) Send(ctx context.Context, m mail.Message) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.to = append(in.to, m.To)
	return nil
}

// waitFor waits until n messages have been sent.
func (in *inbox) waitFor(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		in.mu.Lock()
		got := len(in.to)
		in.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages sent within %v", got, n, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOutboxDeliversABurstInBatches(t *testing.T) {
	const n, batch = 40, 16
	tests := []struct {
		name string
		// queue queues the burst: through queue (the worker's outbox) or other (one on the
		// same database whose worker does not run).
		queue func(t *testing.T, worker, other *mail.Outbox)
	}{
		{"queued before one nudge", func(t *testing.T, worker, other *mail.Outbox) {
			sendAll(t, other, 0, n)
			worker.Nudge()
		}},
		{"sent at once while the worker lingers", func(t *testing.T, worker, other *mail.Outbox) {
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() { sendAll(t, worker, g*n/4, (g+1)*n/4) })
			}
			wg.Wait()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))
			counted := &countingStore{Store: db}
			var in inbox
			worker := newOutbox(t, db, &in, "a", func(c *mail.OutboxConfig) {
				c.WorkerStore, c.Parallel, c.ClaimBatch = counted, 4, batch
				c.Poll, c.Linger = time.Minute, 500*time.Millisecond
			})
			other := newOutbox(t, db, &in, "b")
			run(t, worker)
			waitCount(t, &counted.polls, 1) // past the worker's first look, at start
			tc.queue(t, worker, other)
			in.waitFor(t, n, 10*time.Second)
			waitCount(t, &counted.records, int32(counted.claims.Load()))

			maxTx := int32((n+batch-1)/batch + 1)
			claims, records := counted.claims.Load(), counted.records.Load()
			t.Logf("%d mails: %d claim and %d outcome transactions, %.2f commits a mail",
				n, claims, records, float64(claims+records)/n)
			if claims > maxTx || records > maxTx {
				t.Errorf("%d claim and %d outcome transactions for %d mails, want at most %d each", claims, records, n, maxTx)
			}
			if claims != records {
				t.Errorf("outcomes recorded in %d transactions for %d claims, want one each", records, claims)
			}
			in.mu.Lock()
			defer in.mu.Unlock()
			if len(in.to) != n {
				t.Errorf("%d messages sent for %d queued", len(in.to), n)
			}
		})
	}
}

// sendAll queues the messages to u<from>..u<to-1>.
func sendAll(t *testing.T, o *mail.Outbox, from, to int) {
	for i := from; i < to; i++ {
		if err := o.Send(context.Background(), mail.Message{To: fmt.Sprintf("u%02d@example.com", i), Subject: "s", Text: "t"}); err != nil {
			t.Error(err)
		}
	}
}

// waitCount waits until c reaches want: the worker records after it sent.
func waitCount(t *testing.T, c *atomic.Int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("count %d, want %d", c.Load(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOutboxSendsALoneMailAfterTheLinger(t *testing.T) {
	sent := make(chan time.Time, 1)
	sender := senderFunc(func(ctx context.Context, m mail.Message) error { sent <- time.Now(); return nil })
	db := openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))
	counted := &countingStore{Store: db}
	o := newOutbox(t, db, sender, "a", func(c *mail.OutboxConfig) {
		c.WorkerStore = counted
		c.Poll, c.Linger = time.Minute, 0 // the default linger; only the nudge can wake the worker
	})
	run(t, o)
	waitCount(t, &counted.polls, 1) // the worker's first look, at start, found nothing
	start := time.Now()
	if err := o.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-sent:
		if took := at.Sub(start); took < mail.DefaultOutboxLinger {
			t.Errorf("sent after %v, before the linger (%v) was over", took, mail.DefaultOutboxLinger)
		}
	case <-time.After(mail.DefaultOutboxLinger + time.Second):
		t.Fatalf("not sent within %v", mail.DefaultOutboxLinger+time.Second)
	}
}

func TestOutboxRecordsOneByOneWhenTheBatchFails(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))
	counted := &countingStore{Store: db, failBatches: true}
	sender := senderFunc(func(ctx context.Context, m mail.Message) error {
		if m.To == "bad@example.com" {
			return fmt.Errorf("550 no such user")
		}
		return nil
	})
	st := &recordingStore{Store: db}
	o := newOutbox(t, st, sender, "a", func(c *mail.OutboxConfig) {
		c.WorkerStore, c.MaxAttempts, c.Linger = counted, 2, -1
	})
	for _, to := range []string{"one@example.com", "bad@example.com", "two@example.com"} {
		if err := o.Send(t.Context(), mail.Message{To: to, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	run(t, o)
	for i, want := range []string{storage.OutboxSent, storage.OutboxFailed, storage.OutboxSent} {
		it := waitStatus(t, st, st.ids[i], want)
		if it.ClaimedBy != "" {
			t.Errorf("item %d keeps its claim: %+v", i, it)
		}
	}
	// The three claimed at once, their batch failed, then each recorded alone; the bad one
	// retried once, alone, then given up.
	if s, b := counted.singles.Load(), counted.failedBatches.Load(); s != 4 || b != 1 {
		t.Errorf("%d outcomes recorded alone after %d failed batches, want 4 after 1", s, b)
	}
}
