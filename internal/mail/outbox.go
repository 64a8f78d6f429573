package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"regexp"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Outbox defaults; see the fields of OutboxConfig.
const (
	DefaultOutboxPoll        = time.Second
	DefaultOutboxBaseDelay   = 10 * time.Second
	DefaultOutboxMaxDelay    = 30 * time.Minute
	DefaultOutboxMaxAttempts = 10
	DefaultOutboxSendTimeout = time.Minute
	DefaultOutboxParallel    = 4
	DefaultOutboxLinger      = 100 * time.Millisecond
	DefaultOutboxClaimLease  = 45 * time.Second
)

// Sealer encrypts payloads at rest (keys.Sealer); kid is bound as associated data.
type Sealer interface {
	Seal(kid string, plaintext []byte) ([]byte, error)
	Open(kid string, sealed []byte) ([]byte, error)
}

// Task turns a queued task's payload into mail (usually by calling a Sender, which queues the
// message). A returned error is retried with backoff like a failed send; a task that decides
// to send nothing returns nil.
//
// A task may run again after an attempt that committed some of its work: the attempt failed
// after a commit, the answer to its commit was lost, or the worker's record of its success
// was (the item is claimed again once its claim lapses). So what a run queues with its
// context has ids of the run's own: the n-th item a run of task T queues has the same id on
// every run of T, and one an earlier run queued is not queued again. Through Send or Enqueue
// it is taken for queued (nil). Through SendIn or EnqueueIn it fails the transaction, which
// rolls back what was to commit with it (the link or code it carries stays the one the
// earlier run committed with the mail that went), and the task, returning that error, is
// done. A task's transactions that queue therefore come last in it.
type Task func(ctx context.Context, payload []byte) error

// OutboxConfig configures an Outbox. Store, Sender and Holder are required.
type OutboxConfig struct {
	// Store is where Send queues (the request's store, with its deadlines).
	Store storage.OutboxStore
	// WorkerStore is where the worker claims and records outcomes; nil means Store. The
	// server passes the store beneath its request guard: the worker's polling is no
	// request's work.
	WorkerStore storage.OutboxStore
	// Sender delivers for the worker (SMTP, or the log); the requests never call it.
	Sender Sender
	// Sealer seals payloads: they may carry live reset and activation links, which the
	// database otherwise only holds as hashes. Nil stores them in clear (tests).
	Sealer Sealer
	// Holder names this instance in claims.
	Holder string
	Logger *slog.Logger
	// Now is the clock of claims and retries; nil is time.Now. It is the wall clock on
	// purpose, not the domain clock tests move: retries are about the relay and the other
	// instances, which live in real time.
	Now func() time.Time
	// Poll is how often an idle worker looks for due items (an indexed read); a Send in this
	// process wakes it at once.
	Poll time.Duration
	// BaseDelay is the wait after the first failure; each further failure doubles it up to
	// MaxDelay, with jitter. After MaxAttempts attempts the item is given up (logged at
	// ERROR and kept as failed until housekeeping purges it). An attempt counts from its
	// claim: an item claimed MaxAttempts times by workers that died mid-attempt is given
	// up at its next claim, untried. A panic in a task or the Sender is a failed attempt; an
	// attempt the worker cut because it could not keep its claim (see ClaimLease) is
	// retried and does not count.
	BaseDelay, MaxDelay time.Duration
	MaxAttempts         int
	// SendTimeout bounds one attempt.
	SendTimeout time.Duration
	// ClaimLease is how long a claim lasts: the worker renews its batch's claims every third
	// of it while their attempts run, so an attempt may take longer, and the items of a
	// worker that died (killed, out of memory) wait this long at most before another takes
	// them over. An item is never claimed by a second worker while the first may still be
	// sending it: a worker that cannot renew (its database unreachable) cuts its attempts a
	// third of a lease before the last claim it renewed ends, which leaves time to record
	// their outcomes and for clocks of instances that differ. Zero is
	// DefaultOutboxClaimLease.
	ClaimLease time.Duration
	// Parallel is how many items one worker sends at once.
	Parallel int
	// ClaimBatch is how many items the worker claims at a time (at least Parallel): one
	// commit claims them all, one renews their claims each third of ClaimLease, and one
	// records their outcomes, where each item took two commits of its own. The batch's
	// attempts end within ClaimBatch/Parallel rounds of SendTimeout. Zero is twice Parallel.
	ClaimBatch int
	// Linger is how long the worker waits after a Send wakes it before it claims, so that
	// mails queued in a burst (a sign-in notice each) go out in one batch. Zero is
	// DefaultOutboxLinger; negative claims at once.
	//
	// 100ms is a tenth of the idle Poll and nothing beside a relay's own seconds, yet at
	// the ~35 new-browser sign-ins a second of one core it gathers some four notices a
	// batch: half a commit a mail instead of two.
	Linger time.Duration
	// OnFailure, when set, is called for each failed attempt with the item's kind and
	// "retry" or "given_up" (metrics: which kind of work is failing or was lost).
	OnFailure func(kind, outcome string)
}

