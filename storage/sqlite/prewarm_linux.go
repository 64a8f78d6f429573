package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// memAvailable is the memory the page cache may grow into: the kernel's MemAvailable, or,
// in a cgroup v2 with a memory limit (a container), what the limit leaves beside the
// group's anonymous memory when that is less. Page cache is charged to the cgroup, so a
// host's MemAvailable says nothing about a container's room.
func memAvailable() (int64, error) {
	avail, err := meminfoAvailable("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	if room, ok := cgroupRoom("/proc/self/cgroup", "/sys/fs/cgroup"); ok && room < avail {
		avail = room
	}
	return avail, nil
}

// meminfoAvailable reads MemAvailable (kB) from a /proc/meminfo.
func meminfoAvailable(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: MemAvailable: %w", path, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no MemAvailable", path)
}

// cgroupRoom is the memory limit of this process's cgroup less the group's anonymous memory
// (cgroup v2: memory.max and memory.stat's anon; v1: memory.limit_in_bytes and total_rss);
// false when there is no group to read or it has no limit.
func cgroupRoom(selfCgroup, root string) (int64, bool) {
	data, err := os.ReadFile(selfCgroup)
	if err != nil {
		return 0, false
	}
	var v2, v1 string
	for line := range strings.SplitSeq(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			v2 = p
		}
		if _, rest, ok := strings.Cut(line, ":"); ok {
			if p, ok := strings.CutPrefix(rest, "memory:"); ok {
				v1 = p
			}
		}
	}
	if v1 != "" {
		return groupRoom(filepath.Join(root, "memory", v1), "memory.limit_in_bytes", "total_rss")
	}
	if v2 != "" {
		return groupRoom(filepath.Join(root, v2), "memory.max", "anon")
	}
	return 0, false
}

// groupRoom reads one cgroup directory's limit and anonymous memory.
func groupRoom(dir, limitFile, anonKey string) (int64, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, limitFile))
	if err != nil {
		return 0, false
	}
	// v2 writes "max" for no limit, v1 a number near 2^63.
	limit, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil || limit >= 1<<62 {
		return 0, false
	}
	stat, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, false
	}
	var anon int64
	for line := range strings.SplitSeq(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, anonKey+" "); ok {
			anon, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return max(0, limit-anon), true
}

// warmFile reads the file at path into the page cache, chunk by chunk, skipping the chunks
// whose pages are all cached already (mincore on a mapping of the file, which is never
// touched, so the pages count neither as ours nor as the process's RSS).
func warmFile(ctx context.Context, path string, p *pacer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("database warm-up: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("database warm-up: %w", err)
	}
	size := fi.Size() // what was there at the start; pages written since are cached anyway
	fd := int(f.Fd())
	// No readahead on this descriptor (only): each read then brings in exactly its chunk,
	// in one request per chunk, so the pacing counts what comes from disk, and a chunk
	// found cached was cached before the warm-up rather than read ahead by it.
	_ = unix.Fadvise(fd, 0, 0, unix.FADV_RANDOM)
	page := int64(unix.Getpagesize())
	buf := make([]byte, prewarmChunk)
	vec := make([]byte, prewarmChunk/page)
	for off := int64(0); off < size; off += prewarmChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(prewarmChunk, size-off)
		cached, err := resident(fd, off, n, page, vec)
		if err != nil {
			return fmt.Errorf("database warm-up: %s: mincore: %w", path, err)
		}
		if cached {
			p.cached += n
			continue
		}
		m, err := f.ReadAt(buf[:n], off)
		if err != nil && !errors.Is(err, io.EOF) { // EOF: truncated meanwhile (a WAL reset)
			return fmt.Errorf("database warm-up: %s: %w", path, err)
		}
		if err := p.wait(ctx, int64(m)); err != nil {
			return err
		}
		if m < int(n) {
			return nil
		}
	}
	return nil
}

// resident reports whether every page of [off, off+n) is in the page cache.
func resident(fd int, off, n, page int64, vec []byte) (bool, error) {
	m, err := unix.Mmap(fd, off, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return false, err
	}
	defer unix.Munmap(m)
	pages := (n + page - 1) / page
	// x/sys/unix has no Mincore for Linux.
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(n),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return false, errno
	}
	for _, v := range vec[:pages] {
		if v&1 == 0 {
			return false, nil
		}
	}
	return true, nil
}
