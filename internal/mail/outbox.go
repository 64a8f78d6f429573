package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
)

// Sealer encrypts payloads at rest (keys.Sealer); kid is bound as associated data.
type Sealer interface {
	Seal(kid string, plaintext []byte) ([]byte, error)
	Open(kid string, sealed []byte) ([]byte, error)
}

// Task turns a queued task's payload into mail (usually by calling a Sender, which queues the
// message). A returned error is retried with backoff like a failed send; a task that decides
// to send nothing returns nil.
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
	// ERROR and kept as failed until housekeeping purges it).
	BaseDelay, MaxDelay time.Duration
	MaxAttempts         int
	// SendTimeout bounds one attempt; the claim outlives it by a margin, so an item is
	// never claimed by a second worker while the first may still be sending it.
	SendTimeout time.Duration
	// Parallel is how many items one worker handles at once (and claims at a time).
	Parallel int
	// OnFailure, when set, is called for each failed attempt with "retry" or "given_up"
	// (metrics).
	OnFailure func(outcome string)
}

// Outbox is the Sender requests use: Send stores the message in SQL (one INSERT) and
// returns, so a request does the same work whatever the message and however slow the relay.
// Run is the worker that delivers: on every instance, any number of them, each item claimed
// by one worker at a time (see storage.OutboxStore).
type Outbox struct {
	cfg   OutboxConfig
	wake  chan struct{}
	mu    sync.RWMutex
	tasks map[string]Task
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
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultOutboxMaxAttempts
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultOutboxParallel
	}
	return &Outbox{cfg: cfg, wake: make(chan struct{}, 1), tasks: map[string]Task{}}, nil
}

// Handle registers the task run for items of kind (not storage.OutboxMessage).
func (o *Outbox) Handle(kind string, t Task) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tasks[kind] = t
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
	if err := o.enqueue(ctx, o.cfg.Store, kind, payload); err != nil {
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
	return o.enqueue(ctx, st, storage.OutboxMessage, b)
}

func (o *Outbox) enqueue(ctx context.Context, st storage.OutboxStore, kind string, payload []byte) error {
	id := secret.NewID()
	sealed, err := o.seal(id, payload)
	if err != nil {
		return err
	}
	now := o.cfg.Now().UTC()
	if err := st.EnqueueOutbox(ctx, &storage.OutboxItem{ID: id, Kind: kind, Payload: sealed,
		CreatedAt: now, NextAttemptAt: now}); err != nil {
		return fmt.Errorf("mail: queue %s: %w", kind, err)
	}
	return nil
}

// Nudge wakes the worker (if it is idle) to look for due items now.
func (o *Outbox) Nudge() {
	select {
	case o.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run delivers until ctx ends: it drains what is due, then waits for a nudge or the next
// poll. In-flight attempts are aborted when ctx ends and their items released for retry.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.cfg.Poll)
	defer t.Stop()
	for {
		o.Work(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wake:
		}
	}
}

// Work handles due items until none is left (or ctx ends) and returns how many it handled.
func (o *Outbox) Work(ctx context.Context) int {
	done := 0
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, storeTimeout)
		items, err := o.cfg.WorkerStore.ClaimOutbox(cctx, o.cfg.Holder, o.cfg.Parallel, o.claimTTL(), o.cfg.Now().UTC())
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				o.cfg.Logger.ErrorContext(ctx, "mail outbox: claim", "err", err)
			}
			return done
		}
		if len(items) == 0 {
			return done
		}
		var wg sync.WaitGroup
		for _, it := range items {
			wg.Go(func() { o.attempt(ctx, it) })
		}
		wg.Wait()
		done += len(items)
	}
	return done
}

// storeTimeout bounds each of the worker's own store calls.
const storeTimeout = 10 * time.Second

// claimTTL outlives an attempt by a margin, so a claim never lapses while its holder may
// still be sending.
func (o *Outbox) claimTTL() time.Duration { return o.cfg.SendTimeout + 30*time.Second }

// attempt handles one claimed item and records the outcome.
func (o *Outbox) attempt(ctx context.Context, it *storage.OutboxItem) {
	actx, cancel := context.WithTimeout(ctx, o.cfg.SendTimeout)
	err := o.run(actx, it)
	cancel()
	// The outcome is recorded even when ctx ended (shutdown): the claim is released now
	// instead of lapsing. The store is closed only after the worker returns.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer rcancel()
	log := o.cfg.Logger.With("id", it.ID, "kind", it.Kind, "attempt", it.Attempts)
	now := o.cfg.Now().UTC()
	switch {
	case err == nil:
		if ferr := o.cfg.WorkerStore.FinishOutbox(rctx, it.ID, o.cfg.Holder, storage.OutboxSent, "", now); ferr != nil {
			// Delivered but not recorded: it may go out again once the claim lapses.
			log.ErrorContext(rctx, "mail outbox: record delivery", "err", ferr)
		}
		return
	case ctx.Err() != nil:
		// Shutting down: try again soon, elsewhere or after the restart.
		if rerr := o.cfg.WorkerStore.RetryOutbox(rctx, it.ID, o.cfg.Holder, now, "interrupted by shutdown"); rerr != nil {
			log.WarnContext(rctx, "mail outbox: release on shutdown", "err", rerr)
		}
		return
	case errors.Is(err, errUndeliverable) || it.Attempts >= o.cfg.MaxAttempts:
		log.ErrorContext(rctx, "mail outbox: giving up", "err", err)
		o.failed("given_up")
		if ferr := o.cfg.WorkerStore.FinishOutbox(rctx, it.ID, o.cfg.Holder, storage.OutboxFailed, errText(err), now); ferr != nil {
			log.ErrorContext(rctx, "mail outbox: record failure", "err", ferr)
		}
		return
	}
	o.failed("retry")
	next := now.Add(o.backoff(it.Attempts))
	log.WarnContext(rctx, "mail outbox: attempt failed; will retry", "err", err, "next", next)
	if rerr := o.cfg.WorkerStore.RetryOutbox(rctx, it.ID, o.cfg.Holder, next, errText(err)); rerr != nil {
		log.ErrorContext(rctx, "mail outbox: schedule retry", "err", rerr)
	}
}

func (o *Outbox) failed(outcome string) {
	if o.cfg.OnFailure != nil {
		o.cfg.OnFailure(outcome)
	}
}

// errUndeliverable marks an item no retry can help (it cannot be opened or decoded).
var errUndeliverable = errors.New("undeliverable")

// run opens the item and sends it or runs its task.
func (o *Outbox) run(ctx context.Context, it *storage.OutboxItem) error {
	payload, err := o.open(it.ID, it.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", errUndeliverable, err)
	}
	if it.Kind == storage.OutboxMessage {
		var m Message
		if err := json.Unmarshal(payload, &m); err != nil {
			return fmt.Errorf("%w: decode message: %w", errUndeliverable, err)
		}
		return o.cfg.Sender.Send(ctx, m)
	}
	o.mu.RLock()
	t := o.tasks[it.Kind]
	o.mu.RUnlock()
	if t == nil {
		// Perhaps queued by a newer instance during an upgrade: retried, then given up.
		return fmt.Errorf("no handler for task %q", it.Kind)
	}
	return t(ctx, payload)
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

// errText is what the row keeps of an error: enough to diagnose, bounded.
func errText(err error) string {
	s := err.Error()
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
