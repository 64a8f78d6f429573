package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// Cluster is a PostgreSQL server of one test's own, for outage tests: it can be stopped,
// started again on the same data, and frozen (SIGSTOP) like a hung host.
type Cluster struct {
	t    testing.TB
	c    *cluster
	bin  string
	cred *syscall.Credential
}

// NewCluster starts a throwaway cluster for t and removes it when t ends. It skips or fails
// t like URL when the server binaries are missing.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := findServerBinaries()
	if err != nil {
		unavailable(t, err)
	}
	cred, err := runAs()
	if err != nil {
		unavailable(t, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := startCluster(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	own := &Cluster{t: t, c: c, bin: bin, cred: cred}
	t.Cleanup(func() {
		_ = own.signal(syscall.SIGCONT) // a frozen server cannot shut down
		if err := c.stop(); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return own
}

// URL is the URL of the cluster's "postgres" database.
func (o *Cluster) URL() string { return o.c.url("postgres").String() }

// Stop shuts the server down (fast: connections are cut) and keeps its data.
func (o *Cluster) Stop() {
	o.t.Helper()
	if o.c.proc == nil {
		return
	}
	_ = o.c.proc.Signal(syscall.SIGINT)
	select {
	case <-o.c.exited:
	case <-time.After(30 * time.Second):
		_ = o.c.proc.Kill()
		<-o.c.exited
	}
	o.c.proc = nil
}

// Start starts a stopped server on the same data and waits until it accepts connections.
func (o *Cluster) Start() {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := o.c.startPostmaster(ctx, o.bin, o.cred); err != nil {
		o.t.Fatalf("pgtest: restart: %v", err)
	}
}

// Freeze stops the server's processes (SIGSTOP): connections stay open and nothing answers.
func (o *Cluster) Freeze() { o.t.Helper(); o.must(o.signal(syscall.SIGSTOP)) }

// Thaw resumes a frozen server.
func (o *Cluster) Thaw() { o.t.Helper(); o.must(o.signal(syscall.SIGCONT)) }

func (o *Cluster) must(err error) {
	o.t.Helper()
	if err != nil {
		o.t.Fatalf("pgtest: %v", err)
	}
}

// signal sends sig to the postmaster and its children (the backends serving connections),
// which share its process group only when started with one; so the children are found by
// their parent id.
func (o *Cluster) signal(sig syscall.Signal) error {
	if o.c.proc == nil {
		return nil
	}
	pids := []int{o.c.proc.Pid}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		if ppid(pid) == o.c.proc.Pid {
			pids = append(pids, pid)
		}
	}
	var errs []error
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("signal %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// ppid reads a process's parent id from /proc (0 when it cannot).
func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces: skip past it.
	s := string(b)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			var state string
			var parent int
			if _, err := fmt.Sscanf(s[i+1:], " %s %d", &state, &parent); err == nil {
				return parent
			}
			break
		}
	}
	return 0
}
