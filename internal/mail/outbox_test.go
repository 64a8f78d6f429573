package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// openDB opens (or reopens) the SQLite file at path and closes it with the test.
func openDB(t *testing.T, path string) storage.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testSealer(t *testing.T) mail.Sealer {
	t.Helper()
	s, err := keys.NewSealer(bytes.Repeat([]byte{7}, keys.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newOutbox(t *testing.T, st storage.Store, sender mail.Sender, holder string, mod ...func(*mail.OutboxConfig)) *mail.Outbox {
	t.Helper()
	cfg := mail.OutboxConfig{Store: st, Sender: sender, Sealer: testSealer(t), Holder: holder,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), Poll: 20 * time.Millisecond,
		BaseDelay: 50 * time.Millisecond, MaxDelay: time.Second, SendTimeout: 5 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	o, err := mail.NewOutbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// run starts o's worker and stops it (waiting) when the test ends.
func run(t *testing.T, o *mail.Outbox) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// onlyItem returns the one outbox item of st (a test queues one).
func onlyItem(t *testing.T, st storage.Store, id string) *storage.OutboxItem {
	t.Helper()
	it, err := st.GetOutbox(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// recordingStore remembers the id of every item queued through it.
type recordingStore struct {
	storage.Store
	mu  sync.Mutex
	ids []string
}

func (r *recordingStore) EnqueueOutbox(ctx context.Context, it *storage.OutboxItem) error {
	err := r.Store.EnqueueOutbox(ctx, it)
	r.mu.Lock()
	r.ids = append(r.ids, it.ID)
	r.mu.Unlock()
	return err
}

func (r *recordingStore) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[len(r.ids)-1]
}

func smtpSender(t *testing.T, srv *mailtest.Server) mail.Sender {
	t.Helper()
	s, err := mail.NewSMTPSender(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), StartTLS: "none",
		From: "MyAccount <no-reply@myaccount.test>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOutboxDeliversOverSMTPAndSealsAtRest(t *testing.T) {
	srv := mailtest.NewServer(t)
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	o := newOutbox(t, st, smtpSender(t, srv), "a")
	link := "https://id.example/reset?token=very-secret-token"
	if err := o.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "Reset", Text: "Open " + link}); err != nil {
		t.Fatal(err)
	}
	it := onlyItem(t, st, st.last())
	if it.Status != storage.OutboxPending || bytes.Contains(it.Payload, []byte("very-secret-token")) || bytes.Contains(it.Payload, []byte("ada@")) {
		t.Fatalf("queued item is not sealed: %+v", it)
	}
	run(t, o)
	m := srv.WaitFor(t, "ada@example.com", 5*time.Second)
	if !strings.Contains(m.Text, link) {
		t.Fatalf("delivered text %q lacks the link", m.Text)
	}
	waitStatus(t, st, st.last(), storage.OutboxSent)
	if it := onlyItem(t, st, st.last()); len(it.Payload) != 0 || it.Attempts != 1 {
		t.Fatalf("a sent item keeps its payload or took several attempts: %+v", it)
	}
}

// waitStatus waits until the item reaches status (the worker records after delivering).
func waitStatus(t *testing.T, st storage.Store, id, status string) *storage.OutboxItem {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		it := onlyItem(t, st, id)
		if it.Status == status {
			return it
		}
		if time.Now().After(deadline) {
			t.Fatalf("item %s is %s (attempts %d, %q), want %s", id, it.Status, it.Attempts, it.LastError, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOutboxRetriesWithBackoffUntilTheRelayWorks(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Refuse(true)
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	o := newOutbox(t, st, smtpSender(t, srv), "a", func(c *mail.OutboxConfig) {
		c.BaseDelay, c.MaxDelay = 100*time.Millisecond, 10*time.Second
	})
	run(t, o)
	start := time.Now()
	if err := o.Send(t.Context(), mail.Message{To: "bob@example.com", Subject: "Hello", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	// Attempt n waits 2^(n-2) × 100ms ± half before it (jitter): attempts 1..4 take at
	// least 0 + 50 + 100 + 200 ms.
	for srv.Refused() < 4 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("only %d attempts in 10s", srv.Refused())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(start); took < 350*time.Millisecond {
		t.Fatalf("4 attempts within %v: no backoff", took)
	}
	it := onlyItem(t, st, st.last())
	if it.Status != storage.OutboxPending || !strings.Contains(it.LastError, "451") {
		t.Fatalf("after refusals: %+v", it)
	}
	srv.Refuse(false)
	srv.WaitFor(t, "bob@example.com", 10*time.Second)
	it = waitStatus(t, st, st.last(), storage.OutboxSent)
	if it.Attempts < 5 {
		t.Fatalf("sent after %d attempts, want at least 5", it.Attempts)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages delivered, want 1", n)
	}
}

func TestOutboxGivesUpAfterMaxAttempts(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Refuse(true)
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	var logs syncbuf.Buffer
	o := newOutbox(t, st, smtpSender(t, srv), "a", func(c *mail.OutboxConfig) {
		c.MaxAttempts = 3
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	run(t, o)
	if err := o.Send(t.Context(), mail.Message{To: "bob@example.com", Subject: "Hello", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	it := waitStatus(t, st, st.last(), storage.OutboxFailed)
	if it.Attempts != 3 || srv.Refused() != 3 || len(it.Payload) != 0 {
		t.Fatalf("given up after %d attempts (%d refused), payload %d bytes", it.Attempts, srv.Refused(), len(it.Payload))
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"mail outbox: giving up\"") {
		t.Fatalf("giving up was not logged at ERROR:\n%s", logs.String())
	}
}

// TestOutboxDeliveryErrorsNameNoAddress: relays echo the recipient in their refusals ("550
// 5.1.1 <bob@example.com>: Recipient address rejected"), and the sender names it too; what
// the row keeps as its last error and what the log says of a failed attempt name no address,
// retried or given up, and still say what failed.
func TestOutboxDeliveryErrorsNameNoAddress(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.RefuseRecipients(true)
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	var logs syncbuf.Buffer
	o := newOutbox(t, st, smtpSender(t, srv), "a", func(c *mail.OutboxConfig) {
		c.MaxAttempts = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	run(t, o)
	if err := o.Send(t.Context(), mail.Message{To: "bob.private@example.com", Subject: "Hello", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	it := waitStatus(t, st, st.last(), storage.OutboxFailed)
	if strings.Contains(it.LastError, "bob.private") || strings.Contains(it.LastError, "@example.com") {
		t.Errorf("the row's last error names the address: %q", it.LastError)
	}
	if !strings.Contains(it.LastError, "550") {
		t.Errorf("the row's last error no longer says what failed: %q", it.LastError)
	}
	out := logs.String()
	if !strings.Contains(out, "will retry") || !strings.Contains(out, "giving up") {
		t.Fatalf("the attempts were not logged:\n%s", out)
	}
	if strings.Contains(out, "bob.private") || strings.Contains(out, "@example.com") {
		t.Errorf("the log names the address:\n%s", out)
	}
}

// TestOutboxTellsOfGivenUpItems: a message given up (here a relay refusing its recipient) is
// told to the GivenUpFunc with its payload, whose address and kind name whose mail was lost,
// before the payload is dropped; a message delivered is not.
func TestOutboxTellsOfGivenUpItems(t *testing.T) {
	srv := mailtest.NewServer(t)
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	o := newOutbox(t, st, smtpSender(t, srv), "a", func(c *mail.OutboxConfig) { c.MaxAttempts = 1 })
	told := make(chan mail.Message, 2)
	o.OnGivenUp(func(ctx context.Context, kind string, payload []byte) {
		var m mail.Message
		if err := json.Unmarshal(payload, &m); err != nil || kind != storage.OutboxMessage {
			t.Errorf("told of a %s item with %q (%v)", kind, payload, err)
		}
		told <- m
	})
	run(t, o)
	if err := o.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "Hello", Text: "hi", Kind: mail.PasswordReset}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, st, st.last(), storage.OutboxSent)
	srv.RefuseRecipients(true)
	if err := o.Send(t.Context(), mail.Message{To: "bob@example.com", Subject: "Hello", Text: "hi", Kind: mail.Activation}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, st, st.last(), storage.OutboxFailed)
	select {
	case m := <-told:
		if m.To != "bob@example.com" || m.Kind != mail.Activation {
			t.Errorf("told of %q (%s), want bob@example.com's %s", m.To, m.Kind, mail.Activation)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not told of the given-up message")
	}
	if len(told) != 0 {
		t.Errorf("told of %d more items, want none: the delivered one was told", len(told))
	}
}

// TestOutboxTellsAKindsOwnOfItsGivenUpItems: a task's item given up is told to the function
// registered for its kind (only its service can read whose it was), and not to the one of
// every other kind.
func TestOutboxTellsAKindsOwnOfItsGivenUpItems(t *testing.T) {
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	o := newOutbox(t, st, senderFunc(func(ctx context.Context, m mail.Message) error { return nil }), "a",
		func(c *mail.OutboxConfig) { c.MaxAttempts = 1 })
	o.Handle("doomed", func(ctx context.Context, payload []byte) error { return errors.New("refused") })
	told := make(chan string, 2)
	o.OnGivenUp(func(ctx context.Context, kind string, payload []byte) { told <- "every kind's: " + kind })
	o.OnGivenUpOf("doomed", func(ctx context.Context, kind string, payload []byte) { told <- "its own: " + string(payload) })
	run(t, o)
	if err := o.Enqueue(t.Context(), "doomed", []byte("ada's")); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, st, st.last(), storage.OutboxFailed)
	select {
	case got := <-told:
		if want := "its own: ada's"; got != want {
			t.Errorf("told %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not told of the given-up task")
	}
}

func TestOutboxSurvivesRestartAndACrashedClaimer(t *testing.T) {
	srv := mailtest.NewServer(t)
	path := filepath.Join(t.TempDir(), "db.sqlite")
	first := openDB(t, path)
	o := newOutbox(t, first, smtpSender(t, srv), "first")
	// Queued by a server that stops before its worker runs ...
	for _, to := range []string{"one@example.com", "two@example.com"} {
		if err := o.Send(t.Context(), mail.Message{To: to, Subject: "Queued", Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	// ... one of them claimed by a worker that then died mid-send.
	claimed, err := first.ClaimOutbox(t.Context(), "first", []string{storage.OutboxMessage}, 1, 300*time.Millisecond, time.Now())
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	first.Close()

	second := openDB(t, path)
	run(t, newOutbox(t, second, smtpSender(t, srv), "second"))
	srv.WaitFor(t, "one@example.com", 10*time.Second)
	srv.WaitFor(t, "two@example.com", 10*time.Second)
}

func TestOutboxTwoWorkersSendEachMessageOnce(t *testing.T) {
	srv := mailtest.NewServer(t)
	path := filepath.Join(t.TempDir(), "db.sqlite")
	a, b := openDB(t, path), openDB(t, path) // two instances: two pools on one database
	oa := newOutbox(t, a, smtpSender(t, srv), "a")
	ob := newOutbox(t, b, smtpSender(t, srv), "b")
	const n = 30
	for i := range n {
		o := oa
		if i%2 == 1 {
			o = ob
		}
		if err := o.Send(t.Context(), mail.Message{To: fmt.Sprintf("u%02d@example.com", i), Subject: "once", Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	run(t, oa)
	run(t, ob)
	for i := range n {
		srv.WaitFor(t, fmt.Sprintf("u%02d@example.com", i), 10*time.Second)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	if got := len(srv.Messages()); got != n {
		t.Fatalf("%d messages delivered for %d queued", got, n)
	}
}

func TestOutboxRunsTasksAndRetriesThem(t *testing.T) {
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	var sent atomic.Int32
	sender := senderFunc(func(ctx context.Context, m mail.Message) error { sent.Add(1); return nil })
	o := newOutbox(t, st, sender, "a")
	var calls atomic.Int32
	o.Handle("greet", func(ctx context.Context, payload []byte) error {
		if calls.Add(1) == 1 {
			return errors.New("database hiccup")
		}
		return o.Send(ctx, mail.Message{To: string(payload), Subject: "hi", Text: "hi"})
	})
	run(t, o)
	if err := o.Enqueue(t.Context(), "greet", []byte("eve@example.com")); err != nil {
		t.Fatal(err)
	}
	task := st.ids[0]
	waitStatus(t, st, task, storage.OutboxSent)
	deadline := time.Now().Add(5 * time.Second)
	for sent.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the task's message was not sent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if calls.Load() != 2 {
		t.Fatalf("task ran %d times, want 2 (one failure, one retry)", calls.Load())
	}
}

func TestOutboxShutdownReleasesInFlightItems(t *testing.T) {
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	started := make(chan struct{})
	sender := senderFunc(func(ctx context.Context, m mail.Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	o := newOutbox(t, st, sender, "a")
	stop := run(t, o)
	if err := o.Send(t.Context(), mail.Message{To: "x@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	<-started
	stop()
	it := onlyItem(t, st, st.last())
	if it.Status != storage.OutboxPending || it.ClaimedBy != "" || it.NextAttemptAt.After(time.Now()) {
		t.Fatalf("after shutdown: %+v", it)
	}
}

// An item claimed in a batch but not attempted before the shutdown is released with the
// attempt its claim counted taken back: restarts must not use up an item's attempts (an
// item past MaxAttempts is given up untried).
func TestOutboxShutdownTakesBackUntriedAttempts(t *testing.T) {
	// Also when the batch of outcomes cannot be recorded and each is recorded alone: before,
	// the one-by-one path could not say "untried", and the item kept the attempt.
	for _, failBatches := range []bool{false, true} {
		t.Run(fmt.Sprintf("failBatches=%v", failBatches), func(t *testing.T) { shutdownTakesBack(t, failBatches) })
	}
}

func shutdownTakesBack(t *testing.T, failBatches bool) {
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	started := make(chan struct{}, 2)
	sender := senderFunc(func(ctx context.Context, m mail.Message) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	worker := &countingStore{Store: st, failBatches: failBatches}
	o := newOutbox(t, st, sender, "a", func(c *mail.OutboxConfig) { c.Parallel, c.WorkerStore = 1, worker })
	for _, to := range []string{"x@example.com", "y@example.com"} {
		if err := o.Send(t.Context(), mail.Message{To: to, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(t, o)
	<-started // one attempt running, the other waiting for the one slot
	stop()
	attempts := map[int]int{}
	for _, id := range st.ids {
		it := onlyItem(t, st, id)
		if it.Status != storage.OutboxPending || it.ClaimedBy != "" {
			t.Fatalf("after shutdown: %+v", it)
		}
		attempts[it.Attempts]++
	}
	if attempts[1] != 1 || attempts[0] != 1 {
		t.Errorf("attempts after shutdown %v: want the tried item at 1 and the untried one at 0", attempts)
	}
	if failBatches && worker.failedBatches.Load() == 0 {
		t.Error("no batch of outcomes failed: the one-by-one path was not taken")
	}
}

type senderFunc func(ctx context.Context, m mail.Message) error

func (f senderFunc) Send(ctx context.Context, m mail.Message) error { return f(ctx, m) }

// TestOutboxLeavesTasksItHasNoHandlerFor: during a rolling upgrade an older instance shares
// the queue with newer ones that queue kinds it does not know. It must leave those to them:
// claimed here, each would fail, wait out a backoff and at last be given up undelivered.
func TestOutboxLeavesTasksItHasNoHandlerFor(t *testing.T) {
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	var sent atomic.Int32
	sender := senderFunc(func(ctx context.Context, m mail.Message) error { sent.Add(1); return nil })
	older := newOutbox(t, st, sender, "older")
	newer := newOutbox(t, st, sender, "newer")
	var ran atomic.Int32
	newer.Handle("register", func(ctx context.Context, payload []byte) error { ran.Add(1); return nil })
	if err := newer.Enqueue(t.Context(), "register", []byte("eve@example.com")); err != nil {
		t.Fatal(err)
	}
	task := st.last()
	if err := older.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "hi", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	msg := st.last()
	// The older worker alone: it sends the message and leaves the task as it was.
	if n := older.Work(t.Context()); n != 1 {
		t.Fatalf("the older worker handled %d items, want 1 (the message)", n)
	}
	waitStatus(t, st, msg, storage.OutboxSent)
	if it := onlyItem(t, st, task); it.Status != storage.OutboxPending || it.Attempts != 0 || it.ClaimedBy != "" || it.LastError != "" {
		t.Fatalf("the older worker touched a task it cannot run: %+v", it)
	}
	// The newer one runs it at its first attempt, with no backoff to wait out.
	if n := newer.Work(t.Context()); n != 1 {
		t.Fatalf("the newer worker handled %d items, want 1 (the task)", n)
	}
	if it := waitStatus(t, st, task, storage.OutboxSent); it.Attempts != 1 || ran.Load() != 1 {
		t.Fatalf("the task took %d attempts and ran %d times, want 1 and 1", it.Attempts, ran.Load())
	}
}

// TestOutboxTaskRetryQueuesItsMailOnce: a task run again after an attempt that queued its
// mail (and then failed, or whose success went unrecorded) does not queue the mail again:
// through Send the mail is taken for queued, and through SendIn the transaction fails, rolling
// back what was to commit with the mail, and the task is done. Before, each run queued its
// own copy: two mails, the first one's link voided by the second's.
func TestOutboxTaskRetryQueuesItsMailOnce(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))
	st := &recordingStore{Store: db}
	var sent atomic.Int32
	o := newOutbox(t, st, senderFunc(func(ctx context.Context, m mail.Message) error { sent.Add(1); return nil }), "a")
	var runs, committed atomic.Int32
	// "plain" queues with Send, then fails its first run; "tx" queues with SendIn in a
	// transaction, and its first run fails after the commit.
	o.Handle("plain", func(ctx context.Context, payload []byte) error {
		runs.Add(1)
		if err := o.Send(ctx, mail.Message{To: "ada@example.com", Subject: "plain", Text: "hi"}); err != nil {
			return err
		}
		if runs.Load() == 1 {
			return errors.New("a failure after the mail was queued")
		}
		return nil
	})
	var txRuns atomic.Int32
	o.Handle("tx", func(ctx context.Context, payload []byte) error {
		n := txRuns.Add(1)
		err := db.InTx(ctx, func(tx storage.Store) error {
			return o.SendIn(ctx, tx, mail.Message{To: "bob@example.com", Subject: "tx", Text: "hi"})
		})
		if err != nil {
			return err
		}
		committed.Add(1)
		if n == 1 {
			return errors.New("the commit's answer was lost")
		}
		return nil
	})
	for _, kind := range []string{"plain", "tx"} {
		if err := o.Enqueue(t.Context(), kind, nil); err != nil {
			t.Fatal(err)
		}
	}
	tasks := slices.Clone(st.ids)
	run(t, o)
	for _, id := range tasks {
		if it := waitStatus(t, st, id, storage.OutboxSent); it.Attempts != 2 {
			t.Errorf("task %s done after %d attempts, want 2", it.Kind, it.Attempts)
		}
	}
	time.Sleep(200 * time.Millisecond) // a second mail would be out now
	if n := sent.Load(); n != 2 {
		t.Errorf("%d mails sent for two tasks, want 2 (one each)", n)
	}
	if n := committed.Load(); n != 1 {
		t.Errorf("the tx task's transaction committed %d times, want 1", n)
	}
}

// TestOutboxWriteIDsCountWritesOfOneName: a task run that writes two events of one name (two
// of one type for one account) stores both, not one taken for the other's repeat, and a run
// of it again, after an attempt whose outcome was lost, stores neither again: the k-th write
// of a name has the same id on every run.
func TestOutboxWriteIDsCountWritesOfOneName(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))
	st := &recordingStore{Store: db}
	o := newOutbox(t, st, senderFunc(func(ctx context.Context, m mail.Message) error { return nil }), "a")
	var runs atomic.Int32
	o.Handle("twice", func(ctx context.Context, payload []byte) error {
		for _, detail := range []string{"first", "second"} {
			if err := db.AddAuditEvent(ctx, &storage.AuditEvent{ID: mail.WriteID(ctx, "audit  twice_event"),
				Type: "twice_event", Detail: detail, CreatedAt: time.Now()}); err != nil {
				return err
			}
		}
		if runs.Add(1) == 1 {
			return errors.New("the answer of the writes was lost")
		}
		return nil
	})
	if err := o.Enqueue(t.Context(), "twice", nil); err != nil {
		t.Fatal(err)
	}
	run(t, o)
	if it := waitStatus(t, st, st.ids[0], storage.OutboxSent); it.Attempts != 2 {
		t.Fatalf("done after %d attempts, want 2", it.Attempts)
	}
	evs, err := db.QueryAuditEvents(t.Context(), storage.AuditQuery{Type: "twice_event", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Detail)
	}
	slices.Sort(got)
	if want := []string{"first", "second"}; !slices.Equal(got, want) {
		t.Errorf("events %q after two runs of a task writing two, want %q", got, want)
	}
}

// TestOutboxTaskRetriedTransactionKeepsItsIDs: a task's transaction that PostgreSQL made us
// run again (a deadlock) derives its event's and its queued item's ids as its first attempt
// did. Before, the second attempt derived them anew (the next in the run's counts), so when
// the task ran again after its outcome was lost, its clean run derived the first ids, did not
// find what the retried attempt had committed, and wrote the event and queued the mail twice.
func TestOutboxTaskRetriedTransactionKeepsItsIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	db, err := postgres.Open(t.Context(), pgtest.MigratedURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs := faultstore.New(db)
	st := &recordingStore{Store: fs}
	o := newOutbox(t, st, senderFunc(func(ctx context.Context, m mail.Message) error { return nil }), "a")
	var runs, queued atomic.Int32
	o.Handle("queued", func(ctx context.Context, payload []byte) error { queued.Add(1); return nil })
	o.Handle("retried", func(ctx context.Context, payload []byte) error {
		err := fs.InTx(ctx, func(tx storage.Store) error {
			if err := tx.AddAuditEvent(ctx, &storage.AuditEvent{ID: mail.WriteID(ctx, "audit retried_event"),
				Type: "retried_event", CreatedAt: time.Now()}); err != nil {
				return err
			}
			return o.EnqueueIn(ctx, tx, "queued", nil)
		})
		if err != nil {
			return err
		}
		if runs.Add(1) == 1 {
			return errors.New("the answer of the writes was lost")
		}
		return nil
	})
	// The first attempt's queueing deadlocks, after both ids were derived.
	rule := fs.Add(faultstore.Rule{Method: "EnqueueOutbox", Skip: 1, Times: 1, Err: &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}})
	if err := o.Enqueue(t.Context(), "retried", nil); err != nil {
		t.Fatal(err)
	}
	run(t, o)
	if it := waitStatus(t, st, st.ids[0], storage.OutboxSent); it.Attempts != 2 {
		t.Fatalf("done after %d attempts, want 2", it.Attempts)
	}
	if fs.Applied(rule) != 1 {
		t.Fatalf("the deadlock was injected %d times, want once", fs.Applied(rule))
	}
	time.Sleep(300 * time.Millisecond) // a second queued item, if any, is due at once
	evs, err := db.QueryAuditEvents(t.Context(), storage.AuditQuery{Type: "retried_event", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || queued.Load() != 1 {
		t.Errorf("after a retried transaction and a second run: %d events, %d items delivered; want 1 and 1", len(evs), queued.Load())
	}
}

// TestOutboxRetriedMessageKeepsItsMessageID: a message the relay took but whose answer was
// lost is sent again (the outbox cannot know it arrived), and the second copy carries the
// first one's Message-ID, so a receiver can tell it for a repeat; another message has its own.
func TestOutboxRetriedMessageKeepsItsMessageID(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.LoseAnswers(1)
	st := &recordingStore{Store: openDB(t, filepath.Join(t.TempDir(), "db.sqlite"))}
	o := newOutbox(t, st, smtpSender(t, srv), "a", func(c *mail.OutboxConfig) {
		c.BaseDelay, c.MaxDelay = 50*time.Millisecond, time.Second
	})
	run(t, o)
	for _, to := range []string{"bob@example.com", "eve@example.com"} {
		if err := o.Send(t.Context(), mail.Message{To: to, Subject: "Hello", Text: "hi"}); err != nil {
			t.Fatal(err)
		}
		srv.WaitFor(t, to, 10*time.Second)
		if to == "bob@example.com" {
			srv.WaitFor(t, to, 10*time.Second) // the copy sent again
			waitStatus(t, st, st.last(), storage.OutboxSent)
		}
	}
	var bob []string
	var eve string
	for _, m := range srv.Messages() {
		id := m.Header.Get("Message-Id")
		if id == "" || !strings.HasSuffix(id, "@myaccount.test>") {
			t.Fatalf("Message-ID %q", id)
		}
		if m.To[0] == "bob@example.com" {
			bob = append(bob, id)
		} else {
			eve = id
		}
	}
	if len(bob) != 2 || bob[0] != bob[1] {
		t.Fatalf("the message and its copy sent again: Message-IDs %q, want two of one", bob)
	}
	if eve == "" || eve == bob[0] {
		t.Fatalf("another message's Message-ID %q, want its own (the first: %q)", eve, bob[0])
	}
}