// Outbox is the Sender requests use: Send stores the message in SQL (one INSERT) and
// returns, so a request does the same work whatever the message and however slow the relay.
// Run is the worker that delivers: on every instance, any number of them, each item claimed
// by one worker at a time (see storage.OutboxStore).
type Outbox struct {
	cfg  OutboxConfig
	wake chan struct{}
	// mu guards tasks, claim, lost and lostOf.
	mu     sync.RWMutex
	tasks  map[string]Task
	claim  []string // the kinds ClaimOutbox asks for: messages and tasks' kinds, sorted
	lost   GivenUpFunc
	lostOf map[string]GivenUpFunc // a kind's own (OnGivenUpOf), told instead of lost
}

// GivenUpFunc is told of each item the worker gives up, with its kind and its payload opened
// (an item whose payload cannot be opened is not told of), before the payload is dropped
// with the item's last error: what was lost, and whose, can then be recorded for support
// without keeping the payload or any link or code it carries (account.Service.GivenUp
// writes the account's activity event). It must neither keep nor log the payload. Its ctx
// is that of a task run of the item (WriteID): an item given up again (its record lost) is
// told again, and what it writes under WriteID's ids is written once.
type GivenUpFunc func(ctx context.Context, kind string, payload []byte)

// OnGivenUp sets the function told of given-up items of the kinds that have none of their
// own (nil: none).
func (o *Outbox) OnGivenUp(fn GivenUpFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lost = fn
}

// OnGivenUpOf sets the function told of given-up items of kind, instead of OnGivenUp's
// (nil: OnGivenUp's again). Only the service that runs a kind's tasks can read their
// payloads and say whose they were, so it registers this beside its Handle.
func (o *Outbox) OnGivenUpOf(kind string, fn GivenUpFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if fn == nil {
		delete(o.lostOf, kind)
		return
	}
	o.lostOf[kind] = fn
}

var _ Sender = (*Outbox)(nil)

// NewOutbox returns an outbox with cfg's zero fields defaulted.
func NewOutbox(cfg OutboxConfig) (*Outbox, error) {
	if cfg.Store == nil || cfg.Sender == nil || cfg.Holder == "" {
		return nil, errors.New("mail: outbox needs a store, a sender and a holder")
	}
	if cfg.WorkerStore == nil {
		cfg.WorkerStore = cfg.Store
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Poll, DefaultOutboxPoll)
	def(&cfg.BaseDelay, DefaultOutboxBaseDelay)
	def(&cfg.MaxDelay, DefaultOutboxMaxDelay)
	def(&cfg.SendTimeout, DefaultOutboxSendTimeout)
	def(&cfg.ClaimLease, DefaultOutboxClaimLease)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultOutboxMaxAttempts
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultOutboxParallel
	}
	if cfg.ClaimBatch <= 0 {
		cfg.ClaimBatch = 2 * cfg.Parallel
	}
	cfg.ClaimBatch = max(cfg.ClaimBatch, cfg.Parallel)
	if cfg.Linger == 0 {
		cfg.Linger = DefaultOutboxLinger
	}
	return &Outbox{cfg: cfg, wake: make(chan struct{}, 1), tasks: map[string]Task{},
		claim: []string{storage.OutboxMessage}, lostOf: map[string]GivenUpFunc{}}, nil
}

