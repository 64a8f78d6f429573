package loadgen

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
)

// The argon2id ceiling: a password sign-in cannot be faster than its hash, so issue 12 sizes
// sign-ins against cores × hashes per second per core at the configured parameters. The
// Argon2id scenario measures that here, in the bench process, with the server's own
// implementation (internal/secret), one hash per core at a time: run the bench on as many
// cores of the same kind as the server's (taskset), and it measures in the same rounds as
// the sign-ins, so the ratio is taken under the same conditions.

// ceiling accumulates the hashes of the Argon2id scenario over the rounds.
type ceiling struct {
	params secret.Params
	cores  int
	hashes int
	busy   time.Duration // summed over the cores
}

// perCore is hashes per second on one core.
func (c *ceiling) perCore() float64 {
	if c == nil || c.busy <= 0 {
		return 0
	}
	return float64(c.hashes) / c.busy.Seconds()
}

// measureCeiling hashes on every core of this process for the duration.
func (e *env) measureCeiling(ctx context.Context) {
	if e.ceil == nil {
		e.ceil = &ceiling{params: e.opts.Argon2, cores: runtime.GOMAXPROCS(0)}
	}
	c := e.ceil
	h := secret.Hasher{Params: c.params}
	end := time.Now().Add(e.opts.Duration)
	var hashes atomic.Int64
	var busy atomic.Int64
	var wg sync.WaitGroup
	for range c.cores {
		wg.Go(func() {
			start := time.Now()
			for ctx.Err() == nil && time.Now().Before(end) {
				if _, err := h.Hash("correct horse battery staple"); err != nil {
					return
				}
				hashes.Add(1)
			}
			busy.Add(int64(time.Since(start)))
		})
	}
	wg.Wait()
	c.hashes += int(hashes.Load())
	c.busy += time.Duration(busy.Load())
}

// reportCeiling prints the ceiling and, for each target with sign-ins, their ratio to it on
// the server's cores (from --pid's CPU affinity, else this machine's CPUs).
func (e *env) reportCeiling(w io.Writer, plans []*plan) {
	c := e.ceil
	if c == nil || c.perCore() == 0 {
		return
	}
	p := c.params
	fmt.Fprintf(w, "argon2id ceiling: %.1f hashes/s per core (m=%d KiB, t=%d, p=%d; %d hashes on %d core(s) of the bench)\n",
		c.perCore(), p.Memory, p.Iterations, p.Parallelism, c.hashes, c.cores)
	for _, pl := range plans {
		t := pl.results[SignIn]
		if t == nil || t.rps() == 0 {
			continue
		}
		cores, from := runtime.NumCPU(), "this machine's CPUs"
		if pl.PID > 0 {
			if n, err := allowedCPUs(pl.PID); err == nil {
				cores, from = n, "the server's CPU affinity"
			}
		}
		limit := c.perCore() * float64(cores)
		fmt.Fprintf(w, "%s: signin ÷ ceiling: %s/s ÷ (%.1f/s × %d core(s), %s) = %.3f\n",
			pl.Name, fmtRate(t.rps()), c.perCore(), cores, from, t.rps()/limit)
	}
}

// allowedCPUs counts the CPUs a process may run on (Linux: Cpus_allowed_list).
func allowedCPUs(pid int) (int, error) {
	st, err := procStatus(pid)
	if err != nil {
		return 0, err
	}
	list, ok := st["Cpus_allowed_list"]
	if !ok {
		return 0, fmt.Errorf("no Cpus_allowed_list for process %d", pid)
	}
	return countCPUList(list)
}

// countCPUList counts a list such as "0-3,8,10-11".
func countCPUList(list string) (int, error) {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, fmt.Errorf("cpu list %q: %w", list, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("cpu list %q: bad range %q", list, part)
			}
		}
		n += b - a + 1
	}
	if n == 0 {
		return 0, fmt.Errorf("cpu list %q is empty", list)
	}
	return n, nil
}
