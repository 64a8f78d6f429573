package mail

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// Why a worker cuts an attempt of its own accord (see OutboxConfig.ClaimLease).
var (
	errClaimNotKept = errors.New("claim not renewed in time")
	errClaimLost    = errors.New("claim taken over by another worker")
)

// cut is why ctx ended when the worker cut it (errClaimNotKept, errClaimLost), else nil.
func cut(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if c := context.Cause(ctx); errors.Is(c, errClaimNotKept) || errors.Is(c, errClaimLost) {
		return c
	}
	return nil
}

// claims holds a batch's claims while its attempts run: it renews them every third of
// ClaimLease to a lease from then, and cuts the attempts a third of a lease before the end
// of the last claim it made or renewed (the margin: recording the outcomes, and clocks of
// instances that differ), so that no attempt runs once another worker may claim its item.
// An item found taken over has its own attempt cut at once.
type claims struct {
	o   *Outbox
	ctx context.Context // the attempts' parent: cut (errClaimNotKept) with the batch's claims
	cut context.CancelCauseFunc
	// timer cuts at the last confirmed end less the margin; each renewal moves it.
	timer *time.Timer
	// stopRenew ends the renewer, which closes renewed when it has returned.
	stopRenew context.CancelFunc
	renewed   chan struct{}

	// mu guards what follows.
	mu      sync.Mutex
	held    []string // the ids to renew: the batch's, less those lost
	lost    map[string]bool
	running map[string]context.CancelCauseFunc // the attempts under way, by item
	lastErr error                              // the last renewal's failure, if it failed
	stopped bool
}

// hold starts holding items, claimed at claimedAt (as read before the claim was made), until
// stop; bctx bounds the attempts (shutdown, the batch's budget).
func (o *Outbox) hold(bctx context.Context, items []*storage.OutboxItem, claimedAt time.Time) *claims {
	l := &claims{o: o, lost: map[string]bool{}, running: map[string]context.CancelCauseFunc{}, renewed: make(chan struct{})}
	for _, it := range items {
		l.held = append(l.held, it.ID)
	}
	l.ctx, l.cut = context.WithCancelCause(bctx)
	l.timer = time.AfterFunc(time.Until(claimedAt.Add(o.cfg.ClaimLease-o.claimMargin())), l.expire)
	var rctx context.Context
	rctx, l.stopRenew = context.WithCancel(l.ctx)
	go l.renew(rctx, claimedAt)
	return l
}

// claimMargin is how long before its claim ends an attempt is cut: a third of the lease.
func (o *Outbox) claimMargin() time.Duration { return o.cfg.ClaimLease / 3 }

// attempting returns the context of the attempt at item id, which end releases: cut with the
// batch, or alone when the item's claim is found taken over (already so if it was).
func (l *claims) attempting(id string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(l.ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost[id] {
		cancel(errClaimLost)
	} else {
		l.running[id] = cancel
	}
	return ctx, func() {
		l.mu.Lock()
		delete(l.running, id)
		l.mu.Unlock()
		cancel(nil)
	}
}

// renew renews the claims until ctx ends: a third of a lease after the last renewal that
// went through (or the claim), and sooner again after one that failed, so that a passing
// failure does not cut the batch.
func (l *claims) renew(ctx context.Context, last time.Time) {
	defer close(l.renewed)
	every := l.o.cfg.ClaimLease / 3
	next := last.Add(every)
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		at, err := l.renewOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.o.cfg.Logger.WarnContext(ctx, "mail outbox: renew claims", "err", err)
			next = time.Now().Add(every / 3)
		default:
			next = at.Add(every)
		}
	}
}

// renewOnce renews the held claims to a lease from now and returns when it read the clock.
func (l *claims) renewOnce(ctx context.Context) (time.Time, error) {
	l.mu.Lock()
	ids := slices.Clone(l.held)
	l.mu.Unlock()
	at := time.Now()
	if len(ids) == 0 {
		return at, nil
	}
	// Bounded like the worker's other store calls; a renewal after the cut is of no use, and
	// the cut does not wait for it.
	rctx, cancel := context.WithTimeout(ctx, storeTimeout)
	lost, err := l.o.cfg.WorkerStore.ExtendOutboxClaims(rctx, l.o.cfg.Holder, ids, l.o.cfg.Now().UTC().Add(l.o.cfg.ClaimLease))
	cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.lastErr = err
		return at, err
	}
	l.lastErr = nil
	if !l.stopped && l.ctx.Err() == nil {
		// The end it wrote is a lease from a clock read after at. Once cut, the batch stays
		// cut: re-armed, the timer would only cut (and log) again.
		l.timer.Reset(time.Until(at.Add(l.o.cfg.ClaimLease - l.o.claimMargin())))
	}
	for _, id := range lost {
		// Another worker claimed it, so ours had lapsed on its clock: clocks further apart
		// than the margin, or a renewal stalled past it. Both may now send it: the attempt
		// here is cut at once and its outcome, now the other's to record, left alone.
		l.o.cfg.Logger.ErrorContext(ctx, "mail outbox: claim taken over while held; the item may be sent twice", "id", id)
		l.lost[id] = true
		l.held = slices.DeleteFunc(l.held, func(h string) bool { return h == id })
		if cancel := l.running[id]; cancel != nil {
			cancel(errClaimLost)
		}
	}
	return at, nil
}

// expire cuts the batch's attempts: its claims were not renewed in time.
func (l *claims) expire() {
	l.mu.Lock()
	stopped, err := l.stopped, l.lastErr
	l.mu.Unlock()
	if stopped {
		return
	}
	cause := errClaimNotKept
	if err != nil {
		cause = fmt.Errorf("%w: %w", errClaimNotKept, err)
	}
	l.o.cfg.Logger.WarnContext(l.ctx, "mail outbox: claims not renewed in time; cutting the batch's attempts", "err", cause)
	l.cut(cause)
}

// stop stops renewing (the attempts have ended) and returns the items whose claims were
// taken over.
func (l *claims) stop() map[string]bool {
	l.stopRenew()
	<-l.renewed
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	l.timer.Stop()
	l.cut(nil)
	return l.lost
}