// Handle registers the task run for items of kind (not storage.OutboxMessage).
func (o *Outbox) Handle(kind string, t Task) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tasks[kind] = t
	ks := []string{storage.OutboxMessage}
	for k := range o.tasks {
		ks = append(ks, k)
	}
	slices.Sort(ks) // one query text, whatever the map's order
	o.claim = ks    // a new slice: a claim running may still read the old one
}

// Send queues m for delivery; an error means it was not queued.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("mail: queue message: %w", err)
	}
	return o.Enqueue(ctx, storage.OutboxMessage, b)
}

// Enqueue queues a task of kind (or, with storage.OutboxMessage, a JSON Message) and wakes
// this process's worker.
func (o *Outbox) Enqueue(ctx context.Context, kind string, payload []byte) error {
	if err := o.enqueue(ctx, o.cfg.Store, kind, payload, false); err != nil {
		return err
	}
	o.Nudge()
	return nil
}

// SendIn queues m through st, a transaction's store, so that the message commits (or rolls
// back) with what it tells of; it costs the transaction one INSERT and no commit of its own.
// It does not wake the worker, which would look before the commit: the caller calls Nudge
// once the transaction committed.
func (o *Outbox) SendIn(ctx context.Context, st storage.OutboxStore, m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("mail: queue message: %w", err)
	}
	return o.enqueue(ctx, st, storage.OutboxMessage, b, true)
}

// EnqueueIn queues a task of kind through st, a transaction's store, as SendIn queues a
// message: it commits (or rolls back) with the transaction, and the caller calls Nudge once
// that committed.
func (o *Outbox) EnqueueIn(ctx context.Context, st storage.OutboxStore, kind string, payload []byte) error {
	return o.enqueue(ctx, st, kind, payload, true)
}

// enqueue queues payload through st; inTx says st is a transaction's (SendIn, EnqueueIn).
func (o *Outbox) enqueue(ctx context.Context, st storage.OutboxStore, kind string, payload []byte, inTx bool) error {
	id, ofTask := itemID(ctx)
	sealed, err := o.seal(id, payload)
	if err != nil {
		return err
	}
	now := o.cfg.Now().UTC()
	err = st.EnqueueOutbox(ctx, &storage.OutboxItem{ID: id, Kind: kind, Payload: sealed,
		CreatedAt: now, NextAttemptAt: now})
	switch {
	case err == nil:
		return nil
	case ofTask && errors.Is(err, storage.ErrConflict):
		// An earlier run of the task queued it (see Task).
		if !inTx {
			return nil
		}
		return fmt.Errorf("mail: queue %s: %w", kind, errQueuedBefore)
	}
	return fmt.Errorf("mail: queue %s: %w", kind, err)
}

// errQueuedBefore is what a task's transaction meets when it queues an item an earlier run
// of the task queued: the task is done (see Task).
var errQueuedBefore = errors.New("queued by an earlier attempt of its task")

// taskRun is a task's run, named in its context: the task's item, how many items the run
// has queued so far, and how many writes of each name it has derived ids for.
type taskRun struct {
	id string
	// mu guards n and writes.
	mu     sync.Mutex
	n      int
	writes map[string]int
}

type taskRunKey struct{}

// withTaskRun returns ctx carrying a new run of the task of item id: its derived ids, which
// each attempt of a transaction the store runs again derives from where the first began.
func withTaskRun(ctx context.Context, id string) context.Context {
	r := &taskRun{id: id}
	return storage.WithTxAttempts(context.WithValue(ctx, taskRunKey{}, r), r.mark)
}

// mark saves the run's counts and returns what restores them.
func (r *taskRun) mark() func() {
	r.mu.Lock()
	n, writes := r.n, maps.Clone(r.writes)
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.n = n
		r.writes = maps.Clone(writes)
		r.mu.Unlock()
	}
}

// itemID is the id of an item queued with ctx: a new random one, or, within a task's run,
// the n-th item of the run's, derived from the task's id and n (ofTask), the same on every
// run of the task.
func itemID(ctx context.Context) (id string, ofTask bool) {
	r, ok := ctx.Value(taskRunKey{}).(*taskRun)
	if !ok {
		return secret.NewID(), false
	}
	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()
	return secret.DerivedID(fmt.Sprintf("outbox task %s item %d", r.id, n)), true
}

