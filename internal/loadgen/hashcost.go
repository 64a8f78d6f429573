package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/secret"
)

// What a sign-in costs the server, split: with Target.PID the server's CPU time around the
// sign-in scenario, and with Target.MetricsURL its password-hashing counters (slots and the
// CPU of the threads that hashed, myaccount_password_hash*). Together with the argon2id
// scenario they say where a sign-in below its ceiling loses: a hash that is dearer inside
// the server than alone, or work besides the hash.

// hashSample is one reading of the server's counters.
type hashSample struct {
	slots, hashCPU, hashWall float64 // from the metrics
	procCPU                  time.Duration
	ok                       bool // the metrics were read
	procOK                   bool
}

// signinCost accumulates the differences over the sign-in rounds.
type signinCost struct {
	slots, hashCPU, hashWall float64
	procCPU                  time.Duration
	metrics, proc            bool
}

func (e *env) sampleHash(ctx context.Context, p *plan) hashSample {
	var s hashSample
	if p.MetricsURL != "" {
		if m, err := e.scrape(ctx, p.MetricsURL); err == nil {
			s.slots, s.hashCPU, s.hashWall = m["myaccount_password_hashes_total"], m["myaccount_password_hash_cpu_seconds_total"], m["myaccount_password_hash_seconds_total"]
			s.ok = true
		}
	}
	if p.PID > 0 {
		if d, err := processCPU(p.PID); err == nil {
			s.procCPU, s.procOK = d, true
		}
	}
	return s
}

func (c *signinCost) add(a, b hashSample) {
	if a.ok && b.ok {
		c.metrics = true
		c.slots += b.slots - a.slots
		c.hashCPU += b.hashCPU - a.hashCPU
		c.hashWall += b.hashWall - a.hashWall
	}
	if a.procOK && b.procOK {
		c.proc = true
		c.procCPU += b.procCPU - a.procCPU
	}
}

// scrape reads the unlabelled samples of a Prometheus text exposition.
func (e *env) scrape(ctx context.Context, u string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: HTTP %d", resp.StatusCode)
	}
	return parseSamples(io.LimitReader(resp.Body, 8<<20))
}

func parseSamples(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(val)[0], 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// processCPU is a process's user and system CPU time (Linux).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: the fields after it follow the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	// USER_HZ is 100 on every Linux this runs on.
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// reportSigninCost prints the split of a sign-in's server CPU.
func (e *env) reportSigninCost(w io.Writer, p *plan) {
	c, t := p.cost, p.results[SignIn]
	if c == nil || t == nil || t.n == 0 {
		return
	}
	n := float64(t.n)
	ms := func(s float64) string { return strconv.FormatFloat(s*1000, 'f', 1, 64) + " ms" }
	var parts []string
	if c.proc {
		parts = append(parts, "server CPU "+ms(c.procCPU.Seconds()/n)+" per sign-in")
	}
	if c.metrics && c.slots > 0 {
		parts = append(parts, fmt.Sprintf("a hash %s CPU (%s wall) inside the server", ms(c.hashCPU/c.slots), ms(c.hashWall/c.slots)))
		if e.ceil != nil && e.ceil.perCore() > 0 {
			parts = append(parts, "against "+ms(1/e.ceil.perCore())+" alone in the bench")
		}
		if c.proc && c.procCPU > 0 {
			parts = append(parts, fmt.Sprintf("hashing %.0f %% of the server's CPU", 100*c.hashCPU/c.procCPU.Seconds()))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "%s: signin cost: %s\n", p.Name, strings.Join(parts, ", "))
	}
}

// checkHashCost makes the argon2id ceiling be measured at the cost the server reports in its
// metrics (myaccount_password_hash_memory_kib and _iterations): it takes that cost when none
// was given, and refuses another one that was, since the sign-ins' ratio to it would mean
// nothing. A server whose metrics are not given, or do not say, is taken at its word (the
// defaults or the flags).
func (e *env) checkHashCost(ctx context.Context, p *plan) error {
	if p.MetricsURL == "" {
		return nil
	}
	m, err := e.scrape(ctx, p.MetricsURL)
	if err != nil {
		return nil // the sign-in split says so later; the ceiling itself does not need it
	}
	mem, okM := m["myaccount_password_hash_memory_kib"]
	it, okI := m["myaccount_password_hash_iterations"]
	if !okM || !okI {
		return nil
	}
	want := e.opts.Argon2.WithDefaults()
	if uint32(mem) == want.Memory && uint32(it) == want.Iterations {
		return nil
	}
	if !e.opts.Argon2Given && mem >= 1 && it >= 1 && mem <= math.MaxUint32 && it <= math.MaxUint32 {
		e.opts.Argon2.Memory, e.opts.Argon2.Iterations = uint32(mem), uint32(it)
		if _, err := (secret.Hasher{Params: e.opts.Argon2}).Hash("probe"); err != nil {
			return fmt.Errorf("argon2id scenario at %s's cost: %w", p.Issuer, err)
		}
		fmt.Fprintf(e.opts.Out, "argon2id scenario at %s's cost, from its metrics: m=%d KiB, t=%d\n", p.Issuer, e.opts.Argon2.Memory, e.opts.Argon2.Iterations)
		return nil
	}
	return fmt.Errorf("%s hashes passwords at m=%.0f KiB, t=%.0f, the argon2id scenario at m=%d KiB, t=%d: pass --argon2-memory %.0f --argon2-time %.0f",
		p.Issuer, mem, it, want.Memory, want.Iterations, mem, it)
}
