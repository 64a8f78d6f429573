//go:build linux

package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The warm-up reads files whatever they hold, so these tests use plain files of random bytes
// (written and synced, so that the kernel may drop them from its cache) rather than a
// database large enough to measure.

// writeSynced writes size random bytes to path and syncs them to disk.
func writeSynced(t *testing.T, path string, size int) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// cachedShare is the share of path's pages in the page cache: mincore on a mapping of the
// file that is never touched (x/sys/unix has no Mincore for Linux; the call needs no root).
func cachedShare(t *testing.T, path string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := int64(unix.Getpagesize())
	vec := make([]byte, (fi.Size()+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	in := 0
	for _, v := range vec {
		in += int(v & 1)
	}
	return float64(in) / float64(len(vec))
}

// evict drops path from the page cache, or skips the test on a filesystem that keeps it
// (tmpfs has no disk to drop it to).
func evict(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if share := cachedShare(t, path); share > 0.1 {
		t.Skipf("%s: %.0f%% still cached after FADV_DONTNEED (tmpfs?): cannot test a cold file here", path, share*100)
	}
}

// plenty is a memory reading that lets any test file be warmed.
func plenty() (int64, error) { return 1 << 40, nil }

func TestPrewarmReadsAnEvictedFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	writeSynced(t, db, 24<<20+5000) // not a whole number of chunks or pages
	writeSynced(t, db+"-wal", 6<<20)
	evict(t, db)
	evict(t, db+"-wal")

	var logs bytes.Buffer
	res, err := Prewarm(t.Context(), db, PrewarmOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil)), available: plenty})
	if err != nil {
		t.Fatalf("Prewarm: %v", err)
	}
	if res.Skipped != "" || len(res.Files) != 2 || res.Bytes != 30<<20+5000 {
		t.Errorf("result %+v, want the database and its WAL, 30 MiB + 5000 bytes, not skipped", res)
	}
	if res.Read+res.Cached != res.Bytes || res.Read < 24<<20 {
		t.Errorf("read %d, already cached %d: want the evicted files read (%d bytes together)", res.Read, res.Cached, res.Bytes)
	}
	for _, p := range []string{db, db + "-wal"} {
		if share := cachedShare(t, p); share != 1 {
			t.Errorf("%s: %.1f%% cached after the warm-up, want all", filepath.Base(p), share*100)
		}
	}
	for _, want := range []string{"database warm-up started", "database warm-up finished"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q: no %q", logs.String(), want)
		}
	}

	// Once cached, nothing is read again.
	res, err = Prewarm(t.Context(), db, PrewarmOptions{Logger: slog.New(slog.DiscardHandler), available: plenty})
	if err != nil || res.Read != 0 || res.Cached != res.Bytes {
		t.Errorf("second warm-up: read %d, already cached %d of %d (%v), want all cached", res.Read, res.Cached, res.Bytes, err)
	}
}

func TestPrewarmSkipsAFileTooLarge(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	writeSynced(t, db, 8<<20)
	evict(t, db)
	twelveMiB := func() (int64, error) { return 12 << 20, nil }

	var logs bytes.Buffer
	res, err := Prewarm(t.Context(), db, PrewarmOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil)), available: twelveMiB})
	if err != nil || !strings.Contains(res.Skipped, "larger than 50%") || res.Read != 0 {
		t.Errorf("8 MiB with 12 MiB available: %+v, %v; want skipped as larger than 50%%", res, err)
	}
	if share := cachedShare(t, db); share > 0.1 {
		t.Errorf("%.0f%% cached after a skipped warm-up, want none", share*100)
	}
	if !strings.Contains(logs.String(), "database warm-up skipped") || strings.Contains(logs.String(), "started") {
		t.Errorf("log %q: want the skip, not a start", logs.String())
	}

	// A larger fraction lets it run.
	res, err = Prewarm(t.Context(), db, PrewarmOptions{Logger: slog.New(slog.DiscardHandler), available: twelveMiB, Fraction: 0.9})
	if err != nil || res.Skipped != "" || res.Read != 8<<20 {
		t.Errorf("with a fraction of 0.9: %+v, %v; want 8 MiB read", res, err)
	}

	// Memory unknown (another system, or no /proc): skipped too.
	res, err = Prewarm(t.Context(), db, PrewarmOptions{Logger: slog.New(slog.DiscardHandler),
		available: func() (int64, error) { return 0, errPrewarmUnsupported }})
	if err != nil || !strings.Contains(res.Skipped, "unknown") {
		t.Errorf("memory unknown: %+v, %v; want skipped", res, err)
	}
}

