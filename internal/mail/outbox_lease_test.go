package mail_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestOutboxLongAttemptKeepsItsClaim: an attempt that runs for several claim leases keeps
// its item, renewed a lease at a time: another worker polling meanwhile neither claims nor
// sends it, and it is sent once. Before, the claim lasted the whole batch's budget and half a
// minute more, which is also how long a killed worker held its mail.
func TestOutboxLongAttemptKeepsItsClaim(t *testing.T) {
	const lease, takes = 500 * time.Millisecond, 2500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "db.sqlite")
	da, db := openDB(t, path), openDB(t, path) // two instances: two pools on one database
	st := &recordingStore{Store: da}
	started := make(chan struct{})
	var sentA, sentB atomic.Int32
	oa := newOutbox(t, st, senderFunc(func(ctx context.Context, m mail.Message) error {
		close(started)
		select {
		case <-time.After(takes):
			sentA.Add(1)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}), "a", func(c *mail.OutboxConfig) { c.ClaimLease = lease })
	ob := newOutbox(t, db, senderFunc(func(ctx context.Context, m mail.Message) error { sentB.Add(1); return nil }), "b",
		func(c *mail.OutboxConfig) { c.ClaimLease = lease })
	if err := oa.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	id := st.last()
	run(t, oa)
	<-started
	run(t, ob)
	// While it is sent the claim stays a's and never reaches further than a lease ahead:
	// a killed a would hold it no longer.
	ends := map[time.Time]bool{}
	for it := onlyItem(t, da, id); it.Status == storage.OutboxPending; it = onlyItem(t, da, id) {
		now := time.Now()
		if it.ClaimedBy == "" {
			break // recorded: sent (checked below) and released
		}
		if it.ClaimedBy != "a" || it.ClaimedUntil == nil {
			t.Fatalf("while a sends it: %+v", it)
		}
		if ahead := it.ClaimedUntil.Sub(now); ahead > lease+50*time.Millisecond {
			t.Fatalf("claimed %v ahead, more than the %v lease", ahead, lease)
		}
		ends[*it.ClaimedUntil] = true
		time.Sleep(20 * time.Millisecond)
	}
	it := waitStatus(t, da, id, storage.OutboxSent)
	if it.Attempts != 1 || sentA.Load() != 1 || sentB.Load() != 0 {
		t.Errorf("sent after %d attempts, %d times by a and %d by b; want 1, 1 and 0", it.Attempts, sentA.Load(), sentB.Load())
	}
	// Claimed once and renewed about every third of a lease while the attempt ran.
	if n, want := len(ends), int(takes/lease); n < want {
		t.Errorf("the claim's end moved %d times during an attempt of %v, want at least %d", n, takes, want)
	}
}

// TestOutboxKilledWorkersMailIsTakenOverAfterOneLease: a worker that dies mid-attempt (its
// process killed: it neither renews nor records) holds its mail for one claim lease; then
// another worker sends it. Before, it held it for twice SendTimeout and half a minute.
func TestOutboxKilledWorkersMailIsTakenOverAfterOneLease(t *testing.T) {
	const lease = 500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "db.sqlite")
	da, db := openDB(t, path), openDB(t, path)
	st := &recordingStore{Store: da}
	dead := faultstore.New(da)
	claimed := make(chan time.Time, 1)
	release := make(chan struct{})
	oa := newOutbox(t, st, senderFunc(func(ctx context.Context, m mail.Message) error {
		claimed <- time.Now()
		dead.Fail("") // killed: from now on nothing of a's reaches the database ...
		<-release     // ... and its attempt neither ends nor heeds its context
		return errors.New("killed")
	}), "a", func(c *mail.OutboxConfig) { c.WorkerStore, c.ClaimLease = dead, lease })
	sentB := make(chan time.Time, 1)
	ob := newOutbox(t, db, senderFunc(func(ctx context.Context, m mail.Message) error { sentB <- time.Now(); return nil }), "b",
		func(c *mail.OutboxConfig) { c.ClaimLease = lease })
	if err := oa.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	id := st.last()
	run(t, oa)
	t.Cleanup(func() { close(release) }) // before a's worker is stopped (cleanups run last first)
	at := <-claimed
	run(t, ob)
	select {
	case sent := <-sentB:
		if took := sent.Sub(at); took < lease*2/3 {
			t.Errorf("b sent it %v after a claimed it, within a's %v lease", took, lease)
		}
	case <-time.After(lease + 3*time.Second):
		t.Fatalf("b has not taken over a's item %v after a claimed it (a %v lease)", lease+3*time.Second, lease)
	}
	it := waitStatus(t, db, id, storage.OutboxSent)
	if it.Attempts != 2 {
		t.Errorf("sent at attempt %d, want 2 (a's, then b's)", it.Attempts)
	}
}

