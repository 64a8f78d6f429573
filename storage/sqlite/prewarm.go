package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// The warm-up reads the database file into the operating system's page cache at start, as
// pg_prewarm does for PostgreSQL. SQLite's speed on a large database rests on that cache, not
// on its own: a token rotation reads and writes random pages of the token indexes, and each
// page missing from the cache is a disk read while the single writer waits. Straight after
// a seed of 1M users and 10M tokens, with 2.2 of 5.1 GB cached, refresh ran 1.56× slower than
// with the file cached (docs/sizing.md, "Flat as data grows").

// DefaultPrewarmRate bounds the bytes a warm-up reads from disk per second, so that its
// sequential reads leave the disk to the requests' random ones.
const DefaultPrewarmRate = 256 << 20

// DefaultPrewarmFraction is the share of the memory available for the page cache that the
// database's files may take for the warm-up to run: a file larger than that would push out
// the cache of everything else and be evicted in turn.
const DefaultPrewarmFraction = 0.5

// prewarmChunk is how much one read asks for: large enough that the reads are few and
// sequential, small enough that the buffer adds little to RSS; a whole number of pages.
const prewarmChunk = 1 << 20

// PrewarmOptions tune a warm-up; the zero value is serve's.
type PrewarmOptions struct {
	// Logger receives the start, the end and any failure; nil is slog.Default().
	Logger *slog.Logger
	// Fraction of the available memory the files may take; 0 is DefaultPrewarmFraction.
	Fraction float64
	// Rate is the most bytes read from disk per second; 0 is DefaultPrewarmRate. Pages
	// already cached are skipped and not counted.
	Rate int64

	// available replaces the system's reading of the memory available (tests).
	available func() (int64, error)
	// afterChunk runs after each chunk read (tests: cancel at a known point).
	afterChunk func()
}

// PrewarmResult says what a warm-up did.
type PrewarmResult struct {
	// Files are the paths considered: the database and its WAL when there is one.
	Files []string
	// Bytes is their size together.
	Bytes int64
	// Read is the bytes read from disk; Cached those found in the page cache already.
	Read, Cached int64
	// Skipped says why nothing was read ("" when the warm-up ran).
	Skipped string
	// Took is how long it ran.
	Took time.Duration
}

// errPrewarmUnsupported is what a system without /proc/meminfo and mincore answers.
var errPrewarmUnsupported = errors.New("not supported on this system")

// Prewarm reads the SQLite database at dsn (a path or file: URI, as Open takes) and its WAL
// into the page cache, when together they fit in opts.Fraction of the memory available,
// at most opts.Rate bytes a second. It returns when done, or with ctx's error when ctx ends.
// It logs at INFO when it starts, skips and ends. An in-memory database has nothing to read.
func Prewarm(ctx context.Context, dsn string, opts PrewarmOptions) (PrewarmResult, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	var res PrewarmResult
	skip := func(reason string) (PrewarmResult, error) {
		res.Skipped = reason
		log.Info("database warm-up skipped", "reason", reason, "bytes", res.Bytes)
		return res, nil
	}
	fail := func(err error) (PrewarmResult, error) {
		log.Warn("database warm-up failed", "error", err)
		return res, err
	}
	_, file, err := buildDSN(dsn)
	if err != nil {
		return fail(err)
	}
	if file == "" {
		return skip("in-memory database")
	}
	for _, p := range []string{file, file + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) && p != file {
			continue // no WAL: nothing written since the last clean close
		}
		if err != nil {
			return fail(fmt.Errorf("database warm-up: %w", err))
		}
		res.Files = append(res.Files, p)
		res.Bytes += fi.Size()
	}
	available := opts.available
	if available == nil {
		available = memAvailable
	}
	avail, err := available()
	if err != nil {
		return skip(fmt.Sprintf("memory available unknown: %v", err))
	}
	fraction := opts.Fraction
	if fraction <= 0 {
		fraction = DefaultPrewarmFraction
	}
	if float64(res.Bytes) > fraction*float64(avail) {
		return skip(fmt.Sprintf("larger than %.0f%% of the %d MiB available", fraction*100, avail>>20))
	}
	rate := opts.Rate
	if rate <= 0 {
		rate = DefaultPrewarmRate
	}
	log.Info("database warm-up started", "file", file, "bytes", res.Bytes, "available", avail, "rate", rate)
	p := &pacer{rate: rate, start: start, after: opts.afterChunk}
	for _, path := range res.Files {
		err = warmFile(ctx, path, p)
		if err != nil {
			break
		}
	}
	res.Read, res.Cached, res.Took = p.read, p.cached, time.Since(start)
	attrs := []any{"bytes", res.Bytes, "read", res.Read, "already_cached", res.Cached, "seconds", res.Took.Seconds()}
	switch {
	case err == nil:
		log.Info("database warm-up finished", attrs...)
	case ctx.Err() != nil:
		log.Info("database warm-up stopped", attrs...)
	default:
		log.Warn("database warm-up failed", append(attrs, "error", err)...)
	}
	return res, err
}

// pacer keeps a warm-up's reads at its rate and counts them.
type pacer struct {
	rate         int64
	start        time.Time
	read, cached int64
	after        func()
}

// wait records n bytes read and sleeps until the rate allows the next read.
func (p *pacer) wait(ctx context.Context, n int64) error {
	p.read += n
	if p.after != nil {
		p.after()
	}
	due := p.start.Add(time.Duration(float64(p.read) / float64(p.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}

// Warmup is a warm-up running in the background (StartPrewarm).
type Warmup struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    PrewarmResult
	err    error
}

// StartPrewarm runs Prewarm in the background until it ends or ctx does; a failure is
// logged at WARN and is never fatal. Stop ends it sooner.
func StartPrewarm(ctx context.Context, dsn string, opts PrewarmOptions) *Warmup {
	ctx, cancel := context.WithCancel(ctx)
	w := &Warmup{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer cancel()
		w.res, w.err = Prewarm(ctx, dsn, opts) // it logs its failures
	}()
	return w
}

// Wait returns the warm-up's result once it has ended.
func (w *Warmup) Wait() (PrewarmResult, error) {
	<-w.done
	return w.res, w.err
}

// Stop ends the warm-up and waits for it. A nil Warmup (none started) is stopped already.
func (w *Warmup) Stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}