func TestPrewarmStopsOnCancel(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	writeSynced(t, db, 32<<20)
	evict(t, db)

	// Cancelled after its first chunk: it reads no more.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs bytes.Buffer
	res, err := Prewarm(ctx, db, PrewarmOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil)), available: plenty, afterChunk: cancel})
	if !errors.Is(err, context.Canceled) || res.Read != prewarmChunk {
		t.Errorf("cancelled after the first chunk: read %d (%v), want %d and context.Canceled", res.Read, err, prewarmChunk)
	}
	if share := cachedShare(t, db); share >= 1 {
		t.Errorf("%.0f%% cached after a cancelled warm-up, want less than all", share*100)
	}
	if !strings.Contains(logs.String(), "database warm-up stopped") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("log %q: want 'stopped', no warning", logs.String())
	}

	// In the background at one byte a second, it would wait for years after its first
	// chunk: Stop has to end that wait, or this test hangs.
	evict(t, db)
	first := make(chan struct{}, 1)
	w := StartPrewarm(t.Context(), db, PrewarmOptions{Logger: slog.New(slog.DiscardHandler), available: plenty, Rate: 1,
		afterChunk: func() { first <- struct{}{} }})
	<-first
	w.Stop()
	if res, err := w.Wait(); !errors.Is(err, context.Canceled) || res.Read != prewarmChunk {
		t.Errorf("stopped: read %d (%v), want %d and context.Canceled", res.Read, err, prewarmChunk)
	}
	var none *Warmup
	none.Stop() // none started: nothing to stop, no panic
}

func TestPrewarmFailureIsReported(t *testing.T) {
	var logs bytes.Buffer
	w := StartPrewarm(t.Context(), filepath.Join(t.TempDir(), "missing.db"),
		PrewarmOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil)), available: plenty})
	if _, err := w.Wait(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "database warm-up failed") {
		t.Errorf("log %q: want a warning", logs.String())
	}

	res, err := Prewarm(t.Context(), ":memory:", PrewarmOptions{Logger: slog.New(slog.DiscardHandler), available: plenty})
	if err != nil || res.Skipped != "in-memory database" {
		t.Errorf("in-memory: %+v, %v; want skipped", res, err)
	}
}

func TestMemAvailable(t *testing.T) {
	dir := t.TempDir()
	meminfo := filepath.Join(dir, "meminfo")
	os.WriteFile(meminfo, []byte("MemTotal:       24683748 kB\nMemFree:        19592452 kB\nMemAvailable:   22119276 kB\n"), 0o600)
	if got, err := meminfoAvailable(meminfo); err != nil || got != 22119276<<10 {
		t.Errorf("meminfoAvailable: %d, %v; want %d", got, err, 22119276<<10)
	}
	os.WriteFile(meminfo, []byte("MemTotal:       24683748 kB\n"), 0o600)
	if _, err := meminfoAvailable(meminfo); err == nil {
		t.Error("meminfoAvailable without MemAvailable: no error")
	}
	if got, err := memAvailable(); err != nil || got <= 0 {
		t.Errorf("memAvailable on this system: %d, %v", got, err)
	}

	// cgroup v2: the limit less the group's anonymous memory.
	root := filepath.Join(dir, "cg")
	os.MkdirAll(filepath.Join(root, "app"), 0o700)
	os.WriteFile(filepath.Join(root, "app", "memory.max"), []byte("1073741824\n"), 0o600)
	os.WriteFile(filepath.Join(root, "app", "memory.stat"), []byte("anon 104857600\nfile 5\n"), 0o600)
	self := filepath.Join(dir, "self")
	os.WriteFile(self, []byte("0::/app\n"), 0o600)
	if got, ok := cgroupRoom(self, root); !ok || got != 1073741824-104857600 {
		t.Errorf("cgroup v2 room: %d, %v; want %d", got, ok, 1073741824-104857600)
	}
	os.WriteFile(filepath.Join(root, "app", "memory.max"), []byte("max\n"), 0o600)
	if _, ok := cgroupRoom(self, root); ok {
		t.Error("cgroup v2 without a limit: a room reported")
	}

	// cgroup v1: memory.limit_in_bytes and total_rss; no limit is a number near 2^63.
	os.MkdirAll(filepath.Join(root, "memory", "box"), 0o700)
	os.WriteFile(filepath.Join(root, "memory", "box", "memory.limit_in_bytes"), []byte("536870912\n"), 0o600)
	os.WriteFile(filepath.Join(root, "memory", "box", "memory.stat"), []byte("rss 1\ntotal_rss 36870912\n"), 0o600)
	os.WriteFile(self, []byte("4:memory:/box\n0::/\n"), 0o600)
	if got, ok := cgroupRoom(self, root); !ok || got != 500000000 {
		t.Errorf("cgroup v1 room: %d, %v; want 500000000", got, ok)
	}
	os.WriteFile(filepath.Join(root, "memory", "box", "memory.limit_in_bytes"), []byte("9223372036854771712\n"), 0o600)
	if _, ok := cgroupRoom(self, root); ok {
		t.Error("cgroup v1 without a limit: a room reported")
	}
}