// TestOutboxCutsAttemptsWhenItCannotRenew: a worker whose renewals fail (its database
// unreachable) cuts the batch's attempts before its claims end, so that another worker taking
// them over once they lapse never sends alongside it. A cut attempt is released for a retry,
// not given up (even at its last attempt: the fault was the database's, not the mail's), and
// not taken for a shutdown; the item goes out once renewals work again.
func TestOutboxCutsAttemptsWhenItCannotRenew(t *testing.T) {
	const lease = 600 * time.Millisecond
	db := openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))
	st := &recordingStore{Store: db}
	fs := faultstore.New(db)
	rule := fs.Add(faultstore.Rule{Method: "ExtendOutboxClaims", Err: faultstore.ErrInjected})
	var (
		mu    sync.Mutex
		calls int
		cut   time.Time
		until time.Time
	)
	o := newOutbox(t, st, senderFunc(func(ctx context.Context, m mail.Message) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if !first {
			return nil
		}
		it, err := db.GetOutbox(ctx, st.last())
		if err != nil || it.ClaimedUntil == nil {
			t.Errorf("the claimed item: %+v, %v", it, err)
			return err
		}
		<-ctx.Done()
		mu.Lock()
		cut, until = time.Now(), *it.ClaimedUntil
		mu.Unlock()
		return ctx.Err()
	}), "a", func(c *mail.OutboxConfig) {
		c.WorkerStore, c.ClaimLease, c.MaxAttempts = fs, lease, 1
		c.BaseDelay, c.MaxDelay = 500*time.Millisecond, 500*time.Millisecond
	})
	if err := o.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	id := st.last()
	run(t, o)
	deadline := time.Now().Add(5 * time.Second)
	for it := onlyItem(t, db, id); it.LastError == ""; it = onlyItem(t, db, id) {
		if time.Now().After(deadline) {
			t.Fatalf("the attempt was not cut and recorded within 5s: %+v", it)
		}
		time.Sleep(10 * time.Millisecond)
	}
	it := onlyItem(t, db, id)
	mu.Lock()
	if cut.IsZero() || !cut.Before(until) {
		t.Errorf("the attempt was cut at %v, not before its claim's end %v", cut, until)
	}
	mu.Unlock()
	if it.Status != storage.OutboxPending || it.ClaimedBy != "" || it.Attempts != 0 ||
		!strings.Contains(it.LastError, "renew") || strings.Contains(it.LastError, "shutdown") {
		t.Errorf("after the cut, want pending, released, its attempt taken back and a renewal's error: %+v", it)
	}
	if fs.Applied(rule) == 0 {
		t.Error("no renewal was tried")
	}
	fs.Clear()
	if it := waitStatus(t, db, id, storage.OutboxSent); it.Attempts != 1 {
		t.Errorf("sent at attempt %d, want 1", it.Attempts)
	}
}

// TestOutboxCutsAnAttemptWhoseClaimWasTakenOver: a renewal that finds an item taken over
// (another worker claimed it: a clock far ahead of ours, beyond the margin claims keep)
// cuts that item's attempt at once, so that it is not sent by both for longer, and leaves the
// batch's other attempts running; it records nothing over the new holder's claim.
func TestOutboxCutsAnAttemptWhoseClaimWasTakenOver(t *testing.T) {
	const lease = 600 * time.Millisecond
	db := openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))
	st := &recordingStore{Store: db}
	type ended struct {
		to  string
		at  time.Time
		err error
	}
	ran := make(chan ended, 2)
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	o := newOutbox(t, st, senderFunc(func(ctx context.Context, m mail.Message) error {
		started <- struct{}{}
		select {
		case <-ctx.Done():
			ran <- ended{m.To, time.Now(), ctx.Err()}
			return ctx.Err()
		case <-release:
			ran <- ended{m.To, time.Now(), nil}
			return nil
		}
	}), "a", func(c *mail.OutboxConfig) { c.ClaimLease, c.SendTimeout = lease, 10*time.Second })
	for _, to := range []string{"one@example.com", "two@example.com"} {
		if err := o.Send(t.Context(), mail.Message{To: to, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(t, o)
	<-started
	<-started
	// Another holder whose clock is an hour ahead sees a's claims lapsed and takes one.
	taken, err := db.ClaimOutbox(t.Context(), "b", []string{storage.OutboxMessage}, 1, time.Hour, time.Now().Add(time.Hour))
	if err != nil || len(taken) != 1 {
		t.Fatalf("b's claim: %v %v", taken, err)
	}
	at := time.Now()
	select {
	case r := <-ran:
		if r.err == nil || r.at.Sub(at) > lease {
			t.Errorf("the first attempt to end: %s at %v after the take-over (%v), want the taken one cut within a lease", r.to, r.at.Sub(at), r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no attempt was cut within 5s of the take-over")
	}
	close(release)
	r := <-ran
	if r.err != nil {
		t.Errorf("the other attempt: %v, want it left to finish", r.err)
	}
	stop()
	for _, id := range st.ids {
		it := onlyItem(t, db, id)
		switch {
		case id == taken[0].ID && (it.ClaimedBy != "b" || it.Status != storage.OutboxPending || it.LastError != ""):
			t.Errorf("the taken item: %+v, want b's claim untouched", it)
		case id != taken[0].ID && it.Status != storage.OutboxSent:
			t.Errorf("the other item: %+v, want sent", it)
		}
	}
}
