package secret

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy reports that a password hash was refused because every slot is taken and the
// queue behind them is full. The request may succeed if tried again shortly.
var ErrBusy = errors.New("secret: too many password hashes in progress")

// Limiter bounds the password hashing done at once. Each argon2id hash takes its memory
// cost (19 MiB by default) and a CPU for tens of milliseconds, so a burst of sign-ins hashed
// all at once would exhaust memory and make every one of them slow. A Limiter runs at most n
// hashes at a time and lets at most queue more wait for a slot; beyond that it refuses at
// once with ErrBusy, so excess load costs a fast "try again" instead of time-outs for
// everyone.
//
// A nil *Limiter imposes no limit.
type Limiter struct {
	// admitted holds one token per hash running or waiting (capacity n+queue): a full
	// channel is a full queue. slots holds one per running hash (capacity n).
	admitted chan struct{}
	slots    chan struct{}
	// used, cpu and wall add up the slots released so far (see Usage).
	used, cpu, wall atomic.Int64
}

// NewLimiter returns a Limiter running at most concurrency hashes at once (0 or less: one
// per CPU the process may use, GOMAXPROCS, which follows a container's CPU limit where
// NumCPU sees every core of the host) with at most queue more waiting (less than 0 counts
// as 0).
func NewLimiter(concurrency, queue int) *Limiter {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	queue = max(queue, 0)
	return &Limiter{
		admitted: make(chan struct{}, concurrency+queue),
		slots:    make(chan struct{}, concurrency),
	}
}

// Acquire takes a slot, waiting in the queue if needed. It fails at once with ErrBusy when
// the queue is full, and with the context's error when ctx ends while waiting. On success
// the caller must call release exactly once when done hashing, on the same goroutine (it
// stays locked to its OS thread until then).
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	return l.AcquireAfter(ctx, nil)
}

// AcquireAfter is Acquire that runs before (nil: nothing) once it has a place in the queue,
// before it waits for a slot; before's error gives the place back and is returned as it is.
// It is for work that must be done only when the hash will run (counting a password
// attempt: a refusal with ErrBusy counts nothing) but must not hold a slot, which would sit
// idle meanwhile.
func (l *Limiter) AcquireAfter(ctx context.Context, before func() error) (release func(), err error) {
	if l == nil {
		if before != nil {
			if err := before(); err != nil {
				return nil, err
			}
		}
		return func() {}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wait for password hashing: %w", err)
	}
	select {
	case l.admitted <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	if before != nil {
		if err := before(); err != nil {
			<-l.admitted
			return nil, err
		}
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		<-l.admitted
		return nil, fmt.Errorf("wait for password hashing: %w", ctx.Err())
	}
	// The slot's goroutine stays on its OS thread until release, so that the thread's CPU
	// clock measures the hashing alone (the goroutine may still be preempted: wall time
	// counts that, CPU time does not).
	runtime.LockOSThread()
	start := time.Now()
	cpu0, cpuOK := threadCPU()
	return func() {
		cpu1, ok := threadCPU()
		runtime.UnlockOSThread()
		l.wall.Add(int64(time.Since(start)))
		if cpuOK && ok {
			l.cpu.Add(int64(cpu1 - cpu0))
		}
		l.used.Add(1)
		<-l.slots
		<-l.admitted
	}, nil
}

// Usage reports the slots released so far (a slot is one password hash or verification;
// a verification may hash twice, see account.verifyPassword) and the CPU and wall time
// spent in them: CPU/slots is what a hash costs on this server as it runs (operators size by
// it; myaccount bench compares it with a hash in isolation). CPU is 0 where the thread's
// clock cannot be read.
func (l *Limiter) Usage() (slots int64, cpu, wall time.Duration) {
	if l == nil {
		return 0, 0, 0
	}
	return l.used.Load(), time.Duration(l.cpu.Load()), time.Duration(l.wall.Load())
}

// Do runs fn in a slot; see Acquire.
func (l *Limiter) Do(ctx context.Context, fn func()) error {
	release, err := l.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	fn()
	return nil
}

// Stats reports how many hashes are running and how many are waiting now.
func (l *Limiter) Stats() (running, waiting int) {
	if l == nil {
		return 0, 0
	}
	running = len(l.slots)
	return running, max(len(l.admitted)-running, 0)
}