// WriteID is the id of the k-th write named what of the task run ctx carries: derived from
// the task's item, what and k, the same on every run of the task that makes the same writes.
// A store that takes a row with an id once (the audit log) then takes a re-run's write as
// done already, where nothing queued tells the re-run that its earlier run wrote it (see
// Task). k is counted per run so that two writes of one name in a run (two events of one
// type for one account) are two rows, not one taken as the other's repeat. Outside a task's
// run it is "": the store mints the id, in the order the writes are made (the activity page
// lists one millisecond's events by it).
//
// A transaction the store runs again (a PostgreSQL deadlock) derives its writes' and items'
// ids as its first attempt did (withTaskRun), so a later run finds them.
func WriteID(ctx context.Context, what string) string {
	r, ok := ctx.Value(taskRunKey{}).(*taskRun)
	if !ok {
		return ""
	}
	r.mu.Lock()
	if r.writes == nil {
		r.writes = map[string]int{}
	}
	r.writes[what]++
	k := r.writes[what]
	r.mu.Unlock()
	if k == 1 {
		// The first keeps the id it had before writes were counted: a task run by an
		// older instance and again by this one writes its event once across the upgrade.
		return secret.DerivedID(fmt.Sprintf("outbox task %s write %s", r.id, what))
	}
	return secret.DerivedID(fmt.Sprintf("outbox task %s write#%d %s", r.id, k, what))
}

// Nudge wakes the worker (if it is idle) to look for due items now.
func (o *Outbox) Nudge() {
	select {
	case o.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run delivers until ctx ends: it drains what is due, then waits for a nudge (and lingers)
// or the next poll. In-flight attempts are aborted when ctx ends and their items released
// for retry.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.cfg.Poll)
	defer t.Stop()
	for {
		// Batch after batch while they come back full; a partial one took all that was
		// due, and whatever was queued since has nudged the worker.
		for o.batch(ctx) == o.cfg.ClaimBatch {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wake:
			if !o.linger(ctx) {
				return
			}
		}
	}
}

// linger lets the rest of a burst be queued, then drops the wake-ups it sent: the coming
// claim sees their items, which were committed before they nudged. It reports false when
// ctx ended.
func (o *Outbox) linger(ctx context.Context) bool {
	if o.cfg.Linger > 0 {
		t := time.NewTimer(o.cfg.Linger)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	select {
	case <-o.wake:
	default:
	}
	return true
}

// Work handles due items until none is left (or ctx ends) and returns how many it handled.
func (o *Outbox) Work(ctx context.Context) int {
	done := 0
	for ctx.Err() == nil {
		n := o.batch(ctx)
		if n == 0 {
			return done
		}
		done += n
	}
	return done
}

// batch claims up to ClaimBatch due items, attempts them, records their outcomes and
// returns how many it claimed (0 also when the claim failed).
func (o *Outbox) batch(ctx context.Context) int {
	// No attempt of the batch runs past sendBy; the claims, renewed meanwhile, end at most a
	// lease after the last renewal.
	sendBy := time.Now().Add(o.sendBudget())
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	claimedAt := time.Now() // before the claim's own clock is read: the end it writes is no earlier
	items, err := o.cfg.WorkerStore.ClaimOutbox(cctx, o.cfg.Holder, o.kinds(), o.cfg.ClaimBatch, o.cfg.ClaimLease, o.cfg.Now().UTC())
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			o.cfg.Logger.ErrorContext(ctx, "mail outbox: claim", "err", err)
		}
		return 0
	}
	if len(items) > 0 {
		o.record(ctx, o.attemptAll(ctx, items, sendBy, claimedAt))
	}
	return len(items)
}

// kinds is what this worker claims: messages and the tasks it has a handler for. An item
// queued by a newer instance (a kind added in a rolling upgrade) waits for one of those
// instead of being claimed here and failed, retried with backoff and at last given up.
func (o *Outbox) kinds() []string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.claim
}

// interrupted is the last error of an item released on shutdown.
const interrupted = "interrupted by shutdown"

// storeTimeout bounds each of the worker's own store calls.
const storeTimeout = 10 * time.Second

// sendBudget is how long a batch's attempts may take in all: ClaimBatch/Parallel rounds of
// SendTimeout.
func (o *Outbox) sendBudget() time.Duration {
	rounds := (o.cfg.ClaimBatch + o.cfg.Parallel - 1) / o.cfg.Parallel
	return time.Duration(rounds) * o.cfg.SendTimeout
}

