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
// implementation (internal/secret), one hash per core at a time, in the same rounds as the
// sign-ins. With --pid the hashes run on the server's own cores (its CPU affinity), one
// thread pinned to each, while the server waits between rounds: a shared machine's cores
// differ by more than the target's margin from minute to minute, and a ceiling measured on
// the bench's cores moved the ratio by ±15 %. Without --pid, on the bench's cores: run the
// bench on as many cores of the same kind as the server's (taskset).

// ceiling accumulates the hashes of the Argon2id scenario over the rounds.
type ceiling struct {
	params secret.Params
	cores  int
	// cpus are the server's CPUs the hashes are pinned to, one thread each; nil: the bench's.
	cpus   []int
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

// measureCeiling hashes on every core of the server (pid > 0: its CPU affinity) or of this
// process for the duration.
func (e *env) measureCeiling(ctx context.Context, pid int) {
	if e.ceil == nil {
		e.ceil = &ceiling{params: e.opts.Argon2, cores: runtime.GOMAXPROCS(0)}
		if pid > 0 {
			if cpus, err := serverCPUs(pid); err == nil {
				e.ceil.cpus, e.ceil.cores = cpus, len(cpus)
			}
		}
	}
	c := e.ceil
	h := secret.Hasher{Params: c.params}
	end := time.Now().Add(e.opts.Duration)
	var hashes atomic.Int64
	var busy atomic.Int64
	var wg sync.WaitGroup
	for i := range c.cores {
		wg.Go(func() {
			if c.cpus != nil {
				// This goroutine's thread, pinned, and put back afterwards; if it cannot be,
				// the goroutine ends locked and the runtime retires the thread.
				runtime.LockOSThread()
				restore, err := pinThread(c.cpus[i])
				if err != nil {
					return
				}
				defer func() {
					if restore() == nil {
						runtime.UnlockOSThread()
					}
				}()
			}
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
	where := "of the bench"
	if c.cpus != nil {
		where = "of the server, pinned"
	}
	fmt.Fprintf(w, "argon2id ceiling: %.1f hashes/s per core (m=%d KiB, t=%d, p=%d; %d hashes on %d core(s) %s)\n",
		c.perCore(), p.Memory, p.Iterations, p.Parallelism, c.hashes, c.cores, where)
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
	cpus, err := serverCPUs(pid)
	return len(cpus), err
}

// serverCPUs lists the CPUs a process may run on.
func serverCPUs(pid int) ([]int, error) {
	st, err := procStatus(pid)
	if err != nil {
		return nil, err
	}
	list, ok := st["Cpus_allowed_list"]
	if !ok {
		return nil, fmt.Errorf("no Cpus_allowed_list for process %d", pid)
	}
	return parseCPUList(list)
}

// countCPUList counts a list such as "0-3,8,10-11".
func countCPUList(list string) (int, error) {
	cpus, err := parseCPUList(list)
	return len(cpus), err
}

// parseCPUList lists the CPUs of a list such as "0-3,8,10-11".
func parseCPUList(list string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpu list %q: bad cpu %q", list, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 4096 {
				return nil, fmt.Errorf("cpu list %q: bad range %q", list, part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("cpu list %q is empty", list)
	}
	return cpus, nil
}

// ceilingPID is the server whose cores the ceiling is measured on: the first target given
// with --pid (0: none).
func ceilingPID(plans []*plan) int {
	for _, p := range plans {
		if p.PID > 0 {
			return p.PID
		}
	}
	return 0
}