// batchOutcomes is what a batch's attempts leave to record: the items still held and their
// outcomes, in the same order.
type batchOutcomes struct {
	items    []*storage.OutboxItem
	outcomes []storage.OutboxOutcome
}

// attemptAll attempts the items claimed at claimedAt, at most Parallel at a time and none
// past sendBy, holding their claims meanwhile (hold), and returns their outcomes. An item
// whose claim another worker took over is left out: it is that worker's to record.
func (o *Outbox) attemptAll(ctx context.Context, items []*storage.OutboxItem, sendBy, claimedAt time.Time) batchOutcomes {
	bctx, cancel := context.WithDeadline(ctx, sendBy)
	defer cancel()
	l := o.hold(bctx, items, claimedAt)
	outcomes := make([]storage.OutboxOutcome, len(items))
	slots := make(chan struct{}, o.cfg.Parallel)
	var wg sync.WaitGroup
	for i, it := range items {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			outcomes[i] = o.attempt(ctx, l, it)
		})
	}
	wg.Wait()
	lost := l.stop()
	out := batchOutcomes{items: items, outcomes: outcomes}
	if len(lost) > 0 {
		out = batchOutcomes{}
		for i, it := range items {
			if !lost[it.ID] {
				out.items = append(out.items, it)
				out.outcomes = append(out.outcomes, outcomes[i])
			}
		}
	}
	return out
}

// attempt handles one claimed item within the batch's claims (l) and returns the outcome to
// record; ctx ending means shutdown.
func (o *Outbox) attempt(ctx context.Context, l *claims, it *storage.OutboxItem) storage.OutboxOutcome {
	ictx, end := l.attempting(it.ID)
	defer end()
	err := ctx.Err() // shut down before its turn came: released untried
	if err == nil {
		err = cut(ictx) // cut (or its claim lost) before its turn came: released untried as well
	}
	untried := err != nil
	switch {
	case err != nil:
	case it.Attempts > o.cfg.MaxAttempts:
		// The claim counts the attempt, so the earlier MaxAttempts claims all ended without
		// an outcome: their workers died mid-attempt (a crash, an OOM kill). Running it again
		// would likely kill this one too, so it is given up untried instead of forever.
		err = fmt.Errorf("%w: %d claims ended without an outcome", errAbandoned, it.Attempts-1)
	default:
		actx, cancel := context.WithTimeout(ictx, o.cfg.SendTimeout)
		err = o.runSafely(actx, it)
		if c := cut(actx); err != nil && c != nil {
			err = c // why it failed: the context the attempt saw end
		}
		cancel()
	}
	log := o.cfg.Logger.With("id", it.ID, "kind", it.Kind, "attempt", it.Attempts)
	now := o.cfg.Now().UTC()
	var why string // the error as the row keeps and the log says it
	if err != nil {
		why = errText(err)
	}
	switch {
	case errors.Is(err, errQueuedBefore):
		log.InfoContext(ctx, "mail outbox: task done by an earlier attempt")
		return storage.OutboxOutcome{ID: it.ID, Status: storage.OutboxSent, At: now}
	case err == nil:
		return storage.OutboxOutcome{ID: it.ID, Status: storage.OutboxSent, At: now}
	case ctx.Err() != nil:
		// Shutting down: try again soon, elsewhere or after the restart.
		return storage.OutboxOutcome{ID: it.ID, Status: storage.OutboxPending, LastError: interrupted, At: now, Untried: untried}
	case errors.Is(err, errClaimNotKept) || errors.Is(err, errClaimLost):
		// Cut by this worker, which could not keep its claim (its database): not the item's
		// failure, so it is retried, not given up, and its attempt is taken back, so that an
		// outage cutting batch after batch neither uses up nor gives up the mail.
		if !untried {
			o.failed(it.Kind, "retry")
		}
		next := now.Add(o.backoff(it.Attempts))
		log.WarnContext(ctx, "mail outbox: attempt cut; will retry", "err", why, "next", next)
		return storage.OutboxOutcome{ID: it.ID, Status: storage.OutboxPending, LastError: why, At: next, Untried: true}
	case errors.Is(err, ErrUndeliverable) || errors.Is(err, errAbandoned) || it.Attempts >= o.cfg.MaxAttempts:
		log.ErrorContext(ctx, "mail outbox: giving up", "err", why)
		o.failed(it.Kind, "given_up")
		o.givenUp(ctx, it)
		return storage.OutboxOutcome{ID: it.ID, Status: storage.OutboxFailed, LastError: why, At: now}
	}
	o.failed(it.Kind, "retry")
	next := now.Add(o.backoff(it.Attempts))
	log.WarnContext(ctx, "mail outbox: attempt failed; will retry", "err", why, "next", next)
	return storage.OutboxOutcome{ID: it.ID, Status: storage.OutboxPending, LastError: why, At: next}
}

// givenUp tells the GivenUpFunc, if any, of it, given up, within its own storeTimeout (even
// on shutdown). A panic in it is logged: the outcome is recorded all the same.
func (o *Outbox) givenUp(ctx context.Context, it *storage.OutboxItem) {
	o.mu.RLock()
	fn, ok := o.lostOf[it.Kind]
	if !ok {
		fn = o.lost
	}
	o.mu.RUnlock()
	if fn == nil {
		return
	}
	payload, err := o.open(it.ID, it.Payload)
	if err != nil {
		return
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			o.cfg.Logger.ErrorContext(ctx, "mail outbox: telling of a given-up item panicked", "id", it.ID, "kind", it.Kind,
				"panic", errText(fmt.Errorf("%v", v)), "stack", string(debug.Stack()))
		}
	}()
	fn(withTaskRun(gctx, it.ID), it.Kind, payload)
}

// record writes a batch's outcomes in one transaction or, if that fails, one by one. They
// are recorded even when ctx ended (shutdown): the claims are released now instead of
// lapsing. The store is closed only after the worker returns.
func (o *Outbox) record(ctx context.Context, b batchOutcomes) {
	items, outcomes := b.items, b.outcomes
	if len(items) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	rctx, cancel := context.WithTimeout(ctx, storeTimeout)
	lost, err := o.cfg.WorkerStore.RecordOutbox(rctx, o.cfg.Holder, outcomes)
	cancel()
	if err == nil {
		for _, id := range lost {
			i := slices.IndexFunc(items, func(it *storage.OutboxItem) bool { return it.ID == id })
			o.unrecorded(ctx, items[i], outcomes[i], storage.ErrNotFound)
		}
		return
	}
	o.cfg.Logger.WarnContext(ctx, "mail outbox: record a batch; recording one by one", "err", err, "items", len(items))
	for i, oc := range outcomes {
		// Each in a batch of its own, so one that cannot be recorded costs only itself, and
		// an untried release still takes back the attempt its claim counted.
		rctx, cancel := context.WithTimeout(ctx, storeTimeout)
		lost, err := o.cfg.WorkerStore.RecordOutbox(rctx, o.cfg.Holder, []storage.OutboxOutcome{oc})
		cancel()
		if err == nil && len(lost) > 0 {
			err = storage.ErrNotFound
		}
		if err != nil {
			o.unrecorded(ctx, items[i], oc, err)
		}
	}
}

// unrecorded logs an outcome the store did not take (ErrNotFound: the claim had lapsed).
func (o *Outbox) unrecorded(ctx context.Context, it *storage.OutboxItem, oc storage.OutboxOutcome, err error) {
	log := o.cfg.Logger.With("id", it.ID, "kind", it.Kind, "attempt", it.Attempts, "err", err)
	switch {
	case oc.Status == storage.OutboxSent:
		// Delivered but not recorded: it may go out again once the claim lapses.
		log.ErrorContext(ctx, "mail outbox: record delivery")
	case oc.Status == storage.OutboxFailed:
		log.ErrorContext(ctx, "mail outbox: record failure")
	case oc.LastError == interrupted:
		log.WarnContext(ctx, "mail outbox: release on shutdown")
	default:
		log.ErrorContext(ctx, "mail outbox: schedule retry")
	}
}

func (o *Outbox) failed(kind, outcome string) {
	if o.cfg.OnFailure != nil {
		o.cfg.OnFailure(kind, outcome)
	}
}

// ErrUndeliverable marks an item no retry can help: its payload cannot be opened or
// decoded. Such an item is given up at its first attempt (logged at ERROR, counted
// "given_up"), not retried for hours to the same end. Tasks decode their payloads with
// DecodeTask, which returns it.
var ErrUndeliverable = errors.New("undeliverable")

// DecodeTask decodes a task's JSON payload into v. A payload that does not decode is
// ErrUndeliverable, told without any of the payload's content (which the error is logged and
// stored with): json's own errors quote numbers and characters of it.
func DecodeTask(kind string, payload []byte, v any) error {
	err := json.Unmarshal(payload, v)
	if err == nil {
		return nil
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	why := "not a JSON object of its kind"
	switch {
	case errors.As(err, &syn):
		why = fmt.Sprintf("malformed JSON at byte %d of %d", syn.Offset, len(payload))
	case errors.As(err, &typ):
		why = fmt.Sprintf("field %q is not a %s", typ.Field, typ.Type)
	}
	return fmt.Errorf("%w: decode %s task: %s", ErrUndeliverable, kind, why)
}

// errAbandoned marks an item whose earlier attempts all ended without an outcome.
var errAbandoned = errors.New("abandoned")

// runSafely is run with a panic turned into the attempt's error: a task's bug must fail its
// item (retried, then given up), not bring the process down with every other item's work.
func (o *Outbox) runSafely(ctx context.Context, it *storage.OutboxItem) (err error) {
	defer func() {
		if v := recover(); v != nil {
			// The panic's value may hold the recipient, as an error may (errText).
			o.cfg.Logger.ErrorContext(ctx, "mail outbox: attempt panicked", "id", it.ID, "kind", it.Kind,
				"attempt", it.Attempts, "panic", errText(fmt.Errorf("%v", v)), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return o.run(ctx, it)
}

// run opens the item and sends it or runs its task.
func (o *Outbox) run(ctx context.Context, it *storage.OutboxItem) error {
	payload, err := o.open(it.ID, it.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUndeliverable, err)
	}
	if it.Kind == storage.OutboxMessage {
		var m Message
		if err := DecodeTask(it.Kind, payload, &m); err != nil {
			return err
		}
		m.ID = it.ID
		return o.cfg.Sender.Send(ctx, m)
	}
	o.mu.RLock()
	t := o.tasks[it.Kind]
	o.mu.RUnlock()
	if t == nil {
		// Not claimed without a handler (kinds); only a claim by hand or a bug comes here.
		return fmt.Errorf("no handler for task %q", it.Kind)
	}
	return t(withTaskRun(ctx, it.ID), payload)
}

// backoff is the wait after the attempts-th failure: BaseDelay doubled per earlier failure,
// capped at MaxDelay, with "equal jitter" (half fixed, half random) so that items failing
// together (a relay outage) do not retry in lock step.
func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.cfg.MaxDelay
	if attempts >= 1 && attempts < 31 {
		if e := o.cfg.BaseDelay << (attempts - 1); e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(half+1)
}

func (o *Outbox) seal(id string, payload []byte) ([]byte, error) {
	if o.cfg.Sealer == nil {
		return payload, nil
	}
	b, err := o.cfg.Sealer.Seal("outbox:"+id, payload)
	if err != nil {
		return nil, fmt.Errorf("mail: seal outbox item: %w", err)
	}
	return b, nil
}

func (o *Outbox) open(id string, payload []byte) ([]byte, error) {
	if o.cfg.Sealer == nil {
		return payload, nil
	}
	return o.cfg.Sealer.Open("outbox:"+id, payload)
}

// errText is what the row keeps, and the log says, of a failed attempt's error: enough to
// diagnose, bounded, and naming no email address. The sender names the recipient, and
// relays echo it in their refusals ("550 5.1.1 <ada@example.com>: Recipient address
// rejected"); the row outlives the payload it was dropped with, and logs go further still.
func errText(err error) string {
	s := addressLike.ReplaceAllStringFunc(err.Error(), func(a string) string {
		if a == "@" {
			return a
		}
		return "[address]"
	})
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

// addressLike matches what may be an email address in an error's text: the characters
// around an @ up to a space, bracket, quote or separator. It takes more than addresses (a
// Message-ID's "id@host"), which costs a diagnosis nothing.
var addressLike = regexp.MustCompile(`[^\s<>()\[\]{}"'\\,;:]*@[^\s<>()\[\]{}"'\\,;:]*`)
